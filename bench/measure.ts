/**
 * The measurement loop of the Node benchmark clients (rpc-peer.ts, floor-peer.ts), the
 * same as the C++ one (test/interop/cpp/bench.c++):
 *   seq       sequential pings: calls/s
 *   inflight  pings with 100 in flight: calls/s
 *   data      sequential 64 KiB reads: MB/s (10^6 bytes)
 * each for SECONDS after a warm-up (0.2 s unless told).
 */

/** What a client can do, one call each. */
export interface BenchOps {
  ping(): Promise<void>;
  /** Reads 64 KiB; resolves with the bytes received. */
  read64k(): Promise<number>;
}

/** The printed result: rate, calls made in all (warm-up too), CPU µs (all, user) per measured call. */
export interface BenchResult {
  rate: number;
  calls: number;
  cpuUs: number;
  /** Absent from the C++ client's line. */
  userUs?: number;
}

export type Mode = 'seq' | 'inflight' | 'data';

export function isMode(m: string | undefined): m is Mode {
  return m === 'seq' || m === 'inflight' || m === 'data';
}

async function run(ops: BenchOps, mode: Mode, seconds: number): Promise<{ rate: number; calls: number }> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let calls = 0;
  let bytes = 0;
  switch (mode) {
    case 'seq':
      while (performance.now() < end) {
        await ops.ping();
        calls++;
      }
      break;
    case 'inflight': {
      const slot = async (): Promise<void> => {
        while (performance.now() < end) {
          await ops.ping();
          calls++;
        }
      };
      await Promise.all(Array.from({ length: 100 }, slot));
      break;
    }
    case 'data':
      while (performance.now() < end) {
        bytes += await ops.read64k();
        calls++;
      }
      break;
  }
  const elapsed = (performance.now() - t0) / 1000;
  return { rate: mode === 'data' ? bytes / elapsed / 1e6 : calls / elapsed, calls };
}

/** Warms up for `warmup` seconds, measures `mode` for `seconds`, and returns the figures. */
export async function measure(ops: BenchOps, mode: Mode, seconds: number, warmup = 0.2): Promise<BenchResult> {
  const warm = await run(ops, mode, warmup);
  const cpu0 = process.cpuUsage();
  const r = await run(ops, mode, seconds);
  const cpu = process.cpuUsage(cpu0);
  return { rate: r.rate, calls: warm.calls + r.calls, cpuUs: (cpu.user + cpu.system) / r.calls, userUs: cpu.user / r.calls };
}
