/**
 * The per-connection limits a hostile peer meets (issue 17): the frame size before
 * authentication, the handshake and idle deadlines, and the answers a peer may hold.
 * Each test hits the limit on one connection and shows the others unaffected.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import * as $ from 'capnp-es';
import { Base, Test, Test_Echo$Params, type Test$Client, type Test_Echo$Results } from '../fixtures/rpc/gen/test.js';
import {
  type Peer,
  RpcConnection,
  type RpcLimits,
  type RpcListener,
  RpcError,
  connect,
  listen,
  release,
  serve,
} from '../../src/rpc/index.js';
import { until } from './harness.js';
import { RawPeer, RpcMessage } from './raw-peer.js';
import { ServerState, TestImpl } from './test-impl.js';

const TEST_ID = Test.Client.interfaceId;
const OPEN = 'open sesame';

/** A Test whose echo(OPEN) authenticates the connection: a gate in miniature. */
class GatedTest extends TestImpl {
  constructor(
    state: ServerState,
    readonly peer: Peer,
  ) {
    super(state);
  }
  override async echo(p: Test_Echo$Params, r: Test_Echo$Results): Promise<void> {
    if (p.text === OPEN) this.peer.authenticated();
    return super.echo(p, r);
  }
}

interface Server {
  listener: RpcListener;
  conns: RpcConnection[];
}

async function server(t: TestContext, limits: Partial<RpcLimits>, requireAuthentication: boolean): Promise<Server> {
  const state = new ServerState();
  const conns: RpcConnection[] = [];
  const listener = await listen('127.0.0.1:0', {
    limits,
    requireAuthentication,
    bootstrap: (peer) => serve(Test, new GatedTest(state, peer), { extends: [Base] }),
    onConnection: (c) => conns.push(c),
  });
  t.after(() => listener.destroy());
  return { listener, conns };
}

async function client(t: TestContext, address: string): Promise<{ conn: RpcConnection; test: Test$Client }> {
  const conn = await connect(address);
  t.after(() => conn.destroy());
  const test = conn.bootstrap(Test);
  return { conn, test };
}

async function echo(test: Test$Client, text: string): Promise<string> {
  return (await test.echo((p) => { p.text = text; }).promise()).text;
}

/** The header of a one-segment frame whose segment is `bytes` long (a multiple of 8). */
function frameHeader(bytes: number): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setUint32(4, bytes / 8, true);
  return h;
}

async function sum(test: Test$Client, bytes: number): Promise<number> {
  const r = await test.sum((p) => { p._initData(bytes).toUint8Array().fill(1); }).promise();
  return r.size;
}

test('before authentication a frame over maxPreAuthMessageBytes aborts that connection, naming the limit; an authenticated one takes large frames', async (t) => {
  const s = await server(t, { maxPreAuthMessageBytes: 8192 }, true);
  const good = await client(t, s.listener.address);
  assert.equal(await echo(good.test, OPEN), OPEN);
  const bad = await client(t, s.listener.address);
  // Small frames are fine before authentication...
  assert.equal(await sum(bad.test, 1000), 1000);
  // ... one over the limit is not.
  await assert.rejects(sum(bad.test, 100_000), (e: unknown) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.type, 'disconnected');
    assert.match(e.message, /more than 8192 bytes refused \(maxPreAuthMessageBytes: the peer has not authenticated\)/);
    return true;
  });
  await bad.conn.whenClosed();
  // The authenticated connection, on the same listener, takes 1 MiB.
  assert.equal(await sum(good.test, 1 << 20), 1 << 20);
  release(good.test);
  release(bad.test);
});

test('a peer aborted for a frame over the limit is read no further, and still gets the Abort', async (t) => {
  // The server's socket is the test's own, so that what it read can be counted.
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  t.after(() => server.close());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  // A peer that keeps its side open when the server ends its own (allowHalfOpen),
  // announces a 1 MiB frame and then writes 16 MiB as fast as the kernel takes it.
  const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  sock.on('error', () => {});
  t.after(() => sock.destroy());
  const serverSock = await accepted;
  const conn = new RpcConnection(serverSock, { limits: { maxPreAuthMessageBytes: 8192 }, requireAuthentication: true });
  t.after(() => conn.destroy());
  let received = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  const serverClosed = new Promise<void>((r) => serverSock.once('close', () => r()));
  sock.write(frameHeader(1 << 20));
  const chunk = Buffer.alloc(64 * 1024, 7);
  let stop = false;
  void serverClosed.then(() => (stop = true));
  for (let sent = 0; !stop && sent < 16 << 20; sent += chunk.length) {
    const ok = await Promise.race([new Promise<boolean>((r) => sock.write(chunk, (err) => r(err == null))), serverClosed.then(() => false)]);
    if (!ok) break;
  }
  await serverClosed;
  // The peer reads what was sent before the server closed: the Abort, then the reset.
  if (!sock.closed) await new Promise<void>((r) => sock.once('close', () => r()));
  assert.match(conn.error?.message ?? '', /more than 8192 bytes refused \(maxPreAuthMessageBytes/);
  // What was read: the header and whatever the same reads brought with it. A server that
  // went on reading an aborted peer (until it dropped the socket a second later) read
  // the whole 16 MiB.
  assert.ok(serverSock.bytesRead < 1 << 20, `the server read ${serverSock.bytesRead} bytes from a peer it had aborted`);
  assert.match(received.toString('latin1'), /more than 8192 bytes refused \(maxPreAuthMessageBytes/, 'the Abort reached the peer');
});

test('a connection aborted before it authenticates keeps its socket, unread and counted by its listener, for abortLingerMs', async (t) => {
  const s = await server(t, { maxPreAuthMessageBytes: 8192, abortLingerMs: 600 }, true);
  const raw = await RawPeer.connect(s.listener.address);
  t.after(() => raw.close());
  const t0 = Date.now();
  raw.send(frameHeader(1 << 20));
  const abort = await raw.next(5000);
  assert.equal(abort?.which(), RpcMessage.ABORT);
  assert.match(abort.abort.reason, /more than 8192 bytes refused \(maxPreAuthMessageBytes/);
  // The connection is over at once; its socket is not, and the listener still counts it.
  await until(() => s.conns[0]?.closed === true, 'the server connection ended');
  assert.equal(raw.closed, false);
  assert.equal(s.listener.connections.size, 1);
  // A peer waiting to be cut before it tries again waits the linger out.
  await raw.closedPromise;
  assert.ok(Date.now() - t0 >= 550, `cut after ${Date.now() - t0} ms`);
  await until(() => s.listener.connections.size === 0, 'the listener let it go');
});

test('abortLingerMs 0: the socket of a connection aborted before it authenticates is cut once its Abort is written', async (t) => {
  const s = await server(t, { maxPreAuthMessageBytes: 8192, abortLingerMs: 0 }, true);
  const raw = await RawPeer.connect(s.listener.address);
  t.after(() => raw.close());
  raw.send(frameHeader(1 << 20));
  const frames = await raw.drain(5000);
  assert.equal(frames[0]?.which(), RpcMessage.ABORT);
  assert.ok(raw.closed, 'cut by the server');
});

test('a connection that does not authenticate within handshakeTimeoutMs is aborted, saying why; authenticated ones stay', async (t) => {
  const s = await server(t, { handshakeTimeoutMs: 300 }, true);
  const good = await client(t, s.listener.address);
  assert.equal(await echo(good.test, OPEN), OPEN);
  const slow = await client(t, s.listener.address);
  assert.equal(await echo(slow.test, 'just looking'), 'just looking');
  // A socket that never says anything at all: the cheapest way to hold a slot.
  const silent = await RawPeer.connect(s.listener.address);
  const t0 = Date.now();
  const frames = await silent.drain(5000);
  assert.ok(silent.closed, 'the silent socket was closed');
  assert.equal(frames[0]?.which(), RpcMessage.ABORT);
  assert.match(frames[0].abort.reason, /not authenticated within 300 ms \(handshakeTimeoutMs\)/);
  assert.ok(Date.now() - t0 < 3000);
  await slow.conn.whenClosed();
  assert.match(slow.conn.error?.message ?? '', /not authenticated within 300 ms/);
  // Well past the deadline, the authenticated connection still works.
  assert.equal(await echo(good.test, 'still here'), 'still here');
  assert.equal(s.listener.connections.size, 1);
  release(good.test);
  release(slow.test);
});

test('without requireAuthentication there is no handshake deadline and no pre-authentication frame limit', async (t) => {
  const s = await server(t, { handshakeTimeoutMs: 100, maxPreAuthMessageBytes: 8192 }, false);
  const c = await client(t, s.listener.address);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await sum(c.test, 100_000), 100_000);
  assert.equal(c.conn.closed, false);
  release(c.test);
});

test('idleTimeoutMs: a connection quiet that long is aborted; one with a call pending or calling regularly is not', async (t) => {
  const s = await server(t, { idleTimeoutMs: 500 }, false);
  const idle = await client(t, s.listener.address);
  const waiting = await client(t, s.listener.address);
  const chatty = await client(t, s.listener.address);
  assert.equal(await echo(idle.test, 'hi'), 'hi');
  // A call that takes 1.2 s: pending all along, so never idle.
  const long = waiting.test.wait((p) => { p.ms = 1200; }).promise();
  let stop = false;
  const chat = (async () => {
    while (!stop) {
      await echo(chatty.test, 'ping');
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await idle.conn.whenClosed();
  assert.match(idle.conn.error?.message ?? '', /idle for \d+ ms \(idleTimeoutMs 500\)/);
  await long;
  stop = true;
  await chat;
  assert.equal(waiting.conn.closed, false, 'the connection waiting for its call stayed');
  assert.equal(chatty.conn.closed, false, 'the busy connection stayed');
  release(idle.test);
  release(waiting.test);
  release(chatty.test);
});

/** Bootstrap q=0 over a raw connection and wait for its Return. */
async function rawBootstrapped(address: string): Promise<RawPeer> {
  const p = await RawPeer.connect(address);
  p.sendMsg((m) => { m._initBootstrap().questionId = 0; });
  assert.equal((await p.next())?.which(), RpcMessage.RETURN);
  return p;
}

function rawEcho(m: RpcMessage, qid: number, target: number, text: string, methodId = 0): void {
  const c = m._initCall();
  c.questionId = qid;
  c.interfaceId = TEST_ID;
  c.methodId = methodId;
  c._initTarget().importedCap = target;
  const content = c._initParams().content;
  $.utils.initStruct(Test_Echo$Params._capnp.size, content);
  new Test_Echo$Params(content.segment, content.byteOffset).text = text;
}

/** A call to a method Test does not have, on the bootstrap: an exception, held (as in C++) until its Finish. */
const NO_SUCH_METHOD = 999;

/** What each of `n` Returns said: 'unimplemented', 'overloaded' (with noFinishNeeded), or the reason. */
async function returnKinds(p: RawPeer, n: number): Promise<string[]> {
  const kinds: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = (await p.next())!;
    assert.equal(r.which(), RpcMessage.RETURN);
    const reason = r.return.exception.reason;
    kinds.push(/not implemented|unimplemented/i.test(reason) ? 'unimplemented' : /maxAnswers/.test(reason) ? `overloaded${r.return.noFinishNeeded ? '' : '!'}` : reason);
  }
  return kinds;
}

test('maxAnswers: a peer that never finishes gets overloaded past the limit and holds no more; other connections are unaffected', async (t) => {
  const s = await server(t, { maxAnswers: 20, refusalPauseMs: 0 }, false);
  const p = await rawBootstrapped(s.listener.address);
  t.after(() => p.close());
  const rawConn = s.conns[0]!;
  for (let q = 1; q <= 40; q++) p.sendMsg((m) => rawEcho(m, q, 0, 'x', NO_SUCH_METHOD));
  // The bootstrap's answer is the 20th held.
  assert.deepEqual(await returnKinds(p, 40), [...Array<string>(19).fill('unimplemented'), ...Array<string>(21).fill('overloaded')]);
  assert.equal(rawConn.stats().answers, 20);
  // Another connection on the same listener is served as usual.
  const other = await client(t, s.listener.address);
  assert.equal(await echo(other.test, 'fine'), 'fine');
  // Finishing some makes room again, on this connection too.
  for (let q = 1; q <= 5; q++) p.sendMsg((m) => { m._initFinish().questionId = q; });
  p.sendMsg((m) => rawEcho(m, 41, 0, 'room again'));
  const r = (await p.next())!;
  assert.equal(r.return.which(), 0, 'results');
  assert.equal(rawConn.stats().answers, 15, 'results without capabilities are not held');
  release(other.test);
});

test('maxPreAuthAnswers: before it authenticates a peer holds at most that many answers; once it has, maxAnswers applies', async (t) => {
  const s = await server(t, { maxAnswers: 20, maxPreAuthAnswers: 4, refusalPauseMs: 0 }, true);
  const p = await rawBootstrapped(s.listener.address);
  t.after(() => p.close());
  const rawConn = s.conns[0]!;
  for (let q = 1; q <= 10; q++) p.sendMsg((m) => rawEcho(m, q, 0, 'x', NO_SUCH_METHOD));
  // The bootstrap's answer is the 4th held; the rest are refused, naming the limit.
  const kinds: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = (await p.next())!;
    const reason = r.return.exception.reason;
    kinds.push(/maxPreAuthAnswers 4\): authenticate/.test(reason) && r.return.noFinishNeeded ? 'refused' : /not implemented|unimplemented/i.test(reason) ? 'unimplemented' : reason);
  }
  assert.deepEqual(kinds, [...Array<string>(3).fill('unimplemented'), ...Array<string>(7).fill('refused')]);
  assert.equal(rawConn.stats().answers, 4);
  // Authenticated (after finishing one call to make room for the call that does it), the
  // peer may hold up to maxAnswers.
  p.sendMsg((m) => { m._initFinish().questionId = 1; });
  p.sendMsg((m) => rawEcho(m, 11, 0, OPEN));
  assert.equal((await p.next())!.return.which(), 0, 'the authenticating call has its results');
  for (let q = 12; q <= 40; q++) p.sendMsg((m) => rawEcho(m, q, 0, 'x', NO_SUCH_METHOD));
  assert.deepEqual(await returnKinds(p, 29), [...Array<string>(17).fill('unimplemented'), ...Array<string>(12).fill('overloaded')]);
  assert.equal(rawConn.stats().answers, 20);
});

test('refusalPauseMs: a peer past maxAnswers has one call considered per pause; its Finishes, read after it, let it back in; others are served meanwhile', async (t) => {
  const PAUSE = 400;
  const s = await server(t, { maxAnswers: 4, refusalPauseMs: PAUSE }, false);
  const p = await rawBootstrapped(s.listener.address);
  t.after(() => p.close());
  // Three held exceptions and the bootstrap: at the limit. Then 20 calls past it, at once.
  for (let q = 1; q <= 3; q++) p.sendMsg((m) => rawEcho(m, q, 0, 'x', NO_SUCH_METHOD));
  assert.deepEqual(await returnKinds(p, 3), ['unimplemented', 'unimplemented', 'unimplemented']);
  for (let q = 4; q <= 23; q++) p.sendMsg((m) => rawEcho(m, q, 0, 'past the limit'));
  const first = (await p.next())!;
  const t0 = Date.now();
  assert.match(first.return.exception.reason, /maxAnswers 4/);
  assert.equal(first.return.answerId, 4);
  // While it pauses, nothing more of this peer's is read, and another peer is served.
  const other = await client(t, s.listener.address);
  assert.equal(await echo(other.test, 'served meanwhile'), 'served meanwhile');
  release(other.test);
  assert.equal(await p.next(PAUSE / 2), null, 'no second refusal within half the pause');
  // The next call is considered once the pause ends: refused again.
  const second = (await p.next(5000))!;
  assert.ok(Date.now() - t0 >= PAUSE * 0.9, `second refusal after ${Date.now() - t0} ms`);
  assert.equal(second.return.answerId, 5);
  assert.equal(s.conns[0]!.stats().answers, 4, 'refused calls are not held');
});

test('refusalPauseMs 0: every call past maxAnswers is refused at once', async (t) => {
  const s = await server(t, { maxAnswers: 4, refusalPauseMs: 0 }, false);
  const p = await rawBootstrapped(s.listener.address);
  t.after(() => p.close());
  for (let q = 1; q <= 23; q++) p.sendMsg((m) => rawEcho(m, q, 0, 'x', NO_SUCH_METHOD));
  assert.deepEqual(await returnKinds(p, 23), [...Array<string>(3).fill('unimplemented'), ...Array<string>(20).fill('overloaded')]);
});

test('a call to an export id never exported is a protocol error: Abort naming it (as C++), other connections unaffected', async (t) => {
  const s = await server(t, {}, false);
  const p = await rawBootstrapped(s.listener.address);
  t.after(() => p.close());
  p.sendMsg((m) => rawEcho(m, 1, 999, 'x'));
  const msgs = await p.drain();
  assert.equal(msgs[0]?.which(), RpcMessage.ABORT);
  assert.match(msgs[0].abort.reason, /unknown export id 999/);
  assert.ok(p.closed);
  const other = await client(t, s.listener.address);
  assert.equal(await echo(other.test, 'fine'), 'fine');
  release(other.test);
});

test('answers without capabilities are dropped at their Return (noFinishNeeded): a peer that never sends Finish holds nothing', async (t) => {
  const s = await server(t, {}, false);
  const p = await rawBootstrapped(s.listener.address);
  t.after(() => p.close());
  for (let q = 1; q <= 200; q++) p.sendMsg((m) => rawEcho(m, q, 0, `n${q}`));
  for (let i = 0; i < 200; i++) {
    const r = (await p.next())!;
    assert.equal(r.return.which(), 0);
    assert.ok(r.return.noFinishNeeded);
  }
  await until(() => s.conns[0]!.stats().answers === 1, 'only the bootstrap answer is held');
});

test('a frame header claiming 64 MiB holds memory as its bytes arrive, not what it claims; other connections are served meanwhile', async (t) => {
  const s = await server(t, {}, false);
  const p = await RawPeer.connect(s.listener.address);
  t.after(() => p.close());
  p.send(frameHeader(64 * 1024 * 1024 - 8));
  await until(() => s.conns.length === 1 && s.conns[0]!.pendingFrameBytes > 0, 'the header was read');
  const conn = s.conns[0]!;
  assert.ok(conn.pendingFrameBytes <= 256 * 1024, `${conn.pendingFrameBytes} bytes held for a header alone`);
  // 1 MiB of the claimed 64 MiB: memory follows (within twice what came, plus 256 KiB).
  p.send(new Uint8Array(1 << 20));
  await until(() => conn.pendingFrameBytes >= 1 << 20, 'the bytes were read');
  assert.ok(conn.pendingFrameBytes <= 2 * (1 << 20) + 256 * 1024, `${conn.pendingFrameBytes} bytes held after 1 MiB`);
  const other = await client(t, s.listener.address);
  assert.equal(await echo(other.test, 'meanwhile'), 'meanwhile');
  release(other.test);
});
