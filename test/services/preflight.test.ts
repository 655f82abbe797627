/**
 * `capns manifest check` on services: what can be known before starting — schemas that do
 * not read or compile, interface names no schema defines, `require`s the declared
 * interface does not meet — each at its line and column.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { PREFLIGHT_DIAGNOSTIC_CODES, parseManifest } from '../../src/manifest/index.js';
import { preflightManifest } from '../../src/services/index.js';

const root = resolve(import.meta.dirname, '..', '..');
const TEST_CAPNP = join(root, 'test', 'fixtures', 'rpc', 'test.capnp');

function check(file: string, cwd: string): Promise<{ status: number | null; stdout: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'manifest', 'check', file], { cwd, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (status) => done({ status, stdout }));
  });
}

test('capns manifest check: an unknown interface name and a require the declared interface does not meet, with the schema that defines the others', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-preflight-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'm.yaml'),
    `version: 1
schemas: ["${TEST_CAPNP}"]
capabilities:
  calc: { type: connect, address: "tcp!127.0.0.1!7000", interface: Test }
  other: { type: connect, address: "tcp!127.0.0.1!7001", interface: Tset }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: calc, at: /svc/calc, require: Base }
      - { mount: other, at: /svc/other }
      - { mount: calc, at: /svc/calc2, require: "test.capnp:Test" }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`,
  );
  const r = await check('m.yaml', dir);
  assert.equal(r.status, 1, r.stdout);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    "m.yaml:5:3 capabilities.other.interface: unknown interface 'Tset': not in " + TEST_CAPNP,
    'm.yaml:10:9 profiles.local.namespace[0]: require: Base, but capability calc (type connect) is a Test',
    'm.yaml: 2 errors, 0 warnings',
  ]);
});

test('capns manifest check: a schema that does not compile and one that is not a schema are errors at their place in `schemas`', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-preflight-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'broken.capnp'), '@0xb1f0c3d2e4a59687;\ninterface Broken { nope @0 (x :NoSuchType) -> (); }\n');
  await writeFile(join(dir, 'junk.bin'), 'not a schema\n');
  await writeFile(
    join(dir, 'm.yaml'),
    `version: 1
schemas:
  - ./broken.capnp
  - ./junk.bin
capabilities:
  calc: { type: connect, address: "tcp!127.0.0.1!7000", interface: Broken }
profiles:
  local:
    auth: { loopback: true }
    namespace: [{ mount: calc, at: /svc/calc }]
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`,
  );
  const r = await check('m.yaml', dir);
  assert.equal(r.status, 1, r.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^m\.yaml:3:5 schemas\[0\]: broken\.capnp does not compile: .*NoSuchType/);
  assert.match(lines[1]!, /^m\.yaml:4:5 schemas\[1\]: schema .*junk\.bin: not a Cap'n Proto message/);
  // What the broken schemas would have defined is not reported as unknown.
  assert.equal(lines[2], 'm.yaml: 2 errors, 0 warnings');
});

test('preflight: a service command not on PATH or not executable, a missing cwd; every preflight code is produced by these cases', async () => {
  const m = parseManifest(
    `version: 1
schemas: ["/no/such/file.bin"]
capabilities: {}
`,
    { file: 'x.yaml', env: {} },
  );
  const p = await preflightManifest(m);
  assert.deepEqual(p.diagnostics.map((d) => d.code), ['schema']);
  const m2 = parseManifest(
    `version: 1
schemas: ["${TEST_CAPNP}"]
capabilities: { c: { type: connect, address: "tcp!127.0.0.1!1", interface: Nope } }
`,
    { file: 'x.yaml', env: {} },
  );
  const m3 = parseManifest(
    `version: 1
capabilities:
  a: { type: service, command: no-such-program-here, offers: { x: Echo } }
  b: { type: service, command: ./not/there, offers: { x: Echo } }
  c: { type: service, command: node, cwd: /no/such/folder, offers: { x: Echo } }
  d: { type: service, command: "${process.execPath}", offers: { x: Echo } }
`,
    { file: 'x.yaml', env: {}, baseDir: '/tmp' },
  );
  const p3 = await preflightManifest(m3, { path: '/usr/bin:/bin' });
  assert.deepEqual(
    p3.diagnostics.map((d) => `${d.path}: ${d.code}: ${d.message}`),
    [
      'capabilities.a.command: command-not-found: command no-such-program-here is not on PATH (/usr/bin:/bin)',
      'capabilities.b.command: command-not-found: command /tmp/not/there is not an executable file',
      'capabilities.c.cwd: cwd-missing: cwd /no/such/folder does not exist',
    ],
  );
  const codes = new Set([...p.diagnostics, ...(await preflightManifest(m2)).diagnostics, ...p3.diagnostics].map((d) => d.code));
  assert.deepEqual([...codes].sort(), [...PREFLIGHT_DIAGNOSTIC_CODES].sort());
});
