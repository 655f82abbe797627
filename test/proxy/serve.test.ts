import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { Failure_Code } from '../../src/gen/common.js';
import { Clock } from '../../src/gen/demo.js';
import { Gate } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/index.js';
import { resolvePipelined } from '../../src/proxy/importer.js';
import { connect, release, RpcError } from '../../src/rpc/index.js';
import { gateNs, type T } from '../support/peer.js';


const run = promisify(execFile);

async function serve(t: T, yaml: string): Promise<CapnsServer> {
  const manifest = parseManifest(yaml, { file: 'm.yaml', env: {} });
  const s = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => s.destroy());
  return s;
}

/** Waits for every import of `s` to be connected (they connect in the background). */
async function importsUp(s: CapnsServer): Promise<CapnsServer> {
  for (let i = 0; i < 1000 && !s.imports().every((x) => x.status.state === 'connected'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(s.imports().filter((x) => x.status.state !== 'connected'), []);
  return s;
}

const exportOf = (s: CapnsServer) => s.addresses.find((a) => a.protocol === 'export')!.address;
const rpcOf = (s: CapnsServer) => s.addresses.find((a) => a.protocol === 'rpc')!.address;

/** A: a clock at /svc/clock, exported (root /svc) with token ta. */
const A = `
version: 1
capabilities: { clock: { type: demo.clock }, tmp: { type: ram } }
profiles:
  svc:
    namespace:
      - { mount: clock, at: /svc/clock }
      - { mount: tmp, at: /svc/tmp, create: true }
      - { mount: tmp, at: /private }
exports:
  - { profile: svc, root: /svc, listen: "tcp!127.0.0.1!0", auth: { tokens: [ta] } }
`;

/** B: imports A's export at /n/a; serves clients with token tb; re-exports /n/a read-only with token tc. */
const B = (a: string, port = 0) => `
version: 1
capabilities: { far: { type: import, address: "${a}", token: ta } }
profiles:
  user:
    auth: { tokens: [tb] }
    namespace:
      - { mount: far, at: /n/a }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
exports:
  - { profile: user, root: /n/a, readOnly: true, listen: "tcp!127.0.0.1!${port}", auth: { tokens: [tc] } }
`;

/** The namespace `token` gets at `address` (released after the test). */
const nsOf = async (t: T, address: string, token: string) => (await gateNs(t, address, token)).ns;

test('capns serve: an import capability mounts another capns export; calls reach it', async (t) => {
  const a = await serve(t, A);
  const b = await importsUp(await serve(t, B(exportOf(a))));
  const ns = await nsOf(t, rpcOf(b), 'tb');
  const clock = resolvePipelined(ns, '/n/a/clock', Clock);
  const now = await clock.now().promise();
  assert.ok(now.unixMillis > 0n);
  release(clock);
  // The export's root is /svc: A's /private cannot be named through it.
  const r = (await ns.resolve((p) => (p.path = '/n/a/../private')).promise()).result;
  assert.ok(r._isErr);
});

test('capns serve: an export refuses a wrong token; a re-export of an import is read-only', async (t) => {
  const a = await serve(t, A);
  const b = await importsUp(await serve(t, B(exportOf(a))));
  const conn = await connect(exportOf(a));
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => (p.token = 'tb')).promise()).result;
  assert.ok(r._isErr);
  release(gate);
  await conn.close();
  // C-side view of B's re-export.
  const ns = await nsOf(t, exportOf(b), 'tc');
  const clock = resolvePipelined(ns, '/clock', Clock);
  assert.ok((await clock.now().promise()).unixMillis > 0n);
  release(clock);
  const u = (await ns.unmount((p) => (p.path = '/clock')).promise()).result;
  assert.ok(u._isErr);
  assert.equal(u.err.code, Failure_Code.PERMISSION_DENIED);
  assert.match(u.err.message, /read-only/);
});

test('capns serve: when the exporter goes, calls through the import fail disconnected; it comes back', async (t) => {
  const a = await serve(t, A);
  const address = exportOf(a);
  const b = await importsUp(await serve(t, B(address)));
  const ns = await nsOf(t, rpcOf(b), 'tb');
  const clock = resolvePipelined(ns, '/n/a/clock', Clock);
  assert.ok((await clock.now().promise()).unixMillis > 0n);
  a.destroy();
  await assert.rejects(clock.now().promise(), (e: unknown) => e instanceof RpcError && e.type === 'disconnected');
  release(clock);
  const port = address.split('!')[2]!;
  await serve(t, A.replace('tcp!127.0.0.1!0', `tcp!127.0.0.1!${port}`));
  for (;;) {
    const c = resolvePipelined(ns, '/n/a/clock', Clock);
    try {
      assert.ok((await c.now().promise()).unixMillis > 0n);
      break;
    } catch (e) {
      assert.ok(e instanceof RpcError && e.type === 'disconnected', String(e));
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      release(c);
    }
  }
});

test('capns serve: a manifest export reads its filter file; a missing filter file fails the start, naming the export', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-filter-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // exportfs -P style: exclude the tmp tree; deny Clock.now outright.
  writeFileSync(join(dir, 'f.filter'), `- ^\\./tmp\ndeny 0x${Clock.Client.interfaceId.toString(16)}.0\n`);
  const withFilter = A.replace('auth: { tokens: [ta] } }', `auth: { tokens: [ta] }, filter: "${join(dir, 'f.filter')}" }`);
  const a = await serve(t, withFilter);
  const conn = await connect(exportOf(a));
  t.after(() => conn.close());
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => (p.token = 'ta')).promise()).result;
  assert.ok(r._isOk);
  const ns = r.ok.ns;
  const clock = resolvePipelined(ns, '/clock', Clock);
  await assert.rejects(clock.now().promise(), (e: unknown) => e instanceof RpcError && /^permission denied: /.test(e.message));
  const tmp = (await ns.resolve((p) => (p.path = '/tmp')).promise()).result;
  assert.ok(tmp._isErr);
  assert.equal(tmp.err.code, Failure_Code.PERMISSION_DENIED);
  assert.match(tmp.err.message, /path \/tmp is not exported/);
  release(clock);
  release(ns);
  release(gate);
  const missing = A.replace('auth: { tokens: [ta] } }', `auth: { tokens: [ta] }, filter: "${join(dir, 'none.filter')}" }`);
  await assert.rejects(serve(t, missing), /m\.yaml:\d+:\d+ export: filter .*none\.filter/);
});

/** A TCP server that accepts connections and never answers. */
async function silentServer(t: T): Promise<string> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    s.resume();
    s.on('close', () => socks.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of socks) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return `tcp!127.0.0.1!${(server.address() as net.AddressInfo).port}`;
}

test('capns serve starts and reloads without waiting for an import whose export never answers; calls through it fail disconnected, naming it', async (t) => {
  const silent = await silentServer(t);
  // Deadlines far beyond the test's patience: only not waiting lets start() and reload() return.
  const manifest = (names: string[]) => `
version: 1
capabilities:
${names.map((n) => `  ${n}: { type: import, address: "${silent}", token: x, authTimeoutMs: 600000, connectTimeoutMs: 600000 }`).join('\n')}
  clock: { type: demo.clock }
profiles:
  user:
    auth: { loopback: true }
    namespace:
${names.map((n) => `      - { mount: ${n}, at: /n/${n} }`).join('\n')}
      - { mount: clock, at: /svc/clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;
  const s = await serve(t, manifest(['far']));
  assert.deepEqual(s.imports().map((i) => [i.name, i.status.state]), [['far', 'connecting']]);
  const ns = await nsOf(t, rpcOf(s), '');
  await assert.rejects(
    resolvePipelined(ns, '/n/far/clock', Clock).now().promise(),
    (e: unknown) => e instanceof RpcError && e.type === 'disconnected' && /^import 'far' \(tcp!127\.0\.0\.1!\d+\) is not connected yet/.test(e.message),
  );
  // The rest of the namespace is served meanwhile.
  const clock = resolvePipelined(ns, '/svc/clock', Clock);
  assert.ok((await clock.now().promise()).unixMillis > 0n);
  release(clock);
  // A reload that adds another such import returns at once too.
  const report = await s.reload(parseManifest(manifest(['far', 'far2']), { file: 'm.yaml', env: {} }));
  assert.deepEqual(report.capabilitiesAdded, ['far2']);
  assert.deepEqual(s.imports().map((i) => [i.name, i.status.state]), [['far', 'connecting'], ['far2', 'connecting']]);
});

test('an imported namespace is a directory over 9P and HTTP too; HTTP lists carry its state', async (t) => {
  const a = await serve(t, A);
  const b = await serve(
    t,
    `
version: 1
capabilities: { far: { type: import, address: "${exportOf(a)}", token: ta } }
profiles:
  user:
    auth: { loopback: true }
    namespace:
      - { mount: far, at: /n/a, create: true }
listeners:
  - { protocol: 9p, address: "tcp!127.0.0.1!0" }
  - { protocol: http, address: "tcp!127.0.0.1!0" }
`,
  );
  await importsUp(b);
  const http = b.addresses.find((x) => x.protocol === 'http')!.address.split('!');
  const base = `http://${http[1]}:${http[2]}`;
  const list = async (path: string) => {
    const r = await fetch(`${base}/api/v1/ns/list?path=${encodeURIComponent(path)}`);
    assert.equal(r.status, 200, await r.clone().text());
    return ((await r.json()) as { entries: Array<{ name: string; kind: string; import?: { state: string; address: string } }> }).entries;
  };
  assert.deepEqual((await list('/n/a')).map((e) => [e.name, e.kind]), [['clock', 'capability'], ['tmp', 'directory']]);
  const n = await list('/n');
  assert.equal(n[0]?.kind, 'directory');
  assert.equal(n[0]?.import?.state, 'connected');
  assert.equal(n[0]?.import?.address, exportOf(a));
  const put = await fetch(`${base}/api/v1/files?path=/n/a/tmp/hello`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'through the import' });
  assert.equal(put.status, 200, await put.text());
  // 9P: a real client (diod's) lists the import and reads through it.
  if (!existsSync('/usr/sbin/diodls')) return t.skip('diod client tools not installed (.ci/run installs package diod)');
  const ninep = b.addresses.find((x) => x.protocol === '9p')!.address.split('!');
  const server = `${ninep[1]}:${ninep[2]}`;
  const ls = await run('/usr/sbin/diodls', ['-s', server, '-a', '/', '-t', '10', 'n/a']);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['clock', 'tmp']);
  const cat = await run('/usr/sbin/diodcat', ['-s', server, '-a', '/n/a/tmp', '-t', '10', 'hello']);
  assert.equal(cat.stdout, 'through the import');
});
