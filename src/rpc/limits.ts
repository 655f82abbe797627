/**
 * Per-connection limits of the RPC layer, all in one place (STYLE.md section 6).
 *
 * Every limit is a named option with a safe default. Going over a load limit
 * (questions, exports, in-flight calls, answers) is an `overloaded` RpcError for the call
 * that hit it; going over a size limit on input is a protocol error that aborts the
 * connection (the peer sent something we promised to refuse); a deadline that passes
 * (handshake, idle) aborts it too, saying which. Nothing crashes.
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
  /**
   * Answers the peer may hold at once: its calls being served plus those returned and not
   * yet finished (rpc.capnp Finish). A call past it is answered `overloaded` at once and
   * nothing of it is kept. Answers without capabilities are dropped at their Return
   * (Return.noFinishNeeded, as C++ does), so it is the answers the peer keeps on purpose
   * (capabilities, exceptions) that count.
   */
  maxAnswers: number;
  /**
   * The same, before the peer has authenticated (listeners with `requireAuthentication`):
   * a client about to authenticate holds one or two answers (its Bootstrap, the call that
   * authenticates), not thousands of calls left unfinished by a peer nobody admitted.
   */
  maxPreAuthAnswers: number;
  /**
   * Largest frame accepted before the peer has authenticated (connections a listener
   * makes with `requireAuthentication`), header included; rises to maxMessageBytes when
   * the bootstrap says the peer authenticated. Over it: Abort.
   */
  maxPreAuthMessageBytes: number;
  /**
   * Milliseconds a connection that must authenticate has to do so (from accept); then it
   * is aborted. 0: no deadline.
   */
  handshakeTimeoutMs: number;
  /**
   * Milliseconds the socket of a connection aborted before it authenticated stays open,
   * unread, after its Abort (listeners with `requireAuthentication`): a peer that
   * reconnects as soon as it is cut then does so at this pace, not as fast as the server
   * can refuse it. The connection itself is over at once; only the socket waits (its
   * listener still counts it: `socketClosed()`). 0: closed as soon as the Abort is written.
   */
  abortLingerMs: number;
  /**
   * Milliseconds the connection stops reading after it refused one of the peer's calls
   * for a limit the peer is past (maxAnswers; twice maxInFlightCalls): a peer that keeps
   * calling past its limits has one call considered per pause instead of as many as it
   * can send. 0: no pause (each call past the limit is still refused).
   */
  refusalPauseMs: number;
  /**
   * Milliseconds a connection may stay idle (no call in either direction, nothing
   * pending: no question awaiting a Return, no answer awaiting a Finish) before it is
   * aborted. 0 (the default): never.
   */
  idleTimeoutMs: number;
  /**
   * Frames of one connection handled in a row before it waits for the event loop's next
   * turn (its socket paused meanwhile): a peer that pipelines thousands of calls in one
   * read shares the process with every other connection instead of holding it for as
   * long as its backlog lasts.
   */
  maxFramesPerTurn: number;
  /**
   * The same, for a connection that has not authenticated yet (listeners with
   * `requireAuthentication`). A client that is about to authenticate sends a frame or
   * two (Bootstrap, the call that authenticates); a peer that pipelines calls without
   * authenticating gets this many handled per turn, so that unauthenticated peers, who
   * may be many, take a small share of the process.
   */
  maxPreAuthFramesPerTurn: number;
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
  maxAnswers: 4096,
  maxPreAuthAnswers: 16,
  maxPreAuthMessageBytes: 64 * 1024,
  handshakeTimeoutMs: 10_000,
  abortLingerMs: 1000,
  refusalPauseMs: 100,
  idleTimeoutMs: 0,
  maxFramesPerTurn: 32,
  maxPreAuthFramesPerTurn: 4,
});

/** Limits that take 0 to mean "off". */
const ZERO_OFF: ReadonlySet<string> = new Set(['handshakeTimeoutMs', 'idleTimeoutMs', 'abortLingerMs', 'refusalPauseMs']);

/**
 * What resolveLimits returned: a listener resolves its limits once and hands the same
 * frozen object to every connection it accepts, which takes it as it is.
 */
const resolved = new WeakSet<object>();
/** The defaults resolved, once: what a connection made without limits shares (every client's, by default). */
let defaults: RpcLimits | undefined;

/**
 * Merges user overrides onto the defaults; rejects nonsense (non-integer, non-positive;
 * the timeouts may be 0, meaning none). The result is frozen; given back to
 * resolveLimits, it is returned as it is.
 */
export function resolveLimits(overrides: Partial<RpcLimits> | undefined): RpcLimits {
  if (overrides === undefined) return (defaults ??= resolveLimits({}));
  if (resolved.has(overrides)) return overrides as RpcLimits;
  const out: RpcLimits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [k, v] of Object.entries(out)) {
    const min = ZERO_OFF.has(k) ? 0 : 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new RangeError(`rpc limit ${k} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got ${String(v)}`);
    }
  }
  Object.freeze(out);
  resolved.add(out);
  return out;
}
