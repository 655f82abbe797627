/**
 * `capns serve`'s connection limits against peers that only open sockets: each listener
 * (rpc, 9p, http, export) holds at most limits.maxConnections, the process at most
 * limits.maxConnectionsTotal; a refused connection is closed at once (HTTP: a 503); and
 * clients already in, and other listeners, keep working.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { parseAddress } from '../../src/address.js';
import { Gate } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { connect, release } from '../../src/rpc/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { NinepClient } from '../support/ninep-client.js';

/** A logger whose lines the test can read. */
function capturedLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines: () => lines };
}

const MANIFEST = (limits: string, extra = ''): string => `version: 1
capabilities:
  tmp: { type: ram }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: 9p, address: "tcp!127.0.0.1!0" }
  - { protocol: http, address: "tcp!127.0.0.1!0" }
${extra}limits:
${limits}`;

async function start(t: TestContext, text: string): Promise<{ server: CapnsServer; lines: () => Record<string, unknown>[]; at: (p: string) => string }> {
  const { logger, lines } = capturedLogger();
  const server = await startCapnsServer({ manifest: parseManifest(text, { file: 'limits.yaml', env: {} }), logger, drainMs: 500 });
  t.after(() => server.close());
  const at = (protocol: string): string => {
    const a = server.addresses.find((x) => x.protocol === protocol);
    assert.ok(a, `no ${protocol} listener`);
    return a.address;
  };
  return { server, lines, at };
}

function port(address: string): number {
  const a = parseAddress(address);
  assert.equal(a.kind, 'tcp');
  return a.kind === 'tcp' ? a.port : 0;
}

/** Opens a socket that sends nothing; resolves once connected. */
function idle(t: TestContext, address: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: port(address) }, () => resolve(s));
    s.on('error', reject);
    t.after(() => s.destroy());
  });
}

/** Resolves true if `s` is closed by the server within `ms`, false if it stays open. */
function closedWithin(s: net.Socket, ms: number): Promise<boolean> {
  if (s.closed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.resume();
  });
}

/** A real RPC client: connect, authenticate as the loopback profile, list /. */
async function rpcWorks(address: string): Promise<void> {
  const conn = await connect(address);
  try {
    const gate = conn.bootstrap(Gate);
    const r = (await gate.authenticate((p) => (p.token = '')).promise()).result;
    assert.ok(r._isOk, r._isErr ? r.err.message : '');
    const ns = r.ok.ns;
    const listed = (await ns.list((p) => (p.path = '/')).promise()).result;
    assert.deepEqual(listed.entries.map((e) => e.name), ['tmp']);
    release(ns);
    release(gate);
  } finally {
    await conn.close();
  }
}

async function ninepWorks(address: string): Promise<void> {
  const c = await NinepClient.open(parseAddress(address), '9P2000.L', 8192);
  const { fid } = await c.attach();
  await c.clunk(fid);
  await c.close();
}

async function httpStatus(address: string, path = '/api/v1/whoami'): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port(address)}${path}`);
  await r.arrayBuffer();
  return r.status;
}

/** An authenticated RPC client (an established connection), closed after the test. */
async function rpcClient(t: TestContext, address: string): Promise<{ list: () => Promise<string[]>; close: () => Promise<void> }> {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => (p.token = '')).promise()).result;
  assert.ok(r._isOk);
  const ns = r.ok.ns;
  const close = async (): Promise<void> => {
    release(ns);
    release(gate);
    await conn.close();
  };
  t.after(close);
  return { list: async () => (await ns.list((p) => (p.path = '/')).promise()).result.entries.map((e) => e.name), close };
}

/** An attached 9P client (an established connection), closed after the test. */
async function ninepClient(t: TestContext, address: string): Promise<NinepClient> {
  const c = await NinepClient.open(parseAddress(address), '9P2000.L', 8192);
  t.after(() => c.close());
  const { fid } = await c.attach();
  await c.clunk(fid);
  return c;
}

/** A kept-alive HTTP connection that has had a request answered (established). */
async function httpKept(t: TestContext, address: string): Promise<net.Socket> {
  const s = await idle(t, address);
  s.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port(address)}\r\n\r\n`);
  const answer = await new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
  assert.match(answer, /^HTTP\/1\.1 200/);
  return s;
}

const msgs = (lines: () => Record<string, unknown>[]): string[] => lines().map((l) => String(l['msg']));

test('maxConnections holds on the rpc listener: with every place held by an authenticated client, a newcomer is closed at once; clients in and other listeners are unaffected', async (t) => {
  const { at, lines } = await start(t, MANIFEST('  maxConnections: 3\n'));
  const rpc = at('rpc');
  const clients = [await rpcClient(t, rpc), await rpcClient(t, rpc), await rpcClient(t, rpc)];
  const over = await idle(t, rpc);
  assert.equal(await closedWithin(over, 2000), true, 'the connection over the limit stayed open');
  for (const c of clients) assert.deepEqual(await c.list(), ['tmp']);
  await ninepWorks(at('9p'));
  assert.equal(await httpStatus(at('http')), 200);
  assert.ok(msgs(lines).some((m) => /^refused a connection: rpc tcp!127\.0\.0\.1!\d+ is at its limit of 3 connections \(limits\.maxConnections\), every one of them established$/.test(m)), msgs(lines).join('\n'));
  // A place freed is a place taken again.
  await clients[0]!.close();
  for (let i = 0; ; i++) {
    try {
      await rpcWorks(rpc);
      break;
    } catch (e) {
      if (i === 100) throw e;
      await new Promise((res) => setTimeout(res, 20));
    }
  }
});

test('maxConnections holds on the http listener: with every place held by a kept-alive client, a 503 with Retry-After and the JSON error body; the rpc listener is unaffected', async (t) => {
  const { at } = await start(t, MANIFEST('  maxConnections: 2\n'));
  const http = at('http');
  await httpKept(t, http);
  await httpKept(t, http);
  const r = await fetch(`http://127.0.0.1:${port(http)}/api/v1/whoami`);
  assert.equal(r.status, 503);
  assert.equal(r.headers.get('retry-after'), '1');
  const body = (await r.json()) as { statusCode: number; code: string; message: string };
  assert.equal(body.code, 'NS_ERR_BUSY');
  assert.match(body.message, /http tcp!127\.0\.0\.1!\d+ is at its limit of 2 connections/);
  // A large upload that arrives over the limit gets its 503 too, not a reset.
  const put = await fetch(`http://127.0.0.1:${port(http)}/api/v1/files?path=/tmp/x`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(1 << 20) });
  assert.equal(put.status, 503);
  await rpcWorks(at('rpc'));
});

test('maxConnections holds on the 9p listener, and on an export; each refuses only its own', async (t) => {
  const { at } = await start(
    t,
    MANIFEST('  maxConnections: 1\n', 'exports:\n  - { profile: local, listen: "tcp!127.0.0.1!0", auth: { loopback: true } }\n'),
  );
  const ninep = at('9p');
  const holder = await ninepClient(t, ninep);
  assert.equal(await closedWithin(await idle(t, ninep), 2000), true);
  const { fid } = await holder.attach();
  await holder.clunk(fid);
  const exp = at('export');
  const importer = await rpcClient(t, exp);
  assert.equal(await closedWithin(await idle(t, exp), 2000), true);
  assert.deepEqual(await importer.list(), ['tmp']);
  await rpcWorks(at('rpc'));
  assert.equal(await httpStatus(at('http')), 200);
});

test('sockets that never establish themselves cannot keep a real client out: once evictAfterMs old, the oldest is evicted to admit the newcomer (rpc, 9p, http, export)', async (t) => {
  const { at, lines } = await start(t, MANIFEST('  maxConnections: 3\n  evictAfterMs: 200\n', 'exports:\n  - { profile: local, listen: "tcp!127.0.0.1!0", auth: { loopback: true } }\n'));
  for (const protocol of ['rpc', '9p', 'http', 'export'] as const) {
    const address = at(protocol);
    const squatters = [await idle(t, address), await idle(t, address), await idle(t, address)];
    await new Promise((r) => setTimeout(r, 250));
    const closed = squatters.map((s) => closedWithin(s, 3000));
    if (protocol === '9p') await ninepWorks(address);
    else if (protocol === 'http') assert.equal(await httpStatus(address), 200);
    else if (protocol === 'rpc') await rpcWorks(address);
    else assert.deepEqual(await (await rpcClient(t, address)).list(), ['tmp']);
    // The oldest squatter gave its place; the others still hold theirs.
    assert.equal(await closed[0], true, `${protocol}: the oldest squatter is still open`);
    assert.equal(squatters[1]!.closed || squatters[2]!.closed, false);
  }
  for (const protocol of ['rpc', '9p', 'http', 'export']) {
    const re = new RegExp(`^${protocol} tcp!127\\.0\\.0\\.1!\\d+: evicted after \\d+ ms without authenticating, to admit a newer connection`);
    assert.ok(msgs(lines).some((m) => re.test(m)), `${protocol}: ${msgs(lines).join('\n')}`);
  }
});

test('an admitted connection has evictAfterMs to establish itself; a flood meanwhile is closed at accept, counted in the refusal log; the door opens when a place is given back, or when the oldest may be evicted (rpc, 9p, http, export)', async (t) => {
  const { at, lines, server } = await start(t, MANIFEST('  maxConnections: 2\n  evictAfterMs: 1500\n', 'exports:\n  - { profile: local, listen: "tcp!127.0.0.1!0", auth: { loopback: true } }\n'));
  const count = async (n: number): Promise<void> => {
    for (let i = 0; i < 500 && server.connectionCount !== n; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.connectionCount, n, `connections open, wanted ${n}`);
  };
  for (const protocol of ['rpc', '9p', 'http', 'export'] as const) {
    const address = at(protocol);
    const t0 = Date.now();
    const [a, b] = [await idle(t, address), await idle(t, address)];
    await count(2);
    // Young squatters keep their places: the newcomers of a flood are all closed at once.
    // The first two are refused as the budget admits them (an HTTP one gets its 503); the
    // second shuts the door, and the rest are closed as they are accepted (no 503).
    let answered = 0;
    for (let i = 0; i < 30; i++) {
      const s = await idle(t, address);
      s.once('data', () => answered++);
      assert.equal(await closedWithin(s, 1000), true, `${protocol}: newcomer ${i} was admitted`);
    }
    if (protocol === 'http') assert.equal(answered, 2, 'http: newcomers answered 503');
    assert.equal(a.closed || b.closed, false, `${protocol}: a squatter younger than evictAfterMs was evicted`);
    // A place given back opens the door at once: a newcomer takes it, evicting no one.
    a.destroy();
    await count(1);
    const c = await idle(t, address);
    await count(2);
    assert.equal(await closedWithin(c, 200), false, `${protocol}: the newcomer after a place was given back was closed`);
    assert.equal(b.closed, false);
    assert.ok(Date.now() - t0 < 1500, `${protocol}: took ${Date.now() - t0} ms; the test needs this within evictAfterMs`);
    // Once the oldest (b) has had its time, a real client gets in, in its place; c, younger, stays.
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1600 - Date.now())));
    const gone = closedWithin(b, 3000);
    if (protocol === '9p') await ninepWorks(address);
    else if (protocol === 'http') assert.equal(await httpStatus(address), 200);
    else if (protocol === 'rpc') await rpcWorks(address);
    else {
      const importer = await rpcClient(t, address);
      assert.deepEqual(await importer.list(), ['tmp']);
      await importer.close();
    }
    assert.equal(await gone, true, `${protocol}: the oldest squatter was not evicted`);
    assert.equal(c.closed, false, `${protocol}: the younger squatter was evicted`);
    c.destroy();
    await count(0);
  }
  // Each flood is in the log as refusals, summed up (at the latest when the server closes).
  await server.close();
  for (const protocol of ['rpc', '9p', 'http', 'export']) {
    const refused = lines().filter((l) => new RegExp(`^refused a connection(?: from \\S+)?: ${protocol} tcp!127\\.0\\.0\\.1!\\d+ is at its limit of 2 connections \\(limits\\.maxConnections\\), and none of those not yet established has had limits\\.evictAfterMs \\(1500 ms\\) to do so`).test(String(l['msg'])));
    const n = refused.reduce((sum, l) => sum + Number(l['refused']), 0);
    assert.equal(n, 30, `${protocol}: ${refused.map((l) => String(l['msg'])).join('\n')}`);
  }
});

test('a listener evicts at most one connection per evictAfterMs / maxConnections: places come of age together, and turn over one at a time', async (t) => {
  // 4 places, 800 ms: one eviction per 200 ms at most.
  const { at, lines } = await start(t, MANIFEST('  maxConnections: 4\n  evictAfterMs: 800\n'));
  const rpc = at('rpc');
  const squatters = [await idle(t, rpc), await idle(t, rpc), await idle(t, rpc), await idle(t, rpc)];
  await new Promise((r) => setTimeout(r, 850));
  // Every squatter may be evicted now, but three newcomers at once evict only one.
  const newcomers = [await idle(t, rpc), await idle(t, rpc), await idle(t, rpc)];
  const newcomerClosed = await Promise.all(newcomers.map((s) => closedWithin(s, 150)));
  assert.deepEqual(newcomerClosed, [false, true, true]);
  assert.deepEqual(await Promise.all(squatters.map((s) => closedWithin(s, 0))), [true, false, false, false]);
  assert.ok(msgs(lines).some((m) => /it evicts one connection not yet established per 200\.0 ms at most \(limits\.evictAfterMs \/ limits\.maxConnections\)$/.test(m)), msgs(lines).join('\n'));
  // The pace past, the next newcomer evicts the next oldest.
  await new Promise((r) => setTimeout(r, 250));
  const next = await idle(t, rpc);
  assert.equal(await closedWithin(next, 150), false);
  assert.equal(await closedWithin(squatters[1]!, 1000), true);
  assert.equal(squatters[2]!.closed || squatters[3]!.closed, false);
});

test('maxConnectionsTotal holds across listeners: established clients keep their places, the oldest squatter anywhere gives its own', async (t) => {
  // evictAfterMs 0: a squatter may be evicted as soon as it is admitted (a second ago, the default, it could not).
  const { at, server, lines } = await start(t, MANIFEST('  maxConnections: 100\n  maxConnectionsTotal: 4\n  evictAfterMs: 0\n'));
  await rpcClient(t, at('rpc'));
  await rpcClient(t, at('rpc'));
  await ninepClient(t, at('9p'));
  const kept = await httpKept(t, at('http'));
  for (let i = 0; i < 100 && server.connectionCount < 4; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(server.connectionCount, 4);
  // Every listener refuses now, each saying why.
  assert.equal(await closedWithin(await idle(t, at('rpc')), 2000), true);
  assert.equal(await closedWithin(await idle(t, at('9p')), 2000), true);
  assert.equal(await httpStatus(at('http')), 503);
  assert.ok(msgs(lines).some((m) => m.includes('the process is at its limit of 4 connections (limits.maxConnectionsTotal), every one of them established')));
  // One established place given back, a squatter on 9p takes it; an HTTP client then
  // takes the squatter's.
  kept.destroy();
  for (let i = 0; i < 100 && server.connectionCount > 3; i++) await new Promise((r) => setTimeout(r, 10));
  const squatter = await idle(t, at('9p'));
  for (let i = 0; i < 100 && server.connectionCount < 4; i++) await new Promise((r) => setTimeout(r, 10));
  const gone = closedWithin(squatter, 3000);
  assert.equal(await httpStatus(at('http')), 200);
  assert.equal(await gone, true);
});

test('a flood of refused connections is logged at a bounded rate, with the count', async (t) => {
  const { at, lines, server } = await start(t, MANIFEST('  maxConnections: 1\n'));
  const rpc = at('rpc');
  await rpcClient(t, rpc);
  for (let i = 0; i < 200; i++) assert.equal(await closedWithin(await idle(t, rpc), 2000), true);
  const refusals = (): Record<string, unknown>[] => lines().filter((l) => String(l['msg']).startsWith('refused a connection'));
  assert.equal(refusals().length, 1, `${refusals().length} lines for 200 refusals`);
  // The rest are summed up in one line (at the latest when the server closes).
  await server.close();
  assert.equal(refusals().length, 2);
  assert.equal(refusals()[1]!['refused'], 199);
  assert.match(String(refusals()[1]!['msg']), /\(199 like this since the last such line\)$/);
});

test('http timeouts: a socket that sends no request, or half a request, is closed after headersTimeoutMs; a kept-alive one after keepAliveTimeoutMs', async (t) => {
  const { at } = await start(t, MANIFEST('  http: { headersTimeoutMs: 300, keepAliveTimeoutMs: 300 }\n'));
  const http = at('http');
  const silent = await idle(t, http);
  const half = await idle(t, http);
  half.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const t0 = Date.now();
  assert.equal(await closedWithin(silent, 3000), true, 'the silent socket stayed open');
  assert.equal(await closedWithin(half, 3000), true, 'the half request stayed open');
  assert.ok(Date.now() - t0 >= 250);
  // Kept alive after a request, then quiet: closed too.
  const kept = await idle(t, http);
  kept.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port(http)}\r\n\r\n`);
  const answer = await new Promise<string>((resolve) => kept.once('data', (d: Buffer) => resolve(d.toString())));
  assert.match(answer, /^HTTP\/1\.1 200/);
  assert.equal(await closedWithin(kept, 3000), true, 'the kept-alive socket stayed open');
  assert.equal(await httpStatus(http, '/healthz'), 200);
});
