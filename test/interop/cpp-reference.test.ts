// The C++ reference peers against each other: the scenarios the interop tests run against
// our implementation first pass between two C++ peers, so a failure elsewhere is ours and
// not the test's. Also pins the schema-evolution answers that both sides must agree on.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { buildCppPeers, runCppClient, startCppServer, type CppPeers } from '../support/cpp-build.js';
import { EVOLUTION, SCENARIOS } from './scenarios.js';

let peers: CppPeers;
before(async () => {
  peers = await buildCppPeers();
});

describe('C++ reference peers (Cap\'n Proto 0.9.2) agree with the scenarios', () => {
  test('every scenario passes C++ client -> C++ server (the oracle is sound)', async (t) => {
    const server = await startCppServer(peers.server);
    t.after(() => server.close());
    const results = await runCppClient(peers.client, server.address);
    for (const name of SCENARIOS) {
      const r = results.get(name);
      assert.ok(r, `scenario ${name} did not report`);
      assert.equal(r.ok, true, `${name}: ${r.detail}`);
    }
    assert.equal(results.get('evolution')?.detail, EVOLUTION.newNew);
  });

  test('old-schema C++ client -> new C++ server reads defaults for fields it lacks', async (t) => {
    const server = await startCppServer(peers.server);
    t.after(() => server.close());
    const results = await runCppClient(peers.clientOld, server.address, ['bootstrap', 'evolution']);
    assert.equal(results.get('bootstrap')?.ok, true);
    assert.equal(results.get('evolution')?.detail, EVOLUTION.oldClientNewServer);
  });

  test('new C++ client -> old C++ server: defaults, and unimplemented for a missing method', async (t) => {
    const server = await startCppServer(peers.serverOld);
    t.after(() => server.close());
    const results = await runCppClient(peers.client, server.address, ['evolution', 'old-server']);
    assert.equal(results.get('evolution')?.detail, EVOLUTION.newClientOldServer);
    assert.equal(results.get('old-server')?.detail, 'getTest:unimplemented');
  });
});
