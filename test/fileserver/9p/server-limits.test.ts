/**
 * The 9P listener against peers that hold its slots: connections that never finish the
 * handshake, connections left idle, and an admission policy shared with other listeners.
 * Each test shows the limit hit and a well-behaved client unaffected.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { NinepClient } from '../../support/ninep-client.js';
import { startServer } from './harness.js';

/** Resolves with how long `socket` stayed open, once it closes (rejects after `limitMs`). */
function closedWithin(socket: net.Socket, limitMs: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
  });
}

test('handshake timeout: a connection silent since accept, or versioned but never attached, is closed; an attached one stays', async (t) => {
  const h = await startServer(t, { handshakeTimeoutMs: 150 });
  const port = h.address.kind === 'tcp' ? h.address.port : 0;
  const silent = await rawConnect(port);
  const versioned = await NinepClient.open(h.address, '9P2000.L', 8192);
  const good = await h.client('9P2000.L');
  const { fid } = await good.attach();
  const [silentMs] = await Promise.all([closedWithin(silent, 5000), versioned.closedP()]);
  assert.ok(silentMs >= 100, `closed after ${silentMs} ms, before the deadline`);
  assert.ok(h.logs.some((l) => /no Tversion and Tattach within 150 ms/.test(l)), h.logs.join('\n'));
  // Well past the deadline, the attached client is served as before.
  await new Promise((r) => setTimeout(r, 300));
  const f = await good.walk(fid, []);
  await good.clunk(f);
  await good.clunk(fid);
});

test('idle timeout: a connection quiet for idleTimeoutMs with nothing in flight is closed; a busy one is not', async (t) => {
  const h = await startServer(t, { handshakeTimeoutMs: 0, idleTimeoutMs: 200 });
  const idle = await h.client('9P2000.L');
  await idle.attach();
  const busy = await h.client('9P2000.L');
  const { fid } = await busy.attach();
  const t0 = Date.now();
  // The busy client walks every 50 ms for twice the idle time.
  while (Date.now() - t0 < 400) {
    const f = await busy.walk(fid, []);
    await busy.clunk(f);
    await new Promise((r) => setTimeout(r, 50));
  }
  await idle.closedP();
  assert.ok(Date.now() - t0 >= 150);
  assert.ok(h.logs.some((l) => /idle for 200 ms/.test(l)), h.logs.join('\n'));
  const f = await busy.walk(fid, []);
  await busy.clunk(f);
  await busy.clunk(fid);
});

test('admit: a refusing policy closes the connection at once and the server logs nothing of its own; admitted ones are released when they close', async (t) => {
  let open = 0;
  const released: string[] = [];
  const h = await startServer(t, {
    admit: (peer) => {
      if (open >= 1) return { refused: 'budget spent' };
      open++;
      return { release: () => (open--, released.push(peer)) };
    },
  });
  const first = await h.client('9P2000');
  const second = await NinepClient.connect(h.address);
  await second.closedP();
  assert.ok(!h.logs.some((l) => /refused/.test(l)), h.logs.join('\n'));
  const { fid } = await first.attach();
  await first.clunk(fid);
  await first.close();
  for (let i = 0; i < 100 && released.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(released.length, 1);
  // The slot is free again.
  const third = await h.client('9P2000');
  const a = await third.attach();
  await third.clunk(a.fid);
});

test('refusals over maxConnections are logged at a bounded rate, not one line each', async (t) => {
  const h = await startServer(t, { maxConnections: 1 });
  const first = await h.client('9P2000');
  const port = h.address.kind === 'tcp' ? h.address.port : 0;
  for (let i = 0; i < 50; i++) {
    const s = await rawConnect(port);
    await closedWithin(s, 5000);
  }
  const refusals = h.logs.filter((l) => l.includes('refused'));
  assert.equal(refusals.length, 1, refusals.join('\n'));
  const { fid } = await first.attach();
  await first.clunk(fid);
});
