/**
 * The floor for any Node RPC (bench/rpc.bench.ts): two Node processes exchanging
 * length-prefixed messages over TCP with no RPC protocol at all. Each message is one
 * socket.write of [u32 length LE][payload]; the receiver reassembles frames across chunks
 * like a real framer, copying each byte once (the client reads into one reused buffer
 * with `onread`, as src/rpc does). Requests are 64 bytes (about a small Cap'n Proto
 * Call); a ping is answered with the same 64 bytes, a data request with a 64 KiB payload.
 *
 *   node floor-peer.js server                  prints its port, serves until stdin ends
 *   node floor-peer.js client PORT SECONDS MODE [WARMUP]
 *                                              measures MODE (bench/measure.ts), prints JSON
 */
import { createConnection, createServer, type Socket } from 'node:net';

import { isMode, measure, type BenchOps, type Mode } from './measure.js';

const PING = 1;
const DATA = 2;
const REQUEST_SIZE = 64;
const DATA_SIZE = 65536;

/**
 * Calls `onFrame` with each complete frame's payload; survives any split of the stream.
 * Each payload gets a buffer of its own and every byte is copied once, straight into it.
 */
function framer(onFrame: (payload: Buffer) => void): (chunk: Buffer) => void {
  const hdr = Buffer.alloc(4);
  let hdrFill = 0;
  let body: Buffer | null = null;
  let fill = 0;
  return (chunk) => {
    let pos = 0;
    while (pos < chunk.length) {
      if (body === null) {
        const take = Math.min(4 - hdrFill, chunk.length - pos);
        chunk.copy(hdr, hdrFill, pos, pos + take);
        hdrFill += take;
        pos += take;
        if (hdrFill < 4) return;
        hdrFill = 0;
        body = Buffer.allocUnsafeSlow(hdr.readUInt32LE(0));
        fill = 0;
      }
      const take = Math.min(body.length - fill, chunk.length - pos);
      chunk.copy(body, fill, pos, pos + take);
      fill += take;
      pos += take;
      if (fill === body.length) {
        const done = body;
        body = null;
        onFrame(done);
      }
    }
  };
}

function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32LE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

function serve(): void {
  const data = Buffer.alloc(DATA_SIZE, 7);
  const dataHeader = Buffer.alloc(4);
  dataHeader.writeUInt32LE(DATA_SIZE, 0);
  const server = createServer((sock) => {
    sock.setNoDelay(true);
    sock.on(
      'data',
      framer((req) => {
        if (req[0] === DATA) {
          // Header and payload in one writev, the payload not copied.
          sock.cork();
          sock.write(dataHeader);
          sock.write(data);
          sock.uncork();
        } else sock.write(frame(req));
      }),
    );
    sock.on('error', () => sock.destroy());
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    process.stdout.write(`${addr.port}\n`);
  });
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

/**
 * A client with one callback queue: replies arrive in request order. Its socket reads into
 * one reused buffer (`onread`), so no read allocates.
 */
class FloorClient {
  private readonly waiting: ((b: Buffer) => void)[] = [];
  private head = 0;
  readonly onChunk = framer((reply) => {
    const cb = this.waiting[this.head++]!;
    if (this.head > 1024) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    cb(reply);
  });
  constructor(private readonly sock: Socket) {}
  call(op: number): Promise<Buffer> {
    const req = Buffer.alloc(REQUEST_SIZE);
    req[0] = op;
    this.sock.write(frame(req));
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

async function client(port: number, seconds: number, mode: Mode, warmup: number): Promise<void> {
  let c: FloorClient | null = null;
  const readBuf = Buffer.allocUnsafe(64 * 1024);
  const sock = createConnection({
    port,
    host: '127.0.0.1',
    noDelay: true,
    onread: { buffer: readBuf, callback: (n) => (c!.onChunk(readBuf.subarray(0, n)), true) },
  });
  c = new FloorClient(sock);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const ops: BenchOps = {
    async ping() {
      const r = await c.call(PING);
      if (r.length !== REQUEST_SIZE) throw new Error('bad ping reply');
    },
    async read64k() {
      const r = await c.call(DATA);
      if (r.length !== DATA_SIZE) throw new Error('bad data reply');
      return r.length;
    },
  };
  const result = await measure(ops, mode, seconds, warmup);
  process.stdout.write(JSON.stringify(result) + '\n');
  sock.destroy();
}

const [role, port, seconds, mode, warmup] = process.argv.slice(2);
if (role === 'server') serve();
else if (role === 'client' && isMode(mode)) await client(Number(port), Number(seconds), mode, Number(warmup ?? 0.2));
else {
  process.stderr.write('usage: floor-peer.js server | client PORT SECONDS seq|inflight|data [WARMUP]\n');
  process.exit(2);
}
