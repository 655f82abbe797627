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
 * Two rates. The first N connections after the server starts (and 20 warm-up ones) are
 * accepted while much of the accept path still runs in V8's interpreter and its
 * optimizing compiler works beside it (on a 2-core machine, against the clients): the
 * rate a freshly started server meets a crowd with. Then, with those closed, WARM more
 * connections are opened and closed, and then connections are opened and closed again,
 * CONCURRENCY at a time, for STEADY_SECONDS: the steady rate, the one a server that has
 * been up a while keeps up with short-lived connections (its CPU per connection covers
 * the close too), and the one the accept target (issue 21) is judged by. The floor is
 * measured the same way.
 *
 * The server's CPU time (user + system, from /proc) while the connections open is
 * divided by their number: CPU per accepted connection, beside the rate (on a shared
 * machine the rate swings with the load; the CPU time much less). So is this process's
 * (the clients': for capns, our own RPC client, bootstrapping and authenticating), which
 * bounds the rate as much as the server's does.
 *
 * Environment: SERVE_BENCH_ROUNDS (default 3), SERVE_BENCH_CONNECTIONS (default 1000),
 * SERVE_BENCH_WARM (connections opened and closed before the steady rate, default 5000),
 * SERVE_BENCH_STEADY_SECONDS (default 2),
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
import { cpuOf, keepBusy, median } from './pairs.js';

const ROUNDS = Number(process.env['SERVE_BENCH_ROUNDS'] ?? 3);
const N = Number(process.env['SERVE_BENCH_CONNECTIONS'] ?? 1000);
/** Connections being opened at once. */
const CONCURRENCY = 50;
/** Connections opened and closed before the steady burst. */
const WARM = Number(process.env['SERVE_BENCH_WARM'] ?? 5000);
/** Seconds of opening and closing connections for the steady rate. */
const STEADY_SECONDS = Number(process.env['SERVE_BENCH_STEADY_SECONDS'] ?? 2);

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
  return cpuOf(pid) / 1e6;
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
  /** Connections accepted per second: the first N after start (20 warm-up connections). */
  perSecond: number;
  bytesPerConnection: number;
  /** RSS growth from N to 2N connections, per connection. */
  marginalBytes: number;
  /** The server's CPU seconds per connection opened (the first N). */
  cpuPerConnection: number;
  /** This process's (the clients') CPU seconds per connection opened (the first N). */
  clientCpuPerConnection: number;
  /** Connections opened and closed per second once the server has accepted (and closed) WARM, and the CPU per connection of both sides (churn). */
  steadyPerSecond: number;
  steadyCpuPerConnection: number;
  steadyClientCpuPerConnection: number;
}

/** This process's CPU seconds so far (user + system). */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 500));
}

/** A way to open a connection to the server measured, and to close it. */
interface Opener<T> {
  open(): Promise<T>;
  close(c: T): Promise<void> | void;
}

/** N connections opened and held: their rate, and the CPU both sides spent per connection. */
async function burst<T>(pid: number, o: Opener<T>): Promise<{ items: T[]; perSecond: number; cpu: number; clientCpu: number }> {
  const cpu0 = cpuSeconds(pid);
  const own0 = ownCpuSeconds();
  const { items, seconds } = await openMany(N, () => o.open());
  return { items, perSecond: N / seconds, cpu: (cpuSeconds(pid) - cpu0) / N, clientCpu: (ownCpuSeconds() - own0) / N };
}

/**
 * Connections opened and closed again, CONCURRENCY at a time, for STEADY_SECONDS: the
 * rate a server serving short-lived connections keeps up, and the CPU both sides spend
 * per connection (open and close).
 */
async function churn<T>(pid: number, o: Opener<T>): Promise<{ perSecond: number; cpu: number; clientCpu: number }> {
  const cpu0 = cpuSeconds(pid);
  const own0 = ownCpuSeconds();
  const { ops, seconds } = await keepBusy(async () => o.close(await o.open()), CONCURRENCY, STEADY_SECONDS);
  return { perSecond: ops / seconds, cpu: (cpuSeconds(pid) - cpu0) / ops, clientCpu: (ownCpuSeconds() - own0) / ops };
}

/**
 * One server's sample: N connections from its start (after 20 warm-up ones), their
 * memory, N more (the marginal memory); all closed, WARM connections opened and closed
 * (as a server that has been up a while has done), then connections opened and closed
 * for STEADY_SECONDS: the steady rate.
 */
async function measure<T>(pid: number, o: Opener<T>): Promise<Sample> {
  for (let i = 0; i < 20; i++) await o.close(await o.open());
  await settle();
  const before = rssBytes(pid);
  const first = await burst(pid, o);
  await settle();
  const after = rssBytes(pid);
  const more = await openMany(N, () => o.open());
  await settle();
  const after2 = rssBytes(pid);
  await Promise.all([...first.items, ...more.items].map(async (c) => o.close(c)));
  await openMany(WARM, async () => o.close(await o.open()));
  await settle();
  const steady = await churn(pid, o);
  return {
    perSecond: first.perSecond,
    bytesPerConnection: (after - before) / N,
    marginalBytes: (after2 - after) / N,
    cpuPerConnection: first.cpu,
    clientCpuPerConnection: first.clientCpu,
    steadyPerSecond: steady.perSecond,
    steadyCpuPerConnection: steady.cpu,
    steadyClientCpuPerConnection: steady.clientCpu,
  };
}

async function measureCapns(manifest: string): Promise<Sample> {
  const server = await startChild([...NODE_FLAGS, join(distRoot, 'src', 'cli', 'main.js'), 'serve', '--manifest', manifest, '--log-level', 'warn']);
  try {
    const address = `tcp!127.0.0.1!${server.port}`;
    return await measure(server.child.pid!, { open: () => openCapns(address), close: closeCapns });
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
    return await measure(server.child.pid!, { open, close: (s) => void s.destroy() });
  } finally {
    await stop(server.child);
  }
}

const us = (seconds: number): string => `${(seconds * 1e6).toFixed(0)} µs`;
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/** A round's figures for one server, on one line. */
function line(name: string, s: Sample): string {
  return (
    `${name} first ${s.perSecond.toFixed(0)} conn/s, ${us(s.cpuPerConnection)} CPU/conn (client ${us(s.clientCpuPerConnection)}), ` +
    `steady ${s.steadyPerSecond.toFixed(0)} conn/s, ${us(s.steadyCpuPerConnection)} (client ${us(s.steadyClientCpuPerConnection)}), ${kib(s.bytesPerConnection)}/conn (marginal ${kib(s.marginalBytes)})`
  );
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
    console.log(`round ${r + 1}: ${line('capns', capns[r]!)}; ${line('floor', floor[r]!)}`);
  }
  const m = (xs: Sample[], f: (s: Sample) => number): number => median(xs.map(f));
  const ratio = (f: (s: Sample) => number, digits = 2): string => `${(m(capns, f) / m(floor, f)).toFixed(digits)}x floor`;
  const rate = (s: Sample): number => s.perSecond;
  const steadyRate = (s: Sample): number => s.steadyPerSecond;
  const steadyCpu = (s: Sample): number => s.steadyCpuPerConnection;
  const firstCpu = (s: Sample): number => s.cpuPerConnection;
  const mem = (s: Sample): number => s.bytesPerConnection;
  const marginal = (s: Sample): number => s.marginalBytes;
  console.log(`\n${N} connections, ${CONCURRENCY} opening at once, medians of ${ROUNDS} rounds; steady: opened and closed, ${CONCURRENCY} at a time for ${STEADY_SECONDS} s, after ${WARM} more:`);
  console.log(`| server | accepted/s, steady | server CPU/conn, steady | client CPU/conn, steady | accepted/s, first ${N} | server CPU/conn, first ${N} | memory per idle connection (first ${N}) | marginal (${N} -> ${2 * N}) |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  console.log(
    `| capns serve (connect + Gate.authenticate + own namespace) | ${m(capns, steadyRate).toFixed(0)} (${ratio(steadyRate)}) | ${us(m(capns, steadyCpu))} (${ratio(steadyCpu, 1)}) | ${us(m(capns, (s) => s.steadyClientCpuPerConnection))} | ` +
      `${m(capns, rate).toFixed(0)} (${ratio(rate)}) | ${us(m(capns, firstCpu))} (${ratio(firstCpu, 1)}) | ${kib(m(capns, mem))} (${ratio(mem, 1)}) | ${kib(m(capns, marginal))} (${ratio(marginal, 1)}) |`,
  );
  console.log(
    `| floor: plain Node TCP accept + 1-byte echo | ${m(floor, steadyRate).toFixed(0)} | ${us(m(floor, steadyCpu))} | ${us(m(floor, (s) => s.steadyClientCpuPerConnection))} | ` +
      `${m(floor, rate).toFixed(0)} | ${us(m(floor, firstCpu))} | ${kib(m(floor, mem))} | ${kib(m(floor, marginal))} |`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
