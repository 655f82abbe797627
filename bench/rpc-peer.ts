/**
 * Our side of bench/rpc.bench.ts, run as its own process from dist-bench:
 *
 *   node rpc-peer.js server                       serves test/support/test-server.ts's Test
 *                                                 on 127.0.0.1:0, prints the port, serves
 *                                                 until stdin ends
 *   node rpc-peer.js client HOST:PORT SECONDS     measures like the C++ bench client and
 *                                                 prints {"seq":..,"inflight":..,"data":..}
 *
 * The measurements are those of test/interop/cpp/bench.c++: sequential Base.ping calls,
 * ping with 100 calls in flight, sequential data(65536) reads (MB/s = 10^6 bytes/s).
 */
import { connect, listen, release } from '../src/rpc/index.js';
import { Base, Test, type Base$Client, type Test$Client } from '../test/fixtures/rpc/gen/test.js';
import { TestState, newTest } from '../test/support/test-server.js';

async function server(): Promise<void> {
  const state = new TestState();
  const listener = await listen('127.0.0.1:0', { bootstrap: () => newTest(state) });
  const port = listener.address.split('!').pop();
  process.stdout.write(`${port}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void listener.close().finally(() => process.exit(0));
  });
}

async function sequential(base: Base$Client, seconds: number): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    const r = await base.ping((p) => {
      p.n = n;
    }).promise();
    if (r.n !== n) throw new Error(`ping(${n}) answered ${r.n}`);
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function inFlight(base: Base$Client, seconds: number, depth: number): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  const slot = async (): Promise<void> => {
    while (performance.now() < end) {
      await base.ping((p) => {
        p.n = 1;
      }).promise();
      n++;
    }
  };
  await Promise.all(Array.from({ length: depth }, slot));
  return n / ((performance.now() - t0) / 1000);
}

async function dataReads(test: Test$Client, seconds: number): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let bytes = 0;
  while (performance.now() < end) {
    const r = await test.data((p) => {
      p.size = 65536;
    }).promise();
    const n = r.data.length;
    if (n !== 65536) throw new Error(`data(65536) answered ${n} bytes`);
    bytes += n;
  }
  return bytes / ((performance.now() - t0) / 1000) / 1e6;
}

async function client(address: string, seconds: number): Promise<void> {
  const conn = await connect(address);
  const test = conn.bootstrap(Test);
  // Generated clients of an interface omit inherited methods: Base's ping is called
  // through a Base client on the same capability.
  const base = new Base.Client(test.client);
  await sequential(base, 0.1);
  await inFlight(base, 0.1, 100);
  await dataReads(test, 0.1);
  const seq = await sequential(base, seconds);
  const inflight = await inFlight(base, seconds, 100);
  const data = await dataReads(test, seconds);
  process.stdout.write(JSON.stringify({ seq, inflight, data }) + '\n');
  release(test);
  await conn.close();
}

const [mode, address, seconds] = process.argv.slice(2);
if (mode === 'server') await server();
else if (mode === 'client' && address !== undefined) await client(address, Number(seconds));
else {
  process.stderr.write('usage: rpc-peer.js server | client HOST:PORT SECONDS\n');
  process.exit(2);
}
