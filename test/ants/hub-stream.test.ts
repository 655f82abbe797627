/**
 * Reads that never end: a hub channel followed by `capns cat` (a real CLI process) and
 * over HTTP (GET /api/v1/files and the JSON gateway), and what a client that goes away
 * leaves behind on the server: nothing.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { connect, type CapnsClient } from '../../src/client/index.js';
import { parseManifest } from '../../src/manifest/index.js';
import { startCapnsServer } from '../../src/server/capns-server.js';
import { root, tsx } from '../client/serve-process.js';

/** maxWaiting 4: a handful of vanished readers would fill a channel's slots if they stayed. */
const MAX_WAITING = 4;
const MANIFEST = `
version: 1
capabilities:
  aes: { type: hub, channels: [chan, other], maxWaiting: ${MAX_WAITING} }
  aesfs: { type: hubfs, hub: aes }
  tmp: { type: ram }
profiles:
  grid:
    auth: { tokens: [grid] }
    namespace:
      - { mount: aesfs, at: /n/aes }
      - { mount: aes, at: /svc/aes }
      - { mount: tmp, at: /tmp, create: true }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: http, address: "tcp!127.0.0.1!0" }
`;

interface World {
  rpc: string;
  http: { host: string; port: number; base: string };
  c: CapnsClient;
}

async function world(t: TestContext): Promise<World> {
  const server = await startCapnsServer({ manifest: parseManifest(MANIFEST, { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => server.close());
  const at = (p: string): string => server.addresses.find((a) => a.protocol === p)!.address;
  const [, host, port] = at('http').split('!') as [string, string, string];
  const c = await connect(at('rpc'), { token: 'grid' });
  t.after(() => c.close());
  return { rpc: at('rpc'), http: { host, port: Number(port), base: `http://${host}:${port}` }, c };
}

/** The hub's readers of each channel, as its ctl file says (open files and waiting typed reads). */
async function readers(c: CapnsClient): Promise<Record<string, number>> {
  const text = Buffer.from(await c.readFile('/n/aes/ctl')).toString();
  return Object.fromEntries(text.trim().split('\n').map((l) => [l.split(' ')[0]!, Number(/readers=(\d+)/.exec(l)![1])]));
}

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const write = (c: CapnsClient, chan: string, text: string): Promise<void> => c.writeFile(`/n/aes/${chan}`, Buffer.from(text));

/** `capns cat ARGS` as a real process; its stdout collected. */
function cat(t: TestContext, rpc: string, args: string[]): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'src/cli/main.ts'), 'cat', '--server', rpc, '--token', 'grid', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exit;
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err, exit };
}

test('capns cat prints each write to a hub channel as it arrives; SIGINT ends it with 130 and frees its reader', async (t) => {
  const w = await world(t);
  await w.c.writeFile('/tmp/plain', Buffer.from('an ordinary file\n'));
  const p = cat(t, w.rpc, ['/tmp/plain', '/n/aes/chan']);
  // The ordinary file is printed whole and cat goes on to the channel, which it follows.
  await until('cat to follow the channel', async () => (await readers(w.c))['chan'] === 1);
  assert.equal(p.out(), 'an ordinary file\n');
  await write(w.c, 'chan', 'hello\n');
  await until('the first write on stdout', () => p.out().endsWith('hello\n'));
  await write(w.c, 'chan', 'world\n');
  await until('the second write on stdout', () => p.out().endsWith('world\n'));
  p.child.kill('SIGINT');
  assert.equal(await p.exit, 130, p.err());
  assert.equal(p.out(), 'an ordinary file\nhello\nworld\n');
  assert.equal(p.err(), '');
  assert.equal((await readers(w.c))['chan'], 0, 'the read cat was waiting in was cancelled and its file closed');
});

test("capns cat ends with 0 when the channel is removed, and with 0 when its stdout's reader goes away", async (t) => {
  const w = await world(t);
  const p = cat(t, w.rpc, ['/n/aes/chan']);
  await until('cat to follow chan', async () => (await readers(w.c))['chan'] === 1);
  await write(w.c, 'chan', 'bye\n');
  await until('the write on stdout', () => p.out() === 'bye\n');
  await w.c.writeFile('/n/aes/ctl', Buffer.from('remove chan\n'));
  assert.equal(await p.exit, 0, p.err());
  assert.equal(p.out(), 'bye\n');

  // `capns cat /n/aes/other | head -c 3`: head exits, cat's next write fails (EPIPE).
  const q = cat(t, w.rpc, ['/n/aes/other']);
  await until('cat to follow other', async () => (await readers(w.c))['other'] === 1);
  await write(w.c, 'other', 'abc');
  await until('the write on stdout', () => q.out() === 'abc');
  q.child.stdout!.destroy();
  // Writes until cat notices: the pipe may take one more write before it fails.
  const exited = await Promise.race([q.exit, (async () => {
    for (let i = 0; i < 200 && q.child.exitCode === null; i++) {
      await write(w.c, 'other', 'more');
      await new Promise((r) => setTimeout(r, 25));
    }
    return q.exit;
  })()]);
  assert.equal(exited, 0, q.err());
  assert.equal(q.err(), '');
  await until('its reader to go', async () => (await readers(w.c))['other'] === 0);
});

/** Sends one raw HTTP request on a socket of its own and returns the socket (nothing read). */
async function startRequest(w: World, method: string, path: string, body?: string): Promise<Socket> {
  const s = netConnect(w.http.port, w.http.host);
  await new Promise<void>((ok, fail) => s.once('connect', ok).once('error', fail));
  s.on('error', () => {});
  const head = [`${method} ${path} HTTP/1.1`, `Host: ${w.http.host}:${w.http.port}`, 'Authorization: Bearer grid'];
  if (body !== undefined) head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  s.write(head.join('\r\n') + '\r\n\r\n' + (body ?? ''));
  return s;
}

test('HTTP clients that start a channel read and vanish leave no read waiting; a real reader still gets data (maxWaiting never fills)', async (t) => {
  const w = await world(t);
  const gatewayRead = JSON.stringify({ path: '/svc/aes', method: 'read', params: { channel: 'chan', from: '11', max: 4096 } });
  // Three rounds of maxWaiting clients: 12 reads on a channel that has room for 4.
  for (let round = 0; round < 3; round++) {
    const sockets: Socket[] = [];
    for (let i = 0; i < MAX_WAITING; i++) {
      sockets.push(i % 2 === 0 ? await startRequest(w, 'GET', '/api/v1/files?path=/n/aes/chan') : await startRequest(w, 'POST', '/api/v1/call', gatewayRead));
    }
    await until(`round ${round}: ${MAX_WAITING} reads waiting`, async () => (await readers(w.c))['chan'] === MAX_WAITING);
    for (const s of sockets) s.destroy();
    await until(`round ${round}: the reads of vanished clients to go`, async () => (await readers(w.c))['chan'] === 0);
  }

  // One that goes away mid-stream, after its first block: its read is cancelled too.
  const streaming = await startRequest(w, 'GET', '/api/v1/files?path=/n/aes/chan');
  let seen = '';
  streaming.on('data', (d: Buffer) => (seen += d.toString()));
  await until('the streaming reader to wait', async () => (await readers(w.c))['chan'] === 1);
  await write(w.c, 'chan', 'first block');
  await until('the first block on the wire', () => seen.includes('first block'));
  assert.match(seen, /^HTTP\/1\.1 200 .*transfer-encoding: chunked/is);
  streaming.destroy();
  await until('the mid-stream reader to go', async () => (await readers(w.c))['chan'] === 0);

  // A real reader of each kind: a bounded GET streams what is written, then ends.
  const get = fetch(`${w.http.base}/api/v1/files?path=/n/aes/chan&max=11`, { headers: { authorization: 'Bearer grid' } });
  const call = fetch(`${w.http.base}/api/v1/call`, { method: 'POST', headers: { authorization: 'Bearer grid', 'content-type': 'application/json' }, body: gatewayRead });
  await until('the real readers to wait', async () => (await readers(w.c))['chan'] === 2);
  await write(w.c, 'chan', 'hello ');
  const got = await get;
  assert.equal(got.status, 200);
  assert.equal(got.headers.get('content-type'), 'application/octet-stream');
  await write(w.c, 'chan', 'world and more');
  assert.equal(await got.text(), 'hello world', 'the body streams the writes and ends after max bytes');
  const answer = (await (await call).json()) as { results: { result: { ok: { data: string } } } };
  assert.equal(Buffer.from(answer.results.result.ok.data, 'base64').toString(), 'hello ');
  await until('no reader left', async () => (await readers(w.c))['chan'] === 0);
});

test('GET /api/v1/files of an ordinary file sends its bytes whole; a failure before the first byte keeps its status', async (t) => {
  const w = await world(t);
  const big = Buffer.alloc(200_000, 7);
  big.write('start');
  await w.c.writeFile('/tmp/big', big);
  const r = await fetch(`${w.http.base}/api/v1/files?path=/tmp/big`, { headers: { authorization: 'Bearer grid' } });
  assert.equal(r.status, 200);
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), big);
  const head = await fetch(`${w.http.base}/api/v1/files?path=/tmp/big&max=5`, { headers: { authorization: 'Bearer grid' } });
  assert.equal(await head.text(), 'start');
  await w.c.writeFile('/tmp/empty', new Uint8Array(0));
  const empty = await fetch(`${w.http.base}/api/v1/files?path=/tmp/empty`, { headers: { authorization: 'Bearer grid' } });
  assert.equal(empty.status, 200);
  assert.equal(await empty.text(), '');
  const missing = await fetch(`${w.http.base}/api/v1/files?path=/tmp/nope`, { headers: { authorization: 'Bearer grid' } });
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { code: string }).code, 'NS_ERR_NOT_FOUND');
  const bad = await fetch(`${w.http.base}/api/v1/files?path=/tmp/big&max=0`, { headers: { authorization: 'Bearer grid' } });
  assert.equal(bad.status, 400);
});
