/**
 * Membranes: a wrapper around a capability that every call goes through, and that wraps
 * every capability coming back out of those calls in the same membrane (capnp
 * `membrane.h`). Revoking the membrane's policy therefore severs the capability and
 * everything derived from it — the Files walked from a FileServer, the Namespace forked
 * from a Namespace — at once, with no cooperation from the object behind it.
 *
 * Used by the capability table (grants that can be revoked live), by namespace views (a
 * read-only `sub`), and by the exporter (one membrane per importing peer: read-only and
 * filter rules apply all the way down).
 *
 * Membranes compose: a capability that comes out through several (a grant's, then a
 * view's, then an export's) is wrapped by each, in order, and every call through it is
 * admitted by each policy. Each answer seen through a membrane wraps its own results
 * once; nothing is remembered process-wide.
 *
 * Capabilities going the other way (passed in params by the caller) are not wrapped: the
 * policy guards what the holder can reach, not what the object behind may call back. A
 * capability of ours passed back to us arrives as the wrapper it is, so it keeps its
 * policy wherever the holder puts it.
 */
import * as $ from 'capnp-es';
import type { Call, Client, Struct } from 'capnp-es';
import { NsError } from '../errors.js';
import { failureResults, refusalText } from '../failure.js';
import {
  BrokenAnswer,
  CapHandle,
  capAt,
  closeCapTable,
  DeferredAnswer,
  newMessage,
  RefHook,
  ResultAnswer,
  type Answer,
  type PipelineOp,
  whenSettled,
} from './cap.js';
import { RpcError } from './failure.js';

/**
 * What a policy answers for a call: undefined lets it through; an NsError refuses it as an
 * expected condition (NS_ERR_PERMISSION, NS_ERR_REVOKED: answered in the method's result
 * union where it has one, else as an exception whose text says which); an RpcError fails
 * it with that exception.
 */
export type Verdict = NsError | RpcError | undefined;

/**
 * The lifetime of everything a policy let out: told when a capability is wrapped under the
 * policy (or under one it derived for results) and when that wrapper is released. A grant
 * uses it to stay listed, and revocable, while anything derived from it lives.
 */
export interface MembraneLifetime {
  opened(): void;
  closed(): void;
}

/** What a membrane asks before each call through it. */
export interface MembranePolicy {
  /**
   * Called before each call (direct or pipelined) through the membrane, with the
   * interface and method called. Must not throw.
   */
  check(interfaceId: bigint, methodId: number): Verdict;
  /**
   * Optional: called after `check` lets a call through, with the call's params (a
   * struct of the method's params class, to read only: it belongs to the call). Lets a
   * policy refuse by argument (File.open for writing, a path outside a filter). Asking
   * for it costs building the params before the call is sent. Params received from a
   * connection are a struct of no particular type: view them as the method's params
   * class (`new Cls(s.segment, s.byteOffset)`). Must not throw.
   */
  readonly checkParams?: ((interfaceId: bigint, methodId: number, params: Struct) => Verdict) | undefined;
  /**
   * Optional, consulted only with `checkParams`: the policy for the capabilities in this
   * call's results (and calls pipelined on them), given its params — e.g. one that knows
   * the path of the File a walk returns. It must share this policy's `lifetime`. Default:
   * this policy. Must not throw.
   */
  readonly resultsPolicy?:
    ((interfaceId: bigint, methodId: number, params: Struct) => MembranePolicy) | undefined;
  /**
   * Optional: told when each call through the membrane settles (for metrics): the error
   * it failed with (including a refusal), or undefined, and the seconds it took. Must not
   * throw.
   */
  readonly settled?:
    ((interfaceId: bigint, methodId: number, error: RpcError | undefined, seconds: number) => void) | undefined;
  /**
   * Optional: looks at a call's results before any capability in them is handed out —
   * asked of the policy chosen for them (`resultsPolicy`'s). Returns the policy for those
   * capabilities (itself, or one that knows more), or a refusal: the results are then
   * replaced by it and their capabilities released. Calls pipelined on such an answer
   * wait for the look. Must not throw.
   */
  readonly checkResults?:
    ((interfaceId: bigint, methodId: number, results: Struct) => MembranePolicy | NsError | RpcError) | undefined;
  /** Optional: see MembraneLifetime. */
  readonly lifetime?: MembraneLifetime | undefined;
}

/** Reports to `policy.settled`, if it has one, how the call `call` answered by `answer` ends. */
function observe(
  answer: Answer<Struct>,
  policy: MembranePolicy,
  call: Call<Struct, Struct>,
  refusal?: RpcError,
): Answer<Struct> {
  const settled = policy.settled?.bind(policy);
  if (settled === undefined) return answer;
  const { interfaceId, methodId } = call.method;
  const t0 = performance.now();
  const done = (error: RpcError | undefined): void => {
    try {
      settled(interfaceId, methodId, error, (performance.now() - t0) / 1000);
    } catch {
      // A metrics hook must not disturb the call.
    }
  };
  // Only waits for the answer (it takes nothing from it).
  whenSettled(answer, (error) => done(error ?? refusal));
  return answer;
}

/**
 * The answer to a call a policy refused: an NsError goes in the method's result union when
 * it has one (an expected condition, as the schema promises), else into an exception whose
 * text names it (`refusalText`); an RpcError is the exception.
 */
function refuse(call: Call<Struct, Struct>, verdict: NsError | RpcError, policy: MembranePolicy): Answer<Struct> {
  const r = refusalResults(call.method, verdict);
  if (r instanceof RpcError) return observe(new BrokenAnswer(r), policy, call);
  return observe(new ResultAnswer(r), policy, call, new RpcError('failed', refusalText(verdict as NsError)));
}

/**
 * Runs `policy` on `call`. With a `checkParams`, the params are built here (a func call
 * becomes a data call carrying them, per-call options kept) so the policy reads exactly
 * what is sent. Returns the call to deliver and the policy for its results, or the
 * refusal.
 */
function admit(
  call: Call<Struct, Struct>,
  policy: MembranePolicy,
): { call: Call<Struct, Struct>; policy: MembranePolicy } | NsError | RpcError {
  const { interfaceId, methodId } = call.method;
  const verdict = policy.check(interfaceId, methodId);
  if (verdict !== undefined) return verdict;
  if (policy.checkParams === undefined) return { call, policy };
  let params: Struct;
  let out: Call<Struct, Struct> = call;
  try {
    if ($.isDataCall(call)) {
      params = call.params;
    } else {
      params = newMessage().initRoot(call.method.ParamsClass);
      call.paramsFunc?.(params);
      // Spread keeps whatever else rides on the call object (per-call options under symbols).
      out = { ...call, params, paramsFunc: undefined };
    }
  } catch (e) {
    return new RpcError('failed', `bad params: ${(e as Error).message}`);
  }
  let refused: Verdict;
  let next: MembranePolicy;
  try {
    refused = policy.checkParams(interfaceId, methodId, params);
    next = refused === undefined ? (policy.resultsPolicy?.(interfaceId, methodId, params) ?? policy) : policy;
  } catch (e) {
    // Params a policy cannot read (a hostile pointer, a list over a limit) are refused,
    // never let through unread.
    return new NsError('NS_ERR_PERMISSION', `params this policy cannot read: ${(e as Error).message}`);
  }
  if (refused !== undefined) return refused;
  return { call: out, policy: next };
}

/** The results answering `call` with a refusal, or the exception to fail it with. */
function refusalResults(method: Call<Struct, Struct>['method'], verdict: NsError | RpcError): Struct | RpcError {
  if (!(verdict instanceof NsError)) return verdict;
  try {
    const r = failureResults(method.interfaceId, method.methodId, method.ResultsClass, (C) => newMessage().initRoot(C as $.StructCtor<Struct>), verdict);
    if (r !== undefined) return r;
  } catch {
    // Fall through to the exception.
  }
  return new RpcError('failed', refusalText(verdict));
}

/** Wraps every capability of a results message's cap table in `policy` (in place, once per answer). */
function wrapCapTable(results: Struct, policy: MembranePolicy): void {
  const table = results.segment.message._capnp.capTable;
  if (table === undefined) return;
  for (let i = 0; i < table.length; i++) {
    const c = table[i];
    // The message owned `c`; it now owns the wrapper, which owns `c`.
    if (c !== undefined && c !== null) table[i] = new CapHandle(new MembraneHook(c, policy));
  }
}

/**
 * An answer seen through a membrane: its capabilities come out wrapped. The results are
 * wrapped the first time they are asked for, by this answer only: an answer seen through
 * several membranes is wrapped by each.
 */
class MembraneAnswer implements Answer<Struct> {
  #wrapped: Promise<Struct> | null = null;
  /** The results, once wrapped: pipelined calls then go to the wrapped capability itself. */
  #results: Struct | null = null;

  constructor(
    readonly inner: Answer<Struct>,
    readonly policy: MembranePolicy,
    readonly method: Call<Struct, Struct>['method'],
  ) {}

  struct(): Promise<Struct> {
    this.#wrapped ??= this.inner.struct().then((s) => {
      let policy = this.policy;
      const look = policy.checkResults;
      if (look !== undefined) {
        let v: MembranePolicy | NsError | RpcError;
        try {
          v = look.call(policy, this.method.interfaceId, this.method.methodId, s);
        } catch (e) {
          v = new NsError('NS_ERR_PERMISSION', `results this policy cannot read: ${(e as Error).message}`);
        }
        if (v instanceof NsError || v instanceof RpcError) {
          // Nothing of the refused results reaches the caller.
          closeCapTable(s.segment.message);
          const r = refusalResults(this.method, v);
          if (r instanceof RpcError) throw r;
          this.#results = r;
          return r;
        }
        policy = v;
      }
      wrapCapTable(s, policy);
      this.#results = s;
      return s;
    });
    return this.#wrapped;
  }

  pipelineCall<P extends Struct, R extends Struct>(ops: PipelineOp[], call: Call<P, R>): Answer<R> {
    const plain = call as unknown as Call<Struct, Struct>;
    if (this.#results !== null) {
      // Wrapped already: the wrapper at `ops` admits the call itself.
      const c = capAt(this.#results, ops);
      if (c === null) return new BrokenAnswer(new RpcError('failed', 'pipelined call on a field that holds no capability')) as unknown as Answer<R>;
      return c.call(call);
    }
    if (this.policy.checkResults !== undefined) {
      // The results must be looked at before anything in them is used.
      const d = new DeferredAnswer();
      this.struct().then(
        () => d.bind(this.pipelineCall(ops, plain)),
        (e: unknown) => d.reject(e instanceof RpcError ? e : new RpcError('failed', String(e))),
      );
      return d as unknown as Answer<R>;
    }
    // The capability at `ops` is one of this answer's results: this answer's policy.
    const c = admit(plain, this.policy);
    if (c instanceof NsError || c instanceof RpcError) return refuse(plain, c, this.policy) as unknown as Answer<R>;
    const answer = this.inner.pipelineCall(ops, c.call as unknown as Call<P, R>) as unknown as Answer<Struct>;
    return new MembraneAnswer(observe(answer, this.policy, plain), c.policy, plain.method) as unknown as Answer<R>;
  }

  pipelineClose(ops: PipelineOp[]): void {
    this.inner.pipelineClose(ops);
  }
}

class MembraneHook extends RefHook {
  #inner: Client | null;

  constructor(
    inner: Client,
    readonly policy: MembranePolicy,
  ) {
    super();
    this.#inner = inner;
    try {
      policy.lifetime?.opened();
    } catch {
      // A lifetime hook must not disturb the membrane.
    }
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    const inner = this.#inner;
    if (inner === null) return new BrokenAnswer(new RpcError('failed', 'capability was released'));
    const c = admit(call, this.policy);
    if (c instanceof NsError || c instanceof RpcError) return refuse(call, c, this.policy);
    return new MembraneAnswer(observe(inner.call(c.call), this.policy, call), c.policy, call.method);
  }

  protected dispose(): void {
    const inner = this.#inner;
    this.#inner = null;
    try {
      inner?.close();
    } catch {
      // Disposers never throw.
    }
    try {
      this.policy.lifetime?.closed();
    } catch {
      // Nor do lifetime hooks.
    }
  }
}

/**
 * Wraps `inner` in a membrane governed by `policy`. Takes ownership of `inner` (a
 * capnp-es Client reference: the `.client` of a typed client); returns a Client the
 * caller owns — wrap it in a typed class (`new X.Client(c)`) to call it. Releasing the
 * last reference releases `inner`.
 */
export function membrane(inner: Client, policy: MembranePolicy): Client {
  return new CapHandle(new MembraneHook(inner, policy));
}

class ForwardHook extends RefHook {
  constructor(
    readonly target: (interfaceId: bigint, methodId: number) => Client | RpcError,
    readonly onDispose: (() => void) | undefined,
  ) {
    super();
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    let t: Client | RpcError;
    try {
      t = this.target(call.method.interfaceId, call.method.methodId);
    } catch (e) {
      t = new RpcError('failed', (e as Error).message);
    }
    return t instanceof RpcError ? new BrokenAnswer(t) : t.call(call);
  }

  protected dispose(): void {
    try {
      this.onDispose?.();
    } catch {
      // Disposers never throw.
    }
  }
}

/**
 * A local capability that delivers each call to whatever `target(interfaceId, methodId)`
 * returns at the time of the call (a Client, not owned by the forwarder), or fails it
 * with the RpcError returned. Pipelined calls on its answers follow the answer, not the
 * forwarder. Used by the importer: one stable capability in front of a connection that
 * comes and goes (and that answers its own `Import` interface itself). `onDispose` runs
 * when the last reference is released. The caller owns the result.
 */
export function forwarder(
  target: (interfaceId: bigint, methodId: number) => Client | RpcError,
  onDispose?: () => void,
): Client {
  return new CapHandle(new ForwardHook(target, onDispose));
}
