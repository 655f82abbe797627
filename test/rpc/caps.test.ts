import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Callback, type Callback$Server$Target, Counter, Test } from '../fixtures/rpc/gen/test.js';
import type * as T from '../fixtures/rpc/gen/test.js';
import { connect, listen, release, retain, serve } from '../../src/rpc/index.js';
import { setup, until } from './harness.js';
import { checksum, fillPattern } from '../support/test-server.js';
import { CounterImpl, ServerState, serveTest } from './test-impl.js';

class Upper implements Callback$Server$Target {
  calls = 0;
  disposed = false;
  async call(p: T.Callback_Call$Params, r: T.Callback_Call$Results): Promise<void> {
    this.calls++;
    r.result = p.value.toUpperCase();
  }
  [Symbol.dispose](): void {
    this.disposed = true;
  }
}

test('capabilities in params are exported and called back by the server', async (t) => {
  const s = await setup(t);
  const impl = new Upper();
  const cb = serve(Callback, impl);
  const r = await s.test.callBack((p) => { p.cb = cb; p.value = 'abc'; }).promise();
  assert.equal(r.result, 'ABC');
  assert.equal(impl.calls, 1);
  // The server released the param cap when the call finished: our export is gone.
  await until(() => s.conn.stats().exports === 0, 'export released by the server');
  assert.equal(impl.disposed, false, 'we still hold our own reference');
  release(cb);
  assert.equal(impl.disposed, true);
});

test('a held capability stays exported until the server drops it (Release with refcounts)', async (t) => {
  const s = await setup(t);
  const local = new ServerState();
  const c = serve(Counter, new CounterImpl(local, 10n));
  await s.test.hold((p) => { p.cap = c; }).promise();
  await s.test.hold((p) => { p.cap = c; }).promise();
  assert.equal(s.conn.stats().exports, 1, 'one export however many times it is sent');
  release(c);
  assert.equal(local.liveCounters, 1, 'the server still holds it');
  const dropped = await s.test.dropHeld().promise();
  assert.equal(dropped.count, 2);
  await until(() => local.liveCounters === 0, 'disposed once the server released it');
  assert.equal(s.conn.stats().exports, 0);
});

test('Disembargo: calls on a capability echoed back keep their order (echoCap, loopback)', async (t) => {
  const s = await setup(t);
  const local = new ServerState();
  const c = serve(Counter, new CounterImpl(local, 0n));
  const ans = s.test.echoCap((p) => { p.cap = c; });
  const piped = ans.getCap();
  const calls: Array<Promise<{ value: bigint }>> = [];
  for (let i = 0; i < 30; i++) calls.push(piped.increment((p) => { p.by = 1n; }).promise());
  const r = await ans.promise();
  // These go straight to the local object, but must wait for the 30 looped-back calls.
  for (let i = 0; i < 30; i++) calls.push(r.cap.increment((p) => { p.by = 1n; }).promise());
  for (let i = 0; i < 30; i++) calls.push(piped.increment((p) => { p.by = 1n; }).promise());
  const values = (await Promise.all(calls)).map((x) => x.value);
  assert.deepEqual(values, Array.from({ length: 90 }, (_, i) => BigInt(i + 1)));
  release(r.cap);
  release(c);
  await until(() => local.liveCounters === 0, 'local counter disposed');
});

test('a promise capability is exported as senderPromise and Resolved when it settles', async (t) => {
  const s = await setup(t);
  const localState = new ServerState();
  const localTest = serveTest(localState);
  // A capability that is a field of a pending local answer: a promise.
  const promised = localTest.slowCounter((p) => { p.ms = 40; p.start = 7n; }).getCounter();
  // Pipelined through the server and back to the still-pending local promise.
  const ans = s.test.echoCap((p) => { p.cap = promised; });
  const v = await ans.getCap().increment((p) => { p.by = 1n; }).promise();
  assert.equal(v.value, 8n);
  const r = await ans.promise();
  assert.equal((await r.cap.get().promise()).value, 8n);
  release(r.cap);
  // Held by the server across the resolution: the Resolve gives it a second import
  // (the settled Counter) next to the promise.
  const p2 = localTest.slowCounter((p) => { p.ms = 20; p.start = 1n; }).getCounter();
  await s.test.hold((p) => { p.cap = p2; }).promise();
  await until(() => s.serverConn().stats().imports === 2, 'server imported the resolution');
  assert.equal((await s.test.dropHeld().promise()).count, 1);
  await until(() => s.serverConn().stats().imports === 0, 'server released both');
  release(p2);
  release(promised);
  release(localTest);
  await until(() => localState.liveCounters === 0, 'local counters disposed');
});

test('tail call issued by our server: ctx.tailCall into the caller uses sendResultsTo.yourself + takeFromOtherQuestion', async (t) => {
  const lines: string[] = [];
  const state = new ServerState();
  const l = await listen('127.0.0.1:0', { bootstrap: () => serveTest(state), trace: (x) => lines.push(x) });
  const conn = await connect(l.address);
  t.after(async () => {
    await conn.close();
    await l.close();
  });
  const remote = conn.bootstrap(Test);
  const localState = new ServerState();
  const localTest = serveTest(localState);
  const r = await remote.tailEcho((p) => { p.target = localTest; p.text = 'tail'; }).promise();
  assert.equal(r.text, 'tail');
  assert.ok(lines.some((x) => /> call q=\d+ import#\d+ @0xe9eef97a62c53e11\.0 sendResultsTo=1/.test(x)), 'tail call sent with sendResultsTo.yourself');
  assert.ok(lines.some((x) => / > return a=\d+ takeFromOtherQuestion/.test(x)), 'answered takeFromOtherQuestion');
  // And when the target is not the caller's, the results are forwarded.
  const other = await remote.getTest().promise();
  const r2 = await remote.tailEcho((p) => { p.target = other.test; p.text = 'fwd'; }).promise();
  assert.equal(r2.text, 'fwd');
  release(other.test);
  release(localTest);
  release(remote);
  await until(() => conn.stats().exports === 0 && conn.stats().imports === 0, 'released');
});

test('16 MiB payloads both ways (data and sum)', async (t) => {
  const s = await setup(t);
  const size = 16 * 1024 * 1024;
  const r = await s.test.data((p) => { p.size = size; }).promise();
  const u = r.data.toUint8Array();
  assert.equal(u.length, size);
  const want = new Uint8Array(size);
  fillPattern(want);
  assert.ok(Buffer.from(u).equals(want), 'data() bytes arrive intact');
  const ones = new Uint8Array(size).fill(1);
  const sum = await s.test.sum((p) => {
    p._initData(size).toUint8Array().set(ones);
  }).promise();
  assert.equal(sum.size, size);
  assert.equal(sum.checksum, checksum(ones));
});

test('retain() of a pipelined capability survives the release of the original', async (t) => {
  const s = await setup(t);
  const original = s.test.slowCounter((p) => { p.ms = 30; p.start = 4n; }).getCounter();
  const kept = retain(original);
  release(original); // before the answer even arrived
  assert.equal((await kept.increment((p) => { p.by = 1n; }).promise()).value, 5n);
  assert.equal((await kept.get().promise()).value, 5n);
  assert.equal(s.state.liveCounters, 1);
  release(kept);
  await until(() => s.state.liveCounters === 0, 'released with the last reference');
});
