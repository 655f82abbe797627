/**
 * Capabilities and answers as capnp-es sees them.
 *
 * The generated typed clients (`X$Client`) wrap a capnp-es `Client` (`call(call) →
 * Answer`, `close()`), and `$.Pipeline` calls `Answer.pipelineCall(transform, call)` /
 * `pipelineClose(transform)`. This file holds our implementations of those two
 * interfaces, shared by local servers and connections:
 *
 * - `CapHook`: one capability (a local object, an import, an embargo...) with a
 *   reference count. `CapHandle`: one owned reference to a hook; it is the `Client`
 *   the typed classes hold; `close()` drops the reference, once.
 * - `DeferredAnswer`: an answer not known yet; calls pipelined on it queue, in order,
 *   until it is bound to the real answer (no queue cap, no hang).
 * - `ResultAnswer`: a finished call's results; pipelined calls go to the capability at
 *   the transform's pointer.
 * - `BrokenAnswer` / `BrokenHook`: everything fails with one RpcError.
 */
import * as $ from 'capnp-es';
import type { Call, Client, Pointer, Struct } from 'capnp-es';
import { RpcError } from './failure.js';

/** One step of a promise-pipeline transform: a pointer field index (capnp-es's PipelineOp). */
export interface PipelineOp {
  field: number;
  defaultValue?: Pointer;
}

/** capnp-es's Answer interface (not exported by capnp-es; structurally identical). */
export interface Answer<R extends Struct> {
  struct(): Promise<R>;
  /**
   * The results read as `cls` (as capnp-es's `Pipeline.struct()` reads them: a new `cls`
   * at the results' pointer), or as they are when `cls` is null. Optional: capnp-es's
   * root `Pipeline.struct()` calls it when present (capnp-es patch), so a typed call's
   * `promise()` settles straight from the answer, without the generic path's async
   * function and its extra promise step per call.
   */
  structAs?<T extends Struct>(cls: $.StructCtor<T> | null): Promise<T>;
  pipelineCall<P extends Struct, R2 extends Struct>(transform: PipelineOp[], call: Call<P, R2>): Answer<R2>;
  pipelineClose(transform: PipelineOp[]): void;
}

/** A struct of no particular type: how received content is held before a method casts it. */
export class AnyStruct extends $.Struct {
  static override readonly _capnp = { displayName: 'AnyStruct', id: '0', size: new $.ObjectSize(0, 0) };
}

// capnp-es does not export SingleSegmentArena; take the class from a probe message.
const SingleSegmentArena = new $.Message()._capnp.arena.constructor as new (buffer: ArrayBuffer) => object;

/**
 * A new, empty single-segment message. capnp-es's `new Message()` starts with a zeroed
 * 4 KiB buffer; most params and results are tens of bytes, and that allocation was a
 * large part of the per-call cost (and of the GC time). The arena grows as needed.
 */
export function newMessage(initialBytes = 256): $.Message {
  const msg = new $.Message(new SingleSegmentArena(new ArrayBuffer(initialBytes)) as never);
  // A message made from an arena treats the buffer as already used (it is how received
  // messages are read); for building, start empty: getSegment(0) then allocates the root.
  msg._capnp.segments = [];
  return msg;
}

/**
 * A per-connection pool of small single-segment messages for params and results that
 * the connection alone holds once they are sent (a call's params after the Call is
 * written; a served call's results after Finish). Reusing them avoids an ArrayBuffer, a
 * DataView and a few objects per message, which showed up as most of the GC time.
 *
 * A message must reach the pool once per `get()`, and only when nothing reads or writes
 * it any more: one put too many hands the same message to two later owners (each
 * building its results over the other's). With checks on (`NS_DEBUG=pool`, or
 * `new MessagePool(true)`) the pool finds such mistakes where they happen: a second put
 * throws naming where the first was made; a message in the pool is filled with a poison
 * byte (an owner still reading it reads garbage, not plausible zeros), a capability put
 * in it throws, and any other write to it is found when it is taken again.
 */
export class MessagePool {
  readonly #free: $.Message[] = [];
  readonly #mine = new WeakSet<$.Message>();
  /** Bytes of buffers held by the free messages. */
  #freeBytes = 0;
  /** With checks on: the messages handed out by get() and not put back since. */
  readonly #out: WeakSet<$.Message> | null;
  /** With checks on: where each message was last put (a stack), to name it at a second put. */
  readonly #putAt: WeakMap<$.Message, string> | null;

  constructor(checks = POOL_CHECKS) {
    this.#out = checks ? new WeakSet() : null;
    this.#putAt = checks ? new WeakMap() : null;
  }

  /** Whether `msg` came from this pool's `get()` (and was not let go since). */
  owns(msg: $.Message): boolean {
    return this.#mine.has(msg);
  }

  get(): $.Message {
    const m = this.#free.pop();
    if (m !== undefined) {
      this.#freeBytes -= m._capnp.segments[0]!.buffer.byteLength;
      if (this.#out !== null) this.#takeChecked(m);
      return m;
    }
    const msg = newMessage();
    this.#mine.add(msg);
    this.#out?.add(msg);
    return msg;
  }

  /**
   * Takes back a message from `get()` (others are ignored). Its cap table must be empty
   * and nothing may still read its buffer (the connection puts results back after the
   * peer's Finish, so their bytes are long written). Messages that grew (a 64 KiB Data
   * result) are kept too, within POOL_BYTES, so repeated large results reuse their buffer
   * instead of allocating and zeroing a new one, and feeding the GC, each time.
   * @throws Error with checks on, for a message put back twice since it was taken (kept
   *   in the pool or not), or with capabilities in its cap table.
   */
  put(msg: $.Message): void {
    const checks = this.#out !== null;
    if (checks && this.#mine.has(msg)) this.#putChecked(msg);
    if (!this.#mine.has(msg) || this.#free.length >= 64) return;
    const seg = msg._capnp.segments[0];
    const size = seg?.buffer.byteLength ?? 0;
    if (seg === undefined || msg._capnp.segments.length !== 1 || size > POOL_MAX_MESSAGE || this.#freeBytes + size > POOL_BYTES) {
      // Not kept. With checks on it stays known as ours, so that a second put still throws.
      if (!checks) this.#mine.delete(msg);
      return;
    }
    this.#freeBytes += size;
    if (checks) {
      // The whole buffer, not only the used part: capnp-es allocates from it assuming zeros.
      new Uint8Array(seg.buffer).fill(POISON);
      const at = this.#putAt!.get(msg)!;
      Object.defineProperty(msg, 'addCap', {
        configurable: true,
        writable: true,
        value: () => {
          throw poolError('a capability was put in a message that is in the pool', at);
        },
      });
    } else {
      new Uint8Array(seg.buffer, 0, seg.byteLength).fill(0);
    }
    // Keep the root pointer word allocated, as getSegment(0) leaves a new message.
    seg.byteLength = 8;
    msg._capnp.traversalLimit = RESET_TRAVERSAL;
    this.#free.push(msg);
  }

  #putChecked(msg: $.Message): void {
    if (!this.#out!.has(msg)) {
      throw poolError('a message was put in the pool twice', this.#putAt!.get(msg) ?? ' (where: not recorded)');
    }
    this.#out!.delete(msg);
    const at = new Error('put here').stack ?? '';
    this.#putAt!.set(msg, at);
    if ((msg._capnp.capTable?.length ?? 0) > 0) throw poolError('a message was put in the pool with capabilities in its cap table', at);
  }

  #takeChecked(msg: $.Message): void {
    this.#out!.add(msg);
    delete (msg as { addCap?: unknown }).addCap;
    const seg = msg._capnp.segments[0]!;
    const bytes = new Uint8Array(seg.buffer);
    if (msg._capnp.segments.length !== 1 || seg.byteLength !== 8 || (msg._capnp.capTable?.length ?? 0) > 0 || bytes.some((b) => b !== POISON)) {
      throw poolError('a message was written to while it was in the pool', this.#putAt!.get(msg) ?? '');
    }
    bytes.fill(0);
  }
}

/** What a message in a checking pool is filled with. */
const POISON = 0xa5;

function poolError(what: string, putAt: string): Error {
  const err = new Error(`rpc message pool: ${what} (NS_DEBUG=pool). It was put in the pool ${putAt.replace(/^Error: put here\n/, '\n')}`);
  // Also on stderr: the error may be thrown where it can only shut a connection down.
  process.stderr.write(`${err.stack ?? err.message}\n`);
  return err;
}

/**
 * Whether NS_DEBUG asks for pool checks: read once per process (it was read for every
 * pool, that is every connection: 7 µs of each accept under a flood of connections).
 */
const POOL_CHECKS = (process.env['NS_DEBUG'] ?? '').split(/[,\s]+/).includes('pool');

const RESET_TRAVERSAL = newMessage()._capnp.traversalLimit;

/** The largest message a pool keeps, and the bytes it keeps in all (per pool: a connection, or a listener's connections). */
const POOL_MAX_MESSAGE = 1 << 20;
const POOL_BYTES = 2 << 20;

/** Per-call options travel on the capnp-es Call object under this key. */
export const kCallOptions = Symbol('ns.rpc.callOptions');

/** Options of one call: cancellation, and where a server call came from. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Where the callee should build its results (a connection's message pool). */
  resultsMessage?(): $.Message;
  /**
   * Takes back a message from `resultsMessage()` that the callee did not answer with (a
   * method that answered by a tail call), once nothing reads it any more.
   */
  resultsUnused?(msg: $.Message): void;
  /**
   * Set on a call made as a tail call of the served call `tailOf` (the connection's
   * record of it): if both go over the same connection, the call is sent with
   * `sendResultsTo.yourself` and the served call answered `takeFromOtherQuestion`.
   */
  tailOf?: object;
}

/** Reads the options attached to a call object (undefined when none). */
export function callOptions(call: Call<Struct, Struct>): CallOptions | undefined {
  return (call as { [kCallOptions]?: CallOptions })[kCallOptions];
}

/** One capability, reference counted by the handles that point at it. */
export interface CapHook {
  /** Delivers a call. Never throws: failures come back as a rejecting Answer. */
  call(call: Call<Struct, Struct>): Answer<Struct>;
  addRef(): void;
  release(): void;
  /** The hook calls are really delivered to now (itself unless it forwards). */
  resolved(): CapHook;
}

/** An owned reference to a hook: the capnp-es `Client` inside every typed client. */
export class CapHandle implements Client {
  hook: CapHook;
  closed = false;

  /** Takes ownership of one reference on `hook`. */
  constructor(hook: CapHook) {
    this.hook = hook;
  }

  call<P extends Struct, R extends Struct>(call: Call<P, R>): Answer<R> {
    if (this.closed) {
      return new BrokenAnswer(new RpcError('failed', 'call on a released capability')) as unknown as Answer<R>;
    }
    return this.hook.call(call) as unknown as Answer<R>;
  }

  /** Drops this reference (idempotent; never throws). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.hook.release();
    } catch {
      // Disposers never throw (STYLE.md section 5).
    }
  }

  /** A new, independently owned reference to the same capability. */
  dup(): CapHandle {
    if (this.closed) return new CapHandle(new BrokenHook(new RpcError('failed', 'capability was released')));
    this.hook.addRef();
    return new CapHandle(this.hook);
  }

  /**
   * A reference to the same capability that does not keep it alive (see `borrowClient`):
   * no count taken, and closing it gives none back.
   */
  borrow(): CapHandle {
    if (this.closed) return new CapHandle(new BrokenHook(new RpcError('failed', 'capability was released')));
    return new BorrowedHandle(this.hook);
  }
}

/** CapHandle.borrow's: closing it only stops it. */
class BorrowedHandle extends CapHandle {
  override close(): void {
    this.closed = true;
  }
}

/** Hook base with a plain reference count; `dispose()` runs when it reaches zero. */
export abstract class RefHook implements CapHook {
  refs = 1;

  abstract call(call: Call<Struct, Struct>): Answer<Struct>;

  addRef(): void {
    this.refs++;
  }

  release(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0) this.dispose();
  }

  resolved(): CapHook {
    return this;
  }

  protected abstract dispose(): void;
}

/** A capability that fails every call with one error. */
export class BrokenHook implements CapHook {
  constructor(readonly error: RpcError) {}
  call(): Answer<Struct> {
    return new BrokenAnswer(this.error);
  }
  addRef(): void {}
  release(): void {}
  resolved(): CapHook {
    return this;
  }
}

/** An answer that failed. Pipelined calls on it fail the same way. */
export class BrokenAnswer implements Answer<Struct> {
  constructor(readonly error: RpcError) {}
  struct(): Promise<Struct> {
    // Created lazily: a rejected promise nobody asked for would be an unhandled rejection.
    return Promise.reject(this.error);
  }
  structAs<T extends Struct>(): Promise<T> {
    return Promise.reject(this.error);
  }
  pipelineCall<P extends Struct, R extends Struct>(_ops: PipelineOp[], _call: Call<P, R>): Answer<R> {
    return this as unknown as Answer<R>;
  }
  pipelineClose(): void {}
}

/**
 * The client at `ops` inside `root` (a results struct or an interface pointer), or null
 * when the path does not lead to a capability. Never throws.
 */
export function capAt(root: Pointer, ops: readonly PipelineOp[]): Client | null {
  try {
    let p: Pointer = root;
    for (const op of ops) {
      if ($.utils.isNull(p) || $.utils.getTargetPointerType(p) !== $.PointerType.STRUCT) return null;
      const s = new AnyStruct(p.segment, p.byteOffset, p._capnp.depthLimit);
      p = $.utils.getPointer(op.field, s);
    }
    if ($.utils.isNull(p) || $.utils.getTargetPointerType(p) !== $.PointerType.OTHER) return null;
    const f = $.utils.followFars(p);
    const id = $.utils.getCapabilityId(f);
    const table = p.segment.message._capnp.capTable;
    return table?.[id] ?? null;
  } catch {
    return null;
  }
}

/** Closes every capability in a message's cap table (the message owned them). */
export function closeCapTable(msg: $.Message): void {
  const t = msg._capnp.capTable;
  if (t === undefined) return;
  msg._capnp.capTable = [];
  for (const c of t) {
    try {
      c?.close();
    } catch {
      // Foreign clients may throw from close(); ours never do.
    }
  }
}

/** A finished call's results. Pipelined calls go to the capability at the transform. */
export class ResultAnswer implements Answer<Struct> {
  constructor(readonly results: Struct) {}
  struct(): Promise<Struct> {
    return Promise.resolve(this.results);
  }
  structAs<T extends Struct>(cls: $.StructCtor<T> | null): Promise<T> {
    try {
      return Promise.resolve(readAs(this.results, cls));
    } catch (e) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- capnp-es throws Errors
      return Promise.reject(e as Error);
    }
  }
  pipelineCall<P extends Struct, R extends Struct>(ops: PipelineOp[], call: Call<P, R>): Answer<R> {
    const c = capAt(this.results, ops);
    if (c === null) return new BrokenAnswer(new RpcError('failed', 'pipelined call on a field that holds no capability')) as unknown as Answer<R>;
    return c.call(call);
  }
  pipelineClose(ops: PipelineOp[]): void {
    capAt(this.results, ops)?.close();
  }
}

/**
 * `s` read as `cls` (null: as it is): what capnp-es's `Pipeline.struct()` does with the
 * root results, `utils.getAs`. Throws what capnp-es throws (a depth or traversal limit).
 */
function readAs<T extends Struct>(s: Struct, cls: $.StructCtor<T> | null): T {
  if (cls === null) return s as T;
  return new cls(s.segment, s.byteOffset, s._capnp.depthLimit, s._capnp.compositeIndex);
}

/** `a`'s results read as `cls`, through its `structAs` when it has one. */
function structOf<T extends Struct>(a: Answer<Struct>, cls: $.StructCtor<T> | null): Promise<T> {
  if (a.structAs !== undefined) return a.structAs(cls);
  return cls === null ? (a.struct() as Promise<T>) : a.struct().then((s) => readAs(s, cls));
}

interface Waiter {
  resolve: (s: Struct) => void;
  reject: (e: unknown) => void;
  cls: $.StructCtor<Struct> | null;
}

/** Settles `w` from `a`: a settled answer of ours directly, without extra promise steps. */
function settleWaiter(w: Waiter, a: Answer<Struct>): void {
  if (a instanceof ResultAnswer) {
    try {
      w.resolve(readAs(a.results, w.cls));
    } catch (e) {
      w.reject(e);
    }
  } else if (a instanceof BrokenAnswer) w.reject(a.error);
  else structOf(a, w.cls).then(w.resolve, w.reject);
}

type Queued =
  | { ops: PipelineOp[]; call: Call<Struct, Struct>; child: DeferredAnswer }
  | { ops: PipelineOp[]; call: null; child: null };

/**
 * An answer to be known later. Calls pipelined before `bind()` queue (unbounded, in
 * order) and are delivered by `bind()` before any later call, preserving E-order.
 */
export class DeferredAnswer implements Answer<Struct> {
  #target: Answer<Struct> | null = null;
  // Most answers (a call awaited once, no pipelining) have one waiter and nothing queued:
  // the first waiter is kept in #first, the queue and further waiters in arrays made on
  // first use.
  #queue: Queued[] | null = null;
  #first: Waiter | null = null;
  #waiters: Waiter[] | null = null;

  get bound(): boolean {
    return this.#target !== null;
  }

  /** The answer this one was bound to (null while pending). */
  get target(): Answer<Struct> | null {
    return this.#target;
  }

  struct(): Promise<Struct> {
    return this.structAs(null);
  }

  structAs<T extends Struct>(cls: $.StructCtor<T> | null): Promise<T> {
    if (this.#target !== null) return structOf(this.#target, cls);
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = { resolve: resolve as (s: Struct) => void, reject, cls };
      if (this.#first === null) this.#first = w;
      else (this.#waiters ??= []).push(w);
    });
  }

  pipelineCall<P extends Struct, R extends Struct>(ops: PipelineOp[], call: Call<P, R>): Answer<R> {
    if (this.#target !== null) return this.#target.pipelineCall(ops, call);
    const child = new DeferredAnswer();
    (this.#queue ??= []).push({ ops, call: call as unknown as Call<Struct, Struct>, child });
    return child as unknown as Answer<R>;
  }

  pipelineClose(ops: PipelineOp[]): void {
    if (this.#target !== null) this.#target.pipelineClose(ops);
    else (this.#queue ??= []).push({ ops, call: null, child: null });
  }

  /** Binds to the real answer and delivers the queue. Later binds are ignored. */
  bind(a: Answer<Struct>): void {
    if (this.#target !== null) return;
    this.#target = a;
    const q = this.#queue;
    this.#queue = null;
    if (q !== null) {
      for (const e of q) {
        try {
          if (e.call !== null) e.child.bind(a.pipelineCall(e.ops, e.call));
          else a.pipelineClose(e.ops);
        } catch (err) {
          if (e.child !== null) e.child.bind(new BrokenAnswer(err instanceof RpcError ? err : new RpcError('failed', String(err))));
        }
      }
    }
    const first = this.#first;
    const w = this.#waiters;
    this.#first = null;
    this.#waiters = null;
    if (first !== null) settleWaiter(first, a);
    if (w !== null) for (const x of w) settleWaiter(x, a);
    const l = this.#listeners;
    this.#listeners = null;
    if (l !== null) for (const f of l) f(a);
  }

  #listeners: Array<(a: Answer<Struct>) => void> | null = null;

  /**
   * Calls `f` with the real answer once bound (at once if already bound): the cheap,
   * promise-free way for the connection to learn that a call it serves finished.
   */
  whenBound(f: (a: Answer<Struct>) => void): void {
    if (this.#target !== null) f(this.#target);
    else (this.#listeners ??= []).push(f);
  }

  reject(err: RpcError): void {
    this.bind(new BrokenAnswer(err));
  }
}

/**
 * Calls `f` once `answer` settles: with undefined when it has results, with the error
 * when it failed. An answer of ours (DeferredAnswer, ResultAnswer, BrokenAnswer) is
 * followed without a promise (DeferredAnswer.whenBound): `struct()` on a pending one
 * makes a promise and its reactions, per call, for what is only a notification.
 * Others are waited on through `struct()`. `f` must not throw.
 */
export function whenSettled(answer: Answer<Struct>, f: (error: RpcError | undefined) => void): void {
  if (answer instanceof DeferredAnswer) answer.whenBound((a) => whenSettled(a, f));
  else if (answer instanceof ResultAnswer) f(undefined);
  else if (answer instanceof BrokenAnswer) f(answer.error);
  else
    answer.struct().then(
      () => f(undefined),
      (e: unknown) => f(e instanceof RpcError ? e : new RpcError('failed', String(e))),
    );
}

/** A capability that is a field of an answer: calls pipeline on the answer. */
export class PipelineHook implements CapHook {
  /**
   * `closes`: releasing this hook releases the answer's capability at `ops` (true for a
   * caller's own reference; false for a peer's receiverAnswer reference).
   */
  constructor(
    readonly answer: Answer<Struct>,
    readonly ops: PipelineOp[],
    readonly closes = true,
  ) {}
  /** References held (CapHandle.dup adds one): the capability is closed with the last. */
  #refs = 1;
  call(call: Call<Struct, Struct>): Answer<Struct> {
    return this.answer.pipelineCall(this.ops, call);
  }
  addRef(): void {
    this.#refs++;
  }
  release(): void {
    if (this.#refs <= 0 || --this.#refs > 0) return;
    if (this.closes) this.answer.pipelineClose(this.ops);
  }
  resolved(): CapHook {
    return this;
  }
}
