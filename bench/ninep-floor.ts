/**
 * The floor for a 9P server written for Node (bench/ninep.bench.ts): a plain `net` server
 * that answers 9P2000.L with canned replies and serves no files at all. Twalk returns
 * zero qids, Tgetattr a zero Rgetattr, Tread `count` bytes of one static buffer until the
 * virtual file's end; everything else but Tversion, Tattach, Tlopen and Tclunk gets
 * Rlerror EOPNOTSUPP. What it measures is what any Node 9P server pays before doing any
 * work: the event loop's wake-up, one read and one write per request.
 *
 *   node ninep-floor.js SIZE     prints `listening on tcp!127.0.0.1!PORT`, serves until
 *                                stdin ends; SIZE is the virtual file's length in bytes
 */
import { createServer, type Socket } from 'node:net';

import { headerAhead, newWriterId } from '../src/early-header.js';

const MAX_MSIZE = 1024 * 1024 + 24;
const HEADER = 7; // size[4] type[1] tag[2]
const EOPNOTSUPP = 95;
/** size[4] type[1] tag[2] count[4]: the bytes of an Rread before its data. */
const RREAD_HEADER = 11;
/** Replies with more data than this may write their header alone first, as the bridge does. */
const EARLY_HEADER_MIN = 16 * 1024;

const T = {
  lopen: 12,
  getattr: 24,
  version: 100,
  attach: 104,
  walk: 110,
  read: 116,
  clunk: 120,
} as const;
const RLERROR = 7;

const QID = 13;
/**
 * Rgetattr's body: valid[8] qid[13] mode uid gid[4 each] nlink rdev size blksize blocks[8
 * each], four times (sec, nsec)[8 each], gen data_version[8 each].
 */
const GETATTR_BODY = 8 + QID + 3 * 4 + 8 * 5 + 8 * 8 + 8 * 2;

function reply(type: number, tag: number, bodyLength: number): Buffer {
  const b = Buffer.alloc(HEADER + bodyLength);
  b.writeUInt32LE(HEADER + bodyLength, 0);
  b[4] = type;
  b.writeUInt16LE(tag, 5);
  return b;
}

function serve(size: number): void {
  const data = Buffer.alloc(MAX_MSIZE, 7);
  const version = Buffer.from('9P2000.L');
  const answer = (sock: Socket, writer: number, m: Buffer): void => {
    // Every reply is a write to this connection (src/early-header.ts counts them all).
    const alone = headerAhead(writer);
    const type = m[4]!;
    const tag = m.readUInt16LE(5);
    let r: Buffer;
    switch (type) {
      case T.version: {
        r = reply(type + 1, tag, 4 + 2 + version.length);
        r.writeUInt32LE(Math.min(m.readUInt32LE(HEADER), MAX_MSIZE), HEADER);
        r.writeUInt16LE(version.length, HEADER + 4);
        version.copy(r, HEADER + 6);
        break;
      }
      case T.attach:
        r = reply(type + 1, tag, QID);
        break;
      case T.walk: {
        // fid[4] newfid[4] nwname[2]: as many qids as names.
        const n = m.readUInt16LE(HEADER + 8);
        r = reply(type + 1, tag, 2 + n * QID);
        r.writeUInt16LE(n, HEADER);
        break;
      }
      case T.lopen:
        r = reply(type + 1, tag, QID + 4);
        break;
      case T.getattr:
        r = reply(type + 1, tag, GETATTR_BODY);
        break;
      case T.clunk:
        r = reply(type + 1, tag, 0);
        break;
      case T.read: {
        // fid[4] offset[8] count[4]
        const offset = Number(m.readBigUInt64LE(HEADER + 4));
        const n = Math.max(0, Math.min(m.readUInt32LE(HEADER + 12), size - offset));
        const h = Buffer.allocUnsafe(RREAD_HEADER);
        h.writeUInt32LE(RREAD_HEADER + n, 0);
        h[4] = type + 1;
        h.writeUInt16LE(tag, 5);
        h.writeUInt32LE(n, HEADER);
        const body = data.subarray(0, n);
        // The bridge's rule: ahead only while one connection is being written to.
        if (n > EARLY_HEADER_MIN && alone) {
          sock.write(h);
          sock.write(body);
        } else {
          sock.cork();
          sock.write(h);
          sock.write(body);
          sock.uncork();
        }
        return;
      }
      default:
        r = reply(RLERROR, tag, 4);
        r.writeUInt32LE(EOPNOTSUPP, HEADER);
    }
    sock.write(r);
  };
  const server = createServer({ noDelay: true }, (sock) => {
    const writer = newWriterId();
    let pending: Buffer | null = null;
    sock.on('data', (chunk: Buffer) => {
      let buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
      pending = null;
      while (buf.length >= 4) {
        const n = buf.readUInt32LE(0);
        if (n < HEADER || n > MAX_MSIZE) {
          sock.destroy();
          return;
        }
        if (buf.length < n) break;
        answer(sock, writer, buf.subarray(0, n));
        buf = buf.subarray(n);
      }
      if (buf.length > 0) pending = Buffer.from(buf);
    });
    sock.on('error', () => sock.destroy());
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    process.stdout.write(`listening on tcp!127.0.0.1!${addr.port}\n`);
  });
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

const size = Number(process.argv[2]);
if (!Number.isSafeInteger(size) || size < 0) {
  console.error('usage: node ninep-floor.js SIZE');
  process.exit(2);
}
serve(size);
