/**
 * Our side of bench/client.bench.ts: the client library (src/client) against a `capns
 * serve`, run as its own process from dist-bench, doing what the C++ client
 * (test/interop/cpp/serve-bench.c++) does against the same server:
 *
 *   node serve-peer.js ADDRESS SECONDS MODE [WARMUP]
 *
 * connects (the loopback profile), then measures MODE (bench/measure.ts): a ping is
 * Clock.now() on the capability at /svc/clock, resolved once; a 64 KiB read is
 * File.read(0, 65536) of /tmp/f, resolved once (resolve /tmp as a FileServer, attach,
 * walk, open). Prints its JSON line.
 */
import { connect } from '../src/client/index.js';
import { OpenMode_Access } from '../src/gen/common.js';
import { Clock } from '../src/gen/demo.js';
import { FileServer } from '../src/gen/fileserver.js';
import { release, releaseResults } from '../src/rpc/index.js';
import { isMode, measure, type BenchOps, type Mode } from './measure.js';

const READ_SIZE = 65536;

async function main(address: string, seconds: number, mode: Mode, warmup: number): Promise<void> {
  const client = await connect(address);
  const clock = await client.resolve('/svc/clock', Clock);
  const fs = await client.resolve('/tmp', FileServer);
  const root = (await fs.attach((p) => (p.aname = '')).promise()).result;
  if (root._isErr) throw new Error(`attach /tmp: ${root.err.message}`);
  const walked = (
    await root.ok.root
      .walk((p) => {
        p._initNames(1).set(0, 'f');
      })
      .promise()
  ).result;
  if (!walked._isFile) throw new Error('/tmp/f: walk failed');
  const file = walked.file;
  const opened = (
    await file
      .open((p) => {
        p._initMode().access = OpenMode_Access.READ;
      })
      .promise()
  ).result;
  if (opened._isErr) throw new Error(`open /tmp/f: ${opened.err.message}`);
  const ops: BenchOps = {
    async ping() {
      const r = await clock.now().promise();
      if (r.unixMillis <= 0n) throw new Error('Clock.now answered no time');
    },
    async read64k() {
      const r = await file
        .read((p) => {
          p.offset = 0n;
          p.count = READ_SIZE;
        })
        .promise();
      const res = r.result;
      if (!res._isData || res.data.length !== READ_SIZE) throw new Error('short read of /tmp/f');
      // Done with them: their memory takes the next results (as the C++ client's Response does).
      releaseResults(r);
      return READ_SIZE;
    },
  };
  const result = await measure(ops, mode, seconds, warmup);
  process.stdout.write(JSON.stringify(result) + '\n');
  release(file);
  release(root.ok.root);
  release(fs);
  clock[Symbol.dispose]();
  await client.close();
}

const [address, seconds, mode, warmup] = process.argv.slice(2);
if (address !== undefined && isMode(mode)) await main(address, Number(seconds), mode, Number(warmup ?? 1));
else {
  process.stderr.write('usage: serve-peer.js ADDRESS SECONDS seq|inflight|data [WARMUP]\n');
  process.exit(2);
}
