/**
 * Local capabilities and the typed API around them.
 *
 * `serve(Iface, impl, { extends })` turns an object implementing the generated
 * `X$Server$Target` into a capability (a typed `X$Client`), dispatching on
 * (interfaceId, methodId). Generated Server classes list only the interface's own
 * methods, so superinterfaces are passed in `extends`; a call for an interface the object
 * does not implement answers `unimplemented`.
 */
import * as $ from 'capnp-es';
import type { Call, Client, Struct } from 'capnp-es';
import {
  type Answer,
  type PipelineOp,
  BrokenAnswer,
  BrokenHook,
  CapHandle,
  closeCapTable,
  DeferredAnswer,
  RefHook,
  ResultAnswer,
  capAt,
  callOptions,
  kCallOptions,
  newMessage,
  type MessagePool,
  type CallOptions,
} from './cap.js';
import { RpcError, toRpcError } from './failure.js';
import { asStruct } from './read-struct.js';

/** What a server method receives as its third argument. */
export interface CallContext {
  /** Aborted when the caller cancels (a Finish before the Return) or disconnects. */
  readonly signal: AbortSignal;
  /**
   * Answers this call with the results of another: `return ctx.tailCall(target, (t) =>
   * t.method(...))`. From that moment the call's answer is the other call's: calls
   * pipelined on it go on to that call at once, and a later failure of the method does
   * not reach the caller. The results struct of this call is then unused (do not touch
   * it after the tail call): the capabilities put in it are released when the method
   * settles. Once per call (a second tail call throws). When the caller also hosts
   * `target` (same connection), this is a protocol tail call: the results go from the
   * target to the caller directly (rpc.capnp `sendResultsTo.yourself` and
   * `Return.takeFromOtherQuestion`); otherwise they are forwarded, and a local `target`
   * builds them where this call's own would have been built (a connection's pool).
   */
  tailCall<C extends { client: Client }>(target: C, make: (target: C) => { pipeline: { answer: unknown } }): Promise<void>;
  /**
   * A tail call of this same call, its method and its params as they are, on `target`
   * (which must implement the method's interface): for a method that only passes its
   * call on (a namespace's File reading from the File that has the bytes). Unlike
   * `tailCall` it builds no params: a local target reads this call's own, a connection
   * copies them into the Call it sends. Otherwise as `tailCall`, and once per call
   * (with either).
   */
  forward(target: { client: Client }): Promise<void>;
}

/** A generated interface class (`Test`, `Counter`, ...). */
export interface InterfaceClass<C = unknown> {
  readonly Client: new (client: Client) => C;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly Server: new (target: any) => $.Server;
  readonly _capnp: { readonly displayName: string; readonly id: string };
}

type Impl = (params: Struct, results: Struct, ctx: CallContext) => Promise<void> | void;

interface MethodEntry {
  ParamsClass: $.StructCtor<Struct>;
  ResultsClass: $.StructCtor<Struct>;
  impl: Impl | undefined;
  name: string;
  /**
   * For a method whose params struct has no fields (no data, no pointers): one params
   * struct every call made without a params function is given, made at the first. Nothing
   * can be written to it, so sharing it is sharing nothing; it saves a message per call.
   */
  emptyParams?: Struct;
}

type Table = Map<bigint, MethodEntry[]>;

const NEVER = new AbortController().signal;

class Ctx implements CallContext {
  tail: Answer<Struct> | null = null;
  constructor(
    readonly opts: CallOptions | undefined,
    /** The served call's answer, as its caller (and whoever pipelines on it) sees it. */
    readonly answer: DeferredAnswer,
    /** The served call's method and params (forward). */
    readonly method: $.Method<Struct, Struct>,
    readonly params: Struct,
  ) {}
  get signal(): AbortSignal {
    return this.opts?.signal ?? NEVER;
  }
  tailCall<C extends { client: Client }>(target: C, make: (target: C) => { pipeline: { answer: unknown } }): Promise<void> {
    if (this.tail !== null) throw new RpcError('failed', 'ctx.tailCall: this call is answered by a tail call already');
    const Ctor = target.constructor as new (client: Client) => C;
    const res = make(new Ctor(new TailClient(target.client, this)));
    this.#answeredBy(res.pipeline.answer as Answer<Struct>);
    return Promise.resolve();
  }
  forward(target: { client: Client }): Promise<void> {
    if (this.tail !== null) throw new RpcError('failed', 'ctx.forward: this call is answered by a tail call already');
    this.#answeredBy(new TailClient(target.client, this).call({ method: this.method, params: this.params }));
    return Promise.resolve();
  }
  #answeredBy(tail: Answer<Struct>): void {
    this.tail = tail;
    // The served call's answer is the tail call's from now on (as C++'s tailCall
    // redirects the pipeline at once), not when the method's promise settles: calls the
    // caller pipelined on it go on now, in the same write as the tail call when both go
    // to one peer. They used to wait a few promise reactions, after the write of the tail
    // call: two writes, and on a loaded machine the second could reach the next hop after
    // the tail call's Return (test/grid's pipelining check failed that way).
    this.answer.bind(tail);
  }
}

/** Tags calls as tail calls of the call `ctx` serves. A view: owns no reference. */
class TailClient implements Client {
  constructor(
    readonly inner: Client,
    readonly ctx: Ctx,
  ) {}
  call<P extends Struct, R extends Struct>(call: Call<P, R>): Answer<R> {
    const served = this.ctx.opts;
    addCallOptions(call, served === undefined ? NO_OPTIONS : served.resultsMessage !== undefined ? new PooledTailOptions(served) : new TailOptions(served));
    return this.inner.call(call);
  }
  close(): void {}
}

/** The options of a call with none (a tail call of a local call made without options). */
const NO_OPTIONS: CallOptions = Object.freeze({});

/**
 * The options of a tail call of the served call `tailOf`: cancelled with it (its signal,
 * made only when read: most served calls never make theirs). A class, where an object
 * literal with a getter and two closures per call was 0.7 KB of garbage per read through
 * Namespace.walk's File.
 */
class TailOptions implements CallOptions {
  constructor(readonly tailOf: CallOptions) {}
  get signal(): AbortSignal {
    return this.tailOf.signal ?? NEVER;
  }
}

/**
 * As TailOptions, for a served call whose results have a place (a connection's pooled
 * message): the tail call's results, which answer the served call, are built there too,
 * reused call after call, not in a new message grown to size each time (a 64 KiB read
 * through Namespace.walk's File allocated and copied 64 KiB per call).
 */
class PooledTailOptions extends TailOptions {
  resultsMessage(): $.Message {
    return this.tailOf.resultsMessage!();
  }
  resultsUnused(msg: $.Message): void {
    this.tailOf.resultsUnused?.(msg);
  }
}

function buildTable(ifaces: readonly InterfaceClass[], impl: object): Table {
  const t: Table = new Map();
  for (const I of ifaces) {
    const s = new I.Server(impl);
    for (const m of s.methods) {
      const f: unknown = Reflect.get(m, 'impl');
      let arr = t.get(m.interfaceId);
      if (arr === undefined) t.set(m.interfaceId, (arr = []));
      arr[m.methodId] = {
        ParamsClass: m.ParamsClass,
        ResultsClass: m.ResultsClass,
        impl: typeof f === 'function' ? (f as Impl) : undefined,
        name: `${m.interfaceName ?? I._capnp.displayName}.${m.methodName ?? m.methodId}`,
      };
    }
  }
  return t;
}

/**
 * A served call's own results that will not answer it (the method failed, or answered by
 * a tail call), once the method is done with them: the capabilities it put there are
 * nobody's, and their message goes back where it came from (a connection's pool, for a
 * later call's results).
 */
function dropResults(results: Struct, ctx: Ctx | null): void {
  const msg = results.segment.message;
  closeCapTable(msg);
  ctx?.opts?.resultsUnused?.(msg);
}

/** A new message's traversal limit (capnp-es's default). */
const TRAVERSAL_LIMIT = newMessage()._capnp.traversalLimit;

/** Whether structs of `C` have no fields at all: no data section, no pointers. */
function isEmpty(C: $.StructCtor<Struct>): boolean {
  const size = C._capnp.size;
  return size.dataByteLength === 0 && size.pointerLength === 0;
}

/** Counts live local server objects (all of them, for leak checks in tests). */
let liveLocal = 0;

/** Number of local capabilities not yet disposed (process-wide; for tests and stats). */
export function liveLocalObjects(): number {
  return liveLocal;
}

/** A local object served as a capability. Disposed when its last reference is released. */
export class LocalHook extends RefHook {
  #impl: object | null;
  readonly #table: Table;

  constructor(impl: object, table: Table) {
    super();
    this.#impl = impl;
    this.#table = table;
    liveLocal++;
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    const impl = this.#impl;
    if (impl === null) return new BrokenAnswer(new RpcError('disconnected', 'capability was disposed'));
    const { interfaceId, methodId } = call.method;
    const m = this.#table.get(interfaceId)?.[methodId];
    if (m === undefined || m.impl === undefined) {
      return new BrokenAnswer(
        new RpcError('unimplemented', `method ${methodId} of interface @0x${interfaceId.toString(16)} is not implemented`),
      );
    }
    const d = new DeferredAnswer();
    let results: Struct | null = null;
    let p: Promise<void> | void;
    let ctx: Ctx | null = null;
    // The call holds the capability until it settles, as Cap'n Proto's C++ LocalClient
    // does: a release that arrives meanwhile (in the same write as the call, say) disposes
    // the object once the call is over, never under it. A method that awaits and then
    // goes on using what its object holds would otherwise use it after its disposer let
    // it go (a Namespace's bindings, given back and then changed).
    this.refs++;
    try {
      let params: Struct;
      if ($.isDataCall(call)) {
        const src = call.params;
        // An older caller's smaller params read their absent fields as defaults.
        params = asStruct(m.ParamsClass, new m.ParamsClass(src.segment, src.byteOffset, src._capnp.depthLimit));
      } else if (call.paramsFunc === undefined && isEmpty(m.ParamsClass)) {
        params = m.emptyParams ??= newMessage(8).initRoot(m.ParamsClass);
        // capnp-es charges every Pointer made over a message to its traversal limit: a
        // message that lives for the process starts each call afresh.
        params.segment.message._capnp.traversalLimit = TRAVERSAL_LIMIT;
      } else {
        const pm = newMessage();
        params = pm.initRoot(m.ParamsClass);
        call.paramsFunc?.(params);
      }
      const opts = callOptions(call);
      results = (opts?.resultsMessage?.() ?? newMessage()).initRoot(m.ResultsClass);
      ctx = new Ctx(opts, d, call.method, params);
      p = m.impl.call(impl, params, results, ctx);
    } catch (e) {
      this.release();
      if (results !== null) dropResults(results, ctx);
      // Answered by a tail call before throwing: the answer is the tail call's.
      return ctx !== null && ctx.tail !== null ? d : new BrokenAnswer(toRpcError(e));
    }
    const own = results;
    const c = ctx;
    const done = (): void => {
      if (c.tail === null) d.bind(new ResultAnswer(own));
      else dropResults(own, c);
      this.release();
    };
    const fail = (e: unknown): void => {
      dropResults(own, c);
      // After a tail call the answer is the tail call's (a later failure of the method
      // does not reach the caller; bind ignores it).
      d.reject(toRpcError(e));
      this.release();
    };
    if (p instanceof Promise) p.then(done, fail);
    else Promise.resolve(p).then(done, fail);
    return d;
  }

  protected dispose(): void {
    const impl = this.#impl as { [Symbol.dispose]?: () => void; close?: () => unknown } | null;
    this.#impl = null;
    liveLocal--;
    if (impl === null) return;
    try {
      if (typeof impl[Symbol.dispose] === 'function') impl[Symbol.dispose]!();
      else if (typeof impl.close === 'function') {
        const r = impl.close();
        if (r instanceof Promise) r.catch(() => {});
      }
    } catch {
      // Disposers never throw (STYLE.md section 5).
    }
  }
}

const tableCache = new WeakMap<object, WeakMap<object, Table>>();

/**
 * Serves `impl` as a capability of interface `Iface` (and of the superinterfaces listed
 * in `extends`). Returns a typed client owning the first reference; when every
 * reference is released (here and at peers), `impl[Symbol.dispose]()` or `impl.close()`
 * runs. Server methods get `(params, results, ctx)`; throwing an RpcError answers that
 * exception type, anything else answers `failed` (message only, never the stack).
 */
export function serve<I extends InterfaceClass>(
  Iface: I,
  impl: ConstructorParameters<I['Server']>[0],
  opts?: { extends?: readonly InterfaceClass[] },
): InstanceType<I['Client']> & Disposable {
  const ifaces = [Iface, ...(opts?.extends ?? [])];
  // Tables depend on the impl's class (methods come from its prototype) only when the
  // impl is a class instance; plain objects get their own table.
  const proto = Object.getPrototypeOf(impl) as object | null;
  let table: Table | undefined;
  const cacheable =
    proto !== null &&
    proto !== Object.prototype &&
    !Object.values(impl).some((v) => typeof v === 'function');
  if (cacheable) {
    let byProto = tableCache.get(Iface);
    if (byProto === undefined) tableCache.set(Iface, (byProto = new WeakMap()));
    table = byProto.get(proto);
    if (table === undefined || ifaces.length > 1) {
      table = buildTable(ifaces, impl);
      if (ifaces.length === 1) byProto.set(proto, table);
    }
  } else {
    table = buildTable(ifaces, impl);
  }
  const handle = new CapHandle(new LocalHook(impl, table));
  return disposable(new Iface.Client(handle) as { client: Client }) as unknown as InstanceType<I['Client']> & Disposable;
}

/** Anything holding a capnp-es Client: a typed client or the Client itself. */
export type CapLike = { client: Client } | Client;

function clientOf(c: CapLike): Client {
  // Typed clients hold their Client in `.client` (checked first: an interface may well
  // have a method named `call`, like test.capnp's Callback).
  const inner = (c as { client?: unknown }).client;
  return typeof inner === 'object' && inner !== null ? (inner as Client) : (c as Client);
}

/**
 * Releases a capability reference (a typed client or a raw Client). Idempotent; never
 * throws. Results' capabilities belong to the caller and are released this way; so are
 * clients from `bootstrap()`, `serve()` and `retain()`.
 */
export function release(c: CapLike | null | undefined): void {
  if (c === null || c === undefined) return;
  try {
    clientOf(c).close();
  } catch {
    // Disposers never throw.
  }
}

/**
 * A new, independently owned reference to the same capability, as the same typed
 * class. Use it to keep a capability received in params (which are released when the
 * call returns) or to share one reference between owners.
 */
export function retain<C extends { client: Client }>(c: C): C & Disposable {
  const cl = c.client;
  let dup: Client;
  if (cl instanceof CapHandle) dup = cl.dup();
  else if (typeof (cl as { transform?: unknown }).transform === 'function') {
    const pc = cl as unknown as { pipeline: { answer: Answer<Struct> }; transform(): PipelineOp[] };
    dup = new CapHandle(new RetainedPipelineHook(pc.pipeline.answer, pc.transform()));
  } else dup = new CapHandle(new BrokenHook(new RpcError('failed', 'cannot retain this capability')));
  const Ctor = c.constructor as new (client: Client) => C;
  return disposable(new Ctor(dup));
}

/**
 * An owned reference to the capability a pending answer will hold at `ops`: calls
 * pipeline on the answer until it settles; at that moment (synchronously, before anyone
 * else can release it) we take a reference of our own to the result.
 */
class RetainedPipelineHook extends RefHook {
  #target: CapHandle | null = null;
  #broken: RpcError | null = null;

  constructor(
    readonly answer: Answer<Struct>,
    readonly ops: PipelineOp[],
  ) {
    super();
    this.#watch(answer);
  }

  #watch(a: Answer<Struct>): void {
    const inner = (a as { result?: unknown }).result;
    const d = a instanceof DeferredAnswer ? a : inner instanceof DeferredAnswer ? inner : null;
    if (d !== null) {
      d.whenBound((b) => this.#watch(b));
      return;
    }
    if (a instanceof ResultAnswer) {
      const c = capAt(a.results, this.ops);
      if (c instanceof CapHandle) this.#target = c.dup();
      else this.#broken = new RpcError('failed', 'retained field holds no capability');
    } else if (a instanceof BrokenAnswer) {
      this.#broken = a.error;
    }
    if (this.refs === 0) this.dispose();
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    if (this.#target !== null) return this.#target.call(call);
    if (this.#broken !== null) return new BrokenAnswer(this.#broken);
    return this.answer.pipelineCall(this.ops, call);
  }

  protected dispose(): void {
    const t = this.#target;
    this.#target = null;
    t?.close();
  }
}

/** A raw capability reference as a class, so that `retain` can make a typed copy of it. */
class RawCap {
  constructor(readonly client: Client) {}
}

/**
 * A new, independently owned reference to the capability behind a raw capnp-es Client
 * (what a member of a namespace or a cap-table entry holds). The caller owns the result
 * and releases it with `release` (or `.close()`).
 */
export function dupClient(client: Client): Client {
  return retain(new RawCap(client)).client;
}

/**
 * A reference to the capability behind `client` that does not keep it alive: no count is
 * taken, and releasing it gives none back. Calls through it reach the capability while
 * some owned reference does; after the last one goes they reach a disposed capability, so
 * a borrower must be told when that happens and stop (the sessions tree borrows a
 * connection's namespace and ends the session when its owner lets go of it). A client
 * that is not a capns reference (a pipelined one) is borrowed as a broken one.
 */
export function borrowClient(client: Client): Client {
  return client instanceof CapHandle ? client.borrow() : new CapHandle(new BrokenHook(new RpcError('failed', 'cannot borrow this capability')));
}

/** Adds `[Symbol.dispose]` (= `release`) to a typed client, for `using`. */
export function disposable<C extends { client: Client }>(c: C): C & Disposable {
  const d = c as C & Disposable;
  if (typeof d[Symbol.dispose] !== 'function') {
    Object.defineProperty(d, Symbol.dispose, { value: () => release(c), enumerable: false });
  }
  return d;
}

/**
 * Puts `add` on a call, keeping what views it went through before put there: the call
 * is cancelled when either signal aborts, and stays a tail call. (A call made through
 * `withSignal(t, s)` inside `ctx.tailCall`, or through a `withSignal` of a `withSignal`,
 * passes two views; the last one used to overwrite the first's options.)
 */
/** Makes `to` build results where `from` does (and take back the unused ones there). */
function copyResultsPlace(from: CallOptions, to: CallOptions): void {
  if (from.resultsMessage !== undefined) to.resultsMessage = () => from.resultsMessage!();
  if (from.resultsUnused !== undefined) to.resultsUnused = (msg) => from.resultsUnused!(msg);
}

function addCallOptions(call: Call<Struct, Struct>, add: CallOptions): void {
  const slot = call as { [kCallOptions]?: CallOptions };
  const prev = slot[kCallOptions];
  if (prev === undefined) {
    slot[kCallOptions] = add;
    return;
  }
  const a = prev.signal;
  const b = add.signal;
  const signal = a === undefined || a === NEVER ? b : b === undefined || b === NEVER || a === b ? a : AbortSignal.any([a, b]);
  const tailOf = add.tailOf ?? prev.tailOf;
  const merged: CallOptions = {};
  if (signal !== undefined) merged.signal = signal;
  if (tailOf !== undefined) merged.tailOf = tailOf;
  copyResultsPlace(add.resultsMessage !== undefined ? add : prev, merged);
  slot[kCallOptions] = merged;
}

class SignalClient implements Client {
  constructor(
    readonly inner: Client,
    readonly signal: AbortSignal,
  ) {}
  call<P extends Struct, R extends Struct>(call: Call<P, R>): Answer<R> {
    addCallOptions(call, { signal: this.signal });
    return this.inner.call(call);
  }
  close(): void {
    // A view: the reference belongs to the client it was made from.
  }
}

/**
 * A view of `c` whose calls can be cancelled with `signal`: aborting sends Finish to the
 * callee (its ctx.signal fires) and rejects the call with an RpcError named AbortError.
 * The view does not own a reference; releasing it does nothing.
 */
export function withSignal<C extends { client: Client }>(c: C, signal: AbortSignal): C {
  const Ctor = c.constructor as new (client: Client) => C;
  return new Ctor(new SignalClient(c.client, signal));
}

/**
 * `withSignal` for an untyped client (a capability called by schema reflection): a view
 * of `client` whose calls are cancelled when `signal` aborts. Owns no reference.
 */
export function withSignalClient(client: Client, signal: AbortSignal): Client {
  return new SignalClient(client, signal);
}

/** Results built in a message of `pool` (withResultsPool), and a signal when given. */
class PoolOptions implements CallOptions {
  readonly signal?: AbortSignal;
  constructor(
    readonly pool: MessagePool,
    signal: AbortSignal | undefined,
  ) {
    if (signal !== undefined) this.signal = signal;
  }
  resultsMessage(): $.Message {
    return this.pool.get();
  }
  resultsUnused(msg: $.Message): void {
    this.pool.put(msg);
  }
}

class PooledResultsClient implements Client {
  /** The same for every call through this view (nothing changes call options once set). */
  readonly #opts: PoolOptions;
  constructor(
    readonly inner: Client,
    pool: MessagePool,
    signal: AbortSignal | undefined,
  ) {
    this.#opts = new PoolOptions(pool, signal);
  }
  call<P extends Struct, R extends Struct>(call: Call<P, R>): Answer<R> {
    addCallOptions(call, this.#opts);
    return this.inner.call(call);
  }
  close(): void {
    // A view: the reference belongs to the client it was made from.
  }
}

/**
 * A view of `client` whose calls a local callee answers with results built in a message
 * of `pool` (as a connection's served calls are), not in a new message each: the caller
 * gives each call's results back with `releaseResults(results, pool)` once it has read
 * them and released their capabilities, and keeps nothing of them (no views of their
 * Data, no pipelined capabilities on the answer). Results from elsewhere (a connection)
 * are not the pool's: releaseResults treats them as its own. With a `signal`, also what
 * withSignalClient gives. Owns no reference.
 */
export function withResultsPool(client: Client, pool: MessagePool, signal?: AbortSignal): Client {
  return new PooledResultsClient(client, pool, signal);
}
