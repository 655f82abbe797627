/**
 * What the benchmarks of client -> server pairs share (rpc.bench.ts, client.bench.ts,
 * http.bench.ts, serve.bench.ts): a client process's measurement with the server's CPU
 * time read around it, an operation kept going for a while, and medians.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import type { BenchResult } from './measure.js';

const run = promisify(execFile);

/** USER_HZ: the unit of utime/stime in /proc/PID/stat (100 on Linux everywhere). */
const CLOCK_TICKS = 100;

/** CPU time (user + system, all threads) of process `pid` so far, in µs. */
export function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/** One measurement: the client's figures plus the server's CPU µs per call. */
export interface Sample extends BenchResult {
  serverUs: number;
}

/**
 * Runs one client process (`cmd args`, which prints a BenchResult JSON line last) and
 * reads the server's CPU around it. `timeoutS`: how long the client may take.
 */
export async function sample(cmd: string, args: string[], serverPid: number, timeoutS: number): Promise<Sample> {
  const before = cpuOf(serverPid);
  const { stdout } = await run(cmd, args, { timeout: timeoutS * 1000 });
  const server = cpuOf(serverPid) - before;
  const r = JSON.parse(stdout.trim().split('\n').pop() ?? '') as BenchResult;
  // The server worked for every call of the client's process, warm-up included.
  return { ...r, serverUs: server / r.calls };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The load averages, for the printed header. */
export function load(): string {
  return loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
}

/**
 * Runs `op` again and again for `seconds`, `width` at a time (each as soon as the one
 * before it in its lane settles): how many completed, and in how many seconds.
 */
export async function keepBusy(op: () => Promise<unknown>, width: number, seconds: number): Promise<{ ops: number; seconds: number }> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let ops = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (performance.now() < end) {
        await op();
        ops++;
      }
    }),
  );
  return { ops, seconds: (performance.now() - t0) / 1000 };
}
