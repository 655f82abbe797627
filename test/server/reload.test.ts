/**
 * What a reload does with listeners: new ones are opened before old ones are closed; one
 * that cannot open is refused (reported, with the reason) and the old one it would have
 * replaced keeps serving; one whose definition changed at the same address is replaced
 * only once the new one is ready; a 9P listener of a rebuilt profile stays open and serves
 * the new namespace to new connections. Real listeners, real clients.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { parseAddress } from '../../src/address.js';
import { decodeDirents } from '../../src/fileserver/9p/codec.js';
import { MessageType } from '../../src/fileserver/9p/constants.js';
import { Gate } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { connect, release } from '../../src/rpc/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { NinepClient } from '../support/ninep-client.js';

const parse = (text: string) => parseManifest(text, { file: 'reload.yaml', env: {} });

function manifest(listeners: string, extra = '', mounts = '      - { mount: tmp, at: /tmp, create: true }\n'): string {
  return `version: 1
capabilities:
  tmp: { type: ram }
  more: { type: ram }
profiles:
  local:
    auth: { loopback: true }
    namespace:
${mounts}listeners:
${listeners}${extra}`;
}

async function start(t: TestContext, text: string): Promise<CapnsServer> {
  const server = await startCapnsServer({ manifest: parse(text), logger: pino({ level: 'silent' }), drainMs: 300 });
  t.after(() => server.close());
  return server;
}

function addressOf(server: CapnsServer, protocol: string): string {
  const a = server.addresses.find((x) => x.protocol === protocol);
  assert.ok(a, `no ${protocol} in ${JSON.stringify(server.addresses)}`);
  return a.address;
}

/** Lists / as the loopback profile over a fresh RPC connection. */
async function rpcList(address: string, path = '/'): Promise<string[]> {
  const conn = await connect(address);
  try {
    const gate = conn.bootstrap(Gate);
    const r = (await gate.authenticate((p) => (p.token = '')).promise()).result;
    assert.ok(r._isOk);
    const listed = (await r.ok.ns.list((p) => (p.path = path)).promise()).result;
    release(r.ok.ns);
    release(gate);
    return listed.entries.map((e) => e.name);
  } finally {
    await conn.close();
  }
}

/** A TCP port nobody listens on now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A TCP port someone else holds until the test ends. */
async function busyPort(t: TestContext): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.after(() => s.close());
  return (s.address() as net.AddressInfo).port;
}

test('a listener that cannot open is refused with its reason; the one it would have replaced keeps serving; the rest of the reload applies', async (t) => {
  const server = await start(t, manifest('  - { protocol: rpc, address: "tcp!127.0.0.1!0" }\n'));
  const old = addressOf(server, 'rpc');
  const busy = await busyPort(t);
  const next = manifest(`  - { protocol: rpc, address: "tcp!127.0.0.1!${busy}" }\n`, '', '      - { mount: tmp, at: /tmp, create: true }\n      - { mount: more, at: /more }\n');
  const report = await server.reload(parse(next));
  assert.equal(report.refused.length, 1);
  const [r] = report.refused;
  assert.equal(r!.listener, `rpc tcp!127.0.0.1!${busy}`);
  assert.match(r!.reason, /EADDRINUSE/);
  assert.deepEqual(r!.kept, [old]);
  assert.deepEqual([report.listenersOpened, report.listenersClosed], [[], []]);
  // The old listener serves, and new connections there get the new profile.
  assert.deepEqual((await rpcList(old)).sort(), ['more', 'tmp']);
  assert.deepEqual(server.addresses.map((a) => a.address), [old]);
  // Once the port is free, the next reload opens the new one and only then closes the old.
  const port = await freePort();
  const again = await server.reload(parse(manifest(`  - { protocol: rpc, address: "tcp!127.0.0.1!${port}" }\n`)));
  assert.deepEqual([again.refused, again.listenersOpened, again.listenersClosed], [[], [`tcp!127.0.0.1!${port}`], [old]]);
  assert.deepEqual(await rpcList(`tcp!127.0.0.1!${port}`), ['tmp']);
  await assert.rejects(rpcList(old), /ECONNREFUSED/);
});

test('a new listener opens before the old one closes: the new address serves at once, the old one refuses newcomers and closes its idle client cleanly', async (t) => {
  const server = await start(t, manifest('  - { protocol: rpc, address: "tcp!127.0.0.1!0" }\n'));
  const old = addressOf(server, 'rpc');
  const conn = await connect(old);
  t.after(() => conn.close());
  const gate = conn.bootstrap(Gate);
  const ns = (await gate.authenticate((p) => (p.token = '')).promise()).result.ok.ns;
  const report = await server.reload(parse(manifest('  - { protocol: rpc, address: "tcp!127.0.0.1!0", profile: local }\n')));
  assert.equal(report.listenersOpened.length, 1);
  assert.deepEqual(report.listenersClosed, [old]);
  assert.deepEqual(await rpcList(report.listenersOpened[0]!), ['tmp']);
  // The old listener accepts nobody new, and drains: its client, with no call in flight,
  // is closed (cleanly: it reconnects to the new address).
  await assert.rejects(connect(old), /ECONNREFUSED/);
  await conn.whenClosed();
  release(ns);
  release(gate);
});

test('a listener changed at the same address is replaced once its successor is ready; a successor that cannot be prepared leaves it serving', async (t) => {
  const port = await freePort();
  const at = `tcp!127.0.0.1!${port}`;
  const server = await start(t, manifest(`  - { protocol: http, address: "${at}" }\n`));
  const status = async (host: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = net.connect(port, '127.0.0.1', () => req.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0)));
      req.on('error', reject);
    });
  assert.equal(await status('capns.lan'), 403);
  // Its TLS files do not exist: refused before the old one stops serving.
  const dir = mkdtempSync(join(tmpdir(), 'capns-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const broken = await server.reload(parse(manifest(`  - { protocol: http, address: "${at}", tls: { cert: ${dir}/nope.pem, key: ${dir}/nope.key } }\n`)));
  assert.equal(broken.refused.length, 1);
  assert.match(broken.refused[0]!.reason, /tls: cannot read .*nope\.pem/);
  assert.deepEqual(broken.refused[0]!.kept, [at]);
  assert.equal(await status(`127.0.0.1:${port}`), 200);
  // A key that does not match its certificate: refused too, named.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=a', '-keyout', 'a.key', '-out', 'a.pem'], { cwd: dir, stdio: 'ignore' });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=b', '-keyout', 'b.key', '-out', 'b.pem'], { cwd: dir, stdio: 'ignore' });
  const mismatched = await server.reload(parse(manifest(`  - { protocol: http, address: "${at}", tls: { cert: ${dir}/a.pem, key: ${dir}/b.key } }\n`)));
  assert.match(mismatched.refused[0]?.reason ?? '', /a\.pem and .*b\.key: .*key values mismatch/);
  assert.equal(await status(`127.0.0.1:${port}`), 200);
  // A good change: the same address now also answers to capns.lan.
  const good = await server.reload(parse(manifest(`  - { protocol: http, address: "${at}", hosts: [capns.lan] }\n`)));
  assert.deepEqual([good.refused, good.listenersOpened, good.listenersClosed], [[], [at], [at]]);
  assert.equal(await status('capns.lan'), 200);
});

test('a 9P listener of a rebuilt profile stays open: its attached client keeps its tree, a new client sees the new one, the old grants go when the old client does', async (t) => {
  const server = await start(t, manifest('  - { protocol: 9p, address: "tcp!127.0.0.1!0" }\n'));
  const at = addressOf(server, '9p');
  const old = await NinepClient.open(parseAddress(at), '9P2000.L', 8192);
  t.after(() => old.close());
  const { fid } = await old.attach();
  const grantsBefore = server.captable.size;
  const report = await server.reload(parse(manifest('  - { protocol: 9p, address: "tcp!127.0.0.1!0" }\n', '', '      - { mount: tmp, at: /tmp, create: true }\n      - { mount: more, at: /more }\n')));
  assert.deepEqual([report.listenersOpened, report.listenersClosed, report.listenersRefreshed], [[], [], [at]]);
  assert.equal(addressOf(server, '9p'), at);
  const names = async (c: NinepClient, root: number): Promise<string[]> => {
    const d = await c.walk(root, []);
    await c.open(d, 0);
    const r = await c.call({ type: MessageType.Treaddir, fid: d, offset: 0n, count: 4096 }, MessageType.Rreaddir);
    await c.clunk(d);
    return decodeDirents(r.data)
      .map((e) => e.name)
      .filter((n) => n !== '.' && n !== '..')
      .sort();
  };
  assert.deepEqual(await names(old, fid), ['tmp']);
  const fresh = await NinepClient.open(parseAddress(at), '9P2000.L', 8192);
  const f2 = (await fresh.attach()).fid;
  assert.deepEqual(await names(fresh, f2), ['more', 'tmp']);
  // Both trees hold grants now; the old one's go when its last client leaves.
  const holder = `local@9p:${at.replace(/!\d+$/, '!0')}`;
  assert.equal(server.captable.list(holder).length, grantsBefore);
  assert.equal(server.captable.list(`${holder}#1`).length, 2);
  await old.clunk(fid);
  await old.close();
  for (let i = 0; i < 100 && server.captable.list(holder).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(server.captable.list(holder).length, 0);
  assert.equal(server.captable.list(`${holder}#1`).length, 2);
  await fresh.clunk(f2);
  await fresh.close();
});

test('an export whose root left the profile is refused before its predecessor stops serving', async (t) => {
  const exp = (root: string): string => `exports:\n  - { profile: local, root: ${root}, listen: "tcp!127.0.0.1!0", auth: { loopback: true } }\n`;
  const server = await start(t, manifest('  - { protocol: rpc, address: "tcp!127.0.0.1!0" }\n', exp('/more'), '      - { mount: more, at: /more }\n'));
  const before = addressOf(server, 'export');
  const report = await server.reload(parse(manifest('  - { protocol: rpc, address: "tcp!127.0.0.1!0" }\n', exp('/more'), '      - { mount: tmp, at: /tmp }\n')));
  assert.equal(report.refused.length, 1);
  assert.match(report.refused[0]!.listener, /^export tcp!127\.0\.0\.1!0$/);
  assert.match(report.refused[0]!.reason, /export root \/more/);
  assert.deepEqual(report.refused[0]!.kept, [before]);
  assert.equal(addressOf(server, 'export'), before);
});

test("an HTTP listener follows a reload of its profiles' tokens: the old token is refused, the new one and a new profile are served, without reopening", async (t) => {
  const text = (token: string, extra = '') => `version: 1
capabilities:
  tmp: { type: ram }
profiles:
  alice:
    auth: { tokens: ["${token}"] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
${extra}listeners:
  - { protocol: http, address: "tcp!127.0.0.1!0" }
`;
  const server = await start(t, text('alpha'));
  const [, host, port] = /^tcp!(.+)!(\d+)$/.exec(addressOf(server, 'http'))!;
  /** The profile a token is served as, or the refusal's status. */
  const status = async (token: string): Promise<string | number> => {
    const r = await fetch(`http://${host}:${port}/api/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    return r.status === 200 ? ((await r.json()) as { profile: string }).profile : r.status;
  };
  assert.equal(await status('alpha'), 'alice');
  assert.equal(await status('beta'), 401);
  const report = await server.reload(parse(text('beta', '  bob:\n    auth: { tokens: ["gamma"] }\n    namespace:\n      - { mount: tmp, at: /t }\n')));
  assert.deepEqual([report.refused, report.listenersOpened, report.listenersClosed], [[], [], []]);
  assert.equal(await status('alpha'), 401);
  assert.equal(await status('beta'), 'alice');
  assert.equal(await status('gamma'), 'bob');
  await server.reload(parse(text('beta')));
  assert.equal(await status('gamma'), 401);
});
