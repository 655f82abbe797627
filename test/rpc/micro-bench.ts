/**
 * Quick micro-benchmark of the RPC core (not the official bench/rpc.bench.ts): ours ->
 * ours over TCP on 127.0.0.1, in one process or two. Run:
 *   npx tsx test/rpc/micro-bench.ts            (client and server in one process)
 *   npx tsx test/rpc/micro-bench.ts --server   (prints the address) then
 *   npx tsx test/rpc/micro-bench.ts ADDRESS
 */
import { Base, Test } from '../fixtures/rpc/gen/test.js';
import { connect, listen, release } from '../../src/rpc/index.js';
import { ServerState, serveTest } from './test-impl.js';

async function client(addr: string): Promise<void> {
  const conn = await connect(addr);
  const t = conn.bootstrap(Test);
  const base = new Base.Client(t.client);
  const ping = (n: number): Promise<unknown> => base.ping((p) => { p.n = n; }).promise();
  for (let i = 0; i < 2000; i++) await ping(i);
  const secs = 2;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    let t0 = performance.now();
    while (performance.now() - t0 < secs * 1000) {
      await ping(n++);
    }
    const seq = n / ((performance.now() - t0) / 1000);
    n = 0;
    t0 = performance.now();
    const inflight = 100;
    await new Promise<void>((resolve) => {
      let active = 0;
      const kick = (): void => {
        while (active < inflight) {
          active++;
          void ping(n).then(() => {
            n++;
            active--;
            if (performance.now() - t0 < secs * 1000) kick();
            else if (active === 0) resolve();
          });
        }
      };
      kick();
    });
    const par = n / ((performance.now() - t0) / 1000);
    n = 0;
    t0 = performance.now();
    let bytes = 0;
    while (performance.now() - t0 < secs * 1000) {
      const r = await t.data((p) => { p.size = 65536; }).promise();
      bytes += r.data.length;
    }
    const mbs = bytes / 1e6 / ((performance.now() - t0) / 1000);
    console.log(`sequential ${seq.toFixed(0)} calls/s, 100 in flight ${par.toFixed(0)} calls/s, 64 KiB reads ${mbs.toFixed(1)} MB/s`);
  }
  release(t);
  await conn.close();
}

const arg = process.argv[2];
if (arg === '--server') {
  const l = await listen('127.0.0.1:0', { bootstrap: () => serveTest(new ServerState()) });
  console.log(l.address);
} else if (arg !== undefined) {
  await client(arg);
} else {
  const l = await listen('127.0.0.1:0', { bootstrap: () => serveTest(new ServerState()) });
  await client(l.address);
  await l.close();
}
