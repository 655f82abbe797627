import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Base, Counter, ErrorType, Test } from '../fixtures/rpc/gen/test.js';
import { RpcError, connect, listen, release, serve } from '../../src/rpc/index.js';
import { ServerState, TestImpl } from './test-impl.js';
import { setup, until } from './harness.js';

test('Bootstrap then Call/Return: echo over TCP', async (t) => {
  const s = await setup(t);
  const r = await s.test.echo((p) => { p.text = 'hello'; }).promise();
  assert.equal(r.text, 'hello');
  const sum = await s.test.add((p) => { p.a = 2n; p.b = 40n; }).promise();
  assert.equal(sum.sum, 42n);
});

test('dispatch finds methods inherited through extends (Base.ping on a Test)', async (t) => {
  const s = await setup(t);
  const base = new Base.Client(s.test.client);
  const r = await base.ping((p) => { p.n = 7; }).promise();
  assert.equal(r.n, 7);
});

test('a call for an interface the object does not implement answers unimplemented', async (t) => {
  const s = await setup(t);
  const asCounter = new Counter.Client(s.test.client);
  await assert.rejects(asCounter.get().promise(), (e: unknown) => e instanceof RpcError && e.type === 'unimplemented');
  // The connection goes on.
  assert.equal((await s.test.echo((p) => { p.text = 'x'; }).promise()).text, 'x');
});

test('promise pipelining: newCounter().getCounter().get() in one round trip', async (t) => {
  const s = await setup(t);
  const counter = s.test.newCounter((p) => { p.start = 5n; }).getCounter();
  const inc = counter.increment((p) => { p.by = 2n; });
  const v = await counter.get().promise();
  assert.equal((await inc.promise()).value, 7n);
  assert.equal(v.value, 7n);
  release(counter);
  await until(() => s.state.liveCounters === 0, 'counter released');
});

test('pipelined calls on a pending answer are delivered when it resolves (no hang, no cap)', async (t) => {
  const s = await setup(t);
  const counter = s.test.slowCounter((p) => { p.ms = 50; p.start = 100n; }).getCounter();
  const results = await Promise.all(
    Array.from({ length: 200 }, () => counter.increment((p) => { p.by = 1n; }).promise()),
  );
  assert.deepEqual(results.map((r) => r.value), Array.from({ length: 200 }, (_, i) => BigInt(101 + i)));
  release(counter);
});

test('exceptions keep their type (failed, overloaded, disconnected, unimplemented)', async (t) => {
  const s = await setup(t);
  const cases = [
    [ErrorType.FAILED, 'failed'],
    [ErrorType.OVERLOADED, 'overloaded'],
    [ErrorType.DISCONNECTED, 'disconnected'],
    [ErrorType.UNIMPLEMENTED, 'unimplemented'],
  ] as const;
  for (const [code, name] of cases) {
    await assert.rejects(
      s.test.fail((p) => { p.type = code; p.message = `boom ${name}`; }).promise(),
      (e: unknown) => e instanceof RpcError && e.type === name && e.message === `boom ${name}`,
    );
  }
  assert.equal((await s.test.echo((p) => { p.text = 'still up'; }).promise()).text, 'still up');
});

test('returned capabilities are released when the caller releases them (Release reaches the server)', async (t) => {
  const s = await setup(t);
  const r = await s.test.newCounter((p) => { p.start = 1n; }).promise();
  const c = r.counter;
  assert.equal((await c.increment((p) => { p.by = 1n; }).promise()).value, 2n);
  assert.equal(s.state.liveCounters, 1);
  assert.equal(s.conn.stats().imports, 2);
  release(c);
  await until(() => s.state.liveCounters === 0, 'Counter disposed on the server');
  assert.equal(s.conn.stats().imports, 1);
});

test('a capability is one import however many times it is received; Release carries the count', async (t) => {
  const s = await setup(t);
  const g1 = await s.test.getTest().promise();
  const t2 = g1.test;
  const r1 = await t2.newCounter((p) => { p.start = 3n; }).promise();
  assert.equal((await r1.counter.get().promise()).value, 3n);
  release(r1.counter);
  release(t2);
  await until(() => s.conn.stats().imports === 1 && s.serverConn().stats().exports === 1, 'only bootstrap left');
  void Test;
});

test('exceptions never carry host paths or stacks to the peer', async (t) => {
  const state = new ServerState();
  class Leaky extends TestImpl {
    override async echo(): Promise<void> {
      throw new Error("ENOENT: no such file or directory, open '/home/alice/secret/keys.txt'");
    }
  }
  const l = await listen('127.0.0.1:0', { bootstrap: () => serve(Test, new Leaky(state), { extends: [Base] }) });
  const conn = await connect(l.address);
  t.after(async () => {
    await conn.close();
    await l.close();
  });
  const remote = conn.bootstrap(Test);
  await assert.rejects(remote.echo().promise(), (e: unknown) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.type, 'failed');
    assert.equal(e.message, "ENOENT: no such file or directory, open '<path>'");
    assert.doesNotMatch(e.message, /alice|at .*\.ts/);
    return true;
  });
  release(remote);
});
