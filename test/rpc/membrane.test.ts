import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, listen, release, RpcError } from '../../src/rpc/index.js';
import { membrane, type MembranePolicy } from '../../src/rpc/membrane.js';
import { Test } from '../fixtures/rpc/gen/test.js';
import { newTest, TestState } from '../support/test-server.js';

/** A policy that counts calls and can be revoked. */
class Revocable implements MembranePolicy {
  calls = 0;
  revoked = false;
  check(): RpcError | undefined {
    if (this.revoked) return new RpcError('failed', 'revoked: test grant');
    this.calls++;
    return undefined;
  }
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }) {
  const state = new TestState();
  const policy = new Revocable();
  const listener = await listen('127.0.0.1:0', {
    bootstrap: () => new Test.Client(membrane(newTest(state).client, policy)),
  });
  const conn = await connect(listener.address);
  const test = conn.bootstrap(Test);
  t.after(async () => {
    release(test);
    await conn.close();
    await listener.close();
  });
  return { state, policy, test, conn };
}

test('calls pass through a membrane and are seen by its policy', async (t) => {
  const { policy, test } = await setup(t);
  assert.equal((await test.echo((p) => { p.text = 'hi'; }).promise()).text, 'hi');
  assert.equal((await test.add((p) => { p.a = 2n; p.b = 3n; }).promise()).sum, 5n);
  assert.equal(policy.calls, 2);
});

test('capabilities returned through a membrane are wrapped in it, pipelined ones too', async (t) => {
  const { policy, test } = await setup(t);
  const counter = (await test.newCounter((p) => { p.start = 10n; }).promise()).counter;
  assert.equal((await counter.increment((p) => { p.by = 1n; }).promise()).value, 11n);
  const pipelined = test.newCounter((p) => { p.start = 100n; }).getCounter();
  assert.equal((await pipelined.get().promise()).value, 100n);
  // newCounter, increment, newCounter, get: every call went through the policy.
  assert.equal(policy.calls, 4);
  release(counter);
  release(pipelined);
});

test('revoking the policy severs the capability and every capability derived from it', async (t) => {
  const { policy, test, state } = await setup(t);
  const counter = (await test.newCounter((p) => { p.start = 1n; }).promise()).counter;
  policy.revoked = true;
  const isRevoked = (e: unknown) => e instanceof RpcError && e.type === 'failed' && /revoked/.test(e.message);
  await assert.rejects(test.echo((p) => { p.text = 'x'; }).promise(), isRevoked);
  await assert.rejects(counter.get().promise(), isRevoked);
  await assert.rejects(test.newCounter().getCounter().get().promise(), isRevoked);
  release(counter);
  // Release still reaches the object behind the membrane.
  for (let i = 0; i < 200 && state.liveCounters !== 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(state.liveCounters, 0);
});

test('a policy is told how each call through the membrane settled, refusals included', async (t) => {
  const { policy, test } = await setup(t);
  const seen: string[] = [];
  Object.assign(policy, {
    settled: (_i: bigint, methodId: number, error: RpcError | undefined, seconds: number) => {
      assert.ok(seconds >= 0);
      seen.push(`${methodId}:${error === undefined ? 'ok' : error.type}`);
    },
  });
  await test.echo((p) => { p.text = 'x'; }).promise();
  await assert.rejects(test.fail((p) => { p.type = 1; p.message = 'busy'; }).promise());
  policy.revoked = true;
  await assert.rejects(test.echo((p) => { p.text = 'y'; }).promise());
  for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(seen, ['0:ok', '6:overloaded', '0:failed']);
});
