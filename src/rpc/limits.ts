/**
 * Per-connection limits of the RPC layer, all in one place (STYLE.md section 6).
 *
 * Every limit is a named option with a safe default. Going over a load limit
 * (questions, exports, in-flight calls) is an `overloaded` RpcError for the call that
 * hit it; going over a size limit on input is a protocol error that aborts the
 * connection (the peer sent something we promised to refuse). Nothing crashes.
 */

/** Limits of one RPC connection. */
export interface RpcLimits {
  /** Largest frame accepted or sent, header included (bytes). C++ default traversal is 64 MiB. */
  maxMessageBytes: number;
  /** Most segments in one frame (C++ refuses more than 512). */
  maxSegments: number;
  /** capnp-es traversal limit (words read) per received message. */
  traversalLimitWords: number;
  /** Deepest struct/list nesting a received message may have. */
  nestingLimit: number;
  /**
   * Calls from the peer being served at once (answers not yet returned). At this many we
   * stop reading the socket until some return: backpressure, not an error.
   */
  maxInFlightCalls: number;
  /** Our calls to the peer awaiting their Return; one more is rejected `overloaded`. */
  maxQuestions: number;
  /** Capabilities we export to the peer; exporting one more fails the call `overloaded`. */
  maxExports: number;
  /** Capabilities imported from the peer; a peer that sends more is aborted. */
  maxImports: number;
  /** Bytes queued for the socket beyond which we stop reading from it until it drains. */
  maxWriteBufferBytes: number;
}

/** The defaults: generous for real use, bounded against a hostile peer. */
export const DEFAULT_LIMITS: Readonly<RpcLimits> = Object.freeze({
  maxMessageBytes: 64 * 1024 * 1024,
  maxSegments: 512,
  traversalLimitWords: 8 * 1024 * 1024,
  nestingLimit: 64,
  maxInFlightCalls: 1024,
  maxQuestions: 65536,
  maxExports: 65536,
  maxImports: 65536,
  maxWriteBufferBytes: 8 * 1024 * 1024,
});

/** Merges user overrides onto the defaults; rejects nonsense (non-positive, non-integer). */
export function resolveLimits(overrides: Partial<RpcLimits> | undefined): RpcLimits {
  const out: RpcLimits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [k, v] of Object.entries(out)) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new RangeError(`rpc limit ${k} must be a positive integer, got ${String(v)}`);
    }
  }
  return out;
}
