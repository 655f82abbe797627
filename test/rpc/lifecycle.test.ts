import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Base, Callback, Counter, Test } from '../fixtures/rpc/gen/test.js';
import type * as T from '../fixtures/rpc/gen/test.js';
import { RpcError, borrowClient, connect, dupClient, listen, release, serve, withSignal, type Peer } from '../../src/rpc/index.js';
import { setup, until } from './harness.js';
import { CounterImpl, ServerState, TestImpl, serveTest } from './test-impl.js';

test('cancellation: aborting a call sends Finish, rejects with AbortError, fires the server ctx.signal', async (t) => {
  const s = await setup(t);
  const ac = new AbortController();
  const p = withSignal(s.test, ac.signal).wait((q) => { q.ms = 10_000; }).promise();
  await new Promise((r) => setTimeout(r, 20));
  ac.abort();
  await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.name === 'AbortError');
  await until(() => s.state.cancelled === 1, 'server saw the cancellation');
  assert.equal((await s.test.cancelled().promise()).count, 1);
});

test('cancellation: an already-aborted signal fails the call without sending it', async (t) => {
  const s = await setup(t);
  await s.test.echo((q) => { q.text = 'warm'; }).promise();
  const ac = new AbortController();
  ac.abort();
  const p = withSignal(s.test, ac.signal).echo((q) => { q.text = 'x'; }).promise();
  assert.equal(s.conn.stats().questions, 0, 'no question was opened');
  await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.name === 'AbortError');
});

test('disconnect: pending questions reject disconnected, imports break, server exports are disposed', async (t) => {
  const s = await setup(t, { noLeakCheck: true });
  const counter = (await s.test.newCounter((p) => { p.start = 1n; }).promise()).counter;
  assert.equal(s.state.liveCounters, 1);
  const pending = s.test.wait((p) => { p.ms = 10_000; }).promise();
  s.serverConn().destroy();
  await assert.rejects(pending, (e: unknown) => e instanceof RpcError && e.type === 'disconnected');
  await assert.rejects(counter.get().promise(), (e: unknown) => e instanceof RpcError && e.type === 'disconnected');
  await until(() => s.state.liveCounters === 0, 'server Counter disposed on disconnect');
  assert.deepEqual(s.conn.stats(), { questions: 0, answers: 0, imports: 0, exports: 0, embargoes: 0 });
  release(counter);
});

test('disconnect by the client disposes what it exported to the server too', async (t) => {
  const s = await setup(t, { noLeakCheck: true });
  const local = new ServerState();
  const c = serve(Counter, new CounterImpl(local, 0n));
  await s.test.hold((p) => { p.cap = c; }).promise();
  release(c);
  assert.equal(local.liveCounters, 1);
  s.conn.destroy();
  await until(() => local.liveCounters === 0, 'client-side export released at disconnect');
  await until(() => s.serverConn().closed, 'server side closed');
});

test('close() drains: in-flight calls complete, then the connection closes; later calls fail', async (t) => {
  const s = await setup(t, { noLeakCheck: true });
  const p = s.test.wait((q) => { q.ms = 50; }).promise();
  const closed = s.conn.close();
  await p;
  await closed;
  assert.equal(s.conn.closed, true);
  await assert.rejects(s.test.echo((q) => { q.text = 'late'; }).promise(), (e: unknown) => e instanceof RpcError && e.type === 'disconnected');
  // close() is idempotent.
  await s.conn.close();
});

test('destroy(err) fails in-flight calls at once', async (t) => {
  const s = await setup(t, { noLeakCheck: true });
  const p = s.test.wait((q) => { q.ms = 10_000; }).promise();
  s.conn.destroy(new Error('going away'));
  await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.type === 'disconnected' && /going away/.test(e.message));
  s.conn.destroy();
});

test('a server method that throws answers an exception and the server goes on', async (t) => {
  const s = await setup(t);
  const thrower = serve(Test, {
    ...Object.fromEntries(['echo', 'add'].map((k) => [k, () => { throw new Error('sync throw'); }])),
  } as never);
  const r = s.test; // the remote server throws through `fail`; here also a local sync throw:
  await assert.rejects(thrower.echo().promise(), /sync throw/);
  release(thrower);
  await assert.rejects(r.fail((p) => { p.type = 0; p.message = 'x'; }).promise(), RpcError);
  assert.equal((await r.echo((p) => { p.text = 'ok'; }).promise()).text, 'ok');
});

test('limits: maxQuestions rejects the extra call overloaded', async (t) => {
  const s = await setup(t, { clientLimits: { maxQuestions: 3 } });
  const waits = [1, 2].map(() => s.test.wait((p) => { p.ms = 30; }).promise());
  await assert.rejects(s.test.echo().promise(), (e: unknown) => e instanceof RpcError && e.type === 'overloaded');
  await Promise.all(waits);
});

test('limits: maxExports fails the call that would export one too many, overloaded', async (t) => {
  const s = await setup(t, { clientLimits: { maxExports: 1 } });
  const local = new ServerState();
  const a = serve(Counter, new CounterImpl(local, 0n));
  const b = serve(Counter, new CounterImpl(local, 0n));
  await s.test.hold((p) => { p.cap = a; }).promise();
  await assert.rejects(s.test.hold((p) => { p.cap = b; }).promise(), (e: unknown) => e instanceof RpcError && e.type === 'overloaded');
  await s.test.dropHeld().promise();
  release(a);
  release(b);
  await until(() => local.liveCounters === 0, 'disposed');
});

test('limits: maxInFlightCalls applies backpressure (calls wait, none fail)', async (t) => {
  const s = await setup(t, { serverLimits: { maxInFlightCalls: 2 } });
  const rs = await Promise.all(Array.from({ length: 20 }, () => s.test.wait((p) => { p.ms = 5; }).promise()));
  assert.equal(rs.length, 20);
});

test('limits: backpressure never deadlocks calls that wait for callbacks; past 2x maxInFlightCalls, overloaded', async (t) => {
  const s = await setup(t, { serverLimits: { maxInFlightCalls: 2 } });
  const cb = serve(Callback, { call: async (p: T.Callback_Call$Params, r: T.Callback_Call$Results) => { r.result = p.value; } });
  const settled = await Promise.allSettled(
    Array.from({ length: 12 }, (_, i) => s.test.callBack((p) => { p.cb = cb; p.value = `v${i}`; }).promise()),
  );
  const ok = settled.filter((x) => x.status === 'fulfilled');
  const bad = settled.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
  assert.ok(ok.length >= 2, 'calls within the limit complete');
  for (const b of bad) assert.ok(b.reason instanceof RpcError && b.reason.type === 'overloaded', String(b.reason));
  release(cb);
});

test('limits: a message over the peer\'s maxMessageBytes aborts that connection only', async (t) => {
  const s = await setup(t, { serverLimits: { maxMessageBytes: 64 * 1024 }, noLeakCheck: true });
  await assert.rejects(
    s.test.sum((p) => { p._initData(200 * 1024); }).promise(),
    (e: unknown) => e instanceof RpcError && e.type === 'disconnected',
  );
  const c2 = await connect(s.listener.address);
  const t2 = c2.bootstrap(Test);
  assert.equal((await t2.echo((p) => { p.text = 'fine'; }).promise()).text, 'fine');
  release(t2);
  await c2.close();
});

test('limits: sending more than our own maxMessageBytes fails the call, the connection stays', async (t) => {
  const s = await setup(t, { clientLimits: { maxMessageBytes: 64 * 1024 } });
  await assert.rejects(s.test.sum((p) => { p._initData(200 * 1024); }).promise(), (e: unknown) => e instanceof RpcError && /maxMessageBytes/.test(e.message));
  assert.equal((await s.test.echo((p) => { p.text = 'ok'; }).promise()).text, 'ok');
});

test('transport: unix socket', async (t) => {
  const s = await setup(t, { transport: 'unix' });
  assert.match(s.listener.address, /^unix!/);
  assert.equal((await s.test.echo((p) => { p.text = 'unix'; }).promise()).text, 'unix');
});

function selfSigned(): { key: string; cert: string } | null {
  const dir = mkdtempSync(join(tmpdir(), 'capns-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('transport: TLS with a self-signed certificate made at test time', async (t) => {
  const kc = selfSigned();
  if (kc === null) {
    t.skip('openssl not available');
    return;
  }
  const s = await setup(t, { tls: { server: { key: kc.key, cert: kc.cert }, client: { ca: kc.cert } } });
  assert.equal((await s.test.echo((p) => { p.text = 'secret'; }).promise()).text, 'secret');
  const counter = s.test.newCounter((p) => { p.start = 2n; }).getCounter();
  assert.equal((await counter.get().promise()).value, 2n);
  release(counter);
  // The TLS client refuses a server it cannot verify.
  await assert.rejects(connect(s.listener.address, { tls: {} }));
});

test('NS_TRACE sink: one line per message, both directions', async (t) => {
  const lines: string[] = [];
  const state = new ServerState();
  const l = await listen('127.0.0.1:0', { bootstrap: () => serveTest(state) });
  const c = await connect(l.address, { trace: (line) => lines.push(line) });
  t.after(async () => {
    await c.close();
    await l.close();
  });
  const tt = c.bootstrap(Test);
  await tt.echo((p) => { p.text = 'traced'; }).promise();
  release(tt);
  await until(() => lines.some((x) => x.includes('> release')), 'release traced');
  assert.ok(lines.some((x) => x.includes('> bootstrap q=0')));
  assert.ok(lines.some((x) => /> call q=1 answer#0 @0xe9eef97a62c53e11\.0/.test(x)));
  // Results without capabilities: the server dropped its answer (noFinishNeeded), so no
  // Finish for q=1; the bootstrap's answer (a capability) gets one.
  assert.ok(lines.some((x) => x.includes('< return a=1 results') && x.includes('noFinishNeeded')));
  assert.ok(!lines.some((x) => x.includes('> finish q=1')));
  assert.ok(lines.some((x) => x.includes('> finish q=0')));
});

test('cancellation: results a method produces after its call was cancelled are released (no leak)', async (t) => {
  const state = new ServerState();
  let created = 0;
  class Stubborn extends TestImpl {
    // Ignores ctx.signal: finishes its work and returns a Counter nobody will get.
    override async slowCounter(p: T.Test_SlowCounter$Params, r: T.Test_SlowCounter$Results): Promise<void> {
      await new Promise((res) => setTimeout(res, p.ms));
      created++;
      r.counter = serve(Counter, new CounterImpl(state, p.start));
    }
  }
  const l = await listen('127.0.0.1:0', { bootstrap: () => serve(Test, new Stubborn(state), { extends: [Base] }) });
  const conn = await connect(l.address);
  t.after(async () => {
    await conn.close();
    await l.close();
  });
  const remote = conn.bootstrap(Test);
  const ac = new AbortController();
  const p = withSignal(remote, ac.signal).slowCounter((q) => { q.ms = 60; q.start = 1n; }).promise();
  setTimeout(() => ac.abort(), 10);
  await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.name === 'AbortError');
  await until(() => created === 1, 'the method finished anyway');
  await until(() => state.liveCounters === 0, 'its Counter was released');
  release(remote);
});

/**
 * How many calls of one pipelined burst the server handles before the event loop gets a
 * turn (a setImmediate scheduled at the first call fires at the next check phase).
 */
async function callsBeforeTurn(limits: { maxFramesPerTurn: number; maxPreAuthFramesPerTurn?: number; maxPreAuthAnswers?: number }, requireAuthentication = false): Promise<number> {
  let handled = 0;
  let atTurn = -1;
  const listener = await listen('127.0.0.1:0', {
    bootstrap: () => serve(Callback, {
      call: (p: T.Callback_Call$Params, r: T.Callback_Call$Results) => {
        if (handled++ === 0) setImmediate(() => { atTurn = handled; });
        r.result = p.value;
        return Promise.resolve();
      },
    }),
    limits,
    requireAuthentication,
  });
  const conn = await connect(listener.address);
  const cb = conn.bootstrap(Callback);
  // 2,000 calls written at once: tens of frames in every chunk the server reads.
  await Promise.all(Array.from({ length: 2000 }, (_, i) => cb.call((p) => { p.value = `v${i}`; }).promise()));
  release(cb);
  await conn.close();
  await listener.close();
  assert.equal(handled, 2000);
  return atTurn;
}

test('limits: one connection\'s pipelined burst gives the event loop a turn every maxFramesPerTurn frames', async () => {
  const a = await callsBeforeTurn({ maxFramesPerTurn: 32 });
  assert.ok(a <= 32);
  // The same burst without the bound: a whole socket read is handled in one run.
  const b = await callsBeforeTurn({ maxFramesPerTurn: 100_000 });
  assert.ok(b > 32);
});

test('limits: a connection that has not authenticated gets maxPreAuthFramesPerTurn frames a turn', async () => {
  // The same burst from a peer that never authenticates (the listener requires it).
  const a = await callsBeforeTurn({ maxFramesPerTurn: 100_000, maxPreAuthFramesPerTurn: 4, maxPreAuthAnswers: 100_000 }, true);
  assert.ok(a <= 4, `${a} calls before a turn`);
  const b = await callsBeforeTurn({ maxFramesPerTurn: 100_000, maxPreAuthFramesPerTurn: 100_000, maxPreAuthAnswers: 100_000 }, true);
  assert.ok(b > 32, `${b} calls before a turn`);
});

test('borrowClient: a borrowed reference reaches the capability while an owned one lives, and neither keeps it alive nor gives a count back', async () => {
  const state = new ServerState();
  const owner = serve(Counter, new CounterImpl(state, 5n));
  const other = new Counter.Client(dupClient(owner.client));
  const borrowed = new Counter.Client(borrowClient(owner.client));
  assert.equal((await borrowed.increment((p) => (p.by = 1n)).promise()).value, 6n);
  // Releasing the borrowed reference gives nothing back: the owners' two still hold it.
  release(borrowed);
  release(owner);
  assert.equal(state.liveCounters, 1);
  assert.equal((await other.get().promise()).value, 6n);
  // The last owned reference goes: the capability is disposed, borrowed or not.
  const again = new Counter.Client(borrowClient(other.client));
  release(other);
  assert.equal(state.liveCounters, 0);
  await assert.rejects(again.get().promise());
});

test("a peer's atEnd: each thing given is ended once when the connection ends, however it ends; given after the end, at once", async () => {
  const ended: string[] = [];
  let peerOf: Peer | undefined;
  const listener = await listen('127.0.0.1:0', {
    bootstrap: (peer) => {
      peerOf = peer;
      peer.atEnd({ end: () => ended.push('first') });
      peer.atEnd({ end: () => ended.push('second') });
      return serveTest(new ServerState());
    },
  });
  try {
    const conn = await connect(listener.address);
    const test = conn.bootstrap(Test);
    await test.echo((q) => { q.text = 'x'; }).promise();
    assert.equal(ended.length, 0);
    release(test);
    conn.destroy();
    await until(() => ended.length === 2, 'ended at the connection end');
    assert.deepEqual(ended, ['first', 'second']);
    peerOf!.atEnd({ end: () => ended.push('late') });
    assert.deepEqual(ended, ['first', 'second', 'late']);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(ended.length, 3, 'nothing ended twice');
  } finally {
    await listener.close();
  }
});

test('a capability released while one of its calls runs is disposed once the call settles, never under it (over a connection: the call and the Release in one write; and in process)', async () => {
  /** A Counter whose increment waits for `open`, noting whether its object was disposed meanwhile. */
  const make = () => {
    const s = { disposed: false, disposedAtResume: undefined as boolean | undefined, open: () => {} };
    const gate = new Promise<void>((r) => (s.open = r));
    const impl = {
      async increment(p: T.Counter_Increment$Params, r: T.Counter_Increment$Results): Promise<void> {
        await gate;
        s.disposedAtResume = s.disposed;
        r.value = p.by;
      },
      async get(): Promise<void> {},
      [Symbol.dispose]: () => (s.disposed = true),
    };
    return { s, impl };
  };
  // Over a connection.
  const remote = make();
  // A Test whose newCounter hands out that Counter (a bootstrap capability lives as long as its connection).
  const factory = { async newCounter(_p: T.Test_NewCounter$Params, r: T.Test_NewCounter$Results) { r.counter = serve(Counter, remote.impl); } };
  const listener = await listen('127.0.0.1:0', { bootstrap: () => serve(Test, factory as unknown as T.Test$Server$Target) });
  const conn = await connect(listener.address);
  try {
    using test = conn.bootstrap(Test);
    const counter = (await test.newCounter().promise()).counter;
    const call = counter.increment((p) => (p.by = 7n)).promise();
    release(counter);
    await new Promise((r) => setTimeout(r, 50)); // the Release has arrived
    assert.equal(remote.s.disposed, false, 'disposed while its call was still running');
    remote.s.open();
    assert.equal((await call).value, 7n);
    assert.equal(remote.s.disposedAtResume, false);
    await until(() => remote.s.disposed, 'disposed once the call was over');
  } finally {
    remote.s.open(); // a failed assertion must not leave the call (and close()) waiting
    await conn.close();
    await listener.close();
  }
  // In process.
  const local = make();
  const counter = serve(Counter, local.impl);
  const call = counter.increment((p) => (p.by = 3n)).promise();
  release(counter);
  assert.equal(local.s.disposed, false, 'disposed while its call was still running (in process)');
  local.s.open();
  assert.equal((await call).value, 3n);
  assert.equal(local.s.disposedAtResume, false);
  assert.equal(local.s.disposed, true, 'disposed once the call was over (in process)');
});
