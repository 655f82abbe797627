// Interop for the authority model (issue 16): a client written with the Cap'n Proto C++
// reference from capns's own schemas (test/interop/cpp/authority.c++) — not our client
// library, not our RPC — tries to get more from capns serve's views than they grant.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildCppPeers, runCppAuthority, type CppPeers } from '../support/cpp-build.js';
import { startWorld, type World } from '../support/authority-world.js';

let peers: CppPeers;
let world: World;
before(async () => {
  [peers, world] = await Promise.all([buildCppPeers(), startWorld()]);
});
after(async () => {
  await world?.close();
});

/** tcp!H!P -> H:P for EzRpcClient. */
const hostPort = (address: string): string => address.split('!').slice(1).join(':');

test('C++ client: an export rooted inside a file tree confines what resolve hands out — .., links and attach names stay below its root', async () => {
  const r = await runCppAuthority(peers.authority, hostPort(world.exports.rw), 'tx', 'confine');
  assert.equal(r.ok, true, r.detail);
  assert.match(r.detail, /5 climbs and 3 attach names refused/);
});

test('C++ client: a read-only export refuses every change through every capability it hands out, as Failure.permissionDenied in results', async () => {
  const before = world.hash();
  const r = await runCppAuthority(peers.authority, hostPort(world.exports.ro), 'tx', 'readonly');
  assert.equal(r.ok, true, r.detail);
  assert.match(r.detail, /^9 changes refused as permissionDenied/);
  assert.equal(world.hash(), before);
});
