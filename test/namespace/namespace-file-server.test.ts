import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NsError } from '../../src/errors.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import type { File, FileServer } from '../../src/fileserver/file-server.js';
import { DMDIR, QTDIR } from '../../src/fileserver/file-server.js';
import { FILE_SERVER_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable, type Member } from '../../src/namespace/mount-table.js';
import { NamespaceFileServer } from '../../src/namespace/namespace-file-server.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

type Cap = FileServer | { service: string };

function fsMember(fs: FileServer, label: string): Member<Cap> {
  return { cap: fs, interfaceId: FILE_SERVER_INTERFACE_ID, label };
}

/** A ramfs holding `files` (path -> contents; a trailing '/' makes a directory). */
async function ramfs(files: Record<string, string>): Promise<MemFileServer> {
  const fs = new MemFileServer();
  const { root } = await fs.attach('');
  for (const [path, body] of Object.entries(files)) {
    const parts = path.split('/').filter((p) => p !== '');
    let dir = root;
    const opened: File[] = [];
    for (const [i, name] of parts.entries()) {
      const last = i === parts.length - 1;
      const w = await dir.walk([name]);
      if (w.file !== undefined && !(last && !path.endsWith('/'))) {
        opened.push(w.file);
        dir = w.file;
        continue;
      }
      if (w.file !== undefined) await w.file.clunk();
      const isDir = !last || path.endsWith('/');
      const c = await dir.create(name, isDir ? DMDIR | 0o777 : 0o666, { access: isDir ? 'read' : 'write' });
      if (!isDir) await c.file.write(0n, enc.encode(body));
      if (isDir) {
        await c.file.clunk();
        const again = await dir.walk([name]);
        assert.ok(again.file);
        opened.push(again.file);
        dir = again.file;
      } else {
        await c.file.clunk();
      }
    }
    for (const f of opened) await f.clunk();
  }
  await root.clunk();
  return fs;
}

function server(table: MountTable<Cap>, readOnly = false): NamespaceFileServer<Cap> {
  return new NamespaceFileServer(table, {
    fileServer: (m) => (m.interfaceId === FILE_SERVER_INTERFACE_ID ? (m.cap as FileServer) : undefined),
    readOnly,
  });
}

async function walkTo(fs: FileServer, path: string): Promise<File> {
  const { root } = await fs.attach('');
  try {
    const w = await root.walk(path.split('/').filter((p) => p !== ''));
    if (w.file === undefined) throw w.error;
    return w.file;
  } finally {
    await root.clunk();
  }
}

async function readFile(fs: FileServer, path: string): Promise<string> {
  const f = await walkTo(fs, path);
  try {
    await f.open({ access: 'read' });
    return dec.decode(await f.read(0n, 1 << 16));
  } finally {
    await f.clunk();
  }
}

async function names(fs: FileServer, path: string): Promise<string[]> {
  const f = await walkTo(fs, path);
  try {
    await f.open({ access: 'read' });
    const out: string[] = [];
    for (;;) {
      const page = await f.readDir(out.length, 2);
      if (page.length === 0) return out;
      out.push(...page.map((s) => s.name));
    }
  } finally {
    await f.clunk();
  }
}

test('a union mount point walks its members in order, first match wins (the seeds\' /bin)', async () => {
  const rc = await ramfs({ 'rc/bin/cd': 'rc builtin cd', 'rc/bin/ls': 'rc ls' });
  const arch = await ramfs({ '386/bin/ls': '386 ls', '386/bin/cat': '386 cat' });
  const home = await ramfs({ 'bin/386/cat': 'my cat' });
  const t = new MountTable<Cap>();
  t.bind('/bin', fsMember(rc, 'rc'), { spec: 'rc/bin', position: 'after' });
  t.bind('/bin', fsMember(arch, '386'), { spec: '386/bin', position: 'after' });
  t.bind('/bin', fsMember(home, 'home'), { spec: 'bin/386', position: 'before' });
  const ns = server(t);
  assert.equal(await readFile(ns, '/bin/cat'), 'my cat');
  assert.equal(await readFile(ns, '/bin/ls'), 'rc ls');
  assert.equal(await readFile(ns, '/bin/cd'), 'rc builtin cd');
  // Listing: members in order, de-duplicated, first wins — the order lookup uses.
  assert.deepEqual(await names(ns, '/bin'), ['cat', 'cd', 'ls']);
  assert.deepEqual(await names(ns, '/'), ['bin']);
});

test('parents of mount points are synthetic directories, listed before member entries', async () => {
  const data = await ramfs({ 'x.txt': 'x', 'sub/': '' });
  const t = new MountTable<Cap>();
  t.bind('/n/data', fsMember(data, 'data'));
  t.bind('/n/data/extra', fsMember(await ramfs({ 'e.txt': 'e' }), 'extra'));
  const ns = server(t);
  assert.deepEqual(await names(ns, '/'), ['n']);
  assert.deepEqual(await names(ns, '/n'), ['data']);
  // Mount points first, then the member's entries in the member's own order.
  assert.deepEqual(await names(ns, '/n/data'), ['extra', 'x.txt', 'sub']);
  assert.equal(await readFile(ns, '/n/data/extra/e.txt'), 'e');
  const st = await (await walkTo(ns, '/n')).stat();
  assert.equal(st.qid.type, QTDIR);
  assert.equal((st.mode & DMDIR) >>> 0, DMDIR);
  assert.ok(st.mode > 0, "mode is an unsigned 32-bit value");
});

test('a capability that is not a FileServer is a read-only file describing it', async () => {
  const t = new MountTable<Cap>();
  t.bind('/svc/clock', { cap: { service: 'clock' }, interfaceId: 0x1234n, label: 'clock' });
  const ns = server(t);
  assert.deepEqual(await names(ns, '/svc'), ['clock']);
  assert.equal(await readFile(ns, '/svc/clock'), 'interface 0x0000000000001234\nlabel clock\n');
  const f = await walkTo(ns, '/svc/clock');
  await assert.rejects(f.open({ access: 'write' }), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION');
  const w = await f.walk(['x']);
  assert.equal(w.error?.code, 'NS_ERR_NOT_DIR');
  await f.clunk();
});

test('create at a mount point goes to the first create member only; none means permission denied', async () => {
  const a = await ramfs({});
  const b = await ramfs({});
  const t = new MountTable<Cap>();
  t.bind('/tmp', fsMember(a, 'a'));
  t.bind('/tmp', fsMember(b, 'b'), { position: 'after', create: true });
  const ns = server(t);
  const dir = await walkTo(ns, '/tmp');
  const c = await dir.create('new.txt', 0o644, { access: 'write' });
  await c.file.write(0n, enc.encode('hello'));
  await c.file.clunk();
  assert.deepEqual(await names(b, '/'), ['new.txt']);
  assert.deepEqual(await names(a, '/'), []);
  assert.equal(await readFile(ns, '/tmp/new.txt'), 'hello');

  const t2 = new MountTable<Cap>();
  t2.bind('/tmp', fsMember(a, 'a'));
  const dir2 = await walkTo(server(t2), '/tmp');
  await assert.rejects(dir2.create('x', 0o644, { access: 'write' }), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION');
  await dir.clunk();
  await dir2.clunk();
});

test('a read-only namespace refuses writes, creates and removes through its members', async () => {
  const data = await ramfs({ 'f': 'v' });
  const t = new MountTable<Cap>();
  t.bind('/data', fsMember(data, 'data'), { create: true });
  const ns = server(t, true);
  const f = await walkTo(ns, '/data/f');
  await assert.rejects(f.open({ access: 'write' }), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION');
  await assert.rejects(f.remove(), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION');
  const d = await walkTo(ns, '/data');
  await assert.rejects(d.create('g', 0o644, { access: 'write' }), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_PERMISSION');
  await d.clunk();
  assert.equal(await readFile(data, '/f'), 'v');
});

test('.. never climbs above an attach name, and walks report how far they got', async () => {
  const data = await ramfs({ 'a/b/c': 'deep' });
  const t = new MountTable<Cap>();
  t.bind('/n/data', fsMember(data, 'data'));
  t.bind('/secret', fsMember(await ramfs({ 'key': 'k' }), 'secret'));
  const ns = server(t);
  const { root } = await ns.attach('/n');
  const up = await root.walk(['..', '..', 'secret']);
  assert.equal(up.error?.code, 'NS_ERR_NOT_FOUND');
  assert.equal(up.qids.length, 2); // '..' twice stays at the view's root
  const down = await root.walk(['data', 'a', 'b', 'missing']);
  assert.equal(down.qids.length, 3);
  assert.equal(down.error?.code, 'NS_ERR_NOT_FOUND');
  const back = await root.walk(['data', 'a', 'b', '..', '..', '..', 'data', 'a', 'b', 'c']);
  assert.ok(back.file);
  await back.file.open({ access: 'read' });
  assert.equal(dec.decode(await back.file.read(0n, 100)), 'deep');
  await back.file.clunk();
  await root.clunk();
});

test('a relative attach name names the same directory as the absolute one (diodls -a tmp, docs/9p.md)', async () => {
  const t = new MountTable<Cap>();
  t.bind('/n/data', fsMember(await ramfs({ 'a/f': 'x' }), 'data'));
  const ns = server(t);
  for (const aname of ['n/data', '/n/data', 'n/data/a']) {
    const { root } = await ns.attach(aname);
    const w = await root.walk(aname.endsWith('/a') ? ['f'] : ['a', 'f']);
    assert.ok(w.file, `attach ${aname}: ${w.error?.message}`);
    await w.file.open({ access: 'read' });
    assert.equal(dec.decode(await w.file.read(0n, 10)), 'x');
    await w.file.clunk();
    await root.clunk();
  }
});

test('qid paths are unique across members and namespace directories', async () => {
  const a = await ramfs({ 'f': '1' });
  const b = await ramfs({ 'g': '2' });
  const t = new MountTable<Cap>();
  t.bind('/u', fsMember(a, 'a'));
  t.bind('/u', fsMember(b, 'b'), { position: 'after' });
  const ns = server(t);
  const stats = await Promise.all(['/u/f', '/u/g', '/u', '/'].map(async (p) => (await walkTo(ns, p)).stat()));
  const paths = new Set(stats.map((s) => s.qid.path));
  assert.equal(paths.size, 4);
  // Stable: the same file walked twice has the same qid path.
  assert.equal((await (await walkTo(ns, '/u/f')).stat()).qid.path, stats[0]?.qid.path);
});

test('binds and unmounts show at once; a File inside a member survives its unmount', async () => {
  const data = await ramfs({ 'f': 'still here' });
  const t = new MountTable<Cap>();
  t.bind('/data', fsMember(data, 'data'));
  const ns = server(t);
  const f = await walkTo(ns, '/data/f');
  t.unmount('/data');
  await assert.rejects(walkTo(ns, '/data/f'));
  await f.open({ access: 'read' });
  assert.equal(dec.decode(await f.read(0n, 100)), 'still here');
  await f.clunk();
});
