import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NsError } from '../../src/errors.js';
import {
  MountTable,
  parseNamespaceText,
  quoteWord,
  type Member,
} from '../../src/namespace/index.js';
import { fsMember, leafMember, type TreeCap } from './helpers.js';

function fails(codeWanted: string, at: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof NsError, String(e));
    assert.equal(e.code, codeWanted, e.message);
    assert.match(e.message, at);
    return true;
  };
}

const caps = new Map<string, Member<TreeCap>>(
  ['a', 'b', 'c', 'ram', 'host', 'a b', "it's", '-a', '#c', '$x'].map((l) => [l, fsMember(l)]),
);
caps.set('echo', leafMember('echo'));
const resolve = (l: string): Member<TreeCap> | undefined => caps.get(l);

test('namespace(6) lines parse into commands with flags, blanks and comments', () => {
  const cmds = parseNamespaceText(
    '# a comment\n\n  bind -ac /a /b\r\nmount -b -C ram /tmp spec\nunmount /tmp\nunmount ram /tmp\nclear\n\tmount  -c\thost /data\n',
  );
  assert.deepEqual(
    cmds.map((c) => {
      switch (c.op) {
        case 'bind':
          return ['bind', c.position, c.create, c.from.text, c.to.text];
        case 'mount':
          return ['mount', c.position, c.create, c.label.text, c.to.text, c.spec?.text];
        case 'unmount':
          return ['unmount', c.label?.text, c.to.text];
        case 'clear':
          return ['clear'];
      }
    }),
    [
      ['bind', 'after', true, '/a', '/b'],
      ['mount', 'before', false, 'ram', '/tmp', 'spec'],
      ['unmount', undefined, '/tmp'],
      ['unmount', 'ram', '/tmp'],
      ['clear'],
      ['mount', 'replace', true, 'host', '/data', undefined],
    ],
  );
});

test('syntax errors are NS_ERR_PARSE naming line and column', () => {
  const cases: [string, RegExp][] = [
    [
      'bind /a /b\n\ncd /usr',
      /^line 3, column 1: 'cd' is a namespace\(6\) command capns does not support/,
    ],
    ['  frob /a', /^line 1, column 3: unknown command 'frob'/],
    ['bind -ax /a /b', /^line 1, column 8: unknown flag 'x' in '-ax'/],
    ['bind -a -b /a /b', /^line 1, column 9: flags -a and -b exclude each other/],
    ['bind /a', /^line 1, column 1: missing argument; usage: bind \[-abcC\] from to/],
    ['mount ram /a spec extra', /^line 1, column 19: unexpected argument 'extra'/],
    ["mount 'ram /a", /^line 1, column 7: unterminated quote/],
    ['mount ram $home', /^line 1, column 11: variable \$home is not set/],
    ['mount ram /$', /^line 1, column 12: '\$' without a variable name/],
    ['unmount -a /x', /^line 1, column 9: unmount takes no flags/],
    ['clear now', /^line 1, column 7: unexpected argument 'now'/],
    ["'bind' /a /b", /^line 1, column 1: unknown command 'bind'/],
  ];
  for (const [text, pattern] of cases)
    assert.throws(() => parseNamespaceText(text), fails('NS_ERR_PARSE', pattern), text);
});

test('errors of a line that parses carry their own code, with line and column of the word at fault', () => {
  const t = new MountTable<TreeCap>();
  t.bind('/svc/echo', leafMember('echo'));
  const cases: [string, string, RegExp][] = [
    [
      'mount a /x\nbind /nothere /y',
      'NS_ERR_NOT_FOUND',
      /^line 2, column 6: '\/nothere' does not exist/,
    ],
    [
      'mount nobody /x',
      'NS_ERR_NOT_FOUND',
      /^line 1, column 7: no capability is labelled 'nobody'/,
    ],
    [
      'mount a relative',
      'NS_ERR_INVALID_PATH',
      /^line 1, column 9: path "relative" is not absolute/,
    ],
    ['mount a /x\nunmount zz /x', 'NS_ERR_NOT_FOUND', /^line 2, column 9: no member labelled 'zz'/],
    ['bind /svc/echo/x /y', 'NS_ERR_NOT_DIR', /^line 1, column 18: '\/svc\/echo' holds 'echo'/],
    ['mount echo /y spec', 'NS_ERR_NOT_DIR', /^line 1, column 12: spec 'spec' given/],
  ];
  for (const [text, c, pattern] of cases)
    assert.throws(() => t.apply(text, { resolve }), fails(c, pattern), text);
});

test('apply is all or nothing: an error on line 7 changes nothing', () => {
  const t = new MountTable<TreeCap>();
  t.bind('/keep', fsMember('c'));
  const before = t.describe();
  const text = [
    'clear',
    'mount a /a',
    'mount -a b /a',
    'bind /a /x',
    'unmount b /a',
    'mount -c ram /tmp',
    'bind /missing /y',
    'mount host /data',
  ].join('\n');
  assert.throws(() => t.apply(text, { resolve }), fails('NS_ERR_NOT_FOUND', /^line 7, column 6:/));
  assert.equal(t.describe(), before);
  assert.throws(
    () => t.apply(text.replace('/missing', '/a') + '\nfrob', { resolve }),
    fails('NS_ERR_PARSE', /^line 9/),
  );
  assert.equal(t.describe(), before);
  t.apply(text.replace('/missing', '/a'), { resolve });
  assert.equal(
    t.describe(),
    [
      'mount a /a',
      'mount host /data',
      'mount -c ram /tmp',
      'mount a /x',
      'mount -a b /x',
      'mount a /y',
      '',
    ].join('\n'),
  );
});

test('lines run in order, each seeing the ones before (bind evaluates its source then)', () => {
  const t = new MountTable<TreeCap>();
  t.apply('mount a /src\nbind /src /alias\nmount b /src', { resolve });
  assert.equal(t.members('/alias')[0]?.member.label, 'a');
  assert.equal(t.members('/src')[0]?.member.label, 'b');
});

test('quoting follows rc: names with blanks, quotes, $, leading # or - are quoted and read back unchanged', () => {
  assert.equal(quoteWord('plain/é'), 'plain/é');
  assert.equal(quoteWord('a b'), "'a b'");
  assert.equal(quoteWord("it's"), "'it''s'");
  assert.equal(quoteWord(''), "''");
  assert.equal(quoteWord('#c'), "'#c'");
  assert.equal(quoteWord('-a'), "'-a'");
  assert.equal(quoteWord('$x'), "'$x'");
  const t = new MountTable<TreeCap>();
  t.bind("/my dir/it's", fsMember('a b'));
  t.bind("/my dir/it's", fsMember("it's"), { position: 'after', spec: 'sub dir' });
  t.bind('/n/-a', fsMember('-a'), { create: true });
  t.bind('/n/#c', fsMember('#c'));
  t.bind('/n/$x', fsMember('$x'));
  const text = t.describe();
  assert.equal(
    text,
    [
      "mount 'a b' '/my dir/it''s'",
      "mount -a 'it''s' '/my dir/it''s' 'sub dir'",
      "mount '#c' /n/#c",
      "mount '$x' '/n/$x'",
      "mount -c '-a' /n/-a",
      '',
    ].join('\n'),
  );
  const u = new MountTable<TreeCap>();
  u.apply(text, { resolve });
  assert.equal(u.describe(), text);
});

test('$variables expand outside quotes only', () => {
  const t = new MountTable<TreeCap>();
  t.apply("mount a $home/x\nmount b '/$home'", { resolve, vars: { home: '/usr/glenda' } });
  assert.deepEqual(
    [...t.mounts()].map((m) => m.path),
    ['/$home', '/usr/glenda/x'],
  );
});

test('a quoted word that looks like a flag is an argument', () => {
  const t = new MountTable<TreeCap>();
  t.apply("mount '-a' /x", { resolve });
  assert.equal(t.members('/x')[0]?.member.label, '-a');
});

test('describe of an empty namespace is empty, and applying it to a namespace changes nothing', () => {
  const t = new MountTable<TreeCap>();
  assert.equal(t.describe(), '');
  t.bind('/a', fsMember('a'));
  t.apply(new MountTable().describe());
  assert.equal(t.describe(), 'mount a /a\n');
});

test('error messages quote at most 60 characters of a hostile word', () => {
  const huge = 'x'.repeat(100_000);
  for (const text of [huge, `bind -${huge} /a /b`, `clear ${huge}`, `mount ${huge} /x`]) {
    assert.throws(
      () => new MountTable().apply(text, { resolve: () => undefined }),
      (e: unknown) => e instanceof NsError && e.message.length < 200,
    );
  }
});
