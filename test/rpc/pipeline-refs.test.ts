import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, listen, release, retain } from '../../src/rpc/index.js';
import { Test } from '../fixtures/rpc/gen/test.js';
import { newTest, TestState } from '../support/test-server.js';

test('releasing a duplicate of a promised capability leaves the other references working (refcounted pipeline caps)', async (t) => {
  const state = new TestState();
  const listener = await listen('127.0.0.1:0', { bootstrap: () => newTest(state) });
  const conn = await connect(listener.address);
  t.after(async () => {
    await conn.close();
    await listener.close();
  });
  // bootstrap() is usable at once: a capability promised by the pending Bootstrap.
  const test = conn.bootstrap(Test);
  const dup = retain(test);
  release(dup);
  assert.equal((await test.echo((p) => { p.text = 'still here'; }).promise()).text, 'still here');
  // The same for a capability pipelined on a call's answer.
  const counter = test.newCounter((p) => { p.start = 3n; }).getCounter();
  const second = retain(counter);
  release(second);
  assert.equal((await counter.get().promise()).value, 3n);
  release(counter);
  release(test);
  for (let i = 0; i < 200 && state.liveCounters !== 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(state.liveCounters, 0, 'the last release still reaches the server');
});
