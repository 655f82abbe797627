/**
 * Services (issue 18): `npm run bench -- services`.
 *
 * The service is bench/service-peer.js (test.capnp's Test, our RPC), in a process of its
 * own. The client and capns live in this process (their CPU is this process's); the
 * service's CPU is read from /proc.
 *
 * 1. `Test.echo` of 5 bytes, sequential and with 100 in flight: made directly to the
 *    service (standalone, over TCP) against the same call through capns (client -> capns
 *    over TCP -> the service capns started, over its fd-3 socketpair). Printed: median
 *    calls/s over interleaved rounds, the ratio to direct, CPU µs per call in this process
 *    and in the service's.
 * 2. A chain of five dependent calls made pipelined through capns
 *    (getTest().getTest().getTest().getTest().echo()) against one call (echo), with 5 ms of
 *    latency injected each way between capns and the service (a `connect` through a TCP
 *    relay): one round trip each if pipelining holds through the slot. Median ms, ratio.
 * 3. Time from a service crash (echo("crash") makes it exit 1) to the next successful
 *    call through capns, the client retrying every 5 ms: restart delay (100 ms, the
 *    shortest backoff) + the program's start + its offer. Median of CRASHES.
 *
 * Environment: SERVICES_BENCH_ROUNDS (5), SERVICES_BENCH_SECONDS (1.5 per measurement),
 * SERVICES_BENCH_CHAINS (20 per round), SERVICES_BENCH_CRASHES (7).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { connect as connectCapns } from '../src/client/index.js';
import { parseManifest } from '../src/manifest/index.js';
import { connect, release, type RpcConnection } from '../src/rpc/index.js';
import { startCapnsServer, type CapnsServer } from '../src/server/capns-server.js';
import type { Test$Client } from '../test/fixtures/rpc/gen/test.js';

// tsc emits no .js for the generated test schema (it is .js + .d.ts): copy it beside the
// build before anything imports it (this file, and the service peer).
{
  const root = resolve(import.meta.dirname, '..', '..');
  const to = resolve(import.meta.dirname, '..', 'test', 'fixtures', 'rpc', 'gen');
  mkdirSync(to, { recursive: true });
  const from = join(root, 'test', 'fixtures', 'rpc', 'gen');
  for (const f of readdirSync(from)) if (f.endsWith('.js')) cpSync(join(from, f), join(to, f));
}
const { Test } = await import('../test/fixtures/rpc/gen/test.js');

const ROUNDS = Number(process.env['SERVICES_BENCH_ROUNDS'] ?? 5);
const SECONDS = Number(process.env['SERVICES_BENCH_SECONDS'] ?? 1.5);
const CHAINS = Number(process.env['SERVICES_BENCH_CHAINS'] ?? 20);
const CRASHES = Number(process.env['SERVICES_BENCH_CRASHES'] ?? 7);
const DELAY_MS = 5;
const PEER = resolve(import.meta.dirname, 'service-peer.js');
const TEST_ID = `0x${Test.Client.interfaceId.toString(16)}`;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ 100)
}

interface Figures {
  rate: number;
  cpuUs: number;
  peerCpuUs: number;
}

/** Calls `echo` for SECONDS with `inflight` at once; calls/s and CPU per call here and in the peer. */
async function measure(test: Test$Client, inflight: number, peerPid: number): Promise<Figures> {
  const call = async (): Promise<void> => {
    await test.echo((p) => (p.text = 'hello')).promise();
  };
  // Warm-up.
  const warmEnd = performance.now() + 200;
  while (performance.now() < warmEnd) await call();
  let calls = 0;
  const cpu0 = process.cpuUsage();
  const peer0 = cpuOf(peerPid);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < end) {
        await call();
        calls++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { rate: calls / elapsed, cpuUs: (cpu.user + cpu.system) / calls, peerCpuUs: ((cpuOf(peerPid) - peer0) * 1e6) / calls };
}

/** The service standalone; resolves with its process and address. */
async function standalone(): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, [PEER, '--listen', 'tcp!127.0.0.1!0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((r) => createInterface({ input: child.stdout }).once('line', r));
  return { child, address: line.replace(/^listening /, '') };
}

async function capnsWith(capabilities: string): Promise<{ server: CapnsServer; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'capns-bench-'));
  const manifest = parseManifest(
    `version: 1
capabilities:
${capabilities}
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: svc, at: /svc/test }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`,
    { file: join(dir, 'm.yaml'), env: {} },
  );
  const server = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100, serviceEnv: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
  return { server, dir };
}

function rpcOf(s: CapnsServer): string {
  return s.addresses.find((a) => a.protocol === 'rpc')!.address;
}

/** A TCP relay delaying every chunk by `delayMs` each way. */
async function relay(target: string, delayMs: number): Promise<{ address: string; close: () => void }> {
  const [, host, port] = /^tcp!(.+)!(\d+)$/.exec(target)!;
  const socks = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(Number(port), host);
    for (const s of [c, u]) {
      socks.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
    }
    const pipe = (a: net.Socket, b: net.Socket): void => {
      a.on('data', (d) => setTimeout(() => !b.destroyed && b.write(d), delayMs));
      a.on('close', () => setTimeout(() => b.destroy(), delayMs));
    };
    pipe(c, u);
    pipe(u, c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `tcp!127.0.0.1!${(server.address() as net.AddressInfo).port}`,
    close: () => {
      for (const s of socks) s.destroy();
      server.close();
    },
  };
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// ---- 1. direct against through capns ----------------------------------------------

const direct = await standalone();
const directConn: RpcConnection = await connect(direct.address);
const directTest = directConn.bootstrap(Test);

const svc = await capnsWith(`  svc: { type: service, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(PEER)}], offers: { test: "${TEST_ID}" } }`);
const through = await connectCapns(rpcOf(svc.server));
const throughTest = await through.resolve('/svc/test', Test);
await throughTest.echo((p) => (p.text = 'ready')).promise();
const servicePid = svc.server.services()[0]!.status().pid!;

const rows: Record<string, Figures[]> = { 'direct seq': [], 'capns seq': [], 'direct 100': [], 'capns 100': [] };
for (let r = 0; r < ROUNDS; r++) {
  rows['direct seq']!.push(await measure(directTest, 1, direct.child.pid!));
  rows['capns seq']!.push(await measure(throughTest, 1, servicePid));
  rows['direct 100']!.push(await measure(directTest, 100, direct.child.pid!));
  rows['capns 100']!.push(await measure(throughTest, 100, servicePid));
}
const med = (k: string, f: keyof Figures): number => median(rows[k]!.map((x) => x[f]));
console.log(`\n1. Test.echo (5 bytes): medians of ${ROUNDS} interleaved rounds of ${SECONDS} s`);
console.log('| path | in flight | calls/s | ratio to direct | CPU µs/call here (client+capns) | CPU µs/call in the service |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [label, inflight] of [['seq', 1], ['100', 100]] as const) {
  for (const path of ['direct', 'capns'] as const) {
    const k = `${path} ${label}`;
    console.log(`| ${path === 'direct' ? 'direct (client -> service)' : 'through capns (client -> capns -> service)'} | ${inflight} | ${fmt(med(k, 'rate'))} | ${fmt(med(k, 'rate') / med(`direct ${label}`, 'rate'), 2)} | ${fmt(med(k, 'cpuUs'), 1)} | ${fmt(med(k, 'peerCpuUs'), 1)} |`);
  }
}
console.log(`(per round, calls/s: ${Object.entries(rows).map(([k, v]) => `${k} ${v.map((x) => fmt(x.rate)).join('/')}`).join('; ')})`);

// ---- 3. crash to next successful call ----------------------------------------------

const recoveries: number[] = [];
for (let i = 0; i < CRASHES; i++) {
  await throughTest.echo((p) => (p.text = 'ready')).promise();
  // Let the run stay ready for over a second: the next restart gets the shortest delay.
  await new Promise((r) => setTimeout(r, 1100));
  const t0 = performance.now();
  await throughTest
    .echo((p) => (p.text = 'crash'))
    .promise()
    .catch(() => undefined);
  for (;;) {
    try {
      await throughTest.echo((p) => (p.text = 'again')).promise();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  recoveries.push(performance.now() - t0);
}
release(throughTest);
await through.close();
await svc.server.close();
await rm(svc.dir, { recursive: true, force: true });

// ---- 2. pipelined chain through capns, with latency to the service ----------------

const slow = await relay(direct.address, DELAY_MS);
const con = await capnsWith(`  svc: { type: connect, address: "${slow.address}", interface: "${TEST_ID}", heartbeatMs: 0 }`);
const viaConnect = await connectCapns(rpcOf(con.server));
const far = await viaConnect.resolve('/svc/test', Test);
await far.echo((p) => (p.text = 'warm')).promise();
const one: number[] = [];
const chain: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < CHAINS; i++) {
    let t0 = performance.now();
    await far.echo((p) => (p.text = 'x')).promise();
    one.push(performance.now() - t0);
    t0 = performance.now();
    const c = far.getTest().getTest().getTest().getTest();
    await c.echo((p) => (p.text = 'x')).promise();
    chain.push(performance.now() - t0);
    release(c);
  }
}
release(far);
await viaConnect.close();
await con.server.close();
await rm(con.dir, { recursive: true, force: true });
slow.close();
release(directTest);
await directConn.close();
direct.child.kill();

console.log(`\n2. ${DELAY_MS} ms each way between capns and the service (connect through a relay), ${one.length} samples each`);
console.log('| | median ms |');
console.log('|---|---:|');
console.log(`| one call (echo) | ${fmt(median(one), 1)} |`);
console.log(`| chain of 5 dependent pipelined calls (getTest x4, then echo) | ${fmt(median(chain), 1)} |`);
console.log(`| ratio | **${fmt(median(chain) / median(one), 2)}** |`);

console.log(`\n3. service crash -> next successful call through capns (client retrying every 5 ms), ${CRASHES} crashes`);
console.log(`median ${fmt(median(recoveries), 0)} ms (min ${fmt(Math.min(...recoveries), 0)}, max ${fmt(Math.max(...recoveries), 0)}; all: ${recoveries.map((x) => fmt(x)).join(', ')})`);
