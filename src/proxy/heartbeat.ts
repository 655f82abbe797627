/**
 * A connection's heartbeat: every `periodMs`, a cheap call to the peer; no answer of any
 * kind (an exception counts as an answer: the peer is alive enough to say no) within
 * `timeoutMs` destroys the connection with `dead()`'s error, failing every call in flight
 * through it at once (seed 003: a dead server is an error, never a hang). One probe at a
 * time: the next is scheduled when the previous one settles. Stops by itself when the
 * connection ends.
 *
 * Both ends of an import use it: the importer probes the export (a peer frozen without a
 * FIN), and the exporter probes each importer (a vanished importer's connection, and the
 * slot it holds, are given back instead of living until TCP notices).
 */
import type { RpcConnection, RpcError } from '../rpc/index.js';

/** What `heartbeat` needs. */
export interface HeartbeatOptions {
  readonly periodMs: number;
  readonly timeoutMs: number;
  /** One probe: any settlement (fulfilled or rejected) proves the peer alive. */
  readonly probe: () => Promise<unknown>;
  /** The error the connection is destroyed with when a probe goes unanswered. */
  readonly dead: () => RpcError;
}

/** A running heartbeat. */
export interface Heartbeat {
  /** Stops probing (idempotent). The connection is left as it is. */
  stop(): void;
}

/** Starts probing `conn` as `o` says. */
export function heartbeat(conn: RpcConnection, o: HeartbeatOptions): Heartbeat {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(deadline);
  };
  const beat = (): void => {
    if (stopped || conn.closed) return;
    let answered = false;
    deadline = setTimeout(() => {
      if (!answered && !stopped) conn.destroy(o.dead());
    }, o.timeoutMs);
    let probe: Promise<unknown>;
    try {
      probe = o.probe();
    } catch (e) {
      probe = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    probe
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        answered = true;
        clearTimeout(deadline);
        if (!stopped) timer = setTimeout(beat, o.periodMs);
      });
  };
  timer = setTimeout(beat, o.periodMs);
  void conn.whenClosed().then(stop);
  return { stop };
}
