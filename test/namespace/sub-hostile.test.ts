// Hostile paths against a sub() view: whatever a client writes, it names nothing outside
// the view's prefix, and malformed paths get a clear error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NsError } from '../../src/errors.js';
import { MAX_PATH_DEPTH, MountTable } from '../../src/namespace/index.js';
import { fsMember, leafMember, type TreeCap } from './helpers.js';

const INSIDE = new Set(['a', 'c', 'deep']);

function jail(): { t: MountTable<TreeCap>; v: MountTable<TreeCap> } {
  const t = new MountTable<TreeCap>();
  t.bind('/secret', fsMember('secret', { '': ['key'] }));
  t.bind('/jailbreak', fsMember('jailbreak'));
  t.bind('/jail/a', fsMember('a', { '': ['f'] }), { create: true });
  t.bind('/jail/b/c', leafMember('c'));
  t.bind('/jail/d/e/f/g', fsMember('deep'));
  t.bind('/', fsMember('root', { '': ['jail', 'secret'] }));
  return { t, v: t.sub('/jail') };
}

/** What a lookup lets its holder reach: each member with the path inside it. */
function reach(t: MountTable<TreeCap>, path: string): string[] {
  const l = t.lookup(path);
  const below = t
    .list(path)
    .children.flatMap((c) => (c.binding ? [`${c.binding.member.label}:${c.binding.spec}`] : []));
  return [
    ...l.stack.map(
      (b) => `${b.member.label}:${[b.spec, l.rest].filter((x) => x !== '').join('/')}`,
    ),
    ...below,
  ];
}

/** Inside the jail: a member mounted under /jail, or the root file server below jail/. */
function confined(r: string): boolean {
  const [label, where] = r.split(':') as [string, string];
  return INSIDE.has(label) || (label === 'root' && (where === 'jail' || where.startsWith('jail/')));
}

test('.. in every position of a path of up to four names stays inside the view (exhaustive)', () => {
  const { t, v } = jail();
  const parts = ['..', '.', '', 'a', 'b', 'c', 'secret', 'jailbreak', 'jail'];
  let inside = 0;
  let refused = 0;
  const visit = (acc: string[]): void => {
    const path = '/' + acc.join('/');
    try {
      const l = v.lookup(path);
      const seen = reach(v, path);
      for (const r of seen) assert.ok(confined(r), `${path} reached ${r}`);
      // The view's answer is the parent's answer for the same place under /jail.
      assert.deepEqual(seen, reach(t, '/jail' + l.path), path);
      inside++;
    } catch (e) {
      assert.ok(e instanceof NsError, `${path}: ${String(e)}`);
      assert.ok(['NS_ERR_NOT_FOUND', 'NS_ERR_NOT_DIR'].includes(e.code), `${path}: ${e.code}`);
      refused++;
    }
    if (acc.length < 4) for (const p of parts) visit([...acc, p]);
  };
  visit([]);
  assert.ok(inside > 100 && refused > 100, `${inside} inside, ${refused} refused`);
});

test('/../ and a run of .. are the view root, not the namespace root', () => {
  const { v } = jail();
  for (const p of ['/../', '/..', '/../../..', '/a/../..', '/./../.']) {
    const l = v.lookup(p);
    assert.equal(l.path, '/');
    // The root file server covers the view's root only confined to its jail directory.
    assert.equal(l.mountPoint, '/');
    assert.deepEqual(
      l.stack.map((b) => [b.member.label, b.spec]),
      [['root', 'jail']],
    );
    assert.deepEqual(
      v.list(p).children.map((c) => c.name),
      ['a', 'b', 'd'],
    );
  }
  // /../secret/key in the view is jail/secret/key in the root file server, never /secret.
  for (const p of ['/../secret/key', '/a/../../secret/key', '/../../jail/../secret/key']) {
    const r = v.resolve(p);
    assert.deepEqual(
      [r.binding.member.label, r.binding.spec, r.rest],
      ['root', 'jail', 'secret/key'],
      p,
    );
  }
  const r = v.resolve('/../jailbreak');
  assert.deepEqual([r.binding.member.label, r.binding.spec, r.rest], ['root', 'jail', 'jailbreak']);
});

test('malformed paths get NS_ERR_INVALID_PATH with a message naming the problem', () => {
  const { v } = jail();
  const cases: [string, RegExp][] = [
    ['', /empty path/],
    ['a', /not absolute/],
    ['../secret', /not absolute/],
    ['/a\0', /NUL/],
    ['/\0/..', /NUL/],
    ['/../\0secret', /NUL/],
    ['/a/' + 'x'.repeat(256), /256 bytes long/],
    ['/' + 'é'.repeat(200), /400 bytes long/],
    ['/a' + '/x'.repeat(MAX_PATH_DEPTH), /components; the limit is 128/],
    ['/..'.repeat(20000), /characters long/],
    ['/a/\x01', /control character/],
  ];
  for (const [p, pattern] of cases) {
    for (const op of [
      () => v.lookup(p),
      () => v.resolve(p),
      () => v.list(p),
      () => v.sub(p),
      () => v.unmount(p),
      () => v.bind(p, fsMember('x')),
    ]) {
      assert.throws(op, (e: unknown) => {
        assert.ok(e instanceof NsError);
        assert.equal(e.code, 'NS_ERR_INVALID_PATH', JSON.stringify(p.slice(0, 20)));
        assert.match(e.message, pattern);
        return true;
      });
    }
  }
});

test('empty components are cleaned away, never an error', () => {
  const { v } = jail();
  assert.equal(v.resolve('//a//').binding.member.label, 'a');
  assert.equal(v.resolve('/.//a/./f').rest, 'f');
});

test('mutations through a view land inside it whatever .. they carry', () => {
  const { t, v } = jail();
  v.bind('/../../x', fsMember('x'));
  assert.equal(t.resolve('/jail/x').binding.member.label, 'x');
  assert.throws(
    () => v.unmount('/../secret'),
    (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND',
  );
  v.bindPath('/../secret', '/s');
  assert.deepEqual(
    t.members('/jail/s').map((b) => [b.member.label, b.spec]),
    [['root', 'jail/secret']],
  );
  const before = t.describe();
  assert.throws(
    () => v.apply('mount -a x /a\nunmount /../../secret\n', { resolve: () => fsMember('x') }),
    (e: unknown) =>
      e instanceof NsError &&
      e.code === 'NS_ERR_NOT_FOUND' &&
      e.message.startsWith('line 2, column 9:'),
  );
  assert.equal(t.describe(), before);
  assert.equal(t.members('/secret')[0]?.member.label, 'secret');
  v.clear();
  assert.equal(t.members('/secret')[0]?.member.label, 'secret');
  assert.equal(t.members('/')[0]?.member.label, 'root');
});

test('a view of a view, its fork and its text name nothing outside the first prefix', () => {
  const { v } = jail();
  const s = v.sub('/../secret');
  assert.deepEqual(
    s.resolve('/..').bindings.map((b) => [b.member.label, b.spec]),
    [['root', 'jail/secret']],
  );
  const w = v.sub('/../d/..');
  assert.deepEqual(
    [...w.mounts()].map((m) => m.path),
    ['/', '/a', '/b/c', '/d/e/f/g'],
  );
  assert.equal(
    v.describe(),
    'mount root / jail\nmount -c a /a\nmount c /b/c\nmount deep /d/e/f/g\n',
  );
  const f = v.fork();
  assert.equal(f.describe(), v.describe());
  assert.equal(f.resolve('/secret').binding.spec, 'jail');
});

test('a view rooted inside a member passes the member on confined to the view root', () => {
  const { t } = jail();
  // /jail lies in the root member's tree too; below the view root, a spec keeps it there.
  const v = t.sub('/jail/d/e');
  const r = v.resolve('/../../..');
  assert.equal(r.path, '/');
  // /jail/d/e is a synthetic directory under the root member's mount at '/': the member
  // reached is the root file server, confined to jail/d/e.
  assert.equal(r.binding.member.label, 'root');
  assert.equal(r.binding.spec, 'jail/d/e');
  assert.equal(r.rest, '');
});

test('views of views cannot nest deeper than MAX_PATH_DEPTH names in the namespace', () => {
  const { t } = jail();
  // Below the root file server every path exists, so only the depth limit stops this.
  let v = t.sub('/jail');
  for (let i = 0; i < 12; i++) v = v.sub('/x'.repeat(10));
  assert.throws(
    () => v.sub('/x'.repeat(10)),
    (e: unknown) =>
      e instanceof NsError &&
      e.code === 'NS_ERR_INVALID_PATH' &&
      /131 names deep.*limit is 128/.test(e.message),
  );
  assert.equal(
    v.resolve('/').binding.spec,
    'jail/' + Array.from({ length: 120 }, () => 'x').join('/'),
  );
});
