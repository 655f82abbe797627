/**
 * How many connections `capns serve` holds: at most `maxConnections` on each listener
 * (rpc, 9p, http, each export) and at most `maxConnectionsTotal` in the whole process.
 * Every accepted socket asks its listener's budget before any protocol work. The
 * per-listener limit stops one listener from taking the process's whole share; the
 * process-wide one keeps the file descriptors of every listener together under the
 * process's limit.
 *
 * A limit counted in connections alone would let sockets that connect and then say
 * nothing keep every real client out until they time out. So when a limit is reached,
 * the budget makes room by evicting the oldest connection that has not *established*
 * itself yet — an RPC connection that has not authenticated, a 9P one not attached, an
 * HTTP one that has not completed a request — and admits the newcomer in its place (as
 * OpenSSH's MaxStartups drops unauthenticated connections, but oldest first). A
 * connection is never evicted before it has had `evictAfterMs` to establish itself: an
 * admitted client always has that long (a second by default) to authenticate, however
 * fast a flood reconnects. A listener evicts at most one connection per `evictAfterMs /
 * maxConnections` (3.9 ms by default): a flood's places turn over steadily, not all at
 * once as they come of age.
 *
 * When no place can be made — every one established, or the unestablished ones all
 * younger than `evictAfterMs` — the newcomer is refused: closed at once (an HTTP one gets
 * a 503 first). A second refusal within a second also shuts the listener's door: until
 * a place is given back anywhere, or the oldest unestablished connection becomes old
 * enough to evict, the listener closes newcomers as they are accepted, before anything
 * is made for them (`refusesAtAccept`, asked by `dropAtAccept` in accepted-reads.ts). A
 * flood then costs an accept and a close per connect, not a socket, a connection and an
 * eviction; the places it can cycle are bounded by `maxConnections` per `evictAfterMs`.
 * Evictions and refusals (at the door too) are logged at a bounded rate.
 */
import { RateLimitedLog } from '../rate-limited-log.js';

/** Default connections at once per listener. */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** Default connections at once in the whole process. */
export const DEFAULT_MAX_CONNECTIONS_TOTAL = 1024;
/** Default time an admitted connection has to establish itself before it may be evicted. */
export const DEFAULT_EVICT_AFTER_MS = 1000;
/** A listener refusing twice within this long shuts its door (`refusesAtAccept`). */
const SHUT_AFTER_REFUSALS_WITHIN_MS = 1000;

/** What the budget needs to know of an admitted connection to evict it. */
export interface Watched {
  /** Whether it has authenticated (attached, completed a request): never evicted then. */
  established(): boolean;
  /** Closes it now, to give its place to a newcomer. Never throws. */
  evict(reason: string): void;
}

/** An admitted connection's place. */
export interface Admission {
  /** Gives the place back: call once when the socket closes. Idempotent. */
  readonly release: () => void;
  /**
   * Makes the connection evictable while it has not established itself. Without it, the
   * connection is never evicted.
   */
  watch(w: Watched): void;
}

/** What `ListenerBudget.admit` answers. */
export type AdmitResult = Admission | { readonly refused: string };

/** The limits a budget enforces; read at each admission (a reload may change them). */
export interface BudgetLimits {
  readonly maxConnections: number;
  readonly maxConnectionsTotal: number;
  /** A connection not established yet may be evicted once it is this old (ms). */
  readonly evictAfterMs: number;
}

/** One admitted connection. */
class Slot implements Admission {
  #watched: Watched | null = null;
  #released = false;
  /** When it was admitted (performance.now()): its age decides whether it may be evicted. */
  readonly since = performance.now();

  constructor(
    readonly listener: ListenerBudget,
    readonly budget: ConnectionBudget,
  ) {}

  readonly release = (): void => {
    if (this.#released) return;
    this.#released = true;
    this.budget._free(this);
  };

  // A method: an arrow function here was a closure per connection for a call made once.
  watch(w: Watched): void {
    if (!this.#released) this.#watched = w;
  }

  /** Once established, always (authentication is not undone): remembered. */
  #established = false;

  /** Whether it may be evicted now (watched, not established). */
  evictable(): boolean {
    if (this.#released || this.#watched === null || this.#established) return false;
    try {
      this.#established = this.#watched.established();
    } catch {
      this.#established = true;
    }
    // Never evicted from now on: what would evict it can go.
    if (this.#established) this.#watched = null;
    return !this.#established;
  }

  /** Closes it and gives its place back now (its socket may take a moment to close). */
  evict(reason: string): void {
    const w = this.#watched;
    this.release();
    try {
      w?.evict(reason);
    } catch {
      // Evicting is best effort; its place is given back either way.
    }
  }
}

/** The process's connections. One per `CapnsServer`. */
export class ConnectionBudget {
  /** Places held, oldest first (a Set keeps insertion order). */
  readonly #slots = new Set<Slot>();
  #limits: BudgetLimits;
  readonly #log: RateLimitedLog;

  readonly #onFree: (() => void) | undefined;
  /**
   * Bumped each time a place is given back or the limits change: a listener's door,
   * shut by a refusal, opens again once this moves (any place given back may be the one
   * a newcomer needs, and the process-wide limit is shared).
   */
  frees = 0;

  /**
   * `log` gets refusal and eviction lines, rate-limited per listener; `onFree` is told
   * each time a place is given back (a connection gone or evicted).
   */
  constructor(limits: BudgetLimits, log: (line: string, count: number) => void, options: { logIntervalMs?: number; onFree?: () => void } = {}) {
    this.#limits = limits;
    this.#log = new RateLimitedLog(log, options.logIntervalMs);
    this.#onFree = options.onFree;
  }

  /** Connections open now, every listener together. */
  get open(): number {
    return this.#slots.size;
  }

  get limits(): BudgetLimits {
    return this.#limits;
  }

  /** New limits, for connections accepted from now on (connections open stay). */
  setLimits(limits: BudgetLimits): void {
    this.#limits = limits;
    this.frees++;
  }

  /** The budget of one listener, named by its address (`rpc tcp!127.0.0.1!5640`). */
  listener(name: string): ListenerBudget {
    return new ListenerBudget(this, name);
  }

  /** Writes held refusal summaries now (at close). */
  flush(): void {
    this.#log.flush();
  }

  /** The oldest evictable place, of `l` only or of any listener. */
  #oldestEvictable(l: ListenerBudget | null): Slot | undefined {
    for (const s of l === null ? this.#slots : l._slots) if (s.evictable()) return s;
    return undefined;
  }

  /** @internal */
  _take(l: ListenerBudget, peer: string | undefined): AdmitResult {
    const { maxConnections, maxConnectionsTotal, evictAfterMs } = this.#limits;
    // One eviction per `pace` ms at most on a listener: a flood's evictions spread over
    // time rather than all its places turning over at once when they come of age.
    const pace = evictAfterMs / maxConnections;
    // Each full limit needs a place made: the listener's own first (a place it frees
    // counts toward the total too), then the process's.
    for (const [full, scope, what] of [
      [() => l._slots.size >= maxConnections, l, `${l.name} is at its limit of ${maxConnections} connections (limits.maxConnections)`],
      [() => this.#slots.size >= maxConnectionsTotal, null, `the process is at its limit of ${maxConnectionsTotal} connections (limits.maxConnectionsTotal)`],
    ] as const) {
      while (full()) {
        const victim = this.#oldestEvictable(scope);
        const now = performance.now();
        if (victim === undefined) return this.#refuse(l, peer, `${what}, every one of them established`, now, Infinity);
        if (now - victim.since < evictAfterMs) {
          return this.#refuse(l, peer, `${what}, and none of those not yet established has had limits.evictAfterMs (${evictAfterMs} ms) to do so`, now, victim.since + evictAfterMs);
        }
        if (now - l._lastEviction < pace) {
          return this.#refuse(l, peer, `${what}; it evicts one connection not yet established per ${pace.toFixed(1)} ms at most (limits.evictAfterMs / limits.maxConnections)`, now, l._lastEviction + pace);
        }
        l._lastEviction = now;
        const why = `evicted after ${Math.round(now - victim.since)} ms without authenticating, to admit a newer connection (${what})`;
        this.#log.note(`evict ${victim.listener.name}`, `${victim.listener.name}: ${why}`);
        victim.evict(why);
      }
    }
    const slot = new Slot(l, this);
    this.#slots.add(slot);
    l._slots.add(slot);
    return slot;
  }

  /** A newcomer of `l` refused for `why`; `until`: when a place may be made again. */
  #refuse(l: ListenerBudget, peer: string | undefined, why: string, now: number, until: number): AdmitResult {
    // A second refusal within a second is a flood, not a client that came at a bad moment:
    // the door shuts until a place is given back, or `until`. (The first is refused here,
    // an HTTP one with its 503.)
    if (now - l._lastRefusal < SHUT_AFTER_REFUSALS_WITHIN_MS) l._shut(why, until);
    l._lastRefusal = now;
    this.#log.note(l.name, `refused a connection${peer !== undefined ? ` from ${peer}` : ''}: ${why}`);
    return { refused: why };
  }

  /** @internal A connection `l` closed at accept, its door shut: a refusal, logged as one (`line`). */
  _dropped(l: ListenerBudget, line: string): void {
    this.#log.note(l.name, line);
  }

  /** @internal */
  _free(slot: Slot): void {
    this.frees++;
    this.#slots.delete(slot);
    slot.listener._slots.delete(slot);
    this.#onFree?.();
  }
}

/** One listener's share of a `ConnectionBudget`. */
export class ListenerBudget {
  /** @internal Places held on this listener, oldest first. */
  readonly _slots = new Set<Slot>();

  /** @internal */
  constructor(
    readonly budget: ConnectionBudget,
    /** How refusals name the listener; set again once a port 0 is resolved. */
    public name: string,
  ) {}

  /** Connections this listener holds now. */
  get open(): number {
    return this._slots.size;
  }

  /** @internal When this listener last refused a newcomer (performance.now()). */
  _lastRefusal = -Infinity;
  /** @internal When this listener last evicted a connection to admit one. */
  _lastEviction = -Infinity;
  /** Until when (performance.now()) the door is shut; 0 when open. */
  #shutUntil = 0;
  /** The budget's `frees` when it was shut: a place given back since opens it. */
  #shutAt = 0;
  /** The refusal line for connections closed at the door (made once per shutting). */
  #shutLine = '';

  /** @internal Shuts the door after a refusal, until `until` or a place is given back. */
  _shut(why: string, until: number): void {
    this.#shutUntil = until;
    this.#shutAt = this.budget.frees;
    this.#shutLine = `refused a connection: ${why}`;
  }

  /**
   * Whether a newcomer would be refused now, known without admitting it: from a refusal
   * until a place is given back anywhere in the process, or until the oldest connection
   * not yet established may be evicted. Asked for each accepted socket before anything
   * is made for it (accepted-reads.ts, `dropAtAccept`); true means the caller closes the
   * socket at once, and it is counted in the refusal log. O(1).
   */
  refusesAtAccept(): boolean {
    if (this.#shutUntil === 0) return false;
    if (this.budget.frees !== this.#shutAt || (this.#shutUntil !== Infinity && performance.now() >= this.#shutUntil)) {
      this.#shutUntil = 0;
      return false;
    }
    this.budget._dropped(this, this.#shutLine);
    return true;
  }

  /**
   * Admits a connection from `peer` (for the log), making room by evicting the oldest
   * connection that has not established itself when a limit is reached; or says why not
   * (and logs it).
   */
  admit(peer?: string): AdmitResult {
    return this.budget._take(this, peer);
  }
}
