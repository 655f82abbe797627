/**
 * RPC benchmark (issue 3): `npm run bench -- rpc`.
 *
 * In one run, interleaved rounds of five client -> server pairs, each client and server in
 * a process of its own:
 *   ours -> ours      bench/rpc-peer.js client -> bench/rpc-peer.js server (src/rpc)
 *   C++ -> C++        test/interop/cpp bench -> server (Cap'n Proto 0.9.2): the reference
 *   C++ -> ours, ours -> C++
 *   floor             bench/floor-peer.js: Node TCP framed ping-pong, no RPC at all
 * Each client measures, for SECONDS each: sequential ping calls/s, ping calls/s with 100
 * in flight, sequential 64 KiB data() reads in MB/s. Printed: medians over the rounds
 * and their ratio to C++ -> C++ from the same run.
 *
 * Environment: RPC_BENCH_ROUNDS (default 5), RPC_BENCH_SECONDS (default 1).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

import { buildCppPeers, projectRoot, startCppServer } from '../test/support/cpp-build.js';

const run = promisify(execFile);

interface Figures {
  seq: number;
  inflight: number;
  data: number;
}

const ROUNDS = Number(process.env['RPC_BENCH_ROUNDS'] ?? 5);
const SECONDS = Number(process.env['RPC_BENCH_SECONDS'] ?? 1);

const root = projectRoot();
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

async function measure(cmd: string, args: string[]): Promise<Figures> {
  const { stdout } = await run(cmd, args, { timeout: (SECONDS * 3 + 30) * 1000 });
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Figures;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function calls(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
}

async function main(): Promise<void> {
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

  const pairs: { name: string; cmd: string; args: string[] }[] = [
    { name: 'C++ -> C++ (reference)', cmd: peers.bench, args: [cppAddr, s] },
    { name: 'ours -> ours', cmd: node, args: [join(benchDir, 'rpc-peer.js'), 'client', oursAddr, s] },
    { name: 'C++ -> ours', cmd: peers.bench, args: [oursAddr, s] },
    { name: 'ours -> C++', cmd: node, args: [join(benchDir, 'rpc-peer.js'), 'client', cppAddr, s] },
    { name: 'floor: Node TCP framed ping-pong', cmd: node, args: [join(benchDir, 'floor-peer.js'), 'client', String(floor.port), s] },
  ];
  const results = new Map<string, Figures[]>(pairs.map((p) => [p.name, []]));
  if (ours === null) for (const p of pairs) if (p.name.includes('ours')) failures.set(p.name, 'our server did not start');
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no pair always runs first (or right after another).
      for (let i = 0; i < pairs.length; i++) {
        const p = pairs[(i + round) % pairs.length]!;
        if (failures.has(p.name)) continue;
        try {
          results.get(p.name)!.push(await measure(p.cmd, p.args));
        } catch (err) {
          failures.set(p.name, (err as Error).message.split('\n').slice(0, 6).join(' | '));
        }
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    await cpp.close();
    ours?.child.stdin!.end();
    floor.child.stdin!.end();
  }

  const ref = results.get(pairs[0]!.name)!;
  const refMed = { seq: median(ref.map((r) => r.seq)), inflight: median(ref.map((r) => r.inflight)), data: median(ref.map((r) => r.data)) };
  console.log(`\nRPC: ${ROUNDS} interleaved rounds x ${SECONDS} s per figure; medians; ratio to C++ -> C++`);
  console.log('| pair | sequential calls/s | x C++ | 100 in flight calls/s | x C++ | 64 KiB reads MB/s | x C++ |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const p of pairs) {
    const rs = results.get(p.name)!;
    if (rs.length === 0) {
      console.log(`| ${p.name} | failed: ${failures.get(p.name) ?? 'no result'} ||||||`);
      continue;
    }
    const m = { seq: median(rs.map((r) => r.seq)), inflight: median(rs.map((r) => r.inflight)), data: median(rs.map((r) => r.data)) };
    console.log(
      `| ${p.name} | ${calls(m.seq)} | ${(m.seq / refMed.seq).toFixed(2)} | ${calls(m.inflight)} | ${(m.inflight / refMed.inflight).toFixed(2)} | ${m.data.toFixed(0)} | ${(m.data / refMed.data).toFixed(2)} |`,
    );
  }
  console.log('\nTargets (issue 3), ours -> ours against C++ -> C++: 100 in flight >= 1.0x, sequential >= 0.9x, 64 KiB reads >= 1.0x.');
  for (const [name, msg] of failures) console.log(`FAILED ${name}: ${msg}`);
  if (failures.size > 0) process.exitCode = 1;
}

await main();
