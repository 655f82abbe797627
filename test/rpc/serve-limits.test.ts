/**
 * The handshake limits as `capns serve` applies them (manifest `limits.rpc`), on both of
 * its RPC doors: an rpc listener behind the Gate and an export behind its own gate. A
 * connection that never authenticates is closed at the deadline and cannot send large
 * frames meanwhile; one that authenticated keeps working.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import * as $ from 'capnp-es';
import { pino } from 'pino';
import { Failure_Code } from '../../src/gen/common.js';
import { Gate, Namespace, type Namespace$Client } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/index.js';
import { connect, release, RpcError, type RpcConnection } from '../../src/rpc/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { RawPeer, RpcMessage } from './raw-peer.js';

/** alice (one mount, /tmp) on an rpc listener and an export, with `limits`. */
const WITH_EXPORT = (limits: string): string => `
version: 1
capabilities: { tmp: { type: ram } }
profiles:
  alice:
    auth: { tokens: [secret] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
exports:
  - { profile: alice, root: /tmp, listen: "tcp!127.0.0.1!0", auth: { tokens: [secret] } }
limits: ${limits}
`;

const MANIFEST = WITH_EXPORT('{ rpc: { handshakeTimeoutMs: 400, maxPreAuthMessageBytes: 4096 } }');

async function capns(t: TestContext): Promise<CapnsServer> {
  const manifest = parseManifest(MANIFEST, { file: 'm.yaml', env: {} });
  const s = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => s.destroy());
  return s;
}

async function authenticate(conn: RpcConnection, token: string): Promise<Namespace$Client> {
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => { p.token = token; }).promise()).result;
  release(gate);
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  return r.ok.ns;
}

for (const door of ['rpc', 'export'] as const) {
  test(`capns serve (${door}): an unauthenticated connection is closed at handshakeTimeoutMs; an authenticated one stays`, async (t) => {
    const s = await capns(t);
    const address = s.addresses.find((a) => a.protocol === door)!.address;
    const good = await connect(address);
    t.after(() => good.destroy());
    const ns = await authenticate(good, 'secret');
    const silent = await RawPeer.connect(address);
    t.after(() => silent.close());
    const frames = await silent.drain(5000);
    assert.ok(silent.closed);
    assert.equal(frames[0]?.which(), RpcMessage.ABORT);
    assert.match(frames[0].abort.reason, /not authenticated within 400 ms \(handshakeTimeoutMs\)/);
    // A wrong token is not an authentication: that connection is closed too.
    const wrong = await connect(address);
    t.after(() => wrong.destroy());
    const gate = wrong.bootstrap(Gate);
    const r = (await gate.authenticate((p) => { p.token = 'nope'; }).promise()).result;
    assert.ok(r._isErr);
    release(gate);
    await wrong.whenClosed();
    assert.match(wrong.error?.message ?? '', /not authenticated within 400 ms/);
    // Past the deadline, the authenticated peer lists its namespace.
    const list = (await ns.list((p) => { p.path = '/'; }).promise()).result;
    assert.ok(list._isEntries, list._isErr ? list.err.message : '');
    release(ns);
  });

  test(`capns serve (${door}): before authenticating, a frame over maxPreAuthMessageBytes closes the connection; after, it is served`, async (t) => {
    const s = await capns(t);
    const address = s.addresses.find((a) => a.protocol === door)!.address;
    const big = 'x'.repeat(10_000);
    const early = await connect(address);
    t.after(() => early.destroy());
    const gate = early.bootstrap(Gate);
    await assert.rejects(gate.authenticate((p) => { p.token = big; }).promise(), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.match(e.message, /more than 4096 bytes refused \(maxPreAuthMessageBytes/);
      return true;
    });
    release(gate);
    const late = await connect(address);
    t.after(() => late.destroy());
    const ns = await authenticate(late, 'secret');
    // A 10 KB path: refused by the namespace (names are at most 255 bytes), not by the framer.
    const r = (await ns.resolve((p) => { p.path = `/${big}`; }).promise()).result;
    assert.ok(r._isErr);
    assert.equal(late.closed, false);
    release(ns);
  });
}

const LIMITED = `
version: 1
capabilities: { tmp: { type: ram } }
profiles:
  alice:
    auth: { tokens: [secret] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
limits: { maxGrantsPerConnection: 2, maxBinds: 3 }
`;

test('capns serve: the manifest\'s maxGrantsPerConnection and maxBinds hold on a connection', async (t) => {
  const manifest = parseManifest(LIMITED, { file: 'm.yaml', env: {} });
  const s = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => s.destroy());
  const conn = await connect(s.addresses.find((a) => a.protocol === 'rpc')!.address);
  t.after(() => conn.destroy());
  const first = await authenticate(conn, 'secret');
  const second = await authenticate(conn, 'secret');
  const gate = conn.bootstrap(Gate);
  const third = (await gate.authenticate((p) => { p.token = 'secret'; }).promise()).result;
  release(gate);
  assert.ok(third._isErr);
  assert.match(third.err.message, /holds 2 grants.*maxGrantsPerConnection/);
  // The budget is the connection's: both namespaces' /tmp count, so one more fits.
  const outcomes: string[] = [];
  for (const to of ['/a', '/b']) {
    const r = (await first.bindPath((p) => { p.from = '/tmp'; p.to = to; }).promise()).result;
    outcomes.push(r._isOk ? 'ok' : r.err.message);
  }
  assert.equal(outcomes[0], 'ok');
  assert.match(outcomes[1] ?? '', /would hold 4 bindings; its limit is 3 \(maxBinds\)/);
  release(first); release(second);
});

test('capns serve: a request refused for a quota (grants, bindings, failed attempts) pauses its connection for refusalPauseMs; others are served meanwhile', async (t) => {
  const PAUSE = 600;
  const manifest = parseManifest(LIMITED.replace('maxBinds: 3 }', `maxBinds: 3, rpc: { refusalPauseMs: ${PAUSE} } }`), { file: 'm.yaml', env: {} });
  const s = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => s.destroy());
  const address = s.addresses.find((a) => a.protocol === 'rpc')!.address;
  const conn = await connect(address);
  t.after(() => conn.destroy());
  const first = await authenticate(conn, 'secret');
  await authenticate(conn, 'secret');
  // The third authenticate is over the grants quota; the call right behind it, in the
  // same write, is read only once the pause is over.
  const gate = conn.bootstrap(Gate);
  const t0 = Date.now();
  const refused = gate.authenticate((p) => { p.token = 'secret'; }).promise();
  const behind = first.list((p) => { p.path = '/'; }).promise();
  assert.match((await refused).result.err.message, /maxGrantsPerConnection/);
  // Meanwhile another connection authenticates and is served at once.
  const other = await connect(address);
  t.after(() => other.destroy());
  const otherNs = await authenticate(other, 'secret');
  const otherList = await otherNs.list((p) => { p.path = '/'; }).promise();
  assert.ok(otherList.result._isEntries, 'the other connection lists /');
  const otherDone = Date.now() - t0;
  await behind;
  const behindDone = Date.now() - t0;
  assert.ok(behindDone >= PAUSE * 0.9, `the call behind the refusal answered after ${behindDone} ms`);
  assert.ok(otherDone < behindDone, `the other connection (${otherDone} ms) waited for the paused one (${behindDone} ms)`);
  // A bind over maxBinds pauses the same way (both namespaces' /tmp count: room for one).
  assert.ok((await first.bindPath((p) => { p.from = '/tmp'; p.to = '/a'; }).promise()).result._isOk);
  const t1 = Date.now();
  const over = first.bindPath((p) => { p.from = '/tmp'; p.to = '/b'; }).promise();
  const afterBind = first.list((p) => { p.path = '/'; }).promise();
  assert.match((await over).result.err.message, /maxBinds/);
  await afterBind;
  assert.ok(Date.now() - t1 >= PAUSE * 0.9, `the call behind a refused bind answered after ${Date.now() - t1} ms`);
  // Past the Gate's failed attempts (5), each further attempt pauses the connection too.
  const guesser = await connect(address);
  t.after(() => guesser.destroy());
  const guessGate = guesser.bootstrap(Gate);
  const guess = () => guessGate.authenticate((p) => { p.token = 'guess'; }).promise();
  for (let i = 0; i < 5; i++) assert.match((await guess()).result.err.message, /unknown token/);
  const t2 = Date.now();
  const sixth = guess();
  const seventh = guess();
  assert.match((await sixth).result.err.message, /too many failed attempts/);
  await seventh;
  assert.ok(Date.now() - t2 >= PAUSE * 0.9, `the attempt behind a refused one answered after ${Date.now() - t2} ms`);
  release(guessGate); release(gate); release(first); release(otherNs);
});

const TWO_GRANTS = WITH_EXPORT('{ maxGrantsPerConnection: 2 }');

for (const door of ['rpc', 'export'] as const) {
  test(`capns serve (${door}): a namespace the client lets go of gives its grants back, and its session ends: a connection may authenticate again and again within maxGrantsPerConnection`, async (t) => {
    const manifest = parseManifest(TWO_GRANTS, { file: 'm.yaml', env: {} });
    const s = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
    t.after(() => s.destroy());
    const conn = await connect(s.addresses.find((a) => a.protocol === door)!.address);
    t.after(() => conn.destroy());
    const sessions = (): number => s.sessions.list().filter((x) => x.kind === door).length;
    for (let i = 0; i < 6; i++) {
      const ns = await authenticate(conn, 'secret');
      const list = (await ns.list((p) => { p.path = '/'; }).promise()).result;
      assert.ok(list._isEntries, `authenticate ${i}`);
      assert.equal(sessions(), 1, `sessions while namespace ${i} is held`);
      release(ns);
      // The Release reaches the server; the grant and the session go with it.
      for (let k = 0; k < 100 && sessions() > 0; k++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(sessions(), 0, `session ${i} outlived its namespace`);
    }
  });
}

const TWO_NAMESPACES = WITH_EXPORT('{ maxNamespacesPerConnection: 2 }');

for (const door of ['rpc', 'export'] as const) {
  test(`capns serve (${door}): a connection holds at most maxNamespacesPerConnection namespaces; one let go of frees its place, and other connections are not counted`, async (t) => {
    const manifest = parseManifest(TWO_NAMESPACES, { file: 'm.yaml', env: {} });
    const s = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
    t.after(() => s.destroy());
    const address = s.addresses.find((a) => a.protocol === door)!.address;
    const conn = await connect(address);
    t.after(() => conn.destroy());
    const held = [await authenticate(conn, 'secret'), await authenticate(conn, 'secret')];
    // The third is refused busy, naming the limit, whatever the grants quota allows.
    const gate = conn.bootstrap(Gate);
    const third = (await gate.authenticate((p) => { p.token = 'secret'; }).promise()).result;
    assert.ok(third._isErr, 'a third namespace on the connection');
    assert.equal(third.err.code, Failure_Code.BUSY);
    assert.match(third.err.message, /maxNamespacesPerConnection/);
    // Another connection has places of its own.
    const other = await connect(address);
    t.after(() => other.destroy());
    release(await authenticate(other, 'secret'));
    // The namespaces held still work; one let go of gives its place back (after the
    // refusal's pause, the connection is read again).
    const list = (await held[0]!.list((p) => { p.path = '/'; }).promise()).result;
    assert.ok(list._isEntries);
    release(held.pop());
    let again = (await gate.authenticate((p) => { p.token = 'secret'; }).promise()).result;
    for (let k = 0; again._isErr && k < 50; k++) {
      await new Promise((r) => setTimeout(r, 20));
      again = (await gate.authenticate((p) => { p.token = 'secret'; }).promise()).result;
    }
    assert.ok(again._isOk, again._isErr ? again.err.message : '');
    release(again.ok.ns);
    release(gate);
    for (const ns of held) release(ns);
  });
}

/** Binds `cap` (lent) at `path` of `ns` as a Namespace member. */
async function bindNamespace(ns: Namespace$Client, path: string, cap: Namespace$Client): Promise<void> {
  const r = (await ns.bind((p) => {
    p.path = path;
    $.utils.setInterfacePointer(p.segment.message.addCap(cap.client), p.cap);
    p.interfaceId = Namespace.Client.interfaceId;
    p.label = path.slice(1);
    p.create = true;
  }).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
}

// A namespace bound into itself holds a reference to itself: reference counting alone
// would keep it, its grants and its session after its connection ended, and a peer that
// reconnected could fill the capability table that way. Every namespace a connection was
// given ends with the connection.
for (const door of ['rpc', 'export'] as const) {
  test(`capns serve (${door}): namespaces bound into themselves and each other give their grants and sessions back when their connection ends`, async (t) => {
    const manifest = parseManifest(WITH_EXPORT('{}'), { file: 'm.yaml', env: {} });
    const s = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
    t.after(() => s.destroy());
    const address = s.addresses.find((a) => a.protocol === door)!.address;
    const sessions = (): number => s.sessions.list().filter((x) => x.kind === door).length;
    for (let round = 0; round < 3; round++) {
      const conn = await connect(address);
      const a = await authenticate(conn, 'secret');
      const b = await authenticate(conn, 'secret');
      const fork = (await a.fork().promise()).ns;
      await bindNamespace(a, '/self', a);
      await bindNamespace(a, '/b', b);
      await bindNamespace(b, '/a', a);
      await bindNamespace(fork, '/origin', a);
      assert.ok(s.captable.size > 0 && sessions() === 2);
      for (const ns of [a, b, fork]) release(ns);
      conn.destroy();
      for (let k = 0; k < 100 && (s.captable.size > 0 || sessions() > 0); k++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(s.captable.size, 0, `grants left after connection ${round} ended`);
      assert.equal(sessions(), 0, `sessions left after connection ${round} ended`);
    }
  });
}
