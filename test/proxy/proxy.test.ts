import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from 'capnp-es';
import { serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { DMDIR } from '../../src/fileserver/file-server.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { Failure_Code, OpenMode_Access, type OpenMode } from '../../src/gen/common.js';
import { Echo, type Echo_Echo$Params, type Echo_Echo$Results } from '../../src/gen/demo.js';
import { FileServer } from '../../src/gen/fileserver.js';
import { FILE_SERVER_INTERFACE_ID, NAMESPACE_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { serveNamespace } from '../../src/namespace/namespace-server.js';
import { parseExportFilter } from '../../src/proxy/export-policy.js';
import { startExport, type ExportOptions, type Exporter } from '../../src/proxy/exporter.js';
import { importedNamespace, resolvePipelined, startImport, type ImportOptions } from '../../src/proxy/importer.js';
import { liveLocalObjects, release, RpcError, serve } from '../../src/rpc/index.js';
import { Counter, type Counter$Client } from '../fixtures/rpc/gen/test.js';
import { newCounter, TestState } from '../support/test-server.js';
import { Relay } from './relay.js';

type T = { after: (fn: () => Promise<void> | void) => void };

/** Host A's namespace: /svc/counter, /svc/files (ram, create), /secret/counter. */
function hostA(state: TestState) {
  const table = new MountTable<Client>();
  table.bind('/svc/counter', { cap: newCounter(state, 41n).client, interfaceId: Counter.Client.interfaceId, label: 'counter' });
  table.bind('/svc/files', { cap: serveFileServer(new MemFileServer()).client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'files' }, { create: true });
  table.bind('/secret/counter', { cap: newCounter(state, 7n).client, interfaceId: Counter.Client.interfaceId, label: 'secret' });
  return serveNamespace(table);
}

async function exportA(t: T, opts: Partial<ExportOptions> = {}): Promise<{ exp: Exporter; state: TestState }> {
  const state = new TestState();
  const ns = hostA(state);
  const exp = await startExport({ ns, root: '/svc', listen: '127.0.0.1:0', tokens: ['sesame'], ...opts });
  release(ns);
  t.after(() => exp.destroy());
  return { exp, state };
}

/** Imports `address` and binds it at /n/a of a local namespace that also has /local. */
async function importer(t: T, address: string, opts: Partial<ImportOptions> = {}) {
  const imp = startImport({ address, token: 'sesame', ...opts });
  t.after(() => imp.close());
  await imp.firstAttempt();
  const table = new MountTable<Client>();
  table.bind('/n/a', { cap: imp.capability(), interfaceId: NAMESPACE_INTERFACE_ID, label: 'a' });
  table.bind('/local/counter', { cap: newCounter(new TestState(), 0n).client, interfaceId: Counter.Client.interfaceId, label: 'local' });
  const ns = serveNamespace(table);
  t.after(() => release(ns));
  return { imp, ns };
}

/** Asserts that a call was refused by policy in its result union, with `code`, its message matching `re`. */
async function refusedWith(call: Promise<{ result: { _isErr: boolean; err: { code: number; message: string } } }>, re: RegExp, code: number = Failure_Code.PERMISSION_DENIED): Promise<void> {
  const r = (await call).result;
  assert.ok(r._isErr, `refused (${re})`);
  assert.equal(r.err.code, code, r.err.message);
  assert.match(r.err.message, re);
}

const increment = async (c: Counter$Client): Promise<bigint> => (await c.increment((p) => (p.by = 1n)).promise()).value;

test('import binds a remote export in a local namespace; resolve + call through it', async (t) => {
  const { exp } = await exportA(t);
  const { ns, imp } = await importer(t, exp.address);
  const c = resolvePipelined(ns, '/n/a/counter', Counter);
  assert.equal(await increment(c), 42n);
  release(c);
  const list = (await ns.list((p) => (p.path = '/n/a/files')).promise()).result;
  assert.ok(list._isEntries, list._isErr ? list.err.message : '');
  const remote = importedNamespace(imp);
  const top = (await remote.list((p) => (p.path = '/')).promise()).result;
  release(remote);
  assert.deepEqual(top.entries.toArray().map((e) => e.name).sort(), ['counter', 'files']);
  // The export is a sub view: nothing outside /svc can be named.
  const out = (await ns.resolve((p) => (p.path = '/n/a/../secret/counter')).promise()).result;
  assert.ok(out._isErr);
});

test('wrong or missing token gets nothing: the import is refused, and calls say so with the reason', async (t) => {
  const { exp } = await exportA(t);
  for (const token of ['wrong', '']) {
    const imp = startImport({ address: exp.address, name: 'far', token, backoffMinMs: 10 });
    t.after(() => imp.close());
    await imp.firstAttempt();
    assert.equal(imp.connected, false);
    assert.equal(imp.status().state, 'refused');
    const ns = importedNamespace(imp);
    await assert.rejects(
      ns.describe().promise(),
      (e: unknown) => e instanceof RpcError && e.type === 'failed' && /^import 'far' \(tcp!127\.0\.0\.1!\d+\): permission denied: .*(unknown token|credentials required).*not retrying/.test(e.message),
    );
    release(ns);
  }
});

test('a read-only export refuses every mutation, on derived capabilities too, as Failure.permissionDenied', async (t) => {
  const { exp } = await exportA(t, { readOnly: true });
  const { imp } = await importer(t, exp.address);
  const ns = importedNamespace(imp);
  t.after(() => release(ns));
  const denied = (r: { _isErr: boolean; err: { code: number; message: string } }) => {
    assert.ok(r._isErr, 'refused');
    assert.equal(r.err.code, Failure_Code.PERMISSION_DENIED);
    assert.match(r.err.message, /read-only/);
  };
  denied((await ns.unmount((p) => (p.path = '/counter')).promise()).result);
  denied((await ns.apply((p) => (p.text = 'unmount /counter')).promise()).result);
  // A FileServer obtained through the export, and Files walked from it: still read-only.
  const fs = resolvePipelined(ns, '/files', FileServer);
  const root = (await fs.attach((p) => (p.aname = '')).promise()).result.ok.root;
  denied((await root.create((p) => { p.name = 'x'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result);
  const fork = (await ns.fork().promise()).ns;
  denied((await fork.bindPath((p) => { p.from = '/counter'; p.to = '/c2'; }).promise()).result);
  // A writable sub of a read-only export is still read-only: its own membrane says so.
  const sub = (await ns.sub((p) => { p.prefix = '/'; p.readOnly = false; }).promise()).result.ns;
  denied((await sub.unmount((p) => (p.path = '/counter')).promise()).result);
  release(root); release(fs); release(fork); release(sub);
  // Reading is fine.
  assert.equal((await ns.members((p) => (p.path = '/counter')).promise()).result.members.length, 1);
});

test('read-only refuses File.open for writing, allows it for reading', async (t) => {
  const { exp } = await exportA(t);
  // Make a file through a writable export first.
  const { imp: w } = await importer(t, exp.address);
  const wns = importedNamespace(w);
  const wfs = resolvePipelined(wns, '/files', FileServer);
  const wroot = (await wfs.attach((p) => (p.aname = '')).promise()).result.ok.root;
  const created = (await wroot.create((p) => { p.name = 'f'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result;
  assert.ok(created._isOk);
  release(created.ok.file); release(wroot); release(wfs); release(wns);
  // B re-exports what it imports from A, read-only.
  const fromA = importedNamespace(w);
  const ro = await startExport({ ns: fromA, root: '/', readOnly: true, listen: '127.0.0.1:0', tokens: ['sesame'] });
  release(fromA);
  t.after(() => ro.destroy());
  const { imp } = await importer(t, ro.address);
  const ns = importedNamespace(imp);
  const fs = resolvePipelined(ns, '/files', FileServer);
  const root = (await fs.attach((p) => (p.aname = '')).promise()).result.ok.root;
  const f = (await root.walk((p) => p._initNames(1).set(0, 'f')).promise()).result.file;
  for (const set of [(m: OpenMode) => (m.access = OpenMode_Access.READ_WRITE), (m: OpenMode) => { m.access = OpenMode_Access.READ; m.truncate = true; }]) {
    const r = (await f.open((p) => set(p._initMode())).promise()).result;
    assert.ok(r._isErr);
    assert.equal(r.err.code, Failure_Code.PERMISSION_DENIED);
    assert.match(r.err.message, /read-only/);
  }
  assert.ok((await f.open((p) => (p._initMode().access = OpenMode_Access.READ)).promise()).result._isOk);
  release(f); release(root); release(fs); release(ns);
});

test('a filter: path patterns (exportfs -P) and interface/method rules apply all the way down', async (t) => {
  const filter = parseExportFilter(`# only the counter\n- ^\\./files\ndeny 0x${Counter.Client.interfaceId.toString(16)}.0\n`);
  const { exp } = await exportA(t, { filter });
  const { imp } = await importer(t, exp.address);
  const ns = importedNamespace(imp);
  t.after(() => release(ns));
  await refusedWith(ns.resolve((p) => (p.path = '/files')).promise(), /not exported/);
  await refusedWith(ns.list((p) => (p.path = '/files/')).promise(), /not exported/);
  const c = resolvePipelined(ns, '/counter', Counter);
  assert.equal((await c.get().promise()).value, 41n);
  // Counter.increment has no result union: the refusal is an exception that says what it is.
  await assert.rejects(c.increment((p) => (p.by = 1n)).promise(), /^RpcError: permission denied: .*filtered out/);
  release(c);
  assert.throws(() => parseExportFilter('deny Nope.x'), /unknown interface/);
  assert.throws(() => parseExportFilter('deny Counter'), /unknown interface/);
  assert.throws(() => parseExportFilter('deny File.nope'), /no method/);
  // capns's own interfaces are named too (hubs, services): the same rules as by id.
  for (const spec of ['Hub.write', 'Hub', 'Srv.post', 'Post.remove', 'Introspect', 'ServiceHost']) assert.doesNotThrow(() => parseExportFilter(`deny ${spec}`), spec);
  assert.throws(() => parseExportFilter('deny Hub.append'), /no method/);
});

test('revoking an export severs every capability derived from it at once', async (t) => {
  const { exp } = await exportA(t);
  const { imp } = await importer(t, exp.address);
  const ns = importedNamespace(imp);
  const c = resolvePipelined(ns, '/counter', Counter);
  assert.equal(await increment(c), 42n);
  const fork = (await ns.fork().promise()).ns;
  exp.revoke('test');
  const revoked = (e: unknown) => e instanceof RpcError && /revoked: test/.test(e.message);
  await assert.rejects(c.get().promise(), revoked);
  await assert.rejects(fork.describe().promise(), revoked);
  await assert.rejects(ns.describe().promise(), revoked);
  release(c); release(fork); release(ns);
});

test('connections past maxConnections are cut', async (t) => {
  const { exp } = await exportA(t, { maxConnections: 1 });
  const { imp: first } = await importer(t, exp.address);
  assert.equal(first.connected, true);
  const second = startImport({ address: exp.address, token: 'sesame', backoffMinMs: 10_000 });
  t.after(() => second.close());
  await second.firstAttempt();
  assert.equal(second.connected, false);
});

test('resolve through an import and a call on the result cost one round trip (pipelined)', async (t) => {
  const { exp } = await exportA(t);
  const lines: string[] = [];
  const { ns, imp } = await importer(t, exp.address, { trace: (l) => lines.push(l), heartbeatMs: 60_000 });
  assert.equal(imp.connected, true);
  lines.length = 0;
  const c = resolvePipelined(ns, '/n/a/counter', Counter);
  const value = await increment(c);
  assert.equal(value, 42n);
  // Both calls (resolve, then increment pipelined on its answer) left before the first
  // Return came back: one network round trip.
  const firstReturn = lines.findIndex((l) => / < return /.test(l));
  const callsBefore = lines.slice(0, firstReturn).filter((l) => / > call /.test(l));
  assert.equal(callsBefore.length, 2, lines.join('\n'));
  assert.match(callsBefore[1]!, /answer#/);
  release(c);
});

test('the exporter dies: calls fail disconnected, local mounts work, the import reconnects by itself', async (t) => {
  const first = await exportA(t);
  const port = Number(first.exp.address.split('!')[2]);
  const { ns, imp } = await importer(t, first.exp.address, { backoffMinMs: 20, backoffMaxMs: 100 });
  const old = resolvePipelined(ns, '/n/a/counter', Counter);
  assert.equal(await increment(old), 42n);
  first.exp.destroy();
  const disconnected = (e: unknown) => e instanceof RpcError && e.type === 'disconnected';
  await assert.rejects(old.get().promise(), disconnected);
  const during = resolvePipelined(ns, '/n/a/counter', Counter);
  await assert.rejects(during.get().promise(), disconnected);
  release(during);
  const local = resolvePipelined(ns, '/local/counter', Counter);
  assert.equal(await increment(local), 1n);
  release(local);
  // A new exporter on the same address: the import comes back without anyone acting.
  const state = new TestState();
  const a2 = hostA(state);
  const exp2 = await startExport({ ns: a2, root: '/svc', listen: `127.0.0.1:${port}`, tokens: ['sesame'] });
  release(a2);
  t.after(() => exp2.destroy());
  while (imp.connections < 2) await new Promise((r) => setTimeout(r, 20));
  const fresh = resolvePipelined(ns, '/n/a/counter', Counter);
  assert.equal(await increment(fresh), 42n);
  // What was obtained before the outage stays broken.
  await assert.rejects(old.get().promise(), disconnected);
  release(fresh); release(old);
});

test('a peer that goes silent without closing is detected by the heartbeat', async (t) => {
  const { exp } = await exportA(t);
  const relay = await Relay.start(exp.address);
  t.after(() => relay.close());
  const { ns, imp } = await importer(t, relay.address, { heartbeatMs: 50, heartbeatTimeoutMs: 1000, backoffMinMs: 20, backoffMaxMs: 50 });
  const c = resolvePipelined(ns, '/n/a/counter', Counter);
  assert.equal(await increment(c), 42n);
  relay.freeze();
  // Nothing ever answers this call; the heartbeat declares the peer dead and fails it.
  await assert.rejects(c.get().promise(), (e: unknown) => e instanceof RpcError && e.type === 'disconnected');
  assert.equal(imp.connected, false);
  relay.thaw();
  while (imp.connections < 2) await new Promise((r) => setTimeout(r, 20));
  const again = resolvePipelined(ns, '/n/a/counter', Counter);
  assert.equal(await increment(again), 43n);
  release(c); release(again);
});

test('path patterns follow into file trees: File walks are checked name by name, attach names too; .. is refused', async (t) => {
  const mem = new MemFileServer();
  const { root: r0 } = await mem.attach('');
  for (const name of ['secret', 'pub']) {
    const d = await r0.create(name, DMDIR | 0o755, { access: 'read' });
    await d.file.clunk();
  }
  await r0.clunk();
  const table = new MountTable<Client>();
  table.bind('/svc/files', { cap: serveFileServer(mem).client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'files' });
  const host = serveNamespace(table);
  const exp = await startExport({ ns: host, root: '/svc', listen: '127.0.0.1:0', tokens: ['sesame'], filter: parseExportFilter('- ^\\./files/secret') });
  release(host);
  t.after(() => exp.destroy());
  const { imp } = await importer(t, exp.address);
  const ns = importedNamespace(imp);
  t.after(() => release(ns));
  const notExported = /not exported/;
  await refusedWith(ns.walk((p) => (p.path = '/files/secret')).promise(), notExported);
  const pub = (await ns.walk((p) => (p.path = '/files/pub')).promise()).result;
  assert.ok(pub._isFile, pub._isErr ? pub.err.message : '');
  release(pub.file);
  // From the directory /files: walking into secret is refused, pub is fine, .. is refused.
  const dir = (await ns.walk((p) => (p.path = '/files')).promise()).result.file;
  await refusedWith(dir.walk((p) => p._initNames(1).set(0, 'secret')).promise(), notExported);
  const w = (await dir.walk((p) => p._initNames(1).set(0, 'pub')).promise()).result;
  assert.ok(w._isFile);
  // And from pub (a File derived from a File): its path is known, .. cannot climb.
  await refusedWith(w.file.walk((p) => { const n = p._initNames(2); n.set(0, '..'); n.set(1, 'secret'); }).promise(), /are not walked/);
  await refusedWith(dir.create((p) => { p.name = 'secret'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise(), notExported);
  release(w.file);
  release(dir);
  // A FileServer resolved through the export is placed where resolve found it: its tree
  // below a filtered name cannot be attached, and its Files are judged as any others.
  const fs = resolvePipelined(ns, '/files', FileServer);
  await refusedWith(fs.attach((p) => (p.aname = 'secret')).promise(), notExported);
  const top = (await fs.attach((p) => (p.aname = '')).promise()).result;
  assert.ok(top._isOk, top._isErr ? top.err.message : '');
  await refusedWith(top.ok.root.walk((p) => p._initNames(1).set(0, 'secret')).promise(), notExported);
  release(top.ok.root);
  release(fs);
  // What resolve returns below a file tree's root has no place of its own to judge from.
  const deep = resolvePipelined(ns, '/files/pub', FileServer);
  const d = (await deep.attach((p) => (p.aname = '')).promise()).result;
  assert.ok(d._isOk || d.err.code === Failure_Code.PERMISSION_DENIED);
  if (d._isOk) release(d.ok.root);
  release(deep);
});

test('nothing leaks: closing the import and the export frees every local object they held (view, Gate, grants, files)', async () => {
  const baseline = liveLocalObjects();
  {
    const state = new TestState();
    const host = hostA(state);
    const exp = await startExport({ ns: host, root: '/svc', listen: '127.0.0.1:0', tokens: ['sesame'] });
    release(host);
    const imp = startImport({ address: exp.address, token: 'sesame', backoffMinMs: 10 });
    await imp.firstAttempt();
    const table = new MountTable<Client>();
    table.bind('/n/a', { cap: imp.capability(), interfaceId: NAMESPACE_INTERFACE_ID, label: 'a' });
    const ns = serveNamespace(table);
    for (let i = 0; i < 5; i++) {
      const c = resolvePipelined(ns, '/n/a/counter', Counter);
      await increment(c);
      release(c);
    }
    const fs = resolvePipelined(ns, '/n/a/files', FileServer);
    const root = (await fs.attach((p) => (p.aname = '')).promise()).result.ok.root;
    release(root);
    release(fs);
    release(ns);
    await imp.close();
    await exp.close();
  }
  for (let i = 0; i < 200 && liveLocalObjects() !== baseline; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(liveLocalObjects(), baseline);
});

test("a peer's in-flight calls are bounded by the export's limits (backpressure, none fail)", async (t) => {
  let now = 0;
  let max = 0;
  const slow = serve(Echo, {
    async echo(p: Echo_Echo$Params, r: Echo_Echo$Results) {
      max = Math.max(max, ++now);
      await new Promise((res) => setTimeout(res, 20));
      now--;
      r.text = p.text;
    },
  });
  const table = new MountTable<Client>();
  table.bind('/svc/slow', { cap: slow.client, interfaceId: Echo.Client.interfaceId, label: 'slow' });
  const host = serveNamespace(table);
  const exp = await startExport({ ns: host, root: '/svc', listen: '127.0.0.1:0', tokens: ['sesame'], limits: { maxInFlightCalls: 2 } });
  release(host);
  t.after(() => exp.destroy());
  const { imp } = await importer(t, exp.address, { heartbeatMs: 60_000 });
  const ns = importedNamespace(imp);
  const echo = resolvePipelined(ns, '/slow', Echo);
  const texts = await Promise.all(Array.from({ length: 10 }, (_, i) => echo.echo((p) => (p.text = `t${i}`)).promise()));
  assert.deepEqual(texts.map((x) => x.text), Array.from({ length: 10 }, (_, i) => `t${i}`));
  assert.ok(max >= 1 && max <= 2, `at most 2 calls at once on the exporter, saw ${max}`);
  release(echo);
  release(ns);
});
