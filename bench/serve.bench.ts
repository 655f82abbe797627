/**
 * `capns serve` benchmark (issue 5): `npm run bench -- serve`.
 *
 * Connections accepted per second and memory per idle connection, with 1,000
 * connections, each of which bootstraps the Gate, authenticates and holds its own
 * namespace (a fork of its profile, every capability a fresh grant) — against the same
 * measured on a plain Node TCP server that accepts and keeps sockets (the floor for any
 * Node server), in the same run. Servers run in processes of their own; memory is the
 * server's RSS growth (from /proc) divided by the connections, after they are idle.
 *
 * RSS growth over the first N connections also holds what grows once, whatever the
 * count (V8's young generation grows to its maximum under the burst of allocation: about
 * 30 MB, seen with --trace-gc); so the bench then opens N more and reports the growth over
 * those too, divided by N: the marginal memory of one more idle connection.
 *
 * The server's CPU time (user + system, from /proc) while the connections open is
 * divided by their number: CPU per accepted connection, beside the rate (on a shared
 * machine the rate swings with the load; the CPU time much less). So is this process's
 * (the clients': for capns, our own RPC client, bootstrapping and authenticating), which
 * bounds the rate as much as the server's does.
 *
 * Environment: SERVE_BENCH_ROUNDS (default 3), SERVE_BENCH_CONNECTIONS (default 1000),
 * SERVE_BENCH_SERVER_FLAGS (node flags added to capns serve's, e.g.
 * '--cpu-prof --cpu-prof-dir=/tmp/p').
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gate } from '../src/gen/namespace.js';
import { connect, release, type RpcConnection } from '../src/rpc/index.js';
import { cliEnv, cliNodeFlags } from './cli-flags.js';

const ROUNDS = Number(process.env['SERVE_BENCH_ROUNDS'] ?? 3);
const N = Number(process.env['SERVE_BENCH_CONNECTIONS'] ?? 1000);
/** Connections being opened at once. */
const CONCURRENCY = 50;

const distRoot = join(import.meta.dirname, '..'); // dist-bench
// As bin/capns.js runs the CLI, plus SERVE_BENCH_SERVER_FLAGS.
const NODE_FLAGS = [...cliNodeFlags(join(distRoot, '..')), ...(process.env['SERVE_BENCH_SERVER_FLAGS']?.split(' ').filter(Boolean) ?? [])];
Object.assign(process.env, cliEnv(join(distRoot, '..'))); // for every process this bench starts

// Room for every connection the bench opens (the default maxConnections, 256, would refuse
// the rest: established connections are never evicted).
const MANIFEST = `version: 1
limits:
  maxConnections: ${2 * N + 100}
  maxConnectionsTotal: ${2 * N + 100}
capabilities:
  tmp: { type: ram }
  data: { type: ram }
  clock: { type: demo.clock }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: data, at: /data }
      - { mount: clock, at: /svc/clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;

/** A plain TCP server that accepts and keeps every socket, answering one byte with one byte. */
const FLOOR_SERVER = `
const net = require('node:net');
const socks = new Set();
const s = net.createServer((c) => { socks.add(c); c.on('data', (d) => c.write(d)); c.on('close', () => socks.delete(c)); });
s.listen(0, '127.0.0.1', () => console.log('tcp ' + s.address().port));
`;

interface Started {
  child: ChildProcess;
  port: number;
}

async function startChild(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(?:rpc|tcp)\s+(?:tcp!127\.0\.0\.1!)?(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`server exited: ${args.join(' ')}`)));
  });
  return { child, port };
}

/** CPU seconds (user + system) process `pid` has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 on: utime and
  // stime are fields 14 and 15, in clock ticks (100 per second on Linux).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Opens `n` connections, CONCURRENCY at a time; resolves with what to close them. */
async function openMany<T>(n: number, open: () => Promise<T>): Promise<{ items: T[]; seconds: number }> {
  const items: T[] = [];
  const t0 = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        items.push(await open());
      }
    }),
  );
  return { items, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

interface Sample {
  perSecond: number;
  bytesPerConnection: number;
  /** RSS growth from N to 2N connections, per connection. */
  marginalBytes: number;
  /** The server's CPU seconds per connection opened. */
  cpuPerConnection: number;
  /** This process's (the clients') CPU seconds per connection opened. */
  clientCpuPerConnection: number;
}

/** This process's CPU seconds so far (user + system). */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 500));
}

async function measureCapns(manifest: string): Promise<Sample> {
  const server = await startChild([...NODE_FLAGS, join(distRoot, 'src', 'cli', 'main.js'), 'serve', '--manifest', manifest, '--log-level', 'warn']);
  try {
    const address = `tcp!127.0.0.1!${server.port}`;
    // Warm up: a few connections so that code paths are compiled before the baseline.
    for (let i = 0; i < 20; i++) await closeCapns(await openCapns(address));
    await settle();
    const pid = server.child.pid!;
    const before = rssBytes(pid);
    const cpu0 = cpuSeconds(pid);
    const own0 = ownCpuSeconds();
    const { items, seconds } = await openMany(N, () => openCapns(address));
    const cpu1 = cpuSeconds(pid);
    const own1 = ownCpuSeconds();
    await settle();
    const after = rssBytes(pid);
    const more = await openMany(N, () => openCapns(address));
    await settle();
    const after2 = rssBytes(pid);
    await Promise.all([...items, ...more.items].map(closeCapns));
    return { perSecond: N / seconds, bytesPerConnection: (after - before) / N, marginalBytes: (after2 - after) / N, cpuPerConnection: (cpu1 - cpu0) / N, clientCpuPerConnection: (own1 - own0) / N };
  } finally {
    await stop(server.child);
  }
}

/**
 * Stops a server: SIGTERM first, so that a server run with --cpu-prof writes its profile
 * on the way out (capns serve exits on SIGTERM; the floor dies of it), then SIGKILL.
 */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

interface CapnsConn {
  conn: RpcConnection;
  release: () => void;
}

async function openCapns(address: string): Promise<CapnsConn> {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => { p.token = ''; }).promise()).result;
  if (!r._isOk) throw new Error('authentication failed');
  const ns = r.ok.ns;
  return { conn, release: () => { release(ns); release(gate); } };
}

async function closeCapns(c: CapnsConn): Promise<void> {
  c.release();
  await c.conn.close();
}

async function measureFloor(): Promise<Sample> {
  const server = await startChild(['-e', FLOOR_SERVER]);
  try {
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const s = net.connect(server.port, '127.0.0.1', () => {
          s.write('x');
          s.once('data', () => resolve(s));
        });
        s.on('error', reject);
      });
    for (let i = 0; i < 20; i++) (await open()).destroy();
    await settle();
    const pid = server.child.pid!;
    const before = rssBytes(pid);
    const cpu0 = cpuSeconds(pid);
    const own0 = ownCpuSeconds();
    const { items, seconds } = await openMany(N, open);
    const cpu1 = cpuSeconds(pid);
    const own1 = ownCpuSeconds();
    await settle();
    const after = rssBytes(pid);
    const more = await openMany(N, open);
    await settle();
    const after2 = rssBytes(pid);
    for (const s of [...items, ...more.items]) s.destroy();
    return { perSecond: N / seconds, bytesPerConnection: (after - before) / N, marginalBytes: (after2 - after) / N, cpuPerConnection: (cpu1 - cpu0) / N, clientCpuPerConnection: (own1 - own0) / N };
  } finally {
    await stop(server.child);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const dir = mkdtempSync(join(tmpdir(), 'capns-serve-bench-'));
try {
  const manifest = join(dir, 'm.yaml');
  writeFileSync(manifest, MANIFEST);
  const capns: Sample[] = [];
  const floor: Sample[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, so that the machine's load hits both alike.
    floor.push(await measureFloor());
    capns.push(await measureCapns(manifest));
    console.log(
      `round ${r + 1}: capns ${capns[r]!.perSecond.toFixed(0)} conn/s, ${(capns[r]!.cpuPerConnection * 1e6).toFixed(0)} µs CPU/conn (client ${(capns[r]!.clientCpuPerConnection * 1e6).toFixed(0)}), ${(capns[r]!.bytesPerConnection / 1024).toFixed(1)} KiB/conn (marginal ${(capns[r]!.marginalBytes / 1024).toFixed(1)}); ` +
        `floor ${floor[r]!.perSecond.toFixed(0)} conn/s, ${(floor[r]!.cpuPerConnection * 1e6).toFixed(0)} µs CPU/conn (client ${(floor[r]!.clientCpuPerConnection * 1e6).toFixed(0)}), ${(floor[r]!.bytesPerConnection / 1024).toFixed(1)} KiB/conn (marginal ${(floor[r]!.marginalBytes / 1024).toFixed(1)})`,
    );
  }
  const cps = median(capns.map((s) => s.perSecond));
  const fps = median(floor.map((s) => s.perSecond));
  const cmem = median(capns.map((s) => s.bytesPerConnection));
  const fmem = median(floor.map((s) => s.bytesPerConnection));
  const cmar = median(capns.map((s) => s.marginalBytes));
  const fmar = median(floor.map((s) => s.marginalBytes));
  const ccpu = median(capns.map((s) => s.cpuPerConnection)) * 1e6;
  const fcpu = median(floor.map((s) => s.cpuPerConnection)) * 1e6;
  const ccli = median(capns.map((s) => s.clientCpuPerConnection)) * 1e6;
  const fcli = median(floor.map((s) => s.clientCpuPerConnection)) * 1e6;
  console.log(`\n${N} connections, ${CONCURRENCY} opening at once, medians of ${ROUNDS} rounds:`);
  console.log(`| server | connections accepted/s | server CPU per connection | client CPU per connection | memory per idle connection (first ${N}) | marginal (${N} -> ${2 * N}) |`);
  console.log('|---|---:|---:|---:|---:|---:|');
  console.log(
    `| capns serve (connect + Gate.authenticate + own namespace) | ${cps.toFixed(0)} (${(cps / fps).toFixed(2)}x floor) | ${ccpu.toFixed(0)} µs (${(ccpu / fcpu).toFixed(1)}x floor) | ${ccli.toFixed(0)} µs | ` +
      `${(cmem / 1024).toFixed(1)} KiB (${(cmem / fmem).toFixed(1)}x floor) | ${(cmar / 1024).toFixed(1)} KiB (${(cmar / fmar).toFixed(1)}x floor) |`,
  );
  console.log(`| floor: plain Node TCP accept + 1-byte echo | ${fps.toFixed(0)} | ${fcpu.toFixed(0)} µs | ${fcli.toFixed(0)} µs | ${(fmem / 1024).toFixed(1)} KiB | ${(fmar / 1024).toFixed(1)} KiB |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
