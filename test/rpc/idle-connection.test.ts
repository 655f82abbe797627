/**
 * What an idle accepted connection keeps, and what it must still do (issue 21): its
 * tables are made at their first entry (until then one empty table is shared by every
 * connection), the connections of a listener share one envelope and one message pool,
 * and the peer's address is read only when asked for, or as the connection ends.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Callback, type Callback$Server$Target, Counter, Test } from '../fixtures/rpc/gen/test.js';
import type * as T from '../fixtures/rpc/gen/test.js';
import { type Peer, RpcConnection, connect, listen, release, serve } from '../../src/rpc/index.js';
import { until } from './harness.js';
import { CounterImpl, ServerState, serveTest } from './test-impl.js';

class Upper implements Callback$Server$Target {
  async call(p: T.Callback_Call$Params, r: T.Callback_Call$Results): Promise<void> {
    r.result = p.value.toUpperCase();
  }
}

const EMPTY = { questions: 0, answers: 0, imports: 0, exports: 0, embargoes: 0 };

test('every table of a server connection is its own from its first entry: another connection of the listener sees none of it, and at close all of it is emptied and released', async (t) => {
  const state = new ServerState();
  const serverConns: RpcConnection[] = [];
  const listener = await listen('127.0.0.1:0', { bootstrap: () => serveTest(state), onConnection: (c) => serverConns.push(c) });
  t.after(() => listener.close());
  const busy = await connect(listener.address);
  const idle = await connect(listener.address);
  t.after(() => idle.close());
  const bt = busy.bootstrap(Test);
  const it = idle.bootstrap(Test);
  assert.equal((await it.echo((p) => { p.text = 'idle'; }).promise()).text, 'idle');
  // The busy connection fills every table of its server side: exports (a Counter),
  // imports (a capability the server holds), questions (a call back to the client).
  const counter = (await bt.newCounter((p) => { p.start = 5n; }).promise()).counter;
  const local = new ServerState();
  const held = serve(Counter, new CounterImpl(local, 0n));
  await bt.hold((p) => { p.cap = held; }).promise();
  release(held);
  const cb = serve(Callback, new Upper());
  const slow = bt.callBack((p) => { p.cb = cb; p.value = 'abc'; }).promise();
  assert.equal((await slow).result, 'ABC');
  release(cb);
  await until(() => serverConns.length === 2, 'both accepted');
  const [busyServer, idleServer] = serverConns as [RpcConnection, RpcConnection];
  const s = busyServer.stats();
  assert.ok(s.exports >= 2 && s.imports >= 1, `the busy server connection holds exports and imports: ${JSON.stringify(s)}`);
  assert.deepEqual(idleServer.stats(), { ...EMPTY, exports: 1 }, 'the idle one only its bootstrap');
  assert.equal(state.liveCounters, 1);
  // At close: every entry of the busy side is released (the server's Counter disposed,
  // the held client Counter released back to the client), the idle side is untouched.
  release(counter);
  release(bt);
  await busy.close();
  await until(() => busyServer.closed, 'server side closed');
  assert.deepEqual(busyServer.stats(), EMPTY);
  await until(() => state.liveCounters === 0, 'the server Counter disposed');
  await until(() => local.liveCounters === 0, 'the held client Counter released');
  assert.deepEqual(idleServer.stats(), { ...EMPTY, exports: 1 });
  assert.equal((await it.echo((p) => { p.text = 'still'; }).promise()).text, 'still');
  release(it);
});

test('connections of one listener share its envelope and message pool: concurrent calls on many connections each get their own results', async (t) => {
  const state = new ServerState();
  const listener = await listen('127.0.0.1:0', { bootstrap: () => serveTest(state) });
  t.after(() => listener.close());
  const conns = await Promise.all(Array.from({ length: 8 }, () => connect(listener.address)));
  t.after(() => Promise.all(conns.map((c) => c.close())));
  const clients = conns.map((c) => c.bootstrap(Test));
  const results = await Promise.all(
    clients.flatMap((c, i) =>
      Array.from({ length: 25 }, async (_, j) => {
        const text = `${i}:${j}:${'x'.repeat((i * 97 + j * 31) % 700)}`;
        const r = await c.echo((p) => { p.text = text; }).promise();
        const n = (await c.add((p) => { p.a = BigInt(i); p.b = BigInt(j); }).promise()).sum;
        return r.text === text && n === BigInt(i + j);
      }),
    ),
  );
  assert.equal(results.filter((ok) => !ok).length, 0);
  for (const c of clients) release(c);
});

/** A client connection over a socket of our own, so that its local port is known. */
async function dial(port: number): Promise<{ conn: RpcConnection; port: number }> {
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  return { conn: new RpcConnection(sock), port: sock.localPort! };
}

test('the peer address of an accepted connection is known after the connection ends, whether or not it was read before', async (t) => {
  const state = new ServerState();
  const peers: Peer[] = [];
  const serverConns: RpcConnection[] = [];
  const listener = await listen('127.0.0.1:0', {
    bootstrap: (peer) => {
      peers.push(peer);
      return serveTest(state);
    },
    onConnection: (c) => serverConns.push(c),
  });
  t.after(() => listener.close());
  const port = Number(listener.address.split('!').pop());
  const a = await dial(port);
  const b = await dial(port);
  for (const c of [a, b]) {
    const test = c.conn.bootstrap(Test);
    await test.echo((p) => { p.text = 'hi'; }).promise();
    release(test);
  }
  await until(() => peers.length === 2, 'both bootstrapped');
  const [pa, pb] = peers as [Peer, Peer];
  // Read while open (a), or only after the end (b); which client is which by its port.
  const addressA = pa.address;
  assert.ok(addressA === `tcp!127.0.0.1!${a.port}` || addressA === `tcp!127.0.0.1!${b.port}`, addressA);
  await a.conn.close();
  await b.conn.close();
  await until(() => serverConns.every((c) => c.closed), 'server sides closed');
  await Promise.all(serverConns.map((c) => c.socketClosed()));
  assert.equal(pa.address, addressA);
  const ports = [a.port, b.port].map((p) => `tcp!127.0.0.1!${p}`);
  assert.deepEqual([pa.address, pb.address].sort(), ports.sort());
  assert.equal(pa.loopback, true);
  assert.equal(pb.loopback, true);
});
