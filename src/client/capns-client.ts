/**
 * The client library: `connect(address, { token })` dials a `capns serve` RPC listener,
 * presents the token to its Gate and returns a CapnsClient — your own namespace (a fork
 * of your profile's: binds made through it are seen by no other connection) with typed
 * resolution, file helpers and a JSON call by schema reflection.
 *
 * Errors: expected conditions (not found, permission, interface mismatch, a refusal by
 * policy: read-only, filtered, revoked) reject with NsError (src/errors.ts), translated
 * from the server's Failure by src/failure.ts;
 * transport problems (cannot connect, connection lost, an exception from the server)
 * reject with RpcError (type `disconnected` when the connection is gone or could not be
 * made).
 */
import type tls from 'node:tls';
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import { fromFailure, refusalFrom } from '../failure.js';
import { File as FileIface, type File$Client, FileServer as FileServerIface, type FileServer$Client } from '../gen/fileserver.js';
import { OpenMode_Access, Position as PositionEnum } from '../gen/common.js';
import { Gate, Namespace as NamespaceIface, Namespace_Entry_Kind, type Namespace$Client } from '../gen/namespace.js';
import { readQid, readStat, RemoteFileServer } from '../fileserver/file-server-rpc.js';
import { DMDIR, MAX_WALK_NAMES, type File, type Qid, type Stat } from '../fileserver/file-server.js';
import { Import } from '../gen/proxy.js';
import { parseAddress } from '../manifest/address.js';
import { whatAnswers } from './probe.js';
import { readImportStatus, type ImportStatus } from '../proxy/import-status.js';
import { connect as rpcConnect, disposable, MessagePool, release, RpcError, withResultsPool, withSignal, type RpcConnection, type RpcLimits } from '../rpc/index.js';
import { callPrepared, capabilityPaths, JsonCodec, learnSchema, prepareMethod, SchemaIndex, type JsonValue, type PreparedMethod } from '../reflect/index.js';

/** Options of `connect`. */
export interface ConnectOptions {
  /** A bearer token from the server's manifest. Default "": loopback peers of the default manifest need none. */
  readonly token?: string;
  /** Connect with TLS (node:tls options: ca, cert, key, servername, ...). */
  readonly tls?: tls.ConnectionOptions;
  /** RPC limits for this connection (docs/rpc.md). */
  readonly limits?: Partial<RpcLimits>;
  /** How long dialing and authenticating may take together (default 30000 ms). */
  readonly timeoutMs?: number;
}

/** The default of `ConnectOptions.timeoutMs`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** A generated interface class (`Clock`) or its client class (`Clock.Client`). */
export type InterfaceLike<C> = { readonly Client: ClientClass<C> } | ClientClass<C>;

/** A generated client class: constructible from a raw capability, with the interface id. */
export interface ClientClass<C> {
  readonly interfaceId: bigint;
  new (client: Client): C;
}

/** Where a union member goes (Plan 9 bind(2): MREPL, MBEFORE, MAFTER). */
export type Position = 'replace' | 'before' | 'after';

/** Options of bind and mount. */
export interface BindOptions {
  /** Default 'replace'. */
  readonly position?: Position;
  /** MCREATE: creates in the union go to this member. Default false. */
  readonly create?: boolean;
}

/** One entry of a union listing. */
export interface NamespaceEntry {
  readonly name: string;
  readonly kind: 'directory' | 'file' | 'capability';
  /** The interface bound there (0n for directories and files inside a file tree). */
  readonly interfaceId: bigint;
  readonly label: string;
  readonly qid: Qid;
}

/** What a path resolves to, without the capability. */
export interface Resolution {
  readonly interfaceId: bigint;
  /** The interface's name in schema/, or its id in hex. */
  readonly interfaceName: string;
  readonly label: string;
  /** The path left to walk inside the member ("" at the mount point). */
  readonly rest: string;
}

/** A member of a union stack. */
export interface UnionMember {
  readonly interfaceId: bigint;
  readonly label: string;
  readonly create: boolean;
}

const POSITION: Record<Position, number> = { replace: PositionEnum.REPLACE, before: PositionEnum.BEFORE, after: PositionEnum.AFTER };
const KIND: Record<number, NamespaceEntry['kind']> = {
  [Namespace_Entry_Kind.DIRECTORY]: 'directory',
  [Namespace_Entry_Kind.FILE]: 'file',
  [Namespace_Entry_Kind.CAPABILITY]: 'capability',
};
/** Namespaces mounted in namespaces that one resolve follows before giving up. */
const MAX_NAMESPACE_HOPS = 8;
const NAMESPACE_INTERFACE_ID = NamespaceIface.Client.interfaceId;
/** Reads and writes are split at this size (or the file's iounit, if smaller). */
const IO_CHUNK = 64 * 1024;

function clientClassOf<C>(Iface: InterfaceLike<C>): ClientClass<C> {
  return 'Client' in Iface ? Iface.Client : Iface;
}

/** Splits a path into its parent directory and last name ("/a/b" -> ["/a", "b"]). */
function splitPath(path: string): [string, string] {
  const p = path.replace(/\/+$/, '');
  const i = p.lastIndexOf('/');
  const name = p.slice(i + 1);
  if (name === '' || name === '.' || name === '..') throw new NsError('NS_ERR_INVALID_PATH', `${JSON.stringify(path)} does not name a file`);
  return [i <= 0 ? '/' : p.slice(0, i), name];
}

/** Releases a File capability after asking the server to clunk it. Never throws. */
async function clunk(f: File$Client): Promise<void> {
  try {
    await f.clunk().promise();
  } catch {
    // The peer may be gone; the File went with it.
  } finally {
    release(f);
  }
}

/**
 * The error of a file operation on `path`, naming the whole path as the caller gave it.
 * A file server below a mount point knows only names inside its tree (`'x' not found`);
 * messages quote whole paths of the caller's namespace one way: `'/tmp/x' does not
 * exist`, `'/tmp/d': 'd' is a directory`. Messages that already name a whole path
 * (the namespace's own) are kept.
 */
function onPath(path: string, e: unknown): unknown {
  if (!(e instanceof NsError) || e.message.startsWith("'/") || e.message.includes(`'${path}'`)) return e;
  // Only a file server's own "'x' not found" becomes "'PATH' does not exist": any other
  // not-found says what was missing (a label in ns text written to a file, a tree).
  if (e.code === 'NS_ERR_NOT_FOUND' && /^'(?:[^']|'')*' (?:not found|does not exist)$/.test(e.message))
    return new NsError(e.code, `'${path}' does not exist`, { cause: e });
  // "'z' is not empty" about /tmp/x/y/z: "'/tmp/x/y/z' is not empty".
  const last = `'${path.split('/').filter((n) => n !== '').at(-1)?.replaceAll("'", "''") ?? ''}' `;
  if (e.message.startsWith(last)) return new NsError(e.code, `'${path}' ${e.message.slice(last.length)}`, { cause: e });
  return new NsError(e.code, `'${path}': ${e.message}`, { cause: e });
}

/** Runs a file operation on `path`; its NsErrors name the whole path (onPath). */
async function naming<T>(path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw onPath(path, e);
  }
}

/** Walks to `name` in `dir` and opens it for writing, truncated; undefined if it does not exist. */
async function openForWrite(dir: File$Client, name: string): Promise<{ file: File$Client; iounit: number } | undefined> {
  const w = (
    await dir
      .walk((p) => {
        p._initNames(1).set(0, name);
      })
      .promise()
  ).result;
  if (w._isErr) {
    const err = fromFailure(w.err);
    if (err.code === 'NS_ERR_NOT_FOUND') return undefined;
    throw err;
  }
  const file = w.file;
  const o = (
    await file
      .open((p) => {
        const m = p._initMode();
        m.access = OpenMode_Access.WRITE;
        m.truncate = true;
      })
      .promise()
  ).result;
  if (o._isErr) {
    await clunk(file);
    throw fromFailure(o.err);
  }
  return { file, iounit: o.ok.iounit };
}

/** Creates `name` in `dir`, open for writing; undefined if the name exists by now. */
async function createForWrite(dir: File$Client, name: string, perm: number): Promise<{ file: File$Client; iounit: number } | undefined> {
  const c = (
    await dir
      .create((p) => {
        p.name = name;
        p.perm = perm;
        p._initMode().access = OpenMode_Access.WRITE;
      })
      .promise()
  ).result;
  if (c._isErr) {
    const err = fromFailure(c.err);
    if (err.code === 'NS_ERR_EXISTS') return undefined;
    throw err;
  }
  return { file: c.ok.file, iounit: c.ok.iounit };
}

/**
 * A FileServer seen from one of its directories: `attach` walks `rest` (at most
 * MAX_WALK_NAMES names per File.walk, as 9P's MAXWELEM says) and returns that directory
 * as the root. What `fileServer(path)` gives for a path inside a file tree.
 */
class SubtreeFileServer extends RemoteFileServer {
  readonly #names: string[];

  constructor(client: FileServer$Client, rest: string) {
    super(client);
    this.#names = rest.split('/').filter((n) => n !== '');
  }

  override async attach(aname: string): Promise<{ root: File; qid: Qid }> {
    const top = await super.attach(aname);
    let file = top.root;
    let qid = top.qid;
    try {
      for (let i = 0; i < this.#names.length; i += MAX_WALK_NAMES) {
        const w = await file.walk(this.#names.slice(i, i + MAX_WALK_NAMES));
        await file.clunk();
        if (w.file === undefined) throw w.error;
        file = w.file;
        qid = w.qids[w.qids.length - 1] ?? qid;
      }
    } catch (e) {
      await file.clunk();
      throw e;
    }
    return { root: file, qid };
  }
}

/** A capability resolved for calls by name (CapnsClient.callTarget). */
export interface CallTarget {
  readonly interfaceId: bigint;
  /** The interface's name in the schema (`Clock`, `File`, ...). */
  readonly interfaceName: string;
  /** Its methods' names, those of the interfaces it extends included. */
  readonly methods: readonly string[];
  /**
   * Calls `method` with JSON params; resolves with the JSON results (as CapnsClient.call).
   * `signal` cancels the call (the callee sees its call's signal abort: a read that waits,
   * as a hub's does, stops waiting); the call then rejects with an RpcError.
   */
  call(method: string, params: unknown, opts?: { signal?: AbortSignal }): Promise<JsonValue>;
  /** Releases the capability; later calls reject. Idempotent. */
  close(): void;
}

/** Options of `CapnsClient.local`. */
export interface LocalClientOptions {
  /**
   * The served namespace's change stamp: a value that stays the same (===) for as long as
   * nothing (a bind, an unmount, an apply, through any Namespace capability of it) changed
   * what its paths resolve to — `MountTable.snapshot()` of the table served. Given,
   * `callTarget` keeps the capabilities it resolved at mount points (at most
   * CALL_TARGET_CACHE paths) and reuses them while the stamp holds, instead of resolving
   * each time.
   */
  readonly version?: () => unknown;
}

/**
 * Paths whose call targets a local client keeps (LocalClientOptions.version): the oldest
 * is let go beyond this.
 */
export const CALL_TARGET_CACHE = 64;

/**
 * A capability `callTarget` resolved, kept for the next calls to its path: one
 * reference held by the cache while the entry is in it, and one per CallTarget handed
 * out; the capability is released when both are gone.
 */
interface KeptTarget {
  readonly client: Client;
  readonly interfaceId: bigint;
  readonly interfaceName: string;
  readonly methods: readonly string[];
  /** Methods called so far, prepared (their descriptors and struct classes). */
  readonly prepared: Map<string, PreparedMethod>;
  refs: number;
}

function unref(t: KeptTarget): void {
  if (--t.refs === 0) t.client.close();
}

/** A file open for reading (CapnsClient.openRead): its blocks, as they arrive. */
export interface FileReader extends AsyncIterable<Uint8Array>, AsyncDisposable {
  /** The file's iounit (0: none); reads ask for at most this, and at most 64 KiB. */
  readonly iounit: number;
  /** Cancels a read waiting on the server and clunks the file. Idempotent; never throws. */
  close(): Promise<void>;
}

class OpenFileReader implements FileReader {
  readonly #path: string;
  readonly #file: File$Client;
  /** Aborted by close(): cancels a waiting read. Null for a reader nothing can close mid-read (readFile's). */
  readonly #ac: AbortController | null;
  /** What cancels the reads: #ac's (which the caller's signal aborts too), or the caller's. */
  readonly #signal: AbortSignal | undefined;
  /** Stops forwarding the caller's signal to #ac. */
  #unlink: (() => void) | undefined;
  /** A read is waiting for its answer (close() then cancels it). */
  #reading = false;
  #iterated = false;
  #closed: Promise<void> | undefined;

  constructor(
    path: string,
    file: File$Client,
    readonly iounit: number,
    signal: AbortSignal | undefined,
    cancellable: boolean,
  ) {
    this.#path = path;
    this.#file = file;
    // A signal on every read costs (one listener per call): only when something can abort it.
    const ac = (this.#ac = cancellable ? new AbortController() : null);
    this.#signal = ac === null ? signal : ac.signal;
    if (ac !== null && signal !== undefined) {
      // Forwarded by hand: AbortSignal.any costs more than a whole small read.
      if (signal.aborted) ac.abort(signal.reason);
      else {
        const onAbort = (): void => ac.abort(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        this.#unlink = () => signal.removeEventListener('abort', onAbort);
      }
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.#iterated) throw new NsError('NS_ERR_INVALID_ARGUMENT', `the reader of ${this.#path} was iterated already`);
    this.#iterated = true;
    const chunk = this.iounit > 0 ? Math.min(this.iounit, IO_CHUNK) : IO_CHUNK;
    const signal = this.#signal;
    const f = signal === undefined ? this.#file : withSignal(this.#file, signal);
    let offset = 0n;
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (this.#closed !== undefined) return; // closed while the caller held a block
        this.#reading = true;
        let r;
        try {
          r = (
            await f
              .read((p) => {
                p.offset = offset;
                p.count = chunk;
              })
              .promise()
          ).result;
        } finally {
          this.#reading = false;
        }
        if (r._isErr) throw onPath(this.#path, fromFailure(r.err));
        const bytes = r.data.toUint8Array();
        if (bytes.length === 0) return;
        offset += BigInt(bytes.length);
        // A copy: the message the bytes are in goes back to its connection's pool.
        yield bytes.slice();
      }
    } finally {
      await this.close();
    }
  }

  close(): Promise<void> {
    if (this.#closed === undefined) {
      this.#unlink?.();
      if (this.#reading) this.#ac?.abort(new NsError('NS_ERR_IO', `the read of ${this.#path} was closed`));
      this.#closed = clunk(this.#file);
    }
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * A connection to `capns serve` and the namespace it handed out. Methods may be called
 * concurrently. Paths are absolute, in this connection's namespace.
 */
export class CapnsClient implements AsyncDisposable {
  /** The RPC connection (for its stats, or to wait for its end); null for a namespace in this process (`local`). */
  readonly connection: RpcConnection | null;
  /** The raw Namespace capability, for the schema's methods the helpers do not cover. Owned by this client. */
  readonly namespace: Namespace$Client;
  /** The profile the token selected. */
  readonly profile: string;
  readonly #codec: JsonCodec;
  #closed = false;
  /** LocalClientOptions.version; undefined: nothing is kept. */
  readonly #version: (() => unknown) | undefined;
  /** The stamp the kept targets were resolved under. */
  #stamp: unknown;
  /** Kept call targets by path, oldest first. */
  readonly #kept = new Map<string, KeptTarget>();
  /**
   * Where local callees build the results of `callTarget` calls (withResultsPool), taken
   * back once read: a message per call otherwise (an ArrayBuffer and its views).
   */
  readonly #resultsPool = new MessagePool();

  /** Use `connect()` (or `local()`). Takes ownership of `conn` and `ns`. */
  constructor(conn: RpcConnection | null, ns: Namespace$Client, profile: string, codec = new JsonCodec(new SchemaIndex()), version?: () => unknown) {
    this.connection = conn;
    this.namespace = ns;
    this.profile = profile;
    this.#codec = codec;
    this.#version = version;
    this.#stamp = version?.();
  }

  /**
   * A client over a Namespace capability served in this process (no connection): what
   * the HTTP app's sessions use. Takes ownership of `ns`; `close()` releases it.
   */
  static local(ns: Namespace$Client, profile: string, codec?: JsonCodec, opts: LocalClientOptions = {}): CapnsClient {
    return new CapnsClient(null, ns, profile, codec, opts.version);
  }

  /**
   * Lets go of the kept call targets if the namespace changed since they were resolved
   * (their capabilities go back at once: an unmounted grant leaves the table). Returns
   * the stamp now.
   */
  #freshStamp(): unknown {
    const v = this.#version?.();
    if (v !== this.#stamp) {
      this.#stamp = v;
      this.#forget();
    }
    return v;
  }

  #forget(): void {
    const all = [...this.#kept.values()];
    this.#kept.clear();
    for (const t of all) unref(t);
  }

  /** The schema reflection used by `call` (interface names, methods). */
  get schema(): SchemaIndex {
    return this.#codec.schema;
  }

  // ---- capabilities ------------------------------------------------------------------

  /**
   * The capability at `path` as a typed client of `Iface`, checked by the server
   * (`expectedInterface`): `await ns.resolve('/svc/clock', Clock)` -> Clock$Client. The
   * caller owns the result: `release()` it or `using` it.
   * @throws NsError NS_ERR_NOT_FOUND, NS_ERR_INTERFACE_MISMATCH, ...
   */
  async resolve<C>(path: string, Iface: InterfaceLike<C>): Promise<C & Disposable> {
    const Ctor = clientClassOf(Iface);
    const { client, rest } = await this.#resolve(path, Ctor.interfaceId);
    if (rest !== '') {
      // The capability is the FileServer the path lies in, not the directory it names.
      client.close();
      throw new NsError('NS_ERR_INVALID_ARGUMENT', `${path} is inside a file tree (${rest} below its mount point): use fileServer(path), or resolve the mount point`);
    }
    return disposable(new Ctor(client) as C & { client: Client });
  }

  /**
   * The capability at `path` whatever its interface, with what the namespace knows of
   * it. The caller owns `client` (release it with `release`).
   */
  async resolveAny(path: string): Promise<Resolution & { client: Client }> {
    const { hops: _hops, ...r } = await this.#resolve(path, 0n);
    return r;
  }

  /**
   * The status of the import (`capns import`, a manifest `type: import`) at `path`: up
   * or not, since when, the last error (schema/proxy.capnp `Import.status`, answered by
   * the importer itself, never forwarded). Undefined when what `path` names is not an
   * import (its capability answers `unimplemented`), or lies inside a file tree.
   * @throws NsError when `path` resolves to nothing; RpcError when the server fails.
   */
  async importStatus(path: string): Promise<ImportStatus | undefined> {
    const { client, rest } = await this.#resolve(path, 0n);
    try {
      if (rest !== '') return undefined;
      return readImportStatus((await new Import.Client(client).status().promise()).status);
    } catch (e) {
      if (e instanceof RpcError && e.type === 'unimplemented') return undefined;
      throw e;
    } finally {
      client.close();
    }
  }

  /** What `path` resolves to (interface, label, rest), holding nothing. */
  async lookup(path: string): Promise<Resolution> {
    const { client, hops: _hops, ...info } = await this.#resolve(path, 0n);
    client.close();
    return info;
  }

  /**
   * Resolves `path`; through a Namespace member (another namespace mounted in this one)
   * resolution continues there with the rest of the path, as Plan 9 walks on into a
   * mounted name space. The caller owns `client`.
   */
  async #resolve(path: string, expected: bigint): Promise<Resolution & { client: Client; hops: number }> {
    let ns: Namespace$Client = this.namespace;
    let owned = false;
    let p = path;
    try {
      for (let hop = 0; ; hop++) {
        const r = await ns
          .resolve((q) => {
            q.path = p;
            q.expectedInterface = expected;
          })
          .promise();
        const res = r.result;
        if (res._isErr) throw fromFailure(res.err);
        const client = $.utils.getInterfaceClientOrNull(res.ok.cap);
        if (client === null) throw new RpcError('failed', `resolve ${path}: the server returned no capability`);
        const { interfaceId, label, rest } = res.ok;
        if (interfaceId === NAMESPACE_INTERFACE_ID && rest !== '' && expected !== NAMESPACE_INTERFACE_ID) {
          if (hop >= MAX_NAMESPACE_HOPS) {
            client.close();
            throw new NsError('NS_ERR_TOO_LARGE', `resolve ${path}: more than ${MAX_NAMESPACE_HOPS} namespaces deep`);
          }
          if (owned) release(ns);
          ns = new NamespaceIface.Client(client);
          owned = true;
          p = `/${rest}`;
          continue;
        }
        return { client, interfaceId, interfaceName: this.schema.interfaceName(interfaceId), label, rest, hops: hop };
      }
    } finally {
      if (owned) release(ns);
    }
  }

  /**
   * The FileServer at `path` as a RemoteFileServer: the one mounted there, or for a
   * directory inside a file tree, that tree seen from the directory (its `attach` walks
   * there). The caller owns it: `close()` it.
   */
  async fileServer(path: string): Promise<RemoteFileServer> {
    const { client, rest } = await this.#resolve(path, FileServerIface.Client.interfaceId);
    const fs = new FileServerIface.Client(client);
    return rest === '' ? new RemoteFileServer(fs) : new SubtreeFileServer(fs, rest);
  }

  /**
   * Calls `method` of the capability at `path` with JSON params (schema reflection; see
   * docs/cli.md for the JSON form) and returns the JSON results. A path inside a file
   * tree names a File. `{"capability": "/path"}` in the params passes the capability at
   * that path of this namespace.
   * @throws NsError NS_ERR_INVALID_ARGUMENT for an unknown method (naming the ones that
   *   exist) or params that do not fit; NsError for failures of the resolve; RpcError
   *   when the call throws.
   */
  async call(path: string, method: string, params: unknown): Promise<JsonValue> {
    const t = await this.callTarget(path);
    try {
      return await t.call(method, params);
    } catch (e) {
      // A method without a result union can only be refused by an exception.
      throw refusalFrom(e);
    } finally {
      t.close();
    }
  }

  /**
   * The capability `call` would use at `path`, resolved once: its interface and method
   * names, and calls on it (as `call` makes them). For a caller that wants to know what
   * it calls before calling, without resolving the path twice. The caller owns it:
   * `close()` it.
   */
  async callTarget(path: string): Promise<CallTarget> {
    if (this.#version !== undefined) {
      const stamp = this.#freshStamp();
      const kept = this.#kept.get(path);
      if (kept !== undefined) {
        kept.refs++;
        return this.#callTargetOf(path, kept);
      }
      const t = await this.#newTarget(path);
      // Kept only if what it names cannot change without the stamp changing: a capability
      // at a mount point of this namespace, resolved while the namespace stayed as it was
      // (not a File inside a file tree, nor one found through another namespace, whose
      // changes this one does not see).
      if (t.keepable && !this.#closed && this.#freshStamp() === stamp && !this.#kept.has(path)) {
        if (this.#kept.size >= CALL_TARGET_CACHE) {
          const [oldest, o] = this.#kept.entries().next().value!;
          this.#kept.delete(oldest);
          unref(o);
        }
        t.target.refs++;
        this.#kept.set(path, t.target);
      }
      return this.#callTargetOf(path, t.target);
    }
    return this.#callTargetOf(path, (await this.#newTarget(path)).target);
  }

  /** Resolves a call target, its schema learnt; one reference (the caller's). */
  async #newTarget(path: string): Promise<{ target: KeptTarget; keepable: boolean }> {
    const target = await this.#target(path);
    try {
      // An interface capns was not built with: ask the capability for its schema
      // (Introspect; docs/services.md). NsError naming what is missing when none can be had.
      await learnSchema(target.client, target.interfaceId, this.schema, path);
    } catch (e) {
      target.client.close();
      throw e;
    }
    return {
      target: {
        client: target.client,
        interfaceId: target.interfaceId,
        interfaceName: this.schema.interfaceName(target.interfaceId),
        methods: this.schema.methods(target.interfaceId).map((m) => m.method.name),
        prepared: new Map(),
        refs: 1,
      },
      keepable: target.keepable,
    };
  }

  /** The caller's view of `t`, owning one of its references. */
  #callTargetOf(path: string, t: KeptTarget): CallTarget {
    let closed = false;
    return {
      interfaceId: t.interfaceId,
      interfaceName: t.interfaceName,
      methods: t.methods,
      // Not an async function: a call without capabilities in its params returns the
      // call's own promise (an async wrapper adds a promise and its reactions per call).
      call: (method, params, opts = {}) => {
        let client: Client;
        let prepared: PreparedMethod;
        let paths: Set<string>;
        try {
          if (closed) throw new NsError('NS_ERR_INVALID_ARGUMENT', `call target ${path} is closed`);
          opts.signal?.throwIfAborted();
          const kept = t.prepared.get(method);
          prepared = kept ?? prepareMethod(this.schema.method(t.interfaceId, method), this.#codec);
          if (kept === undefined) t.prepared.set(method, prepared);
          // A local callee builds the results in a message of this client's pool, which
          // callPrepared gives back once they are read into JSON.
          client = withResultsPool(t.client, this.#resultsPool, opts.signal);
          paths = capabilityPaths(params);
        } catch (e) {
          return Promise.reject(e instanceof Error ? e : new Error(String(e)));
        }
        if (paths.size === 0) return callPrepared(client, prepared, params, this.#codec, { resultsPool: this.#resultsPool });
        return this.#callWithCapabilities(client, prepared, params, paths);
      },
      close: () => {
        if (closed) return;
        closed = true;
        unref(t);
      },
    };
  }

  /** A call whose params name capabilities of this namespace (`{"capability": PATH}`): resolved for it, released after. */
  async #callWithCapabilities(client: Client, prepared: PreparedMethod, params: unknown, paths: ReadonlySet<string>): Promise<JsonValue> {
    const held: Client[] = [];
    try {
      const caps = new Map<string, Client>();
      for (const p of paths) {
        const c = await this.resolveAny(p);
        held.push(c.client);
        caps.set(p, c.client);
      }
      return await callPrepared(client, prepared, params, this.#codec, { capabilityFor: (p) => caps.get(p)!, resultsPool: this.#resultsPool });
    } finally {
      for (const c of held) c.close();
    }
  }

  /** The interface `call` would use at `path`, and its methods' names. */
  async methodsAt(path: string): Promise<{ interfaceId: bigint; interfaceName: string; methods: string[] }> {
    const t = await this.callTarget(path);
    t.close();
    return { interfaceId: t.interfaceId, interfaceName: t.interfaceName, methods: [...t.methods] };
  }

  /** What `call` calls: the capability at a mount point, or the File at a path inside a file tree. */
  async #target(path: string): Promise<{ client: Client; interfaceId: bigint; keepable: boolean }> {
    const r = await this.#resolve(path, 0n);
    if (r.rest === '') return { client: r.client, interfaceId: r.interfaceId, keepable: r.hops === 0 };
    r.client.close();
    const file = await this.#walk(path);
    return { client: file.client, interfaceId: FileIface.Client.interfaceId, keepable: false };
  }

  // ---- files ---------------------------------------------------------------------------

  /** A File for `path` (walked by the server through the union), owned by the caller. */
  async #walk(path: string): Promise<File$Client> {
    const r = await this.namespace
      .walk((p) => {
        p.path = path;
      })
      .promise();
    const res = r.result;
    if (res._isErr) throw fromFailure(res.err);
    return res.file;
  }

  /** The whole content of the file at `path`. @throws NsError (NS_ERR_NOT_FOUND, NS_ERR_IS_DIR, ...). */
  async readFile(path: string): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    // Not cancellable (nothing can close it mid-read): its calls carry no signal.
    for await (const block of await this.#openRead(path, undefined, false)) parts.push(block);
    const all = Buffer.concat(parts);
    return new Uint8Array(all.buffer, all.byteOffset, all.length);
  }

  /**
   * The file at `path` opened for reading, to be read block by block as the blocks
   * arrive: iterating yields each read's bytes (a copy, the caller's) and ends at the
   * first empty read (the end of an ordinary file; a hub channel's removal). A file
   * without an end (a hub channel) yields until it is closed or `signal` aborts: either
   * cancels the read waiting on the server (the callee's call signal fires), and the
   * iteration then rejects with an RpcError (or `signal.reason`). The iteration closes
   * the file when it ends, however it ends; `close()` does it before (idempotent,
   * never throws). One iteration per reader.
   * @throws NsError from the walk or the open (NS_ERR_NOT_FOUND, NS_ERR_PERMISSION, ...),
   *   naming `path`; the iteration's errors name it too.
   */
  async openRead(path: string, opts: { signal?: AbortSignal } = {}): Promise<FileReader> {
    return this.#openRead(path, opts.signal, true);
  }

  async #openRead(path: string, signal: AbortSignal | undefined, cancellable: boolean): Promise<FileReader> {
    signal?.throwIfAborted();
    const f = await naming(path, () => this.#walk(path));
    let iounit: number;
    try {
      const o = (await f.open((p) => (p._initMode().access = OpenMode_Access.READ)).promise()).result;
      if (o._isErr) throw onPath(path, fromFailure(o.err));
      iounit = o.ok.iounit;
    } catch (e) {
      await clunk(f);
      throw e;
    }
    return new OpenFileReader(path, f, iounit, signal, cancellable);
  }

  /**
   * Writes `data` as the whole content of the file at `path`, creating it (mode
   * `perm`, default 0o644) when it does not exist; an existing file is truncated. The
   * parent directory must exist.
   */
  async writeFile(path: string, data: Uint8Array, opts: { perm?: number } = {}): Promise<void> {
    return naming(path, () => this.#writeFile(path, data, opts));
  }

  async #writeFile(path: string, data: Uint8Array, opts: { perm?: number }): Promise<void> {
    const [dir, name] = splitPath(path);
    const parent = await this.#walk(dir);
    let opened: { file: File$Client; iounit: number } | undefined;
    try {
      // Open the file truncated, or create it; if another client creates it between our
      // walk and our create (`exists`), open the one it made.
      opened = (await openForWrite(parent, name)) ?? (await createForWrite(parent, name, opts.perm ?? 0o644)) ?? (await openForWrite(parent, name));
      if (opened === undefined) throw new NsError('NS_ERR_NOT_FOUND', `'${path}' was removed while it was being created`);
    } finally {
      await clunk(parent);
    }
    const { file, iounit } = opened;
    try {
      const chunk = iounit > 0 ? Math.min(iounit, IO_CHUNK) : IO_CHUNK;
      let offset = 0;
      while (offset < data.length) {
        const piece = data.subarray(offset, offset + chunk);
        const r = (
          await file
            .write((p) => {
              p.offset = BigInt(offset);
              p._initData(piece.length).copyBuffer(piece);
            })
            .promise()
        ).result;
        if (r._isErr) throw fromFailure(r.err);
        if (r.count === 0) throw new NsError('NS_ERR_IO', `write to '${path}' made no progress`);
        offset += r.count;
      }
    } finally {
      await clunk(file);
    }
  }

  /** Creates the directory `path` (mode `perm`, default 0o755). @throws NsError NS_ERR_EXISTS, ... */
  async mkdir(path: string, opts: { perm?: number } = {}): Promise<void> {
    return naming(path, () => this.#mkdir(path, opts));
  }

  async #mkdir(path: string, opts: { perm?: number }): Promise<void> {
    const [dir, name] = splitPath(path);
    const parent = await this.#walk(dir);
    try {
      const c = (
        await parent
          .create((p) => {
            p.name = name;
            p.perm = (DMDIR | (opts.perm ?? 0o755)) >>> 0;
            p._initMode().access = OpenMode_Access.READ;
          })
          .promise()
      ).result;
      if (c._isErr) throw fromFailure(c.err);
      await clunk(c.ok.file);
    } finally {
      await clunk(parent);
    }
  }

  /** Removes the file or empty directory at `path`. @throws NsError NS_ERR_NOT_EMPTY, ... */
  async remove(path: string): Promise<void> {
    return naming(path, () => this.#remove(path));
  }

  async #remove(path: string): Promise<void> {
    const f = await this.#walk(path);
    try {
      const r = (await f.remove().promise()).result;
      if (r._isErr) throw fromFailure(r.err);
    } finally {
      // remove clunks the File whatever the outcome (Tremove); only the reference is left.
      release(f);
    }
  }

  /** The stat of the file or directory at `path`. */
  async stat(path: string): Promise<Stat> {
    return naming(path, () => this.#stat(path));
  }

  async #stat(path: string): Promise<Stat> {
    const f = await this.#walk(path);
    try {
      const r = (await f.stat().promise()).result;
      if (r._isErr) throw fromFailure(r.err);
      return readStat(r.stat);
    } finally {
      await clunk(f);
    }
  }

  // ---- the namespace -------------------------------------------------------------------

  /** The union listing of the directory at `path`. */
  async list(path: string): Promise<NamespaceEntry[]> {
    const r = (
      await this.namespace
        .list((p) => {
          p.path = path;
        })
        .promise()
    ).result;
    if (r._isErr) throw onPath(path, fromFailure(r.err));
    return r.entries.map((e) => ({
      name: e.name,
      kind: KIND[e.kind] ?? 'file',
      interfaceId: e.interfaceId,
      label: e.label,
      qid: readQid(e.qid),
    }));
  }

  /** The union stack at `path`, in search order. */
  async members(path: string): Promise<UnionMember[]> {
    const r = (
      await this.namespace
        .members((p) => {
          p.path = path;
        })
        .promise()
    ).result;
    if (r._isErr) throw fromFailure(r.err);
    return r.members.map((m) => ({ interfaceId: m.interfaceId, label: m.label, create: m.create }));
  }

  /**
   * bind(2): make what `from` names visible at `to` as well (evaluated now). Changes
   * only this connection's namespace, as Plan 9's bind changes only the process
   * group's.
   */
  async bind(from: string, to: string, opts: BindOptions = {}): Promise<void> {
    const r = (
      await this.namespace
        .bindPath((p) => {
          p.from = from;
          p.to = to;
          p.position = POSITION[opts.position ?? 'replace'] as never;
          p.create = opts.create === true;
        })
        .promise()
    ).result;
    this.#freshStamp();
    if (r._isErr) throw fromFailure(r.err);
  }

  /**
   * mount(2): add `cap` (a typed client; the namespace keeps its own reference, `cap`
   * stays the caller's) to the union at `to`. `interfaceId` defaults to the client
   * class's; `label` names it in describe() (default: the server picks one).
   */
  async mount(to: string, cap: { client: Client }, opts: BindOptions & { interfaceId?: bigint; label?: string } = {}): Promise<void> {
    const interfaceId = opts.interfaceId ?? (cap.constructor as Partial<ClientClass<unknown>>).interfaceId;
    if (interfaceId === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'mount: give opts.interfaceId for a capability that is not a generated client');
    const r = (
      await this.namespace
        .bind((p) => {
          p.path = to;
          const capId = p.segment.message.addCap(cap.client);
          $.utils.setInterfacePointer(capId, p.cap);
          p.interfaceId = interfaceId;
          p.label = opts.label ?? '';
          p.position = POSITION[opts.position ?? 'replace'] as never;
          p.create = opts.create === true;
        })
        .promise()
    ).result;
    this.#freshStamp();
    if (r._isErr) throw fromFailure(r.err);
  }

  /**
   * Mounts, at `to`, a capability this namespace already holds, by its label (a
   * namespace(6) `mount label to` line run by apply).
   */
  async mountLabel(label: string, to: string, opts: BindOptions = {}): Promise<void> {
    const flags = `${opts.position === 'before' ? 'b' : opts.position === 'after' ? 'a' : ''}${opts.create === true ? 'c' : ''}`;
    await this.apply(`mount ${flags === '' ? '' : `-${flags} `}${quote(label)} ${quote(to)}\n`);
  }

  /** unmount(2): remove the member labelled `label` at `path`, or every member. */
  async unmount(path: string, label = ''): Promise<void> {
    const r = (
      await this.namespace
        .unmount((p) => {
          p.path = path;
          p.label = label;
        })
        .promise()
    ).result;
    this.#freshStamp();
    if (r._isErr) throw fromFailure(r.err);
  }

  /** The namespace as namespace(6) text, as /proc/N/ns prints it. */
  async describe(): Promise<string> {
    try {
      return (await this.namespace.describe().promise()).text;
    } catch (e) {
      throw refusalFrom(e);
    }
  }

  /** Runs namespace(6) lines (all or none). @throws NsError naming the line and column. */
  async apply(text: string): Promise<void> {
    const r = (
      await this.namespace
        .apply((p) => {
          p.text = text;
        })
        .promise()
    ).result;
    this.#freshStamp();
    if (r._isErr) throw fromFailure(r.err);
  }

  // ---- lifetime ------------------------------------------------------------------------

  /** Releases the namespace and closes the connection (drains calls in flight). Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#forget();
    release(this.namespace);
    await this.connection?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Quotes a word for namespace(6) text as rc does, when it needs quoting. */
function quote(w: string): string {
  return /^[^\s'#$]+$/.test(w) ? w : `'${w.replaceAll("'", "''")}'`;
}

/**
 * Connects to a `capns serve` RPC listener at `address` (`tcp!HOST!PORT`, `HOST:PORT`,
 * `unix!PATH`), authenticates with `opts.token` and returns the client, which owns the
 * connection (close it).
 * @throws NsError NS_ERR_INVALID_ARGUMENT for a malformed address; NsError
 *   NS_ERR_PERMISSION when the token is refused; RpcError `disconnected` when the server
 *   cannot be reached or drops the connection.
 */
export async function connect(address: string, opts: ConnectOptions = {}): Promise<CapnsClient> {
  parseAddress(address);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  // A peer that accepts but never answers (not a capns server, a hung one) must not hang
  // the caller: the dial and the Gate's answer together get `timeoutMs`.
  let expire: (err: RpcError) => void = () => {};
  const expired = new Promise<never>((_, reject) => (expire = reject));
  expired.catch(() => {});
  const timer = setTimeout(() => expire(new RpcError('disconnected', `no answer from ${address} within ${timeoutMs} ms`)), timeoutMs);
  try {
    const dial = rpcConnect(address, { ...(opts.tls !== undefined ? { tls: opts.tls } : {}), ...(opts.limits !== undefined ? { limits: opts.limits } : {}) });
    let conn: RpcConnection;
    try {
      conn = await Promise.race([dial, expired]);
    } catch (e) {
      // If the dial completes after all, nobody wants the connection.
      dial.then((c) => c.destroy(), () => {});
      if (e instanceof RpcError) throw e;
      throw new RpcError('disconnected', `cannot connect to ${address}: ${(e as Error).message}`, { cause: e });
    }
    const gate = conn.bootstrap(Gate);
    try {
      const r = (
        await Promise.race([
          gate
            .authenticate((p) => {
              p.token = opts.token ?? '';
            })
            .promise(),
          expired,
        ])
      ).result;
      if (r._isErr) throw fromFailure(r.err);
      return new CapnsClient(conn, r.ok.ns, r.ok.profile);
    } catch (e) {
      if (e instanceof RpcError && e.type === 'disconnected') conn.destroy(e);
      else await conn.close();
      // The peer closed the connection or sent what is not Cap'n Proto: say what it is
      // (an HTTP or 9P listener of capns serve, a TLS one) rather than how it failed.
      if (e instanceof RpcError && e.type === 'disconnected' && opts.tls === undefined && !e.message.startsWith('no answer from')) {
        const what = await whatAnswers(address);
        if (what !== undefined) throw new RpcError('disconnected', `${address} is ${what}, not a capns RPC listener`, { cause: e });
      }
      throw e;
    } finally {
      release(gate);
    }
  } finally {
    clearTimeout(timer);
  }
}
