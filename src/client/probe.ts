/**
 * What answered at an address that is not a Cap'n Proto RPC listener: used by `connect`
 * when the server it dialed closed the connection or sent something that is not a
 * Cap'n Proto frame, to say "tcp!127.0.0.1!5642 is an HTTP server" rather than "frame
 * claims 1347703881 segments" (the bytes "HTTP" read as a segment count).
 *
 * It dials again and sends a 9P Tversion, the one greeting that makes each kind of
 * server capns runs beside its RPC listener answer in its own way: a 9P server with
 * Rversion (or Rerror), an HTTP server with a 400 status line, a TLS server with an
 * alert record. Only in that error path: a working connection is never probed.
 */
import net from 'node:net';
import { parseAddress } from '../manifest/address.js';

/** How long the probe waits for an answer. */
export const PROBE_TIMEOUT_MS = 1000;

/**
 * version(5): size[4] Tversion(100) tag[2]=NOTAG msize[4] version[s]="9P2000". A valid
 * message for any 9P server; for an HTTP server a malformed request line; for TLS a
 * record of an unknown type.
 */
const TVERSION = Buffer.from([19, 0, 0, 0, 100, 0xff, 0xff, 0x18, 0x20, 0, 0, 6, 0, ...Buffer.from('9P2000')]);

/** 9P reply types a server may answer a Tversion with: Rversion, Rerror, Rlerror (9P2000.L). */
const NINEP_REPLIES = new Set([101, 107, 7]);

/**
 * What the first bytes a server sent say it is ("an HTTP server"), or undefined when
 * they say nothing known.
 */
export function describeAnswer(bytes: Uint8Array): string | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 5 && b.toString('latin1', 0, 5) === 'HTTP/') return 'an HTTP server';
  if (b.length >= 4 && b.toString('latin1', 0, 4) === 'SSH-') return 'an SSH server';
  // A TLS record: content type alert (21) or handshake (22), version 3.x.
  if (b.length >= 3 && (b[0] === 21 || b[0] === 22) && b[1] === 3 && b[2]! <= 4) return 'a TLS server';
  if (b.length >= 7) {
    const size = b.readUInt32LE(0);
    if (size >= 7 && size <= 65536 && NINEP_REPLIES.has(b[4]!) && b.readUInt16LE(5) === 0xffff) return 'a 9P server';
  }
  return undefined;
}

/**
 * Dials `address` (tcp or unix) without TLS, sends a 9P Tversion and describes what
 * comes back within `timeoutMs`; undefined when nothing known does. Never throws.
 */
export async function whatAnswers(address: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<string | undefined> {
  let a;
  try {
    a = parseAddress(address);
  } catch {
    return undefined;
  }
  return new Promise((done) => {
    const socket = a.kind === 'unix' ? net.connect(a.path) : net.connect(a.port, a.host);
    let got = Buffer.alloc(0);
    const finish = (what: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      done(what);
    };
    const timer = setTimeout(() => finish(describeAnswer(got)), timeoutMs);
    socket.on('connect', () => socket.write(TVERSION));
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]).subarray(0, 64);
      const what = describeAnswer(got);
      if (what !== undefined || got.length >= 64) finish(what);
    });
    socket.on('error', () => finish(describeAnswer(got)));
    socket.on('close', () => finish(describeAnswer(got)));
  });
}
