// The authority model (issue 16, docs/security.md), rule by rule, against a running
// `capns serve` (test/support/authority-world.ts) over real connections: each test is
// one class of breach that was found, tried the way an attacker would.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as $ from 'capnp-es';
import type { Client, Pointer } from 'capnp-es';
import { NsError } from '../../src/errors.js';
import { serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { DirFileServer, newDirFileServer } from '../../src/fileserver/dir-file-server.js';
import { Failure_Code, OpenMode_Access } from '../../src/gen/common.js';
import { Clock } from '../../src/gen/demo.js';
import { File, FileServer, type File$Client, type FileServer$Client } from '../../src/gen/fileserver.js';
import { Gate, Namespace, type Namespace$Client } from '../../src/gen/namespace.js';
import { CapabilityTable } from '../../src/captable/capability-table.js';
import { FILE_SERVER_INTERFACE_ID, NAMESPACE_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { serveNamespace } from '../../src/namespace/namespace-server.js';
import { parseExportFilter } from '../../src/proxy/export-policy.js';
import { startExport } from '../../src/proxy/exporter.js';
import { resolvePipelined, startImport } from '../../src/proxy/importer.js';
import { liveLocalObjects, release, RpcError } from '../../src/rpc/index.js';
import { startWorld, type World } from '../support/authority-world.js';
import { gateNs, readAll } from '../support/peer.js';

let world: World;
before(async () => {
  world = await startWorld();
});
after(async () => {
  await world.close();
});

type Failing = { _isErr: boolean; err: { code: number; message: string } };

/** The capability in an interface pointer of results (the caller owns it). */
const capOf = (p: Pointer): Client => $.utils.getInterfaceClientOrNull(p);

/** Puts `client` in the interface pointer `at` of params (the params own the reference). */
function putCap(params: { segment: { message: $.Message } }, at: Pointer, client: Client): void {
  $.utils.setInterfacePointer(params.segment.message.addCap(client), at);
}

function refused(r: Failing, code: number, re?: RegExp): void {
  assert.ok(r._isErr, `refused (${re ?? code})`);
  assert.equal(r.err.code, code, r.err.message);
  if (re !== undefined) assert.match(r.err.message, re);
}

/** The FileServer resolved at `path` (awaited), and its root. */
async function rootOf(ns: Namespace$Client, path: string): Promise<{ fs: FileServer$Client; root: File$Client; rest: string }> {
  const r = (await ns.resolve((p) => (p.path = path)).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  const fs = new FileServer.Client(capOf(r.ok.cap));
  const a = (await fs.attach((p) => (p.aname = '')).promise()).result;
  assert.ok(a._isOk, a._isErr ? a.err.message : '');
  return { fs, root: a.ok.root, rest: r.ok.rest };
}

/** `fs.attach('')` and, pipelined on its answer, the root File (nothing awaited). */
function attachPipelined(fs: FileServer$Client): File$Client {
  const answer = fs.attach((p) => (p.aname = ''));
  // Results.result (pointer 0) -> AttachResult.ok.root (pointer 0).
  return new File.Client(answer.pipeline.getPipeline(FileServer.AttachResult, 0).getPipeline(FileServer.AttachResult, 0).client());
}

async function walk(f: File$Client, ...names: string[]) {
  return (await f.walk((p) => { const l = p._initNames(names.length); names.forEach((n, i) => l.set(i, n)); }).promise()).result;
}

/** Whether anything reachable from `f` by walking the names reads as `marker`. */
async function reads(f: File$Client, names: string[]): Promise<string | undefined> {
  const w = await walk(f, ...names);
  if (!w._isFile) return undefined;
  try {
    return await readAll(w.file);
  } catch {
    return undefined;
  } finally {
    release(w.file);
  }
}

// The breaches an attacker tries from the root of a view rooted at DIR/pub.
const CLIMBS: string[][] = [['..', 'secret', 's.txt'], ['..', '..', 'data', 'secret', 's.txt'], ['uplink', 's.txt'], ['dir', '..', '..', 'secret', 's.txt']];

test('a view rooted inside a file tree hands out a FileServer rooted there: resolve then attach, .., links and attach names cannot climb (export and sub alike)', async (t) => {
  const viaExport = (await gateNs(t, world.exports.rw, 'tx')).ns;
  const { ns: full } = await gateNs(t, world.rpc, 'tu');
  const sub = (await full.sub((p) => { p.prefix = '/data/pub'; p.readOnly = false; }).promise()).result.ns;
  t.after(() => release(sub));
  for (const [name, ns] of [['export', viaExport], ['sub', sub]] as const) {
    const { fs, root, rest } = await rootOf(ns, '/');
    assert.equal(rest, '', name);
    assert.equal(await reads(root, ['a.txt']), 'PUBLIC a', name);
    for (const climb of CLIMBS) assert.equal(await reads(root, climb), undefined, `${name}: ${climb.join('/')}`);
    // `..` at the root stays at the root.
    assert.equal(await reads(root, ['..', 'a.txt']), 'PUBLIC a', name);
    for (const aname of ['..', '../secret', 'dir/../..']) {
      refused((await fs.attach((p) => (p.aname = aname)).promise()).result, Failure_Code.INVALID_ARGUMENT);
    }
    // Pipelined all the way, nothing awaited in between: still confined.
    const pfs = resolvePipelined(ns, '/', FileServer);
    const proot = attachPipelined(pfs);
    const w = (await proot.walk((p) => {
      const l = p._initNames(3); l.set(0, '..'); l.set(1, 'secret'); l.set(2, 's.txt');
    }).promise()).result;
    release(proot);
    assert.ok(w._isErr, `${name}: pipelined climb`);
    release(pfs); release(root); release(fs);
  }
});

test('a view rooted at a symbolic link is no way out: sub("/uplink") of a view at DIR/pub cannot reach what the link points to above pub', async (t) => {
  const { ns: full } = await gateNs(t, world.rpc, 'tu');
  for (const via of ['/data/pub/uplink', '/data/pub/dir/../uplink']) {
    const r = (await full.sub((p) => { p.prefix = '/data/pub'; p.readOnly = true; }).promise()).result;
    const inner = (await r.ns.sub((p) => { p.prefix = via.slice('/data/pub'.length); p.readOnly = false; }).promise()).result;
    release(r.ns);
    if (!inner._isNs) continue;
    const w = (await inner.ns.walk((p) => (p.path = '/s.txt')).promise()).result;
    assert.ok(w._isErr, `${via}: walked to what the link points at`);
    const res = (await inner.ns.resolve((p) => (p.path = '/')).promise()).result;
    if (res._isOk) {
      const fs = new FileServer.Client(capOf(res.ok.cap));
      const a = (await fs.attach((p) => (p.aname = '')).promise()).result;
      assert.ok(a._isErr, `${via}: attached at what the link points at`);
      release(fs);
    }
    release(inner.ns);
  }
});

test('a view rooted inside an imported namespace stays inside it: its file tree, `..` and what resolve hands out reach nothing above its root', async (t) => {
  // A: /pub (p.txt) and /secret (s.txt), exported whole; B imports A at /n/a.
  const mem = async (file: string, text: string) => {
    const m = new MemFileServer();
    const { root } = await m.attach('');
    const c = await root.create(file, 0o644, { access: 'write' });
    await c.file.write(0n, new TextEncoder().encode(text));
    await c.file.clunk();
    await root.clunk();
    return serveFileServer(m).client;
  };
  const a = new MountTable<Client>();
  a.bind('/pub', { cap: await mem('p.txt', 'PUBLIC p'), interfaceId: FILE_SERVER_INTERFACE_ID, label: 'pub' });
  a.bind('/secret', { cap: await mem('s.txt', 'SECRET s'), interfaceId: FILE_SERVER_INTERFACE_ID, label: 'secret' });
  const aNs = serveNamespace(a);
  const exp = await startExport({ ns: aNs, listen: '127.0.0.1:0', tokens: ['k'] });
  release(aNs);
  t.after(() => exp.destroy());
  const imp = startImport({ address: exp.address, token: 'k' });
  t.after(() => imp.close());
  await imp.firstAttempt();
  const b = new MountTable<Client>();
  b.bind('/n/a', { cap: imp.capability(), interfaceId: NAMESPACE_INTERFACE_ID, label: 'a' });
  const bNs = serveNamespace(b);
  t.after(() => release(bNs));
  const view = (await bNs.sub((p) => { p.prefix = '/n/a/pub'; p.readOnly = false; }).promise()).result.ns;
  t.after(() => release(view));
  const top = (await view.walk((p) => (p.path = '/')).promise()).result;
  assert.ok(top._isFile, top._isErr ? top.err.message : '');
  assert.equal(await reads(top.file, ['p.txt']), 'PUBLIC p');
  assert.equal(await reads(top.file, ['..', 'secret', 's.txt']), undefined, 'climbed out of the view through ..');
  assert.equal(await reads(top.file, ['..', 'p.txt']), 'PUBLIC p', '.. at the view root stays there');
  release(top.file);
  const up = (await view.walk((p) => (p.path = '/../secret/s.txt')).promise()).result;
  assert.ok(up._isErr);
  // What resolve hands out for the view's root: the remote namespace's own view of /pub.
  const r = (await view.resolve((p) => (p.path = '/')).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  const ns = new Namespace.Client(capOf(r.ok.cap));
  const deep = (await ns.resolve((p) => (p.path = '/../secret/s.txt')).promise()).result;
  assert.ok(deep._isErr || deep.ok.rest === 'secret/s.txt', 'resolve names pub/secret/s.txt (absent), never /secret');
  if (deep._isOk) release(capOf(deep.ok.cap));
  const inner = (await ns.walk((p) => (p.path = '/')).promise()).result;
  assert.ok(inner._isFile);
  assert.equal(await reads(inner.file, ['..', 'secret', 's.txt']), undefined);
  release(inner.file);
  release(ns);
});

test('read-only holds for everything derived from a read-only view: resolve -> attach -> walk -> open/create/wstat/remove, Namespace.walk (awaited and pipelined), fork and sub (refused as permissionDenied)', async (t) => {
  const viaExport = (await gateNs(t, world.exports.ro, 'tx')).ns;
  const { ns: full } = await gateNs(t, world.rpc, 'tu');
  const sub = (await full.sub((p) => { p.prefix = '/data/pub'; p.readOnly = true; }).promise()).result.ns;
  t.after(() => release(sub));
  const before = world.hash();
  for (const [name, ns] of [['export', viaExport], ['sub', sub]] as const) {
    const denied = (r: Failing, what: string) => {
      assert.ok(r._isErr, `${name}: ${what} went through`);
      assert.equal(r.err.code, Failure_Code.PERMISSION_DENIED, `${name}: ${what}: ${r.err.message}`);
    };
    const { fs, root } = await rootOf(ns, '/');
    const a = await walk(root, 'a.txt');
    assert.ok(a._isFile);
    denied((await a.file.open((p) => (p._initMode().access = OpenMode_Access.WRITE)).promise()).result, 'open for writing');
    denied((await a.file.open((p) => { const m = p._initMode(); m.access = OpenMode_Access.READ; m.truncate = true; }).promise()).result, 'open truncating');
    denied((await a.file.wstat((p) => (p._initChange().name = 'renamed')).promise()).result, 'wstat');
    denied((await root.create((p) => { p.name = 'new'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result, 'create');
    const d = await walk(root, 'dir');
    denied((await d.file.remove().promise()).result, 'remove');
    assert.equal(await readAll(a.file), 'PUBLIC a', `${name}: reading still works`);
    // Through Namespace.walk, fork and a writable sub of it.
    const nw = (await ns.walk((p) => (p.path = '/a.txt')).promise()).result;
    assert.ok(nw._isFile);
    denied((await nw.file.open((p) => (p._initMode().access = OpenMode_Access.READ_WRITE)).promise()).result, 'Namespace.walk then open');
    // Pipelined on Namespace.walk's answer, which the server gives by a tail call (calls
    // pipelined on it go to the tail call's answer): nothing is awaited before the open.
    const piped = ns.walk((p) => (p.path = '/a.txt'));
    const pf = new File.Client(piped.pipeline.getPipeline(File.WalkResult, 0).getPipeline(File.WalkResult, 1).client());
    denied((await pf.open((p) => (p._initMode().access = OpenMode_Access.WRITE)).promise()).result, 'pipelined Namespace.walk then open');
    denied((await pf.wstat((p) => (p._initChange().name = 'renamed')).promise()).result, 'pipelined Namespace.walk then wstat');
    assert.equal(await readAll(pf), 'PUBLIC a', `${name}: a pipelined read works`);
    release(pf);
    const fork = (await ns.fork().promise()).ns;
    denied((await fork.unmount((p) => (p.path = '/')).promise()).result, 'fork: unmount');
    const wsub = (await ns.sub((p) => { p.prefix = '/'; p.readOnly = false; }).promise()).result;
    if (wsub._isNs) {
      const f = await rootOf(wsub.ns, '/');
      denied((await f.root.create((p) => { p.name = 'n2'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result, 'writable sub: create');
      release(f.root); release(f.fs); release(wsub.ns);
    } else {
      denied(wsub, 'writable sub');
    }
    release(nw.file); release(fork); release(d.file); release(a.file); release(root); release(fs);
  }
  assert.equal(world.hash(), before, 'nothing changed on the host');
});

test('nested membranes: an export of a granted namespace applies both policies — deny rules and Exporter.revoke reach a File got by resolve -> attach -> walk -> open', async (t) => {
  const mem = new MemFileServer();
  const { root: r0 } = await mem.attach('');
  const c = await r0.create('f', 0o644, { access: 'write' });
  await c.file.write(0n, new TextEncoder().encode('hello'));
  await c.file.clunk();
  await r0.clunk();
  const captable = new CapabilityTable();
  const table = new MountTable<Client>();
  table.bind('/files', { cap: captable.grant(serveFileServer(mem).client, { interfaceId: FILE_SERVER_INTERFACE_ID, label: 'files', holder: 'host' }), interfaceId: FILE_SERVER_INTERFACE_ID, label: 'files' });
  const host = serveNamespace(table);
  const exp = await startExport({ ns: host, listen: '127.0.0.1:0', tokens: ['k'], filter: parseExportFilter('deny File.write\n') });
  release(host);
  t.after(() => exp.destroy());
  const { ns } = await gateNs(t, exp.address, 'k');
  const { fs, root } = await rootOf(ns, '/files');
  const f = (await walk(root, 'f')).file;
  const o = (await f.open((p) => (p._initMode().access = OpenMode_Access.READ_WRITE)).promise()).result;
  assert.ok(o._isOk);
  refused((await f.write((p) => { p.offset = 0n; p._initData(1).set(0, 0x41); }).promise()).result, Failure_Code.PERMISSION_DENIED, /filtered out/);
  const r = (await f.read((p) => { p.offset = 0n; p.count = 10; }).promise()).result;
  assert.equal(Buffer.from(r.data.toUint8Array()).toString(), 'hello');
  exp.revoke('test over');
  refused((await f.read((p) => { p.offset = 0n; p.count = 10; }).promise()).result, Failure_Code.REVOKED, /test over/);
  refused((await root.walk((p) => p._initNames(0)).promise()).result, Failure_Code.REVOKED);
  release(f); release(root); release(fs);
});

test('filters: bindPath and apply binds (aliases) are refused, rename is judged like a walk, a path that does not parse is refused, and a link to a filtered name is refused as that name', async (t) => {
  const { ns } = await gateNs(t, world.exports.rwf, 'tx');
  const denied = (r: Failing, what: string) => {
    assert.ok(r._isErr, `${what} went through`);
    assert.ok(r.err.code === Failure_Code.PERMISSION_DENIED || r.err.code === Failure_Code.INVALID_ARGUMENT, `${what}: ${r.err.message}`);
  };
  denied((await ns.bindPath((p) => { p.from = '/hidden'; p.to = '/open'; }).promise()).result, 'bindPath from a filtered name');
  denied((await ns.bindPath((p) => { p.from = '/dir'; p.to = '/hidden/x'; }).promise()).result, 'bindPath onto a filtered name');
  denied((await ns.apply((p) => (p.text = 'bind /hidden /open\n')).promise()).result, 'apply bind');
  denied((await ns.resolve((p) => (p.path = '/hid\u0000den')).promise()).result, 'a path that does not parse');
  denied((await ns.bindPath((p) => { p.from = '/dir'; p.to = '/alias'; }).promise()).result, 'bindPath of an allowed name (an alias the patterns cannot see below)');
  denied((await ns.walk((p) => (p.path = '/hiddenlink/h.txt')).promise()).result, 'Namespace.walk through a link to a filtered name');
  const top = (await ns.walk((p) => (p.path = '/')).promise()).result;
  assert.ok(top._isFile);
  denied(await walk(top.file, 'hiddenlink'), 'File.walk onto a link to a filtered name');
  denied(await walk(top.file, 'hiddenlink', 'h.txt'), 'File.walk through a link to a filtered name');
  const a = await walk(top.file, 'a.txt');
  assert.ok(a._isFile);
  denied((await a.file.wstat((p) => (p._initChange().name = 'hidden')).promise()).result, 'rename onto a filtered name');
  // What the filter allows still works, and nothing filtered was read.
  assert.equal(await readAll(a.file), 'PUBLIC a');
  release(a.file); release(top.file);
});

test('every peer of an export gets a namespace of its own: one peer\'s bind is seen by no other, and goes with it', async (t) => {
  const one = await gateNs(t, world.exports.rw, 'tx');
  const two = await gateNs(t, world.exports.rw, 'tx');
  const mine = serveFileServer(new MemFileServer({}));
  const b = (await one.ns.bind((p) => { p.path = '/mine'; putCap(p, p.cap, mine.client); p.interfaceId = FILE_SERVER_INTERFACE_ID; p.label = 'mine'; }).promise()).result;
  release(mine);
  assert.ok(b._isOk, b._isErr ? b.err.message : '');
  const members = (m: Namespace$Client) => m.members((p) => (p.path = '/mine')).promise();
  assert.deepEqual((await members(one.ns)).result.members.map((x) => x.label), ['mine']);
  refused((await members(two.ns)).result, Failure_Code.NOT_FOUND);
  await one.conn.close();
  const three = await gateNs(t, world.exports.rw, 'tx');
  refused((await members(three.ns)).result, Failure_Code.NOT_FOUND);
  refused((await members(two.ns)).result, Failure_Code.NOT_FOUND);
});

test('revocation reaches what was derived after the namespace itself was released: the grants stay listed while a File lives, revokeHolder severs it', async (t) => {
  const { ns, conn } = await gateNs(t, world.rpc, 'tu');
  const { fs, root } = await rootOf(ns, '/data');
  const f = (await walk(root, 'pub', 'a.txt')).file;
  release(root); release(fs);
  release(ns);
  // One round trip, so that the releases have reached the server.
  await conn.bootstrap(Gate).authenticate((p) => (p.token = 'nope')).promise();
  const held = world.server.captable.list().filter((g) => g.label === 'data' && g.holder.startsWith('user@rpc#'));
  assert.ok(held.length >= 1, 'the grant the File came through is still listed');
  for (const g of held) world.server.captable.revoke(g.id);
  const o = (await f.open((p) => (p._initMode().access = OpenMode_Access.READ)).promise()).result;
  refused(o, Failure_Code.REVOKED, /was revoked/);
  release(f);
});

test('union resolve answers the member that holds the name, with rest relative to it; creating a name a later member holds is refused as exists', async (t) => {
  const { ns } = await gateNs(t, world.rpc, 'tu');
  const u1 = await rootOf(ns, '/u1');
  const made = (await u1.root.create((p) => { p.name = 'first.txt'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result;
  assert.ok(made._isOk);
  release(made.ok.file);
  const top = (await ns.walk((p) => (p.path = '/u')).promise()).result.file;
  const later = (await top.create((p) => { p.name = 'later.txt'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result;
  assert.ok(later._isOk, later._isErr ? later.err.message : '');
  release(later.ok.file);
  const r = (await ns.resolve((p) => (p.path = '/u/later.txt')).promise()).result;
  assert.ok(r._isOk);
  assert.deepEqual([r.ok.label, r.ok.rest], ['u2', 'later.txt']);
  release(capOf(r.ok.cap));
  const r1 = (await ns.resolve((p) => (p.path = '/u/first.txt')).promise()).result;
  assert.deepEqual([r1.ok.label, r1.ok.rest], ['u1', 'first.txt']);
  release(capOf(r1.ok.cap));
  refused((await ns.resolve((p) => (p.path = '/u/none.txt')).promise()).result, Failure_Code.NOT_FOUND);
  // first.txt is u1's: a create in the union (which goes to u2) would hide nothing but must not make a second one.
  refused((await top.create((p) => { p.name = 'first.txt'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result, Failure_Code.EXISTS);
  release(top); release(u1.root); release(u1.fs);
});

test('a profile\'s declared interfaces hold in every namespace forked for its connections (over RPC and HTTP)', async (t) => {
  const { ns } = await gateNs(t, world.rpc, 'tu');
  const clock = (await ns.resolve((p) => (p.path = '/svc/clock')).promise()).result;
  const clockCap = capOf(clock.ok.cap);
  const b = (await ns.bind((p) => { p.path = '/data'; putCap(p, p.cap, clockCap); p.interfaceId = Clock.Client.interfaceId; p.label = 'c'; }).promise()).result;
  refused(b, Failure_Code.INTERFACE_MISMATCH, /declared/);
  const fork = (await ns.fork().promise()).ns;
  refused((await fork.bindPath((p) => { p.from = '/svc/clock'; p.to = '/data'; p.position = 1; }).promise()).result, Failure_Code.INTERFACE_MISMATCH);
  release(fork);
  
});

test('bind(2) of a name inside a file tree: a missing one is notFound, a file is notADirectory, a directory binds that member seen from there', async (t) => {
  const { ns } = await gateNs(t, world.rpc, 'tu');
  refused((await ns.bindPath((p) => { p.from = '/data/pub/nothing'; p.to = '/x'; }).promise()).result, Failure_Code.NOT_FOUND);
  refused((await ns.bindPath((p) => { p.from = '/data/pub/a.txt'; p.to = '/x'; }).promise()).result, Failure_Code.NOT_ADIRECTORY);
  assert.ok((await ns.bindPath((p) => { p.from = '/data/pub/dir'; p.to = '/x'; }).promise()).result._isOk);
  const { fs, root, rest } = await rootOf(ns, '/x');
  assert.equal(rest, '');
  assert.equal(await reads(root, ['b.txt']), 'PUBLIC b');
  assert.equal(await reads(root, ['..', 'a.txt']), undefined, 'the alias is confined to the directory it names');
  release(root); release(fs);
});

test('unmount lets go of a capability no binding shows, and every form of bind counts against maxBinds', async () => {
  const base = liveLocalObjects();
  const table = new MountTable<Client>();
  const ns = serveNamespace(table, { maxBinds: 4 });
  for (let i = 0; i < 200; i++) {
    const fsCap = serveFileServer(new MemFileServer());
    const r = (await ns.bind((p) => { p.path = '/m'; putCap(p, p.cap, fsCap.client); p.interfaceId = FILE_SERVER_INTERFACE_ID; p.label = 'm'; }).promise()).result;
    release(fsCap);
    assert.ok(r._isOk, r._isErr ? r.err.message : '');
    assert.ok((await ns.unmount((p) => { p.path = '/m'; p.label = ''; }).promise()).result._isOk);
  }
  // The namespace itself is the one object left: every FileServer went at its unmount.
  assert.equal(liveLocalObjects(), base + 1);
  const fsCap = serveFileServer(new MemFileServer());
  assert.ok((await ns.bind((p) => { p.path = '/a'; putCap(p, p.cap, fsCap.client); p.interfaceId = FILE_SERVER_INTERFACE_ID; p.label = 'a'; }).promise()).result._isOk);
  release(fsCap);
  for (const to of ['/b', '/c', '/d']) assert.ok((await ns.bindPath((p) => { p.from = '/a'; p.to = to; }).promise()).result._isOk);
  refused((await ns.bindPath((p) => { p.from = '/a'; p.to = '/e'; }).promise()).result, Failure_Code.BUSY, /maxBinds/);
  refused((await ns.apply((p) => (p.text = 'mount a /f\n')).promise()).result, Failure_Code.BUSY, /maxBinds/);
  // A fork counts what it copied: this family has no room for one.
  await assert.rejects(ns.fork().promise(), (e: unknown) => e instanceof RpcError && e.type === 'overloaded');
  assert.ok((await ns.unmount((p) => { p.path = '/d'; p.label = ''; }).promise()).result._isOk);
  assert.ok((await ns.apply((p) => (p.text = 'mount a /f\n')).promise()).result._isOk);
  release(ns);
  assert.equal(liveLocalObjects(), base);
});

test('a view rooted below a mount point can create at its root', async (t) => {
  const { ns } = await gateNs(t, world.exports.rw, 'tx');
  const top = (await ns.walk((p) => (p.path = '/')).promise()).result.file;
  const c = (await top.create((p) => { p.name = 'made-at-root.txt'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result;
  assert.ok(c._isOk, c._isErr ? c.err.message : '');
  release(c.ok.file); release(top);
  world.reset();
});

test('a host-directory read past 2^53 answers no bytes, as the ram tree does', async () => {
  const dirfs: DirFileServer = await newDirFileServer(world.dir);
  for (const fs of [dirfs, new MemFileServer()]) {
    const { root } = await fs.attach('');
    const made = await root.create('far.txt', 0o644, { access: 'readWrite' });
    assert.equal((await made.file.read(1n << 60n, 10)).length, 0);
    assert.equal((await made.file.read((1n << 53n) - 1n, 10)).length, 0);
    await made.file.remove();
    await root.clunk();
  }
  await dirfs.close();
});

test('refusals reach the client library as NsErrors with their codes', async () => {
  const { connect: connectClient } = await import('../../src/client/capns-client.js');
  const ro = await connectClient(world.exports.ro, { token: 'tx' });
  try {
    await assert.rejects(ro.writeFile('/a.txt', new TextEncoder().encode('x')), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION');
    await assert.rejects(ro.readFile('/hidden/h.txt'), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION');
    await assert.rejects(ro.describe(), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION');
    assert.equal(new TextDecoder().decode(await ro.readFile('/a.txt')), 'PUBLIC a');
  } finally {
    await ro.close();
  }
});
