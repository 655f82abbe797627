/**
 * Start-up of a client command (issue 19): how long `capns ls` takes from exec to exit
 * against a running server, and `capns --help`, against bare Node (`node -e 0`, the
 * floor) and against what the CLI loaded before commands loaded their code lazily (every
 * command module, hence the server, fastify, the manifest parser and the client, at
 * start: measured as a process that imports those and exits).
 *
 * Compiled code (dist-bench), started as bin/capns.js starts it (bench/cli-flags.ts).
 * Each process reports its own CPU time (user+system, process.cpuUsage at exit, through a
 * preload every variant gets, the floor too). ROUNDS interleaved rounds (default 15);
 * medians, and ratios against bare Node in the same run.
 *
 *   npm run bench -- startup        (STARTUP_ROUNDS=N)
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cliEnv, cliNodeFlags } from './cli-flags.js';

const root = resolve(import.meta.dirname, '..', '..');
const dist = join(root, 'dist-bench', 'src');
const ROUNDS = Number(process.env['STARTUP_ROUNDS'] ?? 15);

// The preload: prints the process's CPU time on fd 2 as its last line.
const preload = join(tmpdir(), `capns-startup-cpu-${process.pid}.mjs`);
writeFileSync(preload, "process.on('exit', () => { const u = process.cpuUsage(); process.stderr.write(`\\ncpu-us ${u.user + u.system}\\n`); });\n");

const launch = { flags: cliNodeFlags(root), env: cliEnv(root) };

interface Sample {
  wallMs: number;
  cpuMs: number;
}

function runOnce(args: string[]): Promise<Sample> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...launch.flags, '--import', preload, ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...launch.env, NODE_OPTIONS: '' },
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((ok, fail) =>
    child.on('close', () => {
      const wallMs = performance.now() - t0;
      const m = /cpu-us (\d+)\n$/.exec(err);
      if (m === null) fail(new Error(`${args.join(' ')}: no cpu line: ${err}`));
      else ok({ wallMs, cpuMs: Number(m[1]) / 1000 });
    }),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// A server to list: capns serve from the same build, on free ports.
const server = spawn(process.execPath, [...launch.flags, join(dist, 'cli', 'main.js'), 'serve', '--rpc-port', '0', '--9p-port', '0', '--http-port', '0', '--log-level', 'warn', '--data-dir', join(tmpdir(), `capns-startup-${process.pid}`)], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, ...launch.env, NODE_OPTIONS: '' },
});
const rpc = await new Promise<string>((ok, fail) => {
  let out = '';
  server.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /^rpc\s+(\S+)/m.exec(out);
    if (m !== null) ok(m[1]!);
  });
  server.on('exit', (code) => fail(new Error(`capns serve exited ${code}`)));
});

const eager = `await Promise.all(['server/capns-server.js', 'client/index.js', 'manifest/index.js', 'cli/commands/ns-offline.js', 'cli/commands/proxy-run.js'].map((f) => import(${JSON.stringify(dist)} + '/' + f)));`;
const variants: Record<string, string[]> = {
  'node -e 0 (floor)': ['-e', '0'],
  'capns --help': [join(dist, 'cli', 'main.js'), '--help'],
  'capns ls': [join(dist, 'cli', 'main.js'), 'ls', '--server', rpc],
  'every module at start (before)': ['--input-type=module', '-e', eager],
};
const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
try {
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const [name, args] of Object.entries(variants)) {
      const s = await runOnce(args);
      if (r > 0) samples[name]!.push(s); // round 0 warms the file cache
    }
  }
} finally {
  server.kill('SIGTERM');
}
const floor = median(samples['node -e 0 (floor)']!.map((s) => s.cpuMs));
console.log(`start-up, medians of ${ROUNDS} interleaved rounds (CPU = user+system of the process)`);
console.log('| command | wall | CPU | CPU / floor |');
console.log('|---|---:|---:|---:|');
for (const [name, s] of Object.entries(samples)) {
  const cpu = median(s.map((x) => x.cpuMs));
  console.log(`| ${name} | ${median(s.map((x) => x.wallMs)).toFixed(0)} ms | ${cpu.toFixed(0)} ms | ${(cpu / floor).toFixed(2)} |`);
}
