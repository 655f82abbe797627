import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NsError } from '../../src/errors.js';
import { FileServer$Client } from '../../src/gen/fileserver.js';
import {
  ManifestError,
  parseManifest,
  type Manifest,
  type Step,
} from '../../src/manifest/index.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'manifest');

function issuesOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseManifest(text, { file: 'm.yaml', env });
  } catch (err) {
    assert.ok(err instanceof ManifestError);
    return err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
  }
  assert.fail('expected a ManifestError');
}

function steps(m: Manifest, profile: string): Step[] {
  return [...(m.profiles.find((p) => p.name === profile)?.namespace ?? [])];
}

test('defaults are filled in: position replace, create false, spec "", empty lists, import path / and interface Namespace', () => {
  const m = parseManifest(
    `version: 1
capabilities:
  tmp: { type: ram }
  far: { type: import, address: "tcp!h!1" }
profiles:
  a: { namespace: [ { mount: tmp, at: /t }, { bind: /t, at: /u } ] }
`,
    { file: 'm.yaml' },
  );
  assert.deepEqual(
    steps(m, 'a').map(({ loc: _loc, ...s }) => s),
    [
      { op: 'mount', capability: 'tmp', at: '/t', position: 'replace', create: false, spec: '' },
      { op: 'bind', from: '/t', at: '/u', position: 'replace', create: false },
    ],
  );
  const far = m.capabilities.find((c) => c.name === 'far');
  assert.ok(far?.type === 'import');
  assert.equal(far.path, '/');
  assert.equal(far.interface.name, 'Namespace');
  assert.deepEqual(m.profiles[0]?.auth, {
    tokens: [],
    tlsSubjects: [],
    loopback: false,
    loc: undefined,
  });
  assert.deepEqual([m.listeners, m.exports, m.limits], [[], [], { rpc: {}, '9p': {}, http: {} }]);
});

test('namespace paths are cleaned lexically; specs become relative; host paths resolve against the manifest folder', () => {
  const m = parseManifest(
    `version: 1
capabilities:
  d: { type: dir, path: ./data/../store }
  abs: { type: dir, path: /srv/x/ }
profiles:
  a: { namespace: [ { mount: d, at: "//n/./x/../y/", spec: /sub//dir/ } ] }
`,
    { file: 'conf/m.yaml' },
  );
  const s = steps(m, 'a')[0];
  assert.ok(s?.op === 'mount');
  assert.equal(s.at, '/n/y');
  assert.equal(s.spec, 'sub/dir');
  const [d, abs] = m.capabilities;
  assert.ok(d?.type === 'dir' && abs?.type === 'dir');
  assert.equal(d.path, 'conf/store');
  assert.equal(abs.path, '/srv/x');
  assert.equal(d.io, 'adaptive', 'a dir capability reads on the event loop by default');
  const other = parseManifest('version: 1\ncapabilities: { d: { type: dir, path: data } }', {
    file: 'conf/m.yaml',
    baseDir: '/etc/capns',
  });
  assert.equal((other.capabilities[0] as { path: string }).path, '/etc/capns/data');
});

test('an import takes its deadlines and timers as positive whole milliseconds; absent ones are left to the importer', () => {
  const m = parseManifest(
    'version: 1\ncapabilities: { far: { type: import, address: "tcp!h!1", connectTimeoutMs: 100, authTimeoutMs: 200, resolveTimeoutMs: 300, callTimeoutMs: 400, retryRefusedMs: 60000, heartbeatMs: 50, heartbeatTimeoutMs: 150 } }',
  );
  const far = m.capabilities[0] as unknown as Record<string, unknown>;
  assert.deepEqual(
    ['connectTimeoutMs', 'authTimeoutMs', 'resolveTimeoutMs', 'callTimeoutMs', 'retryRefusedMs', 'heartbeatMs', 'heartbeatTimeoutMs'].map((k) => far[k]),
    [100, 200, 300, 400, 60000, 50, 150],
  );
  const plain = parseManifest('version: 1\ncapabilities: { far: { type: import, address: "tcp!h!1" } }').capabilities[0] as unknown as Record<string, unknown>;
  assert.equal('callTimeoutMs' in plain, false);
  assert.deepEqual(issuesOf('version: 1\ncapabilities: { far: { type: import, address: "tcp!h!1", callTimeoutMs: 0 } }'), [
    '2:73 capabilities.far.callTimeoutMs: expected a number above 0',
  ]);
  assert.match(issuesOf('version: 1\ncapabilities: { far: { type: import, address: "tcp!h!1", timeoutMs: 5 } }').join('\n'), /timeoutMs/);
});

test('an export takes its heartbeat timers (0 turns heartbeats off); absent ones are left to the exporter', () => {
  const base = 'version: 1\nprofiles: { a: { auth: { tokens: [t] } } }\nexports:\n';
  const e = parseManifest(`${base}  - { profile: a, listen: "tcp!h!1", heartbeatMs: 0, heartbeatTimeoutMs: 300 }`).exports[0]!;
  assert.deepEqual([e.heartbeatMs, e.heartbeatTimeoutMs], [0, 300]);
  const plain = parseManifest(`${base}  - { profile: a, listen: "tcp!h!1" }`).exports[0]!;
  assert.equal('heartbeatMs' in plain, false);
  assert.match(issuesOf(`${base}  - { profile: a, listen: "tcp!h!1", heartbeatTimeoutMs: 0 }`).join('\n'), /heartbeatTimeoutMs: expected a number above 0/);
});

test('a dir capability says where its I/O runs: io is adaptive or pool, nothing else', () => {
  const m = parseManifest('version: 1\ncapabilities: { d: { type: dir, path: /x, io: pool } }');
  assert.equal((m.capabilities[0] as { io: string }).io, 'pool');
  assert.throws(
    () => parseManifest('version: 1\ncapabilities: { d: { type: dir, path: /x, io: threads } }'),
    /io/,
  );
});

test('${VAR} is expanded from the env given (and only that); $$ is a literal $; secrets never appear in messages', () => {
  const m = parseManifest(
    `version: 1
profiles:
  a: { auth: { tokens: ["\${A}", "x-$$-\${B}-y"] } }
`,
    { env: { A: 'sekrit-a', B: 'sekrit-b' } },
  );
  assert.deepEqual(m.profiles[0]?.auth.tokens, ['sekrit-a', 'x-$-sekrit-b-y']);
  const issues = issuesOf(
    'version: 1\nprofiles:\n  a: { auth: { tokens: ["${A}", "${B"] }, namespace: [ { bind: "${A}", at: /x } ] }\n',
    { A: 'sekrit' },
  );
  assert.deepEqual(issues, [
    '3:34 profiles.a.auth.tokens[1]: unterminated "${" (write "$$" for a literal "$")',
    '3:64 profiles.a.namespace[0].bind: "${A}" is not an absolute path (it must start with /)',
  ]);
  // The environment of the process is not consulted: only what the caller passes.
  process.env['CAPNS_TEST_NOT_PASSED'] = 'x';
  assert.deepEqual(
    issuesOf('version: 1\nprofiles:\n  a: { auth: { tokens: ["${CAPNS_TEST_NOT_PASSED}"] } }\n'),
    ['3:26 profiles.a.auth.tokens[0]: environment variable CAPNS_TEST_NOT_PASSED is not set'],
  );
  delete process.env['CAPNS_TEST_NOT_PASSED'];
  // A value from a variable is named by the variable; a token in the wrong shape by its type.
  assert.deepEqual(
    issuesOf('version: 1\nlisteners: [ { protocol: rpc, address: "${ADDR}" } ]\n', {
      ADDR: 'hunter2-secret',
    }),
    [
      '2:40 listeners[0].address: address "${ADDR}": expected tcp!HOST!PORT, HOST:PORT or unix!PATH',
    ],
  );
  assert.deepEqual(
    issuesOf('version: 1\nprofiles:\n  a: { auth: { tokens: "${T}" } }\n', { T: 'hunter2-secret' }),
    ['3:24 profiles.a.auth.tokens: expected a list, got a string'],
  );
  assert.deepEqual(
    issuesOf('version: 1\nprofiles:\n  a: { auth: { tokens: [ 12345678901234567 ] } }\n'),
    ['3:26 profiles.a.auth.tokens[0]: expected a string, got a number'],
  );
});

test('ns: text becomes steps in place, each with the line and column of its own line in the file', () => {
  const m = parseManifest(
    `version: 1
capabilities: { tmp: { type: ram }, c: { type: demo.clock } }
profiles:
  a:
    namespace:
      - { mount: tmp, at: /tmp }
      - ns: |
          # comment

          bind -a /tmp /scratch
            mount -bc c '/svc/the clock' spec
          unmount c '/svc/the clock'
      - { bind: /tmp, at: /last }
`,
    { file: 'm.yaml' },
  );
  const s = steps(m, 'a');
  assert.deepEqual(
    s.map((x) => `${x.loc.line}:${x.loc.column} ${x.loc.path} ${x.op}`),
    [
      '6:9 profiles.a.namespace[0] mount',
      '10:11 profiles.a.namespace[1].ns:3 bind',
      '11:13 profiles.a.namespace[1].ns:4 mount',
      '12:11 profiles.a.namespace[1].ns:5 unmount',
      '13:9 profiles.a.namespace[2] bind',
    ],
  );
  assert.deepEqual(
    s.slice(1, 4).map(({ loc: _loc, ...x }) => x),
    [
      { op: 'bind', from: '/tmp', at: '/scratch', position: 'after', create: false },
      {
        op: 'mount',
        capability: 'c',
        at: '/svc/the clock',
        position: 'before',
        create: true,
        spec: 'spec',
      },
      { op: 'unmount', at: '/svc/the clock', member: 'c' },
    ],
  );
});

test("require by name or id is completed to both; an export without auth takes its profile's", () => {
  const m = parseManifest(
    `version: 1
capabilities: { tmp: { type: ram } }
profiles:
  a:
    auth: { tokens: [t1], tls: { subject: CN=a } }
    namespace: [ { mount: tmp, at: /t, require: "0x9f045841e9732f3b" }, { mount: tmp, at: /u, require: FileServer } ]
exports:
  - { profile: a, listen: "tcp!127.0.0.1!0", root: /t }
  - { profile: a, listen: "tcp!127.0.0.1!0", auth: { tokens: [t2] } }
`,
  );
  const [s0, s1] = steps(m, 'a');
  assert.ok(s0?.op === 'mount' && s1?.op === 'mount');
  assert.deepEqual(s0.require, { name: 'FileServer', id: FileServer$Client.interfaceId });
  assert.deepEqual(s1.require, s0.require);
  assert.deepEqual(m.exports[0]?.auth.tokens, ['t1']);
  assert.deepEqual(m.exports[0]?.auth.tlsSubjects, ['CN=a']);
  assert.deepEqual(m.exports[1]?.auth.tokens, ['t2']);
  assert.deepEqual(m.exports[1]?.auth.tlsSubjects, []);
});

test('JSON is a manifest too (YAML 1.2), with positions', () => {
  const text = readFileSync(join(fixtures, 'good', 'small.json'), 'utf8');
  const m = parseManifest(text, { file: 'small.json' });
  assert.equal(m.profiles[0]?.namespace[0]?.loc.line, 7);
  assert.deepEqual(
    issuesOf('{ "version": 1, "capabilities": { "t": { "type": "ram", "maxFiles": "many" } } }'),
    ['1:69 capabilities.t.maxFiles: expected a number, got the string "many"'],
  );
});

test('anchors and aliases work; a billion-laughs document is refused, not expanded', () => {
  const m = parseManifest(
    `version: 1
capabilities: { tmp: { type: ram } }
profiles:
  a: { auth: { tokens: [ta] }, namespace: &steps [ { mount: tmp, at: /tmp } ] }
  b: { auth: { tokens: [tb] }, namespace: *steps }
`,
  );
  assert.equal(steps(m, 'b')[0]?.at, '/tmp');
  const lol = ['version: 1', 'x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]'];
  for (let i = 1; i < 10; i++)
    lol.push(
      `x${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  const issues = issuesOf(lol.join('\n'));
  assert.equal(issues.length, 1);
  assert.match(issues[0] as string, /^1:1 : YAML: .*alias/i);
});

test('ManifestError is an NsError (NS_ERR_PARSE); a plain NsError is not a ManifestError', () => {
  let err: unknown;
  try {
    parseManifest('version: 2', { file: 'x.yaml' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ManifestError && err instanceof NsError);
  assert.equal(err.code, 'NS_ERR_PARSE');
  assert.equal(err.message, 'x.yaml:1:10 version: expected 1 (the only manifest version there is)');
  assert.equal(err.syntax, false);
  assert.equal(new NsError('NS_ERR_PARSE', 'x') instanceof ManifestError, false);
});

test('a manifest with problems of every stage reports all of them at once, in file order', () => {
  const issues = issuesOf(
    `version: 1
capabilities:
  tmp: { type: ram, maxBytes: 1.5 }
  tmp2: { type: ram, size: 1 }
profiles:
  a:
    auth: { tokens: ["\${UNSET}"] }
    namespace:
      - { mount: nope, at: /x }
      - { mount: tmp, at: /y, position: sideways }
      - ns: bind /a
listeners:
  - { protocol: rpc, address: "tcp!h!99999", profile: zed }
`,
  );
  assert.deepEqual(issues, [
    '3:31 capabilities.tmp.maxBytes: expected a whole number, got number 1.5',
    '4:22 capabilities.tmp2.size: unknown field "size"; expected type, maxBytes, maxFiles, maxFileSize',
    '7:23 profiles.a.auth.tokens[0]: environment variable UNSET is not set',
    '9:18 profiles.a.namespace[0].mount: unknown capability "nope"',
    '10:41 profiles.a.namespace[1].position: expected one of replace, before, after, got the string "sideways"',
    '11:13 profiles.a.namespace[2].ns: missing argument; usage: bind [-abcC] from to',
    '13:31 listeners[0].address: address "tcp!h!99999": bad port "99999" (expected a number 0..65535)',
    '13:55 listeners[0].profile: unknown profile "zed"',
  ]);
});
