/**
 * Our side of bench/rpc.bench.ts, run as its own process from dist-bench:
 *
 *   node rpc-peer.js server                       serves test/support/test-server.ts's Test
 *                                                 on 127.0.0.1:0, prints the port, serves
 *                                                 until stdin ends
 *   node rpc-peer.js client HOST:PORT SECONDS MODE [WARMUP]
 *                                                 measures MODE (bench/measure.ts) like the
 *                                                 C++ bench client; prints its JSON line
 *
 * A ping is Base.ping(n); a 64 KiB read is Test.data(65536).
 */
import { connect, listen, release, releaseResults } from '../src/rpc/index.js';
import { Base, Test } from '../test/fixtures/rpc/gen/test.js';
import { TestState, newTest } from '../test/support/test-server.js';
import { isMode, measure, type BenchOps, type Mode } from './measure.js';

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

async function client(address: string, seconds: number, mode: Mode, warmup: number): Promise<void> {
  const conn = await connect(address);
  const test = conn.bootstrap(Test);
  // Generated clients of an interface omit inherited methods: Base's ping is called
  // through a Base client on the same capability.
  const base = new Base.Client(test.client);
  let n = 0;
  const ops: BenchOps = {
    async ping() {
      const want = n++ >>> 0;
      const r = await base.ping((p) => {
        p.n = want;
      }).promise();
      if (r.n !== want) throw new Error(`ping(${want}) answered ${r.n}`);
    },
    async read64k() {
      const r = await test.data((p) => {
        p.size = 65536;
      }).promise();
      const got = r.data.length;
      if (got !== 65536) throw new Error(`data(65536) answered ${got} bytes`);
      // Done with them: their memory takes the next results (as the C++ client's Response does).
      releaseResults(r);
      return got;
    },
  };
  const result = await measure(ops, mode, seconds, warmup);
  process.stdout.write(JSON.stringify(result) + '\n');
  release(test);
  await conn.close();
}

const [role, address, seconds, mode, warmup] = process.argv.slice(2);
if (role === 'server') await server();
else if (role === 'client' && address !== undefined && isMode(mode)) await client(address, Number(seconds), mode, Number(warmup ?? 0.2));
else {
  process.stderr.write('usage: rpc-peer.js server | client HOST:PORT SECONDS seq|inflight|data [WARMUP]\n');
  process.exit(2);
}
