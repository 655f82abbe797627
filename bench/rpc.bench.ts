/**
 * RPC benchmark (issue 3): `npm run bench -- rpc`.
 *
 * In one run, interleaved rounds of five client -> server pairs, each client and server in
 * a process of its own:
 *   C++ -> C++        test/interop/cpp bench -> server (Cap'n Proto 0.9.2): the reference
 *   ours -> ours      bench/rpc-peer.js client -> bench/rpc-peer.js server (src/rpc)
 *   C++ -> ours, ours -> C++
 *   floor             bench/floor-peer.js: Node TCP framed ping-pong, no RPC at all
 * and three measurements (bench/measure.ts), each by a client process of its own, for
 * SECONDS after WARMUP seconds of the same work: sequential ping calls/s, ping calls/s
 * with 100 in flight, sequential 64 KiB data() reads in MB/s. The warm-up is the same for
 * every client; it lets a JIT finish optimizing (a 0.2 s warm-up measured V8's tiering as
 * much as our code: in figures about 8% lower for Node clients), so the figures are steady
 * state, what a long-running service sees.
 *
 * Printed: medians over the rounds, with the ratio to C++ -> C++ taken round by round;
 * then the CPU time per call (client + server) — the client measures its own, the server's
 * is read from /proc around the client's run — which the machine's load disturbs much
 * less than rates do; then the spread of the rates.
 *
 * Environment: RPC_BENCH_ROUNDS (default 5), RPC_BENCH_SECONDS (default 1),
 * RPC_BENCH_WARMUP (default 1). Every process it starts gets the environment bin/capns.js
 * gives Node (allocator settings; docs/serve.md, "Memory").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { buildCppPeers, projectRoot, startCppServer } from '../test/support/cpp-build.js';
import { cliEnv } from './cli-flags.js';
import type { Mode } from './measure.js';
import { load, median, sample, type Sample } from './pairs.js';

const ROUNDS = Number(process.env['RPC_BENCH_ROUNDS'] ?? 5);
const SECONDS = Number(process.env['RPC_BENCH_SECONDS'] ?? 1);
const WARMUP = Number(process.env['RPC_BENCH_WARMUP'] ?? 1);
const MODES: readonly Mode[] = ['seq', 'inflight', 'data'];

const root = projectRoot();
// The environment `capns` runs Node with (bin/capns.js: allocator settings), for every
// process this bench starts, the C++ ones included: like for like.
const CLI_ENV = cliEnv(root);
Object.assign(process.env, CLI_ENV);
const benchDir = import.meta.dirname; // dist-bench/bench

/** tsc emits no .js for the generated test schema (it is .js + .d.ts): copy it beside. */
function copyFixtures(): void {
  const from = join(root, 'test', 'fixtures', 'rpc', 'gen');
  const to = join(benchDir, '..', 'test', 'fixtures', 'rpc', 'gen');
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) if (f.endsWith('.js')) cpSync(join(from, f), join(to, f));
}

/** Starts a Node peer in server mode; resolves with its port once it prints it. */
async function startNodeServer(script: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(benchDir, script), 'server'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => {
      rl.close();
      resolve(Number(line.trim()));
    });
    child.once('exit', (code) => reject(new Error(`${script} server exited (${code}) before listening`)));
  });
  return { port, child };
}

function rate(mode: Mode, x: number): string {
  if (mode === 'data') return x.toFixed(0);
  return x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
}

interface Pair {
  name: string;
  cmd: string;
  args: (mode: Mode) => string[];
  serverPid: number;
}

async function main(): Promise<void> {
  const loadBefore = load();
  copyFixtures();
  const peers = await buildCppPeers();
  const cpp = await startCppServer(peers.server);
  const floor = await startNodeServer('floor-peer.js');
  const failures = new Map<string, string>();
  // Our server failing to start fails only the pairs that need it.
  const ours = await startNodeServer('rpc-peer.js').catch((err: Error) => {
    failures.set('ours server', err.message);
    return null;
  });
  const cppAddr = cpp.address;
  const oursAddr = `127.0.0.1:${ours?.port ?? 1}`;
  const node = process.execPath;
  const s = String(SECONDS);
  const w = String(WARMUP);
  const rpcPeer = join(benchDir, 'rpc-peer.js');
  const cppPid = cpp.process.pid!;
  const oursPid = ours?.child.pid ?? 0;

  const pairs: Pair[] = [
    { name: 'C++ -> C++ (reference)', cmd: peers.bench, args: (m) => [cppAddr, s, m, w], serverPid: cppPid },
    { name: 'ours -> ours', cmd: node, args: (m) => [rpcPeer, 'client', oursAddr, s, m, w], serverPid: oursPid },
    { name: 'C++ -> ours', cmd: peers.bench, args: (m) => [oursAddr, s, m, w], serverPid: oursPid },
    { name: 'ours -> C++', cmd: node, args: (m) => [rpcPeer, 'client', cppAddr, s, m, w], serverPid: cppPid },
    {
      name: 'floor: Node TCP framed ping-pong',
      cmd: node,
      args: (m) => [join(benchDir, 'floor-peer.js'), 'client', String(floor.port), s, m, w],
      serverPid: floor.child.pid!,
    },
  ];
  // results[pair][mode][round]; a failed sample stays undefined.
  const results = new Map<string, Record<Mode, (Sample | undefined)[]>>(
    pairs.map((p) => [p.name, { seq: [], inflight: [], data: [] }]),
  );
  if (ours === null) {
    for (const p of pairs) if (p.name.includes('ours')) failures.set(p.name, 'our server did not start');
  }
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no pair always runs first (or right after another).
      for (let i = 0; i < pairs.length; i++) {
        const p = pairs[(i + round) % pairs.length]!;
        if (failures.has(p.name)) continue;
        for (const mode of MODES) {
          try {
            results.get(p.name)![mode][round] = await sample(p.cmd, p.args(mode), p.serverPid, SECONDS + WARMUP + 30);
          } catch (err) {
            failures.set(p.name, `${mode}: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`);
            break;
          }
        }
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    await cpp.close();
    ours?.child.stdin!.end();
    floor.child.stdin!.end();
  }

  // Ratios are taken round by round (each pair against the reference measured in the
  // same round, seconds apart), then the median of those: the machine's load drifts
  // between rounds, and this cancels the drift better than a ratio of medians.
  const ref = results.get(pairs[0]!.name)!;
  const done = (xs: (Sample | undefined)[]): Sample[] => xs.filter((x): x is Sample => x !== undefined);
  const ratioCell = (rs: (Sample | undefined)[], mode: Mode, f: (x: Sample) => number): string => {
    const ratios = rs.flatMap((r, i) => {
      const c = ref[mode][i];
      return r === undefined || c === undefined ? [] : [f(r) / f(c)];
    });
    return ratios.length > 0 ? median(ratios).toFixed(2) : '-';
  };

  console.log(`\nRPC: ${ROUNDS} interleaved rounds x ${SECONDS} s per figure after ${WARMUP} s of warm-up, medians over rounds;`);
  console.log('x C++ = median over rounds of (pair / C++ -> C++ of the same round).');
  console.log(`Load average before: ${loadBefore}; after: ${load()} (${availableParallelism()} cores).`);
  const env = Object.entries(CLI_ENV).map(([k, v]) => `${k}=${v}`).join(' ');
  if (env !== '') console.log(`Every process ran with ${env} (bin/capns.js's environment).`);
  console.log('\n| pair | sequential calls/s | x C++ | 100 in flight calls/s | x C++ | 64 KiB reads MB/s | x C++ |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const p of pairs) {
    const r = results.get(p.name)!;
    if (MODES.every((m) => done(r[m]).length === 0)) {
      console.log(`| ${p.name} | failed: ${failures.get(p.name) ?? 'no result'} | | | | | |`);
      continue;
    }
    const cells = MODES.map((m) => {
      const xs = done(r[m]);
      if (xs.length === 0) return '- | -';
      return `${rate(m, median(xs.map((x) => x.rate)))} | ${ratioCell(r[m], m, (x) => x.rate)}`;
    });
    console.log(`| ${p.name} | ${cells.join(' | ')} |`);
  }

  console.log('\nCPU time per call, client + server, in µs (lower is better; x C++ as above):');
  console.log('| pair | sequential | x C++ | 100 in flight | x C++ | per 64 KiB read | x C++ |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const p of pairs) {
    const r = results.get(p.name)!;
    const cells = MODES.map((m) => {
      const xs = done(r[m]);
      if (xs.length === 0) return '- | -';
      const c = median(xs.map((x) => x.cpuUs));
      const sv = median(xs.map((x) => x.serverUs));
      return `${c.toFixed(0)} + ${sv.toFixed(0)} | ${ratioCell(r[m], m, (x) => x.cpuUs + x.serverUs)}`;
    });
    console.log(`| ${p.name} | ${cells.join(' | ')} |`);
  }

  console.log('\nSpread of the rates over rounds (min..max):');
  console.log('| pair | sequential calls/s | 100 in flight calls/s | 64 KiB reads MB/s |');
  console.log('|---|---:|---:|---:|');
  for (const p of pairs) {
    const r = results.get(p.name)!;
    const cells = MODES.map((m) => {
      const xs = done(r[m]).map((x) => x.rate);
      return xs.length === 0 ? '-' : `${rate(m, Math.min(...xs))}..${rate(m, Math.max(...xs))}`;
    });
    console.log(`| ${p.name} | ${cells.join(' | ')} |`);
  }

  console.log(
    '\nTargets (issue 3), ours -> ours against C++ -> C++: 100 in flight >= 1.0x, sequential >= 0.9x, 64 KiB reads >= 1.0x.',
  );
  for (const [name, msg] of failures) console.log(`FAILED ${name}: ${msg}`);
  if (failures.size > 0) process.exitCode = 1;
}

await main();
