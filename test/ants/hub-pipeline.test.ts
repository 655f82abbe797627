/**
 * The paper's four-machine encrypt/decrypt pipeline over a hub (ANTS section V):
 *
 *   A hosts the hub (encin encout decout) and spies on encout
 *   B: aescbc -e </n/aes/encin >>/n/aes/encout
 *   C: aescbc -d </n/aes/encout >>/n/aes/decout
 *   D: reads decout
 *
 * once with real processes and 9P clients at each end (diod's diodcat reads, shell pipes,
 * openssl for aescbc, a 9P appender for >>), and once with typed Hub calls only.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { connect, type CapnsClient } from '../../src/client/index.js';
import { OpenMode_Access } from '../../src/gen/common.js';
import { Hub, type Hub$Client } from '../../src/gen/hub.js';
import { parseManifest } from '../../src/manifest/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { root, tsx } from '../client/serve-process.js';

const MANIFEST = `
version: 1
capabilities:
  aes: { type: hub, channels: [encin, encout, decout] }
  aesfs: { type: hubfs, hub: aes }
profiles:
  grid:
    auth: { tokens: [grid], loopback: true }
    namespace:
      - { mount: aesfs, at: /n/aes }
      - { mount: aes, at: /svc/aes }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: 9p, address: "tcp!127.0.0.1!0", profile: grid }
exports:
  - { profile: grid, root: /, listen: "tcp!127.0.0.1!0", readOnly: true, auth: { tokens: [look] } }
`;

async function hubServer(t: TestContext): Promise<{ server: CapnsServer; rpc: string; ninep: string; exported: string }> {
  const server = await startCapnsServer({ manifest: parseManifest(MANIFEST, { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => server.close());
  const at = (p: string): string => server.addresses.find((a) => a.protocol === p)!.address;
  const [, host, port] = at('9p').split('!');
  return { server, rpc: at('rpc'), ninep: `${host}:${port}`, exported: at('export') };
}

/** A hub client of its own connection (one party). */
async function party(t: TestContext, rpc: string): Promise<{ c: CapnsClient; hub: Hub$Client }> {
  const c = await connect(rpc, { token: 'grid' });
  t.after(() => c.close());
  const r = await c.resolveAny('/svc/aes');
  return { c, hub: new Hub.Client(r.client) };
}

async function readers(c: CapnsClient): Promise<Record<string, number>> {
  const text = Buffer.from(await c.readFile('/n/aes/ctl')).toString();
  return Object.fromEntries(text.trim().split('\n').map((l) => [l.split(' ')[0]!, Number(/readers=(\d+)/.exec(l)![1])]));
}

async function until(what: string, ok: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs `script` in its own process group; `out` resolves with its first `want` bytes of
 * output. Not at its end: the shell lives as long as the `diodcat` at the head of its
 * pipe, and a hub channel has no end, so that is never.
 */
function sh(t: TestContext, script: string, want: number): { child: ChildProcess; out: Promise<Buffer>; err: () => string } {
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, NODE_OPTIONS: '' } });
  // The readers of a hub never see an end: kill what is left of each pipeline afterwards.
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  });
  const parts: Buffer[] = [];
  let got = 0;
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const out = new Promise<Buffer>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= want) resolve(Buffer.concat(parts).subarray(0, want));
    });
    child.on('exit', (code) => reject(new Error(`'${script}' exited (${code}) after ${got} of ${want} bytes: ${err}`)));
  });
  out.catch(() => undefined); // a shell killed afterwards is no failure unless awaited
  return { child, out, err: () => err };
}

const tools = ['/usr/sbin/diodcat', '/usr/bin/openssl'];
const missing = tools.filter((p) => !existsSync(p));

test('the four-party aescbc pipeline runs with cat-like 9P readers, shell pipes and >> over 9P', { skip: missing.length > 0 ? `missing ${missing.join(', ')}` : false }, async (t) => {
  const { rpc, ninep } = await hubServer(t);
  const a = await party(t, rpc);
  const plain = Buffer.concat([Buffer.from('the words of /lib/words, '), randomBytes(20_000)]);
  const n = plain.length;
  // openssl enc: "Salted__" + 8 bytes of salt, then CBC with PKCS#7 padding.
  const m = 16 + (Math.floor(n / 16) + 1) * 16;
  const cat = (path: string): string => `/usr/sbin/diodcat -s ${ninep} -a / ${path}`;
  const append = (path: string): string => `${process.execPath} --import ${tsx} ${join(root, 'test/support/ninep-append.ts')} ${ninep} ${path}`;
  const aes = (dir: '-e' | '-d'): string => `/usr/bin/openssl enc ${dir} -aes-256-cbc -pbkdf2 -pass pass:ants`;
  const b = sh(t, `${cat('n/aes/encin')} | head -c ${n} | ${aes('-e')} | ${append('n/aes/encout')}`, 0);
  const c = sh(t, `${cat('n/aes/encout')} | head -c ${m} | ${aes('-d')} | ${append('n/aes/decout')}`, 0);
  const d = sh(t, `${cat('n/aes/decout')} | head -c ${n}`, n);
  const spy = sh(t, `${cat('n/aes/encout')} | head -c ${m}`, m);
  await until('every party to have opened its channel', async () => {
    const r = await readers(a.c);
    return r['encin']! >= 1 && r['encout']! >= 2 && r['decout']! >= 1;
  });
  // A writes the plain text with typed calls, in pieces, as a shell would.
  for (let at = 0; at < n; at += 4096) {
    const piece = plain.subarray(at, at + 4096);
    const w = (await a.hub.write((p) => { p.channel = 'encin'; p._initData(piece.length).copyBuffer(piece); }).promise()).result;
    assert.ok(w._isEnd, w._isErr ? w.err.message : '');
  }
  const [decrypted, spied] = await Promise.all([d.out, spy.out]);
  assert.equal(decrypted.length, n, `D read ${decrypted.length} bytes; B: ${b.err()} C: ${c.err()}`);
  assert.ok(decrypted.equals(plain), 'D reads what A wrote, through B and C');
  assert.equal(spied.length, m);
  assert.equal(spied.subarray(0, 8).toString(), 'Salted__', 'A sees the encrypted channel');
  assert.ok(!spied.includes(plain.subarray(0, 25)));
  // The hub outlives the parties: the backlog still holds encout for a newcomer.
  const late = sh(t, `${cat('n/aes/backlog/encout')} | head -c ${m}`, m);
  assert.ok((await late.out).equals(spied));
});

test('the same pipeline with typed calls only: Hub.read follows, Hub.write appends, each party on its own connection', async (t) => {
  const { rpc } = await hubServer(t);
  const [a, b, c, d] = await Promise.all([party(t, rpc), party(t, rpc), party(t, rpc), party(t, rpc)]);
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const plain = randomBytes(50_000);
  const start = async (h: Hub$Client, ch: string): Promise<bigint> => (await h.position((p) => (p.channel = ch)).promise()).result.ok.end;
  /** Follows `from` until `total` bytes came, passing each piece to `each`. */
  const follow = async (h: Hub$Client, ch: string, from: bigint, total: number, each: (b: Buffer) => Promise<void>): Promise<void> => {
    let got = 0;
    let at = from;
    while (got < total) {
      const r = (await h.read((p) => { p.channel = ch; p.from = at; p.max = 16384; }).promise()).result;
      assert.ok(r._isOk && r.ok.missed === 0n);
      const piece = Buffer.from(r.ok.data.toUint8Array());
      got += piece.length;
      at = r.ok.next;
      await each(piece);
    }
  };
  const write = async (h: Hub$Client, ch: string, data: Buffer): Promise<void> => {
    if (data.length === 0) return;
    const w = (await h.write((p) => { p.channel = ch; p._initData(data.length).copyBuffer(data); }).promise()).result;
    assert.ok(w._isEnd);
  };
  const m = (Math.floor(plain.length / 16) + 1) * 16;
  const [bFrom, cFrom, dFrom] = await Promise.all([start(b.hub, 'encin'), start(c.hub, 'encout'), start(d.hub, 'decout')]);
  const enc = createCipheriv('aes-256-cbc', key, iv);
  const dec = createDecipheriv('aes-256-cbc', key, iv);
  const B = follow(b.hub, 'encin', bFrom, plain.length, (p) => write(b.hub, 'encout', enc.update(p))).then(() => write(b.hub, 'encout', enc.final()));
  const C = follow(c.hub, 'encout', cFrom, m, (p) => write(c.hub, 'decout', dec.update(p))).then(() => write(c.hub, 'decout', dec.final()));
  const got: Buffer[] = [];
  const D = follow(d.hub, 'decout', dFrom, plain.length, async (p) => void got.push(p));
  for (let at = 0; at < plain.length; at += 8192) await write(a.hub, 'encin', plain.subarray(at, at + 8192));
  await Promise.all([B, C, D]);
  assert.ok(Buffer.concat(got).equals(plain));
  const list = (await a.hub.channels().promise()).channels.map((x) => `${x.name} ${x.end}`);
  assert.deepEqual(list, [`encin ${plain.length}`, `encout ${m}`, `decout ${plain.length}`]);
});

test('a read-only view of the hub files refuses appends, ctl, new channels and removal; it still reads', async (t) => {
  const { rpc, exported } = await hubServer(t);
  const a = await party(t, rpc);
  const ro = await connect(exported, { token: 'look' });
  t.after(() => ro.close());
  await assert.rejects(ro.writeFile('/n/aes/encin', Buffer.from('forged')), /read-only|permission/);
  await assert.rejects(ro.writeFile('/n/aes/ctl', Buffer.from('create mine\n')), /read-only|permission/);
  await assert.rejects(ro.writeFile('/n/aes/mine', Buffer.from('x')), /read-only|permission/);
  await assert.rejects(ro.remove('/n/aes/encin'), /read-only|permission/);
  // Nothing reached the hub; what the view may do, read, sees what others write.
  assert.deepEqual((await a.hub.channels().promise()).channels.map((c) => `${c.name} ${c.end}`), ['encin 0', 'encout 0', 'decout 0']);
  const w = (await a.hub.write((p) => { p.channel = 'encin'; p._initData(5).copyBuffer(Buffer.from('hello')); }).promise()).result;
  assert.ok(w._isEnd);
  assert.match(Buffer.from(await ro.readFile('/n/aes/ctl')).toString(), /^encin end=5 oldest=0 readers=0 writes=1 missed=0\n/);
});

test('a read-only view of a typed Hub refuses create, remove and write, and its files() too; it still reads', async (t) => {
  const { rpc, exported } = await hubServer(t);
  const a = await party(t, rpc);
  const ro = await connect(exported, { token: 'look' });
  t.after(() => ro.close());
  const hub = new Hub.Client((await ro.resolveAny('/svc/aes')).client);
  const refused = (r: { _isErr: boolean; err: { message: string } }, what: string): void => {
    assert.ok(r._isErr, `${what} went through a read-only view`);
    assert.match(r.err.message, /read-only/);
  };
  refused((await hub.create((p) => { p.name = 'mine'; }).promise()).result, 'create');
  refused((await hub.remove((p) => { p.name = 'encin'; }).promise()).result, 'remove');
  refused((await hub.write((p) => { p.channel = 'encin'; p._initData(6).copyBuffer(Buffer.from('forged')); }).promise()).result, 'write');
  // What it derives stays read-only: the Hub's own file face.
  const fs = hub.files().getFs();
  const at = (await fs.attach((p) => (p.aname = '')).promise()).result;
  assert.ok(at._isOk, at._isErr ? at.err.message : '');
  const w = (await at.ok.root.walk((p) => { p._initNames(1).set(0, 'encin'); }).promise()).result;
  assert.ok(w._isFile, w._isErr ? w.err.message : '');
  const o = (await w.file.open((p) => (p._initMode().access = OpenMode_Access.WRITE)).promise()).result;
  assert.ok(o._isErr, 'a File of the Hub\'s files() opened for writing through a read-only view');
  assert.match(o.err.message, /read-only/);
  assert.deepEqual((await a.hub.channels().promise()).channels.map((c) => `${c.name} ${c.end}`), ['encin 0', 'encout 0', 'decout 0']);
  assert.ok((await a.hub.write((p) => { p.channel = 'encin'; p._initData(2).copyBuffer(Buffer.from('hi')); }).promise()).result._isEnd);
  const r = (await hub.read((p) => { p.channel = 'encin'; p.from = 0n; p.max = 10; }).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  assert.equal(Buffer.from(r.ok.data.toUint8Array()).toString(), 'hi');
});
