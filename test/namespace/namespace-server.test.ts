import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utils, type Client } from 'capnp-es';
import { serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import type { NsError } from '../../src/errors.js';
import { Failure_Code } from '../../src/gen/common.js';
import { Namespace, Namespace_Entry_Kind, type Namespace$Client } from '../../src/gen/namespace.js';
import { FILE_SERVER_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { NamespaceOwner, serveNamespace } from '../../src/namespace/namespace-server.js';
import { connect, dupClient, listen, liveLocalObjects, release, serve, type RpcConnection } from '../../src/rpc/index.js';
import { abortControllersMadeBy } from '../support/abort-count.js';
import { Counter, type Counter$Server$Target, type Counter_Get$Results, type Counter_Increment$Params, type Counter_Increment$Results } from '../fixtures/rpc/gen/test.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

class CounterImpl implements Counter$Server$Target {
  value = 0n;
  async increment(p: Counter_Increment$Params, r: Counter_Increment$Results) {
    this.value += p.by;
    r.value = this.value;
  }
  async get(_p: unknown, r: Counter_Get$Results) {
    r.value = this.value;
  }
}

async function ramfsWith(files: Record<string, string>): Promise<MemFileServer> {
  const fs = new MemFileServer();
  const { root } = await fs.attach('');
  for (const [name, body] of Object.entries(files)) {
    const c = await root.create(name, 0o644, { access: 'write' });
    await c.file.write(0n, enc.encode(body));
    await c.file.clunk();
  }
  await root.clunk();
  return fs;
}

type T = { after: (fn: () => Promise<void> | void) => void };

/** A namespace whose table `fill` binds (for each connection), served over TCP; a client for it, let go after the test. */
async function serveTable(t: T, fill: (table: MountTable<Client>) => void): Promise<{ ns: Namespace$Client; conn: RpcConnection }> {
  const listener = await listen('127.0.0.1:0', {
    bootstrap: () => {
      const table = new MountTable<Client>();
      fill(table);
      return serveNamespace(table);
    },
  });
  const conn = await connect(listener.address);
  const ns = conn.bootstrap(Namespace);
  t.after(async () => {
    release(ns);
    await conn.close();
    await listener.close();
  });
  return { ns, conn };
}

/** A namespace with /tmp (ramfs, create) and /svc/counter served over TCP; a client for it. */
async function setup(t: T) {
  const baseline = liveLocalObjects();
  const tmp = await ramfsWith({ 'hello.txt': 'hi there' });
  const { ns, conn } = await serveTable(t, (table) => {
    table.bind('/tmp', { cap: serveFileServer(tmp).client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'tmp' }, { create: true });
    table.bind('/svc/counter', { cap: serve(Counter, new CounterImpl()).client, interfaceId: Counter.Client.interfaceId, label: 'counter' });
  });
  return { ns, conn, tmp, baseline };
}

test('resolve returns the first member with its interface and the rest of the path', async (t) => {
  const { ns } = await setup(t);
  const r = (await ns.resolve((p) => { p.path = '/svc/counter'; }).promise()).result;
  assert.ok(r._isOk);
  assert.equal(r.ok.interfaceId, Counter.Client.interfaceId);
  assert.equal(r.ok.label, 'counter');
  assert.equal(r.ok.rest, '');
  const inside = (await ns.resolve((p) => { p.path = '/tmp/a/b'; }).promise()).result;
  assert.equal(inside.ok.rest, 'a/b');
  assert.equal(inside.ok.interfaceId, FILE_SERVER_INTERFACE_ID);
  const wrong = (await ns.resolve((p) => { p.path = '/svc/counter'; p.expectedInterface = FILE_SERVER_INTERFACE_ID; }).promise()).result;
  assert.ok(wrong._isErr);
  assert.equal(wrong.err.code, Failure_Code.INTERFACE_MISMATCH);
  const missing = (await ns.resolve((p) => { p.path = '/nope'; }).promise()).result;
  assert.equal(missing.err.code, Failure_Code.NOT_FOUND);
});

test('a capability obtained by resolve can be called', async (t) => {
  const { ns } = await setup(t);
  const res = await ns.resolve((p) => { p.path = '/svc/counter'; }).promise();
  const client = utils.getInterfaceClientOrNull(res.result.ok.cap);
  assert.ok(client);
  const c = new Counter.Client(client);
  assert.equal((await c.increment((p) => { p.by = 5n; }).promise()).value, 5n);
  assert.equal((await c.get().promise()).value, 5n);
  release(c);
});

test('list shows mount points as capabilities and directories, and files inside FileServers', async (t) => {
  const { ns } = await setup(t);
  const root = (await ns.list((p) => { p.path = '/'; }).promise()).result;
  assert.deepEqual(root.entries.map((e) => [e.name, e.kind]), [['svc', Namespace_Entry_Kind.DIRECTORY], ['tmp', Namespace_Entry_Kind.DIRECTORY]]);
  const svc = (await ns.list((p) => { p.path = '/svc'; }).promise()).result;
  assert.deepEqual(svc.entries.map((e) => [e.name, e.kind, e.label]), [['counter', Namespace_Entry_Kind.CAPABILITY, 'counter']]);
  const tmp = (await ns.list((p) => { p.path = '/tmp'; }).promise()).result;
  assert.deepEqual(tmp.entries.map((e) => [e.name, e.kind]), [['hello.txt', Namespace_Entry_Kind.FILE]]);
});

test("a walked File's stat is its member file's Stat under the namespace's qid, the one the namespace's walk gives it", async (t) => {
  // The member's qid paths run past the namespace's own numbering (a file made sixth).
  const fs = await ramfsWith({ a: '1', b: '2', c: '3', d: '4', e: '5', target: 'eight by' });
  const { ns } = await serveTable(t, (table) => table.bind('/tmp', { cap: serveFileServer(fs).client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'tmp' }));
  const dir = (await ns.walk((p) => (p.path = '/tmp')).promise()).result;
  assert.ok(dir._isFile);
  const w = (await dir.file.walk((p) => p._initNames(1).set(0, 'target')).promise()).result;
  assert.ok(w._isFile);
  const walkedQid = w.qids.get(0).path;
  const st = (await w.file.stat().promise()).result;
  assert.ok(st._isStat);
  assert.equal(st.stat.name, 'target');
  assert.equal(st.stat.length, 8n);
  assert.equal(st.stat.qid.path, walkedQid, "the stat's qid is the one the namespace's walk gave");
  // And the same through Namespace.walk straight to the file.
  const direct = (await ns.walk((p) => (p.path = '/tmp/target')).promise()).result;
  assert.ok(direct._isFile);
  assert.equal((await direct.file.stat().promise()).result.stat.qid.path, walkedQid);
  // Not the member's own qid: the namespace maps it.
  const { root } = await fs.attach('');
  const own = await root.walk(['target']);
  assert.notEqual(own.qids[0]!.path, walkedQid, 'the member qid and the namespace qid differ');
  await own.file?.clunk();
  await root.clunk();
  release(w.file);
  release(direct.file);
  release(dir.file);
});

test('walk hands out a File capability for a file-backed path', async (t) => {
  const { ns } = await setup(t);
  const w = (await ns.walk((p) => { p.path = '/tmp/hello.txt'; }).promise()).result;
  assert.ok(w._isFile);
  const file = w.file;
  const o = (await file.open((p) => { p._initMode(); }).promise()).result;
  assert.ok(o._isOk);
  const r = (await file.read((p) => { p.count = 100; }).promise()).result;
  assert.equal(dec.decode(r.data.toUint8Array()), 'hi there');
  release(file);
});

test('resolve, walk and a walked File\'s reads make no AbortController: a call\'s signal is made only when something can use it', async (t) => {
  const { ns } = await setup(t);
  const made = await abortControllersMadeBy(async () => {
    for (let i = 0; i < 10; i++) {
      const r = (await ns.resolve((p) => (p.path = '/svc/counter')).promise()).result;
      assert.ok(r._isOk);
      release(utils.getInterfaceClientOrNull(r.ok.cap));
      const w = (await ns.walk((p) => (p.path = '/tmp/hello.txt')).promise()).result;
      assert.ok(w._isFile);
      assert.ok((await w.file.open((p) => p._initMode()).promise()).result._isOk);
      const data = (await w.file.read((p) => (p.count = 100)).promise()).result.data;
      assert.equal(dec.decode(data.toUint8Array()), 'hi there');
      release(w.file);
    }
  });
  assert.equal(made, 0, `${made} AbortControllers made for 10 resolves, walks and reads`);
});

test("a client binds its own FileServer; a fork does not see the client's later binds, nor the original the fork's", async (t) => {
  const { ns } = await setup(t);
  const mine = await ramfsWith({ 'mine.txt': 'client data' });
  const fork = (await ns.fork().promise()).ns;
  const bound = (await ns.bind((p) => {
    p.path = '/n/mine';
    utils.setInterfacePointer(p.segment.message.addCap(serveFileServer(mine).client), p.cap);
    p.interfaceId = FILE_SERVER_INTERFACE_ID;
    p.label = 'mine';
  }).promise()).result;
  assert.ok(bound._isOk, bound._isErr ? bound.err.message : '');
  const listed = (await ns.list((p) => { p.path = '/n/mine'; }).promise()).result;
  assert.deepEqual(listed.entries.map((e) => e.name), ['mine.txt']);
  const inFork = (await fork.resolve((p) => { p.path = '/n/mine'; }).promise()).result;
  assert.equal(inFork.err.code, Failure_Code.NOT_FOUND);
  const u = (await fork.unmount((p) => { p.path = '/tmp'; }).promise()).result;
  assert.ok(u._isOk);
  assert.ok((await ns.resolve((p) => { p.path = '/tmp'; }).promise()).result._isOk);
  release(fork);
});

test('describe then apply on a clean view rebuilds the namespace; bad text changes nothing and names the line', async (t) => {
  const { ns } = await setup(t);
  const text = (await ns.describe().promise()).text;
  assert.match(text, /mount -c tmp \/tmp/);
  assert.match(text, /mount counter \/svc\/counter/);
  const bad = (await ns.apply((p) => { p.text = 'bind /tmp /scratch\nbind -q /x /y\n'; }).promise()).result;
  assert.ok(bad._isErr);
  assert.match(bad.err.message, /line 2/);
  assert.equal((await ns.describe().promise()).text, text, 'a failed apply changes nothing');
  const ok = (await ns.apply((p) => { p.text = 'bind -a /tmp /scratch\n'; }).promise()).result;
  assert.ok(ok._isOk, ok._isErr ? ok.err.message : '');
  const scratch = (await ns.list((p) => { p.path = '/scratch'; }).promise()).result;
  assert.deepEqual(scratch.entries.map((e) => e.name), ['hello.txt']);
});

test('a read-only sub view cannot name anything outside its prefix nor change anything', async (t) => {
  const { ns } = await setup(t);
  const sub = (await ns.sub((p) => { p.prefix = '/svc'; p.readOnly = true; }).promise()).result;
  assert.ok(sub._isNs);
  const view = sub.ns;
  const r = (await view.resolve((p) => { p.path = '/../tmp'; }).promise()).result;
  assert.equal(r.err.code, Failure_Code.NOT_FOUND);
  assert.ok((await view.resolve((p) => { p.path = '/counter'; }).promise()).result._isOk);
  const u = (await view.unmount((p) => { p.path = '/counter'; }).promise()).result;
  assert.equal(u.err.code, Failure_Code.PERMISSION_DENIED);
  release(view);
});

test('releasing the namespace releases every capability it held', async (t) => {
  const { ns, conn, baseline } = await setup(t);
  assert.ok((await ns.resolve((p) => { p.path = '/tmp'; }).promise()).result._isOk);
  release(ns);
  await conn.close();
  for (let i = 0; i < 200 && liveLocalObjects() !== baseline; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(liveLocalObjects(), baseline);
});

/** Binds `cap` (a reference of the caller's, lent) at `path` of `ns` as a Namespace member. */
async function bindNamespace(ns: Namespace$Client, path: string, cap: Client): Promise<void> {
  const r = (await ns.bind((p) => {
    p.path = path;
    utils.setInterfacePointer(p.segment.message.addCap(cap), p.cap);
    p.interfaceId = Namespace.Client.interfaceId;
    p.label = path.slice(1);
    p.create = true;
  }).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
}

test("an owner's end closes its namespaces, bound into themselves and into each other: what they held is released, and a reference kept elsewhere is refused", async () => {
  const baseline = liveLocalObjects();
  const owner = new NamespaceOwner('rpc#1', { maxNamespaces: 2 });
  let closes = 0;
  const counter = serve(Counter, new CounterImpl());
  const table = new MountTable<Client>();
  table.bind('/svc/counter', { cap: dupClient(counter.client), interfaceId: Counter.Client.interfaceId, label: 'counter' }, { create: true });
  release(counter);
  const a = serveNamespace(table, { owner, onClose: () => closes++ });
  const b = serveNamespace(new MountTable<Client>(), { owner, onClose: () => closes++ });
  assert.equal(owner.namespaces, 2);
  // Past maxNamespaces: refused before anything is made.
  assert.throws(() => serveNamespace(new MountTable<Client>(), { owner }), (e: NsError) => e.code === 'NS_ERR_BUSY' && /maxNamespacesPerConnection/.test(e.message));
  // Every kind of cycle: a namespace in itself, two in each other, a fork in its origin.
  const fork = (await a.fork().promise()).ns;
  await bindNamespace(a, '/self', a.client);
  await bindNamespace(a, '/b', b.client);
  await bindNamespace(b, '/a', a.client);
  await bindNamespace(a, '/fork', fork.client);
  await bindNamespace(fork, '/origin', a.client);
  // Someone else keeps a reference (a namespace passed on to another connection).
  const kept = new Namespace.Client(dupClient(a.client));
  release(a);
  release(b);
  release(fork);
  // Released by their holder, the cycles keep each other alive: only the owner's end frees them.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(closes, 0);
  assert.ok(liveLocalObjects() > baseline);
  owner.end();
  assert.equal(closes, 2, 'each namespace closed once');
  assert.equal(owner.namespaces, 0);
  const list = (await kept.list((p) => { p.path = '/'; }).promise()).result;
  assert.ok(list._isErr);
  assert.equal(list.err.code, Failure_Code.REVOKED);
  assert.match(list.err.message, /rpc#1, which has ended/);
  const bound = (await kept.bind((p) => {
    p.path = '/again';
    utils.setInterfacePointer(p.segment.message.addCap(kept.client), p.cap);
    p.interfaceId = Namespace.Client.interfaceId;
  }).promise()).result;
  assert.equal(bound.err.code, Failure_Code.REVOKED);
  await assert.rejects(kept.fork().promise(), /has ended/);
  assert.throws(() => serveNamespace(new MountTable<Client>(), { owner }), (e: NsError) => e.code === 'NS_ERR_REVOKED');
  release(kept);
  for (let i = 0; i < 100 && liveLocalObjects() !== baseline; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(liveLocalObjects(), baseline, 'local objects left after the end');
  assert.equal(closes, 2);
});
