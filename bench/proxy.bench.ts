/**
 * exportfs/import cost (issue 6): `npm run bench -- proxy`.
 *
 * 1. A small call (Echo.echo of 5 bytes, sequential) made directly to the server over one
 *    TCP connection, against the same call through export+import: one hop (client -> B,
 *    which imports A's export) and two hops (client -> C -> B -> A, B re-exporting its
 *    import). Printed: median calls/s over interleaved rounds and the ratio to direct.
 * 2. With 5 ms of latency injected each way between the importer and the exporter (a
 *    TCP relay that delays every chunk): a chain of 5 dependent calls made pipelined
 *    through the import (fork().getNs().fork().getNs()...describe(): four forks and a describe) against one
 *    call (describe()). Printed: median ms and the ratio (target at most 1.3).
 *
 * 3. Calls made on the import's own capability (Namespace.members of the echo, sequential), which go
 *    through its forwarder and call guard, without and with a per-call deadline
 *    (callTimeoutMs), against the same call made directly to A: median calls/s and CPU
 *    time per call (user+system of this process, every hop included).
 *
 * All processes' roles live in this one process (one event loop), over real TCP sockets
 * on 127.0.0.1: CPU for every hop is counted in the call times.
 * Environment: PROXY_BENCH_ROUNDS (default 7), PROXY_BENCH_CALLS (per round, default 2000),
 * PROXY_BENCH_CHAINS (per round, default 20).
 */
import net from 'node:net';
import type { Client } from 'capnp-es';
import { newEcho } from '../src/server/demo-services.js';
import { Echo } from '../src/gen/demo.js';
import { Namespace, type Namespace$Client } from '../src/gen/namespace.js';
import { NAMESPACE_INTERFACE_ID } from '../src/namespace/interfaces.js';
import { MountTable } from '../src/namespace/mount-table.js';
import { serveNamespace } from '../src/namespace/namespace-server.js';
import { startExport, type Exporter } from '../src/proxy/exporter.js';
import {
  importedNamespace,
  resolvePipelined,
  startImport,
  type Importer,
} from '../src/proxy/importer.js';
import {
  connect,
  listen,
  release,
  type RpcConnection,
  type RpcListener,
} from '../src/rpc/index.js';

const ROUNDS = Number(process.env['PROXY_BENCH_ROUNDS'] ?? 7);
const CALLS = Number(process.env['PROXY_BENCH_CALLS'] ?? 2000);
const CHAINS = Number(process.env['PROXY_BENCH_CHAINS'] ?? 20);
const DELAY_MS = 5;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A TCP relay delaying every chunk by `delayMs` each way. */
async function relay(
  target: string,
  delayMs: number,
): Promise<{ address: string; close: () => void }> {
  const [, host, port] = /^tcp!(.+)!(\d+)$/.exec(target)!;
  const socks = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(Number(port), host);
    for (const s of [c, u]) {
      s.setNoDelay(true);
      socks.add(s);
      s.on('error', () => {});
    }
    const pipe = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (d) => setTimeout(() => !to.destroyed && to.write(d), delayMs));
      from.on('close', () => setTimeout(() => to.destroy(), delayMs));
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

/** A namespace with /svc/echo, served on its own listener (the direct reference). */
function hostNs(): Namespace$Client {
  const t = new MountTable<Client>();
  t.bind('/svc/echo', {
    cap: newEcho().client,
    interfaceId: Echo.Client.interfaceId,
    label: 'echo',
  });
  return serveNamespace(t);
}

/** A namespace holding `imp` at /n/x, served on a listener; a client connection to it. */
async function servedWithImport(
  imp: Importer,
): Promise<{ l: RpcListener; conn: RpcConnection; ns: Namespace$Client }> {
  const l = await listen('127.0.0.1:0', {
    bootstrap: () => {
      const t = new MountTable<Client>();
      t.bind('/n/x', { cap: imp.capability(), interfaceId: NAMESPACE_INTERFACE_ID, label: 'x' });
      return serveNamespace(t);
    },
  });
  const conn = await connect(l.address);
  return { l, conn, ns: conn.bootstrap(Namespace) };
}

async function callsPerSecond(echo: InstanceType<typeof Echo.Client>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await echo.echo((p) => (p.text = 'hello')).promise();
  return CALLS / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Sequential members('/') calls: rate, and CPU of this process per call in µs. */
async function membersPerSecond(ns: Namespace$Client, path: string): Promise<{ rate: number; cpuUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) {
    const r = (await ns.members((p) => (p.path = path)).promise()).result;
    if (r._isErr) throw new Error(`members ${path}: ${r.err.message}`);
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { rate: CALLS / wall, cpuUs: (cpu.user + cpu.system) / CALLS };
}

async function ms(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const closers: (() => Promise<void> | void)[] = [];
  // A: the server, reachable directly and through its export.
  const aNs = hostNs();
  const direct = await listen('127.0.0.1:0', { bootstrap: () => hostNs() });
  closers.push(() => direct.close());
  const expA: Exporter = await startExport({
    ns: aNs,
    root: '/svc',
    listen: '127.0.0.1:0',
    tokens: ['t'],
  });
  closers.push(() => expA.close());
  // B imports A; C imports B's re-export.
  const impB = startImport({ address: expA.address, token: 't' });
  await impB.firstAttempt();
  const bNs = importedNamespace(impB);
  const expB = await startExport({ ns: bNs, root: '/', listen: '127.0.0.1:0', tokens: ['t'] });
  release(bNs);
  const impC = startImport({ address: expB.address, token: 't' });
  await impC.firstAttempt();
  closers.push(
    () => impC.close(),
    () => expB.close(),
    () => impB.close(),
  );

  const dConn = await connect(direct.address);
  const dNs = dConn.bootstrap(Namespace);
  const one = await servedWithImport(impB);
  const two = await servedWithImport(impC);
  closers.push(
    () => dConn.close(),
    () => one.conn.close(),
    () => one.l.close(),
    () => two.conn.close(),
    () => two.l.close(),
  );
  const echoes = {
    direct: resolvePipelined(dNs, '/svc/echo', Echo),
    'one hop': resolvePipelined(one.ns, '/n/x/echo', Echo),
    'two hops': resolvePipelined(two.ns, '/n/x/echo', Echo),
  };

  // The import's own capability: B's import (no deadline), and one with a deadline.
  const impD = startImport({ address: expA.address, token: 't', callTimeoutMs: 60_000 });
  await impD.firstAttempt();
  closers.push(() => impD.close());
  // [namespace, path of the echo in it]: A's is at /svc/echo, the export's root is /svc.
  const own: Record<string, [Namespace$Client, string]> = {
    direct: [dNs, '/svc/echo'],
    'import': [importedNamespace(impB), '/echo'],
    'import+deadline': [importedNamespace(impD), '/echo'],
  };

  // Latency case: an importer dialing A's export through a 5 ms relay.
  const r = await relay(expA.address, DELAY_MS);
  const impSlow = startImport({ address: r.address, token: 't' });
  await impSlow.firstAttempt();
  const slow = importedNamespace(impSlow);
  closers.push(
    () => impSlow.close(),
    () => r.close(),
  );

  const rates: Record<string, number[]> = { direct: [], 'one hop': [], 'two hops': [] };
  const ownRates: Record<string, number[]> = { direct: [], 'import': [], 'import+deadline': [] };
  const ownCpu: Record<string, number[]> = { direct: [], 'import': [], 'import+deadline': [] };
  const single: number[] = [];
  const chain: number[] = [];
  for (const e of Object.values(echoes)) await callsPerSecond(e); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, e] of Object.entries(echoes)) rates[name]!.push(await callsPerSecond(e));
    for (const [name, [ns, path]] of Object.entries(own)) {
      const { rate, cpuUs } = await membersPerSecond(ns, path);
      ownRates[name]!.push(rate);
      ownCpu[name]!.push(cpuUs);
    }
    for (let i = 0; i < CHAINS; i++) {
      single.push(await ms(() => slow.describe().promise()));
      const forks: Namespace$Client[] = [];
      chain.push(
        await ms(() => {
          let ns = slow;
          for (let k = 0; k < 4; k++) forks.push((ns = ns.fork().getNs()));
          return ns.describe().promise();
        }),
      );
      for (const f of forks) release(f);
    }
  }
  console.log(`rounds ${ROUNDS}, ${CALLS} sequential Echo.echo calls per round`);
  const base = median(rates['direct']!);
  for (const [name, xs] of Object.entries(rates)) {
    console.log(
      `${name.padEnd(9)} ${median(xs).toFixed(0).padStart(7)} calls/s   ratio to direct ${(median(xs) / base).toFixed(2)}   (latency ratio ${(base / median(xs)).toFixed(2)})`,
    );
  }
  console.log(`${CALLS} sequential Namespace.members per round on the import's own capability:`);
  const ownBase = median(ownRates['direct']!);
  for (const [name, xs] of Object.entries(ownRates)) {
    console.log(
      `${name.padEnd(15)} ${median(xs).toFixed(0).padStart(7)} calls/s   ratio to direct ${(median(xs) / ownBase).toFixed(2)}   CPU ${median(ownCpu[name]!).toFixed(1)} µs/call`,
    );
  }
  const s = median(single);
  const c = median(chain);
  console.log(
    `with ${DELAY_MS} ms each way: one call ${s.toFixed(1)} ms, chain of 5 pipelined ${c.toFixed(1)} ms, ratio ${(c / s).toFixed(2)} (target <= 1.3; ${ROUNDS * CHAINS} samples each)`,
  );
  for (const e of Object.values(echoes)) release(e);
  release(dNs);
  release(one.ns);
  release(two.ns);
  release(slow);
  release(own['import']![0]);
  release(own['import+deadline']![0]);
  release(aNs);
  for (const f of closers.reverse()) await f();
}

await main();
