// The FileServer conformance suite: the semantics of src/fileserver/file-server.ts,
// run against every server that implements it (mem-file-server.test.ts,
// dir-file-server.test.ts). Each test gets a fresh, empty server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';

import { NsError } from '../../src/errors.js';
import type { NsErrorCode } from '../../src/errors.js';
import {
  DMAPPEND,
  DMDIR,
  DMEXCL,
  KEEP_U32,
  KEEP_U64,
  QTDIR,
  QTFILE,
} from '../../src/fileserver/file-server.js';
import type { File, FileServer, OpenMode } from '../../src/fileserver/file-server.js';

/** A server under test and how to dispose of it. */
export interface Subject {
  fs: FileServer & { readonly liveFiles: number };
  close(): Promise<void>;
}

/** What a server supports beyond the common core. */
export interface Features {
  /** DMEXCL and DMAPPEND files. */
  exclusiveAndAppend: boolean;
}

export type MakeSubject = (options: { iounit?: number }) => Promise<Subject>;

export const R: OpenMode = { access: 'read' };
export const W: OpenMode = { access: 'write' };
export const RW: OpenMode = { access: 'readWrite' };

/** Asserts that `p` rejects with an NsError carrying `code`. */
export async function rejectsWith(p: Promise<unknown>, code: NsErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof NsError, `expected NsError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Attaches, registering cleanup of the root and the server. */
export async function attach(
  t: TestContext,
  make: MakeSubject,
  options: { iounit?: number } = {},
): Promise<File> {
  const s = await make(options);
  const { root } = await s.fs.attach('');
  t.after(async () => {
    await root.clunk();
    // The leak check: every File a test made was clunked (the server's count is exact).
    assert.equal(s.fs.liveFiles, 0, 'Files left unclunked');
    await s.close();
  });
  return root;
}

/** Walks `names` from `dir`, asserting that the walk is complete. The caller owns the File. */
export async function walkTo(dir: File, ...names: string[]): Promise<File> {
  const r = await dir.walk(names);
  if (r.file === undefined) throw r.error;
  return r.file;
}

/** Creates a file holding `content` in `dir`. */
export async function mkfile(dir: File, name: string, content = '', perm = 0o644): Promise<void> {
  const { file } = await dir.create(name, perm, RW);
  if (content !== '') await file.write(0n, bytes(content));
  await file.clunk();
}

export async function mkdir(dir: File, name: string, perm = 0o755): Promise<void> {
  const { file } = await dir.create(name, DMDIR | perm, R);
  await file.clunk();
}

export async function readAll(dir: File, ...names: string[]): Promise<string> {
  const f = await walkTo(dir, ...names);
  try {
    await f.open(R);
    let out = '';
    for (let off = 0n; ;) {
      const b = await f.read(off, 4096);
      if (b.length === 0) return out;
      out += text(b);
      off += BigInt(b.length);
    }
  } finally {
    await f.clunk();
  }
}

export async function names(dir: File, ...path: string[]): Promise<string[]> {
  const d = await walkTo(dir, ...path);
  try {
    await d.open(R);
    return (await d.readDir(0, 1 << 20)).map((s) => s.name).sort();
  } finally {
    await d.clunk();
  }
}

export function conformance(label: string, make: MakeSubject, features: Features): void {
  const it = (name: string, fn: (t: TestContext) => Promise<void>): void => {
    test(`${label}: ${name}`, fn);
  };

  it('attach gives an unopened root directory named "/"', async (t) => {
    const root = await attach(t, make);
    const st = await root.stat();
    assert.equal(st.name, '/');
    assert.equal(st.qid.type, QTDIR);
    // Modes are unsigned 32-bit values, DMDIR included (JavaScript's `|` is signed).
    assert.equal(st.mode, (DMDIR | (st.mode & 0o777)) >>> 0);
    await rejectsWith(root.readDir(0, 10), 'NS_ERR_NOT_OPEN');
  });

  it('attach with an aname selects a subtree whose ".." stays inside', async (t) => {
    const s = await make({});
    t.after(() => s.close());
    const { root } = await s.fs.attach('');
    await mkdir(root, 'sub');
    const sub = await walkTo(root, 'sub');
    await mkfile(sub, 'inner', 'x');
    await mkfile(root, 'outer', 'y');
    await sub.clunk();
    const { root: subRoot, qid } = await s.fs.attach('sub');
    assert.equal(qid.type, QTDIR);
    assert.equal((await subRoot.stat()).name, '/');
    const up = await subRoot.walk(['..', '..', 'inner']);
    assert.ok(up.file !== undefined);
    assert.equal(up.qids.length, 3);
    await up.file.clunk();
    const out = await subRoot.walk(['..', 'outer']);
    assert.equal(out.file, undefined);
    assert.equal(out.error?.code, 'NS_ERR_NOT_FOUND');
    await rejectsWith(s.fs.attach('nope'), 'NS_ERR_NOT_FOUND');
    await rejectsWith(s.fs.attach('outer'), 'NS_ERR_NOT_DIR');
    await rejectsWith(s.fs.attach('outer/x'), 'NS_ERR_NOT_DIR');
    await rejectsWith(s.fs.attach('sub/../..'), 'NS_ERR_INVALID_PATH');
    const slash = await s.fs.attach('/sub/');
    assert.equal((await slash.root.stat()).qid.path, qid.path);
    await slash.root.clunk();
    await subRoot.clunk();
    await root.clunk();
    assert.equal(s.fs.liveFiles, 0);
  });

  it('create, write and read back; qid.path stable and unique, qid.version bumped by writes', async (t) => {
    const root = await attach(t, make);
    const a = await root.create('a', 0o644, RW);
    const b = await root.create('b', 0o644, RW);
    assert.notEqual(a.qid.path, b.qid.path);
    assert.equal(a.qid.type, QTFILE);
    assert.ok(a.iounit > 0);
    assert.equal(await a.file.write(0n, bytes('hello')), 5);
    const v1 = (await a.file.stat()).qid.version;
    assert.notEqual(v1, a.qid.version);
    await a.file.write(5n, bytes(' world'));
    const st = await a.file.stat();
    assert.notEqual(st.qid.version, v1);
    assert.equal(st.qid.path, a.qid.path);
    assert.equal(st.length, 11n);
    assert.equal(st.name, 'a');
    assert.equal(text(await a.file.read(0n, 100)), 'hello world');
    assert.equal(text(await a.file.read(6n, 3)), 'wor');
    assert.equal((await a.file.read(11n, 10)).length, 0);
    assert.equal((await a.file.read(1000n, 10)).length, 0);
    await a.file.clunk();
    await b.file.clunk();
    const again = await walkTo(root, 'a');
    assert.equal((await again.stat()).qid.path, a.qid.path);
    await again.clunk();
    assert.equal(await readAll(root, 'a'), 'hello world');
  });

  it('a write beyond the end fills the gap with zeros', async (t) => {
    const root = await attach(t, make);
    const { file } = await root.create('sparse', 0o644, RW);
    await file.write(0n, bytes('ab'));
    await file.write(6n, bytes('cd'));
    const b = await file.read(0n, 100);
    assert.deepEqual([...b], [0x61, 0x62, 0, 0, 0, 0, 0x63, 0x64]);
    await file.clunk();
  });

  it('a large gap reads as zeros in large reads too', async (t) => {
    const root = await attach(t, make);
    const { file } = await root.create('sparse-big', 0o644, RW);
    // Some garbage-looking memory churn first, so an unzeroed buffer would show.
    for (let i = 0; i < 8; i++) Buffer.allocUnsafe(64 * 1024).fill(0xee);
    await file.write(1000n, new Uint8Array(3000).fill(0x41));
    await file.write(300_000n, bytes('end'));
    for (let at = 0; at < 300_000; ) {
      const b = await file.read(BigInt(at), Math.min(32 * 1024, 300_000 - at));
      assert.ok(b.length > 0, `read at ${at} returned bytes`);
      for (let i = 0; i < b.length; i++) {
        const want = at + i >= 1000 && at + i < 4000 ? 0x41 : 0;
        if (b[i] !== want) assert.fail(`byte ${at + i} is ${b[i]}, want ${want}`);
      }
      at += b.length;
    }
    assert.equal(Buffer.from(await file.read(300_000n, 100)).toString(), 'end');
    await file.clunk();
  });

  it('bytes a read returned never change: not by a later write, nor by a truncate', async (t) => {
    const root = await attach(t, make);
    const { file } = await root.create('snap', 0o644, RW);
    await file.write(0n, new Uint8Array(128 * 1024).fill(0x11));
    const whole = await file.read(0n, 64 * 1024); // one aligned block
    const part = await file.read(100n, 50); // inside it
    const hole = await file.read(200_000n - 10n, 5); // past the end: nothing
    assert.equal(hole.length, 0);
    await file.write(0n, new Uint8Array(64 * 1024).fill(0x22));
    await file.wstat({ length: 10n });
    await file.write(70_000n, bytes('x')); // re-extends over the old second block
    assert.ok(whole.every((b) => b === 0x11), 'the first read still holds the old bytes');
    assert.ok(part.every((b) => b === 0x11), 'and so does the small one');
    const now = await file.read(0n, 64 * 1024);
    assert.ok(now.subarray(0, 10).every((b) => b === 0x22), 'the file has the new bytes');
    assert.ok(now.subarray(10).every((b) => b === 0), 'zeros past the truncation');
    await file.clunk();
  });

  it('walk reports partial progress: qids up to the failing name, and why', async (t) => {
    const root = await attach(t, make);
    await mkdir(root, 'd');
    const d = await walkTo(root, 'd');
    await mkdir(d, 'e');
    await d.clunk();
    const r = await root.walk(['d', 'e', 'missing', 'x']);
    assert.equal(r.file, undefined);
    assert.equal(r.qids.length, 2);
    assert.equal(r.qids[0]?.type, QTDIR);
    assert.equal(r.error?.code, 'NS_ERR_NOT_FOUND');
    const first = await root.walk(['missing']);
    assert.deepEqual(first.qids, []);
    assert.equal(first.error?.code, 'NS_ERR_NOT_FOUND');
  });

  it('walk through a file stops with NS_ERR_NOT_DIR', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f', 'x');
    const r = await root.walk(['f', 'g']);
    assert.equal(r.qids.length, 1);
    assert.equal(r.error?.code, 'NS_ERR_NOT_DIR');
    const f = await walkTo(root, 'f');
    const r2 = await f.walk(['g']);
    assert.deepEqual(r2.qids, []);
    assert.equal(r2.error?.code, 'NS_ERR_NOT_DIR');
    await f.clunk();
  });

  it('walk: ".." of the root is the root; ".." of a directory its parent', async (t) => {
    const root = await attach(t, make);
    const rootQid = (await root.stat()).qid;
    await mkdir(root, 'd');
    const r = await root.walk(['..', '..', 'd', '..']);
    assert.ok(r.file !== undefined);
    assert.equal(r.qids.length, 4);
    assert.equal(r.qids[0]?.path, rootQid.path);
    assert.equal(r.qids[1]?.path, rootQid.path);
    assert.equal(r.qids[3]?.path, rootQid.path);
    assert.equal((await r.file.stat()).name, '/');
    await r.file.clunk();
  });

  it('walk of at most 16 names; more is NS_ERR_TOO_LARGE', async (t) => {
    const root = await attach(t, make);
    const ok = await root.walk(Array<string>(16).fill('..'));
    assert.equal(ok.qids.length, 16);
    await ok.file?.clunk();
    await rejectsWith(root.walk(Array<string>(17).fill('..')), 'NS_ERR_TOO_LARGE');
  });

  it('walk of no names clones the file, unopened, leaving the original as it was', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f', 'data');
    const f = await walkTo(root, 'f');
    await f.open(R);
    const c = await f.walk([]);
    assert.deepEqual(c.qids, []);
    assert.ok(c.file !== undefined);
    await rejectsWith(c.file.read(0n, 4), 'NS_ERR_NOT_OPEN');
    assert.equal(text(await f.read(0n, 4)), 'data');
    assert.equal((await c.file.stat()).qid.path, (await f.stat()).qid.path);
    await c.file.clunk();
    await f.clunk();
  });

  it('walk refuses malformed names', async (t) => {
    const root = await attach(t, make);
    for (const bad of ['', '.', 'a/b', 'a\0b']) {
      const r = await root.walk([bad]);
      assert.equal(r.error?.code, 'NS_ERR_INVALID_PATH', JSON.stringify(bad));
    }
    const long = await root.walk(['x'.repeat(256)]);
    assert.equal(long.error?.code, 'NS_ERR_TOO_LARGE');
  });

  it('I/O needs an open of the right kind', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f', 'abc');
    const f = await walkTo(root, 'f');
    await rejectsWith(f.read(0n, 1), 'NS_ERR_NOT_OPEN');
    await rejectsWith(f.write(0n, bytes('x')), 'NS_ERR_NOT_OPEN');
    await f.open(R);
    await rejectsWith(f.write(0n, bytes('x')), 'NS_ERR_NOT_OPEN');
    await rejectsWith(f.open(R), 'NS_ERR_INVALID_ARGUMENT');
    await f.clunk();
    const w = await walkTo(root, 'f');
    await w.open(W);
    await rejectsWith(w.read(0n, 1), 'NS_ERR_NOT_OPEN');
    await w.write(0n, bytes('X'));
    await w.clunk();
    assert.equal(await readAll(root, 'f'), 'Xbc');
  });

  it('two concurrent opens of one File: exactly one succeeds', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f', 'x');
    const f = await walkTo(root, 'f');
    const results = await Promise.allSettled([f.open(R), f.open(R), f.open(RW)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) {
      if (r.status === 'rejected')
        assert.equal((r.reason as NsError).code, 'NS_ERR_INVALID_ARGUMENT');
    }
    await f.clunk();
  });

  it('a directory opens for reading only, and is read with readDir', async (t) => {
    const root = await attach(t, make);
    await mkdir(root, 'd');
    for (const mode of [
      W,
      RW,
      { access: 'exec' } as const,
      { access: 'read', truncate: true } as const,
    ]) {
      const d = await walkTo(root, 'd');
      await rejectsWith(d.open(mode), 'NS_ERR_IS_DIR');
      await d.clunk();
    }
    const d = await walkTo(root, 'd');
    await d.open(R);
    await rejectsWith(d.read(0n, 10), 'NS_ERR_IS_DIR');
    await d.clunk();
    await mkfile(root, 'f');
    const f = await walkTo(root, 'f');
    await f.open(R);
    await rejectsWith(f.readDir(0, 10), 'NS_ERR_NOT_DIR');
    await f.clunk();
  });

  it('OTRUNC empties the file and bumps its version', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f', 'content');
    const f = await walkTo(root, 'f');
    const before = (await f.stat()).qid.version;
    const { qid } = await f.open({ access: 'write', truncate: true });
    assert.notEqual(qid.version, before);
    assert.equal((await f.stat()).length, 0n);
    await f.clunk();
    assert.equal(await readAll(root, 'f'), '');
    await mkfile(root, 'g', 'content');
    const g = await walkTo(root, 'g');
    await g.open({ access: 'read', truncate: true });
    assert.equal((await g.read(0n, 10)).length, 0);
    await rejectsWith(g.write(0n, bytes('x')), 'NS_ERR_NOT_OPEN');
    await g.clunk();
  });

  it('ORCLOSE removes the file when it is clunked', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'tmp', 'x');
    const f = await walkTo(root, 'tmp');
    await f.open({ access: 'read', removeOnClose: true });
    assert.deepEqual(await names(root), ['tmp']);
    await f.clunk();
    assert.deepEqual(await names(root), []);
    const c = await root.create('made', 0o644, { access: 'write', removeOnClose: true });
    await c.file.clunk();
    assert.deepEqual(await names(root), []);
  });

  it('create refuses taken and malformed names; creates directories', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f');
    await rejectsWith(root.create('f', 0o644, RW), 'NS_ERR_EXISTS');
    await mkdir(root, 'd');
    await rejectsWith(root.create('d', DMDIR | 0o755, R), 'NS_ERR_EXISTS');
    for (const bad of ['', '.', '..', 'a/b']) {
      await rejectsWith(root.create(bad, 0o644, RW), 'NS_ERR_INVALID_PATH');
    }
    await rejectsWith(root.create('y'.repeat(256), 0o644, RW), 'NS_ERR_TOO_LARGE');
    await rejectsWith(root.create('dw', DMDIR | 0o755, W), 'NS_ERR_IS_DIR');
    const f = await walkTo(root, 'f');
    await rejectsWith(f.create('x', 0o644, RW), 'NS_ERR_NOT_DIR');
    await f.clunk();
    const d = await walkTo(root, 'd');
    const c = await d.create('sub', DMDIR | 0o700, R);
    assert.equal(c.qid.type, QTDIR);
    assert.deepEqual(await c.file.readDir(0, 10), []);
    await c.file.clunk();
    await d.clunk();
    assert.deepEqual(await names(root, 'd'), ['sub']);
  });

  it('create masks permission bits by the directory (create(5))', async (t) => {
    const root = await attach(t, make);
    await mkdir(root, 'd', 0o750);
    const d = await walkTo(root, 'd');
    await d.wstat({ mode: DMDIR | 0o750 }); // whatever the root's own bits masked off
    const f = await d.create('f', 0o666, RW);
    assert.equal((await f.file.stat()).mode & 0o777, 0o640);
    const e = await d.create('e', DMDIR | 0o777, R);
    assert.equal((await e.file.stat()).mode & 0o777, 0o750);
    assert.ok(((await e.file.stat()).mode & DMDIR) !== 0);
    await e.file.clunk();
    await f.file.clunk();
    await d.clunk();
  });

  it('create opens the new file with the mode asked, whatever its permissions', async (t) => {
    const root = await attach(t, make);
    const { file } = await root.create('ro', 0o444, RW);
    await file.write(0n, bytes('ok'));
    assert.equal(text(await file.read(0n, 2)), 'ok');
    await file.clunk();
  });

  it('permission bits: owner r, w and x are enforced', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'ro', 'x', 0o444);
    const ro = await walkTo(root, 'ro');
    await rejectsWith(ro.open(W), 'NS_ERR_PERMISSION');
    await rejectsWith(ro.open({ access: 'read', truncate: true }), 'NS_ERR_PERMISSION');
    await rejectsWith(ro.open({ access: 'exec' }), 'NS_ERR_PERMISSION');
    await rejectsWith(ro.wstat({ length: 0n }), 'NS_ERR_PERMISSION');
    await ro.open(R);
    await ro.clunk();
    await mkfile(root, 'wo', 'x', 0o200);
    const wo = await walkTo(root, 'wo');
    await rejectsWith(wo.open(R), 'NS_ERR_PERMISSION');
    await rejectsWith(wo.open(RW), 'NS_ERR_PERMISSION');
    await wo.open(W);
    await wo.clunk();
    await mkdir(root, 'locked', 0o500);
    const locked = await walkTo(root, 'locked');
    await rejectsWith(locked.create('x', 0o644, RW), 'NS_ERR_PERMISSION');
    await locked.clunk();
    await mkdir(root, 'nox', 0o600);
    const nox = await walkTo(root, 'nox');
    const r = await nox.walk(['anything']);
    assert.equal(r.error?.code, 'NS_ERR_PERMISSION');
    await nox.clunk();
  });

  it('readDir lists entries with their stat, pages by entry, and ends with an empty list', async (t) => {
    const root = await attach(t, make);
    const want: string[] = [];
    for (let i = 0; i < 25; i++) {
      const name = `f${String(i).padStart(2, '0')}`;
      want.push(name);
      await mkfile(root, name, 'x'.repeat(i));
    }
    await mkdir(root, 'sub');
    want.push('sub');
    const dir = await root.walk([]);
    assert.ok(dir.file !== undefined);
    await dir.file.open(R);
    const seen: string[] = [];
    for (let off = 0; ;) {
      const page = await dir.file.readDir(off, 7);
      if (page.length === 0) break;
      assert.ok(page.length <= 7);
      for (const st of page) {
        seen.push(st.name);
        if (st.name === 'sub') {
          assert.ok((st.mode & DMDIR) !== 0);
          assert.equal(st.qid.type, QTDIR);
          assert.equal(st.length, 0n);
        } else {
          assert.equal(st.length, BigInt(Number(st.name.slice(1))));
          assert.equal(st.qid.type, QTFILE);
        }
      }
      off += page.length;
    }
    assert.deepEqual(seen.sort(), want);
    await dir.file.clunk();
  });

  it('readDir pages through a snapshot taken at offset 0', async (t) => {
    const root = await attach(t, make);
    for (const n of ['a', 'b', 'c', 'd']) await mkfile(root, n);
    const dir = await walkTo(root);
    await dir.open(R);
    const first = await dir.readDir(0, 2);
    await mkfile(root, 'e');
    const rest = await dir.readDir(2, 10);
    assert.deepEqual([...first, ...rest].map((s) => s.name).sort(), ['a', 'b', 'c', 'd']);
    const fresh = await dir.readDir(0, 10);
    assert.equal(fresh.length, 5);
    await dir.clunk();
  });

  it('wstat renames within the directory; onto a taken name is NS_ERR_EXISTS', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'a', 'A');
    await mkfile(root, 'b', 'B');
    const a = await walkTo(root, 'a');
    const path = (await a.stat()).qid.path;
    await rejectsWith(a.wstat({ name: 'b' }), 'NS_ERR_EXISTS');
    await rejectsWith(a.wstat({ name: 'x/y' }), 'NS_ERR_INVALID_PATH');
    await a.wstat({ name: 'c' });
    assert.equal((await a.stat()).name, 'c');
    assert.equal((await a.stat()).qid.path, path);
    assert.deepEqual(await names(root), ['b', 'c']);
    assert.equal(await readAll(root, 'c'), 'A');
    assert.equal(await readAll(root, 'b'), 'B');
    await a.clunk();
    await rejectsWith(root.wstat({ name: 'newroot' }), 'NS_ERR_PERMISSION');
  });

  it('wstat is all or nothing: a refused rename leaves length and mode alone', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'a', 'hello');
    await mkfile(root, 'b');
    const a = await walkTo(root, 'a');
    const before = await a.stat();
    await rejectsWith(
      a.wstat({ name: 'b', length: 1n, mode: 0o600, mtime: 12345 }),
      'NS_ERR_EXISTS',
    );
    await rejectsWith(a.wstat({ length: 1n, mode: DMDIR | 0o600 }), 'NS_ERR_INVALID_ARGUMENT');
    const after = await a.stat();
    assert.equal(after.length, before.length);
    assert.equal(after.mode, before.mode);
    assert.equal(after.mtime, before.mtime);
    assert.equal(after.name, 'a');
    await a.clunk();
  });

  it('wstat truncates and extends, changes mode and mtime; "don\'t touch" values change nothing', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f', 'hello world');
    const f = await walkTo(root, 'f');
    const v0 = (await f.stat()).qid.version;
    await f.wstat({ length: 5n });
    const s1 = await f.stat();
    assert.equal(s1.length, 5n);
    assert.notEqual(s1.qid.version, v0);
    await f.wstat({ length: 8n });
    assert.equal(await readAll(root, 'f'), 'hello\0\0\0');
    await f.wstat({ mode: 0o600, mtime: 1_000_000 });
    const s2 = await f.stat();
    assert.equal(s2.mode & 0o777, 0o600);
    assert.equal(s2.mtime, 1_000_000);
    await f.wstat({
      name: '',
      length: KEEP_U64,
      mode: KEEP_U32,
      mtime: KEEP_U32,
      atime: KEEP_U32,
      gid: '',
    });
    await f.wstat({});
    const s3 = await f.stat();
    assert.deepEqual(
      { ...s3, atime: 0, qid: { ...s3.qid, version: 0 } },
      { ...s2, atime: 0, qid: { ...s2.qid, version: 0 } },
    );
    await f.wstat({ name: 'f' });
    assert.equal((await f.stat()).name, 'f');
    await f.wstat({ atime: 5000 });
    const s4 = await f.stat();
    assert.equal(s4.atime, 5000);
    assert.equal(s4.mtime, 1_000_000, 'mtime untouched by an atime change');
    await f.clunk();
    await mkdir(root, 'd');
    const d = await walkTo(root, 'd');
    await rejectsWith(d.wstat({ length: 10n }), 'NS_ERR_IS_DIR');
    await rejectsWith(d.wstat({ mode: 0o755 }), 'NS_ERR_INVALID_ARGUMENT');
    const dirBefore = await d.stat();
    await d.wstat({}); // "commit to stable storage" (wstat(5)); changes nothing
    assert.equal((await d.stat()).mode, dirBefore.mode);
    await d.wstat({ mode: DMDIR | 0o700 });
    assert.equal((await d.stat()).mode, (DMDIR | 0o700) >>> 0);
    await d.clunk();
  });

  it('remove: files and empty directories go; a non-empty directory is NS_ERR_NOT_EMPTY; the File is clunked either way', async (t) => {
    const root = await attach(t, make);
    await mkdir(root, 'd');
    const d = await walkTo(root, 'd');
    await mkfile(d, 'f', 'x');
    await rejectsWith(d.remove(), 'NS_ERR_NOT_EMPTY');
    await rejectsWith(d.stat(), 'NS_ERR_INVALID_ARGUMENT');
    const f = await walkTo(root, 'd', 'f');
    await f.remove();
    await rejectsWith(f.stat(), 'NS_ERR_INVALID_ARGUMENT');
    const gone = await root.walk(['d', 'f']);
    assert.equal(gone.qids.length, 1);
    assert.equal(gone.error?.code, 'NS_ERR_NOT_FOUND');
    const d2 = await walkTo(root, 'd');
    await d2.remove();
    assert.deepEqual(await names(root), []);
    const r = await walkTo(root);
    await rejectsWith(r.remove(), 'NS_ERR_PERMISSION');
  });

  it('a File whose file was removed through another File reports NS_ERR_NOT_FOUND', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f', 'x');
    const a = await walkTo(root, 'f');
    const b = await walkTo(root, 'f');
    await b.remove();
    await rejectsWith(a.stat(), 'NS_ERR_NOT_FOUND');
    await a.clunk();
  });

  it('removing an entry bumps the directory version', async (t) => {
    const root = await attach(t, make);
    await mkdir(root, 'd');
    const d = await walkTo(root, 'd');
    const v0 = (await d.stat()).qid.version;
    await mkfile(d, 'f');
    const v1 = (await d.stat()).qid.version;
    assert.notEqual(v1, v0);
    const f = await walkTo(d, 'f');
    await f.remove();
    assert.notEqual((await d.stat()).qid.version, v1);
    await d.clunk();
  });

  it('clunk is idempotent; every later call is NS_ERR_INVALID_ARGUMENT', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'f', 'x');
    const f = await walkTo(root, 'f');
    await f.open(RW);
    await f.clunk();
    await f.clunk();
    await rejectsWith(f.read(0n, 1), 'NS_ERR_INVALID_ARGUMENT');
    await rejectsWith(f.walk([]), 'NS_ERR_INVALID_ARGUMENT');
    await rejectsWith(f.stat(), 'NS_ERR_INVALID_ARGUMENT');
    await rejectsWith(f.remove(), 'NS_ERR_INVALID_ARGUMENT');
    assert.equal(await readAll(root, 'f'), 'x');
  });

  it('clunk during calls in flight: they finish or reject cleanly, and nothing leaks', async (t) => {
    const root = await attach(t, make);
    await mkdir(root, 'd');
    await mkfile(root, 'f', 'abc');
    for (let round = 0; round < 20; round++) {
      const f = await walkTo(root, 'f');
      await f.open(R);
      const d = await walkTo(root, 'd');
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        calls.push(f.read(0n, 3).then((b) => assert.equal(text(b), 'abc')));
        calls.push(f.stat());
        calls.push(d.walk(['..', 'f']).then((r) => r.file?.clunk()));
      }
      const clunks = [f.clunk(), d.clunk(), f.clunk()];
      const results = await Promise.allSettled(calls);
      for (const r of results) {
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof NsError, String(r.reason));
          assert.equal(r.reason.code, 'NS_ERR_INVALID_ARGUMENT');
        }
      }
      await Promise.all(clunks);
      await rejectsWith(f.stat(), 'NS_ERR_INVALID_ARGUMENT');
    }
  });

  it('await using clunks', async (t) => {
    const root = await attach(t, make);
    await mkfile(root, 'tmp');
    {
      await using f = await walkTo(root, 'tmp');
      await f.open({ access: 'read', removeOnClose: true });
    }
    assert.deepEqual(await names(root), []);
  });

  it('an aborted read or write rejects with the signal reason and has no effect', async (t) => {
    const root = await attach(t, make);
    const { file } = await root.create('f', 0o644, RW);
    const ac = new AbortController();
    ac.abort(new Error('flushed'));
    await assert.rejects(file.write(0n, bytes('nope'), ac.signal), /flushed/);
    await assert.rejects(file.read(0n, 10, ac.signal), /flushed/);
    assert.equal((await file.stat()).length, 0n);
    await file.clunk();
  });

  it('reads are clamped to the iounit; longer writes are NS_ERR_TOO_LARGE', async (t) => {
    const root = await attach(t, make, { iounit: 16 });
    const { file, iounit } = await root.create('f', 0o644, RW);
    assert.equal(iounit, 16);
    await rejectsWith(file.write(0n, new Uint8Array(17)), 'NS_ERR_TOO_LARGE');
    await file.write(0n, new Uint8Array(16).fill(1));
    await file.write(16n, new Uint8Array(16).fill(2));
    const b = await file.read(0n, 32);
    assert.equal(b.length, 16);
    assert.ok(b.every((x) => x === 1));
    await file.clunk();
  });

  it('concurrent writers at distinct offsets all land', async (t) => {
    const root = await attach(t, make);
    const { file } = await root.create('shared', 0o644, RW);
    const writers = Array.from({ length: 8 }, async (_, i) => {
      const w = await walkTo(root, 'shared');
      await w.open(W);
      for (let k = 0; k < 16; k++)
        await w.write(BigInt((i * 16 + k) * 4), bytes(String(i).repeat(4)));
      await w.clunk();
    });
    await Promise.all(writers);
    const all = text(await file.read(0n, 8 * 16 * 4));
    for (let i = 0; i < 8; i++) assert.equal(all.slice(i * 64, i * 64 + 64), String(i).repeat(64));
    await file.clunk();
  });

  if (features.exclusiveAndAppend) {
    it('DMEXCL: a second open is NS_ERR_BUSY until the first File is clunked', async (t) => {
      const root = await attach(t, make);
      const c = await root.create('lock', DMEXCL | 0o644, RW);
      assert.ok((c.qid.type & 0x20) !== 0);
      const other = await walkTo(root, 'lock');
      await rejectsWith(other.open(R), 'NS_ERR_BUSY');
      await c.file.clunk();
      await other.open(R);
      const third = await walkTo(root, 'lock');
      await rejectsWith(third.open(R), 'NS_ERR_BUSY');
      await third.clunk();
      await other.clunk();
    });

    it('DMAPPEND: every write goes to the end, whatever its offset', async (t) => {
      const root = await attach(t, make);
      const { file, qid } = await root.create('log', DMAPPEND | 0o644, RW);
      assert.ok((qid.type & 0x40) !== 0);
      await file.write(0n, bytes('one '));
      await file.write(0n, bytes('two '));
      await file.write(100n, bytes('three'));
      assert.equal(text(await file.read(0n, 100)), 'one two three');
      await file.clunk();
    });
  }
}
