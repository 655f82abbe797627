/**
 * Memory given back after a burst of departures.
 *
 * When many connections leave at once (a flood that ends, a reload that cuts sessions) or
 * a few that held much (thousands of grants and unfinished answers), what they held is
 * garbage in V8's old generation. bin/capns.js starts the old generation at 128 MB
 * (docs/serve.md, "Memory"), so V8 runs its next full collection only when that fills:
 * a server left with its usual load after an attack kept 60-80 MiB it no longer used
 * (BENCHMARKS.md, Soak). The Reclaimer counts departures (connections closed, grants
 * released, what an RPC connection held when it ended: unfinished answers, imports)
 * and, once `threshold` have gone and none has for `quietMs`, collects once.
 * A steady trickle of departures never triggers it (the quiet never comes), so the flags
 * keep their purpose under load; the one pause it costs comes when a burst is over.
 *
 * The collection is two full collections in a row (`gc()` twice). The first frees what the
 * departures held but leaves most of the old generation's pages committed, part full;
 * the second, knowing now how little lives on them, moves it and gives the pages back.
 * With one, the soak benchmark's server stayed at 1.32x its resident memory from before
 * the attack (162.7-165.1 MiB over 3 rounds, the heap in use at baseline, 25 MiB of free
 * old-generation pages committed); with two, 1.09x (133.4-134.8 MiB; BENCHMARKS.md, Soak).
 *
 * The collector is `globalThis.gc`, which Node offers under `--expose-gc` (bin/capns.js
 * passes it). A program that embeds capns without the flag gets no collection here.
 */

import v8 from 'node:v8';

/** `gc` twice (see above), or undefined without `gc`. */
function twoFullCollections(gc: (() => void) | undefined): (() => void) | undefined {
  return gc === undefined
    ? undefined
    : () => {
        gc();
        gc();
      };
}

export interface ReclaimOptions {
  /** Departures (connections closed, grants released) that make a collection worth it. */
  readonly threshold: number;
  /** Milliseconds without a departure before collecting. */
  readonly quietMs: number;
  /** The collection. Default: `globalThis.gc` twice when exposed, else none. */
  readonly collect?: () => void;
  /** Told after each collection: how many departures it followed, its duration, the bytes in use in V8's heap before and after. */
  readonly onCollect?: (departures: number, ms: number, heapBefore: number, heapAfter: number) => void;
}

/** The defaults: the end of a flood (hundreds of connections, thousands of grants), not a day's churn seen at once. */
export const DEFAULT_RECLAIM: ReclaimOptions = Object.freeze({ threshold: 500, quietMs: 1000 });

export class Reclaimer {
  readonly #options: ReclaimOptions;
  readonly #collect: (() => void) | undefined;
  #departures = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: ReclaimOptions = DEFAULT_RECLAIM) {
    this.#options = options;
    this.#collect = options.collect ?? twoFullCollections((globalThis as { gc?: () => void }).gc);
  }

  /** Whether collections can run (a collector was given or exposed). */
  get enabled(): boolean {
    return this.#collect !== undefined;
  }

  /** `n` more departures. */
  departed(n = 1): void {
    if (this.#collect === undefined || this.#closed || n <= 0) return;
    this.#departures += n;
    if (this.#departures < this.#options.threshold) return;
    if (this.#timer !== null) this.#timer.refresh();
    else this.#timer = setTimeout(() => this.#run(), this.#options.quietMs).unref();
  }

  #run(): void {
    this.#timer = null;
    const n = this.#departures;
    this.#departures = 0;
    const before = v8.getHeapStatistics().used_heap_size;
    const t0 = performance.now();
    this.#collect!();
    const ms = performance.now() - t0;
    this.#options.onCollect?.(n, ms, before, v8.getHeapStatistics().used_heap_size);
  }

  /** No more collections (the server is closing). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
