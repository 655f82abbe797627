/**
 * `type: connect`: any Cap'n Proto server's bootstrap capability in a namespace — the
 * C++ reference's EzRpcServer and a server on our own RPC — with fast failures while it
 * is down, redials with backoff, an interface check when the server can say, and bounds
 * on every wait.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Base, Test } from '../fixtures/rpc/gen/test.js';
import { Introspect, type Introspect_InterfaceId$Results } from '../../src/gen/services.js';
import { listen, release, RpcError, serve, type RpcListener } from '../../src/rpc/index.js';
import { buildCppPeers, startCppServer } from '../support/cpp-build.js';
import { newTest, TestImpl, TestState } from '../support/test-server.js';
import { Relay } from '../proxy/relay.js';
import { clientOf, serveManifest, until } from './harness.js';

const TEST_ID = `0x${Test.Client.interfaceId.toString(16)}`;

function manifest(caps: string, mounts: string): string {
  return `
version: 1
capabilities:
${caps}
profiles:
  local:
    auth: { loopback: true }
    namespace:
${mounts}
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;
}

/** A server of test.capnp's Test on our RPC at `address` (port 0 picks one). */
async function tsServer(t: TestContext, address = 'tcp!127.0.0.1!0', extra: Parameters<typeof listen>[1] extends infer O ? Partial<O> : never = {}): Promise<RpcListener> {
  const state = new TestState();
  const l = await listen(address, { bootstrap: () => newTest(state), ...extra });
  t.after(() => l.destroy());
  return l;
}

async function add(c: Awaited<ReturnType<typeof clientOf>>, path: string, a: bigint, b: bigint): Promise<bigint> {
  using test = await c.resolve(path, Test);
  return (
    await test
      .add((p) => {
        p.a = a;
        p.b = b;
      })
      .promise()
  ).sum;
}

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RpcError, `expected an RpcError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the call to fail');
}

test("connect: the C++ reference's EzRpcServer bootstrap, bound by the manifest, answers calls through capns; once it is gone calls fail disconnected naming the capability", { timeout: 120_000 }, async (t) => {
  const peers = await buildCppPeers();
  const cpp = await startCppServer(peers.server);
  t.after(() => cpp.close());
  const s = await serveManifest(
    t,
    manifest(`  cpp: { type: connect, address: "${cpp.address}", interface: "${TEST_ID}", timeoutMs: 30000 }`, `      - { mount: cpp, at: /svc/cpp, require: "${TEST_ID}" }`),
  );
  const c = await clientOf(t, s);
  assert.equal(await add(c, '/svc/cpp', 40n, 2n), 42n);
  using test = await c.resolve('/svc/cpp', Test);
  assert.equal((await test.echo((p) => (p.text = 'through capns')).promise()).text, 'through capns');
  await cpp.close();
  // The slot is down, not starting: the call fails at once, though the connect waits 30 s
  // for a first dial (this test's own timeout would catch a wait).
  await until(async () => {
    try {
      await test.echo((p) => (p.text = 'x')).promise();
      return false;
    } catch {
      return true;
    }
  }, 20_000, 'calls fail once the C++ server is gone');
  const e = await rejection(test.echo((p) => (p.text = 'x')).promise());
  assert.equal(e.type, 'disconnected');
  assert.match(e.message, /connect 'cpp' \(tcp!127\.0\.0\.1!\d+\)/);
});

test('connect: a server on our RPC, down and up again on the same port: calls fail fast while it is down and work again by themselves (redial with backoff)', async (t) => {
  const first = await tsServer(t);
  const address = first.address;
  const s = await serveManifest(t, manifest(`  ts: { type: connect, address: "${address}", interface: "${TEST_ID}", heartbeatMs: 0, backoffMaxMs: 200 }`, `      - { mount: ts, at: /svc/ts }`));
  const c = await clientOf(t, s);
  assert.equal(await add(c, '/svc/ts', 1n, 2n), 3n);
  first.destroy();
  await until(async () => add(c, '/svc/ts', 1n, 1n).then(() => false, () => true), 10_000, 'down');
  const e = await rejection(add(c, '/svc/ts', 1n, 1n));
  assert.equal(e.type, 'disconnected');
  assert.match(e.message, /^connect 'ts' \(tcp!127\.0\.0\.1!\d+\): /);
  await tsServer(t, address);
  await until(async () => add(c, '/svc/ts', 2n, 3n).then((v) => v === 5n, () => false), 10_000, 'back up');
});

test('connect: a unix socket and TLS (a certificate made by openssl now) work as tcp does', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-connect-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const unix = await tsServer(t, `unix!${join(dir, 's.sock')}`);
  let tlsCaps = '';
  let tlsMount = '';
  let hasTls = true;
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  } catch {
    hasTls = false;
  }
  if (hasTls) {
    const tls = await tsServer(t, 'tcp!127.0.0.1!0', { tls: { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) } });
    tlsCaps = `\n  sec: { type: connect, address: "${tls.address}", interface: "${TEST_ID}", tls: { ca: ${join(dir, 'c.pem')} } }`;
    tlsMount = `\n      - { mount: sec, at: /svc/sec }`;
  }
  writeFileSync(join(dir, 'x'), '');
  const s = await serveManifest(t, manifest(`  un: { type: connect, address: "${unix.address}", interface: "${TEST_ID}" }${tlsCaps}`, `      - { mount: un, at: /svc/un }${tlsMount}`));
  const c = await clientOf(t, s);
  assert.equal(await add(c, '/svc/un', 20n, 22n), 42n);
  if (hasTls) assert.equal(await add(c, '/svc/sec', 2n, 2n), 4n);
  else t.diagnostic('openssl not available: TLS not tried');
});

class SaysOther extends TestImpl {
  constructor(readonly claim: bigint) {
    super(new TestState());
  }
  async interfaceId(_p: unknown, r: Introspect_InterfaceId$Results): Promise<void> {
    r.id = this.claim;
  }
}

test('connect: a server whose Introspect names another interface is refused; calls fail disconnected saying what it offers and what was declared', async (t) => {
  const wrong = await listen('tcp!127.0.0.1!0', { bootstrap: () => serve(Test, new SaysOther(0x1234n) as never, { extends: [Base, Introspect] }) });
  t.after(() => wrong.destroy());
  const right = await listen('tcp!127.0.0.1!0', { bootstrap: () => serve(Test, new SaysOther(Test.Client.interfaceId) as never, { extends: [Base, Introspect] }) });
  t.after(() => right.destroy());
  const s = await serveManifest(
    t,
    manifest(
      `  wrong: { type: connect, address: "${wrong.address}", interface: "${TEST_ID}" }\n  right: { type: connect, address: "${right.address}", interface: "${TEST_ID}" }`,
      `      - { mount: wrong, at: /svc/wrong }\n      - { mount: right, at: /svc/right }`,
    ),
  );
  const c = await clientOf(t, s);
  const e = await rejection(add(c, '/svc/wrong', 1n, 1n));
  assert.equal(e.type, 'disconnected');
  assert.match(e.message, /connect 'wrong'.*offers interface 0x0000000000001234, not the declared 0xe9eef97a62c53e11 nor one extending it/);
  assert.equal(await add(c, '/svc/right', 1n, 1n), 2n);
});

test('connect: a peer that accepts and never answers holds the first calls no longer than timeoutMs; then they fail disconnected', async (t) => {
  const socks = new Set<net.Socket>();
  const mute = net.createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const x of socks) x.destroy();
    mute.close();
  });
  const port = (mute.address() as net.AddressInfo).port;
  const s = await serveManifest(t, manifest(`  mute: { type: connect, address: "tcp!127.0.0.1!${port}", interface: "${TEST_ID}", timeoutMs: 300 }`, `      - { mount: mute, at: /svc/mute }`));
  const c = await clientOf(t, s);
  const e = await rejection(add(c, '/svc/mute', 1n, 1n));
  assert.equal(e.type, 'disconnected');
  assert.match(e.message, /connect 'mute'.*(not ready within 300 ms|no answer within 300 ms)/);
});

test('connect: a server that stops answering without closing (frozen relay) is noticed by the heartbeat; calls fail disconnected, and work again after it thaws', async (t) => {
  const server = await tsServer(t);
  const relay = await Relay.start(server.address);
  t.after(() => relay.close());
  const s = await serveManifest(t, manifest(`  far: { type: connect, address: "${relay.address}", interface: "${TEST_ID}", heartbeatMs: 100, timeoutMs: 1000, backoffMaxMs: 200 }`, `      - { mount: far, at: /svc/far }`));
  const c = await clientOf(t, s);
  assert.equal(await add(c, '/svc/far', 1n, 2n), 3n);
  relay.freeze();
  const e = await rejection(add(c, '/svc/far', 1n, 1n));
  assert.equal(e.type, 'disconnected');
  assert.match(e.message, /connect 'far'/);
  relay.thaw();
  relay.cut();
  await until(async () => add(c, '/svc/far', 2n, 2n).then((v) => v === 4n, () => false), 10_000, 'back after thaw');
});

test('connect: calls waiting for a first dial are bounded per capability (overloaded past the limit); another capability is unaffected', async (t) => {
  // A peer that accepts and never answers keeps `slow` starting for 5 s.
  const socks = new Set<net.Socket>();
  const mute = net.createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const x of socks) x.destroy();
    mute.close();
  });
  const port = (mute.address() as net.AddressInfo).port;
  const good = await tsServer(t);
  const s = await serveManifest(
    t,
    manifest(
      `  slow: { type: connect, address: "tcp!127.0.0.1!${port}", interface: "${TEST_ID}", timeoutMs: 5000 }\n  good: { type: connect, address: "${good.address}", interface: "${TEST_ID}" }`,
      `      - { mount: slow, at: /svc/slow }\n      - { mount: good, at: /svc/good }`,
    ),
  );
  // Two connections, 520 calls each: 1024 wait (DEFAULT_SLOT_MAX_WAITING), the rest are
  // refused at once (one connection alone stops at its own in-flight limit first).
  const clients = [await clientOf(t, s), await clientOf(t, s)];
  const slows = await Promise.all(clients.map((c) => c.resolve('/svc/slow', Test)));
  const waiting = slows.flatMap((slow) => Array.from({ length: 520 }, () => slow.echo((p) => (p.text = 'x')).promise().then(() => 'ok', (e: RpcError) => e.type)));
  const first = await Promise.race([Promise.any(waiting.map((p) => p.then((v) => (v === 'overloaded' ? v : Promise.reject(new Error(v)))))), new Promise((r) => setTimeout(() => r('none'), 4000))]);
  assert.equal(first, 'overloaded');
  assert.equal(await add(clients[0]!, '/svc/good', 2n, 3n), 5n);
  const outcomes = await Promise.all(waiting);
  assert.equal(outcomes.filter((o) => o === 'overloaded').length, 16);
  assert.equal(outcomes.filter((o) => o === 'disconnected').length, 1024);
  for (const x of slows) release(x);
});
