/**
 * The user's schemas: interfaces capns was not built with (test.capnp's Test, Base,
 * Counter) named in the manifest and called by name with JSON — from the manifest's
 * `schemas` (a .capnp source, or the compiled form with no compiler on the PATH), or
 * from the capability itself (Introspect) — through the client library, `capns call`,
 * the HTTP gateway and the 9P bridge's capability files. A schema that cannot be had is
 * an error naming what is missing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { NsError } from '../../src/errors.js';
import { Base, Counter, Test } from '../fixtures/rpc/gen/test.js';
import { loadCodeGeneratorRequest, SchemaSet } from '../../src/reflect/index.js';
import { Introspect } from '../../src/gen/services.js';
import { listen, release, type RpcListener } from '../../src/rpc/index.js';
import { compileSchema, described } from '../../src/services/index.js';
import { newTest, TestState } from '../support/test-server.js';
import { clientOf, serveManifest } from './harness.js';

const root = resolve(import.meta.dirname, '..', '..');
const TEST_CAPNP = join(root, 'test', 'fixtures', 'rpc', 'test.capnp');
const hex = (id: bigint): string => `0x${id.toString(16).padStart(16, '0')}`;

let compiled: Promise<Uint8Array> | undefined;
function testSchema(): Promise<Uint8Array> {
  compiled ??= compileSchema(TEST_CAPNP);
  return compiled;
}

/** A Test server on our RPC; with `describe`, its bootstrap answers Introspect as `as`. */
async function testServer(t: TestContext, opts: { describe?: boolean; as?: bigint } = {}): Promise<RpcListener> {
  const state = new TestState();
  const set = new SchemaSet();
  if (opts.describe === true) set.add(await testSchema(), 'test.capnp');
  const l = await listen('tcp!127.0.0.1!0', {
    bootstrap: () => (opts.describe === true ? described(newTest(state).client, opts.as ?? Test.Client.interfaceId, set) : newTest(state)),
  });
  t.after(() => l.destroy());
  return l;
}

function manifest(opts: { schemas?: string[]; caps: string; mounts: string; http?: boolean }): string {
  return `
version: 1
${opts.schemas === undefined ? '' : `schemas: [${opts.schemas.map((s) => JSON.stringify(s)).join(', ')}]`}
capabilities:
${opts.caps}
profiles:
  local:
    auth: { loopback: true }
    namespace:
${opts.mounts}
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
${opts.http === true ? '  - { protocol: http, address: "tcp!127.0.0.1!0" }' : ''}
`;
}

test('schemas (a .capnp source compiled at start): an interface capns was not built with is named in interface/require and called by name with JSON, inherited methods too', async (t) => {
  const server = await testServer(t);
  const s = await serveManifest(
    t,
    manifest({ schemas: [TEST_CAPNP], caps: `  calc: { type: connect, address: "${server.address}", interface: Test }`, mounts: '      - { mount: calc, at: /svc/calc, require: Test }' }),
  );
  const c = await clientOf(t, s);
  assert.deepEqual(await c.call('/svc/calc', 'add', { a: 40, b: '2' }), { sum: '42' });
  assert.deepEqual(await c.call('/svc/calc', 'ping', { n: 7 }), { n: 7 });
  // Structs, lists and 64-bit integers as JSON (the C++ twin fills the same values).
  const ev = (await c.call('/svc/calc', 'getEvolving', null)) as { value: Record<string, unknown> };
  assert.equal(typeof ev.value['c'], 'string');
  assert.ok(Array.isArray(ev.value['e']));
  const m = await c.methodsAt('/svc/calc');
  assert.equal(m.interfaceName, 'Test');
  assert.ok(m.methods.includes('add') && m.methods.includes('ping'));
  // Returned capabilities are described by their interface's name.
  assert.deepEqual(await c.call('/svc/calc', 'newCounter', { start: 1 }), { counter: { capability: { interfaceId: hex(Counter.Client.interfaceId), interface: 'Counter' } } });
  await assert.rejects(c.call('/svc/calc', 'nosuch', {}), /Test has no method "nosuch"; its methods: echo, add/);
  await assert.rejects(c.call('/svc/calc', 'add', { a: 'x' }), /params\.a: expected a int64/);
});

test('schemas: the HTTP gateway calls the user interface and the resolve route names it with its methods (what the web page shows)', async (t) => {
  const server = await testServer(t);
  const s = await serveManifest(
    t,
    manifest({ schemas: [TEST_CAPNP], http: true, caps: `  calc: { type: connect, address: "${server.address}", interface: Test }`, mounts: '      - { mount: calc, at: /svc/calc }' }),
  );
  const http = s.addresses.find((a) => a.protocol === 'http')!.address.replace(/^tcp!(.*)!(\d+)$/, 'http://$1:$2');
  const r = await fetch(`${http}/api/v1/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/svc/calc', method: 'add', params: { a: 1, b: 2 } }) });
  assert.equal(r.status, 200, await r.clone().text());
  assert.deepEqual(await r.json(), { interface: 'Test', method: 'add', results: { sum: '3' } });
  const res = (await (await fetch(`${http}/api/v1/ns/resolve?path=/svc/calc`)).json()) as { interfaceName: string; methods: string[] };
  assert.equal(res.interfaceName, 'Test');
  assert.ok(res.methods.includes('describeEvolving'));
  const list = (await (await fetch(`${http}/api/v1/ns/list?path=/svc`)).json()) as { entries: Array<{ name: string; interfaceName: string }> };
  assert.deepEqual(list.entries.map((e) => [e.name, e.interfaceName]), [['calc', 'Test']]);
});

test("schemas: the 9P bridge's capability file describes the user interface: name, id, file and method signatures", async (t) => {
  const server = await testServer(t);
  const s = await serveManifest(t, manifest({ schemas: [TEST_CAPNP], caps: `  calc: { type: connect, address: "${server.address}", interface: Test }`, mounts: '      - { mount: calc, at: /svc/calc }' }));
  const { fs, release } = s.namespaceFiles('local', 'test@9p');
  t.after(release);
  const { root: top } = await fs.attach('');
  const w = await top.walk(['svc', 'calc']);
  assert.ok(w.file !== undefined);
  await w.file.open({ access: 'read' });
  const text = new TextDecoder().decode(await w.file.read(0n, 8192));
  await w.file.clunk();
  await top.clunk();
  assert.match(text, /^interface Test 0xe9eef97a62c53e11 \(test\.capnp\)\n/);
  assert.match(text, /\n {2}add \(a :Int64, b :Int64\) -> \(sum :Int64\)\n/);
  assert.match(text, /\n {2}ping \(n :UInt32\) -> \(n :UInt32\)\n/);
  assert.match(text, /\nlabel calc\n$/);
});

test('schemas at run time: a capability that describes itself (Introspect) is called by name with no schema in the manifest', async (t) => {
  const server = await testServer(t, { describe: true });
  const s = await serveManifest(t, manifest({ http: true, caps: `  calc: { type: connect, address: "${server.address}", interface: "${hex(Test.Client.interfaceId)}" }`, mounts: '      - { mount: calc, at: /svc/calc }' }));
  const c = await clientOf(t, s);
  assert.deepEqual(await c.call('/svc/calc', 'add', { a: 1, b: 1 }), { sum: '2' });
  assert.equal((await c.methodsAt('/svc/calc')).interfaceName, 'Test');
  const http = s.addresses.find((a) => a.protocol === 'http')!.address.replace(/^tcp!(.*)!(\d+)$/, 'http://$1:$2');
  const r = await fetch(`${http}/api/v1/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/svc/calc', method: 'echo', params: { text: 'hi' } }) });
  assert.deepEqual(await r.json(), { interface: 'Test', method: 'echo', results: { text: 'hi' } });
});

test('schemas: with none in the manifest and a capability that does not describe itself, a call by name is refused naming the interface and what to do', async (t) => {
  const server = await testServer(t);
  const s = await serveManifest(t, manifest({ http: true, caps: `  calc: { type: connect, address: "${server.address}", interface: "${hex(Test.Client.interfaceId)}" }`, mounts: '      - { mount: calc, at: /svc/calc }' }));
  const http = s.addresses.find((a) => a.protocol === 'http')!.address.replace(/^tcp!(.*)!(\d+)$/, 'http://$1:$2');
  const r = await fetch(`${http}/api/v1/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/svc/calc', method: 'add', params: {} }) });
  assert.equal(r.status, 404);
  const body = (await r.json()) as { code: string; message: string };
  assert.equal(body.code, 'NS_ERR_NOT_FOUND');
  assert.match(body.message, /does not implement Introspect/);
  const c = await clientOf(t, s);
  await assert.rejects(c.call('/svc/calc', 'add', {}), (e: unknown) => {
    assert.ok(e instanceof NsError);
    assert.equal(e.code, 'NS_ERR_NOT_FOUND');
    assert.match(e.message, /interface 0xe9eef97a62c53e11 at \/svc\/calc is in none of the schemas known here, and the capability does not describe itself \(it does not implement Introspect\): name its compiled schema in the manifest's `schemas`/);
    return true;
  });
});

test("schemas: capns describes a connect capability from the manifest's schema when the server cannot (Introspect answered by capns)", async (t) => {
  const server = await testServer(t);
  const s = await serveManifest(t, manifest({ schemas: [TEST_CAPNP], caps: `  calc: { type: connect, address: "${server.address}", interface: Test }`, mounts: '      - { mount: calc, at: /svc/calc }' }));
  const c = await clientOf(t, s);
  const r = await c.resolveAny('/svc/calc');
  const intro = new Introspect.Client(r.client);
  try {
    assert.equal((await intro.interfaceId().promise()).id, Test.Client.interfaceId);
    const res = (await intro.schema((p) => (p.interfaceId = 0n)).promise()).result;
    assert.ok(res._isOk);
    const loaded = loadCodeGeneratorRequest(res.ok.toUint8Array(), 'answer');
    assert.equal(loaded.reflection.interfaces[hex(Test.Client.interfaceId)]?.name, 'Test');
    const none = (await intro.schema((p) => (p.interfaceId = 0x1234n)).promise()).result;
    assert.ok(none._isErr);
  } finally {
    release(intro);
  }
});

test('schemas: the interface check accepts a server offering an interface that extends the declared one, and refuses an unrelated one', async (t) => {
  const server = await testServer(t, { describe: true });
  const s = await serveManifest(
    t,
    manifest({
      schemas: [TEST_CAPNP],
      caps: `  base: { type: connect, address: "${server.address}", interface: Base }\n  counter: { type: connect, address: "${server.address}", interface: Counter }`,
      mounts: '      - { mount: base, at: /svc/base }\n      - { mount: counter, at: /svc/counter }',
    }),
  );
  const c = await clientOf(t, s);
  using base = await c.resolve('/svc/base', Base);
  assert.equal((await base.ping((p) => (p.n = 3)).promise()).n, 3);
  using counter = await c.resolve('/svc/counter', Counter);
  await assert.rejects(counter.get().promise(), /connect 'counter'.*offers interface Test \(0xe9eef97a62c53e11\), not the declared Counter \(0xe8292b2d4e69862a\) nor one extending it/);
});

test('schemas: an unknown interface name, a schema that does not compile, a missing file: capns serve starts nothing and says which', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-schemas-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'broken.capnp'), '@0xb1f0c3d2e4a59687;\ninterface Broken { nope @0 (x :NoSuchType) -> (); }\n');
  const caps = '  calc: { type: connect, address: "tcp!127.0.0.1!1", interface: Tset }';
  const mounts = '      - { mount: calc, at: /svc/calc }';
  await assert.rejects(serveManifest(t, manifest({ schemas: [TEST_CAPNP], caps, mounts })), /unknown interface 'Tset': not in .*test\.capnp/);
  await assert.rejects(serveManifest(t, manifest({ schemas: [join(dir, 'broken.capnp')], caps, mounts })), /m\.yaml:3:\d+ broken\.capnp does not compile: .*NoSuchType/);
  await assert.rejects(serveManifest(t, manifest({ schemas: [join(dir, 'nothere.bin')], caps, mounts })), /schema .*nothere\.bin: no such file/);
  await writeFile(join(dir, 'junk.bin'), 'not a schema at all, just text\n');
  await assert.rejects(serveManifest(t, manifest({ schemas: [join(dir, 'junk.bin')], caps, mounts })), /schema .*junk\.bin: not a Cap'n Proto message/);
});

/** Runs the capns CLI from the sources with `env`; resolves with status and output. */
function capns(args: string[], env: Record<string, string>, cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => done({ status, stdout, stderr }));
  });
}

test('schemas, compiled form: `capns schema compile` writes it; capns serve and `capns call` then run with no compiler on the PATH', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-schemas-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { HOME: dir, PATH: process.env['PATH'] ?? '', NODE_OPTIONS: '' };
  const compiledTo = join(dir, 'test.capnp.bin');
  const c = await capns(['schema', 'compile', TEST_CAPNP, '-o', compiledTo], env, dir);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /test\.capnp\.bin: \d+ bytes; interfaces: Counter, Callback, Base, Test/);
  const server = await testServer(t);
  await writeFile(join(dir, 'm.yaml'), manifest({ schemas: ['./test.capnp.bin'], caps: `  calc: { type: connect, address: "${server.address}", interface: Test }`, mounts: '      - { mount: calc, at: /svc/calc }' }));
  // No compiler: an empty PATH (node is started by its absolute path).
  const bare = { HOME: dir, PATH: join(dir, 'no-such-bin'), NODE_OPTIONS: '' };
  const serve = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '--manifest', join(dir, 'm.yaml'), '--log-level', 'warn'], { cwd: dir, env: bare, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => serve.on('exit', r));
  t.after(async () => {
    serve.kill('SIGTERM');
    await exited;
  });
  let out = '';
  let err = '';
  serve.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const rpc = await new Promise<string | undefined>((ready) => {
    serve.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^rpc\s+(\S+)/m.exec(out);
      if (m !== null) ready(m[1]);
    });
    void exited.then(() => ready(undefined));
  });
  assert.ok(rpc !== undefined, `capns serve did not start: ${out}${err}`);
  const call = await capns(['call', '--server', rpc, '/svc/calc', 'add', '{"a": 20, "b": 22}'], bare, dir);
  assert.equal(call.status, 0, call.stderr);
  assert.deepEqual(JSON.parse(call.stdout), { sum: '42' });
  const list = await capns(['call', '--server', rpc, '/svc/calc'], bare, dir);
  assert.match(list.stdout, /^\/svc\/calc: Test 0xe9eef97a62c53e11\n/);
  assert.match(list.stdout, /\n {2}add \(a :Int64, b :Int64\) -> \(sum :Int64\)\n/);
  // And a .capnp source without a compiler is a clear error.
  const show = await capns(['schema', 'show', TEST_CAPNP], bare, dir);
  assert.equal(show.status, 2);
  assert.match(show.stderr, /test\.capnp: a \.capnp schema needs the Cap'n Proto compiler \(`capnp`\), which is not installed/);
});
