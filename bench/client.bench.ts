/**
 * Our client against `capns serve`, beside a C++ client against the same server (issue
 * 21): `npm run bench -- client`.
 *
 * One `capns serve` process (its manifest below: a ram tree at /tmp holding a 64 KiB
 * /tmp/f, a Clock at /svc/clock, the loopback profile, an rpc listener), started as
 * bin/capns.js starts it. Two clients, each in a process of its own, authenticate to its
 * Gate and resolve what they call once:
 *   C++    test/interop/cpp/serve-bench.c++ (Cap'n Proto 0.9.2, EzRpc, capns's schemas)
 *   ours   bench/serve-peer.js (src/client's connect + generated clients over src/rpc)
 * Three measurements each, for SECONDS after WARMUP seconds of the same work: sequential
 * Clock.now() calls/s, Clock.now() with 100 in flight, sequential File.read(0, 65536) in
 * MB/s. Rounds interleave the two clients (the order alternates). Printed: medians, the
 * ratio ours / C++ taken round by round, and the CPU time per call of the client and of
 * the server (read from /proc around each client's run).
 *
 * Environment: CLIENT_BENCH_ROUNDS (default 5), CLIENT_BENCH_SECONDS (1),
 * CLIENT_BENCH_WARMUP (1).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../src/client/index.js';
import { buildCppPeers, projectRoot } from '../test/support/cpp-build.js';
import { cliEnv, cliNodeFlags } from './cli-flags.js';
import type { Mode } from './measure.js';
import { load, median, sample, type Sample } from './pairs.js';

const ROUNDS = Number(process.env['CLIENT_BENCH_ROUNDS'] ?? 5);
const SECONDS = Number(process.env['CLIENT_BENCH_SECONDS'] ?? 1);
const WARMUP = Number(process.env['CLIENT_BENCH_WARMUP'] ?? 1);
const MODES: readonly Mode[] = ['seq', 'inflight', 'data'];
const root = projectRoot();
const distRoot = join(import.meta.dirname, '..'); // dist-bench
// As bin/capns.js runs Node, for the server and every client (the C++ one included).
const NODE_FLAGS = cliNodeFlags(root);
const CLI_ENV = cliEnv(root);
Object.assign(process.env, CLI_ENV);

const MANIFEST = `version: 1
capabilities:
  tmp: { type: ram }
  clock: { type: demo.clock }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: clock, at: /svc/clock, require: Clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;

interface Client {
  name: string;
  cmd: string;
  args: (mode: Mode) => string[];
}

function cell(mode: Mode, x: number): string {
  if (mode === 'data') return x.toFixed(0);
  return x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
}

async function main(): Promise<void> {
  const loadBefore = load();
  const peers = await buildCppPeers();
  const dir = mkdtempSync(join(tmpdir(), 'capns-client-bench-'));
  writeFileSync(join(dir, 'm.yaml'), MANIFEST);
  const server = spawn(process.execPath, [...NODE_FLAGS, join(distRoot, 'src', 'cli', 'main.js'), 'serve', '--manifest', join(dir, 'm.yaml'), '--log-level', 'warn'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const rpc = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^rpc\s+(\S+)/m.exec(out);
        if (m) resolve(m[1]!);
      });
      server.on('exit', () => reject(new Error('capns serve exited')));
    });
    // host:port for the C++ client (EzRpc), the capns address for ours.
    const hostPort = rpc.replace(/^tcp!/, '').replace('!', ':');
    {
      await using c = await connect(rpc);
      await c.writeFile('/tmp/f', new Uint8Array(65536).map((_, i) => i & 0xff));
    }
    const s = String(SECONDS);
    const w = String(WARMUP);
    const clients: Client[] = [
      { name: 'C++ (Cap\'n Proto 0.9.2) -> capns serve (reference)', cmd: peers.serveBench, args: (m) => [hostPort, '', s, m, w] },
      { name: 'ours (src/client) -> capns serve', cmd: process.execPath, args: (m) => [join(import.meta.dirname, 'serve-peer.js'), rpc, s, m, w] },
    ];
    const results = clients.map((): Record<Mode, Sample[]> => ({ seq: [], inflight: [], data: [] }));
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < clients.length; i++) {
        const k = (i + round) % clients.length;
        const c = clients[k]!;
        for (const mode of MODES) results[k]![mode][round] = await sample(c.cmd, c.args(mode), server.pid!, SECONDS + WARMUP + 30);
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }

    const [ref, ours] = results as [Record<Mode, Sample[]>, Record<Mode, Sample[]>];
    const ratio = (mode: Mode, f: (x: Sample) => number): string => median(ours[mode].map((o, i) => f(o) / f(ref[mode][i]!))).toFixed(2);
    console.log(`\nClients against one capns serve: ${ROUNDS} interleaved rounds x ${SECONDS} s per figure after ${WARMUP} s of warm-up, medians;`);
    console.log('x C++ = median over rounds of (ours / C++ of the same round).');
    console.log(`Load average before: ${loadBefore}; after: ${load()} (${availableParallelism()} cores).`);
    const env = Object.entries(CLI_ENV).map(([k, v]) => `${k}=${v}`).join(' ');
    if (env !== '') console.log(`Every process ran with ${env} (bin/capns.js's environment).`);
    console.log('\n| client | sequential Clock.now/s | x C++ | 100 in flight /s | x C++ | 64 KiB File.read MB/s | x C++ |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    clients.forEach((c, k) => {
      const r = results[k]!;
      const cells = MODES.map((m) => `${cell(m, median(r[m].map((x) => x.rate)))} | ${k === 0 ? '1.00' : ratio(m, (x) => x.rate)}`);
      console.log(`| ${c.name} | ${cells.join(' | ')} |`);
    });
    console.log('\nCPU time per call, client + server, in µs (x C++: of the sum):');
    console.log('| client | sequential | x C++ | 100 in flight | x C++ | per 64 KiB read | x C++ |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    clients.forEach((c, k) => {
      const r = results[k]!;
      const cells = MODES.map((m) => {
        const cpu = median(r[m].map((x) => x.cpuUs));
        const sv = median(r[m].map((x) => x.serverUs));
        return `${cpu.toFixed(0)} + ${sv.toFixed(0)} | ${k === 0 ? '1.00' : ratio(m, (x) => x.cpuUs + x.serverUs)}`;
      });
      console.log(`| ${c.name} | ${cells.join(' | ')} |`);
    });
    console.log('\nRates per round (min..max):');
    clients.forEach((c, k) => {
      const r = results[k]!;
      console.log(`  ${c.name}: ${MODES.map((m) => `${m} ${cell(m, Math.min(...r[m].map((x) => x.rate)))}..${cell(m, Math.max(...r[m].map((x) => x.rate)))}`).join(', ')}`);
    });
    console.log('\nTarget (issue 21): ours >= 0.9x C++ in each column.');
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
