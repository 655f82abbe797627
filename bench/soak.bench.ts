/**
 * Soak benchmark (issue 17): `npm run bench -- soak`.
 *
 * One well-behaved client beside hostile peers, on loopback, against a `capns serve`
 * child process (the compiled CLI, started as bin/capns.js starts it). The good client
 * holds a Clock through its namespace and calls `now()` one call at a time, timing each.
 * Each round, on a fresh server:
 *
 *   alone    the good client alone (after a warm-up): its p50/p99, the server's RSS
 *   attack   the same, while bench/soak-hostile.ts (another process) runs every hostile
 *            kind at once: authenticate floods, unfinished calls, idle sockets, slow
 *            senders, partial large frames; the server's peak RSS (VmHWM, reset before)
 *   after    the hostile process is gone: the server's RSS once it settles, and the good
 *            client alone again
 *
 * Figures are medians over rounds; latency under attack is quoted as a ratio to the same
 * round's alone. CPU: the server's (from /proc) per phase, the good client's per call.
 *
 * Environment: SOAK_ROUNDS (3), SOAK_ALONE_SECONDS (6), SOAK_ATTACK_SECONDS (15),
 * SOAK_SETTLE_SECONDS (10), and the hostile counts SOAK_AUTH, SOAK_AUTH_CALLS,
 * SOAK_UNFINISHED, SOAK_UNFINISHED_CALLS, SOAK_IDLE, SOAK_IDLE_CONNECTS, SOAK_SLOW,
 * SOAK_PARTIAL, SOAK_PARTIAL_ANNOUNCE, SOAK_PARTIAL_SEND (see HostileConfig); SOAK_LIMITS replaces
 * the manifest's `limits:` block (YAML); SOAK_SPLIT=1 adds one round per hostile kind alone; SOAK_PLAIN_NODE=1 runs the server on plain node
 * (no --initial-old-space-size, no GLIBC_TUNABLES); SOAK_SERIES=1 prints each second of the
 * attack (latencies, and the CPU of server, generator and good client); SOAK_HOSTILE_NICE=N
 * runs the hostile generator at niceness N; SOAK_PIN=1 runs it on a CPU of its own (taskset),
 * the server and the good client on the others, as an attacker on another machine would be.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { utils } from 'capnp-es';
import { Clock } from '../src/gen/demo.js';
import { Gate } from '../src/gen/namespace.js';
import { connect, release, type RpcConnection } from '../src/rpc/index.js';
import { cliEnv, cliNodeFlags } from './cli-flags.js';
import type { HostileConfig } from './soak-hostile.js';

const env = (name: string, dflt: number): number => Number(process.env[name] ?? dflt);
const ROUNDS = env('SOAK_ROUNDS', 3);
const ALONE_S = env('SOAK_ALONE_SECONDS', 6);
const ATTACK_S = env('SOAK_ATTACK_SECONDS', 15);
const SETTLE_S = env('SOAK_SETTLE_SECONDS', 10);
const SERIES = process.env['SOAK_SERIES'] === '1';
const HOSTILE_NICE = process.env['SOAK_HOSTILE_NICE'] === undefined ? undefined : env('SOAK_HOSTILE_NICE', 0);
/**
 * SOAK_PIN=1: the hostile generator on a CPU of its own (taskset), the server and the good
 * client sharing the others, as an attacker on another machine would be.
 */
const PIN = process.env['SOAK_PIN'] === '1';
/** `argv` run on `cpus` (taskset -c), or as is. */
function pinned(cpus: string | undefined, argv: string[]): [string, string[]] {
  return cpus === undefined ? [argv[0]!, argv.slice(1)] : ['taskset', ['-c', cpus, ...argv]];
}
const CPUS = availableParallelism();
const SERVER_CPUS = PIN ? `0-${CPUS - 2}` : undefined;
const HOSTILE_CPUS = PIN ? `${CPUS - 1}` : undefined;
if (PIN) {
  if (CPUS < 2) throw new Error('SOAK_PIN needs two CPUs');
  // This process (the good client), every thread of it.
  execFileSync('taskset', ['-a', '-p', '-c', SERVER_CPUS!, String(process.pid)], { stdio: 'ignore' });
}

const distRoot = join(import.meta.dirname, '..'); // dist-bench
// As bin/capns.js starts the server, unless SOAK_PLAIN_NODE=1: plain node, default
// allocator (to tell what those settings keep resident after a burst, docs/serve.md).
const PLAIN = process.env['SOAK_PLAIN_NODE'] === '1';
// SOAK_SERVER_FLAGS adds node flags to the server's (for instance '--cpu-prof --cpu-prof-dir=/tmp/p').
const NODE_FLAGS = [...(PLAIN ? [] : cliNodeFlags(join(distRoot, '..'))), ...(process.env['SOAK_SERVER_FLAGS']?.split(' ').filter(Boolean) ?? [])];
if (!PLAIN) Object.assign(process.env, cliEnv(join(distRoot, '..')));

/** The limits in force, stated so that BENCHMARKS.md can do the arithmetic. */
export const LIMITS =
  process.env['SOAK_LIMITS'] ??
  `limits:
  maxConnections: 256
  maxConnectionsTotal: 1024
`;

const MANIFEST = `version: 1
capabilities:
  tmp: { type: ram }
  clock: { type: demo.clock }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: clock, at: /svc/clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: 9p, address: "tcp!127.0.0.1!0" }
  - { protocol: http, address: "tcp!127.0.0.1!0" }
${LIMITS}`;

/** The hostile kinds, for SOAK_SPLIT's one-kind rounds. */
const KINDS = ['auth', 'unfinished', 'idle', 'slow', 'partial'] as const;
type Kind = (typeof KINDS)[number];

function hostileConfig(addresses: Record<string, string>, only?: Kind): HostileConfig {
  const c = allHostile(addresses);
  if (only === undefined) return c;
  return {
    ...c,
    auth: only === 'auth' ? c.auth : 0,
    unfinished: only === 'unfinished' ? c.unfinished : 0,
    idle: only === 'idle' ? c.idle : 0,
    slow: only === 'slow' ? c.slow : 0,
    partial: only === 'partial' ? c.partial : 0,
  };
}

function allHostile(addresses: Record<string, string>): HostileConfig {
  return {
    rpc: addresses['rpc']!,
    ninep: addresses['9p']!,
    http: addresses['http']!,
    seconds: ATTACK_S + 2,
    auth: env('SOAK_AUTH', 4),
    authCalls: env('SOAK_AUTH_CALLS', 50_000),
    unfinished: env('SOAK_UNFINISHED', 4),
    unfinishedCalls: env('SOAK_UNFINISHED_CALLS', 200_000),
    idle: env('SOAK_IDLE', 400),
    idleConnects: env('SOAK_IDLE_CONNECTS', 4000),
    ...(process.env['SOAK_IDLE_ON'] !== undefined && { idleOn: process.env['SOAK_IDLE_ON'].split(',') as ('rpc' | '9p' | 'http')[] }),
    slow: env('SOAK_SLOW', 30),
    slowIntervalMs: 200,
    partial: env('SOAK_PARTIAL', 20),
    partialAnnounce: env('SOAK_PARTIAL_ANNOUNCE', 60 * 1024 * 1024),
    partialSend: env('SOAK_PARTIAL_SEND', 256 * 1024),
  };
}

function status(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** The server's CPU time so far, seconds (user + system). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

interface Server {
  child: ChildProcess;
  addresses: Record<string, string>;
  stderr: () => string;
}

async function startServer(manifest: string): Promise<Server> {
  const child = spawn(...pinned(SERVER_CPUS, [process.execPath, ...NODE_FLAGS, join(distRoot, 'src', 'cli', 'main.js'), 'serve', '--manifest', manifest, '--log-level', 'warn']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const addresses = await new Promise<Record<string, string>>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const found: Record<string, string> = {};
      for (const m of out.matchAll(/^(rpc|9p|http)\s+(tcp!\S+)/gm)) found[m[1]!] = m[2]!;
      if (Object.keys(found).length === 3) resolve(found);
    });
    child.on('exit', () => reject(new Error(`server exited: ${err}`)));
  });
  return { child, addresses, stderr: () => err };
}

/** The good client: its own namespace, the clock resolved once, then one call at a time. */
async function goodClient(address: string): Promise<{ conn: RpcConnection; clock: InstanceType<typeof Clock.Client>; close: () => Promise<void> }> {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => (p.token = '')).promise()).result;
  if (!r._isOk) throw new Error('authenticate failed');
  const ns = r.ok.ns;
  const res = (await ns.resolve((p) => (p.path = '/svc/clock')).promise()).result;
  if (!res._isOk) throw new Error('resolve failed');
  const clock = new Clock.Client(utils.getInterfaceClientOrNull(res.ok.cap));
  return {
    conn,
    clock,
    close: async () => {
      release(clock);
      release(ns);
      release(gate);
      await conn.close();
    },
  };
}

interface Latencies {
  p50: number;
  p99: number;
  max: number;
  calls: number;
  failed: number;
  /** The good client's CPU per call, µs. */
  clientCpuUs: number;
}

/**
 * Runs the good client for `seconds`. With SOAK_SERIES=1 each second's latencies are
 * printed, with the CPU the processes in `pids` spent in that second (by name).
 */
async function run(clock: InstanceType<typeof Clock.Client>, seconds: number, pids: Record<string, number> = {}): Promise<Latencies> {
  const times: number[] = [];
  let failed = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const cpu0 = process.cpuUsage();
  // SOAK_SERIES=1: the latencies of each second, to see when in a phase they grow.
  let second: number[] = [];
  let secondEnd = start + 1000;
  let cpuBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const printSecond = (): void => {
    second.sort((a, b) => a - b);
    const q = (x: number): string => (second[Math.min(second.length - 1, Math.floor(x * second.length))] ?? NaN).toFixed(3);
    const cpuNow = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const cpu = Object.keys(pids).map((k) => ` ${k} CPU ${((cpuNow[k]! - cpuBefore[k]!) * 1000).toFixed(0)} ms`).join(',');
    cpuBefore = cpuNow;
    console.log(`  ${((secondEnd - start) / 1000).toFixed(0)} s: ${second.length} calls, p50 ${q(0.5)} p99 ${q(0.99)} max ${q(1)} ms${cpu}`);
    second = [];
    secondEnd += 1000;
  };
  while (performance.now() < end) {
    const t0 = performance.now();
    try {
      await clock.now().promise();
      const t = performance.now();
      times.push(t - t0);
      if (SERIES) {
        if (t > secondEnd) printSecond();
        second.push(t - t0);
      }
    } catch {
      failed++;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: times[times.length - 1] ?? NaN, calls: times.length, failed, clientCpuUs: (cpu.user + cpu.system) / Math.max(1, times.length) };
}

interface Round {
  alone: Latencies;
  attack: Latencies;
  again: Latencies;
  baseRss: number;
  peakRss: number;
  afterRss: number;
  serverCpuAlone: number;
  serverCpuAttack: number;
  hostile: Record<string, number>;
}

async function round(manifest: string, only?: Kind): Promise<Round> {
  const server = await startServer(manifest);
  const pid = server.child.pid!;
  try {
    const good = await goodClient(server.addresses['rpc']!);
    await run(good.clock, 2); // warm-up
    await new Promise((r) => setTimeout(r, 1000));
    const baseRss = status(pid, 'VmRSS');
    let c0 = cpuSeconds(pid);
    const alone = await run(good.clock, ALONE_S);
    const serverCpuAlone = cpuSeconds(pid) - c0;
    // Peak RSS from here on: VmHWM, reset (clear_refs 5), and our own samples.
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    let sampled = 0;
    const sampler = setInterval(() => (sampled = Math.max(sampled, status(pid, 'VmRSS'))), 100);
    const hostileArgs = [join(import.meta.dirname, 'soak-hostile.js'), JSON.stringify(hostileConfig(server.addresses, only))];
    // SOAK_HOSTILE_NICE=N runs the generator at that niceness: on a machine of two cores
    // its own CPU (most of a core in the floods' first seconds) otherwise competes with
    // the server's and the good client's, which an attacker on another machine would not.
    const niced = HOSTILE_NICE === undefined ? [process.execPath, ...hostileArgs] : ['nice', '-n', String(HOSTILE_NICE), process.execPath, ...hostileArgs];
    const hostileChild = spawn(...pinned(HOSTILE_CPUS, niced), { stdio: ['ignore', 'pipe', 'inherit'] });
    let hostileOut = '';
    hostileChild.stdout.on('data', (d: Buffer) => (hostileOut += d.toString()));
    const hostileExit = new Promise<void>((r) => hostileChild.on('exit', () => r()));
    await new Promise((r) => setTimeout(r, 1000)); // let the peers connect
    c0 = cpuSeconds(pid);
    const attack = await run(good.clock, ATTACK_S, { server: pid, hostile: hostileChild.pid!, client: process.pid });
    const serverCpuAttack = cpuSeconds(pid) - c0;
    hostileChild.kill('SIGTERM');
    await hostileExit;
    clearInterval(sampler);
    const peakRss = Math.max(sampled, status(pid, 'VmHWM'));
    // Settle: the server's RSS once the hostile peers are gone (the lowest seen, as a
    // collection may come at any point of the wait).
    let afterRss = Infinity;
    for (let t = 0; t < SETTLE_S * 2; t++) {
      await new Promise((r) => setTimeout(r, 500));
      afterRss = Math.min(afterRss, status(pid, 'VmRSS'));
    }
    const again = await run(good.clock, ALONE_S);
    await good.close();
    let hostile: Record<string, number> = {};
    try {
      hostile = JSON.parse(hostileOut.trim().split('\n').pop() ?? '{}') as Record<string, number>;
    } catch {
      // no counts
    }
    return { alone, attack, again, baseRss, peakRss, afterRss, serverCpuAlone, serverCpuAttack, hostile };
  } finally {
    // SIGTERM first, so that a profile asked for by SOAK_SERVER_FLAGS gets written.
    const exited = new Promise((r) => server.child.once('exit', r));
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const MB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'capns-soak-'));
try {
  const manifest = join(dir, 'm.yaml');
  writeFileSync(manifest, MANIFEST);
  console.log(`server: node ${PLAIN ? '(plain: no flags, default allocator)' : NODE_FLAGS.join(' ')}`);
  console.log(`manifest ${LIMITS.replaceAll('\n', ' ').replace(/\s+/g, ' ').trim()}`);
  console.log(`hostile peers: ${JSON.stringify(hostileConfig({ rpc: 'tcp!h!0', '9p': 'tcp!h!0', http: 'tcp!h!0' }))}`);
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const r = await round(manifest);
    rounds.push(r);
    const ms = (x: number): string => x.toFixed(3);
    console.log(
      `round ${i + 1}: alone p50 ${ms(r.alone.p50)} p99 ${ms(r.alone.p99)} ms (${r.alone.calls} calls); ` +
        `attack p50 ${ms(r.attack.p50)} p99 ${ms(r.attack.p99)} max ${ms(r.attack.max)} ms (${r.attack.calls} calls, ${r.attack.failed} failed); ` +
        `again p50 ${ms(r.again.p50)} p99 ${ms(r.again.p99)} ms; ` +
        `RSS base ${(r.baseRss / MB).toFixed(1)} peak ${(r.peakRss / MB).toFixed(1)} after ${(r.afterRss / MB).toFixed(1)} MiB; ` +
        `server CPU alone ${r.serverCpuAlone.toFixed(2)} s attack ${r.serverCpuAttack.toFixed(2)} s; hostile ${JSON.stringify(r.hostile)}`,
    );
  }
  const m = (f: (r: Round) => number): number => median(rounds.map(f));
  const us = (x: number): string => (x * 1000).toFixed(0);
  console.log(`\nmedians of ${ROUNDS} rounds (alone ${ALONE_S} s, attack ${ATTACK_S} s, settle ${SETTLE_S} s):`);
  console.log('| good client, Clock.now() | p50 | p99 | max | calls/s | client CPU/call |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, f] of [
    ['alone', (r: Round) => r.alone],
    ['under attack', (r: Round) => r.attack],
    ['alone, after', (r: Round) => r.again],
  ] as const) {
    const secs = name === 'under attack' ? ATTACK_S : ALONE_S;
    console.log(`| ${name} | ${us(m((r) => f(r).p50))} µs | ${us(m((r) => f(r).p99))} µs | ${us(m((r) => f(r).max))} µs | ${(m((r) => f(r).calls) / secs).toFixed(0)} | ${m((r) => f(r).clientCpuUs).toFixed(0)} µs |`);
  }
  console.log(`\np50 under attack / alone: ${m((r) => r.attack.p50 / r.alone.p50).toFixed(2)}x; p99: ${m((r) => r.attack.p99 / r.alone.p99).toFixed(2)}x (target <= 2x)`);
  console.log(`server RSS: baseline ${(m((r) => r.baseRss) / MB).toFixed(1)} MiB, peak ${(m((r) => r.peakRss) / MB).toFixed(1)} MiB, after ${(m((r) => r.afterRss) / MB).toFixed(1)} MiB (${m((r) => r.afterRss / r.baseRss).toFixed(2)}x baseline; target <= 1.10x)`);
  console.log(`server CPU: alone ${m((r) => r.serverCpuAlone).toFixed(2)} s in ${ALONE_S} s (${((m((r) => r.serverCpuAlone) / m((r) => r.alone.calls)) * 1e6).toFixed(0)} µs per good call); under attack ${m((r) => r.serverCpuAttack).toFixed(2)} s in ${ATTACK_S} s`);
  if (process.env['SOAK_SPLIT'] === '1') {
    // Which hostile kind costs what: one round with that kind alone.
    console.log('\none round per hostile kind, that kind alone:');
    console.log('| kind | p50 attack/alone | p99 attack/alone | good calls/s under attack | RSS base | peak | after | server CPU under attack |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const kind of KINDS) {
      const r = await round(manifest, kind);
      console.log(
        `| ${kind} | ${(r.attack.p50 / r.alone.p50).toFixed(2)}x | ${(r.attack.p99 / r.alone.p99).toFixed(2)}x | ${(r.attack.calls / ATTACK_S).toFixed(0)} | ` +
          `${(r.baseRss / MB).toFixed(1)} MiB | ${(r.peakRss / MB).toFixed(1)} MiB | ${(r.afterRss / MB).toFixed(1)} MiB | ${r.serverCpuAttack.toFixed(2)} s |`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
