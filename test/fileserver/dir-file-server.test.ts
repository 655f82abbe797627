// DirFileServer (dirfs): the conformance suite against a fresh host directory.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmod as hostChmod,
  mkdir as hostMkdir,
  stat as hostStat,
  lstat,
  mkdtemp,
  open,
  readFile,
  readdir,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { closeSync, constants, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';

import fc from 'fast-check';

import { NsError } from '../../src/errors.js';
import { IoGate, errnoToNsError, newDirFileServer } from '../../src/fileserver/dir-file-server.js';
import type { DirFileServer, DirFileServerOptions } from '../../src/fileserver/dir-file-server.js';
import { DMAPPEND, DMDIR, DMEXCL } from '../../src/fileserver/file-server.js';
import type { File } from '../../src/fileserver/file-server.js';
import { checkAgainstModel, opArb } from './model.js';
import {
  R,
  RW,
  W,
  bytes,
  conformance,
  names,
  readAll,
  rejectsWith,
  text,
  walkTo,
} from './conformance.js';

conformance(
  'dirfs',
  async (options) => {
    const dir = await mkdtemp(join(tmpdir(), 'capns-dirfs-'));
    const fs = await newDirFileServer(dir, options);
    return {
      fs,
      close: async () => {
        await fs.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { exclusiveAndAppend: false },
);

// The same suite with every read, write and stat in the thread pool (io: "pool"); the
// run above takes them on the event loop (the default, "adaptive").
conformance(
  'dirfs (io: pool)',
  async (options) => {
    const dir = await mkdtemp(join(tmpdir(), 'capns-dirfs-'));
    const fs = await newDirFileServer(dir, { ...options, io: 'pool' });
    return {
      fs,
      close: async () => {
        await fs.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { exclusiveAndAppend: false },
);

// ---------------------------------------------------------------------------------------
// dirfs only: confinement, read-only, special files, durability.

async function tree(
  t: TestContext,
  options: DirFileServerOptions = {},
): Promise<{ base: string; rootDir: string; outside: string; fs: DirFileServer; root: File }> {
  const base = await mkdtemp(join(tmpdir(), 'capns-dirfs-'));
  const rootDir = join(base, 'root');
  const outside = join(base, 'outside');
  await hostMkdir(rootDir);
  await hostMkdir(outside);
  await writeFile(join(outside, 'secret'), 'OUTSIDE');
  const fs = await newDirFileServer(rootDir, options);
  const { root } = await fs.attach('');
  t.after(async () => {
    await root.clunk();
    assert.equal(fs.liveFiles, 0, 'Files left unclunked');
    await fs.close();
    await rm(base, { recursive: true, force: true });
  });
  return { base, rootDir, outside, fs, root };
}

test('dirfs (symlinks: refuse): no symbolic link is followed or listed', async (t) => {
  const { rootDir, outside, root } = await tree(t, { symlinks: 'refuse' });
  await symlink('/etc', join(rootDir, 'etc'));
  await symlink(join(outside, 'secret'), join(rootDir, 'secret'));
  await symlink('../outside', join(rootDir, 'rel'));
  await hostMkdir(join(rootDir, 'd'));
  await symlink('..', join(rootDir, 'd', 'up'));
  for (const path of [
    ['etc', 'passwd'],
    ['etc'],
    ['secret'],
    ['rel', 'secret'],
    ['d', 'up', 'outside'],
  ]) {
    const r = await root.walk(path);
    assert.equal(r.file, undefined, path.join('/'));
    assert.equal(r.error?.code, 'NS_ERR_PERMISSION', path.join('/'));
    assert.ok(!r.error.message.includes(rootDir), 'no host path in messages');
  }
  assert.deepEqual(await names(root), ['d']);
  assert.deepEqual(await names(root, 'd'), []);
  // Creating over a symlink's name refuses; it never writes through the link.
  await rejectsWith(root.create('secret', 0o644, RW), 'NS_ERR_EXISTS');
  assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'OUTSIDE');
  assert.deepEqual((await readdir(outside)).sort(), ['secret']);
});

test('dirfs (symlinks: inside, the default): links leading out of the tree are refused and not listed', async (t) => {
  const { base, rootDir, outside, root } = await tree(t);
  await symlink('/etc', join(rootDir, 'etc'));
  await symlink(join(outside, 'secret'), join(rootDir, 'secret'));
  await symlink('../outside', join(rootDir, 'rel'));
  await symlink(`${rootDir}/../outside`, join(rootDir, 'abs-climb'));
  await symlink('d/../../outside', join(rootDir, 'climb'));
  await hostMkdir(join(rootDir, 'd'));
  // A link whose text stays inside but goes through a link that leads out.
  await symlink('../rel/secret', join(rootDir, 'd', 'via'));
  for (const path of [
    ['etc', 'passwd'],
    ['etc'],
    ['secret'],
    ['rel', 'secret'],
    ['abs-climb', 'secret'],
    ['climb', 'secret'],
    ['d', 'via'],
  ]) {
    const r = await root.walk(path);
    assert.equal(r.file, undefined, path.join('/'));
    assert.equal(r.error?.code, 'NS_ERR_PERMISSION', path.join('/'));
    assert.ok(!r.error.message.includes(base), 'no host path in messages');
  }
  assert.deepEqual(await names(root), ['d']);
  assert.deepEqual(await names(root, 'd'), []);
  await rejectsWith(root.create('secret', 0o644, RW), 'NS_ERR_EXISTS');
  assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'OUTSIDE');
  assert.deepEqual((await readdir(outside)).sort(), ['secret']);
});

test('dirfs (symlinks: inside): links that stay inside are followed, listed, and removed or renamed as links', async (t) => {
  const { rootDir, root } = await tree(t);
  await hostMkdir(join(rootDir, 'data', 'sub'), { recursive: true });
  await writeFile(join(rootDir, 'data', 'sub', 'file'), 'target');
  await symlink('data/sub/file', join(rootDir, 'rel'));
  await symlink(join(rootDir, 'data', 'sub', 'file'), join(rootDir, 'abs'));
  await symlink('data/sub', join(rootDir, 'dirlink'));
  await symlink('../sub/file', join(rootDir, 'data', 'sub', 'up'));
  await symlink('rel', join(rootDir, 'chain'));
  await symlink('loop2', join(rootDir, 'loop1'));
  await symlink('loop1', join(rootDir, 'loop2'));
  await symlink('nowhere', join(rootDir, 'dangling'));
  const direct = await root.walk(['data', 'sub', 'file']);
  await direct.file?.clunk();
  const fileQid = direct.qids[2];
  for (const path of [['rel'], ['abs'], ['dirlink', 'file'], ['dirlink', 'up'], ['chain']]) {
    const r = await root.walk(path);
    assert.ok(r.file !== undefined, path.join('/'));
    assert.equal(r.qids[r.qids.length - 1]?.path, fileQid?.path, path.join('/'));
    assert.equal((await r.file.stat()).name, path[path.length - 1]);
    await r.file.clunk();
    assert.equal(await readAll(root, ...path), 'target');
  }
  // ".." after a link is lexical: back where the client was, not the target's parent.
  const up = await root.walk(['dirlink', '..', 'rel']);
  assert.ok(up.file !== undefined);
  await up.file.clunk();
  assert.equal((await root.walk(['loop1'])).error?.code, 'NS_ERR_PERMISSION');
  assert.equal((await root.walk(['dangling'])).error?.code, 'NS_ERR_NOT_FOUND');
  assert.deepEqual(await names(root), ['abs', 'chain', 'data', 'dirlink', 'rel']);
  const listed = await walkTo(root);
  await listed.open(R);
  const dl = (await listed.readDir(0, 100)).find((st) => st.name === 'dirlink');
  assert.ok(
    dl !== undefined && (dl.mode & DMDIR) !== 0,
    'a link to a directory is listed as a directory',
  );
  await listed.clunk();
  // remove and rename act on the link, never on its target.
  const rel = await walkTo(root, 'rel');
  await rel.wstat({ name: 'renamed' });
  assert.equal((await lstat(join(rootDir, 'renamed'))).isSymbolicLink(), true);
  await rel.remove();
  const dir = await walkTo(root, 'dirlink');
  await dir.remove();
  assert.equal(await readFile(join(rootDir, 'data', 'sub', 'file'), 'utf8'), 'target');
  assert.deepEqual((await readdir(rootDir)).sort(), [
    'abs',
    'chain',
    'dangling',
    'data',
    'loop1',
    'loop2',
  ]);
});

test('dirfs (symlinks: inside): a link may not lead above the attach root, even inside the served directory', async (t) => {
  const { rootDir, fs } = await tree(t);
  await hostMkdir(join(rootDir, 'jail'));
  await writeFile(join(rootDir, 'private'), 'not for the jail');
  await writeFile(join(rootDir, 'jail', 'own'), 'mine');
  await symlink('../private', join(rootDir, 'jail', 'esc'));
  await symlink(join(rootDir, 'private'), join(rootDir, 'jail', 'abs-esc'));
  await symlink('own', join(rootDir, 'jail', 'ok'));
  const { root } = await fs.attach('jail');
  assert.equal((await root.walk(['esc'])).error?.code, 'NS_ERR_PERMISSION');
  assert.equal((await root.walk(['abs-esc'])).error?.code, 'NS_ERR_PERMISSION');
  assert.equal(await readAll(root, 'ok'), 'mine');
  assert.deepEqual(await names(root), ['ok', 'own']);
  await root.clunk();
});

test('dirfs: ".." chains stop at the root; attach names may not climb', async (t) => {
  const { rootDir, fs, root } = await tree(t);
  await hostMkdir(join(rootDir, 'a', 'b'), { recursive: true });
  const up = Array<string>(15).fill('..');
  const r = await root.walk([...up, 'outside']);
  assert.equal(r.qids.length, 15);
  assert.equal(r.error?.code, 'NS_ERR_NOT_FOUND');
  const deep = await root.walk(['a', 'b', '..', '..', '..', '..', 'outside', 'secret']);
  assert.equal(deep.error?.code, 'NS_ERR_NOT_FOUND');
  assert.equal(deep.qids.length, 6);
  await rejectsWith(fs.attach('../outside'), 'NS_ERR_INVALID_PATH');
  await rejectsWith(fs.attach('a/../../outside'), 'NS_ERR_INVALID_PATH');
  const { root: sub } = await fs.attach('a');
  const climb = await sub.walk(['..', '..', 'a']);
  assert.equal(climb.error?.code, 'NS_ERR_NOT_FOUND', '"a" is not inside the tree rooted at a');
  await sub.clunk();
});

/** Descriptors this process holds (the DirFileServer runs in it). */
async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

/** Waits (up to 2 s) for the process's descriptors to come back to `n`; returns the count. */
async function fdsSettle(n: number): Promise<number> {
  let now = await openFds();
  for (let i = 0; i < 200 && now !== n; i++) {
    await new Promise((r) => setTimeout(r, 10));
    now = await openFds();
  }
  return now;
}

test('dirfs: walks close every host descriptor they open, including a first step looked up ahead of its checks', async (t) => {
  const { rootDir, root } = await tree(t);
  await hostMkdir(join(rootDir, 'locked', 'inner'), { recursive: true });
  await hostMkdir(join(rootDir, 'a', 'b', 'c'), { recursive: true });
  await writeFile(join(rootDir, 'plain'), 'x');
  const locked = await walkTo(root, 'locked');
  const plain = await walkTo(root, 'plain');
  const base = await openFds();
  await hostChmod(join(rootDir, 'locked'), 0o600); // no search permission
  try {
    for (let i = 0; i < 20; i++) {
      // The name exists, but the checks on where the walk starts refuse it: the error is
      // the checks', and what the early lookup found is closed.
      const denied = await locked.walk(['inner']);
      assert.equal(denied.error?.code, 'NS_ERR_PERMISSION');
      assert.equal(denied.qids.length, 0);
      const notDir = await plain.walk(['anything']);
      assert.equal(notDir.error?.code, 'NS_ERR_NOT_DIR');
      // Successful walks of one and of several names, clunked at once.
      await (await walkTo(root, 'a')).clunk();
      await (await walkTo(root, 'a', 'b', 'c')).clunk();
      const missing = await root.walk(['a', 'nope']);
      assert.equal(missing.error?.code, 'NS_ERR_NOT_FOUND');
      assert.equal(missing.qids.length, 1);
    }
  } finally {
    await hostChmod(join(rootDir, 'locked'), 0o755);
  }
  assert.equal(await fdsSettle(base), base, 'host descriptors back to where they were');
  await locked.clunk();
  await plain.clunk();
});

test('dirfs: a directory moved out of the root: ".." from inside it stays in the tree', async (t) => {
  const { rootDir, base, root } = await tree(t);
  await hostMkdir(join(rootDir, 'd'));
  await writeFile(join(rootDir, 'mine'), 'inside');
  const d = await walkTo(root, 'd');
  await rename(join(rootDir, 'd'), join(base, 'moved'));
  const r = await d.walk(['..', 'outside', 'secret']);
  assert.equal(r.error?.code, 'NS_ERR_NOT_FOUND');
  assert.equal(r.qids.length, 1);
  assert.equal(await readAll(d, '..', 'mine'), 'inside');
  await d.clunk();
});

for (const [symlinks, link] of [
  ['inside', 'absolute'],
  ['inside', 'relative'],
  ['refuse', 'absolute'],
] as const) {
  test(`dirfs (symlinks: ${symlinks}): a directory swapped for a symlink (${link}) while walking never leads outside (rename race)`, async (t) => {
    const { rootDir, outside, root } = await tree(t, { symlinks });
    const real = join(rootDir, 'd.real');
    await hostMkdir(real);
    await writeFile(join(real, 'secret'), 'inside');
    await hostMkdir(join(rootDir, 'd'));
    await writeFile(join(rootDir, 'd', 'secret'), 'inside');
    // Another process keeps swapping d between a real directory and a symlink to outside.
    const swapper = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs');
       const [d, real, out] = process.argv.slice(1);
       for (;;) {
         try { fs.renameSync(d, real + '.tmp'); fs.symlinkSync(out, d); } catch {}
         try { fs.unlinkSync(d); fs.renameSync(real + '.tmp', d); } catch {}
         try { fs.renameSync(d, real + '.tmp'); fs.renameSync(real, d); fs.renameSync(real + '.tmp', real); } catch {}
       }`,
        join(rootDir, 'd'),
        real,
        link === 'absolute' ? outside : '../outside',
      ],
      { stdio: 'ignore' },
    );
    const swapperGone = new Promise((resolve) => swapper.on('exit', resolve));
    let inside = 0;
    let refused = 0;
    try {
      await race();
    } finally {
      // Before the tree is removed (t.after), which would race with the swapper.
      swapper.kill('SIGKILL');
      await swapperGone;
    }
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'OUTSIDE');
    assert.deepEqual(await readdir(outside), ['secret'], 'nothing was created outside');
    assert.ok(inside > 0, 'some walks reached the file');
    assert.ok(inside + refused === 400);
    t.diagnostic(`walks that reached the file: ${inside}, refused mid-swap: ${refused}`);

    async function race(): Promise<void> {
      for (let i = 0; i < 400; i++) {
        const r = await root.walk(['d', 'secret']);
        if (r.file === undefined) {
          refused++;
          continue;
        }
        try {
          await r.file.open(RW);
          const got = text(await r.file.read(0n, 100));
          assert.equal(got, 'inside', 'read only what is inside the root');
          await r.file.write(0n, bytes('inside'));
          inside++;
        } catch (err) {
          if (!(err instanceof NsError)) throw err;
          refused++;
        } finally {
          await r.file.clunk();
        }
        const c = await root.walk(['d']);
        if (c.file !== undefined) {
          await c.file.create(`new${i}`, 0o644, W).then(
            (x) => x.file.clunk(),
            () => undefined,
          );
          await c.file.clunk();
        }
      }
    }
  });
}

test('dirfs: readOnly refuses every change and still serves reads', async (t) => {
  const { rootDir, root } = await tree(t, { readOnly: true });
  await writeFile(join(rootDir, 'f'), 'data');
  await hostMkdir(join(rootDir, 'd'));
  assert.equal(await readAll(root, 'f'), 'data');
  const f = await walkTo(root, 'f');
  await rejectsWith(f.open(W), 'NS_ERR_PERMISSION');
  await rejectsWith(f.open(RW), 'NS_ERR_PERMISSION');
  await rejectsWith(f.open({ access: 'read', truncate: true }), 'NS_ERR_PERMISSION');
  await rejectsWith(f.open({ access: 'read', removeOnClose: true }), 'NS_ERR_PERMISSION');
  await rejectsWith(f.wstat({ length: 0n }), 'NS_ERR_PERMISSION');
  await rejectsWith(f.wstat({ name: 'g' }), 'NS_ERR_PERMISSION');
  await rejectsWith(root.create('new', 0o644, RW), 'NS_ERR_PERMISSION');
  await rejectsWith(f.remove(), 'NS_ERR_PERMISSION');
  const d = await walkTo(root, 'd');
  await rejectsWith(d.remove(), 'NS_ERR_PERMISSION');
  assert.deepEqual((await readdir(rootDir)).sort(), ['d', 'f']);
  assert.equal(await readFile(join(rootDir, 'f'), 'utf8'), 'data');
});

test('dirfs: special files can be stat-ed but not opened (a FIFO never blocks the server)', async (t) => {
  const { rootDir, root } = await tree(t);
  execFileSync('mkfifo', [join(rootDir, 'fifo')]);
  const f = await walkTo(root, 'fifo');
  assert.equal((await f.stat()).name, 'fifo');
  await rejectsWith(f.open(R), 'NS_ERR_PERMISSION');
  await f.clunk();
});

test('dirfs (io: adaptive): reads and writes are not queued behind a busy thread pool; with io: pool they wait', async (t) => {
  const { base, rootDir, root } = await tree(t);
  await writeFile(join(rootDir, 'f'), 'hello');
  const pooled = await newDirFileServer(rootDir, { io: 'pool' });
  const { root: proot } = await pooled.attach('');
  // Walks and opens use the pool: done before it is filled.
  const f = await walkTo(root, 'f');
  await f.open(RW);
  const pf = await walkTo(proot, 'f');
  await pf.open(R);
  assert.equal(text(await f.read(0n, 5)), 'hello');
  // Every pool thread blocks opening a FIFO nobody writes to.
  const threads = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);
  const fifos = Array.from({ length: threads }, (_, i) => join(base, `block${i}`));
  for (const p of fifos) execFileSync('mkfifo', [p]);
  const blocked = fifos.map((p) => open(p, 'r'));
  let writers: number[] | null = null;
  const unblock = (): void => {
    writers ??= fifos.map((p) => openSync(p, constants.O_WRONLY | constants.O_NONBLOCK));
  };
  /** `p`, or a failure if it has not settled within 5 s (the pool stays blocked). */
  const soon = <T>(p: Promise<T>, what: string): Promise<T> =>
    Promise.race([
      p,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${what} waited for the thread pool`)), 5000).unref(),
      ),
    ]);
  try {
    assert.equal(await soon(f.write(5n, bytes(' world')), 'a write'), 6);
    assert.equal(text(await soon(f.read(0n, 11), 'a read')), 'hello world');
    assert.equal((await soon(f.stat(), 'a stat')).length, 11n);
    assert.equal(pooled.ioNow, 'pool');
    let done = false;
    const read = pf.read(0n, 5).then((b) => ((done = true), b));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(done, false, 'a pool read finished while every pool thread was blocked');
    unblock();
    assert.equal(text(await read), 'hello');
  } finally {
    unblock();
    for (const h of await Promise.all(blocked)) await h.close();
    for (const w of writers ?? []) closeSync(w);
    await pf.clunk();
    await f.clunk();
    await proot.clunk();
    await pooled.close();
  }
});

test('IoGate: two slow calls close together send calls to the pool for a while, doubling while calls stay slow, up to a cap; a fast call resets it', async () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  /** Makes two calls that took `ms` (by their start time) and returns how long the gate then stays on the pool. */
  const poolTime = async (g: IoGate, ms: number): Promise<number> => {
    g.done(performance.now() - ms);
    g.done(performance.now() - ms);
    const t0 = performance.now();
    assert.equal(g.sync(), false, 'a slow call left the gate on the event loop');
    while (!g.sync()) await sleep(2);
    return performance.now() - t0;
  };
  assert.equal(new IoGate('pool').sync(), false);
  const g = new IoGate('adaptive', { slowMs: 5, windowMs: 100, poolMinMs: 20, poolMaxMs: 30 });
  assert.equal(g.sync(), true);
  g.done(performance.now());
  assert.equal(g.sync(), true, 'a fast call sent the gate to the pool');
  // One slow call alone (a preemption) is forgiven; another one later than windowMs too.
  g.done(performance.now() - 10);
  assert.equal(g.sync(), true, 'a single slow call sent the gate to the pool');
  await sleep(120);
  g.done(performance.now() - 10);
  assert.equal(
    g.sync(),
    true,
    'two slow calls further apart than windowMs sent the gate to the pool',
  );
  assert.ok((await poolTime(g, 10)) >= 20);
  assert.ok(
    (await poolTime(g, 10)) >= 30,
    'the second slow call did not lengthen the period (20 -> 30, capped)',
  );
  for (let i = 0; i < 4; i++) await poolTime(g, 10);
  // Uncapped, the period would now be 20 * 2^6 ms.
  assert.ok((await poolTime(g, 10)) < 600, 'the period was not capped at poolMaxMs');
  // A fast call resets the period: the next slow call costs the first period again.
  g.done(performance.now());
  assert.ok((await poolTime(g, 10)) < 600);
});

test('dirfs: qid.path comes from the inode; an open File follows its file across a host rename', async (t) => {
  const { rootDir, root } = await tree(t);
  await writeFile(join(rootDir, 'f'), 'abc');
  const f = await walkTo(root, 'f');
  const st = await f.stat();
  assert.equal(st.qid.path, (await hostStat(join(rootDir, 'f'), { bigint: true })).ino);
  await f.open(R);
  await rename(join(rootDir, 'f'), join(rootDir, 'g'));
  assert.equal(text(await f.read(0n, 10)), 'abc');
  await f.clunk();
});

test('dirfs: errno is mapped to NsError codes in one place, without host paths', () => {
  const cases: [string, string][] = [
    ['ENOENT', 'NS_ERR_NOT_FOUND'],
    ['EEXIST', 'NS_ERR_EXISTS'],
    ['EACCES', 'NS_ERR_PERMISSION'],
    ['EROFS', 'NS_ERR_PERMISSION'],
    ['ENOTDIR', 'NS_ERR_NOT_DIR'],
    ['EISDIR', 'NS_ERR_IS_DIR'],
    ['ENOTEMPTY', 'NS_ERR_NOT_EMPTY'],
    ['EMFILE', 'NS_ERR_BUSY'],
    ['EFBIG', 'NS_ERR_TOO_LARGE'],
    ['ENOSPC', 'NS_ERR_IO'],
    ['EIO', 'NS_ERR_IO'],
  ];
  for (const [errno, code] of cases) {
    const err = Object.assign(new Error(`${errno}: open '/secret/host/path'`), { code: errno });
    const ns = errnoToNsError(err, '"a/b"');
    assert.equal(ns.code, code);
    assert.ok(!ns.message.includes('/secret/host/path'));
    assert.match(ns.message, /"a\/b"/);
  }
});

for (const mode of ['default', 'sync'] as const) {
  test(`dirfs durability (${mode}): every write acknowledged before SIGKILL is on disk`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'capns-durable-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'durability-child.ts'), dir, mode],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    let acked = -1;
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const line of lines) {
          const m = /^ok (\d+)$/.exec(line);
          if (m !== null) acked = Number(m[1]);
        }
        // Kill right after an acknowledgement, while the child is still writing.
        if (acked >= 50) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error('child exited before acknowledging 50 writes')));
    });
    assert.equal(await exited, 'SIGKILL');
    const data = await readFile(join(dir, 'data'));
    assert.ok(
      data.length >= (acked + 1) * 4096,
      `${data.length} bytes on disk, ${acked + 1} chunks acknowledged`,
    );
    for (let i = 0; i <= acked; i++) {
      const chunk = data.subarray(i * 4096, (i + 1) * 4096);
      assert.ok(
        chunk.every((b) => b === (i & 0xff)),
        `chunk ${i} intact`,
      );
    }
  });
}

test('dirfs: random operation sequences agree with the same model as ramfs', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { maxLength: 30 }),
      fc.constantFrom('adaptive', 'pool' as const),
      async (ops, io) => {
        const dir = await mkdtemp(join(tmpdir(), 'capns-dirfs-model-'));
        const fs = await newDirFileServer(dir, { io });
        try {
          await checkAgainstModel(fs, ops);
        } finally {
          await fs.close();
          await rm(dir, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 30 },
  );
});

test('dirfs: close() refuses new attaches; Files already open keep reading until clunked', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-dirfs-close-'));
  try {
    await writeFile(join(dir, 'f'), 'still here');
    const fs = await newDirFileServer(dir);
    const { root } = await fs.attach('');
    const f = await walkTo(root, 'f');
    await f.open(R);
    await fs.close();
    await fs.close();
    await rejectsWith(fs.attach(''), 'NS_ERR_IO');
    assert.equal(text(await f.read(0n, 100)), 'still here');
    const up = await root.walk(['..']);
    assert.equal(up.error?.code, 'NS_ERR_IO');
    await f.clunk();
    await root.clunk();
    assert.equal(fs.liveFiles, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('dirfs: uid and gid are the host numeric ids; wstat takes a numeric gid only', async (t) => {
  const { rootDir, root } = await tree(t);
  await writeFile(join(rootDir, 'f'), '');
  const f = await walkTo(root, 'f');
  const host = await hostStat(join(rootDir, 'f'));
  const st = await f.stat();
  assert.deepEqual([st.uid, st.gid], [String(host.uid), String(host.gid)]);
  await rejectsWith(f.wstat({ gid: 'staff' }), 'NS_ERR_INVALID_ARGUMENT');
  await f.wstat({ gid: String(process.getgid?.() ?? host.gid) });
  assert.equal((await f.stat()).gid, String(process.getgid?.() ?? host.gid));
  await rejectsWith(f.wstat({ mode: DMAPPEND | 0o644 }), 'NS_ERR_INVALID_ARGUMENT');
  await rejectsWith(root.create('x', DMEXCL | 0o644, RW), 'NS_ERR_INVALID_ARGUMENT');
  await f.clunk();
});
