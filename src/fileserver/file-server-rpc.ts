/**
 * The FileServer capability over Cap'n Proto RPC, both ways:
 *
 * - `serveFileServer(fs)` serves any TypeScript `FileServer` (ramfs, dirfs, a namespace
 *   seen as files) as the schema's `FileServer` capability. Every `File` it hands out is a
 *   capability of its own; releasing it (or `clunk`) clunks the File behind it.
 * - `RemoteFileServer` is the TypeScript `FileServer` view of a `FileServer` capability
 *   held over RPC, so the 9P bridge and the namespace file tree serve remote file
 *   servers exactly as local ones.
 *
 * Expected failures cross the wire as the result's `err` arm (src/failure.ts does the
 * translation); anything else a File throws becomes an RPC exception.
 */
import type * as $ from 'capnp-es';
import { NsError } from '../errors.js';
import { fromFailure, setFailure } from '../failure.js';
import { OpenMode_Access, type OpenMode as OpenModeStruct, type Qid as QidStruct, type Stat as StatStruct } from '../gen/common.js';
import {
  File as FileIface,
  FileServer as FileServerIface,
  type File$Client,
  type File$Server$Target,
  type File_Clunk$Params,
  type File_Clunk$Results,
  type File_Create$Params,
  type File_Create$Results,
  type File_Open$Params,
  type File_Open$Results,
  type File_Read$Params,
  type File_Read$Results,
  type File_ReadDir$Params,
  type File_ReadDir$Results,
  type File_Remove$Params,
  type File_Remove$Results,
  type File_Stat$Params,
  type File_Stat$Results,
  type File_Walk$Params,
  type File_Walk$Results,
  type File_Write$Params,
  type File_Write$Results,
  type File_Wstat$Params,
  type File_Wstat$Results,
  type FileServer$Client,
  type FileServer$Server$Target,
  type FileServer_Attach$Params,
  type FileServer_Attach$Results,
} from '../gen/fileserver.js';
import { MessagePool, release, releaseResults, serve, withResultsPool, withSignal, type CallContext } from '../rpc/index.js';
import {
  KEEP_U32,
  KEEP_U64,
  MAX_WALK_NAMES,
  nameError,
  type CreateResult,
  type File,
  type FileServer,
  type OpenAccess,
  type OpenMode,
  type OpenResult,
  type Qid,
  type Stat,
  type StatChange,
  type WalkResult,
} from './file-server.js';

// ---- struct conversions ----------------------------------------------------------------

const ACCESS_TO_WIRE: Record<OpenAccess, number> = {
  read: OpenMode_Access.READ,
  write: OpenMode_Access.WRITE,
  readWrite: OpenMode_Access.READ_WRITE,
  exec: OpenMode_Access.EXEC,
};
const ACCESS_FROM_WIRE: readonly OpenAccess[] = ['read', 'write', 'readWrite', 'exec'];

function writeQid(s: QidStruct, q: Qid): void {
  s.type = q.type;
  s.version = q.version;
  s.path = q.path;
}

/** A Qid struct read into a plain value. */
export function readQid(s: QidStruct): Qid {
  return { type: s.type, version: s.version, path: s.path };
}

function writeStat(s: StatStruct, st: Stat): void {
  writeQid(s._initQid(), st.qid);
  s.mode = st.mode;
  s.atime = st.atime;
  s.mtime = st.mtime;
  s.length = st.length;
  s.name = st.name;
  s.uid = st.uid;
  s.gid = st.gid;
  s.muid = st.muid;
}

/** A Stat struct read into a plain value (mode as an unsigned number). */
export function readStat(s: StatStruct): Stat {
  return {
    qid: readQid(s.qid),
    mode: s.mode >>> 0,
    atime: s.atime,
    mtime: s.mtime,
    length: s.length,
    name: s.name,
    uid: s.uid,
    gid: s.gid,
    muid: s.muid,
  };
}

function writeMode(s: OpenModeStruct, m: OpenMode): void {
  s.access = ACCESS_TO_WIRE[m.access] as never;
  s.truncate = m.truncate === true;
  s.removeOnClose = m.removeOnClose === true;
}

function readMode(s: OpenModeStruct): OpenMode {
  const access = ACCESS_FROM_WIRE[s.access];
  if (access === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `unknown open access ${s.access}`);
  return { access, truncate: s.truncate, removeOnClose: s.removeOnClose };
}

function bytesOf(d: $.Data): Uint8Array {
  // A view into the received message; copied by whoever keeps it (File.write does not).
  return d.toUint8Array();
}

// ---- serving a FileServer --------------------------------------------------------------

class FileTarget implements File$Server$Target {
  readonly #file: File;

  constructor(file: File) {
    this.#file = file;
  }

  async walk(params: File_Walk$Params, results: File_Walk$Results): Promise<void> {
    const res = results._initResult();
    const names = params.names;
    if (names.length > MAX_WALK_NAMES) {
      setFailure(res._initErr(), new NsError('NS_ERR_TOO_LARGE', `walk of ${names.length} names; at most ${MAX_WALK_NAMES}`));
      return;
    }
    let w: WalkResult;
    try {
      w = await this.#file.walk(names.toArray());
    } catch (e) {
      setFailure(res._initErr(), e);
      return;
    }
    const qids = res._initQids(w.qids.length);
    w.qids.forEach((q, i) => writeQid(qids.get(i), q));
    if (w.file !== undefined) {
      res.file = serveFile(w.file);
      if (w.path !== undefined) res.path = w.path;
    } else setFailure(res._initErr(), w.error);
  }

  async open(params: File_Open$Params, results: File_Open$Results): Promise<void> {
    const res = results._initResult();
    try {
      const r = await this.#file.open(readMode(params.mode));
      const ok = res._initOk();
      writeQid(ok._initQid(), r.qid);
      ok.iounit = r.iounit;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async create(params: File_Create$Params, results: File_Create$Results): Promise<void> {
    const res = results._initResult();
    let r: CreateResult;
    try {
      r = await this.#file.create(params.name, params.perm >>> 0, readMode(params.mode));
    } catch (e) {
      setFailure(res._initErr(), e);
      return;
    }
    const ok = res._initOk();
    ok.file = serveFile(r.file);
    writeQid(ok._initQid(), r.qid);
    ok.iounit = r.iounit;
  }

  async read(params: File_Read$Params, results: File_Read$Results, ctx?: CallContext): Promise<void> {
    const direct = ctx === undefined ? undefined : this.#file.bytesCapability?.(false);
    // The bytes go from the File that has them to the caller, with no copy of ours: the
    // same call, passed on.
    if (direct !== undefined && ctx !== undefined) return ctx.forward(direct);
    const res = results._initResult();
    try {
      const file = this.#file;
      // A file whose reads never wait has no use for the call's signal (File.waits).
      const bytes = await file.read(params.offset, params.count, file.waits === false ? undefined : ctx?.signal);
      res._initData(bytes.length).copyBuffer(bytes);
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async write(params: File_Write$Params, results: File_Write$Results, ctx?: CallContext): Promise<void> {
    const direct = ctx === undefined ? undefined : this.#file.bytesCapability?.(true);
    // The caller's bytes go on to the File that keeps them as they came (a tail call
    // with params of its own copied them, 64 KiB per write).
    if (direct !== undefined && ctx !== undefined) return ctx.forward(direct);
    const res = results._initResult();
    try {
      res.count = await this.#file.write(params.offset, bytesOf(params.data), ctx?.signal);
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async readDir(params: File_ReadDir$Params, results: File_ReadDir$Results): Promise<void> {
    const res = results._initResult();
    try {
      const entries = await this.#file.readDir(Number(params.offset), params.count);
      const list = res._initEntries(entries.length);
      entries.forEach((st, i) => writeStat(list.get(i), st));
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async stat(_params: File_Stat$Params, results: File_Stat$Results): Promise<void> {
    const res = results._initResult();
    const via = this.#file.statCapability?.();
    if (via !== undefined) return statVia(via, res);
    try {
      writeStat(res._initStat(), await this.#file.stat());
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async wstat(params: File_Wstat$Params, results: File_Wstat$Results): Promise<void> {
    const res = results._initResult();
    const c = params.change;
    try {
      await this.#file.wstat({ name: c.name, length: c.length, mode: c.mode, mtime: c.mtime, atime: c.atime, gid: c.gid });
      res.ok = true;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async remove(_params: File_Remove$Params, results: File_Remove$Results): Promise<void> {
    const res = results._initResult();
    try {
      await this.#file.remove();
      res.ok = true;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async clunk(_params: File_Clunk$Params, _results: File_Clunk$Results): Promise<void> {
    await this.#file.clunk();
  }

  /** The last reference was released (or the connection died): clunk. Never throws. */
  [Symbol.dispose](): void {
    this.#file.clunk().catch(() => {});
  }
}

/**
 * Serves one File as a File capability. Takes ownership of `file`: releasing the last
 * reference to the capability clunks it.
 */
export function serveFile(file: File): File$Client {
  return serve(FileIface, new FileTarget(file));
}

class FileServerTarget implements FileServer$Server$Target {
  readonly #fs: FileServer;

  constructor(fs: FileServer) {
    this.#fs = fs;
  }

  async attach(params: FileServer_Attach$Params, results: FileServer_Attach$Results): Promise<void> {
    const res = results._initResult();
    try {
      const { root, qid, path } = await this.#fs.attach(params.aname);
      const ok = res._initOk();
      ok.root = serveFile(root);
      writeQid(ok._initQid(), qid);
      ok.path = path ?? '';
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }
}

/**
 * Serves `fs` as a FileServer capability. The caller owns the returned client (release it
 * to stop serving; Files already handed out stay valid until released). Does not take
 * ownership of `fs`.
 */
export function serveFileServer(fs: FileServer): FileServer$Client & Disposable {
  return serve(FileServerIface, new FileServerTarget(fs));
}

// ---- confinement ----------------------------------------------------------------------

/**
 * The names of an attach name (a path below a tree's root, '' for the root), each checked
 * as a file name; '.' and empty components are dropped. @throws NsError
 * NS_ERR_INVALID_PATH for '..' (an attach name never climbs) or a bad name.
 */
export function attachNames(aname: string): string[] {
  const out: string[] = [];
  for (const n of aname.split('/')) {
    if (n === '' || n === '.') continue;
    if (n === '..') throw new NsError('NS_ERR_INVALID_PATH', 'an attach name may not contain ".."');
    const bad = nameError(n);
    if (bad !== undefined) throw bad;
    out.push(n);
  }
  return out;
}

/** A FileServer seen from a directory inside it: every attach is taken below `prefix`. */
class ConfinedFileServerTarget implements FileServer$Server$Target {
  readonly #inner: FileServer$Client;
  readonly #prefix: readonly string[];

  constructor(inner: FileServer$Client, prefix: readonly string[]) {
    this.#inner = inner;
    this.#prefix = prefix;
  }

  async attach(params: FileServer_Attach$Params, results: FileServer_Attach$Results, ctx?: CallContext): Promise<void> {
    let aname: string;
    try {
      aname = [...this.#prefix, ...attachNames(params.aname)].join('/');
    } catch (e) {
      setFailure(results._initResult()._initErr(), e);
      return;
    }
    // Cancelled with this call (a tail call would have been).
    const inner = ctx?.signal !== undefined ? withSignal(this.#inner, ctx.signal) : this.#inner;
    const r = (
      await inner
        .attach((p) => {
          p.aname = aname;
        })
        .promise()
    ).result;
    const res = results._initResult();
    if (r._isErr) {
      setFailure(res._initErr(), fromFailure(r.err));
      return;
    }
    // The inner server's root File is handed on as it is (no layer of ours: `..` stops at
    // that root because the server itself attached there). Where the attach ended is
    // said from this view's root: the inner server's path less the prefix.
    const ok = res._initOk();
    ok.root = r.ok.root;
    writeQid(ok._initQid(), readQid(r.ok.qid));
    ok.path = underPrefix(r.ok.path, this.#prefix);
  }

  [Symbol.dispose](): void {
    release(this.#inner);
  }
}

/**
 * `path` (from a server's root, as AttachResult.path says it) from the directory `prefix`
 * of that server: "" when the server did not say, or when the path lies outside `prefix`
 * (a server that let an attach leave the tree it names: nothing is claimed for it).
 */
function underPrefix(path: string, prefix: readonly string[]): string {
  if (path === '') return '';
  const names = path.split('/').filter((n) => n !== '');
  if (names.length < prefix.length || prefix.some((n, i) => names[i] !== n)) return '';
  return `/${names.slice(prefix.length).join('/')}`;
}

/**
 * `fs` confined to the directory `prefix` (a cleaned relative path, '' for none): a
 * FileServer whose trees all lie below it (Fuchsia's `subdir`, mount's aname). Relies on
 * the server confining an attach to the tree it names, as every FileServer of capns does
 * (mem, dir, the namespace's own: '..' at an attach root stays there, symbolic links may
 * not leave it). Takes ownership of `fs`; the caller owns the result. With prefix '' it
 * returns `fs` itself.
 */
export function confineFileServer(fs: FileServer$Client, prefix: string): FileServer$Client {
  const names = attachNames(prefix);
  if (names.length === 0) return fs;
  return serve(FileServerIface, new ConfinedFileServerTarget(fs, names));
}

// ---- using a remote FileServer ---------------------------------------------------------

/** Where local Files build the Stats that statOf asks for (read, then given back). */
const STAT_RESULTS = new MessagePool();

/**
 * `file`'s stat, given to `use`: built by a File served in this process in a message of
 * STAT_RESULTS, given back once `use` returns (a stat through a namespace's File made a
 * message per call). `use` keeps nothing of it.
 */
async function statOf<T>(file: File$Client, use: (r: File_Stat$Results['result']) => T): Promise<T> {
  const r = await new FileIface.Client(withResultsPool(file.client, STAT_RESULTS)).stat().promise();
  try {
    return use(r.result);
  } finally {
    releaseResults(r, STAT_RESULTS);
  }
}

/**
 * Answers a stat with `via.file`'s Stat, copied as it comes (its texts as bytes), its qid
 * mapped by `via.qid` (File.statCapability).
 */
async function statVia(via: { file: File$Client; qid: (q: Qid) => Qid }, res: File_Stat$Results['result']): Promise<void> {
  try {
    await statOf(via.file, (got) => {
      if (got._isErr) throw fromFailure(got.err);
      res.stat = got.stat;
      const qid = res.stat.qid;
      writeQid(qid, via.qid(readQid(qid)));
    });
  } catch (e) {
    setFailure(res._initErr(), e);
  }
}

/** A File capability held over RPC. Capabilities in results belong to the caller, so each RemoteFile owns the reference it was made from. */
export class RemoteFile implements File {
  #client: File$Client | null;

  /** Takes ownership of `client`. */
  constructor(client: File$Client) {
    this.#client = client;
  }

  #live(): File$Client {
    if (this.#client === null) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'file already clunked');
    return this.#client;
  }

  /** This File's capability: its bytes are served there as they are. */
  bytesCapability(): File$Client | undefined {
    return this.#client ?? undefined;
  }

  async walk(names: readonly string[]): Promise<WalkResult> {
    const c = this.#live();
    if (names.length > MAX_WALK_NAMES) {
      throw new NsError('NS_ERR_TOO_LARGE', `walk of ${names.length} names; at most ${MAX_WALK_NAMES}`);
    }
    const r = await c
      .walk((p) => {
        const l = p._initNames(names.length);
        names.forEach((n, i) => l.set(i, n));
      })
      .promise();
    const res = r.result;
    const qids = res.qids.map(readQid);
    if (res._isFile) {
      const path = res.path;
      return { qids, file: new RemoteFile(res.file), path: path === '' ? undefined : path };
    }
    return { qids, error: fromFailure(res.err) };
  }

  async open(mode: OpenMode): Promise<OpenResult> {
    const r = await this.#live()
      .open((p) => writeMode(p._initMode(), mode))
      .promise();
    const res = r.result;
    if (res._isErr) throw fromFailure(res.err);
    return { qid: readQid(res.ok.qid), iounit: res.ok.iounit };
  }

  async create(name: string, perm: number, mode: OpenMode): Promise<CreateResult> {
    const r = await this.#live()
      .create((p) => {
        p.name = name;
        p.perm = perm;
        writeMode(p._initMode(), mode);
      })
      .promise();
    const res = r.result;
    if (res._isErr) throw fromFailure(res.err);
    return { file: new RemoteFile(res.ok.file), qid: readQid(res.ok.qid), iounit: res.ok.iounit };
  }

  async read(offset: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    // With a signal, aborting it cancels the call (a read that waits, as a hub's does).
    const c = this.#live();
    const r = await (signal === undefined ? c : withSignal(c, signal))
      .read((p) => {
        p.offset = offset;
        p.count = count;
      })
      .promise();
    const res = r.result;
    if (res._isErr) throw fromFailure(res.err);
    return res.data.toUint8Array().slice();
  }

  async write(offset: bigint, data: Uint8Array, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const r = await this.#live()
      .write((p) => {
        p.offset = offset;
        p._initData(data.length).copyBuffer(data);
      })
      .promise();
    const res = r.result;
    if (res._isErr) throw fromFailure(res.err);
    return res.count;
  }

  async readDir(offset: number, count: number): Promise<Stat[]> {
    const r = await this.#live()
      .readDir((p) => {
        p.offset = BigInt(offset);
        p.count = count;
      })
      .promise();
    const res = r.result;
    if (res._isErr) throw fromFailure(res.err);
    return res.entries.map(readStat);
  }

  async stat(): Promise<Stat> {
    return statOf(this.#live(), (res) => {
      if (res._isErr) throw fromFailure(res.err);
      return readStat(res.stat);
    });
  }

  async wstat(change: StatChange): Promise<void> {
    const r = await this.#live()
      .wstat((p) => {
        const c = p._initChange();
        c.name = change.name ?? '';
        c.length = change.length ?? KEEP_U64;
        c.mode = change.mode ?? KEEP_U32;
        c.mtime = change.mtime ?? KEEP_U32;
        c.atime = change.atime ?? KEEP_U32;
        c.gid = change.gid ?? '';
      })
      .promise();
    if (r.result._isErr) throw fromFailure(r.result.err);
  }

  async remove(): Promise<void> {
    const c = this.#live();
    this.#client = null;
    try {
      const r = await c.remove().promise();
      if (r.result._isErr) throw fromFailure(r.result.err);
    } finally {
      release(c);
    }
  }

  async clunk(): Promise<void> {
    const c = this.#client;
    if (c === null) return;
    this.#client = null;
    try {
      await c.clunk().promise();
    } catch {
      // clunk never fails: the peer may be gone, and then the File is gone with it.
    } finally {
      release(c);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.clunk();
  }
}

/**
 * The TypeScript FileServer view of a FileServer capability. Takes ownership of
 * `client`; `close()` releases it (Files already attached stay valid until clunked).
 * Infrastructure failures (a dead peer) reject with the RPC layer's RpcError.
 */
export class RemoteFileServer implements FileServer {
  #client: FileServer$Client | null;

  constructor(client: FileServer$Client) {
    this.#client = client;
  }

  async attach(aname: string): Promise<{ root: File; qid: Qid }> {
    const c = this.#client;
    if (c === null) throw new NsError('NS_ERR_IO', 'remote file server closed');
    const r = await c
      .attach((p) => {
        p.aname = aname;
      })
      .promise();
    const res = r.result;
    if (res._isErr) throw fromFailure(res.err);
    const path = res.ok.path;
    return { root: new RemoteFile(res.ok.root), qid: readQid(res.ok.qid), ...(path !== '' && { path }) };
  }

  /** Releases the capability. Idempotent. */
  close(): void {
    release(this.#client);
    this.#client = null;
  }
}
