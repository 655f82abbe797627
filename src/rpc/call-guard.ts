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

const NOTHING = (): void => {};

/**
 * A deadline calls wait on: the signal it aborts when it passes, and the callers waiting
 * for answers it fails then. Waiters are forgotten as their calls settle, so a deadline
 * holds nothing of the calls that were answered in time.
 */
abstract class Deadline {
  protected readonly ac = new AbortController();
  #waiters: Set<(e: RpcError) => void> | null = null;
  #error: RpcError | null = null;

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  /** Calls `fail` with the error if the deadline passes before the returned function is called. */
  watch(fail: (e: RpcError) => void): () => void {
    if (this.#error !== null) {
      fail(this.#error);
      return NOTHING;
    }
    const waiters = (this.#waiters ??= new Set());
    waiters.add(fail);
    return () => waiters.delete(fail);
  }

  protected pass(e: RpcError): void {
    this.#error = e;
    const waiters = this.#waiters;
    this.#waiters = null;
    if (waiters !== null) for (const w of waiters) w(e);
    this.ac.abort(e);
  }
}

/**
 * The deadline shared by the calls made without a signal of their own whose deadlines
 * fall in the same slice of time (a 16th of the timeout): one timer and one
 * AbortController for all of them instead of one each (an AbortController costs about
 * 5 µs). Aborting it cancels the calls of the slice still waiting; those answered no
 * longer listen. A call's deadline is thus up to a 16th of the timeout late.
 */
class SharedDeadline extends Deadline {
  constructor(at: number, error: () => RpcError, onPass: () => void) {
    super();
    setTimeout(() => {
      onPass();
      this.pass(error());
    }, Math.max(0, at - Date.now()));
  }
}

/** A call's own deadline, for a call the caller may cancel too (its signal still aborts it). */
class OwnDeadline extends Deadline {
  #timer: NodeJS.Timeout;
  #unlink: (() => void) | undefined;

  constructor(ms: number, error: () => RpcError, caller: AbortSignal) {
    super();
    this.#timer = setTimeout(() => this.pass(error()), ms);
    if (caller.aborted) this.ac.abort(caller.reason);
    else {
      const onAbort = (): void => this.ac.abort(caller.reason);
      caller.addEventListener('abort', onAbort, { once: true });
      this.#unlink = () => caller.removeEventListener('abort', onAbort);
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
    const d = this.deadline;
    if (d === null) {
      return this.inner.struct().catch((e: unknown) => {
        throw this.guard.map(e);
      });
    }
    return new Promise<Struct>((resolve, reject) => {
      const unwatch = d.watch(reject);
      this.inner.struct().then(
        (s) => {
          unwatch();
          resolve(s);
        },
        (e: unknown) => {
          unwatch();
          reject(this.guard.map(e));
        },
      );
    });
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
  readonly #slices = new Map<number, SharedDeadline>();

  constructor(
    readonly inner: Client,
    readonly opts: CallGuardOptions,
  ) {}

  /** The error a call through the guard fails with, for what the callee failed it with. */
  map(e: unknown): Error {
    if (!(e instanceof RpcError)) return e instanceof Error ? e : new RpcError('failed', String(e));
    if (this.opts.mapError === undefined) return e;
    try {
      return this.opts.mapError(e);
    } catch {
      return e;
    }
  }

  /** The deadline slice calls made now without a signal share. */
  #shared(ms: number): SharedDeadline {
    const width = Math.max(1, Math.floor(ms / 16));
    const slice = Math.ceil((Date.now() + ms) / width);
    let d = this.#slices.get(slice);
    if (d === undefined) {
      d = new SharedDeadline(slice * width, () => this.#timeoutError(ms), () => this.#slices.delete(slice));
      this.#slices.set(slice, d);
    }
    return d;
  }

  #timeoutError(ms: number): RpcError {
    return this.opts.timeoutError?.(ms) ?? new RpcError('overloaded', `no answer within ${ms} ms`);
  }

  send(call: Call<Struct, Struct>, deliver: (call: Call<Struct, Struct>) => Answer<Struct>): Answer<Struct> {
    const ms = this.opts.timeoutMs;
    if (ms === undefined || !(ms > 0)) return new GuardAnswer(deliver(call), this, null);
    const prev = callOptions(call);
    const caller = prev?.signal;
    const own = caller === undefined ? null : new OwnDeadline(ms, () => this.#timeoutError(ms), caller);
    const deadline: Deadline = own ?? this.#shared(ms);
    // A new options object: the one on the call may be a connection's record of a served
    // call (its signal is the caller's, not ours to abort).
    const opts: CallOptions = { signal: deadline.signal };
    if (prev?.tailOf !== undefined) opts.tailOf = prev.tailOf;
    if (prev?.resultsMessage !== undefined) opts.resultsMessage = prev.resultsMessage.bind(prev);
    if (prev?.resultsUnused !== undefined) opts.resultsUnused = prev.resultsUnused.bind(prev);
    (call as { [kCallOptions]?: CallOptions })[kCallOptions] = opts;
    const answer = deliver(call);
    if (own !== null) {
      const done = (): void => own.done();
      answer.struct().then(done, done);
    }
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
