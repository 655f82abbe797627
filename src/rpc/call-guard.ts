/**
 * A view of a capability whose calls get a deadline and whose failures can be reworded:
 * what the importer puts in front of each connection to an export, so that a call
 * through an import never waits forever (an optional per-call deadline) and a failure
 * names the hop it happened at ("import 'far' (tcp!h!p) lost its connection: ...").
 *
 * A call past its deadline is cancelled the usual way (its signal aborts: a connection
 * sends Finish, the callee's ctx.signal fires) and fails with the caller's chosen error
 * at once, whether or not the callee stops. Calls pipelined on a guarded answer are
 * guarded the same way, each with its own deadline. The caller's own cancellation keeps
 * working: its signal still aborts the call.
 */
import type { Call, Client, Struct } from 'capnp-es';
import { callOptions, kCallOptions, type Answer, type CallOptions, type PipelineOp } from './cap.js';
import { RpcError } from './failure.js';

/** What a guard does to each call. */
export interface CallGuardOptions {
  /** Fail a call that has no answer within this many milliseconds (default: no deadline). */
  readonly timeoutMs?: number;
  /** The error a call past its deadline fails with (default `overloaded`, naming the time). */
  readonly timeoutError?: (timeoutMs: number) => RpcError;
  /** Rewrites the error a call fails with (default: unchanged). Must not throw. */
  readonly mapError?: (err: RpcError) => RpcError;
}

/** One call's deadline: the timer, the signal it aborts, the promise that rejects with it. */
class Deadline {
  readonly ac = new AbortController();
  readonly expired: Promise<never>;
  #timer: NodeJS.Timeout | undefined;
  #unlink: (() => void) | undefined;

  constructor(ms: number, error: RpcError, caller: AbortSignal | undefined) {
    let expire: (e: RpcError) => void = () => {};
    this.expired = new Promise<never>((_, reject) => (expire = reject));
    // Nobody may be waiting on this call (pipelined-only): no unhandled rejection.
    this.expired.catch(() => {});
    this.#timer = setTimeout(() => {
      expire(error);
      this.ac.abort(error);
    }, ms);
    if (caller !== undefined) {
      if (caller.aborted) this.ac.abort(caller.reason);
      else {
        const onAbort = (): void => this.ac.abort(caller.reason);
        caller.addEventListener('abort', onAbort, { once: true });
        this.#unlink = () => caller.removeEventListener('abort', onAbort);
      }
    }
  }

  /** The call settled: stop the timer, forget the caller's signal. */
  done(): void {
    clearTimeout(this.#timer);
    this.#unlink?.();
    this.#unlink = undefined;
  }
}

class GuardAnswer implements Answer<Struct> {
  constructor(
    readonly inner: Answer<Struct>,
    readonly guard: GuardClient,
    readonly deadline: Deadline | null,
  ) {}

  struct(): Promise<Struct> {
    const mapped = this.inner.struct().catch((e: unknown) => {
      throw this.guard.map(e);
    });
    return this.deadline === null ? mapped : Promise.race([mapped, this.deadline.expired]);
  }

  pipelineCall<P extends Struct, R extends Struct>(ops: PipelineOp[], call: Call<P, R>): Answer<R> {
    const c = call as unknown as Call<Struct, Struct>;
    return this.guard.send(c, (x) => this.inner.pipelineCall(ops, x)) as unknown as Answer<R>;
  }

  pipelineClose(ops: PipelineOp[]): void {
    this.inner.pipelineClose(ops);
  }
}

class GuardClient implements Client {
  constructor(
    readonly inner: Client,
    readonly opts: CallGuardOptions,
  ) {}

  map(e: unknown): unknown {
    if (!(e instanceof RpcError) || this.opts.mapError === undefined) return e;
    try {
      return this.opts.mapError(e);
    } catch {
      return e;
    }
  }

  send(call: Call<Struct, Struct>, deliver: (call: Call<Struct, Struct>) => Answer<Struct>): Answer<Struct> {
    const ms = this.opts.timeoutMs;
    if (ms === undefined || !(ms > 0)) return new GuardAnswer(deliver(call), this, null);
    const prev = callOptions(call);
    const error = this.opts.timeoutError?.(ms) ?? new RpcError('overloaded', `no answer within ${ms} ms`);
    const deadline = new Deadline(ms, error, prev?.signal);
    // A new options object: the one on the call may be a connection's record of a served
    // call (its signal is the caller's, not ours to abort).
    const opts: CallOptions = { signal: deadline.ac.signal };
    if (prev?.tailOf !== undefined) opts.tailOf = prev.tailOf;
    if (prev?.resultsMessage !== undefined) opts.resultsMessage = prev.resultsMessage.bind(prev);
    (call as { [kCallOptions]?: CallOptions })[kCallOptions] = opts;
    const answer = deliver(call);
    const done = (): void => deadline.done();
    answer.struct().then(done, done);
    return new GuardAnswer(answer, this, deadline);
  }

  call<P extends Struct, R extends Struct>(call: Call<P, R>): Answer<R> {
    const c = call as unknown as Call<Struct, Struct>;
    return this.send(c, (x) => this.inner.call(x)) as unknown as Answer<R>;
  }

  close(): void {
    // A view: the reference belongs to whoever made it.
  }
}

/**
 * A view of `inner` (a capnp-es Client) whose calls follow `opts`: a deadline each, and
 * failures reworded by `mapError`. The view owns no reference (releasing it does
 * nothing): `inner` must outlive the calls made through it. Made once and reused, it
 * costs one promise per call without a deadline, and a timer with one.
 */
export function guardCalls(inner: Client, opts: CallGuardOptions): Client {
  return new GuardClient(inner, opts);
}
