/**
 * Memory given back after a burst (src/server/reclaim.ts), in a real `capns serve`
 * started with `--expose-gc` as bin/capns.js starts it: a connection that authenticated
 * hundreds of times (over a thousand grants) hangs up, and once a second has passed
 * without another departure the server collects (two full collections) and logs it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Gate, Gate_Authenticate$Params } from '../../src/gen/namespace.js';
import { connect, release } from '../../src/rpc/index.js';
import { pipelinedCall, RawPeer, RpcMessage } from '../rpc/raw-peer.js';
import { root, startServe } from '../client/serve-process.js';

/** As bin/capns.js starts Node, with the log at info (the collection's line). */
const GC = { nodeFlags: ['--expose-gc'], logLevel: 'info' };

/**
 * Authenticates `n` times (each a namespace of three grants: the default manifest's /tmp,
 * /data, /svc/clock), on as many connections as maxNamespacesPerConnection (256) needs,
 * 200 on each, then hangs up all of them at once.
 */
async function burst(address: string, n: number): Promise<void> {
  const conns = await Promise.all(Array.from({ length: Math.ceil(n / 200) }, () => connect(address)));
  await Promise.all(
    conns.map(async (conn, i) => {
      const gate = conn.bootstrap(Gate);
      const results = await Promise.all(Array.from({ length: Math.min(200, n - 200 * i) }, () => gate.authenticate((p) => { p.token = ''; }).promise()));
      for (const r of results) assert.ok(r.result._isOk, r.result._isErr ? r.result.err.message : '');
      release(gate);
    }),
  );
  for (const conn of conns) conn.destroy();
}

async function waitFor(what: () => RegExpExecArray | null, ms: number): Promise<RegExpExecArray | null> {
  const end = Date.now() + ms;
  for (;;) {
    const m = what();
    if (m !== null || Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const RECLAIMED = /memory reclaimed after (\d+) departures: two full collections \d+ ms, V8 heap in use ([\d.]+) -> ([\d.]+) MiB/;

test('bin/capns.js starts Node with --expose-gc, which the reclaimer needs', () => {
  const first = readFileSync(join(root, 'bin', 'capns.js'), 'utf8').split('\n', 1)[0]!;
  assert.match(first, /\snode\s.*--expose-gc\b/);
});

test('capns serve: after a burst of departures (connections holding 1,800 grants hang up), one collection runs once they stop, and is logged', async (t) => {
  const s = await startServe(t, undefined, GC);
  await burst(s.rpc, 600);
  const m = await waitFor(() => RECLAIMED.exec(s.output()), 15_000);
  assert.ok(m !== null, `no reclaim line in the log:\n${s.output().slice(-2000)}`);
  assert.ok(Number(m[1]) >= 500, `departures ${m[1]}`);
  // The collection freed what the connection held: less of V8's heap is in use after it.
  assert.ok(Number(m[3]) < Number(m[2]), `V8 heap ${m[2]} -> ${m[3]} MiB`);
  // Only one: the burst is over, and nothing more departed.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(s.output().match(new RegExp(RECLAIMED.source, 'g'))?.length, 1);
});

test('capns serve: fewer departures than the threshold (300 grants) run no collection', async (t) => {
  const s = await startServe(t, undefined, GC);
  await burst(s.rpc, 100);
  assert.equal(await waitFor(() => RECLAIMED.exec(s.output()), 2500), null);
});

test('capns serve: a connection that leaves 1,500 unfinished answers behind is a burst too', async (t) => {
  const s = await startServe(t, undefined, GC);
  const p = await RawPeer.connect(s.rpc);
  p.sendMsg((m) => { m._initBootstrap().questionId = 0; });
  // Authenticated first (before it, a peer may hold only maxPreAuthAnswers), then calls
  // to a method the Gate does not have, pipelined on the bootstrap: each answers an
  // exception the server keeps until a Finish that never comes.
  p.sendMsg((m) => pipelinedCall(m, 1, Gate.Client.interfaceId, 0, Gate_Authenticate$Params, (a) => (a.token = '')));
  for (let q = 2; q <= 1501; q++) p.sendMsg((m) => pipelinedCall(m, q, Gate.Client.interfaceId, 99));
  for (let i = 0; i <= 1501; i++) {
    const r = await p.next(5000);
    assert.equal(r?.which(), RpcMessage.RETURN);
    assert.doesNotMatch(r.return.which() === 1 ? r.return.exception.reason : '', /maxPreAuthAnswers|maxAnswers/, `return ${i}`);
  }
  p.close();
  const m = await waitFor(() => RECLAIMED.exec(s.output()), 15_000);
  assert.ok(m !== null, `no reclaim line in the log:\n${s.output().slice(-2000)}`);
  assert.ok(Number(m[1]) >= 1500, `departures ${m[1]}`);
});
