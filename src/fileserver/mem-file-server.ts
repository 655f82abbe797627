/**
 * ramfs: a FileServer holding its whole tree in memory (the reference implementation of
 * file-server.ts).
 *
 * Permission model, kept simple on purpose: the server has one user (`uid`, who owns
 * every file) and every client acts as that user, so checks use the owner's rwx bits of
 * the mode only (stat(5)): walking through a directory needs x, listing it r, creating or
 * removing in it w; opening a file needs r (OREAD), w (OWRITE, OTRUNC), rw (ORDWR) or x
 * (OEXEC); ORCLOSE needs w on the parent. wstat of the name needs w on the parent, of the
 * length w on the file; mode, times and gid may always be changed by the owner.
 */

import { NsError } from '../errors.js';
import {
  DMAPPEND,
  DMDIR,
  DMEXCL,
  DMPERM,
  DMTMP,
  MAX_WALK_NAMES,
  changes,
  nameError,
  quote,
  qidTypeOf,
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

/** Limits and identity of a MemFileServer. Every field has a safe default. */
export interface MemFileServerOptions {
  /** Owner of every file, and its group and muid. Default "capns". */
  uid?: string;
  /** Permission bits of the root directory. Default 0o777. */
  rootPerm?: number;
  /** Largest file, in bytes (NS_ERR_TOO_LARGE beyond). Default 256 MiB. */
  maxFileSize?: number;
  /** Total bytes of file data the server holds (NS_ERR_BUSY beyond). Default 1 GiB. */
  maxBytes?: number;
  /** Files and directories, the root included (NS_ERR_BUSY beyond). Default 65536. */
  maxFiles?: number;
  /** The iounit reported by open and create. Default 1 MiB. */
  iounit?: number;
  /** File data is kept in blocks of this many bytes (holes cost nothing). Default 64 KiB. */
  blockSize?: number;
}

const DEFAULTS = {
  uid: 'capns',
  rootPerm: 0o777,
  maxFileSize: 256 * 1024 * 1024,
  maxBytes: 1024 * 1024 * 1024,
  maxFiles: 65536,
  iounit: 1024 * 1024,
  blockSize: 64 * 1024,
} as const;

/** The DM flags a file may carry; anything else in a mode is refused. */
const ALLOWED_MODE = DMDIR | DMAPPEND | DMEXCL | DMTMP | DMPERM;

interface Node {
  readonly qpath: bigint;
  version: number;
  mode: number;
  name: string;
  /** null for the root. */
  parent: Node | null;
  atime: number;
  mtime: number;
  gid: string;
  /** Directories: entries in creation order. */
  readonly children: Map<string, Node> | null;
  /**
   * Files: the bytes, in blocks of `blockSize` bytes; a missing block (a hole) reads as zeros.
   * Blocks instead of one growing buffer: no reallocation and copy as a file grows, and
   * sparse files cost nothing for their holes.
   */
  blocks: (Uint8Array | undefined)[];
  length: number;
  /** Files open with DMEXCL set. */
  exclusiveOpen: boolean;
  removed: boolean;
}

function now(): number {
  return Math.floor(Date.now() / 1000) >>> 0;
}

function isDir(n: Node): boolean {
  return n.children !== null;
}

function qidOf(n: Node): Qid {
  return { type: qidTypeOf(n.mode), version: n.version, path: n.qpath };
}

function bump(n: Node): void {
  n.version = (n.version + 1) >>> 0;
}

/**
 * An in-memory FileServer. All state lives in this object; nothing is shared between
 * instances. Every method runs to completion without yielding, so each call is atomic
 * with respect to every other call on the same server.
 */
export class MemFileServer implements FileServer {
  readonly #opts: Required<MemFileServerOptions>;
  readonly #root: Node;
  #nextPath = 0n;
  #files = 0;
  #bytes = 0;
  #live = 0;
  /**
   * Blocks handed out by read() as views: they are never written again (a write copies
   * the block first), so a reader's bytes stay a snapshot.
   */
  readonly #lent = new WeakSet<Uint8Array>();
  /** One block of zeros, lent to every read inside a hole. */
  #zeros: Uint8Array | null = null;

  /** Throws NS_ERR_INVALID_ARGUMENT for a limit that is not a positive integer. */
  constructor(options: MemFileServerOptions = {}) {
    this.#opts = { ...DEFAULTS, ...options };
    for (const key of ['maxFileSize', 'maxBytes', 'maxFiles', 'iounit', 'blockSize'] as const) {
      const v = this.#opts[key];
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new NsError(
          'NS_ERR_INVALID_ARGUMENT',
          `MemFileServer option ${key} must be a positive integer`,
        );
      }
    }
    this.#root = this.newNode('/', DMDIR | (this.#opts.rootPerm & DMPERM), null);
  }

  /** Root of the tree, or of the directory `aname` names (a relative path) in it. */
  async attach(aname: string): Promise<Attached> {
    const path = aname.split('/').filter((s) => s !== '' && s !== '.');
    if (path.includes('..'))
      throw new NsError('NS_ERR_INVALID_PATH', 'attach name may not contain ".."');
    let node = this.#root;
    for (const name of path) {
      if (!isDir(node))
        throw new NsError('NS_ERR_NOT_DIR', `tree ${quote(aname)} is not a directory`);
      const next = node.children?.get(name);
      if (next === undefined)
        throw new NsError('NS_ERR_NOT_FOUND', `no tree ${quote(aname)}`);
      node = next;
    }
    if (!isDir(node))
      throw new NsError('NS_ERR_NOT_DIR', `tree ${quote(aname)} is not a directory`);
    return { root: new MemFile(this, node, node), qid: qidOf(node), path: attachedAt(path) };
  }

  /** How many files and directories exist, the root included (for tests and stats). */
  get fileCount(): number {
    return this.#files;
  }

  /** Files handed out and not yet clunked (a leak check for tests and stats). */
  get liveFiles(): number {
    return this.#live;
  }

  /** @internal Counts a File made (+1) or clunked (-1). */
  track(delta: 1 | -1): void {
    this.#live += delta;
  }

  /** Bytes of file data held (for tests and stats). */
  get byteCount(): number {
    return this.#bytes;
  }

  /** @internal */
  get options(): Readonly<Required<MemFileServerOptions>> {
    return this.#opts;
  }

  /** @internal A new node; the caller links it into its parent. */
  newNode(name: string, mode: number, parent: Node | null): Node {
    if (this.#files >= this.#opts.maxFiles) {
      throw new NsError('NS_ERR_BUSY', `file limit (${this.#opts.maxFiles}) reached`);
    }
    this.#files++;
    const t = now();
    return {
      qpath: this.#nextPath++,
      version: 0,
      mode: mode >>> 0,
      name,
      parent,
      atime: t,
      mtime: t,
      gid: this.#opts.uid,
      children: (mode & DMDIR) !== 0 ? new Map() : null,
      blocks: [],
      length: 0,
      exclusiveOpen: false,
      removed: false,
    };
  }

  /** @internal Unlinks `n` (an empty directory or a file) and frees its data. */
  unlink(n: Node): void {
    const parent = n.parent;
    if (parent === null) throw new NsError('NS_ERR_PERMISSION', 'cannot remove the root');
    parent.children?.delete(n.name);
    bump(parent);
    parent.mtime = now();
    n.removed = true;
    this.#files--;
    this.resize(n, 0);
  }

  /** @internal Marks `block` as handed out (see #lent); returns it. */
  lend(block: Uint8Array): Uint8Array {
    this.#lent.add(block);
    return block;
  }

  /** @internal A block of zeros that is always lent. */
  zeros(): Uint8Array {
    return (this.#zeros ??= this.lend(new Uint8Array(this.#opts.blockSize)));
  }

  /** @internal Block `i` of `n`, copied first if a reader holds a view of it. */
  writableBlock(n: Node, i: number): Uint8Array | undefined {
    const b = n.blocks[i];
    if (b === undefined || !this.#lent.has(b)) return b;
    return (n.blocks[i] = b.slice());
  }

  /** @internal Sets a file's length, zero-filling growth; enforces the byte limits. */
  resize(n: Node, length: number): void {
    if (length > this.#opts.maxFileSize) {
      throw new NsError(
        'NS_ERR_TOO_LARGE',
        `file size limit (${this.#opts.maxFileSize} bytes) exceeded`,
      );
    }
    const grow = length - n.length;
    if (grow > 0 && this.#bytes + grow > this.#opts.maxBytes) {
      throw new NsError('NS_ERR_BUSY', `server byte limit (${this.#opts.maxBytes}) reached`);
    }
    if (length < n.length) {
      // Drop whole blocks past the end, and zero the cut tail of the last one, so that a
      // later extension reads zeros there.
      const block = this.#opts.blockSize;
      n.blocks.length = Math.ceil(length / block);
      this.writableBlock(n, n.blocks.length - 1)?.fill(0, length % block || block);
    }
    this.#bytes += grow;
    n.length = length;
  }

  /** @internal */
  statOf(n: Node, root: Node): Stat {
    return {
      qid: qidOf(n),
      mode: n.mode,
      atime: n.atime,
      mtime: n.mtime,
      length: isDir(n) ? 0n : BigInt(n.length),
      name: n === root ? '/' : n.name,
      uid: this.#opts.uid,
      gid: n.gid,
      muid: this.#opts.uid,
    };
  }
}

function perm(n: Node, bit: 4 | 2 | 1): boolean {
  return ((n.mode >>> 6) & bit) !== 0;
}

function clunked(): NsError {
  return new NsError('NS_ERR_INVALID_ARGUMENT', 'file has been clunked');
}

function gone(n: Node): NsError {
  return new NsError('NS_ERR_NOT_FOUND', `${quote(n.name)} has been removed`);
}

/** The path of `n` from `root` ("/" for the root itself): what a walk reports. */
function pathBelow(root: Node, n: Node): string {
  const names: string[] = [];
  for (let at: Node | null = n; at !== null && at !== root; at = at.parent) names.push(at.name);
  return `/${names.reverse().join('/')}`;
}

/** A File of a MemFileServer. Owned by whoever received it; release with clunk(). */
class MemFile implements File {
  readonly #fs: MemFileServer;
  readonly #node: Node;
  /** The attach root: `..` stops here and its Stat name is "/". */
  readonly #root: Node;
  #mode: OpenMode | null = null;
  /** This File holds the node's exclusive-use open (DMEXCL). */
  #exclusive = false;
  #clunked = false;
  #listing: Stat[] | null = null;

  /** A read of memory never waits (File.waits). */
  get waits(): boolean {
    return false;
  }

  constructor(fs: MemFileServer, node: Node, root: Node) {
    this.#fs = fs;
    this.#node = node;
    this.#root = root;
    fs.track(1);
  }

  #live(): Node {
    if (this.#clunked) throw clunked();
    if (this.#node.removed) throw gone(this.#node);
    return this.#node;
  }

  async walk(names: readonly string[]): Promise<WalkResult> {
    if (this.#clunked) throw clunked();
    if (names.length > MAX_WALK_NAMES) {
      throw new NsError(
        'NS_ERR_TOO_LARGE',
        `walk of ${names.length} names (at most ${MAX_WALK_NAMES})`,
      );
    }
    if (this.#node.removed) return { qids: [], error: gone(this.#node) };
    let n = this.#node;
    const qids: Qid[] = [];
    for (const name of names) {
      let next: Node | undefined;
      if (!isDir(n)) {
        return {
          qids,
          error: new NsError('NS_ERR_NOT_DIR', `${quote(n.name)} is not a directory`),
        };
      }
      if (!perm(n, 1)) {
        return {
          qids,
          error: new NsError(
            'NS_ERR_PERMISSION',
            `no search permission in ${quote(n.name)}`,
          ),
        };
      }
      if (name === '..') {
        next = n === this.#root || n.parent === null ? n : n.parent;
      } else {
        const bad = nameError(name);
        if (bad !== undefined) return { qids, error: bad };
        next = n.children?.get(name);
        if (next === undefined) {
          return {
            qids,
            error: new NsError('NS_ERR_NOT_FOUND', `${quote(name)} not found`),
          };
        }
      }
      n = next;
      qids.push(qidOf(n));
    }
    return { qids, file: new MemFile(this.#fs, n, this.#root), path: pathBelow(this.#root, n) };
  }

  async open(mode: OpenMode): Promise<OpenResult> {
    const n = this.#live();
    if (this.#mode !== null) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'file is already open');
    this.#check(n, mode);
    if (mode.truncate === true && !isDir(n)) {
      this.#fs.resize(n, 0);
      bump(n);
      n.mtime = now();
    }
    this.#opened(n, mode);
    return { qid: qidOf(n), iounit: this.#fs.options.iounit };
  }

  /** open(5) permission and mode checks, before anything changes. */
  #check(n: Node, mode: OpenMode): void {
    const writes = mode.access === 'write' || mode.access === 'readWrite' || mode.truncate === true;
    if (isDir(n) && (writes || mode.access === 'exec')) {
      throw new NsError('NS_ERR_IS_DIR', `${quote(n.name)} is a directory`);
    }
    const need: (4 | 2 | 1)[] = [];
    if (mode.access === 'read' || mode.access === 'readWrite') need.push(4);
    if (writes) need.push(2);
    if (mode.access === 'exec') need.push(1);
    for (const bit of need) {
      if (!perm(n, bit))
        throw new NsError('NS_ERR_PERMISSION', `permission denied on ${quote(n.name)}`);
    }
    if (
      mode.removeOnClose === true &&
      (n.parent === null || n === this.#root || !perm(n.parent, 2))
    ) {
      throw new NsError('NS_ERR_PERMISSION', `may not remove ${quote(n.name)}`);
    }
    if ((n.mode & DMEXCL) !== 0 && n.exclusiveOpen) {
      throw new NsError('NS_ERR_BUSY', `${quote(n.name)} is open exclusively`);
    }
  }

  #opened(n: Node, mode: OpenMode): void {
    if ((n.mode & DMEXCL) !== 0) {
      n.exclusiveOpen = true;
      this.#exclusive = true;
    }
    this.#mode = mode;
  }

  async create(name: string, permBits: number, mode: OpenMode): Promise<CreateResult> {
    const dir = this.#live();
    if (!isDir(dir))
      throw new NsError('NS_ERR_NOT_DIR', `${quote(dir.name)} is not a directory`);
    const bad = nameError(name);
    if (bad !== undefined) throw bad;
    if ((permBits & ~ALLOWED_MODE) !== 0) {
      throw new NsError(
        'NS_ERR_INVALID_ARGUMENT',
        `unsupported mode bits 0x${(permBits >>> 0).toString(16)}`,
      );
    }
    if (!perm(dir, 2))
      throw new NsError('NS_ERR_PERMISSION', `no write permission in ${quote(dir.name)}`);
    if (dir.children?.has(name) === true)
      throw new NsError('NS_ERR_EXISTS', `${quote(name)} already exists`);
    const makeDir = (permBits & DMDIR) !== 0;
    const writes = mode.access === 'write' || mode.access === 'readWrite' || mode.truncate === true;
    if (makeDir && (writes || mode.access === 'exec')) {
      throw new NsError('NS_ERR_IS_DIR', `a directory may be opened for reading only`);
    }
    // create(5): the permission bits are masked by the directory's.
    const mask = makeDir ? 0o777 : 0o666;
    const flags = makeDir ? DMDIR : permBits & (DMAPPEND | DMEXCL | DMTMP);
    const mode9 = flags | (permBits & (~mask | (dir.mode & mask)) & DMPERM);
    const n = this.#fs.newNode(name, mode9 >>> 0, dir);
    dir.children?.set(name, n);
    bump(dir);
    dir.mtime = now();
    // create(5): the new file is opened with `mode` without checking its permissions.
    const file = new MemFile(this.#fs, n, this.#root);
    file.#opened(n, mode);
    return { file, qid: qidOf(n), iounit: this.#fs.options.iounit };
  }

  async read(offset: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    const n = this.#live();
    if (isDir(n)) throw new NsError('NS_ERR_IS_DIR', `${quote(n.name)} is a directory`);
    const m = this.#mode;
    if (m === null || m.access === 'write')
      throw new NsError('NS_ERR_NOT_OPEN', 'file is not open for reading');
    if (offset >= BigInt(n.length)) return new Uint8Array(0);
    const start = Number(offset);
    const end = Math.min(n.length, start + Math.min(count, this.#fs.options.iounit));
    n.atime = now();
    const BLOCK = this.#fs.options.blockSize;
    const len = end - start;
    const first = Math.floor(start / BLOCK);
    if (first === Math.floor((end - 1) / BLOCK)) {
      // Inside one block (every aligned read up to the block size): a view of it, no
      // allocation and no copy. Allocating a fresh 64 KiB buffer per read made V8 run a
      // full mark-compact every few hundred reads (external memory pressure), a third of
      // the 9P server's time at 64 KiB reads.
      const from = start - first * BLOCK;
      const block = n.blocks[first];
      return (block === undefined ? this.#fs.zeros() : this.#fs.lend(block)).subarray(from, from + len);
    }
    // Across blocks: one copy. Every byte of `out` is written below (holes explicitly),
    // so a large one skips the zero-filling of a new Uint8Array.
    const out = len >= 4096 ? new Uint8Array(Buffer.allocUnsafeSlow(len).buffer, 0, len) : new Uint8Array(len);
    for (let at = start; at < end;) {
      const i = Math.floor(at / BLOCK);
      const from = at - i * BLOCK;
      const take = Math.min(BLOCK - from, end - at);
      const block = n.blocks[i];
      if (block !== undefined) out.set(block.subarray(from, from + take), at - start);
      else out.fill(0, at - start, at - start + take);
      at += take;
    }
    return out;
  }

  async write(offset: bigint, data: Uint8Array, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const n = this.#live();
    if (isDir(n)) throw new NsError('NS_ERR_IS_DIR', `${quote(n.name)} is a directory`);
    const m = this.#mode;
    if (m === null || m.access === 'read' || m.access === 'exec') {
      throw new NsError('NS_ERR_NOT_OPEN', 'file is not open for writing');
    }
    if (data.length > this.#fs.options.iounit) {
      throw new NsError(
        'NS_ERR_TOO_LARGE',
        `write of ${data.length} bytes exceeds iounit ${this.#fs.options.iounit}`,
      );
    }
    const maxSize = BigInt(this.#fs.options.maxFileSize);
    const at = (n.mode & DMAPPEND) !== 0 ? BigInt(n.length) : offset;
    if (at + BigInt(data.length) > maxSize) {
      throw new NsError('NS_ERR_TOO_LARGE', `file size limit (${maxSize} bytes) exceeded`);
    }
    const start = Number(at);
    const end = start + data.length;
    if (end > n.length) this.#fs.resize(n, end);
    const BLOCK = this.#fs.options.blockSize;
    for (let at = start; at < end;) {
      const i = Math.floor(at / BLOCK);
      const from = at - i * BLOCK;
      const take = Math.min(BLOCK - from, end - at);
      let block = this.#fs.writableBlock(n, i);
      if (block === undefined) {
        block = new Uint8Array(BLOCK);
        n.blocks[i] = block;
      }
      block.set(data.subarray(at - start, at - start + take), from);
      at += take;
    }
    bump(n);
    n.mtime = now();
    return data.length;
  }

  async readDir(offset: number, count: number): Promise<Stat[]> {
    if (this.#clunked) throw clunked();
    const n = this.#node;
    if (!isDir(n))
      throw new NsError('NS_ERR_NOT_DIR', `${quote(n.name)} is not a directory`);
    if (this.#mode === null) throw new NsError('NS_ERR_NOT_OPEN', 'directory is not open');
    if (offset === 0 || this.#listing === null) {
      this.#listing = [...(n.children?.values() ?? [])].map((c) => this.#fs.statOf(c, this.#root));
    }
    return this.#listing.slice(offset, offset + count);
  }

  async stat(): Promise<Stat> {
    return this.#fs.statOf(this.#live(), this.#root);
  }

  async wstat(change: StatChange): Promise<void> {
    const n = this.#live();
    // Validate everything first: wstat(5) is all or nothing.
    const rename = changes(change.name) && change.name !== n.name ? change.name : undefined;
    if (rename !== undefined) {
      const bad = nameError(rename);
      if (bad !== undefined) throw bad;
      if (n === this.#root || n.parent === null)
        throw new NsError('NS_ERR_PERMISSION', 'cannot rename the root');
      if (!perm(n.parent, 2))
        throw new NsError(
          'NS_ERR_PERMISSION',
          `no write permission in ${quote(n.parent.name)}`,
        );
      if (n.parent.children?.has(rename) === true) {
        throw new NsError('NS_ERR_EXISTS', `${quote(rename)} already exists`);
      }
    }
    const length = changes(change.length) ? change.length : undefined;
    if (length !== undefined) {
      if (isDir(n)) {
        if (length !== 0n)
          throw new NsError('NS_ERR_IS_DIR', 'cannot set the length of a directory');
      } else {
        if (!perm(n, 2))
          throw new NsError('NS_ERR_PERMISSION', `permission denied on ${quote(n.name)}`);
        if (length > BigInt(this.#fs.options.maxFileSize)) {
          throw new NsError(
            'NS_ERR_TOO_LARGE',
            `file size limit (${this.#fs.options.maxFileSize} bytes) exceeded`,
          );
        }
      }
    }
    const mode = changes(change.mode) ? change.mode >>> 0 : undefined;
    if (mode !== undefined) {
      if ((mode & DMDIR) !== (n.mode & DMDIR))
        throw new NsError('NS_ERR_INVALID_ARGUMENT', 'cannot change DMDIR');
      if ((mode & ~ALLOWED_MODE) !== 0) {
        throw new NsError(
          'NS_ERR_INVALID_ARGUMENT',
          `unsupported mode bits 0x${mode.toString(16)}`,
        );
      }
    }
    const mtime = changes(change.mtime) ? change.mtime >>> 0 : undefined;
    const atime = changes(change.atime) ? change.atime >>> 0 : undefined;
    const gid = changes(change.gid) ? change.gid : undefined;

    // Apply. Only resize can fail (the server's byte limit), so it goes first.
    let changed = false;
    if (length !== undefined && !isDir(n) && length !== BigInt(n.length)) {
      this.#fs.resize(n, Number(length));
      n.mtime = now();
      changed = true;
    }
    if (rename !== undefined && n.parent !== null) {
      const siblings = n.parent.children;
      siblings?.delete(n.name);
      n.name = rename;
      siblings?.set(rename, n);
      bump(n.parent);
      changed = true;
    }
    if (mode !== undefined) {
      n.mode = mode;
      changed = true;
    }
    if (mtime !== undefined) {
      n.mtime = mtime;
      changed = true;
    }
    if (atime !== undefined) {
      n.atime = atime;
      changed = true;
    }
    if (gid !== undefined) {
      n.gid = gid;
      changed = true;
    }
    if (changed) bump(n);
  }

  async remove(): Promise<void> {
    if (this.#clunked) throw clunked();
    try {
      this.#removeNode(this.#live());
    } finally {
      this.#release(false);
    }
  }

  #removeNode(n: Node): void {
    if (n === this.#root || n.parent === null)
      throw new NsError('NS_ERR_PERMISSION', 'cannot remove the root');
    if (!perm(n.parent, 2))
      throw new NsError(
        'NS_ERR_PERMISSION',
        `no write permission in ${quote(n.parent.name)}`,
      );
    if ((n.children?.size ?? 0) > 0)
      throw new NsError('NS_ERR_NOT_EMPTY', `${quote(n.name)} is not empty`);
    this.#fs.unlink(n);
  }

  async clunk(): Promise<void> {
    this.#release(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#release(true);
  }

  #release(honourRemoveOnClose: boolean): void {
    if (this.#clunked) return;
    this.#clunked = true;
    this.#fs.track(-1);
    const n = this.#node;
    const mode = this.#mode;
    this.#mode = null;
    this.#listing = null;
    if (mode === null) return;
    if (this.#exclusive) n.exclusiveOpen = false;
    this.#exclusive = false;
    if (honourRemoveOnClose && mode.removeOnClose === true && !n.removed) {
      try {
        this.#removeNode(n);
      } catch {
        // clunk never fails (STYLE section 5); a non-empty directory simply stays.
      }
    }
  }
}

/** A new, empty MemFileServer (see MemFileServerOptions for limits). */
export function newMemFileServer(options: MemFileServerOptions = {}): MemFileServer {
  return new MemFileServer(options);
}
