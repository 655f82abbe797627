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
 * OpenSSH's MaxStartups drops unauthenticated connections, but oldest first: a client
 * that authenticates within the time a flood needs to cycle the whole listener's places
 * always gets in). Only when every place is held by established connections is the
 * newcomer refused: closed at once (an HTTP one gets a 503 first). Evictions and
 * refusals are logged at a bounded rate.
 */
import { RateLimitedLog } from '../rate-limited-log.js';

/** Default connections at once per listener. */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** Default connections at once in the whole process. */
export const DEFAULT_MAX_CONNECTIONS_TOTAL = 1024;

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
}

/** One admitted connection. */
class Slot implements Admission {
  #watched: Watched | null = null;
  #released = false;
  /** When it was admitted, for the eviction log. */
  readonly since = Date.now();

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
    const { maxConnections, maxConnectionsTotal } = this.#limits;
    const from = peer !== undefined ? ` from ${peer}` : '';
    // Each full limit needs a place made: the listener's own first (a place it frees
    // counts toward the total too), then the process's.
    for (const [full, scope, what] of [
      [() => l._slots.size >= maxConnections, l, `${l.name} is at its limit of ${maxConnections} connections (limits.maxConnections)`],
      [() => this.#slots.size >= maxConnectionsTotal, null, `the process is at its limit of ${maxConnectionsTotal} connections (limits.maxConnectionsTotal)`],
    ] as const) {
      while (full()) {
        const victim = this.#oldestEvictable(scope);
        if (victim === undefined) {
          this.#log.note(l.name, `refused a connection${from}: ${what}, every one of them established`);
          return { refused: what };
        }
        const age = Date.now() - victim.since;
        const why = `evicted after ${age} ms without authenticating, to admit a newer connection (${what})`;
        this.#log.note(`evict ${victim.listener.name}`, `${victim.listener.name}: ${why}`);
        victim.evict(why);
      }
    }
    const slot = new Slot(l, this);
    this.#slots.add(slot);
    l._slots.add(slot);
    return slot;
  }

  /** @internal */
  _free(slot: Slot): void {
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

  /**
   * Admits a connection from `peer` (for the log), making room by evicting the oldest
   * connection that has not established itself when a limit is reached; or says why not
   * (and logs it).
   */
  admit(peer?: string): AdmitResult {
    return this.budget._take(this, peer);
  }
}
