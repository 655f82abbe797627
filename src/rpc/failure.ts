/**
 * The RPC failure vocabulary (STYLE.md section 4, item 3): Cap'n Proto exceptions are
 * translated to and from `RpcError` here and nowhere else.
 */
import { withoutStackTrace } from '../no-stack.js';

/** Exception.Type of rpc.capnp, in its numeric order. */
export type RpcErrorType = 'failed' | 'overloaded' | 'disconnected' | 'unimplemented';

const TYPES: readonly RpcErrorType[] = ['failed', 'overloaded', 'disconnected', 'unimplemented'];

const brand = Symbol.for('ns.rpc.error');

/**
 * A failed call or connection. `type` says what the caller should do: `disconnected` →
 * drop capabilities and reconnect; `overloaded` → back off; `unimplemented` → the peer
 * lacks the method or feature; `failed` → anything else (a bug, a refused request).
 * Cancelled calls are `failed` with `name === 'AbortError'`.
 */
export class RpcError extends Error {
  readonly type: RpcErrorType;
  readonly #abort: boolean;

  constructor(type: RpcErrorType, message: string, options?: { cause?: unknown; abort?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.type = type;
    this.#abort = options?.abort === true;
  }

  override get name(): string {
    return this.#abort ? 'AbortError' : 'RpcError';
  }

  /**
   * An RpcError without a stack trace, for what peers make happen in bulk: a connection
   * that ends, one evicted to make room, a call refused past a limit. The stack (node's
   * event emitter, or the eviction's caller) says nothing the message does not, and
   * capturing it was most of the cost: 148 ms of a soak benchmark's 8 s of idle-socket
   * flood went to the eviction's RpcError alone (NsError.refusal is the same for NsError).
   */
  static withoutStack(type: RpcErrorType, message: string): RpcError {
    return withoutStackTrace(() => new RpcError(type, message));
  }

  /** Recognizes RpcErrors from another copy of this module too. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[brand] === true;
  }

  get [brand](): boolean {
    return true;
  }
}

/** Exception.Type number → name; unknown numbers (from newer peers) read as `failed`. */
export function typeFromWire(n: number): RpcErrorType {
  return TYPES[n] ?? 'failed';
}

/** Exception.Type name → number. */
export function typeToWire(t: RpcErrorType): number {
  return TYPES.indexOf(t);
}

/**
 * Any thrown value → RpcError. RpcErrors keep their type; anything else is `failed` with
 * its message (never its stack: STYLE.md says never send stacks or host paths).
 */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof Error) {
    if (err.name === 'AbortError') return new RpcError('failed', err.message, { cause: err, abort: true });
    return new RpcError('failed', err.message, { cause: err });
  }
  return new RpcError('failed', String(err));
}

// An absolute host path of two or more components (as Node's fs errors quote them).
const HOST_PATH = /(?<![\w.~:/-])\/(?:[^\s'"`/():,;]+\/)+[^\s'"`/():,;]*/g;

/**
 * The reason text sent to a peer: the message only (never a stack), with absolute host
 * paths replaced by `<path>` (a Node system error names the file it failed on; the peer
 * must not learn our file layout), trimmed to a sane length.
 */
export function reasonForWire(err: RpcError): string {
  const m = err.message.replace(HOST_PATH, '<path>');
  return m.length > 4096 ? `${m.slice(0, 4093)}...` : m;
}

/** A protocol violation by the peer: the connection is aborted with this reason. */
export class ProtocolError extends Error {
  override get name(): string {
    return 'ProtocolError';
  }
}
