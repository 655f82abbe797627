/**
 * The in-process call path of a local client (what the HTTP gateway calls through):
 * results built in a pooled message and given back once read, a shared params struct for
 * methods without params, the grant's metrics told without a promise per call. Real
 * MountTable, Namespace, capability table and served objects; no connection.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { CapabilityTable } from '../../src/captable/capability-table.js';
import { CapnsClient } from '../../src/client/capns-client.js';
import { Clock, Echo, type Clock_Now$Params, type Clock_Now$Results, type Echo_Echo$Params, type Echo_Echo$Results } from '../../src/gen/demo.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { serveNamespace } from '../../src/namespace/namespace-server.js';
import { MessagePool, releaseResults, serve, withResultsPool } from '../../src/rpc/index.js';
import { liveLocalObjects } from '../../src/rpc/server.js';
import type { Client } from 'capnp-es';

/** A local client over a namespace of `caps` (path -> [client, interface id]), each granted as capns serve grants them. */
function localClient(caps: Record<string, [Client, bigint]>): { client: CapnsClient; table: CapabilityTable } {
  const table = new CapabilityTable();
  const mounts = new MountTable<Client>();
  for (const [path, [cap, interfaceId]] of Object.entries(caps)) {
    mounts.bind(path, { cap: table.grant(cap, { interfaceId, label: path.slice(1), holder: 'test@local' }), interfaceId, label: path.slice(1) });
  }
  const ns = serveNamespace(mounts);
  return { client: CapnsClient.local(ns, 'test', undefined, { version: () => mounts.snapshot() }), table };
}

test('local calls: results of many sizes, one after another through the results pool, each read back exact', async (t) => {
  const before = liveLocalObjects();
  const echo = serve(Echo, {
    async echo(p: Echo_Echo$Params, r: Echo_Echo$Results) {
      r.text = p.text;
    },
  });
  const { client, table } = localClient({ '/echo': [echo.client, Echo.Client.interfaceId] });
  t.after(async () => {
    await client.close();
    assert.equal(liveLocalObjects(), before, 'a served object was left behind');
  });
  const target = await client.callTarget('/echo');
  // Long, then short, then empty, then long again: a reused message must show nothing of
  // the one before; several in flight at once must not share one.
  const texts = ['x'.repeat(5000), 'ab', '', 'é'.repeat(3000), 'z', 'y'.repeat(70_000), 'q'];
  for (let round = 0; round < 3; round++) {
    for (const text of texts) assert.deepEqual(await target.call('echo', { text }), { text });
    const all = await Promise.all(texts.map((text) => target.call('echo', { text })));
    assert.deepEqual(all, texts.map((text) => ({ text })));
  }
  target.close();
  assert.equal(table.list().find((g) => g.label === 'echo')?.calls, BigInt(3 * 2 * texts.length));
});

test('releaseResults gives results built through withResultsPool back to their pool, and nothing else to it', async () => {
  const clock = serve(Clock, {
    async now(_p: Clock_Now$Params, r: Clock_Now$Results) {
      r.unixMillis = 7n;
      r.iso = 'then';
    },
  });
  try {
    const pool = new MessagePool(true);
    const view = new Clock.Client(withResultsPool(clock.client, pool));
    const r1 = await view.now().promise();
    const m1 = r1.segment.message;
    assert.ok(pool.owns(m1), 'the results were not built in the pool');
    assert.equal(r1.iso, 'then');
    releaseResults(r1, pool);
    const r2 = await view.now().promise();
    assert.equal(r2.segment.message, m1, 'the next results did not reuse the message given back');
    assert.deepEqual([r2.unixMillis, r2.iso], [7n, 'then']);
    releaseResults(r2, pool);
    // Results built elsewhere are not the pool's.
    const plain = await clock.now().promise();
    assert.equal(pool.owns(plain.segment.message), false);
    releaseResults(plain, pool);
    const r3 = await view.now().promise();
    assert.notEqual(r3.segment.message, plain.segment.message);
    assert.deepEqual([r3.unixMillis, r3.iso], [7n, 'then']);
  } finally {
    clock[Symbol.dispose]();
  }
});

test('a method without params, called without a params function, gets a fresh traversal limit each call over its shared params struct', async () => {
  let seen: $.Message | undefined;
  let calls = 0;
  const clock = serve(Clock, {
    async now(p: Clock_Now$Params, r: Clock_Now$Results) {
      calls++;
      const m = p.segment.message;
      if (calls <= 3) {
        assert.ok(seen === undefined || seen === m, 'calls without params got different params messages');
        seen = m;
      } else {
        assert.notEqual(m, seen, 'a call with a params function was given the shared params');
      }
      // As if earlier calls had made millions of Pointers over it: almost spent.
      for (let i = 0; i < 4; i++) new $.Struct(p.segment, p.byteOffset);
      m._capnp.traversalLimit = 8;
      r.unixMillis = BigInt(calls);
    },
  });
  try {
    for (let i = 1; i <= 3; i++) assert.equal((await clock.now().promise()).unixMillis, BigInt(i));
    // A params function (even one that sets nothing) gets params of its own.
    await clock.now(() => {}).promise();
    assert.equal(calls, 4);
  } finally {
    clock[Symbol.dispose]();
  }
});
