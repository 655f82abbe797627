/**
 * Quick micro-benchmark of the RPC core (the official one is bench/rpc.bench.ts): ours ->
 * ours over TCP on 127.0.0.1, next to a plain Node framed TCP ping-pong (the floor for
 * any Node RPC) measured in the same run, interleaved, so the ratio means something on a
 * shared machine. Compile first (tsx slows capnp-es down), e.g. with tsc into /tmp/mb.
 *   node micro-bench.js                 (client and server in this process)
 *   node micro-bench.js --server        (prints the addresses) then
 *   node micro-bench.js RPCADDR FLOORPORT
 * MB_SECS (default 2), MB_ROUNDS (default 3).
 */
import net from 'node:net';
import { Base, Test } from '../fixtures/rpc/gen/test.js';
import { connect, listen, release } from '../../src/rpc/index.js';
import { ServerState, serveTest } from './test-impl.js';

const secs = Number(process.env['MB_SECS'] ?? 2);
/** CPU time (this process, µs) per call of the last 100-in-flight run. */
let lastCpuPerCall = 0;

async function seqAndPar(ping: () => Promise<unknown>): Promise<[number, number]> {
  let n = 0;
  let t0 = performance.now();
  while (performance.now() - t0 < secs * 1000) {
    await ping();
    n++;
  }
  const seq = n / ((performance.now() - t0) / 1000);
  n = 0;
  t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve) => {
    let active = 0;
    const kick = (): void => {
      while (active < 100 && performance.now() - t0 < secs * 1000) {
        active++;
        void ping().then(() => {
          n++;
          active--;
          kick();
          if (active === 0) resolve();
        });
      }
    };
    kick();
  });
  const cpu = process.cpuUsage(cpu0);
  lastCpuPerCall = (cpu.user + cpu.system) / n;
  return [seq, n / ((performance.now() - t0) / 1000)];
}

/** Plain framed ping-pong: u32 length + payload, echoed. */
function floorServer(): Promise<net.Server> {
  const s = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('data', (d) => sock.write(d));
    sock.on('error', () => {});
  });
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}

async function floorClient(port: number): Promise<{ ping: () => Promise<unknown>; close: () => void }> {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise((r) => sock.once('connect', r));
  const waiting: Array<() => void> = [];
  let buf: Buffer = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    while (buf.length >= 4) {
      const len = buf.readUInt32LE(0);
      if (buf.length < 4 + len) break;
      buf = buf.subarray(4 + len);
      waiting.shift()?.();
    }
  });
  const msg = Buffer.alloc(4 + 40);
  msg.writeUInt32LE(40, 0);
  return {
    ping: () => new Promise<void>((r) => { waiting.push(r); sock.write(msg); }),
    close: () => sock.destroy(),
  };
}

async function client(addr: string, floorPort: number): Promise<void> {
  const conn = await connect(addr);
  const t = conn.bootstrap(Test);
  const base = new Base.Client(t.client);
  const ping = (): Promise<unknown> => base.ping((p) => { p.n = 1; }).promise();
  const floor = await floorClient(floorPort);
  for (let i = 0; i < 3000; i++) await ping();
  for (let i = 0; i < 3000; i++) await floor.ping();
  const rounds = Number(process.env['MB_ROUNDS'] ?? 3);
  for (let round = 0; round < rounds; round++) {
    const dataOnly = process.env['MB_DATA_ONLY'] === '1';
    const [fs, fp] = dataOnly ? [1, 1] : await seqAndPar(floor.ping);
    const fcpu = lastCpuPerCall;
    const [s, p] = dataOnly ? [1, 1] : await seqAndPar(ping);
    const cpu = lastCpuPerCall;
    const dcpu0 = process.cpuUsage();
    let reads = 0;
    const t0 = performance.now();
    let bytes = 0;
    while (performance.now() - t0 < secs * 1000) {
      const r = await t.data((q) => { q.size = 65536; }).promise();
      bytes += r.data.length;
      reads++;
    }
    const mbs = bytes / 1e6 / ((performance.now() - t0) / 1000);
    const dcpu = process.cpuUsage(dcpu0);
    const dcpuPerRead = (dcpu.user + dcpu.system) / reads;
    console.log(
      `ours: sequential ${s.toFixed(0)}/s (${(s / fs).toFixed(2)}x floor ${fs.toFixed(0)}), ` +
        `100 in flight ${p.toFixed(0)}/s (${(p / fp).toFixed(2)}x floor ${fp.toFixed(0)}), 64 KiB reads ${mbs.toFixed(0)} MB/s (${dcpuPerRead.toFixed(0)} µs CPU each); ` +
        `CPU per call in this process ${cpu.toFixed(1)} µs (floor ${fcpu.toFixed(1)} µs)`,
    );
  }
  floor.close();
  release(t);
  await conn.close();
}

const arg = process.argv[2];
if (arg === '--server') {
  const l = await listen('127.0.0.1:0', { bootstrap: () => serveTest(new ServerState()) });
  const f = await floorServer();
  console.log(l.address, (f.address() as net.AddressInfo).port);
  process.on('SIGTERM', () => process.exit(0));
} else if (arg !== undefined) {
  await client(arg, Number(process.argv[3]));
} else {
  const l = await listen('127.0.0.1:0', { bootstrap: () => serveTest(new ServerState()) });
  const f = await floorServer();
  await client(l.address, (f.address() as net.AddressInfo).port);
  f.close();
  await l.close();
}
