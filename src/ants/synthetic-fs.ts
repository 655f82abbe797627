/**
 * Synthetic file trees: a FileServer (src/fileserver/file-server.ts) whose directories
 * and files are computed when asked, as Plan 9's /proc and hubfs are. The sessions tree
 * and the hub's file face are built on it.
 *
 * A directory lists its children when walked or read (`children()`); a file is opened
 * into a handle that serves reads and writes. `textFile` covers the common case: a read
 * returns a snapshot of the text taken at open, and each write is one command handed to
 * `write` (ANTS's writable /proc/N/ns: "writing the same text string ... performs the
 * namespace modification"); a write that fails changes nothing and rejects with the
 * command's error.
 *
 * Nothing can be created, removed or renamed: those are NS_ERR_PERMISSION. Qid paths are
 * the nodes' own (stable for the life of the node); versions stay 0; lengths are 0, as
 * for /proc: a reader reads until a read returns nothing.
 */
import { NsError } from '../errors.js';
import {
  DMAPPEND,
  DMDIR,
  MAX_WALK_NAMES,
  QTAPPEND,
  QTDIR,
  QTFILE,
  changes,
  nameError,
  type CreateResult,
  type File,
  type FileServer,
  type OpenMode,
  type OpenResult,
  type Qid,
  type Stat,
  type StatChange,
  type WalkResult,
  type Attached,
  attachedAt,
} from '../fileserver/file-server.js';

/** An open synthetic file. */
export interface SynthHandle {
  /** Bytes at `offset` (reads of a stream may ignore the offset and wait for data). */
  read(offset: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** One write; resolves to the bytes taken. */
  write(offset: bigint, data: Uint8Array, signal?: AbortSignal): Promise<number>;
  /** The File was clunked. Never throws. */
  close(): void;
}

/** A node of a synthetic tree. */
export type SynthNode = SynthDir | SynthFile;

export interface SynthDir {
  readonly kind: 'dir';
  readonly name: string;
  readonly qpath: bigint;
  /** Permission bits (default 0o555). */
  readonly perm?: number;
  /** The children now, in listing order. May reject (NsError). */
  children(): readonly SynthNode[] | Promise<readonly SynthNode[]>;
  /** Makes a child (create(5)); absent: creating here is NS_ERR_PERMISSION. */
  create?(name: string, perm: number): Promise<SynthFile>;
}

export interface SynthFile {
  readonly kind: 'file';
  readonly name: string;
  readonly qpath: bigint;
  /** Permission bits (default 0o444, or 0o644 when `writable`). */
  readonly perm?: number;
  readonly writable: boolean;
  readonly readable: boolean;
  /** An append-only stream (DMAPPEND, QTAPPEND): a hub channel. */
  readonly append?: boolean;
  /** Opens it: `mode` is already checked against `readable`/`writable`. */
  open(mode: OpenMode): Promise<SynthHandle>;
  /** Removes it (remove(5)); absent: removing it is NS_ERR_PERMISSION. */
  remove?(): Promise<void>;
}

const IOUNIT = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A text file: reads give `read()`'s text as it was at open; each write, when `write` is
 * given, is decoded as UTF-8 and handed to it whole (it throws to refuse: nothing is
 * taken then).
 */
export function textFile(
  name: string,
  qpath: bigint,
  read: () => string | Promise<string>,
  write?: (text: string) => void | Promise<void>,
): SynthFile {
  return {
    kind: 'file',
    name,
    qpath,
    readable: true,
    writable: write !== undefined,
    async open(mode) {
      const wantsRead = mode.access === 'read' || mode.access === 'readWrite' || mode.access === 'exec';
      const bytes = wantsRead ? encoder.encode(await read()) : new Uint8Array(0);
      return {
        async read(offset, count) {
          const at = Number(offset < BigInt(bytes.length) ? offset : BigInt(bytes.length));
          return bytes.subarray(at, Math.min(bytes.length, at + count));
        },
        async write(_offset, data) {
          if (write === undefined) throw new NsError('NS_ERR_PERMISSION', `'${name}' is read-only`);
          let text: string;
          try {
            text = decoder.decode(data);
          } catch {
            throw new NsError('NS_ERR_INVALID_ARGUMENT', `what was written to '${name}' is not UTF-8 text`);
          }
          await write(text);
          return data.length;
        },
        close() {},
      };
    },
  };
}

/** A directory of a fixed or computed list of children. */
export function dir(name: string, qpath: bigint, children: SynthDir['children'], perm?: number): SynthDir {
  return { kind: 'dir', name, qpath, children, ...(perm !== undefined && { perm }) };
}

function qidOf(n: SynthNode): Qid {
  if (n.kind === 'dir') return { type: QTDIR, version: 0, path: n.qpath };
  return { type: n.append === true ? QTAPPEND : QTFILE, version: 0, path: n.qpath };
}

function statOf(n: SynthNode, uid: string, now: number): Stat {
  const perm = n.kind === 'dir' ? (n.perm ?? 0o555) : (n.perm ?? ((n.readable ? 0o444 : 0) | (n.writable ? 0o200 : 0)));
  const mode = (n.kind === 'dir' ? DMDIR : n.append === true ? DMAPPEND : 0) | perm;
  return { qid: qidOf(n), mode: mode >>> 0, atime: now, mtime: now, length: 0n, name: n.name, uid, gid: uid, muid: uid };
}

function permission(what: string): NsError {
  return new NsError('NS_ERR_PERMISSION', what);
}

/** A walk position: the nodes from the root down (the root first). */
type Trail = readonly SynthNode[];

class SynthFileImpl implements File {
  #trail: Trail | null;
  #handle: SynthHandle | null = null;
  #dirSnapshot: Stat[] | null = null;

  constructor(
    trail: Trail,
    readonly fs: SyntheticFileServer,
  ) {
    this.#trail = trail;
  }

  #live(): Trail {
    if (this.#trail === null) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'file already clunked');
    return this.#trail;
  }

  get #node(): SynthNode {
    const t = this.#live();
    return t[t.length - 1] as SynthNode;
  }

  async walk(names: readonly string[]): Promise<WalkResult> {
    const start = this.#live();
    if (names.length > MAX_WALK_NAMES) throw new NsError('NS_ERR_TOO_LARGE', `walk of ${names.length} names; at most ${MAX_WALK_NAMES}`);
    let trail = start;
    const qids: Qid[] = [];
    for (const name of names) {
      const here = trail[trail.length - 1] as SynthNode;
      if (name === '..') {
        if (trail.length > 1) trail = trail.slice(0, -1);
        qids.push(qidOf(trail[trail.length - 1] as SynthNode));
        continue;
      }
      if (here.kind !== 'dir') return { qids, error: new NsError('NS_ERR_NOT_DIR', `'${here.name}' is not a directory`) };
      let next: SynthNode | undefined;
      try {
        next = (await here.children()).find((c) => c.name === name);
      } catch (e) {
        return { qids, error: e instanceof NsError ? e : new NsError('NS_ERR_IO', String(e)) };
      }
      if (next === undefined) return { qids, error: new NsError('NS_ERR_NOT_FOUND', `'${name}' not found`) };
      trail = [...trail, next];
      qids.push(qidOf(next));
    }
    const path = '/' + trail.slice(1).map((n) => n.name).join('/');
    return { qids, file: new SynthFileImpl(trail, this.fs), path };
  }

  async open(mode: OpenMode): Promise<OpenResult> {
    const n = this.#node;
    if (this.#handle !== null || this.#dirSnapshot !== null) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'file already open');
    const reads = mode.access === 'read' || mode.access === 'readWrite' || mode.access === 'exec';
    const writes = mode.access === 'write' || mode.access === 'readWrite';
    if (mode.removeOnClose === true) throw permission(`'${n.name}' cannot be removed`);
    if (n.kind === 'dir') {
      if (writes || mode.truncate === true) throw new NsError('NS_ERR_IS_DIR', `'${n.name}' is a directory`);
      this.#dirSnapshot = [];
      return { qid: qidOf(n), iounit: IOUNIT };
    }
    if (reads && !n.readable) throw permission(`'${n.name}' cannot be read`);
    if ((writes || mode.truncate === true) && !n.writable) throw permission(`'${n.name}' is read-only`);
    // OTRUNC on a command file or a stream means nothing (`echo ... > ns` opens with it).
    this.#handle = await n.open(mode);
    return { qid: qidOf(n), iounit: IOUNIT };
  }

  async create(name: string, perm: number, mode: OpenMode): Promise<CreateResult> {
    const trail = this.#live();
    const n = this.#node;
    if (n.kind !== 'dir') throw new NsError('NS_ERR_NOT_DIR', `'${n.name}' is not a directory`);
    if (n.create === undefined) throw permission(`cannot create '${name}' here: the tree is synthetic`);
    if ((perm & DMDIR) !== 0) throw permission(`cannot make a directory '${name}' here`);
    const bad = nameError(name);
    if (bad !== undefined) throw bad;
    const node = await n.create(name, perm);
    const file = new SynthFileImpl([...trail, node], this.fs);
    try {
      const r = await file.open(mode);
      return { file, qid: r.qid, iounit: r.iounit };
    } catch (e) {
      await file.clunk();
      throw e;
    }
  }

  async read(offset: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    const n = this.#node;
    if (n.kind === 'dir') throw new NsError('NS_ERR_IS_DIR', `'${n.name}' is a directory`);
    if (this.#handle === null) throw new NsError('NS_ERR_NOT_OPEN', `'${n.name}' is not open`);
    return this.#handle.read(offset, Math.min(count, IOUNIT), signal);
  }

  async write(offset: bigint, data: Uint8Array, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const n = this.#node;
    if (this.#handle === null || n.kind === 'dir') throw new NsError('NS_ERR_NOT_OPEN', `'${n.name}' is not open for writing`);
    if (!n.writable) throw permission(`'${n.name}' is read-only`);
    if (data.length > IOUNIT) throw new NsError('NS_ERR_TOO_LARGE', `a write of ${data.length} bytes; at most ${IOUNIT}`);
    return this.#handle.write(offset, data, signal);
  }

  async readDir(offset: number, count: number): Promise<Stat[]> {
    const n = this.#node;
    if (n.kind !== 'dir') throw new NsError('NS_ERR_NOT_DIR', `'${n.name}' is not a directory`);
    if (this.#dirSnapshot === null) throw new NsError('NS_ERR_NOT_OPEN', `'${n.name}' is not open`);
    if (offset === 0) {
      const now = Math.floor(Date.now() / 1000);
      this.#dirSnapshot = (await n.children()).map((c) => statOf(c, this.fs.uid, now));
    }
    return this.#dirSnapshot.slice(offset, offset + count);
  }

  async stat(): Promise<Stat> {
    const trail = this.#live();
    const n = trail[trail.length - 1] as SynthNode;
    const st = statOf(n, this.fs.uid, Math.floor(Date.now() / 1000));
    if (trail.length === 1) st.name = '/';
    return st;
  }

  async wstat(change: StatChange): Promise<void> {
    const n = this.#node;
    // Truncating a writable file to 0 is what `>` does on some clients: nothing to change.
    const only0 = changes(change.length) && change.length === 0n && !changes(change.name) && !changes(change.mode) && !changes(change.gid);
    if (n.kind === 'file' && n.writable && only0) return;
    if (!changes(change.name) && !changes(change.length) && !changes(change.mode) && !changes(change.gid)) return;
    throw permission(`'${n.name}' cannot be changed: the tree is synthetic`);
  }

  async remove(): Promise<void> {
    const n = this.#node;
    await this.clunk();
    if (n.kind === 'dir' || n.remove === undefined) throw permission(`'${n.name}' cannot be removed`);
    await n.remove();
  }

  async clunk(): Promise<void> {
    if (this.#trail === null) return;
    this.#trail = null;
    const h = this.#handle;
    this.#handle = null;
    this.#dirSnapshot = null;
    try {
      h?.close();
    } catch {
      // A disposer never throws out of clunk.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.clunk();
  }
}

/** A FileServer over a synthetic root. Attach names walk below the root (confinement). */
export class SyntheticFileServer implements FileServer {
  constructor(
    readonly root: SynthDir,
    readonly uid = 'capns',
  ) {}

  async attach(aname: string): Promise<Attached> {
    const names = aname.split('/').filter((n) => n !== '' && n !== '.');
    if (names.includes('..')) throw new NsError('NS_ERR_INVALID_PATH', 'an attach name may not contain ".."');
    const trail = await this.#trail(names);
    const last = trail[trail.length - 1] as SynthNode;
    if (last.kind !== 'dir') throw new NsError('NS_ERR_NOT_DIR', `'${aname}' is not a directory`);
    // Attached below the tree's root, that directory is the File's root: '..' stays there.
    return { root: new SynthFileImpl([last], this), qid: qidOf(last), path: attachedAt(names) };
  }

  async #trail(names: readonly string[]): Promise<SynthNode[]> {
    const out: SynthNode[] = [this.root];
    for (const name of names) {
      const here = out[out.length - 1] as SynthNode;
      if (here.kind !== 'dir') throw new NsError('NS_ERR_NOT_DIR', `'${here.name}' is not a directory`);
      const next = (await here.children()).find((c) => c.name === name);
      if (next === undefined) throw new NsError('NS_ERR_NOT_FOUND', `'${name}' not found`);
      out.push(next);
    }
    return out;
  }
}
