import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NsError } from '../../src/errors.js';
import {
  FILE_SERVER_INTERFACE_ID,
  MountTable,
  NAMESPACE_INTERFACE_ID,
  mergeUnion,
  type Binding,
  type Member,
} from '../../src/namespace/index.js';
import { fsMember, leafMember, listNames, lookupFile, type TreeCap } from './helpers.js';

function code(c: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof NsError, `expected NsError, got ${String(e)}`);
    assert.equal(e.code, c, e.message);
    return true;
  };
}

/** The seeds' /bin: three file servers, and the union built from them by namespace text. */
function plan9Bin(): { t: MountTable<TreeCap>; members: Map<string, Member<TreeCap>> } {
  const members = new Map<string, Member<TreeCap>>([
    ['rc', fsMember('rc', { '': ['bin', 'lib'], bin: ['cat', 'termrc', 'cpurc'] })],
    ['386', fsMember('386', { '': ['bin'], bin: ['ls', 'cat', 'rc'] })],
    ['home', fsMember('home', { '': ['bin'], bin: ['386'], 'bin/386': ['ls', 'mytool'] })],
  ]);
  const t = new MountTable<TreeCap>();
  t.apply(
    [
      'mount rc /rc',
      'mount 386 /386',
      'mount home $home',
      '# namespace(6) of the seeds: architecture binaries, shell built-ins, personal overrides',
      'bind -a /rc/bin /bin',
      'bind -a /386/bin /bin',
      'bind -b $home/bin/386 /bin',
    ].join('\n'),
    { resolve: (l) => members.get(l), vars: { home: '/usr/glenda' } },
  );
  return { t, members };
}

describe('union directories (seeds: /bin of Plan 9)', () => {
  test('lookup in /bin searches $home/bin/386 (-b) first, then /rc/bin, then /386/bin (-a, in bind order)', () => {
    const { t } = plan9Bin();
    assert.deepEqual(
      t.members('/bin').map((b) => [b.member.label, b.spec]),
      [
        ['home', 'bin/386'],
        ['rc', 'bin'],
        ['386', 'bin'],
      ],
    );
    assert.deepEqual(lookupFile(t, '/bin/ls'), { label: 'home', path: 'bin/386/ls' });
    assert.deepEqual(lookupFile(t, '/bin/cat'), { label: 'rc', path: 'bin/cat' });
    assert.deepEqual(lookupFile(t, '/bin/rc'), { label: '386', path: 'bin/rc' });
    assert.equal(lookupFile(t, '/bin/nothere'), undefined);
  });

  test('a union listing is the members entries in search order, de-duplicated, first wins', () => {
    const { t } = plan9Bin();
    assert.deepEqual(listNames(t, '/bin'), ['ls', 'mytool', 'cat', 'termrc', 'cpurc', 'rc']);
  });

  test('synthetic directories exist for the parents of mount points and list them', () => {
    const { t } = plan9Bin();
    assert.deepEqual(listNames(t, '/'), ['386', 'bin', 'rc', 'usr']);
    assert.deepEqual(listNames(t, '/usr'), ['glenda']);
    const l = t.lookup('/usr');
    assert.equal(l.mountPoint, undefined);
    assert.equal(l.hasMountsBelow, true);
    assert.throws(() => t.resolve('/usr'), code('NS_ERR_NOT_FOUND'));
    assert.throws(() => t.lookup('/usr/rob'), code('NS_ERR_NOT_FOUND'));
  });

  test('a mount point below a mount point shadows the name in the listing and in lookup', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/a', fsMember('A', { '': ['b', 'x'], b: ['y'] }));
    t.bind('/a/b', fsMember('B', { '': ['z'] }));
    assert.deepEqual(listNames(t, '/a'), ['b', 'x']);
    assert.equal(t.list('/a').children[0]?.binding?.member.label, 'B');
    assert.deepEqual(lookupFile(t, '/a/b/z'), { label: 'B', path: 'z' });
    assert.equal(lookupFile(t, '/a/b/y'), undefined);
  });

  test('the root of an empty namespace is an empty directory', () => {
    const t = new MountTable();
    assert.deepEqual(t.list('/').children, []);
    assert.throws(() => t.resolve('/'), code('NS_ERR_NOT_FOUND'));
    assert.throws(() => t.lookup('/x'), code('NS_ERR_NOT_FOUND'));
  });

  test('mergeUnion keeps the first entry of each name', () => {
    const merged = mergeUnion(
      [{ name: 'm', n: 0 }],
      [
        [
          { name: 'a', n: 1 },
          { name: 'm', n: 2 },
        ],
        [
          { name: 'a', n: 3 },
          { name: 'b', n: 4 },
        ],
      ],
    );
    assert.deepEqual(merged, [
      { name: 'm', n: 0 },
      { name: 'a', n: 1 },
      { name: 'b', n: 4 },
    ]);
  });
});

describe('bind positions', () => {
  test('replace drops the old stack: only the new member is searched or listed', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/d', fsMember('one', { '': ['a'] }), { create: true });
    t.bind('/d', fsMember('two', { '': ['b'] }), { position: 'after' });
    t.bind('/d', fsMember('three', { '': ['c'] }), { position: 'replace' });
    assert.deepEqual(
      t.members('/d').map((b) => b.member.label),
      ['three'],
    );
    assert.deepEqual(listNames(t, '/d'), ['c']);
    assert.equal(lookupFile(t, '/d/a'), undefined);
    assert.throws(() => t.createTarget('/d/new'), code('NS_ERR_PERMISSION'));
  });

  test('before pushes to the front and after to the back of the stack', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/d', fsMember('m'));
    t.bind('/d', fsMember('b'), { position: 'before' });
    t.bind('/d', fsMember('a'), { position: 'after' });
    t.bind('/d', fsMember('bb'), { position: 'before' });
    assert.deepEqual(
      t.members('/d').map((b) => b.member.label),
      ['bb', 'b', 'm', 'a'],
    );
  });

  test('a bad position is an invalid argument', () => {
    const t = new MountTable();
    assert.throws(
      () => t.bind('/d', fsMember('m'), { position: 'middle' as 'after' }),
      code('NS_ERR_INVALID_ARGUMENT'),
    );
  });
});

describe('MCREATE', () => {
  test('create at a mount point goes to the first member bound with create, whatever its position', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/tmp', fsMember('pub'));
    t.bind('/tmp', fsMember('mine'), { position: 'after', create: true });
    t.bind('/tmp', fsMember('also'), { position: 'after', create: true });
    t.bind('/tmp', fsMember('front'), { position: 'before' });
    const c = t.createTarget('/tmp/newfile');
    assert.equal(c.kind, 'member');
    assert.equal(c.kind === 'member' && c.binding.member.label, 'mine');
    assert.equal(c.rest, 'newfile');
  });

  test('create at a mount point with no create member is a permission error, even with one member', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/tmp', fsMember('pub'));
    assert.throws(
      () => t.createTarget('/tmp/x'),
      (e: unknown) => code('NS_ERR_PERMISSION')(e) && /forbids creation/.test((e as Error).message),
    );
  });

  test('a create that the create member refuses does not fall through to the next member', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/tmp', fsMember('full'), { create: true });
    t.bind('/tmp', fsMember('spare'), { position: 'after', create: true });
    const tried: string[] = [];
    const create = (path: string): void => {
      const target = t.createTarget(path);
      assert.equal(target.kind, 'member');
      if (target.kind !== 'member') return;
      tried.push(target.binding.member.label);
      if (target.binding.member.label === 'full') throw new NsError('NS_ERR_IO', 'disk full');
    };
    assert.throws(() => create('/tmp/x'), code('NS_ERR_IO'));
    assert.deepEqual(tried, ['full']);
  });

  test('below a mount point, create goes to the member that holds the parent directory (the caller walks)', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/d', fsMember('a', { '': ['sub'] }));
    t.bind('/d', fsMember('b'), { position: 'after', create: true });
    const c = t.createTarget('/d/sub/f');
    assert.equal(c.kind, 'walk');
    assert.deepEqual(c.kind === 'walk' && c.bindings.map((b) => b.member.label), ['a', 'b']);
    assert.equal(c.rest, 'sub/f');
  });

  test('nothing can be created in a synthetic directory, nor over a mount point', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/n/x', fsMember('x'), { create: true });
    assert.throws(() => t.createTarget('/n/y'), code('NS_ERR_PERMISSION'));
    assert.throws(() => t.createTarget('/n/x'), code('NS_ERR_EXISTS'));
    assert.throws(() => t.createTarget('/n'), code('NS_ERR_EXISTS'));
    assert.throws(() => t.createTarget('/'), code('NS_ERR_EXISTS'));
  });

  test('create through a read-only view is refused', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/tmp', fsMember('t'), { create: true });
    assert.throws(() => t.sub('/', true).createTarget('/tmp/x'), code('NS_ERR_PERMISSION'));
  });
});

describe('unmount', () => {
  test('unmount with a label removes that member only; the rest of the union stays in order', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/d', fsMember('a'));
    t.bind('/d', fsMember('b'), { position: 'after' });
    t.bind('/d', fsMember('c'), { position: 'after' });
    t.unmount('/d', 'b');
    assert.deepEqual(
      t.members('/d').map((b) => b.member.label),
      ['a', 'c'],
    );
  });

  test('unmount without a label removes the whole stack, and empty parents vanish', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/n/d', fsMember('a'));
    t.bind('/n/d', fsMember('b'), { position: 'after' });
    t.unmount('/n/d');
    assert.throws(() => t.lookup('/n/d'), code('NS_ERR_NOT_FOUND'));
    assert.throws(() => t.lookup('/n'), code('NS_ERR_NOT_FOUND'));
    assert.deepEqual(listNames(t, '/'), []);
  });

  test('unmount keeps mount points below the one removed', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/a', fsMember('a'));
    t.bind('/a/b', fsMember('b'));
    t.unmount('/a');
    assert.equal(t.lookup('/a').mountPoint, undefined);
    assert.equal(t.resolve('/a/b').binding.member.label, 'b');
  });

  test('unmount of nothing, or of a label not there, is not found and changes nothing', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/d', fsMember('a'));
    const before = t.describe();
    assert.throws(() => t.unmount('/d', 'zz'), code('NS_ERR_NOT_FOUND'));
    assert.throws(() => t.unmount('/e'), code('NS_ERR_NOT_FOUND'));
    assert.throws(() => t.unmount('/'), code('NS_ERR_NOT_FOUND'));
    assert.equal(t.describe(), before);
  });
});

describe('bind of a visible name (bindPath) is evaluated at bind time', () => {
  test('the alias keeps the members found at bind time after the source changes', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/src', fsMember('old', { '': ['f'] }));
    t.bindPath('/src', '/alias');
    t.bind('/src', fsMember('new', { '': ['g'] }));
    assert.deepEqual(lookupFile(t, '/alias/f'), { label: 'old', path: 'f' });
    t.unmount('/src');
    assert.deepEqual(lookupFile(t, '/alias/f'), { label: 'old', path: 'f' });
  });

  test('a bind of a path inside a member shows that directory, and cannot climb above it', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/usr', fsMember('usr', { '': ['glenda', 'rob'], glenda: ['lib'], rob: ['secret'] }));
    t.bindPath('/usr/glenda', '/home');
    // '..' is lexical in the namespace: /home/.. is /, never the member's directory above 'glenda'.
    assert.throws(() => t.resolve('/home/../rob/secret'), code('NS_ERR_NOT_FOUND'));
    assert.equal(t.lookup('/home/..').path, '/');
    assert.deepEqual(lookupFile(t, '/home/lib'), { label: 'usr', path: 'glenda/lib' });
    assert.equal(t.resolve('/home/lib').binding.spec, 'glenda');
  });

  test('binding a whole union copies every member in order, with the new create flag', () => {
    const { t } = plan9Bin();
    t.bindPath('/bin', '/mybin', { create: true });
    assert.deepEqual(
      t.members('/mybin').map((b) => [b.member.label, b.spec, b.create]),
      [
        ['home', 'bin/386', true],
        ['rc', 'bin', true],
        ['386', 'bin', true],
      ],
    );
  });

  test('a synthetic directory or a missing path cannot be bound', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/n/x', fsMember('x'));
    assert.throws(() => t.bindPath('/n', '/m'), code('NS_ERR_NOT_FOUND'));
    assert.throws(() => t.bindPath('/nothing', '/m'), code('NS_ERR_NOT_FOUND'));
  });

  test('a path below a leaf capability is not a directory', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/svc/echo', leafMember('echo'));
    assert.throws(() => t.bindPath('/svc/echo/x', '/m'), code('NS_ERR_NOT_DIR'));
    assert.throws(() => t.resolve('/svc/echo/x'), code('NS_ERR_NOT_DIR'));
    assert.throws(() => t.list('/svc/echo'), code('NS_ERR_NOT_DIR'));
    assert.throws(() => t.bind('/x', leafMember('echo'), { spec: 'a' }), code('NS_ERR_NOT_DIR'));
  });
});

describe('fork (RFNAMEG)', () => {
  test('changes to a fork do not show in the original', () => {
    const { t } = plan9Bin();
    const before = t.describe();
    const f = t.fork();
    f.unmount('/bin', 'home');
    f.bind('/tmp', fsMember('tmp'));
    f.bind('/usr/glenda/x', fsMember('x'));
    assert.equal(t.describe(), before);
    assert.throws(() => t.lookup('/tmp'), code('NS_ERR_NOT_FOUND'));
    assert.equal(t.members('/bin').length, 3);
    assert.equal(f.members('/bin').length, 2);
  });

  test('changes to the original do not show in a fork', () => {
    const { t } = plan9Bin();
    const f = t.fork();
    const before = f.describe();
    t.clear();
    t.bind('/bin', fsMember('other'));
    assert.equal(f.describe(), before);
    assert.equal(f.members('/bin')[0]?.member.label, 'home');
  });

  test('a fork of a view holds what the view sees, rooted at its root, and stays read-only', () => {
    const { t } = plan9Bin();
    const v = t.sub('/usr/glenda/bin', true);
    const f = v.fork();
    assert.equal(f.readOnly, true);
    assert.equal(f.resolve('/386/ls').binding.spec, 'bin');
    assert.equal(f.resolve('/386/ls').rest, '386/ls');
    assert.throws(() => f.bind('/x', fsMember('x')), code('NS_ERR_PERMISSION'));
    const w = t.sub('/usr').fork();
    assert.equal(w.readOnly, false);
    w.bind('/other', fsMember('o'));
    assert.throws(() => t.lookup('/usr/other'), code('NS_ERR_NOT_FOUND'));
  });

  test('clean() is an empty, separate namespace', () => {
    const { t } = plan9Bin();
    const c = t.clean();
    assert.equal(c.describe(), '');
    c.bind('/x', fsMember('x'));
    assert.throws(() => t.lookup('/x'), code('NS_ERR_NOT_FOUND'));
  });
});

describe('sub views', () => {
  test('a view shares the namespace: changes through it show in the parent and back', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/n/a', fsMember('a'));
    const v = t.sub('/n');
    v.bind('/b', fsMember('b'));
    assert.equal(t.resolve('/n/b').binding.member.label, 'b');
    t.bind('/n/c', fsMember('c'));
    assert.equal(v.resolve('/c').binding.member.label, 'c');
    assert.deepEqual(listNames(v, '/'), ['a', 'b', 'c']);
  });

  test('a read-only view refuses every mutation', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/n/a', fsMember('a'));
    const v = t.sub('/n', true);
    const refused: (() => void)[] = [
      () => v.bind('/x', fsMember('x')),
      () => v.bindPath('/a', '/x'),
      () => v.unmount('/a'),
      () => v.declare('/a', FILE_SERVER_INTERFACE_ID),
      () => v.clear(),
      () => v.apply('clear'),
      () => v.createTarget('/a/f'),
      () => v.sub('/a', false).bind('/y', fsMember('y')),
    ];
    for (const f of refused) assert.throws(f, code('NS_ERR_PERMISSION'));
    assert.equal(v.resolve('/a').binding.member.label, 'a');
    assert.equal(t.describe(), 'mount a /n/a\n');
  });

  test('a view whose root lies inside a member confines the member to that directory', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/data', fsMember('data', { '': ['photos', 'secret'], photos: ['cat.jpg'] }));
    const v = t.sub('/data/photos');
    const r = v.resolve('/cat.jpg');
    assert.equal(r.mountPoint, '/');
    assert.equal(r.binding.spec, 'photos');
    assert.equal(r.rest, 'cat.jpg');
    assert.deepEqual(listNames(v, '/'), ['cat.jpg']);
    assert.equal(v.resolve('/../secret').rest, 'secret');
    assert.equal(v.resolve('/../secret').binding.spec, 'photos');
    assert.equal(v.describe(), 'mount data / photos\n');
  });
});

describe('typed resolve and declarations', () => {
  const Echo = 0x1111222233334444n;
  const Clock = 0x5555666677778888n;

  test('resolve with the expected interface returns the member; with another it is a mismatch', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/svc/echo', leafMember('echo', Echo));
    assert.equal(t.resolve('/svc/echo', Echo).binding.member.label, 'echo');
    assert.throws(() => t.resolve('/svc/echo', Clock), code('NS_ERR_INTERFACE_MISMATCH'));
  });

  test('the first member decides: a mismatch is not skipped over to a later member', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/svc/x', leafMember('clock', Clock));
    t.bind('/svc/x', leafMember('echo', Echo), { position: 'after' });
    assert.throws(() => t.resolve('/svc/x', Echo), code('NS_ERR_INTERFACE_MISMATCH'));
  });

  test('inside a file tree only a FileServer can be expected; a Namespace member defers the check', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/data', fsMember('data'));
    assert.equal(t.resolve('/data/dir', FILE_SERVER_INTERFACE_ID).rest, 'dir');
    assert.throws(() => t.resolve('/data/dir', Echo), code('NS_ERR_INTERFACE_MISMATCH'));
    t.bind('/remote', { cap: { tree: {} }, interfaceId: NAMESPACE_INTERFACE_ID, label: 'remote' });
    assert.equal(t.resolve('/remote/svc/echo', Echo).binding.member.label, 'remote');
  });

  test('a declared path refuses binds of another interface, and accepts its own', () => {
    const t = new MountTable<TreeCap>();
    t.declare('/svc/echo', Echo);
    assert.throws(
      () => t.bind('/svc/echo', leafMember('clock', Clock)),
      code('NS_ERR_INTERFACE_MISMATCH'),
    );
    t.bind('/svc/echo', leafMember('echo', Echo));
    t.bind('/clock', leafMember('clock', Clock));
    assert.throws(
      () => t.bindPath('/clock', '/svc/echo', { position: 'after' }),
      code('NS_ERR_INTERFACE_MISMATCH'),
    );
    assert.throws(
      () => t.apply('mount clock /svc/echo', { resolve: () => leafMember('clock', Clock) }),
      code('NS_ERR_INTERFACE_MISMATCH'),
    );
    assert.deepEqual(
      t.members('/svc/echo').map((b) => b.member.label),
      ['echo'],
    );
    assert.equal(t.declared('/svc/echo'), Echo);
    assert.equal(t.sub('/svc').declared('/echo'), Echo);
  });

  test('declaring a path that already holds another interface is a mismatch', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/svc/echo', leafMember('clock', Clock));
    assert.throws(() => t.declare('/svc/echo', Echo), code('NS_ERR_INTERFACE_MISMATCH'));
    assert.equal(t.declared('/svc/echo'), undefined);
  });

  test('declarations survive clear() and fork(), and are re-rooted in a fork of a view', () => {
    const t = new MountTable<TreeCap>();
    t.declare('/svc/echo', Echo);
    t.clear();
    assert.equal(t.fork().declared('/svc/echo'), Echo);
    t.bind('/svc/clock', leafMember('clock', Clock));
    assert.equal(t.sub('/svc').fork().declared('/echo'), Echo);
  });
});

describe('bad arguments', () => {
  test('members need a 64-bit interface id and a printable, non-empty label', () => {
    const t = new MountTable();
    const bad: Member[] = [
      { cap: 1, interfaceId: -1n, label: 'x' },
      { cap: 1, interfaceId: 1n << 64n, label: 'x' },
      { cap: 1, interfaceId: 5 as unknown as bigint, label: 'x' },
      { cap: 1, interfaceId: 1n, label: '' },
      { cap: 1, interfaceId: 1n, label: 'a\nb' },
      { cap: 1, interfaceId: 1n, label: 'x'.repeat(256) },
      { cap: 1, interfaceId: 1n, label: '\ud800' },
    ];
    for (const m of bad) assert.throws(() => t.bind('/x', m), code('NS_ERR_INVALID_ARGUMENT'));
    assert.equal(t.describe(), '');
  });
});

describe('sharing', () => {
  test('stacks handed out are frozen, so a caller cannot change a namespace (or its forks) through them', () => {
    const t = new MountTable<TreeCap>();
    t.bind('/d', fsMember('a'));
    const f = t.fork();
    const stack = t.members('/d') as Binding<TreeCap>[];
    assert.throws(() => stack.push(stack[0] as Binding<TreeCap>), TypeError);
    assert.throws(() => {
      (stack[0] as { spec: string }).spec = 'x';
    }, TypeError);
    assert.equal(f.members('/d').length, 1);
    assert.equal(f.members('/d')[0]?.spec, '');
  });
});
