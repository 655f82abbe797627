/* eslint-disable @typescript-eslint/no-unsafe-enum-comparison -- wire values are plain numbers read from the peer; comparing them with the const enums that name them is the point. */
/**
 * One Cap'n Proto RPC connection (rpc.capnp, Level 1): the four tables and the message
 * handlers, over any Duplex byte stream (transports live in transport.ts).
 *
 * Tables (rpc.capnp "Terminology"):
 * - questions: our calls (and Bootstraps) awaiting the peer's Return, by question id.
 * - answers:   the peer's calls we are serving, by the peer's question id, until Finish.
 * - exports:   our capabilities the peer holds, with the peer's reference count.
 * - imports:   the peer's capabilities we hold, with how many times we received each
 *              (sent back in Release when our last local reference goes).
 * plus embargoes: loopback calls held until the peer echoes our Disembargo.
 *
 * Invariants worth knowing when reading this file:
 * - Nothing the peer sends throws out of `#onData`: protocol errors abort the connection
 *   (Abort, then close), anything else becomes an exception Return for that call.
 * - Every write goes through `#sendEnv`/`#sendRaw`, which batch all messages queued before
 *   the current microtask checkpoint ends into one socket write (a promise reaction), in
 *   order.
 * - A question id is reused only after its Return arrived and our Finish went out.
 * - We always send releaseParamCaps = false and releaseResultCaps = false, and account
 *   for every imported reference with Release, like the C++ implementation.
 */
import type { Duplex } from 'node:stream';
import * as $ from 'capnp-es';
import type { Call, Client, Struct } from 'capnp-es';
import { Message as RpcMessage } from 'capnp-es/capnp/rpc';
import {
  type Answer,
  type PipelineOp,
  AnyStruct,
  BrokenAnswer,
  BrokenHook,
  CapHandle,
  type CapHook,
  DeferredAnswer,
  PipelineHook,
  RefHook,
  ResultAnswer,
  capAt,
  callOptions,
  closeCapTable,
  kCallOptions,
  MessagePool,
  newMessage,
  type CallOptions,
} from './cap.js';
import { headerAhead, newWriterId } from '../early-header.js';
import { ProtocolError, RpcError, reasonForWire, toRpcError, typeFromWire, typeToWire } from './failure.js';
import { type Frame, FrameReader, recycleSegments, sharedScratch } from './frame.js';
import { type RpcLimits, resolveLimits } from './limits.js';
import { asStruct, fitsAsIs } from './read-struct.js';
import { type Tracer, describeDecoded, makeTracer } from './trace.js';
import {
  type CapDesc,
  CapTag,
  type Decoded,
  EmbargoTag,
  Envelope,
  RetTag,
  Tag,
  type Target,
  type WireException,
  WireReader,
  decode,
} from './wire.js';

/** Counts of the four tables (and embargoes), for leak checks. */
export interface RpcStats {
  questions: number;
  answers: number;
  imports: number;
  exports: number;
  embargoes: number;
}

/** Options of one connection. */
export interface ConnectionOptions {
  limits?: Partial<RpcLimits> | undefined;
  /**
   * The capability the peer gets from Bootstrap, made once per connection (we own the
   * returned reference; it is released when the connection ends). Given `peer`.
   */
  bootstrap?: ((peer: ConnectionPeer | undefined) => { client: Client } | Client) | undefined;
  /** Who is at the other end, as the listener knows it (transport.ts). */
  peer?: ConnectionPeer | undefined;
  /**
   * What the connections of one listener share instead of each having its own (an idle
   * connection kept both: about 2 KB). Default: the connection's own.
   */
  shared?: SharedBuffers | undefined;
  /** Per-message trace sink; default: stderr when NS_TRACE contains `rpc`. */
  trace?: Tracer | null | undefined;
  /** A name for traces. */
  name?: string | undefined;
  /**
   * The peer must authenticate (a listener whose bootstrap is a gate): until
   * `authenticated()` is called, frames are limited to `maxPreAuthMessageBytes` and the
   * connection is aborted after `handshakeTimeoutMs`. Default false: trusted from the start.
   */
  requireAuthentication?: boolean | undefined;
  /**
   * For a socket made with `onread` (net.connect): the connection then chooses where each
   * read lands (FrameReader.readTarget) and is told of it here, instead of listening for
   * 'data'. Pausing and resuming the socket work as usual.
   */
  reads?: DirectReads | undefined;
}

/**
 * Buffers connections can share (ConnectionOptions.shared): `newSharedBuffers()`. Safe
 * because each is used only synchronously: an envelope is built and copied into the
 * output in one go (#sendEnv), and a pooled message is taken, filled and written, or put
 * back (zeroed) once the socket has written it, by whichever connection.
 */
export interface SharedBuffers {
  readonly envelope: Envelope;
  /** Results and params messages; its byte bound (POOL_BYTES) is then for all of them. */
  readonly pool: MessagePool;
}

/** Buffers for the connections of one listener to share. */
export function newSharedBuffers(): SharedBuffers {
  return { envelope: new Envelope(), pool: new MessagePool() };
}

/** What a listener keeps of an accepted connection's peer (transport.ts's Peer). */
export interface ConnectionPeer {
  /**
   * The connection is ending, its socket still there (except after a reset): the last
   * moment to read what the socket knows of the peer. Never throws.
   */
  connectionClosing(): void;
  /** The socket has closed (what socketClosed() resolves on). Never throws. */
  socketClosed(): void;
}

/**
 * The bridge between a socket's `onread` option, given when the socket is made, and the
 * connection made afterwards. Bytes read before a connection attaches are kept for it.
 */
export class DirectReads {
  #target: DirectReadTarget | null = null;
  #early: Uint8Array[] | null = null;
  /** Whether the buffer handed out last is the shared scratch (not the target's). */
  #own = true;

  /** The `onread` option to give net.connect. */
  readonly onread = {
    // Before the connection attaches: the process's scratch buffer (frame.ts), whose
    // bytes `callback` copies out at once. node:net asks for a buffer when it makes the
    // socket, which for an accepted one is before its RpcConnection exists.
    buffer: (): Uint8Array => {
      this.#own = this.#target === null;
      return this.#own ? sharedScratch() : this.#target!._readTarget();
    },
    /** Never pauses by its return value: the connection pauses the socket itself. */
    callback: (n: number, buf: Uint8Array): true => {
      if (!this.#own) this.#target!._readInto(n);
      else if (this.#target !== null) this.#target._readData(buf.subarray(0, n));
      else (this.#early ??= []).push(buf.slice(0, n));
      return true;
    },
  };

  /** Internal: RpcConnection routes the reads to itself; returns what came before. */
  _attach(target: DirectReadTarget): Uint8Array[] {
    this.#target = target;
    const early = this.#early ?? [];
    this.#early = null;
    return early;
  }
}

/** Where DirectReads delivers: the RpcConnection itself (its methods, not closures). */
interface DirectReadTarget {
  /** Where the next read goes. */
  _readTarget(): Uint8Array;
  /** `n` bytes were read into the last _readTarget(). */
  _readInto(n: number): void;
  /** Bytes read into some other buffer. */
  _readData(chunk: Uint8Array): void;
}

// capnp-es does not export its multi-segment arena; take the class from a probe message.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ArenaCtor = new (buffers: ArrayBuffer[]) => any;
const MultiSegmentArena: ArenaCtor = (() => {
  const probe = new Uint8Array(32);
  new DataView(probe.buffer).setUint32(0, 1, true); // two segments of one word each
  new DataView(probe.buffer).setUint32(4, 1, true);
  new DataView(probe.buffer).setUint32(8, 1, true);
  const m = new $.Message(probe.buffer, false);
  return (m._capnp.arena as object).constructor as ArenaCtor;
})();

const SINGLE_SEGMENT = 0; // capnp-es ArenaKind.SINGLE_SEGMENT

const RELEASED = new ArrayBuffer(0);
const RELEASED_VIEW = new DataView(RELEASED);

/**
 * Gives the memory of a call's received results back, for the next results of the same
 * size to reuse (C++ does this when a Response goes out of scope). Afterwards reading the
 * results throws, and any bytes taken from them before as views (a Data field, which
 * capnp-es returns as a view of the message) show a later message's bytes: copy what is
 * kept first. Capabilities in the results are not affected (release them as usual).
 * Results of a local call made through `withResultsPool(client, pool)` go back to `pool`
 * (their capabilities must be released first: the cap table emptied, as by reading them
 * out and closing them); other results of a local call, or released already, are left
 * alone. Optional: results never released are collected as usual.
 */
export function releaseResults(results: Struct, pool?: MessagePool): void {
  const msg = results.segment.message;
  if (pool !== undefined && pool.owns(msg)) {
    pool.put(msg);
    return;
  }
  const arena = msg._capnp.arena as { buffers?: ArrayBuffer[] };
  if (!(arena instanceof MultiSegmentArena) || arena.buffers === undefined) return;
  const buffers = arena.buffers;
  // Poison the message first: from now on every read of it is out of bounds.
  for (const seg of msg._capnp.segments as unknown as Array<{ buffer: ArrayBuffer; _dv: DataView; byteLength: number } | undefined>) {
    if (seg === undefined) continue;
    seg.buffer = RELEASED;
    seg._dv = RELEASED_VIEW;
    seg.byteLength = 0;
  }
  arena.buffers = buffers.map(() => RELEASED);
  recycleSegments(buffers);
}

/**
 * A copy of `src` as the root of a new message: how params and results that arrived on
 * another connection are forwarded. The copy reads its source, charged to the source's
 * traversal limit like any read (capnp-es patch), and that limit is first lowered to 4x
 * the source message's own size plus 8 KiB: pointers aliasing one large object (4096
 * pointers to one 64 KiB text in a 64 KiB message) cannot make the copy much larger than
 * what was received. Throws what capnp-es throws for a malformed source.
 */
function copyRoot(src: Struct): $.Message {
  const m = src.segment.message;
  let bytes = 0;
  for (const seg of m._capnp.segments) bytes += seg?.byteLength ?? 0;
  const budget = 4 * bytes + 8192;
  if (m._capnp.traversalLimit > budget) m._capnp.traversalLimit = budget;
  const copy = new $.Message();
  copy.setRoot(src);
  return copy;
}

/** Closes every capability in a cap table and empties it (the table owned them). */
function closeCaps(table: Array<Client | null>): void {
  for (const c of table.splice(0)) {
    try {
      c?.close();
    } catch {
      // Foreign clients may throw from close(); ours never do.
    }
  }
}

function opsKey(ops: readonly PipelineOp[]): string {
  let k = '';
  for (const op of ops) k += `${op.field}.`;
  return k;
}

function isPipelineClient(c: Client): c is Client & { pipeline: { answer: Answer<Struct> }; transform(): PipelineOp[] } {
  return typeof (c as { transform?: unknown }).transform === 'function' && (c as { pipeline?: unknown }).pipeline !== undefined;
}

/** Forwards to a foreign capnp-es Client (e.g. a `new X.Server(impl)` used directly). */
class ClientHook extends RefHook {
  constructor(readonly client: Client) {
    super();
  }
  call(call: Call<Struct, Struct>): Answer<Struct> {
    try {
      return this.client.call(call);
    } catch (e) {
      return new BrokenAnswer(toRpcError(e));
    }
  }
  protected dispose(): void {}
}

/** Calls held until the peer echoes our Disembargo; then delivered in order to `target`. */
class EmbargoHook implements CapHook {
  #queue: Array<{ call: Call<Struct, Struct>; d: DeferredAnswer }> | null = [];
  constructor(readonly target: CapHook) {}
  call(call: Call<Struct, Struct>): Answer<Struct> {
    if (this.#queue === null) return this.target.call(call);
    const d = new DeferredAnswer();
    this.#queue.push({ call, d });
    return d;
  }
  addRef(): void {
    this.target.addRef();
  }
  release(): void {
    this.target.release();
  }
  resolved(): CapHook {
    return this.#queue === null ? this.target.resolved() : this;
  }
  lift(err?: RpcError): void {
    const q = this.#queue;
    this.#queue = null;
    if (q === null) return;
    for (const { call, d } of q) d.bind(err === undefined ? this.target.call(call) : new BrokenAnswer(err));
  }
}

/** A capability the peer exported to us. */
class ImportHook extends RefHook {
  /** How many times the peer sent us this id (what Release must give back). */
  remoteRefs = 0;
  /** Set by Resolve (for a promise) or by disconnect (broken). */
  target: CapHook | null = null;
  targetHandle: CapHandle | null = null;
  callsSent = false;

  constructor(
    readonly conn: RpcConnection,
    readonly id: number,
    readonly isPromise: boolean,
  ) {
    super();
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    if (this.target !== null) return this.target.call(call);
    this.callsSent = true;
    return this.conn._sendCall((this.#asTarget ??= { kind: 'import', id: this.id }), call);
  }

  /** This import as a call's MessageTarget (made once: _sendCall only reads it). */
  #asTarget: Target | null = null;

  override resolved(): CapHook {
    return this.target !== null ? this.target.resolved() : this;
  }

  protected dispose(): void {
    this.conn._releaseImport(this);
  }
}

/** One of our calls (or Bootstraps) to the peer. Also the Answer the typed API pipelines on. */
class Question implements Answer<Struct> {
  readonly result = new DeferredAnswer();
  returned = false;
  finishSent = false;
  cancelled = false;
  /** Transforms we sent pipelined calls on (they may need an embargo at Return). */
  pipelined: Map<string, PipelineOp[]> | null = null;
  /** Transforms the caller released before the Return arrived. */
  closed: PipelineOp[][] | null = null;
  /** Sent with sendResultsTo.yourself: a tail call whose results the peer keeps. */
  redirected = false;
  /** Export ids we put in the params (released for us if the Return says releaseParamCaps). */
  paramExports: readonly number[] = NO_IDS;
  signal: AbortSignal | null = null;
  onAbort: (() => void) | null = null;
  /** The results' struct class, when the call knows it (for reading an older callee's). */
  resultsClass: $.StructCtor<Struct> | null = null;

  constructor(
    readonly conn: RpcConnection,
    readonly id: number,
  ) {}

  struct(): Promise<Struct> {
    return this.result.struct();
  }

  structAs<T extends Struct>(cls: $.StructCtor<T> | null): Promise<T> {
    return this.result.structAs(cls);
  }

  pipelineCall<P extends Struct, R extends Struct>(ops: PipelineOp[], call: Call<P, R>): Answer<R> {
    if (this.returned || this.cancelled) return this.result.pipelineCall(ops, call);
    (this.pipelined ??= new Map()).set(opsKey(ops), ops);
    return this.conn._sendCall({ kind: 'answer', questionId: this.id, ops }, call) as unknown as Answer<R>;
  }

  pipelineClose(ops: PipelineOp[]): void {
    if (this.returned) this.result.pipelineClose(ops);
    else (this.closed ??= []).push(ops);
  }
}

/** A call from the peer being served (or served and not yet Finished). */
class AnswerEntry implements CallOptions {
  answer: Answer<Struct> = new DeferredAnswer();
  pool: MessagePool | null = null;
  returned = false;
  finished = false;
  redirected = false;
  /** takeFromOtherQuestion moved the results to one of our questions: do not close them. */
  transferred = false;
  paramMsg: $.Message | null = null;
  /**
   * The params' capabilities once the params message itself is let go (at Return: the
   * method is done with it, C++ releaseParams), released at Finish as before.
   */
  paramCaps: Array<Client | null> | null = null;
  resultMsg: $.Message | null = null;
  resultExports: number[] = [];
  #ac: AbortController | null = null;
  #aborted = false;

  constructor(readonly id: number) {}

  resultsMessage(): $.Message {
    return this.pool!.get();
  }

  resultsUnused(msg: $.Message): void {
    // Only messages of this pool (resultsMessage) are taken; their cap table is empty.
    this.pool?.put(msg);
  }

  /** Created on first use: most calls never look at their signal. */
  get signal(): AbortSignal {
    if (this.#ac === null) {
      this.#ac = new AbortController();
      if (this.#aborted) this.#ac.abort(new RpcError('failed', 'call cancelled by the caller', { abort: true }));
    }
    return this.#ac.signal;
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#ac?.abort(new RpcError('failed', 'call cancelled by the caller', { abort: true }));
  }
}

interface ExportEntry {
  id: number;
  hook: CapHook;
  key: object;
  refs: number;
  promise: boolean;
}

/** Method descriptors for calls we dispatch by id, by interface id then method id. */
const METHOD_CACHE = new Map<bigint, $.Method<Struct, Struct>[]>();
function anyMethod(interfaceId: bigint, methodId: number): $.Method<Struct, Struct> {
  // Keyed by the bigint itself: a string key cost a BigInt-to-string and a string hash
  // per call.
  let byMethod = METHOD_CACHE.get(interfaceId);
  let m = byMethod?.[methodId];
  if (m === undefined) {
    m = { interfaceId, methodId, ParamsClass: AnyStruct, ResultsClass: AnyStruct, interfaceName: `@0x${interfaceId.toString(16)}`, methodName: `#${methodId}` };
    // Bounded: at most 256 interfaces, method ids under 1024 (a hostile peer's ids are not kept).
    if (methodId < 1024 && (byMethod !== undefined || METHOD_CACHE.size < 256)) {
      if (byMethod === undefined) METHOD_CACHE.set(interfaceId, (byMethod = []));
      byMethod[methodId] = m;
    }
  }
  return m;
}

const SMALL = 16 * 1024;

/** No frames waiting (shared, frozen). */
const NO_FRAMES: readonly Frame[] = Object.freeze([]);
/**
 * The empty array a connection's lists start as, shared and frozen (a write to it throws,
 * it cannot leak between connections): each list is made at its first entry. A server
 * connection asks no questions; four empty arrays were 128 bytes of every idle one.
 */
const NONE: never[] = Object.freeze([]) as unknown as never[];

/** No ids, no descriptors: shared by the many calls that pass no capabilities (never written). */
const NO_IDS: readonly number[] = Object.freeze([]);
const NO_CAPS: readonly CapDesc[] = Object.freeze([]);

/** A connection's first output slab; each next one is twice the last, up to SLAB_BYTES. */
const FIRST_SLAB_BYTES = 512;
/** Output slab size once a connection has written a few. */
const SLAB_BYTES = 64 * 1024;
/** The slab of a connection that has written nothing yet. */
const NO_SLAB = Buffer.alloc(0);

/** Settled once: flushes are scheduled as reactions to it. */
const SETTLED = Promise.resolve();

/**
 * The table of a connection that has put nothing in it yet, shared by all of them: an
 * empty Map costs about 180 bytes, and an idle server connection uses two of its six
 * tables (exports), a client connection two others. Reading it is reading an empty
 * table; every write goes through `own()` first, and a write that does not throws (our
 * bug: it would share an entry between connections).
 */
class NoEntries extends Map<never, never> {
  override set(): this {
    throw new Error('RpcConnection: the shared empty table was written to');
  }
}
const NO_ENTRIES: Map<unknown, unknown> = new NoEntries();

/** An empty table (the shared one, until `own()` replaces it). */
function noEntries<K, V>(): Map<K, V> {
  return NO_ENTRIES as Map<K, V>;
}

/** `table`, or a new table of the connection's own in place of the shared empty one. */
function own<K, V>(table: Map<K, V>): Map<K, V> {
  return table === NO_ENTRIES ? new Map<K, V>() : table;
}

/**
 * An RPC connection over a byte stream. Create with `new RpcConnection(stream, opts)`
 * (transport.ts does this for sockets). Owns the stream: ends or destroys it.
 */
export class RpcConnection {
  readonly limits: RpcLimits;
  readonly #stream: Duplex;
  readonly #reader: FrameReader;
  readonly #env: Envelope;
  readonly #pool: MessagePool;
  readonly #trace: Tracer | null;
  readonly #name: string;

  /**
   * Our questions by id. The ids are ours, small and reused (#freeQuestionIds), so an
   * array: a Map made a new hash table each time its last entry went (V8 shrinks a Map
   * on delete), that is once per call when calls go one at a time.
   */
  #questions: Array<Question | undefined> = NONE;
  #questionCount = 0;
  #freeQuestionIds: number[] = NONE;
  #nextQuestionId = 0;
  // Made at their first entry (NoEntries).
  #answers = noEntries<number, AnswerEntry>();
  #answersPending = 0;
  /**
   * Exports by id (a number) and by what they export (an object: the hook, or a promise's
   * key), in one table: a second Map was 180 bytes more for every connection that
   * exports anything. #exportCount counts the entries.
   */
  #exports = noEntries<number | object, ExportEntry>();
  #exportCount = 0;
  #freeExportIds: number[] = NONE;
  #nextExportId = 0;
  #imports = noEntries<number, ImportHook>();
  #embargoes = noEntries<number, EmbargoHook>();
  #nextEmbargoId = 0;

  #bootstrapFactory: ((peer: ConnectionPeer | undefined) => { client: Client } | Client) | undefined;
  readonly #peer: ConnectionPeer | undefined;
  #bootstrap: Client | null = null;

  // Output batching. The slab is made at the first write, small, and each new one is twice
  // the last, up to SLAB_BYTES: a connection that says little (an idle client after its
  // Gate's two replies) holds a slice of Node's shared pool, not 64 KiB of its own.
  #slab: Buffer = NO_SLAB;
  #nextSlabBytes = FIRST_SLAB_BYTES;
  #slabPos = 0;
  #batchStart = 0;
  /**
   * What the next flush writes: its first chunk, then any others in an array. Most
   * flushes write one chunk (a call, a Return), and an array per flush was most of
   * what a flush allocated.
   */
  #chunk0: Buffer | null = null;
  #chunks: Buffer[] | null = null;
  #flushScheduled = false;
  /** Frames of a read are being handled: a flush wanted meanwhile waits for their end. */
  #handlingFrames = false;
  #flushWanted = false;
  /** A flush at the end of the turn is due (#sendEnv's `lazy`). */
  #lazyFlushScheduled = false;
  #writePaused = false;
  #readPaused = false;

  #closed = false;
  #closing: Promise<void> | null = null;
  #error: RpcError | null = null;
  // Made on need: most connections are never drained, and whoever waits for the end
  // shares one promise (an array of resolvers was 180 bytes for one).
  #drainWaiters: Array<() => void> | null = null;
  #whenClosed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;

  /** What the framer enforces; its size limit rises when the peer authenticates. */
  readonly #frameLimits: { maxMessageBytes: number; maxSegments: number; maxMessageBytesName?: string };
  #authenticated = true;
  /** The timer that ends an aborted connection's lingering socket (abortLingerMs). */
  #lingering: NodeJS.Timeout | null = null;
  /** Whether the socket has closed; socketClosed()'s promise, made when first asked for. */
  #socketGone = false;
  #socketClosed: Promise<void> | null = null;
  #resolveSocketClosed: (() => void) | null = null;
  #handshakeTimer: NodeJS.Timeout | null = null;
  #idleTimer: NodeJS.Timeout | null = null;
  /** When the tables last went empty (performance.now()); -1 while anything is pending. */
  #idleSince = -1;
  /** Pooled results messages whose bytes the socket still holds: pooled once written. */
  #poolAfterWrite: $.Message[] = NONE;

  constructor(stream: Duplex, opts: ConnectionOptions = {}) {
    this.limits = resolveLimits(opts.limits);
    this.#stream = stream;
    this.#env = opts.shared?.envelope ?? new Envelope();
    this.#pool = opts.shared?.pool ?? new MessagePool();
    this.#frameLimits = { maxMessageBytes: this.limits.maxMessageBytes, maxSegments: this.limits.maxSegments };
    if (opts.requireAuthentication === true) {
      this.#authenticated = false;
      this.#frameLimits.maxMessageBytes = Math.min(this.limits.maxPreAuthMessageBytes, this.limits.maxMessageBytes);
      this.#frameLimits.maxMessageBytesName = 'maxPreAuthMessageBytes: the peer has not authenticated';
      const ms = this.limits.handshakeTimeoutMs;
      if (ms > 0) {
        this.#handshakeTimer = setTimeout(() => {
          this.#handshakeTimer = null;
          if (!this.#authenticated) this.#abort(new ProtocolError(`not authenticated within ${ms} ms (handshakeTimeoutMs)`));
        }, ms);
        this.#handshakeTimer.unref();
      }
    }
    if (this.limits.idleTimeoutMs > 0) {
      this.#idleSince = performance.now();
      this.#armIdle(this.limits.idleTimeoutMs);
    }
    this.#reader = new FrameReader(this.#frameLimits);
    this.#trace = opts.trace === undefined ? makeTracer() : opts.trace;
    this.#name = opts.name ?? 'conn';
    this.#bootstrapFactory = opts.bootstrap;
    this.#peer = opts.peer;
    if (opts.reads === undefined) stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    else {
      for (const chunk of opts.reads._attach(this)) this.#onData(chunk);
    }
    stream.on('drain', () => this.#onDrain());
    stream.on('error', (err: Error) => this.#disconnected(`connection error: ${err.message}`));
    // One 'close' listener for both (a once() listener beside it cost a wrapper, its
    // bound function and an array of listeners per connection).
    stream.on('close', () => {
      this.#socketGone = true;
      this.#disconnected('connection closed');
      // After the shutdown: what it held (heldAtClose) is known to whoever is told.
      this.#resolveSocketClosed?.();
      this.#resolveSocketClosed = null;
      this.#peer?.socketClosed();
    });
    stream.on('end', () => this.#disconnected('peer closed the connection'));
  }

  // ---- public API --------------------------------------------------------------------

  /**
   * The peer's bootstrap capability as a typed client, usable at once (calls pipeline on
   * the Bootstrap question). The caller owns it: `release()` it or `using` it.
   */
  bootstrap<C>(Iface: { readonly Client: new (client: Client) => C }): C & Disposable {
    const q = this.#newQuestion();
    let client: Client;
    if (q instanceof RpcError) {
      client = new CapHandle(new BrokenHook(q));
    } else {
      this.#env.bootstrap(q.id);
      this.#sendEnv(null);
      client = new CapHandle(new PipelineHook(q, [], true));
    }
    const c = new Iface.Client(client) as C & Disposable;
    (c as { [Symbol.dispose]: () => void })[Symbol.dispose] = () => client.close();
    return c;
  }

  /**
   * The peer has authenticated (called by a gate on success): frames up to
   * maxMessageBytes are accepted from now on, and the handshake deadline is off.
   * Idempotent; a connection that did not require authentication is authenticated from
   * the start.
   */
  authenticated(): void {
    if (this.#authenticated) return;
    this.#authenticated = true;
    this.#frameLimits.maxMessageBytes = this.limits.maxMessageBytes;
    delete this.#frameLimits.maxMessageBytesName;
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
  }

  /**
   * A request of the peer's was refused, above this layer, for a limit the peer is past
   * (a quota, too many failed attempts): stop reading it for refusalPauseMs, as when it
   * passes maxAnswers. Does nothing while a pause runs, or with refusalPauseMs 0.
   */
  overLimit(): void {
    if (!this.#closed) this.#pauseAfterRefusal();
  }

  #heldAtClose = 0;

  /**
   * What the connection held when it ended: questions, answers, exports and imports
   * (0 while open). capns serve counts it as departures (src/server/reclaim.ts): a peer
   * that left thousands of unfinished answers behind is a burst of garbage too.
   */
  get heldAtClose(): number {
    return this.#heldAtClose;
  }

  /** Whether the peer has authenticated (always true without requireAuthentication). */
  get isAuthenticated(): boolean {
    return this.#authenticated;
  }

  /** Table sizes, for leak checks. */
  stats(): RpcStats {
    return {
      questions: this.#questionCount,
      answers: this.#answers.size,
      imports: this.#imports.size,
      exports: this.#exportCount,
      embargoes: this.#embargoes.size,
    };
  }

  /**
   * Bytes of memory held for a frame being received (0 between frames): it follows the
   * bytes that arrived, not the size the frame's header claims (frame.ts).
   */
  get pendingFrameBytes(): number {
    return this.#reader.allocated;
  }

  /** True once the connection has ended (for whatever reason). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the connection ended (null while open). */
  get error(): RpcError | null {
    return this.#error;
  }

  /** Resolves when the connection has ended. */
  whenClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return (this.#whenClosed ??= new Promise((r) => (this.#resolveClosed = r)));
  }

  /**
   * Drains: new calls fail `disconnected`, calls in flight (both ways) complete, then the
   * stream is ended. Idempotent; resolves when closed.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    if (this.#closed) return Promise.resolve();
    this.#closing = (async () => {
      while (!this.#closed && (this.#questionCount > 0 || this.#answersPending > 0)) {
        await new Promise<void>((r) => (this.#drainWaiters ??= []).push(r));
      }
      if (!this.#closed) {
        this.#flush();
        this.#stream.end();
        const t = setTimeout(() => this.#stream.destroy(), 2000);
        await this.whenClosed();
        clearTimeout(t);
      }
    })();
    return this.#closing;
  }

  /** Fails everything in flight with `err` (default: disconnected) and closes at once. */
  destroy(err?: Error): void {
    const e = err === undefined ? RpcError.withoutStack('disconnected', 'connection destroyed') : err instanceof RpcError ? err : new RpcError('disconnected', err.message, { cause: err });
    this.#shutdown(e);
    // An aborted connection whose socket lingers (abortLingerMs): the socket goes now.
    if (this.#lingering !== null) {
      clearTimeout(this.#lingering);
      this.#stream.destroy();
    }
  }

  /**
   * Resolves when the socket has closed: with the connection, or up to abortLingerMs
   * after it for a connection aborted before it authenticated. What counts sockets
   * (a listener's connection budget) waits for this, not for whenClosed().
   */
  socketClosed(): Promise<void> {
    if (this.#socketGone) return Promise.resolve();
    return (this.#socketClosed ??= new Promise((r) => (this.#resolveSocketClosed = r)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- output --------------------------------------------------------------------------

  #append(bytes: Uint8Array): void {
    const n = bytes.length;
    this.#reserve(n);
    this.#slab.set(bytes, this.#slabPos);
    this.#slabPos += n;
  }

  #seal(): void {
    if (this.#slabPos > this.#batchStart) {
      // Buffer.from(arrayBuffer, ...) makes the view directly; subarray goes through the
      // species-constructor path.
      const slab = this.#slab;
      this.#queueChunk(Buffer.from(slab.buffer, slab.byteOffset + this.#batchStart, this.#slabPos - this.#batchStart));
      this.#batchStart = this.#slabPos;
    }
  }

  /**
   * Frames the envelope just built (segment 0) plus optional content (segment 1) and
   * queues it. A `lazy` message is one that only lets the peer free what it holds (a
   * Finish after a Return, a Release): nothing waits for it, so it asks for no write of
   * its own. It goes out with the next message that does, in the same write, or at the
   * end of the event loop's turn (setImmediate) if none comes. A client that reads its
   * results and then calls again, or releases and closes, sent the Finish in a write of
   * its own one promise hop after the Return (a write, and a wake-up of the peer, per
   * Return that had capabilities in it).
   */
  #sendEnv(content: Uint8Array | null, lazy = false): void {
    if (this.#closed) return;
    // Traced once the envelope is copied out: it may be the listener's shared one, and the
    // tracer (any function) must not get a chance to build another in it before that.
    const traced = this.#trace !== null ? this.#env.bytes().slice() : null;
    // Small content goes inline in segment 0 (it is copied into the batch either way);
    // large content stays a segment of its own, written from its buffer without a copy.
    const inline = content !== null && content.length <= SMALL && this.#env.inlineContent(content);
    const env = this.#env.bytes();
    const seg0 = env.length + (inline ? content.length : 0);
    const two = content !== null && !inline;
    this.#reserve(two ? 16 : 8);
    const slab = this.#slab;
    const at = this.#slabPos;
    slab.writeUInt32LE(two ? 1 : 0, at);
    slab.writeUInt32LE(seg0 / 8, at + 4);
    if (two) {
      slab.writeUInt32LE(content.length / 8, at + 8);
      slab.writeUInt32LE(0, at + 12);
    }
    this.#slabPos += two ? 16 : 8;
    this.#append(env);
    if (content !== null) {
      if (content.length <= SMALL) this.#append(content);
      else {
        this.#seal();
        this.#queueChunk(Buffer.from(content.buffer, content.byteOffset, content.length));
      }
    }
    if (lazy) this.#scheduleLazyFlush();
    else this.#scheduleFlush();
    if (traced !== null) this.#traceOut(traced, content);
  }

  #scheduleLazyFlush(): void {
    if (this.#lazyFlushScheduled || this.#flushScheduled || this.#flushWanted) return;
    this.#lazyFlushScheduled = true;
    setImmediate(this.#lazyFlushFn);
  }

  readonly #lazyFlushFn = (): void => {
    this.#lazyFlushScheduled = false;
    // Written already if anything else was sent since (#flush takes the whole batch).
    if (!this.#flushScheduled) this.#flush();
  };

  /** Makes room for `n` bytes at #slabPos. */
  #reserve(n: number): void {
    if (this.#slabPos + n > this.#slab.length) {
      this.#seal();
      this.#newSlab(n);
    }
  }

  /** A new slab of at least `n` bytes (the ones before it belong to the stream now). */
  #newSlab(n: number): void {
    const size = this.#nextSlabBytes;
    if (size < SLAB_BYTES) this.#nextSlabBytes = size * 2;
    this.#slab = Buffer.allocUnsafe(Math.max(size, n));
    this.#slabPos = 0;
    this.#batchStart = 0;
  }

  /** Queues `b` for the next flush, after what is queued already. */
  #queueChunk(b: Buffer): void {
    if (this.#chunk0 === null) this.#chunk0 = b;
    else (this.#chunks ??= []).push(b);
  }

  #sendRaw(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#seal();
    this.#queueChunk(Buffer.from(frame.buffer, frame.byteOffset, frame.length));
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    if (this.#handlingFrames) {
      // Scheduled once the frames of this read are handled (#processBacklog), after the
      // reactions they queued: replies that come one promise hop later share the write.
      this.#flushWanted = true;
      return;
    }
    this.#flushScheduled = true;
    // A reaction on a settled promise runs at the same microtask checkpoint as
    // queueMicrotask would, without the AsyncResource Node makes for every
    // queueMicrotask call (3% of a client's user time at 64 KiB reads).
    void SETTLED.then(this.#flushFn);
  }

  readonly #flushFn = (): void => this.#flush();

  /** Whether bytes we queued are not yet written: in this batch, or in the stream. */
  #outputPending(): boolean {
    return this.#chunk0 !== null || this.#slabPos > this.#batchStart || this.#stream.writableLength > 0;
  }
  /** This connection for early-header.ts. */
  readonly #writerId = newWriterId();

  #flush(): void {
    this.#flushScheduled = false;
    this.#seal();
    const first = this.#chunk0;
    const more = this.#chunks;
    this.#chunk0 = null;
    this.#chunks = null;
    if (first === null || this.#closed) return;
    let ok = true;
    // Results dropped at their Return (noFinishNeeded), or finished while output was still
    // queued, go back to the pool once the socket has taken this batch: it, or a write
    // before it, may point into them.
    let written: ((err?: Error | null) => void) | undefined;
    if (this.#poolAfterWrite.length > 0) {
      const msgs = this.#poolAfterWrite;
      this.#poolAfterWrite = NONE;
      written = (err) => {
        if (err === undefined || err === null) for (const m of msgs) this.#pool.put(m);
      };
    }
    // Noted for the 9P bridge's early-header rule (early-header.ts: it sends a large
    // reply's header ahead only while no other connection of the process is written to).
    // Our own frames go out whole: a large segment's header written ahead of it woke the
    // peer twice per result (one more write and one more wake-up on each side). On this
    // machine that cost 8-10 µs of CPU per 64 KiB read, client and server together, in
    // every A/B run, and the rate gain measured when the machine was quiet (5-11%) did
    // not hold under load: 64 KiB reads were as fast or faster without it in two runs of
    // three (BENCHMARKS.md, RPC).
    headerAhead(this.#writerId);
    try {
      if (more === null) ok = this.#stream.write(first, written);
      else {
        this.#stream.cork();
        this.#stream.write(first);
        const last = more.length - 1;
        for (let i = 0; i < last; i++) ok = this.#stream.write(more[i]!);
        ok = this.#stream.write(more[last]!, written);
        this.#stream.uncork();
      }
    } catch (e) {
      this.#shutdown(new RpcError('disconnected', `write failed: ${(e as Error).message}`));
      return;
    }
    // The slab's written part now belongs to the stream; keep filling after it. A small
    // slab (one of a connection's first few) is let go instead, and the next write makes
    // the next size: a connection that has gone quiet keeps none (an idle server
    // connection kept 512 bytes of Node's pool, holding on to the pool's 8 KiB).
    const left = this.#slab.length - this.#slabPos;
    if (this.#slab.length < SLAB_BYTES) {
      this.#slab = NO_SLAB;
      this.#slabPos = 0;
      this.#batchStart = 0;
    } else if (left < 4096 && left < this.#slab.length >> 2) this.#newSlab(0);
    if (!ok && !this.#writePaused && this.#stream.writableLength > this.limits.maxWriteBufferBytes) {
      // Backpressure: the peer is not reading. Stop reading its requests too, so we do
      // not produce more replies than the socket can take ('drain' resumes).
      this.#writePaused = true;
      this.#updateReading();
    }
  }

  #onDrain(): void {
    this.#writePaused = false;
    this.#updateReading();
  }

  /**
   * Backpressure: stop reading while the peer does not read our output, or while
   * maxInFlightCalls of its calls are being served. But never stop while we wait for
   * something from this peer (a Return for one of our questions, a Disembargo echo): a
   * call being served may be waiting for exactly that (a callback), and pausing would
   * deadlock. Calls past twice the limit then fail `overloaded` instead (#onCall).
   */
  #updateReading(): void {
    const pause =
      this.#yielding ||
      this.#refusalPaused ||
      this.#writePaused ||
      (this.#answersPending >= this.limits.maxInFlightCalls && this.#questionCount === 0 && this.#embargoes.size === 0);
    if (pause && !this.#readPaused) {
      this.#readPaused = true;
      this.#stream.pause();
    } else if (!pause && this.#readPaused) {
      this.#readPaused = false;
      this.#stream.resume();
      if (this.#backlog.length > 0 && !this.#backlogScheduled) {
        this.#backlogScheduled = true;
        queueMicrotask(() => {
          this.#backlogScheduled = false;
          this.#processBacklog();
        });
      }
    }
  }

  /** Reading stopped for refusalPauseMs after a call of the peer's was refused. */
  #refusalPaused = false;

  /**
   * A call was refused because the peer is past one of its limits (maxAnswers, twice
   * maxInFlightCalls): stop reading it for refusalPauseMs. A peer that keeps calling past
   * its limits then has one call considered per pause, not as many as it can write; one
   * that finishes its calls meanwhile (the Finishes wait in its socket) is back under the
   * limit when reading resumes. Like a turn's yield, the pause always ends, so a call
   * waiting for this peer's Return waits longer but cannot deadlock.
   */
  #pauseAfterRefusal(): void {
    const ms = this.limits.refusalPauseMs;
    if (ms === 0 || this.#refusalPaused) return;
    this.#refusalPaused = true;
    this.#updateReading();
    setTimeout(() => {
      this.#refusalPaused = false;
      if (!this.#closed) this.#updateReading();
    }, ms).unref();
  }

  /** Received frames not handled yet (never changed in place: the reader's arrays may be shared). */
  #backlog: readonly Frame[] = NO_FRAMES;
  #backlogScheduled = false;
  /** Frames handled since this connection last let the event loop turn. */
  #inARow = 0;
  /** Waiting for the next turn (maxFramesPerTurn): reading is paused until then. */
  #yielding = false;

  /**
   * Lets every other connection have the event loop before this one handles more: reading
   * pauses (the backlog waits) and resumes from the check phase, after the loop has polled
   * for everyone's I/O. Unlike the other pauses this one always ends, so it cannot
   * deadlock a call that waits for this peer.
   */
  #yieldTurn(): void {
    this.#yielding = true;
    this.#updateReading();
    setImmediate(() => {
      this.#yielding = false;
      this.#inARow = 0;
      if (!this.#closed) this.#updateReading();
    });
  }

  // ---- input ---------------------------------------------------------------------------

  #onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    let frames: readonly Frame[];
    try {
      frames = this.#reader.push(chunk);
    } catch (e) {
      this.#abort(e);
      return;
    }
    this.#onFrames(frames);
  }

  /** `n` bytes were read into the reader's last readTarget() (DirectReads). */
  #onRead(n: number): void {
    if (this.#closed) return;
    let frames: readonly Frame[];
    try {
      frames = this.#reader.commit(n);
    } catch (e) {
      this.#abort(e);
      return;
    }
    if (frames.length > 0) this.#onFrames(frames);
  }

  #onFrames(frames: readonly Frame[]): void {
    if (frames.length > 0) this.#backlog = this.#backlog.length > 0 ? this.#backlog.concat(frames) : frames;
    this.#processBacklog();
  }

  /**
   * Handles received frames in order until reading is paused. Frames of a chunk already
   * read wait here (at most one socket chunk's worth: the stream itself is paused).
   */
  #processBacklog(): void {
    const q = this.#backlog;
    let i = 0;
    const outer = this.#handlingFrames;
    this.#handlingFrames = true;
    while (i < q.length && !this.#readPaused && !this.#closed) {
      if (++this.#inARow > (this.#authenticated ? this.limits.maxFramesPerTurn : this.limits.maxPreAuthFramesPerTurn)) {
        this.#yieldTurn();
        break;
      }
      const f = q[i++]!;
      try {
        this.#onFrame(f);
      } catch (e) {
        this.#abort(e);
        break;
      }
    }
    this.#handlingFrames = outer;
    this.#backlog = i >= q.length || this.#closed ? NO_FRAMES : q.slice(i);
    // What the frames sent synchronously (a Bootstrap's Return, an exception) goes out in
    // one write with what their calls send one promise hop later: the reactions they
    // queued run before this flush. A Gate's Bootstrap and authenticate replies were two
    // writes (two sendmsg, two wake-ups of the client) per connection.
    if (!outer && this.#flushWanted) {
      this.#flushWanted = false;
      this.#scheduleFlush();
    }
  }

  #onFrame(f: Frame): void {
    // The envelope is decoded from DataViews of our own; a capnp-es Message is made only
    // for the messages whose content someone reads (Call params, Return results, an
    // unknown message echoed back). A Finish, one per call, never needs one.
    const m = decode(new WireReader(f.segments), this.limits.maxImports);
    if (this.#trace !== null) this.#trace(`${this.#name} < ${describeDecoded(m)}`);
    switch (m.which) {
      case Tag.Call:
        this.#onCall(m, this.#message(f));
        return;
      case Tag.Return:
        this.#onReturn(m, this.#message(f));
        return;
      case Tag.Finish:
        this.#onFinish(m.questionId, m.releaseResultCaps);
        return;
      case Tag.Release:
        this.#releaseExport(m.id, m.count);
        return;
      case Tag.Bootstrap:
        this.#onBootstrap(m.questionId);
        return;
      case Tag.Resolve:
        this.#onResolve(m);
        return;
      case Tag.Disembargo:
        this.#onDisembargo(m);
        return;
      case Tag.Abort:
        this.#shutdown(RpcError.withoutStack('disconnected', `peer aborted: ${m.exc.reason}`));
        this.#stream.destroy();
        return;
      case Tag.Unimplemented:
        this.#onUnimplemented(m.innerTag, m.innerQuestionId);
        return;
      default:
        this.#sendUnimplemented(this.#message(f));
        return;
    }
  }

  /** A received frame as a capnp-es message, its traversal limit set from ours. */
  #message(f: Frame): $.Message {
    const msg = new $.Message(new MultiSegmentArena(f.segments) as never);
    // capnp-es keeps the limit in bytes (a pointer read costs 8): ours is in words, as C++'s.
    msg._capnp.traversalLimit = this.limits.traversalLimitWords * 8;
    return msg;
  }

  /**
   * Payload.content as a struct. Content sent as a segment of its own (ours over 16 KiB,
   * e.g. a 64 KiB read's results) is reached by a single far pointer whose landing pad is
   * the content's root struct pointer: the struct is then held at the landing pad, so that
   * every field read of it takes capnp-es's near-pointer path (and `fitsAsIs` decides its
   * size from the pointer word) instead of following the far pointer each time. Reading at
   * the landing pad is what following the far pointer does (encoding spec, "Inter-Segment
   * Pointers"); anything else (a double far, a pad out of bounds) stays as it came.
   */
  #contentStruct(msg: $.Message, loc: { seg: number; off: number } | null): Struct {
    if (loc === null) return this.#pool.get().initRoot(AnyStruct);
    let seg = msg.getSegment(loc.seg);
    let off = loc.off;
    const lo = seg.getUint32(off);
    if ((lo & 7) === 2) {
      // A single far pointer (bit 2 clear): landing pad at word lo >>> 3 of segment hi.
      const padSeg = seg.getUint32(off + 4);
      const padOff = (lo >>> 3) * 8;
      const segments = msg._capnp.segments;
      const pad = padSeg < segments.length ? segments[padSeg] : undefined;
      if (pad !== undefined && padOff + 8 <= pad.byteLength && (pad.getUint32(padOff) & 3) === 0) {
        seg = pad;
        off = padOff;
      }
    }
    return new AnyStruct(seg, off, this.limits.nestingLimit);
  }

  #onCall(m: Extract<Decoded, { which: Tag.Call }>, msg: $.Message): void {
    if (this.#answers.has(m.questionId)) throw new ProtocolError(`Call reuses question id ${m.questionId} still in use`);
    // An id we never exported, or one the peer has released: its bookkeeping is wrong, and
    // nothing it says can be trusted further (C++: "Message target is not a current export
    // ID", a protocol error). Answering it instead let a peer hold maxAnswers answers for
    // the price of a frame each.
    const exported = m.target.kind === 'import' ? this.#exports.get(m.target.id) : undefined;
    if (m.target.kind === 'import' && exported === undefined) throw new ProtocolError(`Call to unknown export id ${m.target.id}`);
    const maxAnswers = this.#authenticated ? this.limits.maxAnswers : this.limits.maxPreAuthAnswers;
    if (this.#answers.size >= maxAnswers) {
      // The peer holds all the answers it may (calls in flight and answers it never
      // finished): refuse this one without keeping anything of it. Its capabilities are
      // imported and released at once (the peer's accounting), and the Return says no
      // Finish is needed; a Finish that comes anyway is ignored, like any for an unknown id.
      for (const d of m.caps) this.#importCap(d)?.close();
      const reason = this.#authenticated
        ? `too many answers held by the peer (maxAnswers ${maxAnswers}): finish some calls`
        : `too many answers held by a peer that has not authenticated (maxPreAuthAnswers ${maxAnswers}): authenticate, or finish some calls`;
      this.#env.returnOther(m.questionId, RetTag.Exception, { type: typeToWire('overloaded'), reason }, 0, true);
      this.#sendEnv(null);
      this.#pauseAfterRefusal();
      return;
    }
    const entry = new AnswerEntry(m.questionId);
    entry.pool = this.#pool;
    (this.#answers = own(this.#answers)).set(m.questionId, entry);
    if (this.#idleTimer !== null) this.#busyChanged();
    this.#answersPending++;
    this.#updateReading();
    // Import the params' capabilities first: even a call we refuse must account for them
    // (they are released when the answer is finished).
    msg._capnp.capTable = m.caps.map((d) => this.#importCap(d));
    entry.paramMsg = msg;
    if (this.#answersPending > 2 * this.limits.maxInFlightCalls) {
      this.#answerWith(entry, new BrokenAnswer(new RpcError('overloaded', `too many calls in flight (maxInFlightCalls ${this.limits.maxInFlightCalls})`)));
      this.#pauseAfterRefusal();
      return;
    }
    if (m.sendResultsTo === 1) entry.redirected = true;
    else if (m.sendResultsTo !== 0) {
      this.#answerWith(entry, new BrokenAnswer(new RpcError('unimplemented', 'sendResultsTo.thirdParty is not supported (Level 3)')));
      return;
    }
    let target: Answer<Struct> | Client;
    if (m.target.kind === 'import') target = exported!.hook as unknown as Client;
    else {
      const a = this.#answers.get(m.target.questionId);
      if (a === undefined || a === entry) {
        this.#answerWith(entry, new BrokenAnswer(new RpcError('failed', `call pipelined on unknown question ${m.target.questionId}`)));
        return;
      }
      target = a.answer;
    }
    const call = { method: anyMethod(m.interfaceId, m.methodId), params: this.#contentStruct(msg, m.content), [kCallOptions]: entry };
    let ans: Answer<Struct>;
    try {
      ans = m.target.kind === 'import' ? (target as unknown as CapHook).call(call) : (target as Answer<Struct>).pipelineCall(m.target.ops, call);
    } catch (e) {
      ans = new BrokenAnswer(toRpcError(e));
    }
    this.#answerWith(entry, ans);
  }

  #answerWith(entry: AnswerEntry, ans: Answer<Struct>): void {
    entry.answer = ans;
    // Fast paths (no promise allocations): answers that are, or will be bound to, a
    // settled local result.
    if (ans instanceof DeferredAnswer) {
      ans.whenBound((a) => this.#guard(() => this.#settle(entry, a)));
      return;
    }
    this.#settle(entry, ans);
  }

  #settle(entry: AnswerEntry, ans: Answer<Struct>): void {
    if (ans instanceof Question && ans.redirected && ans.conn === this && !entry.returned && !entry.finished && !this.#closed) {
      // rpc.capnp tail call: the peer keeps the results of our question `ans` for us;
      // tell it to use them as the answer to its call.
      entry.returned = true;
      this.#env.returnOther(entry.id, RetTag.TakeFromOtherQuestion, null, ans.id);
      this.#sendEnv(null);
      this.#answerDone(entry);
      return;
    }
    if (ans instanceof ResultAnswer) {
      this.#returnResults(entry, ans.results);
      return;
    }
    if (ans instanceof BrokenAnswer) {
      this.#returnException(entry, ans.error);
      return;
    }
    if (ans instanceof DeferredAnswer || ans instanceof Question) {
      (ans instanceof Question ? ans.result : ans).whenBound((a) => this.#guard(() => this.#settle(entry, a)));
      return;
    }
    ans.struct().then(
      (r: Struct) => this.#guard(() => this.#returnResults(entry, r)),
      (e: unknown) => this.#guard(() => this.#returnException(entry, toRpcError(e))),
    );
  }

  #onBootstrap(questionId: number): void {
    if (this.#answers.has(questionId)) throw new ProtocolError(`Bootstrap reuses question id ${questionId}`);
    const entry = new AnswerEntry(questionId);
    (this.#answers = own(this.#answers)).set(questionId, entry);
    if (this.#idleTimer !== null) this.#busyChanged();
    this.#answersPending++;
    if (this.#bootstrap === null && this.#bootstrapFactory !== undefined) {
      try {
        const b = this.#bootstrapFactory(this.#peer);
        const inner = (b as { client?: unknown }).client;
        this.#bootstrap = typeof inner === 'object' && inner !== null ? (inner as Client) : (b as Client);
      } catch (e) {
        this.#answerWith(entry, new BrokenAnswer(toRpcError(e)));
        return;
      }
    }
    if (this.#bootstrap === null) {
      this.#answerWith(entry, new BrokenAnswer(new RpcError('failed', 'this peer serves no bootstrap capability')));
      return;
    }
    // Results: a message whose root is a capability pointer to our bootstrap object (in a
    // small message: capnp-es's own starts with 4 KiB, zeroed, once per connection).
    const msg = newMessage(64);
    const root = new $.Pointer(msg.getSegment(0), 0);
    const b = this.#bootstrap;
    $.utils.setInterfacePointer(msg.addCap(b instanceof CapHandle ? b.dup() : b), root);
    entry.resultMsg = msg;
    const results = new AnyStruct(root.segment, 0);
    entry.answer = new ResultAnswer(results);
    this.#returnResults(entry, results);
  }

  #returnResults(entry: AnswerEntry, results: Struct): void {
    // The call was made on the entry's behalf, so its results (and the capabilities in
    // them) are the entry's, wherever they were built; released when it is dropped.
    const own = results.segment.message;
    if (entry.returned || entry.finished || this.#closed) {
      // Cancelled (or answered already): nobody wants these results.
      if (own !== entry.paramMsg && own !== entry.resultMsg) closeCapTable(own);
      return;
    }
    if (own !== entry.paramMsg) entry.resultMsg = own;
    if (entry.redirected) {
      entry.returned = true;
      this.#env.returnOther(entry.id, RetTag.ResultsSentElsewhere, null);
      this.#sendEnv(null);
      this.#answerDone(entry);
      return;
    }
    let msg = results.segment.message;
    const isCapRoot = results.byteOffset === 0 && msg._capnp.segments.length === 1 && (msg.getSegment(0).getUint32(0) & 3) === 3;
    if (!isCapRoot && !(msg._capnp.arena.kind === SINGLE_SEGMENT && msg._capnp.segments.length === 1 && results.segment.id === 0 && results.byteOffset === 0)) {
      // Not a root we built (e.g. results forwarded from another connection): copy.
      let copy: $.Message;
      try {
        copy = copyRoot(results);
      } catch (e) {
        this.#returnException(entry, toRpcError(e));
        return;
      }
      // The source message keeps ownership of its caps; the copy's table borrows them.
      msg = copy;
    }
    const table = msg._capnp.capTable ?? [];
    const exportsOut: number[] = [];
    let caps: CapDesc[];
    try {
      this.#checkSize(msg.getSegment(0).byteLength);
      caps = table.map((c) => this.#describe(c, exportsOut));
    } catch (e) {
      for (const id of exportsOut) this.#releaseExport(id, 1);
      this.#returnException(entry, toRpcError(e));
      return;
    }
    entry.resultExports = exportsOut;
    entry.returned = true;
    // Results without capabilities leave nothing to pipeline on or release: the answer is
    // dropped now and the Return says so (rpc.capnp noFinishNeeded, as C++ 1.0 does). A
    // bootstrap's answer (a capability) always waits for its Finish.
    const noFinish = !isCapRoot && caps.length === 0;
    if (isCapRoot) {
      this.#env.returnResults(entry.id, false, caps, true);
      this.#sendEnv(null);
    } else {
      const seg = msg.getSegment(0);
      this.#env.returnResults(entry.id, true, caps, false, noFinish);
      this.#sendEnv(new Uint8Array(seg.buffer, 0, seg.byteLength));
    }
    this.#answerDone(entry, noFinish);
  }

  #returnException(entry: AnswerEntry, err: RpcError): void {
    if (entry.returned) return;
    if (entry.finished || this.#closed) return;
    entry.returned = true;
    if (entry.redirected) {
      this.#env.returnOther(entry.id, RetTag.ResultsSentElsewhere, null);
    } else {
      this.#env.returnOther(entry.id, RetTag.Exception, { type: typeToWire(err.type), reason: reasonForWire(err) });
    }
    this.#sendEnv(null);
    this.#answerDone(entry);
  }

  /**
   * A Return went out for `entry`. `noFinish`: it said noFinishNeeded, so the answer is
   * dropped now; otherwise it waits for the peer's Finish holding only what a Finish or a
   * pipelined call needs: the params message is let go (C++ releaseParams), its
   * capabilities kept until the Finish as before.
   */
  #answerDone(entry: AnswerEntry, noFinish = false): void {
    this.#answersPending--;
    this.#updateReading();
    if (noFinish && !entry.finished) {
      entry.finished = true;
      this.#dropAnswer(entry, true);
    } else if (entry.finished) {
      this.#dropAnswer(entry);
    } else if (entry.paramMsg !== null && entry.paramMsg !== entry.resultMsg) {
      // The table stays the message's (results read from the params would still find
      // their capabilities there); it is emptied when the answer is dropped.
      entry.paramCaps = entry.paramMsg._capnp.capTable ?? null;
      entry.paramMsg = null;
    }
    this.#wakeDrain();
  }

  /**
   * Removes a returned answer. `atReturn`: its Return is still in the write batch (it may
   * point into the results' memory), so a pooled results message goes back to the pool
   * only once the socket has taken those bytes.
   */
  #dropAnswer(entry: AnswerEntry, atReturn = false): void {
    this.#answers.delete(entry.id);
    // Emptied, it goes back to the shared one: a server connection idle after its Gate's
    // two calls keeps no table of answers (a new Map at the next call costs less than
    // keeping 180 bytes for every idle connection).
    if (this.#answers.size === 0) this.#answers = noEntries();
    if (this.#idleTimer !== null) this.#busyChanged();
    if (entry.paramMsg !== null) closeCapTable(entry.paramMsg);
    if (entry.paramCaps !== null) closeCaps(entry.paramCaps);
    if (entry.resultMsg !== null && !entry.transferred) {
      closeCapTable(entry.resultMsg);
      // Nobody else can reach these results now (Return sent, and Finish received or not
      // needed). But the Return's bytes may still wait to be written (a Finish that came
      // while our output was backed up), and they may point into the results: the pool is
      // the listener's, so another peer's results could be built over them before they go
      // out. Such a message goes back once the socket has taken what is queued.
      if (atReturn || this.#outputPending()) (this.#poolAfterWrite === NONE ? (this.#poolAfterWrite = []) : this.#poolAfterWrite).push(entry.resultMsg);
      else this.#pool.put(entry.resultMsg);
    }
    entry.paramMsg = null;
    entry.paramCaps = null;
    entry.resultMsg = null;
  }

  #onFinish(questionId: number, releaseResultCaps: boolean): void {
    const entry = this.#answers.get(questionId);
    // rpc.capnp Return.noFinishNeeded: "The caller may still send a Finish message if it
    // wants, which will be silently ignored by the callee". A peer that predates the hint
    // (C++ 0.9) always sends one. As C++ does, any Finish for an id not in the table is
    // ignored: telling them apart would mean remembering every id dropped at its Return.
    if (entry === undefined || entry.finished) return;
    entry.finished = true;
    if (releaseResultCaps) {
      for (const id of entry.resultExports) this.#releaseExport(id, 1);
      entry.resultExports = [];
    }
    if (!entry.returned) {
      // rpc.capnp Finish: the caller no longer wants the answer. Cancel the method (its
      // AbortSignal fires) and answer `canceled` now; its eventual results are dropped.
      entry.abort();
      entry.returned = true;
      this.#env.returnOther(entry.id, RetTag.Canceled, null);
      this.#sendEnv(null);
      this.#answersPending--;
      this.#updateReading();
      this.#wakeDrain();
    }
    this.#dropAnswer(entry);
  }

  #onReturn(m: Extract<Decoded, { which: Tag.Return }>, msg: $.Message): void {
    const q = this.#questions[m.answerId];
    if (q === undefined || q.returned) throw new ProtocolError(`Return for unknown question ${m.answerId}`);
    q.returned = true;
    if (q.signal !== null && q.onAbort !== null) q.signal.removeEventListener('abort', q.onAbort);
    if (m.releaseParamCaps) for (const id of q.paramExports) this.#releaseExport(id, 1);
    q.paramExports = NO_IDS;
    if (q.cancelled) {
      // We sent Finish(releaseResultCaps) already: the peer released whatever it returned.
      this.#freeQuestion(q);
      return;
    }
    switch (m.kind) {
      case RetTag.Results: {
        const caps = m.caps.length === 0 ? [] : m.caps.map((d) => this.#importCap(d));
        msg._capnp.capTable = caps;
        const results = this.#contentStruct(msg, m.content);
        const rc = q.resultsClass;
        if (rc !== null && !fitsAsIs(results.segment, results.byteOffset, rc._capnp.size)) {
          // Results of an older callee (a smaller struct) read absent fields as defaults.
          try {
            asStruct(rc, new rc(results.segment, results.byteOffset, this.limits.nestingLimit));
          } catch {
            // Not a struct: reading the results fails with capnp-es's own error.
          }
        }
        if (q.pipelined !== null) this.#embargoResults(q, results);
        q.result.bind(new ResultAnswer(results));
        break;
      }
      case RetTag.Exception:
        q.result.reject(new RpcError(typeFromWire(m.exc?.type ?? 0), m.exc?.reason ?? ''));
        break;
      case RetTag.Canceled:
        q.result.reject(new RpcError('failed', 'call was canceled by the callee'));
        break;
      case RetTag.TakeFromOtherQuestion: {
        const other = this.#answers.get(m.otherQuestion);
        if (other === undefined) throw new ProtocolError(`takeFromOtherQuestion names unknown question ${m.otherQuestion}`);
        other.transferred = true;
        q.result.bind(other.answer);
        break;
      }
      case RetTag.ResultsSentElsewhere:
        q.result.reject(
          new RpcError('failed', q.redirected ? 'results of this tail call went to the caller' : 'peer sent results elsewhere for a call that asked for them'),
        );
        break;
      default:
        q.result.reject(new RpcError('unimplemented', `Return variant ${m.kind} is not supported (Level 3)`));
        break;
    }
    if (q.closed !== null) for (const ops of q.closed) q.result.pipelineClose(ops);
    q.closed = null;
    // noFinishNeeded: the peer dropped its answer already (results without capabilities).
    if (!m.noFinishNeeded) {
      this.#env.finish(q.id, false);
      this.#sendEnv(null, true);
    }
    q.finishSent = true;
    this.#freeQuestion(q);
  }

  /**
   * rpc.capnp Disembargo: calls we pipelined on `q` may be on their way back to us (the
   * result is a capability of ours). Calls made from now on must not overtake them, so
   * each such capability is wrapped in an EmbargoHook until the peer echoes our
   * Disembargo. Returns true when an embargo was started.
   */
  #embargoResults(q: Question, results: Struct): boolean {
    let any = false;
    for (const ops of q.pipelined!.values()) {
      const c = capAt(results, ops);
      if (!(c instanceof CapHandle)) continue;
      const h = c.hook.resolved();
      if (h instanceof ImportHook && h.conn === this) continue;
      if (c.hook instanceof EmbargoHook) continue;
      const emb = new EmbargoHook(c.hook);
      c.hook = emb;
      const id = this.#nextEmbargoId++;
      (this.#embargoes = own(this.#embargoes)).set(id, emb);
      if (this.#readPaused) this.#updateReading();
      this.#env.disembargo({ kind: 'answer', questionId: q.id, ops }, EmbargoTag.SenderLoopback, id);
      this.#sendEnv(null);
      any = true;
    }
    return any;
  }

  #onDisembargo(m: Extract<Decoded, { which: Tag.Disembargo }>): void {
    if (m.ctx === EmbargoTag.ReceiverLoopback) {
      const emb = this.#embargoes.get(m.value);
      if (emb === undefined) throw new ProtocolError(`Disembargo for unknown embargo ${m.value}`);
      this.#embargoes.delete(m.value);
      this.#updateReading();
      emb.lift();
      return;
    }
    if (m.ctx !== EmbargoTag.SenderLoopback) {
      throw new ProtocolError('Disembargo accept/provide is Level 3 (unsupported)');
    }
    // Echo it back once every call we forwarded along this path has gone out: our
    // forwarding is synchronous, so they are already queued ahead of this reply.
    let c: CapHook | null = null;
    if (m.target.kind === 'import') {
      c = this.#exports.get(m.target.id)?.hook ?? null;
    } else {
      const a = this.#answers.get(m.target.questionId);
      if (a !== undefined) {
        const cl = resolvedClient(a.answer, m.target.ops);
        if (cl instanceof CapHandle) c = cl.hook;
      }
    }
    let h = c?.resolved() ?? null;
    if (h instanceof PipelineHook) {
      const cl = resolvedClient(h.answer, h.ops);
      h = cl instanceof CapHandle ? cl.hook.resolved() : null;
    }
    if (!(h instanceof ImportHook) || h.conn !== this) {
      throw new ProtocolError('Disembargo senderLoopback target does not point back to the sender');
    }
    this.#env.disembargo({ kind: 'import', id: h.id }, EmbargoTag.ReceiverLoopback, m.value);
    this.#sendEnv(null);
  }

  #onResolve(m: Extract<Decoded, { which: Tag.Resolve }>): void {
    const imp = this.#imports.get(m.promiseId);
    const handle = m.cap !== null ? this.#importCap(m.cap) : null;
    if (imp === undefined || !imp.isPromise || imp.target !== null) {
      // Already released (or not a promise): drop what it resolved to.
      handle?.close();
      return;
    }
    if (handle === null) {
      imp.target = new BrokenHook(new RpcError(typeFromWire(m.exc?.type ?? 0), m.exc?.reason ?? 'promise broken'));
      return;
    }
    if (!(handle instanceof CapHandle)) return;
    imp.targetHandle = handle;
    const h = handle.hook.resolved();
    if (imp.callsSent && !(h instanceof ImportHook && h.conn === this)) {
      // Calls we sent to the promise may come back to us: embargo the new path.
      const emb = new EmbargoHook(handle.hook);
      const id = this.#nextEmbargoId++;
      (this.#embargoes = own(this.#embargoes)).set(id, emb);
      if (this.#readPaused) this.#updateReading();
      imp.target = emb;
      this.#env.disembargo({ kind: 'import', id: imp.id }, EmbargoTag.SenderLoopback, id);
      this.#sendEnv(null);
    } else {
      imp.target = handle.hook;
    }
  }

  #onUnimplemented(innerTag: number, questionId: number): void {
    if (innerTag === Tag.Call || innerTag === Tag.Bootstrap) {
      const q = this.#questions[questionId];
      if (q !== undefined && !q.returned) {
        q.returned = true;
        q.finishSent = true;
        q.result.reject(new RpcError('unimplemented', 'peer does not implement this message'));
        this.#freeQuestion(q);
      }
    }
    // Anything else we send is optional to the peer (Resolve/Disembargo/Release of a
    // Level 1 peer that lacks them): nothing to undo beyond what the tables hold.
  }

  #sendUnimplemented(orig: $.Message): void {
    let frame: Uint8Array;
    try {
      const out = new $.Message();
      out.initRoot(RpcMessage).unimplemented = orig.getRoot(RpcMessage);
      frame = new Uint8Array(out.toArrayBuffer());
    } catch {
      // Could not copy the original: echo just its type.
      const out = new $.Message();
      const inner = out.initRoot(RpcMessage)._initUnimplemented();
      new DataView(inner.segment.buffer).setUint16(0, 0, true);
      frame = new Uint8Array(out.toArrayBuffer());
    }
    if (this.#trace !== null) this.#trace(`${this.#name} > unimplemented`);
    this.#sendRaw(frame);
  }

  /** Refuses to send content the peer would refuse (same limit both ways by default). */
  #checkSize(contentBytes: number): void {
    if (contentBytes + 4096 > this.limits.maxMessageBytes) {
      throw new RpcError('failed', `message of ${contentBytes} bytes exceeds maxMessageBytes (${this.limits.maxMessageBytes})`);
    }
  }

  // ---- questions -----------------------------------------------------------------------

  #newQuestion(): Question | RpcError {
    if (this.#closed || this.#closing !== null) return this.#error ?? new RpcError('disconnected', 'connection is closed');
    if (this.#questionCount >= this.limits.maxQuestions) {
      return new RpcError('overloaded', `too many calls in flight to the peer (maxQuestions ${this.limits.maxQuestions})`);
    }
    const id = this.#freeQuestionIds.length > 0 ? this.#freeQuestionIds.pop()! : this.#nextQuestionId++;
    const q = new Question(this, id);
    (this.#questions === NONE ? (this.#questions = []) : this.#questions)[id] = q;
    this.#questionCount++;
    if (this.#idleTimer !== null) this.#busyChanged();
    if (this.#readPaused) this.#updateReading();
    return q;
  }

  #freeQuestion(q: Question): void {
    if (this.#questions[q.id] === q && q.returned && q.finishSent) {
      this.#questions[q.id] = undefined;
      this.#questionCount--;
      (this.#freeQuestionIds === NONE ? (this.#freeQuestionIds = []) : this.#freeQuestionIds).push(q.id);
      if (this.#idleTimer !== null) this.#busyChanged();
      if (this.#questionCount === 0) this.#updateReading();
      this.#wakeDrain();
    }
  }

  #cancelQuestion(q: Question, reason: unknown): void {
    if (q.returned || q.cancelled) return;
    q.cancelled = true;
    q.finishSent = true;
    this.#env.finish(q.id, true);
    this.#sendEnv(null);
    q.result.reject(new RpcError('failed', 'call cancelled', { cause: reason, abort: true }));
  }

  /** Internal (DirectReads): where the next read goes. */
  _readTarget(): Uint8Array {
    return this.#reader.readTarget();
  }

  /** Internal (DirectReads): `n` bytes were read into the last _readTarget(). */
  _readInto(n: number): void {
    this.#onRead(n);
  }

  /** Internal (DirectReads): bytes read into some other buffer. */
  _readData(chunk: Uint8Array): void {
    this.#onData(chunk);
  }

  /**
   * Sends a call to the peer (internal: used by imports and question pipelines).
   * Never throws; returns the Question as the answer.
   */
  _sendCall(target: Target, call: Call<Struct, Struct>): Answer<Struct> {
    const q = this.#newQuestion();
    if (q instanceof RpcError) return new BrokenAnswer(q);
    let content: Uint8Array;
    // Made only when the params hold capabilities (most calls pass none).
    let exportsOut: number[] | null = null;
    let caps: readonly CapDesc[] = NO_CAPS;
    let ownParams: $.Message | null = null;
    try {
      let msg: $.Message;
      if ($.isDataCall(call)) {
        const p = call.params;
        msg = p.segment.message;
        if (!(msg._capnp.arena.kind === SINGLE_SEGMENT && msg._capnp.segments.length === 1 && p.segment.id === 0 && p.byteOffset === 0)) {
          msg = copyRoot(p);
        }
      } else {
        msg = this.#pool.get();
        ownParams = msg;
        const p = msg.initRoot(call.method.ParamsClass);
        call.paramsFunc?.(p);
      }
      const seg = msg.getSegment(0);
      content = new Uint8Array(seg.buffer, 0, seg.byteLength);
      this.#checkSize(content.length);
      const table = msg._capnp.capTable;
      if (table !== undefined && table.length > 0) {
        const out: number[] = (exportsOut = []);
        caps = table.map((c) => this.#describe(c, out));
      }
    } catch (e) {
      if (exportsOut !== null) for (const id of exportsOut) this.#releaseExport(id, 1);
      q.returned = true;
      q.finishSent = true;
      this.#freeQuestion(q);
      return new BrokenAnswer(toRpcError(e));
    }
    if (exportsOut !== null) q.paramExports = exportsOut;
    const rc = call.method.ResultsClass;
    if (rc._capnp.size.dataByteLength > 0 || rc._capnp.size.pointerLength > 0) q.resultsClass = rc;
    const opts = callOptions(call);
    const signal = opts?.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        for (const id of q.paramExports) this.#releaseExport(id, 1);
        q.returned = true;
        q.finishSent = true;
        this.#freeQuestion(q);
        return new BrokenAnswer(new RpcError('failed', 'call cancelled', { cause: signal.reason, abort: true }));
      }
      q.signal = signal;
      q.onAbort = () => this.#cancelQuestion(q, signal.reason);
      signal.addEventListener('abort', q.onAbort, { once: true });
    }
    if (target.kind === 'import') {
      const imp = this.#imports.get(target.id);
      if (imp !== undefined) imp.callsSent = true;
    }
    // A tail call of a call this same peer made: its results can go straight back to it.
    const tail = opts?.tailOf;
    if (tail instanceof AnswerEntry && this.#answers.get(tail.id) === tail && !tail.returned && !tail.redirected) {
      q.redirected = true;
    }
    this.#env.call(q.id, target, call.method.interfaceId, call.method.methodId, true, caps, q.redirected ? 1 : 0);
    this.#sendEnv(content);
    if (ownParams !== null && content.length <= SMALL) {
      // The params were copied into the write batch; the caller's caps in them stay the
      // caller's. (Params built in paramsFunc must not be used after the call.)
      if ((ownParams._capnp.capTable?.length ?? 0) > 0) ownParams._capnp.capTable = [];
      this.#pool.put(ownParams);
    }
    return q;
  }

  // ---- capabilities in messages --------------------------------------------------------

  /** CapDescriptor for a capability we are sending; records export ids in `exportsOut`. */
  #describe(c: Client | null, exportsOut: number[]): CapDesc {
    if (c === null || c === undefined) return { tag: CapTag.None, id: 0, ops: null };
    if (c instanceof CapHandle) {
      if (c.closed) throw new RpcError('failed', 'a released capability was put in a message');
      let h = c.hook;
      for (;;) {
        const r = h.resolved();
        if (r === h) break;
        h = r;
      }
      if (h instanceof ImportHook && h.conn === this) return { tag: CapTag.ReceiverHosted, id: h.id, ops: null };
      if (h instanceof PipelineHook) return this.#describePipeline(h.answer, h.ops, h, exportsOut);
      if (h instanceof BrokenHook) return this.#exportHook(h, h, false, exportsOut);
      return this.#exportHook(h, h, false, exportsOut);
    }
    if (isPipelineClient(c)) return this.#describePipeline(c.pipeline.answer, c.transform(), null, exportsOut);
    // A foreign capnp-es Client: export it as is (keyed by identity).
    const known = this.#exports.get(c);
    if (known !== undefined) return this.#exportHook(known.hook, c, false, exportsOut);
    return this.#exportHook(new ClientHook(c), c, false, exportsOut, true);
  }

  #describePipeline(answer: Answer<Struct>, ops: PipelineOp[], hook: PipelineHook | null, exportsOut: number[]): CapDesc {
    if (answer instanceof Question && answer.conn === this && !answer.returned && !answer.cancelled) {
      return { tag: CapTag.ReceiverAnswer, id: answer.id, ops };
    }
    const r = resolvedClient(answer, ops);
    if (r !== undefined) return this.#describe(r, exportsOut);
    // Still pending elsewhere: export a promise and Resolve it later.
    const key = hook ?? answer;
    const h = hook ?? new PipelineHook(answer, ops, false);
    return this.#exportHook(h, key === answer ? promiseKey(answer, ops) : key, true, exportsOut, hook === null);
  }

  #exportHook(h: CapHook, key: object, promise: boolean, exportsOut: number[], fresh = false): CapDesc {
    let e = this.#exports.get(key);
    if (e === undefined) {
      if (this.#exportCount >= this.limits.maxExports) {
        throw new RpcError('overloaded', `too many capabilities exported to the peer (maxExports ${this.limits.maxExports})`);
      }
      const id = this.#freeExportIds.length > 0 ? this.#freeExportIds.pop()! : this.#nextExportId++;
      if (!fresh) h.addRef();
      e = { id, hook: h, key, refs: 0, promise };
      const table = (this.#exports = own(this.#exports));
      table.set(id, e);
      table.set(key, e);
      this.#exportCount++;
      if (promise) this.#watchPromise(e);
    }
    e.refs++;
    exportsOut.push(e.id);
    return { tag: e.promise ? CapTag.SenderPromise : CapTag.SenderHosted, id: e.id, ops: null };
  }

  /** When an exported promise settles, tell the peer (Resolve). */
  #watchPromise(e: ExportEntry): void {
    const h = e.hook as PipelineHook;
    h.answer.struct().then(
      () => this.#guard(() => {
        if (this.#exports.get(e.id) !== e || this.#closed) return;
        const r = resolvedClient(h.answer, h.ops);
        if (r === undefined || r === null) {
          this.#env.resolveException(e.id, { type: 0, reason: 'promise resolved to a null capability' });
          this.#sendEnv(null);
          return;
        }
        const out: number[] = [];
        let d: CapDesc;
        try {
          d = this.#describe(r, out);
        } catch (err) {
          const x = toRpcError(err);
          this.#env.resolveException(e.id, { type: typeToWire(x.type), reason: reasonForWire(x) });
          this.#sendEnv(null);
          return;
        }
        this.#env.resolveCap(e.id, d);
        this.#sendEnv(null);
      }),
      (err: unknown) => this.#guard(() => {
        if (this.#exports.get(e.id) !== e || this.#closed) return;
        const x = toRpcError(err);
        this.#env.resolveException(e.id, { type: typeToWire(x.type), reason: reasonForWire(x) });
        this.#sendEnv(null);
      }),
    );
  }

  #releaseExport(id: number, count: number): void {
    const e = this.#exports.get(id);
    if (e === undefined) throw new ProtocolError(`Release of unknown export ${id}`);
    if (count > e.refs) throw new ProtocolError(`Release of ${count} references to export ${id}, which has ${e.refs}`);
    e.refs -= count;
    if (e.refs > 0) return;
    this.#exports.delete(id);
    this.#exports.delete(e.key);
    this.#exportCount--;
    (this.#freeExportIds === NONE ? (this.#freeExportIds = []) : this.#freeExportIds).push(id);
    e.hook.release();
  }

  /** A Client for a capability the peer sent us (we own the returned reference). */
  #importCap(d: CapDesc): Client | null {
    switch (d.tag) {
      case CapTag.None:
        return null;
      case CapTag.SenderHosted:
      case CapTag.SenderPromise: {
        let imp = this.#imports.get(d.id);
        if (imp === undefined) {
          if (this.#imports.size >= this.limits.maxImports) {
            throw new ProtocolError(`peer sent more than maxImports (${this.limits.maxImports}) capabilities`);
          }
          imp = new ImportHook(this, d.id, d.tag === CapTag.SenderPromise);
          (this.#imports = own(this.#imports)).set(d.id, imp);
        } else {
          imp.addRef();
        }
        imp.remoteRefs++;
        return new CapHandle(imp);
      }
      case CapTag.ReceiverHosted: {
        const e = this.#exports.get(d.id);
        if (e === undefined) return new CapHandle(new BrokenHook(new RpcError('failed', `peer named unknown export ${d.id}`)));
        e.hook.addRef();
        return new CapHandle(e.hook);
      }
      case CapTag.ReceiverAnswer: {
        const a = this.#answers.get(d.id);
        if (a === undefined) return new CapHandle(new BrokenHook(new RpcError('failed', `peer named unknown answer ${d.id}`)));
        return new CapHandle(new PipelineHook(a.answer, d.ops ?? [], false));
      }
      case CapTag.ThirdPartyHosted:
        return new CapHandle(new BrokenHook(new RpcError('unimplemented', 'third-party capabilities are Level 3 (unsupported)')));
    }
  }

  /** Internal: our last reference to an import went away. */
  _releaseImport(imp: ImportHook): void {
    if (this.#imports.get(imp.id) === imp) {
      this.#imports.delete(imp.id);
      if (!this.#closed && imp.remoteRefs > 0) {
        this.#env.release(imp.id, imp.remoteRefs);
        this.#sendEnv(null, true);
      }
    }
    imp.remoteRefs = 0;
    const t = imp.targetHandle;
    imp.targetHandle = null;
    t?.close();
  }

  // ---- idleness ------------------------------------------------------------------------

  /**
   * The tables changed size: note when the connection went quiet (no question awaiting a
   * Return, no answer awaiting a Finish) or stopped being so. Only when an idle timeout
   * is set; one clock read per transition, none per message.
   */
  #busyChanged(): void {
    if (this.#idleTimer === null) return;
    if (this.#questionCount === 0 && this.#answers.size === 0) {
      if (this.#idleSince < 0) this.#idleSince = performance.now();
    } else {
      this.#idleSince = -1;
    }
  }

  /**
   * One timer per connection, re-armed when it fires (not per call): it aborts the
   * connection once it has been quiet for idleTimeoutMs, else waits for the rest of it.
   */
  #armIdle(delay: number): void {
    this.#idleTimer = setTimeout(() => {
      if (this.#closed) return;
      const ms = this.limits.idleTimeoutMs;
      const quietFor = this.#idleSince < 0 ? 0 : performance.now() - this.#idleSince;
      if (this.#idleSince >= 0 && quietFor >= ms) {
        this.#abort(new ProtocolError(`idle for ${Math.round(quietFor)} ms (idleTimeoutMs ${ms})`));
        return;
      }
      this.#armIdle(Math.max(1, ms - quietFor));
    }, delay);
    this.#idleTimer.unref();
  }

  // ---- ending --------------------------------------------------------------------------

  #wakeDrain(): void {
    const w = this.#drainWaiters;
    if (w === null) return;
    this.#drainWaiters = null;
    for (const f of w) f();
  }

  /** Runs `f`; an exception (our bug) aborts the connection instead of escaping. */
  #guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.#abort(e);
    }
  }

  /** Protocol error (or our own bug while handling input): Abort, then close. */
  #abort(e: unknown): void {
    if (this.#closed) return;
    const reason = e instanceof ProtocolError ? e.message : `internal error handling a message: ${e instanceof Error ? e.message : String(e)}`;
    const exc: WireException = { type: 0, reason };
    if (this.#trace !== null) this.#trace(`${this.#name} ! abort: ${reason}`);
    this.#env.abort(exc);
    this.#sendEnv(null);
    this.#flush();
    // Nothing more is read from a peer that broke the protocol: its bytes would be read
    // only to be dropped (a peer that announces a frame over the limit and keeps sending
    // made the server read and drop 256 KiB per connection).
    const stream = this.#stream;
    stream.pause();
    const linger = !this.#authenticated && this.limits.abortLingerMs > 0 && !stream.destroyed;
    if (linger) {
      // Not yet authenticated: the socket stays open, unread, for abortLingerMs, so that a
      // peer reconnecting as soon as it is cut does so at that pace (limits.ts). Set
      // before the shutdown, which otherwise destroys the socket 100 ms later.
      this.#lingering = setTimeout(() => stream.destroy(), this.limits.abortLingerMs);
      this.#lingering.unref();
    }
    this.#shutdown(RpcError.withoutStack('disconnected', `connection aborted: ${reason}`));
    // Otherwise the socket is closed as soon as the Abort is written (the shutdown
    // destroys it 100 ms later in any case).
    if (!linger) stream.end(() => stream.destroy());
  }

  /**
   * The connection is over: every question fails, every export is released (servers
   * disposed), imports break. Tables are emptied before entries are released (STYLE 5).
   */
  /**
   * #shutdown with a `disconnected` RpcError, made only if the connection was not over
   * already (a socket's 'end' and 'close' both come here; one error is enough).
   */
  #disconnected(message: string): void {
    if (!this.#closed) this.#shutdown(RpcError.withoutStack('disconnected', message));
  }

  #shutdown(err: RpcError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = err;
    this.#peer?.connectionClosing();
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#handshakeTimer = null;
    this.#poolAfterWrite = NONE;
    const questions = this.#questions.filter((q) => q !== undefined);
    const answers = [...this.#answers.values()];
    const exports: ExportEntry[] = [];
    for (const [k, e] of this.#exports) if (typeof k === 'number') exports.push(e);
    const imports = [...this.#imports.values()];
    const embargoes = [...this.#embargoes.values()];
    this.#heldAtClose = questions.length + answers.length + exports.length + imports.length;
    this.#questions = NONE;
    this.#questionCount = 0;
    this.#answers.clear();
    this.#exports.clear();
    this.#exportCount = 0;
    this.#imports.clear();
    this.#embargoes.clear();
    this.#answersPending = 0;
    for (const q of questions) {
      if (q.signal !== null && q.onAbort !== null) q.signal.removeEventListener('abort', q.onAbort);
      if (!q.returned && !q.cancelled) {
        q.returned = true;
        q.result.reject(err);
      }
    }
    for (const imp of imports) {
      const broken = new BrokenHook(err);
      const t = imp.targetHandle;
      imp.targetHandle = null;
      imp.target = broken;
      t?.close();
    }
    for (const emb of embargoes) emb.lift(err);
    for (const a of answers) {
      a.abort();
      a.finished = true;
      if (a.paramMsg !== null) closeCapTable(a.paramMsg);
      if (a.paramCaps !== null) closeCaps(a.paramCaps);
      if (a.resultMsg !== null && !a.transferred) closeCapTable(a.resultMsg);
    }
    for (const e of exports) {
      try {
        e.hook.release();
      } catch {
        // Disposers never throw.
      }
    }
    const b = this.#bootstrap;
    this.#bootstrap = null;
    b?.close();
    this.#chunk0 = null;
    this.#chunks = null;
    this.#wakeDrain();
    this.#resolveClosed?.();
    this.#resolveClosed = null;
    if (!this.#stream.destroyed && this.#lingering === null) {
      // Let a pending Abort/flush go out; destroy soon after.
      const t = setTimeout(() => this.#stream.destroy(), 100);
      t.unref();
    }
  }

  #traceOut(env: Uint8Array, content: Uint8Array | null): void {
    try {
      const segs = [env.slice().buffer];
      if (content !== null) segs.push(content.slice().buffer);
      this.#trace!(`${this.#name} > ${describeDecoded(decode(new WireReader(segs), 1 << 20))}`);
    } catch (e) {
      this.#trace!(`${this.#name} > (undecodable: ${(e as Error).message})`);
    }
  }
}

const promiseKeys = new WeakMap<object, Map<string, object>>();
/** A stable identity for "field `ops` of `answer`", to deduplicate promise exports. */
function promiseKey(answer: object, ops: readonly PipelineOp[]): object {
  let m = promiseKeys.get(answer);
  if (m === undefined) {
    m = new Map();
    promiseKeys.set(answer, m);
  }
  const k = opsKey(ops);
  let o = m.get(k);
  if (o === undefined) {
    o = {};
    m.set(k, o);
  }
  return o;
}

/**
 * The client at `ops` of `answer` if the answer is settled (null: no capability there,
 * or the answer failed), undefined while pending.
 */
function resolvedClient(answer: Answer<Struct>, ops: readonly PipelineOp[]): Client | null | undefined {
  let a: Answer<Struct> | null = answer;
  for (let i = 0; i < 64 && a !== null; i++) {
    if (a instanceof ResultAnswer) return capAt(a.results, ops);
    if (a instanceof BrokenAnswer) return null;
    if (a instanceof Question) a = a.result;
    else if (a instanceof DeferredAnswer) {
      if (!a.bound) return undefined;
      a = a.target;
    } else return undefined;
  }
  return undefined;
}
