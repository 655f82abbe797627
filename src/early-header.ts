/**
 * When a large reply's header may go out in a write of its own, ahead of its data.
 *
 * Written alone, the header wakes the peer while the kernel is still copying the data, so
 * the peer's wake-up overlaps the copy: one client reading 64 KiB results gained 5-11%
 * over RPC and 3-6% over 9P (BENCHMARKS.md). But it is one more write per reply, and when
 * the process is answering several connections its CPU is what limits them: 4 RPC clients
 * reading 64 KiB results lost 10-15%, 8 diodload connections 7.5%. So the header goes
 * ahead only while the process is writing to one connection: none other was written to
 * within the last QUIET_MS. The state is process-wide, so that src/rpc's connections and
 * the 9P bridge's in one `capns serve` see each other's writes. Only the 9P bridge sends
 * a header ahead now: src/rpc records its writes here but writes its frames whole (the
 * extra write and wake-up cost 8-10 µs of CPU per 64 KiB RPC read: docs/rpc.md).
 */

/** How long (ms) after another connection's write a header no longer goes ahead. */
export const QUIET_MS = 1;

let lastWriter = 0;
let lastAt = -Infinity;
let writers = 0;

/** A new writer's id (one per connection), for `headerAhead`. */
export function newWriterId(): number {
  return ++writers;
}

/**
 * Records that `writer` is writing now (`now`: performance.now()), and says whether a
 * large reply's header may go ahead of its data: no other writer wrote within QUIET_MS.
 * Call it once per batch of writes.
 */
export function headerAhead(writer: number, now: number = performance.now()): boolean {
  const alone = lastWriter === writer || now - lastAt >= QUIET_MS;
  lastWriter = writer;
  lastAt = now;
  return alone;
}
