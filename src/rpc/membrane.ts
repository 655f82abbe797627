/**
 * Membranes: a wrapper around a capability that every call goes through, and that wraps
 * every capability coming back out of those calls in the same membrane (capnp
 * `membrane.h`). Revoking the membrane's policy therefore severs the capability and
 * everything derived from it — the Files walked from a FileServer, the Namespace forked
 * from a Namespace — at once, with no cooperation from the object behind it.
 *
 * Used by the capability table (grants that can be revoked live) and by the exporter
 * (one membrane per importing peer: read-only and filter rules apply all the way down).
 *
 * Capabilities going the other way (passed in params by the caller) are not wrapped: the
 * policy guards what the holder can reach, not what the object behind may call back.
 */
import * as $ from 'capnp-es';
import type { Call, Client, Struct } from 'capnp-es';
import {
  BrokenAnswer,
  CapHandle,
  newMessage,
  RefHook,
  type Answer,
  type PipelineOp,
} from './cap.js';
import { RpcError } from './failure.js';

/** What a membrane asks before each call through it. */
export interface MembranePolicy {
  /**
   * Called before each call (direct or pipelined) through the membrane, with the
   * interface and method called. Return an RpcError to fail the call with it instead of
   * delivering it; undefined lets it through. Must not throw.
   */
  check(interfaceId: bigint, methodId: number): RpcError | undefined;
  /**
   * Optional: called after `check` lets a call through, with the call's params (a
   * struct of the method's params class, to read only: it belongs to the call). Lets a
   * policy refuse by argument (File.open for writing, a path outside a filter). Asking
   * for it costs building the params before the call is sent. Params received from a
   * connection are a struct of no particular type: view them as the method's params
   * class (`new Cls(s.segment, s.byteOffset)`). Must not throw.
   */
  readonly checkParams?:
    ((interfaceId: bigint, methodId: number, params: Struct) => RpcError | undefined) | undefined;
  /**
   * Optional, consulted only with `checkParams`: the policy for the capabilities in this
   * call's results (and calls pipelined on them), given its params — e.g. one that knows
   * the path of the File a walk returns. Default: this policy. Must not throw.
   */
  readonly resultsPolicy?:
    ((interfaceId: bigint, methodId: number, params: Struct) => MembranePolicy) | undefined;
  /**
   * Optional: told when each call through the membrane settles (for metrics): the error
   * it failed with (including a refusal by `check`), or undefined, and the seconds it
   * took. Must not throw.
   */
  readonly settled?:
    ((interfaceId: bigint, methodId: number, error: RpcError | undefined, seconds: number) => void) | undefined;
}

/** Reports to `policy.settled`, if it has one, how the call `call` answered by `answer` ends. */
function observe(answer: Answer<Struct>, policy: MembranePolicy, call: Call<Struct, Struct>): Answer<Struct> {
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
  // struct() only waits for the answer (it takes nothing from it).
  answer.struct().then(
    () => done(undefined),
    (e: unknown) => done(e instanceof RpcError ? e : new RpcError('failed', String(e))),
  );
  return answer;
}

/**
 * Runs `policy` on `call`. With a `checkParams`, the params are built here (a func call
 * becomes a data call carrying them, per-call options kept) so the policy reads exactly
 * what is sent. Returns the call to deliver and the policy for its results, or the error
 * to fail it with.
 */
function admit(
  call: Call<Struct, Struct>,
  policy: MembranePolicy,
): { call: Call<Struct, Struct>; policy: MembranePolicy } | RpcError {
  const { interfaceId, methodId } = call.method;
  const err = policy.check(interfaceId, methodId);
  if (err !== undefined) return err;
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
  const refused = policy.checkParams(interfaceId, methodId, params);
  if (refused !== undefined) return refused;
  return { call: out, policy: policy.resultsPolicy?.(interfaceId, methodId, params) ?? policy };
}

/** Capability tables already wrapped (each results message's table is wrapped once). */
const wrapped = new WeakSet<object>();

function wrapCapTable(results: Struct, policy: MembranePolicy): void {
  const msg = results.segment.message;
  // Keyed by the cap table, not the message: pooled results messages are reused (their
  // table is dropped and a new one made), and a reused message must be wrapped again.
  const table = msg._capnp.capTable;
  if (table === undefined || wrapped.has(table)) return;
  wrapped.add(table);
  for (let i = 0; i < table.length; i++) {
    const c = table[i];
    // The message owned `c`; it now owns the wrapper, which owns `c`.
    if (c !== undefined && c !== null) table[i] = new CapHandle(new MembraneHook(c, policy));
  }
}

/** An answer seen through a membrane: its capabilities come out wrapped. */
class MembraneAnswer implements Answer<Struct> {
  constructor(
    readonly inner: Answer<Struct>,
    readonly policy: MembranePolicy,
  ) {}

  async struct(): Promise<Struct> {
    const s = await this.inner.struct();
    wrapCapTable(s, this.policy);
    return s;
  }

  pipelineCall<P extends Struct, R extends Struct>(ops: PipelineOp[], call: Call<P, R>): Answer<R> {
    // The capability at `ops` is one of this answer's results: this answer's policy.
    const c = admit(call, this.policy);
    const plain = call as unknown as Call<Struct, Struct>;
    if (c instanceof RpcError) return observe(new BrokenAnswer(c), this.policy, plain) as unknown as Answer<R>;
    const answer = this.inner.pipelineCall(ops, c.call as unknown as Call<P, R>) as unknown as Answer<Struct>;
    return new MembraneAnswer(observe(answer, this.policy, plain), c.policy) as unknown as Answer<R>;
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
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    const inner = this.#inner;
    if (inner === null) return new BrokenAnswer(new RpcError('failed', 'capability was released'));
    const c = admit(call, this.policy);
    if (c instanceof RpcError) return observe(new BrokenAnswer(c), this.policy, call);
    return new MembraneAnswer(observe(inner.call(c.call), this.policy, call), c.policy);
  }

  protected dispose(): void {
    const inner = this.#inner;
    this.#inner = null;
    try {
      inner?.close();
    } catch {
      // Disposers never throw.
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
    readonly target: () => Client | RpcError,
    readonly onDispose: (() => void) | undefined,
  ) {
    super();
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    let t: Client | RpcError;
    try {
      t = this.target();
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
 * A local capability that delivers each call to whatever `target()` returns at the time
 * of the call (a Client, not owned by the forwarder), or fails it with the RpcError
 * returned. Pipelined calls on its answers follow the answer, not the forwarder. Used by
 * the importer: one stable capability in front of a connection that comes and goes.
 * `onDispose` runs when the last reference is released. The caller owns the result.
 */
export function forwarder(target: () => Client | RpcError, onDispose?: () => void): Client {
  return new CapHandle(new ForwardHook(target, onDispose));
}
