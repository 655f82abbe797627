/**
 * How many connections `capns serve` holds: at most `maxConnections` on each listener
 * (rpc, 9p, http, each export) and at most `maxConnectionsTotal` in the whole process.
 * Every accepted socket asks its listener's budget before any protocol work; a refused
 * one is closed at once (an HTTP one gets a 503 first), and the refusal is logged at a
 * bounded rate. The per-listener limit stops one listener from taking the process's
 * whole share; the process-wide one keeps the file descriptors of every listener
 * together under the process's limit, so a flood of idle sockets cannot leave a real
 * client without one.
 */
import { RateLimitedLog } from '../rate-limited-log.js';

/** Default connections at once per listener. */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** Default connections at once in the whole process. */
export const DEFAULT_MAX_CONNECTIONS_TOTAL = 1024;

/** An admitted connection's place: give it back once, when the socket closes. */
export interface Admission {
  /** Idempotent. */
  readonly release: () => void;
}

/** What `ListenerBudget.admit` answers. */
export type AdmitResult = Admission | { readonly refused: string };

/** The limits a budget enforces; read at each admission (a reload may change them). */
export interface BudgetLimits {
  readonly maxConnections: number;
  readonly maxConnectionsTotal: number;
}

/** The process's connections. One per `CapnsServer`. */
export class ConnectionBudget {
  #open = 0;
  #limits: BudgetLimits;
  readonly #log: RateLimitedLog;

  /** `log` gets refusal lines, rate-limited per listener. */
  constructor(limits: BudgetLimits, log: (line: string, count: number) => void, logIntervalMs?: number) {
    this.#limits = limits;
    this.#log = new RateLimitedLog(log, logIntervalMs);
  }

  /** Connections open now, every listener together. */
  get open(): number {
    return this.#open;
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

  /** @internal */
  _take(l: ListenerBudget, peer: string | undefined): AdmitResult {
    const { maxConnections, maxConnectionsTotal } = this.#limits;
    let refused: string | undefined;
    if (l.open >= maxConnections) refused = `${l.name} is at its limit of ${maxConnections} connections (limits.maxConnections)`;
    else if (this.#open >= maxConnectionsTotal)
      refused = `the process is at its limit of ${maxConnectionsTotal} connections (limits.maxConnectionsTotal)`;
    if (refused !== undefined) {
      this.#log.note(l.name, `refused a connection${peer !== undefined ? ` from ${peer}` : ''}: ${refused}`);
      return { refused };
    }
    this.#open++;
    l._open++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#open--;
        l._open--;
      },
    };
  }
}

/** One listener's share of a `ConnectionBudget`. */
export class ListenerBudget {
  /** @internal */
  _open = 0;

  /** @internal */
  constructor(
    readonly budget: ConnectionBudget,
    /** How refusals name the listener; set again once a port 0 is resolved. */
    public name: string,
  ) {}

  /** Connections this listener holds now. */
  get open(): number {
    return this._open;
  }

  /** Admits a connection from `peer` (for the log), or says why not (and logs it). */
  admit(peer?: string): AdmitResult {
    return this.budget._take(this, peer);
  }
}
