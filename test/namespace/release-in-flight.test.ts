/**
 * A Namespace capability released while a call of its own is still running (the call and
 * the Release in one write): the call finishes on a namespace that is still whole, and
 * the release takes effect after it. Before, the release closed the namespace under the
 * call (its bindings let go, its budget given back) and the call then changed it: what it
 * bound outlived the connection (a grant past its end, the table filling up for everyone)
 * and a replace gave the budget back twice (past maxBinds). Found by an attacker's review;
 * real sockets, our client as the attacker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from 'capnp-es';
import { CapabilityTable } from '../../src/captable/capability-table.js';
import { serveGate, type GateProfile } from '../../src/captable/gate.js';
import { serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { DMDIR } from '../../src/fileserver/file-server.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { Position } from '../../src/gen/common.js';
import { Gate, Namespace, type Namespace$Client } from '../../src/gen/namespace.js';
import { FILE_SERVER_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { NamespaceOwner, serveNamespace } from '../../src/namespace/namespace-server.js';
import { connect, listen, liveLocalObjects, release } from '../../src/rpc/index.js';

/** A served MemFileServer holding a directory `d`. */
async function tmpServer(): Promise<Client> {
  const fs = new MemFileServer();
  const { root } = await fs.attach('');
  const c = await root.create('d', DMDIR | 0o755, { access: 'read' });
  await c.file.clunk();
  await root.clunk();
  return serveFileServer(fs).client;
}

/**
 * A listener whose bootstrap is a namespace with `tmp` at /tmp, owned by its connection
 * (serve it once: the namespace takes the reference to `tmp`).
 */
async function namespaceListener(tmp: Client, maxBinds: number): Promise<{ address: string; owner: () => NamespaceOwner; close(): Promise<void> }> {
  let owner: NamespaceOwner | undefined;
  const listener = await listen('127.0.0.1:0', {
    bootstrap: (peer) => {
      owner = new NamespaceOwner('rpc#1', { maxBinds });
      peer.atEnd(owner);
      const table = new MountTable<Client>();
      table.bind('/tmp', { cap: tmp, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'tmp' }, { create: true });
      return serveNamespace(table, { owner });
    },
  });
  return { address: listener.address, owner: () => owner!, close: () => listener.close() };
}

function bindPath(ns: Namespace$Client, from: string, to: string, position: Position = Position.AFTER) {
  return ns.bindPath((p) => {
    p.from = from;
    p.to = to;
    p.position = position;
    p.create = true;
  });
}

test('a bindPath in flight on a released fork completes, and the fork then closes whole: nothing stays charged, every capability is let go at the end', async () => {
  const baseline = liveLocalObjects();
  const tmp = await tmpServer();
  const l = await namespaceListener(tmp, 100);
  const conn = await connect(l.address);
  const ns = conn.bootstrap(Namespace);
  try {
    const fork = (await ns.fork().promise()).ns;
    const used = l.owner().quota.used;
    // One write: the call, then the Release of the capability it was made on.
    const call = bindPath(fork, '/tmp/d', '/x');
    release(fork);
    assert.ok((await call.promise()).result._isOk, 'the call made before the release completes');
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // The fork (its /tmp and its /x) is closed; the namespace's own /tmp is all that counts.
    assert.equal(l.owner().quota.used, used - 1, "the released fork's bindings are still charged");
  } finally {
    release(ns);
    await conn.close();
    await l.close();
  }
  for (let i = 0; i < 100 && liveLocalObjects() !== baseline; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(liveLocalObjects(), baseline, 'a capability bound by the in-flight call outlived the connection');
});

test("a connection's grants leave the table when it ends, after a bindPath in flight on a released fork; the next client is admitted", async () => {
  // Room for one connection's grants at a time: a grant kept past its connection's end
  // would refuse every later client.
  const captable = new CapabilityTable({ maxGrants: 1 });
  const tmp = await tmpServer();
  const profile = new MountTable<Client>();
  profile.bind('/tmp', { cap: tmp, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'tmp' }, { create: true });
  const profiles: GateProfile[] = [{ name: 'alice', tokens: ['alice-secret'], loopback: false, table: profile }];
  let n = 0;
  const listener = await listen('127.0.0.1:0', {
    bootstrap: (peer) => serveGate({ profiles, captable, connection: `rpc#${++n}`, peerIsLoopback: true, peer }),
  });
  const authenticate = async (address: string) => {
    const conn = await connect(address);
    const gate = conn.bootstrap(Gate);
    const r = (await gate.authenticate((p) => (p.token = 'alice-secret')).promise()).result;
    return { conn, gate, r };
  };
  try {
    const a = await authenticate(listener.address);
    assert.ok(a.r._isOk);
    const ns = a.r.ok.ns;
    assert.equal(captable.list('alice@rpc#1').length, 1);
    const fork = (await ns.fork().promise()).ns;
    const call = bindPath(fork, '/tmp/d', '/x');
    release(fork);
    assert.ok((await call.promise()).result._isOk);
    release(ns);
    release(a.gate);
    await a.conn.close();
    for (let i = 0; i < 100 && captable.list('alice@rpc#1').length > 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(captable.list('alice@rpc#1').map((g) => g.label), [], 'grants of rpc#1 outlived its connection');
    const b = await authenticate(listener.address);
    assert.ok(b.r._isOk, `the next client was refused: ${b.r._isErr ? b.r.err.message : ''}`);
    release(b.r.ok.ns);
    release(b.gate);
    await b.conn.close();
  } finally {
    await listener.close();
    release(tmp);
  }
});

test('no connection holds more than maxBinds bindings, whatever a released fork was doing when it closed (a replace in flight)', async () => {
  const MAX = 10;
  const tmp = await tmpServer();
  const l = await namespaceListener(tmp, MAX);
  const conn = await connect(l.address);
  const ns = conn.bootstrap(Namespace);
  try {
    const fork = (await ns.fork().promise()).ns;
    // The fork fills the budget with a union at /y: the namespace 1, the fork 1 + 8.
    for (let i = 0; i < MAX - 2; i++) assert.ok((await bindPath(fork, '/tmp', '/y').promise()).result._isOk);
    assert.equal(l.owner().quota.used, MAX);
    // Replace the union by one binding, and let go of the fork in the same write.
    const call = bindPath(fork, '/tmp/d', '/y', Position.REPLACE);
    release(fork);
    await call.promise();
    // What the namespace can bind now: the budget less the one binding it holds.
    let bound = 0;
    while (bound < 2 * MAX && (await bindPath(ns, '/tmp', `/z${bound}`, Position.REPLACE).promise()).result._isOk) bound++;
    assert.equal(1 + bound, MAX, `the connection holds ${1 + bound} bindings against its maxBinds of ${MAX}`);
  } finally {
    release(ns);
    await conn.close();
    await l.close();
  }
});
