import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { Failure_Code } from '../../src/gen/common.js';
import { Clock } from '../../src/gen/demo.js';
import { Gate } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/index.js';
import { resolvePipelined } from '../../src/proxy/importer.js';
import { connect, release, RpcError } from '../../src/rpc/index.js';

type T = { after: (fn: () => Promise<void> | void) => void };

async function serve(t: T, yaml: string): Promise<CapnsServer> {
  const manifest = parseManifest(yaml, { file: 'm.yaml', env: {} });
  const s = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => s.destroy());
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

async function nsOf(t: T, address: string, token: string) {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => (p.token = token)).promise()).result;
  release(gate);
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  const ns = r.ok.ns;
  t.after(async () => {
    release(ns);
    await conn.close();
  });
  return ns;
}

test('capns serve: an import capability mounts another capns export; calls reach it', async (t) => {
  const a = await serve(t, A);
  const b = await serve(t, B(exportOf(a)));
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
  const b = await serve(t, B(exportOf(a)));
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
  const b = await serve(t, B(address));
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
