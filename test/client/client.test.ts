/**
 * The client library against a real `capns serve` process: connect + Gate, typed
 * resolve, file helpers, bind/mount/unmount/describe/apply, call by reflection, errors.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CapnsClient, Clock, connect, Echo, FileServer, NsError, RpcError, release } from '../../src/index.js';
import { startServe } from './serve-process.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Leak check: everything the client made was released — the only import left is the
 * namespace (the Gate was released after authenticate), and no call is in flight.
 */
async function assertNoLeaks(ns: CapnsClient, held: { exports?: number; imports?: number } = {}): Promise<void> {
  // Releases travel as messages; one round trip lets them all go out and be processed.
  await ns.describe();
  const st = ns.connection!.stats();
  assert.deepEqual({ questions: st.questions, imports: st.imports, exports: st.exports }, { questions: 0, imports: 1 + (held.imports ?? 0), exports: held.exports ?? 0 });
}

async function open(t: import('node:test').TestContext, address: string, token?: string): Promise<CapnsClient> {
  const c = await connect(address, token === undefined ? {} : { token });
  t.after(() => c.close());
  return c;
}

test('connect authenticates through the Gate; resolve returns the typed client, checked by expectedInterface', async (t) => {
  const s = await startServe(t);
  await using ns = await connect(s.rpc);
  assert.equal(ns.profile, 'local');
  using clock = await ns.resolve('/svc/clock', Clock);
  const now = await clock.now().promise();
  assert.ok(Math.abs(Number(now.unixMillis) - Date.now()) < 60_000);
  assert.match(now.iso, /^\d{4}-\d\d-\d\dT/);
  // The interface is checked by the server before anything is called.
  await assert.rejects(ns.resolve('/svc/clock', Echo), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_INTERFACE_MISMATCH');
  await assert.rejects(ns.resolve('/svc/nothing', Clock), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND');
  // resolve also takes the client class.
  const c2 = await ns.resolve('/svc/clock', Clock.Client);
  assert.equal(typeof (await c2.now().promise()).iso, 'string');
  release(c2);
  const info = await ns.lookup('/svc/clock');
  assert.deepEqual({ ...info, interfaceId: info.interfaceId.toString(16) }, { interfaceId: Clock.Client.interfaceId.toString(16), interfaceName: 'Clock', label: 'clock', rest: '' });
});

test('tokens select profiles; a wrong token is NS_ERR_PERMISSION; an unreachable server is RpcError disconnected', async (t) => {
  const s = await startServe(t);
  const alice = await open(t, s.rpc, 'alice-secret');
  assert.equal(alice.profile, 'alice');
  assert.deepEqual((await alice.list('/')).map((e) => e.name).sort(), ['svc', 'tmp']);
  await assert.rejects(connect(s.rpc, { token: 'wrong' }), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION' && /unknown token/.test(e.message));
  await assert.rejects(connect('tcp!127.0.0.1!1'), (e: unknown) => e instanceof RpcError && e.type === 'disconnected' && /cannot connect/.test(e.message));
  await assert.rejects(connect('no-port'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_INVALID_ARGUMENT');
  // A peer that accepts and never answers: the Gate's answer is waited for timeoutMs only.
  const silent = net.createServer((sock) => sock.on('error', () => {}).resume());
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => silent.close(() => r())));
  const port = (silent.address() as net.AddressInfo).port;
  await assert.rejects(connect(`tcp!127.0.0.1!${port}`, { timeoutMs: 300 }), (e: unknown) => e instanceof RpcError && e.type === 'disconnected' && /no answer from .* within 300 ms/.test(e.message));
});

test('file helpers: writeFile/readFile round trip (larger than one chunk), stat, mkdir, list, remove; /data lands on the host', async (t) => {
  const s = await startServe(t);
  const ns = await open(t, s.rpc);
  const big = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
  await ns.writeFile('/tmp/big.bin', big);
  assert.deepEqual(await ns.readFile('/tmp/big.bin'), big);
  // Overwriting truncates.
  await ns.writeFile('/tmp/big.bin', enc.encode('short'));
  assert.equal(dec.decode(await ns.readFile('/tmp/big.bin')), 'short');
  const st = await ns.stat('/tmp/big.bin');
  assert.equal(st.name, 'big.bin');
  assert.equal(st.length, 5n);
  await ns.mkdir('/tmp/d');
  assert.ok(((await ns.stat('/tmp/d')).mode & 0x80000000) !== 0);
  await ns.writeFile('/tmp/d/x.txt', enc.encode('x'));
  const listed = await ns.list('/tmp');
  assert.deepEqual(listed.map((e) => [e.name, e.kind]).sort(), [['big.bin', 'file'], ['d', 'directory']]);
  await assert.rejects(ns.remove('/tmp/d'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_EMPTY');
  await ns.remove('/tmp/d/x.txt');
  await ns.remove('/tmp/d');
  await assert.rejects(ns.stat('/tmp/d'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND');
  await assert.rejects(ns.readFile('/tmp/nope'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND');
  await assert.rejects(ns.mkdir('/tmp/big.bin'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_EXISTS');
  // Writers racing to create one new file all succeed (a lost create race opens the winner's file).
  await Promise.all(Array.from({ length: 8 }, (_, i) => ns.writeFile('/tmp/race.txt', enc.encode(`writer ${i}`))));
  assert.match(dec.decode(await ns.readFile('/tmp/race.txt')), /^writer \d$/);
  await ns.remove('/tmp/race.txt');
  await ns.writeFile('/data/host.txt', enc.encode('on the host'));
  assert.equal(await readFile(join(s.dir, 'data', 'host.txt'), 'utf8'), 'on the host');
  // The FileServer view.
  const fs = await ns.fileServer('/tmp');
  const { root } = await fs.attach('');
  const w = await root.walk(['big.bin']);
  assert.ok(w.file !== undefined);
  await w.file.clunk();
  await root.clunk();
  fs.close();
  await assert.rejects(ns.fileServer('/svc/clock'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_INTERFACE_MISMATCH');
  // A directory 20 levels down (more than one 16-name walk) as a FileServer of its own.
  let deep = '/tmp';
  for (let i = 0; i < 20; i++) await ns.mkdir((deep += `/l${i}`));
  await ns.writeFile(`${deep}/leaf`, enc.encode('deep'));
  const sub = await ns.fileServer(deep);
  const at = await sub.attach('');
  assert.equal(at.qid.type, 0x80);
  const leaf = await at.root.walk(['leaf']);
  assert.ok(leaf.file !== undefined);
  await leaf.file.open({ access: 'read' });
  assert.equal(dec.decode(await leaf.file.read(0n, 100)), 'deep');
  await leaf.file.clunk();
  await at.root.clunk();
  sub.close();
  // resolve() never hands out the whole tree for a path inside it.
  await assert.rejects(ns.resolve(deep, FileServer), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_INVALID_ARGUMENT' && /inside a file tree/.test(e.message));
  await assertNoLeaks(ns);
});

test('bind, mount, unmount and apply change only this connection\'s namespace; describe shows them', async (t) => {
  const s = await startServe(t);
  const a = await open(t, s.rpc);
  const b = await open(t, s.rpc);
  await a.bind('/svc/clock', '/n/clock');
  assert.match(await a.describe(), /^mount clock \/n\/clock$/m);
  assert.doesNotMatch(await b.describe(), /\/n\/clock/);
  const clock = await a.resolve('/n/clock', Clock);
  assert.ok((await clock.now().promise()).iso !== '');
  // mount of a capability we hold, with a label of our choosing.
  await a.mount('/n/clock2', clock, { label: 'myclock' });
  assert.deepEqual(await a.members('/n/clock2'), [{ interfaceId: Clock.Client.interfaceId, label: 'myclock', create: false }]);
  // mount by label (a namespace(6) mount line), union after.
  await a.mountLabel('tmp', '/data', { position: 'after' });
  assert.deepEqual((await a.members('/data')).map((m) => m.label), ['data', 'tmp']);
  await a.unmount('/data', 'tmp');
  assert.deepEqual((await a.members('/data')).map((m) => m.label), ['data']);
  await assert.rejects(a.unmount('/nowhere'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND');
  await a.apply('unmount /n/clock\n');
  await assert.rejects(a.lookup('/n/clock'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND');
  await assert.rejects(a.apply('bogus /x\n'), (e: unknown) => e instanceof NsError && /line 1/.test(e.message));
  // mount of a FileServer client resolved from our namespace.
  const tmp = await a.resolve('/tmp', FileServer);
  await a.mount('/n/t', tmp, { create: true });
  await a.writeFile('/n/t/via-mount', enc.encode('m'));
  assert.equal(dec.decode(await a.readFile('/tmp/via-mount')), 'm');
  // Another namespace mounted in this one: resolution continues in it (b's own bind shows).
  await b.bind('/svc/clock', '/only-b/clock');
  await a.mount('/n/b', b.namespace, { label: 'bns' });
  await assert.rejects(a.lookup('/only-b/clock'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND');
  const viaB = await a.resolve('/n/b/only-b/clock', Clock);
  assert.ok((await viaB.now().promise()).iso !== '');
  assert.equal((await a.lookup('/n/b/only-b/clock')).interfaceName, 'Clock');
  await assert.rejects(a.resolve('/n/b/only-b/nothing', Clock), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND');
  await assert.rejects(a.resolve('/n/b/only-b/clock', Echo), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_INTERFACE_MISMATCH');
  // b's namespace is a capability at a path of a's now: call its methods by reflection,
  // with a capability argument named by a path of a's namespace.
  const described = (await a.call('/n/b', 'describe', {})) as { text: string };
  assert.match(described.text, /^mount clock \/only-b\/clock$/m);
  const bound = await a.call('/n/b', 'bind', { path: '/from-a', cap: { capability: '/svc/clock' }, interfaceId: `0x${Clock.Client.interfaceId.toString(16)}`, label: 'given', position: 'replace' });
  assert.deepEqual(bound, { result: { ok: null } });
  using given = await b.resolve('/from-a', Clock);
  assert.ok((await given.now().promise()).iso !== '');
  await a.unmount('/n/b');
  // The namespace holds its own references to what we mounted: ours can go.
  release(clock);
  release(tmp);
  await a.writeFile('/n/t/after-release', enc.encode('still mounted'));
  release(viaB);
  // The server lets go of what a namespace was given as soon as no binding shows it: b's
  // namespace, unmounted, is exported to the server no more; the clock a gave to b's
  // namespace (proxied through this process) is still bound there, so stays imported.
  await assertNoLeaks(a, { exports: 0, imports: 1 });
});

test('call by reflection: JSON params and results, a File inside a tree, unknown methods listed', async (t) => {
  const s = await startServe(t);
  const ns = await open(t, s.rpc);
  const now = (await ns.call('/svc/clock', 'now', {})) as { unixMillis: string; iso: string };
  assert.ok(Math.abs(Number(now.unixMillis) - Date.now()) < 60_000);
  await assert.rejects(ns.call('/svc/clock', 'later', {}), (e: unknown) => e instanceof NsError && /Clock has no method "later"; its methods: now/.test(e.message));
  // A FileServer method: attach returns a File capability, described.
  const att = (await ns.call('/tmp', 'attach', { aname: '' })) as { result: { ok: { root: { capability: { interface: string } }; qid: { type: number } } } };
  assert.equal(att.result.ok.root.capability.interface, 'File');
  assert.equal(att.result.ok.qid.type, 0x80);
  // A path inside a file tree names a File.
  await ns.writeFile('/tmp/f.txt', enc.encode('hello'));
  const st = (await ns.call('/tmp/f.txt', 'stat', null)) as { result: { stat: { name: string; length: string } } };
  assert.deepEqual([st.result.stat.name, st.result.stat.length], ['f.txt', '5']);
  // Expected failures come back as results, with enum names.
  await ns.mkdir('/tmp/d');
  const nf = (await ns.call('/tmp/d', 'walk', { names: ['nope'] })) as { result: { qids: unknown[]; err: { code: string; message: string } } };
  assert.deepEqual(nf.result, { qids: [], err: { code: 'notFound', message: nf.result.err.message }, path: '' });
  assert.match(nf.result.err.message, /nope/);
  // Bad params name the field.
  await assert.rejects(ns.call('/tmp/f.txt', 'read', { offset: 'x' }), (e: unknown) => e instanceof NsError && /params\.offset/.test(e.message));
  await assert.rejects(ns.call('/tmp/f.txt', 'read', { nope: 1 }), (e: unknown) => e instanceof NsError && /no field "nope".*offset, count/.test(e.message));
  // StatChange's defaults are "don't touch": wstat with only a name renames.
  const ws = (await ns.call('/tmp/f.txt', 'wstat', { change: { name: 'g.txt' } })) as { result: { ok?: null } };
  assert.deepEqual(ws.result, { ok: null });
  assert.equal(dec.decode(await ns.readFile('/tmp/g.txt')), 'hello');
  const methods = await ns.methodsAt('/tmp');
  assert.deepEqual(methods.methods, ['attach']);
  await assertNoLeaks(ns);
});

test('a server that dies fails the next call at once with RpcError disconnected, never a hang', async (t) => {
  const s = await startServe(t);
  const ns = await open(t, s.rpc);
  await ns.list('/');
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGKILL');
  await exited;
  await ns.connection!.whenClosed();
  await assert.rejects(ns.list('/'), (e: unknown) => e instanceof RpcError && e.type === 'disconnected');
  await assert.rejects(ns.readFile('/tmp/x'), (e: unknown) => e instanceof RpcError && e.type === 'disconnected');
});
