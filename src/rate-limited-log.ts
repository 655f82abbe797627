/**
 * Log lines a peer can provoke at will (refused connections, timeouts), written at a
 * bounded rate: the first of a kind at once, then at most one line per interval saying
 * how many more there were. A flood of 20,000 refused connections costs the log a line
 * every ten seconds, not 20,000 lines.
 */

/** What a `RateLimitedLog` writes: the line, and how many events it stands for (1 or more). */
export type RateLimitedWrite = (line: string, count: number) => void;

interface KindState {
  /** When a line of this kind was last written. */
  last: number;
  /** Events noted since then and not written. */
  held: number;
  /** The latest of them, written as the summary's text. */
  line: string;
  timer: NodeJS.Timeout | null;
}

/** Default interval between two lines of one kind. */
export const RATE_LIMITED_INTERVAL_MS = 10_000;

/**
 * Rate limit per kind (a string key: a listener, a reason). Timers are unref'd: a pending
 * summary never keeps a process alive; `flush()` writes them now (at close).
 */
export class RateLimitedLog {
  readonly #write: RateLimitedWrite;
  readonly #intervalMs: number;
  readonly #kinds = new Map<string, KindState>();

  constructor(write: RateLimitedWrite, intervalMs = RATE_LIMITED_INTERVAL_MS) {
    this.#write = write;
    this.#intervalMs = intervalMs;
  }

  /**
   * Notes one event of `kind` (one of a bounded set the program chooses, such as a
   * listener's address; never a peer's); `line` is written now or summarized later.
   * Never throws.
   */
  note(kind: string, line: string): void {
    const now = Date.now();
    let k = this.#kinds.get(kind);
    if (k === undefined || (k.timer === null && now - k.last >= this.#intervalMs)) {
      if (k === undefined) this.#kinds.set(kind, (k = { last: now, held: 0, line, timer: null }));
      else k.last = now;
      this.#emit(line, 1);
      return;
    }
    k.held++;
    k.line = line;
    if (k.timer === null) {
      const state = k;
      state.timer = setTimeout(() => this.#summarize(state), Math.max(0, state.last + this.#intervalMs - now));
      state.timer.unref();
    }
  }

  /** Writes every held summary now. */
  flush(): void {
    for (const k of this.#kinds.values()) {
      if (k.timer !== null) clearTimeout(k.timer);
      this.#summarize(k);
    }
  }

  #summarize(k: KindState): void {
    k.timer = null;
    if (k.held === 0) return;
    const n = k.held;
    k.held = 0;
    k.last = Date.now();
    this.#emit(`${k.line} (${n} like this since the last such line)`, n);
  }

  #emit(line: string, count: number): void {
    try {
      this.#write(line, count);
    } catch {
      // A logger that throws must not take the listener down with it.
    }
  }
}
