/**
 * Sockets read where the connection says (DirectReads, net's `onread`; accepted sockets
 * too, through src/accepted-reads.ts). The cases `connect()` cannot show on its own:
 * bytes that arrive before the connection exists are not lost, and large results land in
 * their segment intact however the stream is cut.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DirectReads } from '../../src/rpc/connection.js';
import { FrameReader, RpcConnection, connect, listen, release } from '../../src/rpc/index.js';
import { Test } from '../fixtures/rpc/gen/test.js';
import { RpcMessage, buildFrame, readFrame } from './raw-peer.js';
import { ServerState, serveTest } from './test-impl.js';

test('bytes read before the connection attaches reach it: a Bootstrap sent at once is answered', { timeout: 10_000 }, async (t) => {
  // A raw peer that asks for our bootstrap capability the moment we connect.
  let answered: (m: RpcMessage) => void;
  const gotReturn = new Promise<RpcMessage>((resolve) => (answered = resolve));
  const raw = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    raw.add(sock);
    sock.on('error', () => {});
    sock.write(buildFrame((m) => {
      m._initBootstrap().questionId = 0;
    }));
    const reader = new FrameReader({ maxMessageBytes: 1 << 20, maxSegments: 16 });
    sock.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        const m = readFrame(f);
        if (m.which() === RpcMessage.RETURN) answered(m);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of raw) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as net.AddressInfo).port;

  const reads = new DirectReads();
  const sock = net.connect({ port, host: '127.0.0.1', onread: reads.onread });
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  // Let the Bootstrap arrive and be read while no connection is there to take it.
  await sleep(100);
  const state = new ServerState();
  const conn = new RpcConnection(sock, { reads, bootstrap: () => serveTest(state), name: 'late' });
  t.after(() => conn.destroy());
  const r = await gotReturn;
  assert.equal(r.return.answerId, 0);
  assert.equal(r.return.which(), 0, 'results, not an exception');
});

test('64 KiB and 1 MiB results read through a dialled socket arrive intact, many in a row', async (t) => {
  const state = new ServerState();
  const listener = await listen('127.0.0.1:0', { bootstrap: () => serveTest(state) });
  t.after(() => listener.close());
  const conn = await connect(listener.address);
  t.after(() => conn.close());
  const test = conn.bootstrap(Test);
  t.after(() => release(test));
  for (const size of [65536, 1 << 20, 100, 65536 + 8, 3 * 65536]) {
    // Several at once too, so frames follow each other in the stream.
    const rs = await Promise.all(
      [0, 1, 2].map(() => test.data((p) => { p.size = size; }).promise()),
    );
    for (const r of rs) {
      const d = r.data.toUint8Array();
      assert.equal(d.length, size);
      for (let i = 0; i < d.length; i += 997) {
        if (d[i] !== ((i * 7 + 3) & 0xff)) assert.fail(`size ${size}: byte ${i} is ${d[i]}`);
      }
      assert.equal(d[d.length - 1], ((d.length - 1) * 7 + 3) & 0xff);
    }
  }
});
