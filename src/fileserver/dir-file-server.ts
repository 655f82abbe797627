/**
 * dirfs: a FileServer for a host directory, confined to it.
 *
 * Confinement (Linux). The server holds an O_PATH descriptor for its root, and every File
 * holds one for the object it names. A name is looked up relative to its directory's
 * descriptor, as openat(2) does, by opening `/proc/self/fd/<dirfd>/<name>` with
 * O_PATH|O_NOFOLLOW: the kernel jumps straight to the directory object behind the magic
 * link (no path string is re-resolved, so renaming the directory elsewhere meanwhile
 * changes nothing) and looks up the one name there without following it. The server
 * follows a symbolic link itself, if at all (option `symlinks`): it applies the link's
 * text lexically to the link directory's physical path, refuses it if that leaves the
 * attach root, and resolves the result again one name at a time from the root. `..` is
 * computed by the server from the path it walked (never asked of the host) and stops at
 * the attach root. So every object a client reaches was found by descending real
 * directory entries from the root; a directory swapped for a symlink in the middle of a
 * walk makes that walk fail or follow the link by the same rule, never leave the tree. Hard links and bind mounts
 * placed inside the root by the host's administrator are served as what they are.
 *
 * Permission model: as MemFileServer's (the client acts as the owner; the owner's rwx bits
 * are checked by the server), and the host's own checks apply on top, for the user the
 * server runs as. Special files (devices, FIFOs, sockets) can be walked to and stat'ed but
 * not opened.
 *
 * Durability: see `DirFileServerOptions.syncWrites` and docs/fileserver.md.
 */

import {
  closeSync,
  constants as C,
  fstat as fstatCb,
  fstatSync,
  openSync,
  read as readCb,
  readSync,
  write as writeCb,
  writeSync,
} from 'node:fs';
import type { BigIntStats } from 'node:fs';
import {
  readlink,
  realpath,
  chmod,
  chown,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rmdir,
  truncate,
  unlink,
  utimes,
} from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

import { NsError } from '../errors.js';
import type { NsErrorCode } from '../errors.js';
import {
  DMAPPEND,
  DMDIR,
  DMEXCL,
  DMPERM,
  DMTMP,
  MAX_WALK_NAMES,
  QTDIR,
  QTFILE,
  changes,
  nameError,
  quote as quoteName,
  attachedAt,
} from './file-server.js';
import type {
  CreateResult,
  File,
  FileServer,
  OpenMode,
  OpenResult,
  Qid,
  Stat,
  StatChange,
  WalkResult,
  Attached,
} from './file-server.js';

/** Options of a DirFileServer. */
export interface DirFileServerOptions {
  /** Refuse every change (open for writing, create, wstat, remove) with NS_ERR_PERMISSION. Default false. */
  readOnly?: boolean;
  /**
   * false (default): a write is answered once write(2) has returned, so the bytes are in
   * the host kernel and survive the server process being killed; a File that wrote is
   * fsync'ed when it is clunked, and a wstat with every field "don't touch" fsyncs the
   * file (wstat(5)). true: additionally every write is fdatasync'ed, and the directory is
   * fsync'ed after create, remove and rename, before the reply: acknowledged data
   * survives a host crash too.
   */
  syncWrites?: boolean;
  /** The iounit reported by open and create. Default 1 MiB. */
  iounit?: number;
  /**
   * "inside" (default): a symbolic link is followed when its target, resolved one name at
   * a time like any walk, stays inside the tree the client attached to; any other link
   * (pointing outside, dangling, or looping) cannot be walked to and is not listed.
   * "refuse": no symbolic link is ever followed or listed.
   */
  symlinks?: 'inside' | 'refuse';
  /**
   * How reads, writes and stats of files reach the host kernel.
   * "adaptive" (default): on the event loop's own thread while they are fast. A read
   * served from the page cache then costs about 2 µs of CPU, against about 12 µs as a
   * round trip through libuv's thread pool (two cross-thread wake-ups), and the 9P rates
   * of a host directory rise by half or more (BENCHMARKS.md, 9P). A call that takes over
   * 1 ms (a cache miss on a slow disk, a loaded network filesystem) within a second of
   * another switches the server to the thread pool for 1 s, doubling while calls keep
   * being slow, up to a minute.
   * "pool": always the thread pool: nothing ever waits for the disk on the event loop, so
   * other connections never stall behind one. Choose it for a directory on a network or
   * FUSE filesystem, where a single call can take seconds.
   * The lookups of a walk (an O_PATH open and a stat per name, and the close at clunk)
   * follow the same choice; opening a file for I/O, directory reads, creates, renames,
   * removes and fsync use the thread pool either way.
   */
  io?: 'adaptive' | 'pool';
}

/**
 * What a lookup found: the object (an O_PATH handle the caller owns, and its stat), its
 * physical path (names from the server root, with every symlink resolved), and the
 * identity of the directory entry the last name matched: the link itself when that name
 * was a symbolic link (remove and rename act on the entry, never on a link's target).
 */
interface Found {
  handle: PathHandle;
  stat: BigIntStats;
  real: readonly string[];
  entryKey: string;
}

/** Symbolic links one lookup may follow (Linux's MAXSYMLINKS). */
const MAX_LINKS = 40;

// Linux's O_PATH (x86_64, arm64, and most others); node:fs does not export it.
const O_PATH = 0o10000000;
const DEFAULT_IOUNIT = 1024 * 1024;

/** Object versions bumped by this server, so that qid.version changes on every change
 * made through it even within one tick of the host's coarse timestamps. Bounded. */
const MAX_BUMPS = 65536;

function proc(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/**
 * The single translation of host errors (errno codes) into NsError codes. The message
 * names the client's file name and the errno, never a host path.
 */
export function errnoToNsError(err: unknown, what: string): NsError {
  if (err instanceof NsError) return err;
  const code =
    typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  const map: Record<string, NsErrorCode> = {
    ENOENT: 'NS_ERR_NOT_FOUND',
    EEXIST: 'NS_ERR_EXISTS',
    EACCES: 'NS_ERR_PERMISSION',
    EPERM: 'NS_ERR_PERMISSION',
    EROFS: 'NS_ERR_PERMISSION',
    ELOOP: 'NS_ERR_PERMISSION',
    ENOTDIR: 'NS_ERR_NOT_DIR',
    EISDIR: 'NS_ERR_IS_DIR',
    ENOTEMPTY: 'NS_ERR_NOT_EMPTY',
    EBUSY: 'NS_ERR_BUSY',
    ETXTBSY: 'NS_ERR_BUSY',
    EMFILE: 'NS_ERR_BUSY',
    ENFILE: 'NS_ERR_BUSY',
    ENAMETOOLONG: 'NS_ERR_TOO_LARGE',
    EFBIG: 'NS_ERR_TOO_LARGE',
    EINVAL: 'NS_ERR_INVALID_ARGUMENT',
  };
  const ns = typeof code === 'string' ? (map[code] ?? 'NS_ERR_IO') : 'NS_ERR_IO';
  return new NsError(ns, `${what}: ${typeof code === 'string' ? code : 'host error'}`);
}

function quote(path: readonly string[]): string {
  return quoteName(path.length === 0 ? '/' : path.join('/'));
}

function modeOf(st: BigIntStats): number {
  return ((st.isDirectory() ? DMDIR : 0) | (Number(st.mode) & DMPERM)) >>> 0;
}

/** Identifies a host object for version bumps. */
function keyOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

/** Whether `path` starts with every name of `prefix`. */
function isPrefix(prefix: readonly string[], path: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => path[i] === p);
}

function ownerMay(st: BigIntStats, bit: 4 | 2 | 1): boolean {
  return ((Number(st.mode) >>> 6) & bit) !== 0;
}

/**
 * A FileServer for one host directory. Construct with `newDirFileServer`. Holds one
 * descriptor (the root) until `close()`; each File holds one more until clunked, and an
 * open File one more again. Calls may run concurrently; each is as atomic as the
 * underlying host call, and renames through this server are serialized so that
 * "renaming onto an existing name is refused" holds among this server's clients.
 */
export class DirFileServer implements FileServer {
  readonly #root: PathHandle;
  /** The root's host path, resolved once: absolute link targets are read against it. */
  readonly #rootReal: string;
  readonly readOnly: boolean;
  readonly symlinks: 'inside' | 'refuse';
  readonly syncWrites: boolean;
  readonly iounit: number;
  /** @internal Where reads, writes and stats run (DirFileServerOptions.io). */
  readonly gate: IoGate;
  #closed = false;
  #live = 0;
  readonly #devs = new Map<bigint, bigint>();
  readonly #bumps = new Map<string, number>();
  #renameLock: Promise<void> = Promise.resolve();
  /** Lookups using the root descriptor right now; close() waits for them (see DirFile #refs). */
  #rootRefs = 0;
  #rootIdle: (() => void) | null = null;

  /** @internal Use newDirFileServer. Takes ownership of `root`, whose host path is `rootReal`. */
  constructor(root: PathHandle, rootReal: string, options: DirFileServerOptions) {
    this.#root = root;
    this.#rootReal = rootReal;
    this.symlinks = options.symlinks ?? 'inside';
    this.readOnly = options.readOnly ?? false;
    this.syncWrites = options.syncWrites ?? false;
    this.iounit = options.iounit ?? DEFAULT_IOUNIT;
    this.gate = new IoGate(options.io ?? 'adaptive');
  }

  /** Where reads, writes and stats run right now: "sync" (the event loop) or "pool". */
  get ioNow(): 'sync' | 'pool' {
    return this.gate.sync() ? 'sync' : 'pool';
  }

  /**
   * Root of the tree, or of the directory that `aname` (a relative path below the root)
   * names. A symbolic link in `aname` is followed only if it stays in the directory that
   * holds it: whoever attaches below a directory (a view rooted there, with a longer
   * aname for each view inside it) is confined to it, so no name in an aname may lead
   * above the directory it is in. The caller owns the File.
   */
  async attach(aname: string): Promise<Attached> {
    const path = aname.split('/').filter((s) => s !== '' && s !== '.');
    if (path.some((s) => s === '..'))
      throw new NsError('NS_ERR_INVALID_PATH', 'attach name may not contain ".."');
    const found = await this.resolve(path, [], undefined, true);
    if (!found.stat.isDirectory()) {
      await found.handle.close();
      throw new NsError('NS_ERR_NOT_DIR', `${quote(path)} is not a directory`);
    }
    // The attach root's physical path is the floor no link below it may leave.
    const root = new DirFile(this, found, path, path.length, found.real);
    // Where the links in `aname` led: what a path filter judges, not the name.
    return { root, qid: this.qidOf(found.stat), path: attachedAt(found.real) };
  }

  /** Closes the root descriptor; later attaches and path lookups fail with NS_ERR_IO. Files already
   * handed out keep working for I/O until clunked. Idempotent; never rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#rootRefs > 0) await new Promise<void>((resolve) => (this.#rootIdle = resolve));
    await this.#root.close().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Files handed out and not yet clunked; each holds a host descriptor (a leak check). */
  get liveFiles(): number {
    return this.#live;
  }

  /** @internal Counts a File made (+1) or clunked (-1). */
  track(delta: 1 | -1): void {
    this.#live += delta;
  }

  /**
   * @internal The object at `path` (client names below the server root; no "." or ".."),
   * found one name at a time from the root descriptor (see `lookup`). Symbolic links met
   * on the way are followed only if they resolve inside `floor` (a physical path: the
   * attach root of the File asking), or with `floorRises`, inside the directory holding
   * each link. The caller owns the returned handle.
   */
  async resolve(
    path: readonly string[],
    floor: readonly string[],
    budget: { links: number } = { links: MAX_LINKS },
    floorRises = false,
  ): Promise<Found> {
    if (this.#closed) throw new NsError('NS_ERR_IO', 'file server is closed');
    this.#rootRefs++;
    let handle: PathHandle;
    try {
      handle = await openPath(this.gate, proc(this.#root.fd), O_PATH | C.O_DIRECTORY);
    } finally {
      if (--this.#rootRefs === 0) this.#rootIdle?.();
    }
    try {
      let stat = await fstatOf(this.gate, handle.fd);
      let real: readonly string[] = [];
      let entryKey = keyOf(stat);
      for (let i = 0; i < path.length; i++) {
        if (!stat.isDirectory()) {
          throw new NsError('NS_ERR_NOT_DIR', `${quote(path.slice(0, i))} is not a directory`);
        }
        const next = await this.lookup(
          handle,
          real,
          path[i] ?? '',
          // With `floorRises` (an attach name), each link must stay in its own directory.
          floorRises ? real : floor,
          budget,
          path.slice(0, i + 1),
        );
        await handle.close();
        ({ handle, stat, real, entryKey } = next);
      }
      return { handle, stat, real, entryKey };
    } catch (err) {
      await handle.close();
      throw errnoToNsError(err, quote(path));
    }
  }

  /**
   * @internal Looks `name` up in the directory `dir`, whose physical path is `dirReal`:
   * openat(dir, name, O_PATH|O_NOFOLLOW) through /proc/self/fd. A symbolic link is
   * followed (policy "inside") only when its target, taken lexically against `dirReal`
   * (or, if absolute, against the root's host path), names a path inside `floor`; the
   * target is then resolved from the root with `resolve`, so links inside it are held to
   * the same rule, at most MAX_LINKS links per lookup. `shown` is the client's path, for
   * messages. The caller owns the returned handle.
   */
  async lookup(
    dir: PathHandle,
    dirReal: readonly string[],
    name: string,
    floor: readonly string[],
    budget: { links: number },
    shown: readonly string[],
  ): Promise<Found> {
    let h: PathHandle;
    try {
      h = await openPath(this.gate, proc(dir.fd, name), O_PATH | C.O_NOFOLLOW);
    } catch (err) {
      throw errnoToNsError(err, quote(shown));
    }
    let st: BigIntStats;
    try {
      st = await fstatOf(this.gate, h.fd);
    } catch (err) {
      await h.close();
      throw errnoToNsError(err, quote(shown));
    }
    if (!st.isSymbolicLink())
      return { handle: h, stat: st, real: [...dirReal, name], entryKey: keyOf(st) };
    await h.close();
    if (this.symlinks === 'refuse') {
      throw new NsError(
        'NS_ERR_PERMISSION',
        `${quote(shown)} is a symbolic link, which this server does not follow`,
      );
    }
    if (--budget.links < 0) {
      throw new NsError('NS_ERR_PERMISSION', `${quote(shown)}: too many levels of symbolic links`);
    }
    let target: string;
    try {
      // The entry may have changed since the open; whatever text is read here, it is
      // resolved below under the same confinement.
      target = await readlink(proc(dir.fd, name));
    } catch (err) {
      throw errnoToNsError(err, quote(shown));
    }
    const real = this.#linkTarget(dirReal, target);
    if (real === undefined || !isPrefix(floor, real)) {
      throw new NsError(
        'NS_ERR_PERMISSION',
        `${quote(shown)} is a symbolic link pointing outside the tree`,
      );
    }
    const found = await this.resolve(real, floor, budget);
    return { ...found, entryKey: keyOf(st) };
  }

  /** The physical path a link's `target` names, from a link in `dirReal`; undefined when
   * it leaves the server root. Lexical: the parts of `dirReal` are real directories. */
  #linkTarget(dirReal: readonly string[], target: string): string[] | undefined {
    let out: string[];
    let rest: string;
    if (target.startsWith('/')) {
      const root = this.#rootReal;
      if (root === '/') rest = target;
      else if (target === root || target.startsWith(`${root}/`)) rest = target.slice(root.length);
      else return undefined;
      out = [];
    } else {
      out = [...dirReal];
      rest = target;
    }
    for (const part of rest.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (out.length === 0) return undefined;
        out.pop();
      } else {
        out.push(part);
      }
    }
    return out;
  }

  /** @internal qid.path from (dev, ino): the root's device is 0 in the top byte, others get
   * 1, 2, ... in order of first sight, so that paths are unique across mount points. */
  qidOf(st: BigIntStats): Qid {
    let dev = this.#devs.get(st.dev);
    if (dev === undefined) {
      dev = BigInt(this.#devs.size);
      this.#devs.set(st.dev, dev);
    }
    const path = (dev << 56n) | (st.ino & 0xff_ffff_ffff_ffffn);
    // Host timestamps are coarse (a kernel tick): add a count of our own changes.
    const h = st.ctimeNs ^ (st.mtimeNs << 7n) ^ (st.size << 17n);
    const folded = Number((h ^ (h >> 32n)) & 0xffff_ffffn);
    const version = (folded + (this.#bumps.get(keyOf(st)) ?? 0)) >>> 0;
    return { type: st.isDirectory() ? QTDIR : QTFILE, version, path };
  }

  /** @internal Records a change made through this server to the object whose keyOf() is `key`. */
  bump(key: string): void {
    const n = (this.#bumps.get(key) ?? 0) + 1;
    this.#bumps.delete(key);
    this.#bumps.set(key, n);
    if (this.#bumps.size > MAX_BUMPS) {
      const oldest = this.#bumps.keys().next();
      if (oldest.done !== true) this.#bumps.delete(oldest.value);
    }
  }

  /** @internal */
  statOf(st: BigIntStats, name: string): Stat {
    return {
      qid: this.qidOf(st),
      mode: modeOf(st),
      atime: Number(st.atimeMs / 1000n) >>> 0,
      mtime: Number(st.mtimeMs / 1000n) >>> 0,
      length: st.isDirectory() ? 0n : st.size,
      name,
      uid: String(st.uid),
      gid: String(st.gid),
      muid: String(st.uid),
    };
  }

  /** @internal Runs `fn` with no other rename of this server in progress. */
  async serializeRename<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.#renameLock;
    let release = (): void => undefined;
    this.#renameLock = new Promise((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** @internal fsyncs a directory (after create/remove/rename) when syncWrites is set. */
  async syncDir(dir: PathHandle): Promise<void> {
    if (!this.syncWrites) return;
    const d = await open(proc(dir.fd), C.O_RDONLY | C.O_DIRECTORY);
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

/** When a gate sends calls to the thread pool (IoGate); the defaults are documented at DirFileServerOptions.io. */
export interface IoGateTiming {
  /** A synchronous call slower than this (ms) is slow. */
  slowMs: number;
  /** A slow call within this long (ms) of the one before sends the gate to the pool. */
  windowMs: number;
  /** How long (ms) the gate then stays on the pool; doubled per slow call after it... */
  poolMinMs: number;
  /** ...up to this. */
  poolMaxMs: number;
}

const DEFAULT_TIMING: IoGateTiming = {
  slowMs: 1,
  windowMs: 1000,
  poolMinMs: 1000,
  poolMaxMs: 60_000,
};

/**
 * @internal DirFileServerOptions.io: whether the next read, write or stat runs on the
 * event loop ("adaptive", while calls are fast) or in libuv's thread pool.
 *
 * A call is timed by the clock, so a process preempted by the host in the middle of a
 * 5 µs pread looks as slow as a disk: a slow call alone is forgiven, a second one within
 * `windowMs` is not (measured: about one preemption-made slow call every few seconds on
 * a busy 2-core machine, where a slow disk makes every miss slow).
 */
export class IoGate {
  readonly #adaptive: boolean;
  readonly #t: IoGateTiming;
  /** performance.now() until which calls go to the pool (0: they do not). */
  #poolUntil = 0;
  #backoff: number;
  /** When the last slow call returned (-Infinity: none yet). */
  #lastSlow = -Infinity;

  constructor(io: 'adaptive' | 'pool', timing: IoGateTiming = DEFAULT_TIMING) {
    this.#adaptive = io === 'adaptive';
    this.#t = timing;
    this.#backoff = timing.poolMinMs;
  }

  /** Whether to make the next call on the event loop. */
  sync(): boolean {
    if (!this.#adaptive) return false;
    if (this.#poolUntil === 0) return true;
    if (performance.now() < this.#poolUntil) return false;
    this.#poolUntil = 0;
    return true;
  }

  /** A synchronous call that started at `t0` (performance.now()) has returned. */
  done(t0: number): void {
    const now = performance.now();
    if (now - t0 <= this.#t.slowMs) {
      this.#backoff = this.#t.poolMinMs;
      return;
    }
    const previous = this.#lastSlow;
    this.#lastSlow = now;
    if (now - previous > this.#t.windowMs) return;
    this.#poolUntil = now + this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.#t.poolMaxMs);
  }
}

/** `call()` on the event loop when the gate says so, as a settled promise; else `pooled()`. */
function viaGate<T>(gate: IoGate, call: () => T, pooled: () => Promise<T>): Promise<T> {
  if (!gate.sync()) return pooled();
  const t0 = performance.now();
  try {
    // The executor runs now; what `call` throws rejects the promise.
    return new Promise<T>((resolve) => resolve(call()));
  } finally {
    gate.done(t0);
  }
}

// The three calls every Tread, Twrite and Tgetattr makes. In the pool they go through
// node:fs's callback API: FileHandle's methods cost about 3 µs more CPU per call (a 30%
// lower rate for 8 KiB reads, 4 in flight). They take the descriptor of a FileHandle the
// File holds; the File's #refs keep it open until they complete (#guard, #doRelease), as
// FileHandle would. Only regular files and directories are ever opened (#checkOpen), so a
// synchronous call never waits on a pipe or a device.

function pread(
  gate: IoGate,
  fd: number,
  buf: Uint8Array,
  off: number,
  len: number,
  pos: number,
): Promise<number> {
  return viaGate(
    gate,
    () => readSync(fd, buf, off, len, pos),
    () =>
      new Promise((resolve, reject) =>
        readCb(fd, buf, off, len, pos, (err, n) => (err === null ? resolve(n) : reject(err))),
      ),
  );
}

function pwrite(
  gate: IoGate,
  fd: number,
  buf: Uint8Array,
  off: number,
  len: number,
  pos: number,
): Promise<number> {
  return viaGate(
    gate,
    () => writeSync(fd, buf, off, len, pos),
    () =>
      new Promise((resolve, reject) =>
        writeCb(fd, buf, off, len, pos, (err, n) => (err === null ? resolve(n) : reject(err))),
      ),
  );
}

function fstatOf(gate: IoGate, fd: number): Promise<BigIntStats> {
  return viaGate(
    gate,
    () => fstatSync(fd, { bigint: true }),
    () =>
      new Promise((resolve, reject) =>
        fstatCb(fd, { bigint: true }, (err, st) => (err === null ? resolve(st) : reject(err))),
      ),
  );
}

/**
 * An O_PATH descriptor (it names an object; no I/O goes through it): a FileHandle, or one
 * opened on the event loop (SyncPathHandle, when the IoGate says so).
 */
interface PathHandle {
  /** The descriptor; -1 once closed. */
  readonly fd: number;
  /** Closes it; again, nothing happens. */
  close(): Promise<void>;
  stat(options: { bigint: true }): Promise<BigIntStats>;
}

/**
 * An O_PATH descriptor opened with openSync. close(2) of an O_PATH descriptor never
 * waits for anything (no data, no flush), so it is closed at once. Unlike a FileHandle it
 * is not closed by the garbage collector: every path that opens one closes it (the
 * descriptor-counting tests check).
 */
class SyncPathHandle implements PathHandle {
  #fd: number;
  readonly #gate: IoGate;

  constructor(fd: number, gate: IoGate) {
    this.#fd = fd;
    this.#gate = gate;
  }

  get fd(): number {
    return this.#fd;
  }

  close(): Promise<void> {
    const fd = this.#fd;
    if (fd === -1) return Promise.resolve();
    this.#fd = -1;
    return new Promise((resolve) => resolve(closeSync(fd)));
  }

  stat(_options: { bigint: true }): Promise<BigIntStats> {
    return fstatOf(this.#gate, this.#fd);
  }
}

/** Opens an O_PATH descriptor: on the event loop when the gate says so (a path lookup, no data). */
function openPath(gate: IoGate, path: string, flags: number): Promise<PathHandle> {
  return viaGate<PathHandle>(
    gate,
    () => new SyncPathHandle(openSync(path, flags), gate),
    () => open(path, flags),
  );
}

/** A promise's outcome as a value (the promise itself never rejects). */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value): Settled<T> => ({ ok: true, value }),
    (error: unknown): Settled<T> => ({ ok: false, error }),
  );
}

/** Closes the handle a speculative lookup found, when it is not used after all. */
async function discard(p: Promise<Settled<Found>> | null): Promise<void> {
  const r = await p;
  if (r?.ok === true) await r.value.handle.close().catch(() => undefined);
}

function clunked(): NsError {
  return new NsError('NS_ERR_INVALID_ARGUMENT', 'file has been clunked');
}

function readOnly(): NsError {
  return new NsError('NS_ERR_PERMISSION', 'file server is read-only');
}

function writes(mode: OpenMode): boolean {
  return mode.access === 'write' || mode.access === 'readWrite' || mode.truncate === true;
}

/** A File of a DirFileServer. Owned by whoever received it; release with clunk(). */
class DirFile implements File {
  /** A read of a host file completes as soon as the disk gives its bytes (File.waits). */
  get waits(): boolean {
    return false;
  }

  readonly #fs: DirFileServer;
  /** O_PATH handle of the object; owned. */
  readonly #h: PathHandle;
  /** Names from the server root to this object (updated when this File renames it). */
  #path: readonly string[];
  /** Length of the attach root's path: `..` stops there. */
  readonly #base: number;
  /** The object's physical path (symlinks resolved): relative link targets start here. */
  #real: readonly string[];
  /** The attach root's physical path: no symbolic link may lead out of it. */
  readonly #floor: readonly string[];
  /** Identity of the directory entry this File was reached by (a link's own, for a link). */
  readonly #entryKey: string;
  #io: FileHandle | null = null;
  #mode: OpenMode | null = null;
  #opening = false;
  /** Set while open: whether the object is a directory, and its bump key. */
  #isDir = false;
  #key = '';
  #dirty = false;
  #listing: Stat[] | null = null;
  #clunked = false;
  /** Calls in progress. The descriptors stay open until the last one leaves: a descriptor
   * number closed under a running call could be reused by an unrelated open, and
   * `/proc/self/fd/N` would then name something else, perhaps outside the tree. */
  #refs = 0;
  #idle: (() => void) | null = null;
  #released: Promise<void> | null = null;

  /** Takes ownership of `found.handle`. */
  constructor(
    fs: DirFileServer,
    found: Pick<Found, 'handle' | 'real' | 'entryKey'>,
    path: readonly string[],
    base: number,
    floor: readonly string[],
  ) {
    this.#fs = fs;
    this.#h = found.handle;
    this.#real = found.real;
    this.#entryKey = found.entryKey;
    this.#path = path;
    this.#base = base;
    this.#floor = floor;
    fs.track(1);
  }

  get #name(): string {
    return this.#path.length === this.#base ? '/' : (this.#path[this.#path.length - 1] ?? '/');
  }

  #live(): void {
    if (this.#clunked) throw clunked();
  }

  /** Runs one call of this File, holding its descriptors open (see #refs). */
  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#clunked) throw clunked();
    this.#refs++;
    try {
      return await fn();
    } finally {
      if (--this.#refs === 0) this.#idle?.();
    }
  }

  walk(names: readonly string[]): Promise<WalkResult> {
    return this.#guard(() => this.#walkImpl(names));
  }

  open(mode: OpenMode): Promise<OpenResult> {
    return this.#guard(() => this.#openImpl(mode));
  }

  create(name: string, perm: number, mode: OpenMode): Promise<CreateResult> {
    return this.#guard(() => this.#createImpl(name, perm, mode));
  }

  read(offset: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#guard(() => this.#readImpl(offset, count, signal));
  }

  write(offset: bigint, data: Uint8Array, signal?: AbortSignal): Promise<number> {
    return this.#guard(() => this.#writeImpl(offset, data, signal));
  }

  readDir(offset: number, count: number): Promise<Stat[]> {
    return this.#guard(() => this.#readDirImpl(offset, count));
  }

  stat(): Promise<Stat> {
    return this.#guard(() => this.#statImpl());
  }

  wstat(change: StatChange): Promise<void> {
    return this.#guard(() => this.#wstatImpl(change));
  }

  async #fstat(): Promise<BigIntStats> {
    try {
      const st = await fstatOf(this.#fs.gate, this.#h.fd);
      // An object whose last link is gone (removed through another File) is not found.
      if (st.nlink === 0n)
        throw new NsError('NS_ERR_NOT_FOUND', `${quote(this.#path)} has been removed`);
      return st;
    } catch (err) {
      throw errnoToNsError(err, quote(this.#path));
    }
  }

  async #walkImpl(names: readonly string[]): Promise<WalkResult> {
    if (names.length > MAX_WALK_NAMES) {
      throw new NsError(
        'NS_ERR_TOO_LARGE',
        `walk of ${names.length} names (at most ${MAX_WALK_NAMES})`,
      );
    }
    const qids: Qid[] = [];
    let cur: PathHandle | null = null; // owned; null means this.#h
    let path = this.#path;
    let real = this.#real;
    let entryKey = this.#entryKey;
    const budget = { links: MAX_LINKS };
    try {
      // The first step's lookup starts with the fstat of where the walk begins, not after
      // it (one thread-pool round trip less per walk); its result is used only if that
      // fstat's checks pass, and closed otherwise.
      let early =
        names.length > 0 && names[0] !== '..' && nameError(names[0]!) === undefined
          ? settle(
              this.#fs.lookup(this.#h, real, names[0]!, this.#floor, budget, [...path, names[0]!]),
            )
          : null;
      let st: BigIntStats;
      try {
        st = await this.#fstat();
      } catch (err) {
        await discard(early);
        throw err;
      }
      for (const name of names) {
        const at = cur ?? this.#h;
        if (!st.isDirectory() || !ownerMay(st, 1)) {
          await discard(early);
          if (!st.isDirectory())
            throw new NsError('NS_ERR_NOT_DIR', `${quote(path)} is not a directory`);
          throw new NsError('NS_ERR_PERMISSION', `no search permission in ${quote(path)}`);
        }
        let next: Found;
        if (early !== null) {
          const r = await early;
          early = null;
          path = [...path, name];
          if (!r.ok) throw r.error;
          next = r.value;
        } else if (name === '..') {
          // Computed from the walked path, never asked of the host: the host's ".." of a
          // directory moved out of the tree would be outside it.
          path = path.length > this.#base ? path.slice(0, -1) : path;
          next = await this.#fs.resolve(path, this.#floor);
        } else {
          const bad = nameError(name);
          if (bad !== undefined) throw bad;
          path = [...path, name];
          next = await this.#fs.lookup(at, real, name, this.#floor, budget, path);
        }
        // The step before's handle is done with; closing it need not be waited for.
        void cur?.close().catch(() => undefined);
        ({ handle: cur, stat: st, real, entryKey } = next);
        qids.push(this.#fs.qidOf(st));
      }
      if (cur === null) {
        // A clone: a new handle on the same object.
        cur = await openPath(this.#fs.gate, proc(this.#h.fd), O_PATH);
      }
      const file = new DirFile(
        this.#fs,
        { handle: cur, real, entryKey },
        path,
        this.#base,
        this.#floor,
      );
      cur = null;
      // Reported physical: a link followed shows as where it led (never outside the floor).
      return { qids, file, path: `/${real.slice(this.#floor.length).join('/')}` };
    } catch (err) {
      await cur?.close();
      if (err instanceof NsError || (typeof err === 'object' && err !== null && 'code' in err)) {
        return { qids, error: errnoToNsError(err, quote(path)) };
      }
      throw err;
    }
  }

  async #openImpl(mode: OpenMode): Promise<OpenResult> {
    if (this.#mode !== null || this.#opening) {
      throw new NsError('NS_ERR_INVALID_ARGUMENT', 'file is already open');
    }
    // Claimed before the first await, so that two concurrent opens cannot both proceed.
    this.#opening = true;
    try {
      return await this.#openOnce(mode);
    } finally {
      this.#opening = false;
    }
  }

  async #openOnce(mode: OpenMode): Promise<OpenResult> {
    const st = await this.#fstat();
    await this.#checkOpen(st, mode);
    const dir = st.isDirectory();
    let flags = dir ? C.O_RDONLY | C.O_DIRECTORY : C.O_RDONLY;
    if (mode.access === 'write') flags = C.O_WRONLY;
    else if (mode.access === 'readWrite') flags = C.O_RDWR;
    else if (mode.truncate === true) flags = C.O_RDWR; // OREAD|OTRUNC: read what is left (nothing)
    if (mode.truncate === true) flags |= C.O_TRUNC;
    try {
      // Reopening through the magic link gives the object behind the O_PATH handle.
      this.#io = await open(proc(this.#h.fd), flags);
    } catch (err) {
      throw errnoToNsError(err, quote(this.#path));
    }
    this.#mode = mode;
    this.#isDir = dir;
    this.#key = keyOf(st);
    if (mode.truncate === true) this.#fs.bump(this.#key);
    return { qid: this.#fs.qidOf(await this.#fstat()), iounit: this.#fs.iounit };
  }

  async #checkOpen(st: BigIntStats, mode: OpenMode): Promise<void> {
    const dir = st.isDirectory();
    if (dir && (writes(mode) || mode.access === 'exec')) {
      throw new NsError('NS_ERR_IS_DIR', `${quote(this.#path)} is a directory`);
    }
    if (!dir && !st.isFile()) {
      throw new NsError(
        'NS_ERR_PERMISSION',
        `${quote(this.#path)} is not a regular file or directory`,
      );
    }
    if ((writes(mode) || mode.removeOnClose === true) && this.#fs.readOnly) throw readOnly();
    const need: (4 | 2 | 1)[] = [];
    if (mode.access === 'read' || mode.access === 'readWrite') need.push(4);
    if (writes(mode)) need.push(2);
    if (mode.access === 'exec') need.push(1);
    for (const bit of need) {
      if (!ownerMay(st, bit))
        throw new NsError('NS_ERR_PERMISSION', `permission denied on ${quote(this.#path)}`);
    }
    if (mode.removeOnClose === true) {
      if (this.#path.length === this.#base)
        throw new NsError('NS_ERR_PERMISSION', 'cannot remove the root');
      const { handle: parent, stat: pst } = await this.#fs.resolve(
        this.#path.slice(0, -1),
        this.#floor,
      );
      try {
        if (!ownerMay(pst, 2)) {
          throw new NsError('NS_ERR_PERMISSION', `may not remove ${quote(this.#path)}`);
        }
      } finally {
        await parent.close();
      }
    }
  }

  async #createImpl(name: string, perm: number, mode: OpenMode): Promise<CreateResult> {
    const st = await this.#fstat();
    if (!st.isDirectory())
      throw new NsError('NS_ERR_NOT_DIR', `${quote(this.#path)} is not a directory`);
    const bad = nameError(name);
    if (bad !== undefined) throw bad;
    if ((perm & ~(DMDIR | DMTMP | DMPERM)) !== 0) {
      const what =
        (perm & (DMAPPEND | DMEXCL)) !== 0
          ? 'append-only and exclusive-use files are'
          : 'mode bits are';
      throw new NsError('NS_ERR_INVALID_ARGUMENT', `${what} not supported by this server`);
    }
    if (this.#fs.readOnly) throw readOnly();
    if (!ownerMay(st, 2))
      throw new NsError('NS_ERR_PERMISSION', `no write permission in ${quote(this.#path)}`);
    const makeDir = (perm & DMDIR) !== 0;
    if (makeDir && (writes(mode) || mode.access === 'exec')) {
      throw new NsError('NS_ERR_IS_DIR', 'a directory may be opened for reading only');
    }
    // create(5): the permission bits are masked by the directory's.
    const mask = makeDir ? 0o777 : 0o666;
    const bits = perm & (~mask | (Number(st.mode) & mask)) & DMPERM;
    const path = [...this.#path, name];
    let handle: PathHandle | null = null;
    let io: FileHandle | null = null;
    try {
      if (makeDir) {
        await mkdir(proc(this.#h.fd, name), bits);
        handle = (await this.#fs.lookup(this.#h, this.#real, name, this.#floor, { links: 0 }, path))
          .handle;
        // mkdir's mode went through the umask; set exactly what create(5) says.
        await chmod(proc(handle.fd), bits);
        io = await open(proc(handle.fd), C.O_RDONLY | C.O_DIRECTORY);
      } else {
        let flags = C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
        flags |=
          mode.access === 'write'
            ? C.O_WRONLY
            : mode.access === 'readWrite'
              ? C.O_RDWR
              : C.O_RDONLY;
        io = await open(proc(this.#h.fd, name), flags, bits);
        await io.chmod(bits);
        handle = await openPath(this.#fs.gate, proc(io.fd), O_PATH);
      }
      await this.#fs.syncDir(this.#h);
      this.#fs.bump(keyOf(st));
      const nst = await handle.stat({ bigint: true });
      const found = { handle, real: [...this.#real, name], entryKey: keyOf(nst) };
      const file = new DirFile(this.#fs, found, path, this.#base, this.#floor);
      file.#io = io;
      file.#mode = mode;
      file.#isDir = makeDir;
      file.#key = keyOf(nst);
      const qid = this.#fs.qidOf(nst);
      return { file, qid, iounit: this.#fs.iounit };
    } catch (err) {
      await io?.close();
      await handle?.close();
      throw errnoToNsError(err, quote(path));
    }
  }

  async #readImpl(offset: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    const io = this.#io;
    const m = this.#mode;
    if (io === null || m === null || m.access === 'write') {
      if ((await this.#fstat()).isDirectory())
        throw new NsError('NS_ERR_IS_DIR', `${quote(this.#path)} is a directory`);
      throw new NsError('NS_ERR_NOT_OPEN', 'file is not open for reading');
    }
    if (this.#isDir) {
      throw new NsError('NS_ERR_IS_DIR', `${quote(this.#path)} is a directory`);
    }
    // No host file reaches 2^53 bytes (Node's largest file position): past it is past the
    // end of the file, which reads as nothing (as the ram tree answers), never an error.
    const room = BigInt(Number.MAX_SAFE_INTEGER) - offset;
    if (room <= 0n) return new Uint8Array(0);
    const n = Math.min(count, this.#fs.iounit, Number(room < 1n << 31n ? room : 1n << 31n));
    // Every byte returned is read into it first: no need to zero it.
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    try {
      // pread may return less than asked before the end of the file; keep going.
      while (got < n) {
        const r = await pread(this.#fs.gate, io.fd, buf, got, n - got, Number(offset) + got);
        if (r === 0) break;
        got += r;
      }
    } catch (err) {
      throw errnoToNsError(err, quote(this.#path));
    }
    return got === n ? buf : buf.subarray(0, got);
  }

  async #writeImpl(offset: bigint, data: Uint8Array, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const io = this.#io;
    const m = this.#mode;
    if (io === null || m === null || m.access === 'read' || m.access === 'exec') {
      throw new NsError('NS_ERR_NOT_OPEN', 'file is not open for writing');
    }
    if (data.length > this.#fs.iounit) {
      throw new NsError(
        'NS_ERR_TOO_LARGE',
        `write of ${data.length} bytes exceeds iounit ${this.#fs.iounit}`,
      );
    }
    if (offset + BigInt(data.length) > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new NsError('NS_ERR_TOO_LARGE', 'write beyond the largest supported offset');
    }
    this.#dirty = true;
    try {
      let done = 0;
      while (done < data.length) {
        done += await pwrite(
          this.#fs.gate,
          io.fd,
          data,
          done,
          data.length - done,
          Number(offset) + done,
        );
      }
      if (this.#fs.syncWrites) await io.datasync();
      this.#fs.bump(this.#key);
    } catch (err) {
      throw errnoToNsError(err, quote(this.#path));
    }
    return data.length;
  }

  async #readDirImpl(offset: number, count: number): Promise<Stat[]> {
    const st = await this.#fstat();
    if (!st.isDirectory())
      throw new NsError('NS_ERR_NOT_DIR', `${quote(this.#path)} is not a directory`);
    const io = this.#io;
    if (io === null) throw new NsError('NS_ERR_NOT_OPEN', 'directory is not open');
    if (offset === 0 || this.#listing === null) this.#listing = await this.#list(io);
    return this.#listing.slice(offset, offset + count);
  }

  async #list(dir: PathHandle): Promise<Stat[]> {
    let names: string[];
    try {
      names = await readdir(proc(dir.fd));
    } catch (err) {
      throw errnoToNsError(err, quote(this.#path));
    }
    const out: (Stat | null)[] = new Array<Stat | null>(names.length).fill(null);
    // lstat never follows the entry; a few at a time to use the thread pool. A symbolic
    // link is listed with its target's stat if it may be walked to (see lookup), and left
    // out otherwise, so that everything listed can be walked to.
    const batch = 16;
    for (let i = 0; i < names.length; i += batch) {
      await Promise.all(
        names.slice(i, i + batch).map(async (name, j) => {
          try {
            const est = await lstat(proc(dir.fd, name), { bigint: true });
            if (!est.isSymbolicLink()) {
              out[i + j] = this.#fs.statOf(est, name);
            } else if (this.#fs.symlinks === 'inside') {
              const path = [...this.#path, name];
              const found = await this.#fs.lookup(
                this.#h,
                this.#real,
                name,
                this.#floor,
                { links: MAX_LINKS },
                path,
              );
              await found.handle.close();
              out[i + j] = this.#fs.statOf(found.stat, name);
            }
          } catch {
            // Removed since readdir, or a link that may not be followed: not listed.
          }
        }),
      );
    }
    return out.filter((s): s is Stat => s !== null);
  }

  async #statImpl(): Promise<Stat> {
    return this.#fs.statOf(await this.#fstat(), this.#name);
  }

  async #wstatImpl(change: StatChange): Promise<void> {
    const st = await this.#fstat();
    const rename = changes(change.name) && change.name !== this.#name ? change.name : undefined;
    const length = changes(change.length) ? change.length : undefined;
    const mode = changes(change.mode) ? change.mode >>> 0 : undefined;
    const mtime = changes(change.mtime) ? change.mtime >>> 0 : undefined;
    const atime = changes(change.atime) ? change.atime >>> 0 : undefined;
    const gid = changes(change.gid) ? change.gid : undefined;
    const nothing = [rename, length, mode, mtime, atime, gid].every((v) => v === undefined);
    if (nothing) {
      // wstat(5): a wstat that changes nothing asks for the file to be committed to disk.
      await this.#syncObject(st);
      return;
    }
    if (this.#fs.readOnly) throw readOnly();
    const isRoot = this.#path.length === this.#base;
    // Validate everything first (wstat(5): all or nothing).
    if (rename !== undefined) {
      const bad = nameError(rename);
      if (bad !== undefined) throw bad;
      if (isRoot) throw new NsError('NS_ERR_PERMISSION', 'cannot rename the root');
    }
    if (length !== undefined) {
      if (st.isDirectory()) {
        if (length !== 0n)
          throw new NsError('NS_ERR_IS_DIR', 'cannot set the length of a directory');
      } else {
        if (!ownerMay(st, 2))
          throw new NsError('NS_ERR_PERMISSION', `permission denied on ${quote(this.#path)}`);
        if (length > BigInt(Number.MAX_SAFE_INTEGER))
          throw new NsError('NS_ERR_TOO_LARGE', 'length too large');
      }
    }
    if (mode !== undefined) {
      if (((mode & DMDIR) !== 0) !== st.isDirectory()) {
        throw new NsError('NS_ERR_INVALID_ARGUMENT', 'cannot change DMDIR');
      }
      if ((mode & ~(DMDIR | DMPERM)) !== 0) {
        throw new NsError(
          'NS_ERR_INVALID_ARGUMENT',
          `mode bits 0x${mode.toString(16)} not supported by this server`,
        );
      }
    }
    let gidNum: number | undefined;
    if (gid !== undefined) {
      if (!/^\d{1,10}$/.test(gid) || Number(gid) > 0xfffffffe) {
        throw new NsError(
          'NS_ERR_INVALID_ARGUMENT',
          'gid must be a numeric group id on this server',
        );
      }
      gidNum = Number(gid);
    }
    const target = proc(this.#h.fd);
    const apply = async (): Promise<void> => {
      // The rename's checks come first, so that a refused rename changes nothing.
      const parent = rename === undefined ? null : await this.#renameChecks(rename);
      try {
        await applyRest();
        if (parent !== null && rename !== undefined) await this.#rename(parent, st, rename);
      } finally {
        await parent?.close();
      }
    };
    const applyRest = async (): Promise<void> => {
      if (length !== undefined && !st.isDirectory() && length !== st.size)
        await truncate(target, Number(length));
      if (mode !== undefined) await chmod(target, mode & DMPERM);
      if (mtime !== undefined || atime !== undefined) {
        await utimes(
          target,
          atime ?? Number(st.atimeMs / 1000n),
          mtime ?? Number(st.mtimeMs / 1000n),
        );
      }
      if (gidNum !== undefined) await chown(target, -1, gidNum);
    };
    try {
      if (rename !== undefined) await this.#fs.serializeRename(apply);
      else await apply();
    } catch (err) {
      throw errnoToNsError(err, quote(this.#path));
    }
    this.#fs.bump(keyOf(st));
  }

  /** The parent directory (owned by the caller), once renaming this file to `to` is allowed. */
  async #renameChecks(to: string): Promise<PathHandle> {
    const { handle: parent, stat: pst } = await this.#fs.resolve(
      this.#path.slice(0, -1),
      this.#floor,
    );
    try {
      if (!ownerMay(pst, 2))
        throw new NsError('NS_ERR_PERMISSION', `no write permission in the parent directory`);
      await this.#checkEntry(parent);
      const exists = await lstat(proc(parent.fd, to)).then(
        () => true,
        (err: unknown) => {
          if ((err as { code?: unknown }).code === 'ENOENT') return false;
          throw err;
        },
      );
      if (exists) throw new NsError('NS_ERR_EXISTS', `${quoteName(to)} already exists`);
      return parent;
    } catch (err) {
      await parent.close();
      throw err;
    }
  }

  /** Renames this file within `parent`; runs under the server's rename lock, after #renameChecks. */
  async #rename(parent: PathHandle, st: BigIntStats, to: string): Promise<void> {
    // rename(2) would replace an entry created since the check by another host process;
    // renames through this server cannot race, as they are serialized.
    await rename(proc(parent.fd, this.#name), proc(parent.fd, to));
    // This File keeps its handle on the object, whose name is now `to`. (If it was reached
    // through a symbolic link, the link was renamed and the object's own path is unchanged.)
    this.#path = [...this.#path.slice(0, -1), to];
    if (this.#entryKey === keyOf(st)) this.#real = [...this.#real.slice(0, -1), to];
    await this.#fs.syncDir(parent);
    this.#fs.bump(keyOf(await parent.stat({ bigint: true })));
  }

  /** The stat of the entry our path names in `parent` (not following it); NS_ERR_NOT_FOUND
   * if that entry is no longer the one this File was reached by. */
  async #checkEntry(parent: PathHandle): Promise<BigIntStats> {
    const est = await lstat(proc(parent.fd, this.#name), { bigint: true });
    if (keyOf(est) !== this.#entryKey) {
      throw new NsError('NS_ERR_NOT_FOUND', `${quote(this.#path)} was renamed or replaced`);
    }
    return est;
  }

  async #syncObject(st: BigIntStats): Promise<void> {
    if (!st.isFile() && !st.isDirectory()) return;
    try {
      const fh = await open(
        proc(this.#h.fd),
        st.isDirectory() ? C.O_RDONLY | C.O_DIRECTORY : C.O_RDONLY,
      );
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw errnoToNsError(err, quote(this.#path));
    }
  }

  async remove(): Promise<void> {
    this.#live();
    try {
      await this.#guard(() => this.#remove());
    } finally {
      await this.#release(false);
    }
  }

  async #remove(): Promise<void> {
    if (this.#path.length === this.#base)
      throw new NsError('NS_ERR_PERMISSION', 'cannot remove the root');
    if (this.#fs.readOnly) throw readOnly();
    const { handle: parent, stat: pst } = await this.#fs.resolve(
      this.#path.slice(0, -1),
      this.#floor,
    );
    try {
      if (!ownerMay(pst, 2))
        throw new NsError('NS_ERR_PERMISSION', `no write permission in the parent directory`);
      // The entry, not what it may link to: removing a symbolic link removes the link.
      const st = await this.#checkEntry(parent);
      if (st.isDirectory()) await rmdir(proc(parent.fd, this.#name));
      else await unlink(proc(parent.fd, this.#name));
      await this.#fs.syncDir(parent);
      this.#fs.bump(keyOf(pst));
    } catch (err) {
      throw errnoToNsError(err, quote(this.#path));
    } finally {
      await parent.close();
    }
  }

  async clunk(): Promise<void> {
    await this.#release(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#release(true);
  }

  #release(honourRemoveOnClose: boolean): Promise<void> {
    this.#released ??= this.#doRelease(honourRemoveOnClose);
    return this.#released;
  }

  async #doRelease(honourRemoveOnClose: boolean): Promise<void> {
    this.#clunked = true; // synchronously: every later call is refused
    if (this.#refs > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.#fs.track(-1);
    const io = this.#io;
    const mode = this.#mode;
    this.#io = null;
    this.#mode = null;
    this.#listing = null;
    // clunk never fails (STYLE section 5): errors here are the host's and are dropped.
    if (io !== null) {
      // Durability rule: a File that wrote is fsync'ed before its clunk completes.
      if (this.#dirty) await io.sync().catch(() => undefined);
      await io.close().catch(() => undefined);
    }
    if (honourRemoveOnClose && mode?.removeOnClose === true)
      await this.#remove().catch(() => undefined);
    // The walk handle (O_PATH: no data, no lock) is closed without waiting: nothing the
    // client does next depends on it, and a thread-pool round trip per clunk was a third
    // of a walk+clunk.
    void this.#h.close().catch(() => undefined);
  }
}

/**
 * A DirFileServer serving the directory `root` (resolved once, here, with symlinks
 * followed: the administrator's path is trusted; nothing below it is). The caller owns
 * the server and closes it with `close()`. Rejects with NS_ERR_NOT_FOUND or NS_ERR_NOT_DIR
 * for a bad root, NS_ERR_INVALID_ARGUMENT for a bad option.
 */
export async function newDirFileServer(
  root: string,
  options: DirFileServerOptions = {},
): Promise<DirFileServer> {
  const iounit = options.iounit ?? DEFAULT_IOUNIT;
  if (!Number.isSafeInteger(iounit) || iounit < 1) {
    throw new NsError(
      'NS_ERR_INVALID_ARGUMENT',
      'DirFileServer option iounit must be a positive integer',
    );
  }
  let h: FileHandle;
  let real: string;
  try {
    real = await realpath(root);
    h = await open(real, O_PATH | C.O_DIRECTORY);
  } catch (err) {
    throw errnoToNsError(err, 'root directory');
  }
  return new DirFileServer(h, real, options);
}
