/**
 * Hubs (issue 20 part 3; ANTS hubfs): the channel core, its file face, and the typed Hub
 * over RPC.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hub } from '../../src/ants/hub.js';
import { newHubFileServer, serveHub } from '../../src/ants/hub-server.js';
import { Hub as HubIface } from '../../src/gen/hub.js';
import { connect, listen, release, withSignal } from '../../src/rpc/index.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

test('every reader goes at its own pace from where it joined, or from the backlog', () => {
  const hub = new Hub({ backlogBytes: 1024 });
  const c = hub.create('chat');
  c.write(bytes('one '));
  const joinedAt = c.end;
  c.write(bytes('two '));
  c.write(bytes('three'));
  assert.equal(str(c.read(joinedAt, 100).data), 'two three');
  assert.equal(str(c.read(c.oldest, 100).data), 'one two three');
  const part = c.read(0n, 5);
  assert.equal(str(part.data), 'one t');
  assert.equal(str(c.read(part.next, 100).data), 'wo three');
});

test('a slow reader never blocks writers: what it missed past the backlog is reported, and it goes on from the oldest byte', () => {
  const hub = new Hub({ backlogBytes: 10 });
  const c = hub.create('fast');
  const slow = 0n;
  for (let i = 0; i < 100; i++) c.write(bytes(`${i % 10}${i % 10}${i % 10}${i % 10}`)); // 400 bytes, never waiting
  assert.equal(c.end, 400n);
  const r = c.read(slow, 100);
  assert.equal(r.missed, c.oldest);
  assert.ok(c.oldest >= 388n && c.oldest <= 392n, `retains about the backlog: oldest ${c.oldest}`);
  assert.equal(r.next, 400n);
  assert.equal(str(r.data).slice(-4), '9999');
  assert.equal(c.info().missed, r.missed);
});

test('a waiting reader wakes on the next write, ends when the channel is removed, stops when cancelled', async () => {
  const hub = new Hub();
  const c = hub.create('x');
  const waiting = c.follow(c.end, 100);
  c.write(bytes('hi'));
  assert.equal(str((await waiting).data), 'hi');
  const ended = c.follow(c.end, 100);
  hub.remove('x');
  assert.equal((await ended).data.length, 0);
  const d = hub.create('y');
  const ac = new AbortController();
  const cancelled = d.follow(d.end, 100, ac.signal);
  ac.abort(new Error('flushed'));
  await assert.rejects(cancelled, /flushed/);
  assert.equal(d.info().readers, 0);
});

test('limits: maxChannels, maxWriteBytes, maxWaiting refuse the one over, the rest go on', async () => {
  const hub = new Hub({ maxChannels: 2, maxWriteBytes: 8, maxWaiting: 2 });
  const a = hub.create('a');
  hub.create('b');
  assert.throws(() => hub.create('c'), /maxChannels/);
  assert.throws(() => a.write(new Uint8Array(9)), /maxWriteBytes/);
  assert.throws(() => hub.create('../x'), /invalid file name/);
  const ac = new AbortController();
  const w1 = a.follow(a.end, 10, ac.signal);
  const w2 = a.follow(a.end, 10, ac.signal);
  await assert.rejects(a.follow(a.end, 10), /maxWaiting/);
  // Another channel is not affected by a's waiters.
  const b = hub.get('b');
  const wb = b.follow(b.end, 10);
  b.write(bytes('ok'));
  assert.equal(str((await wb).data), 'ok');
  ac.abort(new Error('done'));
  await Promise.allSettled([w1, w2]);
});

test('the file face: a read follows from the open, backlog/NAME from the oldest byte, ctl creates and lists; a loss is one failed read', async () => {
  const hub = new Hub({ backlogBytes: 16 });
  const fs = newHubFileServer(hub);
  const { root } = await fs.attach('');
  const ctl = (await root.walk(['ctl'])).file!;
  await ctl.open({ access: 'write' });
  await ctl.write(0n, bytes('create enc\n'));
  await ctl.clunk();
  const made = await root.create('dec', 0o666, { access: 'write' });
  await made.file.clunk();
  assert.deepEqual(hub.list().map((c) => c.name), ['enc', 'dec']);
  const writer = (await root.walk(['enc'])).file!;
  await writer.open({ access: 'write' });
  await writer.write(0n, bytes('early '));
  const reader = (await root.walk(['enc'])).file!;
  await reader.open({ access: 'read' });
  const back = (await root.walk(['backlog', 'enc'])).file!;
  await back.open({ access: 'read' });
  const pending = reader.read(0n, 100);
  await new Promise((res) => setImmediate(res));
  assert.equal(hub.get('enc').info().readers, 2, 'an open file whose read waits is one reader, not two');
  await writer.write(999n, bytes('late'));
  assert.equal(str(await pending), 'late');
  assert.equal(str(await back.read(0n, 100)), 'early late');
  // 40 more bytes: the backlog reader falls behind 16 retained bytes.
  for (let i = 0; i < 10; i++) await writer.write(0n, bytes('abcd'));
  await assert.rejects(back.read(0n, 100), /missed \d+ bytes/);
  assert.match(str(await back.read(0n, 100)), /^(abcd)+$/);
  const st = (await root.walk(['ctl'])).file!;
  await st.open({ access: 'read' });
  assert.match(str(await st.read(0n, 1000)), /^enc end=50 oldest=\d+ readers=2 writes=12 missed=\d+\ndec end=0 oldest=0 readers=0 writes=0 missed=0\n$/);
  for (const f of [st, writer, reader, back, root]) await f.clunk();
});

test('the typed Hub over RPC: write, position, read that waits and is cancelled by the caller, files()', async (t) => {
  const hub = new Hub();
  hub.create('news');
  const served = serveHub(hub);
  const listener = await listen('tcp!127.0.0.1!0', { bootstrap: () => served.client });
  const conn = await connect(listener.address);
  t.after(async () => {
    await conn.close();
    await listener.close();
    release(served);
  });
  const h = conn.bootstrap(HubIface);
  const pos = (await h.position((p) => (p.channel = 'news')).promise()).result;
  assert.ok(pos._isOk);
  const from = pos.ok.end;
  const read = h.read((p) => {
    p.channel = 'news';
    p.from = from;
    p.max = 100;
  });
  const w = (await h.write((p) => {
    p.channel = 'news';
    p._initData(5).copyBuffer(bytes('hello'));
  }).promise()).result;
  assert.equal(w.end, 5n);
  const r = (await read.promise()).result;
  assert.equal(str(r.ok.data.toUint8Array()), 'hello');
  assert.equal(r.ok.next, 5n);
  // A read waiting on nothing, cancelled by dropping the call: the hub forgets the waiter.
  const ac = new AbortController();
  const waiting = withSignal(h, ac.signal).read((p) => {
    p.channel = 'news';
    p.from = 5n;
    p.max = 100;
  });
  const settled = waiting.promise().then(() => 'answered', () => 'cancelled');
  for (let i = 0; i < 50 && hub.get('news').info().readers === 0; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(hub.get('news').info().readers, 1);
  ac.abort();
  assert.equal(await settled, 'cancelled');
  for (let i = 0; i < 100 && hub.get('news').info().readers !== 0; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(hub.get('news').info().readers, 0, 'the cancelled read is no longer waiting');
  const miss = (await h.read((p) => { p.channel = 'nope'; p.from = 0n; p.max = 1; }).promise()).result;
  assert.ok(miss._isErr);
  assert.match(miss.err.message, /no hub channel 'nope'/);
  const files = (await h.files().promise()).fs;
  const root = (await files.attach((p) => (p.aname = '')).promise()).result;
  assert.ok(root._isOk);
  release(root.ok.root);
  release(files);
  release(h);
});
