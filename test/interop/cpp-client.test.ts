// Interop (issue 3): the Cap'n Proto 0.9.2 C++ client (test/interop/cpp/client.c++)
// against OUR server (src/rpc serving test/support/test-server.ts), over TCP. The C++
// client checks each scenario itself and prints one JSON line for it; each test below
// asserts one scenario, named after the rule it checks. After the client has gone, every
// object our server handed out must have been released (Counters, held caps, connections).
// Where the result alone cannot show the mechanism (pipelining, embargo, tail call), the
// test also reads our side of the wire from src/rpc's trace sink.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { listen } from '../../src/rpc/index.js';
import { buildCppPeers, runCppClient, type CppPeers, type ScenarioResult } from '../support/cpp-build.js';
import { TestState, newTest } from '../support/test-server.js';
import { EVOLUTION, RULES, SCENARIOS, pipelinedBeforeReturn } from './scenarios.js';

let peers: CppPeers;
const state = new TestState();
let listener: Awaited<ReturnType<typeof listen>>;
let address: string;
let results: Map<string, ScenarioResult>;
let oldResults: Map<string, ScenarioResult>;
/** One line per message our server sent (>) or received (<), from src/rpc's tracer. */
const wire: string[] = [];

before(async () => {
  peers = await buildCppPeers();
  listener = await listen('127.0.0.1:0', { bootstrap: () => newTest(state), trace: (line) => wire.push(line) });
  // 'tcp!127.0.0.1!PORT' -> '127.0.0.1:PORT' for the C++ client.
  const [, host, port] = listener.address.split('!');
  address = `${host}:${port}`;
  results = await runCppClient(peers.client, address);
  oldResults = await runCppClient(peers.clientOld, address, [
    'bootstrap',
    'calls',
    'pipelining',
    'exceptions',
    'tail-call',
    'evolution',
  ]);
});

after(async () => {
  await listener?.close();
});

function expectOk(r: ScenarioResult | undefined, name: string): ScenarioResult {
  assert.ok(r, `the C++ client printed no result for ${name}`);
  assert.equal(r.ok, true, `${name}: ${r.detail}`);
  return r;
}

describe('C++ client (Cap\'n Proto 0.9.2) -> our server, over TCP', () => {
  const title = (name: string): string =>
    name === 'tail-call'
      ? 'tail-call: our server tail-calls targets on our side and on the caller\'s (sendResultsTo.yourself, takeFromOtherQuestion)'
      : `${name}: ${RULES[name]}`;
  for (const name of SCENARIOS) {
    test(title(name), () => {
      const r = expectOk(results.get(name), name);
      if (name === 'evolution') assert.equal(r.detail, EVOLUTION.newNew);
      if (name === 'tail-call') {
        assert.equal(r.detail, 'bootstrap,getTest,client-hosted');
        // The client-hosted target: our Call back to the C++ client carries
        // sendResultsTo.yourself, our Return to it says takeFromOtherQuestion, and its
        // Return to our Call says resultsSentElsewhere.
        assert.ok(wire.some((l) => / > call .*sendResultsTo/.test(l)), 'no Call with sendResultsTo.yourself sent');
        assert.ok(wire.some((l) => / > return .*takeFromOtherQuestion/.test(l)), 'no takeFromOtherQuestion sent');
        assert.ok(wire.some((l) => / < return .*resultsSentElsewhere/.test(l)), 'no resultsSentElsewhere received');
      }
      if (name === 'pipelining') assert.equal(pipelinedBeforeReturn(wire, '<', 2), 3, 'calls on newCounter\'s answer');
      if (name === 'pipelining-pending') {
        assert.equal(pipelinedBeforeReturn(wire, '<', 7), 50, 'calls on slowCounter\'s answer before it returned');
      }
      if (name === 'embargo') {
        // The C++ client's pipelined calls came back to it through us, and it lifted its
        // embargo with a Disembargo we reflected.
        assert.ok(wire.some((l) => / < disembargo .*senderLoopback/.test(l)), 'no senderLoopback received');
        assert.ok(wire.some((l) => / > disembargo .*receiverLoopback/.test(l)), 'no receiverLoopback sent');
      }
      if (name === 'exceptions') assert.equal(r.detail, 'failed,overloaded,disconnected,unimplemented');
      if (name === 'unimplemented') {
        assert.equal(r.detail, 'other-interface:unimplemented,unknown-method:unimplemented');
      }
    });
  }

  test('older-schema C++ client: calls work, and our newer struct reads as its older version (schema evolution)', () => {
    for (const name of ['bootstrap', 'calls', 'pipelining', 'exceptions', 'tail-call']) {
      expectOk(oldResults.get(name), `old client ${name}`);
    }
    assert.equal(expectOk(oldResults.get('evolution'), 'old evolution').detail, EVOLUTION.oldClientNewServer);
  });

  test('after the C++ client disconnects, every object our server handed out is released', async () => {
    // Disconnect handling runs when the socket closes, which may lag the client's exit.
    const busy = (): boolean => state.liveCounters !== 0 || listener.connections.size !== 0;
    for (let i = 0; i < 250 && busy(); i++) await sleep(20);
    assert.equal(listener.connections.size, 0, 'server-side connections left open');
    assert.equal(state.liveCounters, 0, 'Counters still alive');
    assert.equal(state.held.length, 0, 'held caps left');
    assert.equal(state.cancelled, 1, 'the one cancelled wait() of the cancellation scenario');
  });

  test('a C++ client vanishing mid-call: its Counter is disposed and its wait() aborted (disconnect)', async () => {
    const cancelled = state.cancelled;
    const r = await runCppClient(peers.client, address, ['disconnect']);
    expectOk(r.get('disconnect'), 'disconnect');
    const busy = (): boolean =>
      state.liveCounters !== 0 || state.cancelled !== cancelled + 1 || listener.connections.size !== 0;
    for (let i = 0; i < 250 && busy(); i++) await sleep(20);
    assert.equal(listener.connections.size, 0, 'server-side connection left open');
    assert.equal(state.liveCounters, 0, "the vanished client's Counter was not disposed");
    assert.equal(state.cancelled, cancelled + 1, "the vanished client's wait() was not aborted");
  });
});
