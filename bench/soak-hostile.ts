/**
 * The hostile peers of the soak benchmark (bench/soak.bench.ts), in a process of their
 * own so that their CPU does not show in the good client's latency. Each kind is bounded
 * in count (connections, messages) and in time (it stops at the deadline, or on SIGTERM,
 * and closes everything):
 *
 *   auth       connections that call Gate.authenticate over and over, pipelined on the
 *              bootstrap, never releasing what they get nor sending Finish
 *   unfinished connections that send calls to a method the Gate does not have and never
 *              Finish them (answers the server must keep, or refuse)
 *   idle       sockets that connect (rpc, 9p, http) and send nothing; reconnect when cut
 *   slow       senders of a valid first message one byte at a time (rpc Bootstrap, 9P
 *              Tversion, HTTP request headers), a byte every `slowIntervalMs`
 *   partial    rpc connections that send a frame header announcing a large segment, then
 *              part of it, and stall
 *
 * Raw frames are built with capnp-es's own rpc.capnp classes (as test/rpc/raw-peer.ts
 * does): a hostile peer does not use our client library. Prints one JSON line of counts
 * on stdout when done.
 *
 * Usage: node soak-hostile.js '<json config>'   (see HostileConfig)
 */
import net from 'node:net';
import * as $ from 'capnp-es';
import { Message as RpcMessage } from 'capnp-es/capnp/rpc';
import { Gate, Gate_Authenticate$Params } from '../src/gen/namespace.js';

/** What to run; counts are connections unless said. */
export interface HostileConfig {
  rpc: string;
  ninep: string;
  http: string;
  seconds: number;
  auth: number;
  /** Authenticate calls per auth connection. */
  authCalls: number;
  unfinished: number;
  /** Calls per unfinished connection. */
  unfinishedCalls: number;
  /** Idle sockets per listener (rpc, 9p, http). */
  idle: number;
  /** Most connects an idle peer makes in all (reconnects included), per listener. */
  idleConnects: number;
  /** Which listeners get idle peers (default all three). */
  idleOn?: ('rpc' | '9p' | 'http')[];
  /** Slow senders per listener (rpc, 9p, http). */
  slow: number;
  slowIntervalMs: number;
  partial: number;
  /** Segment size a partial frame announces, bytes. */
  partialAnnounce: number;
  /** Bytes of it actually sent. */
  partialSend: number;
}

const counts = {
  authSent: 0,
  unfinishedSent: 0,
  connects: 0,
  refusedOrCut: 0,
  connectErrors: 0,
  bytesSent: 0,
};

function hostPort(address: string): { host: string; port: number } {
  const m = /^tcp!(.*)!(\d+)$/.exec(address);
  if (m === null) throw new Error(`want tcp!HOST!PORT, got ${address}`);
  return { host: m[1]!, port: Number(m[2]) };
}

const sockets = new Set<net.Socket>();
let stopping = false;

/** Connects; resolves with the socket, or null when the connect failed. */
function open(address: string): Promise<net.Socket | null> {
  const { host, port } = hostPort(address);
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.on('error', () => undefined);
    s.once('connect', () => {
      counts.connects++;
      sockets.add(s);
      s.once('close', () => {
        sockets.delete(s);
        if (!stopping) counts.refusedOrCut++;
      });
      resolve(s);
    });
    s.once('error', () => {
      counts.connectErrors++;
      resolve(null);
    });
    // Whatever the server answers is read and dropped.
    s.resume();
  });
}

/** Writes, respecting backpressure; false once the socket is gone. */
async function write(s: net.Socket, bytes: Uint8Array): Promise<boolean> {
  if (s.destroyed || stopping) return false;
  counts.bytesSent += bytes.length;
  if (!s.write(bytes)) {
    await new Promise<void>((r) => {
      const done = (): void => {
        s.off('drain', done);
        s.off('close', done);
        r();
      };
      s.on('drain', done);
      s.on('close', done);
    });
  }
  return !s.destroyed;
}

function frame(build: (m: RpcMessage) => void): Uint8Array {
  const msg = new $.Message();
  build(msg.initRoot(RpcMessage));
  return new Uint8Array(msg.toArrayBuffer());
}

const bootstrapFrame = frame((m) => {
  m._initBootstrap().questionId = 0;
});

/**
 * A call pipelined on the bootstrap answer (question 0), as a function of its question
 * id. capnp-es builds the frame once; each question's copy differs only in the id (the
 * first word of the Call's data section). Building every frame with capnp-es cost the
 * generator most of a core during the floods, on a machine whose other core the server
 * and the good client share; the server receives the same bytes either way.
 */
function callFrames(interfaceId: bigint, methodId: number): (qid: number) => Uint8Array {
  let at = 0;
  const template = frame((m) => {
    const c = m._initCall();
    c.interfaceId = interfaceId;
    c.methodId = methodId;
    c._initTarget()._initPromisedAnswer().questionId = 0;
    const content = c._initParams().content;
    $.utils.initStruct(Gate_Authenticate$Params._capnp.size, content);
    new Gate_Authenticate$Params(content.segment, content.byteOffset).token = '';
    at = $.utils.getContent(c).byteOffset;
  });
  // One segment: the frame's 8-byte header, then the segment.
  if (new DataView(template.buffer, template.byteOffset).getUint32(0, true) !== 0) throw new Error('want a one-segment frame');
  const make = (qid: number): Uint8Array => {
    const f = template.slice();
    new DataView(f.buffer).setUint32(8 + at, qid, true);
    return f;
  };
  const check = new $.Message(make(0x1234567).subarray(8), false, true).getRoot(RpcMessage).call;
  if (check.questionId !== 0x1234567 || check.methodId !== methodId || check.interfaceId !== interfaceId) throw new Error('the frame template is not the call it should be');
  return make;
}

/** Gate.authenticate("") as question `qid`. */
const authenticateFrame = callFrames(Gate.Client.interfaceId, 0);

/**
 * A call to a method the Gate does not have, as question `qid`: answered with an
 * exception the server keeps until a Finish that never comes. (A call to an export id
 * never exported used to serve too; it is an Abort now.)
 */
const unknownCallFrame = callFrames(Gate.Client.interfaceId, 99);

/** Sends `n` frames made by `make(qid)` (qids from 1), in batches, on one connection. */
async function flood(address: string, n: number, make: (qid: number) => Uint8Array, count: (k: number) => void, deadline: number): Promise<void> {
  const s = await open(address);
  if (s === null) return;
  if (!(await write(s, bootstrapFrame))) return;
  const BATCH = 200;
  for (let q = 1; q <= n && Date.now() < deadline; q += BATCH) {
    const frames: Uint8Array[] = [];
    for (let i = q; i < q + BATCH && i <= n; i++) frames.push(make(i));
    if (!(await write(s, Buffer.concat(frames)))) return;
    count(frames.length);
  }
  // Hold what was given until the end: never Finish, never Release.
}

/** An idle peer: connects, sends nothing; when cut, connects again (within `connects`). */
async function idle(address: string, budget: { left: number }, deadline: number): Promise<void> {
  while (!stopping && Date.now() < deadline && budget.left > 0) {
    budget.left--;
    const s = await open(address);
    if (s === null) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    await new Promise<void>((r) => s.once('close', () => r()));
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A slow sender: `first` one byte at a time. Reconnects when cut. */
async function slow(address: string, first: Uint8Array, intervalMs: number, deadline: number): Promise<void> {
  while (!stopping && Date.now() < deadline) {
    const s = await open(address);
    if (s === null) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    for (let i = 0; i < first.length && !s.destroyed && !stopping && Date.now() < deadline; i++) {
      await write(s, first.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    if (!s.destroyed) await new Promise<void>((r) => s.once('close', () => r()));
  }
}

/** A partial frame: the header announces `announce` bytes in one segment; `send` of them follow. */
async function partial(address: string, announce: number, send: number, deadline: number): Promise<void> {
  while (!stopping && Date.now() < deadline) {
    const s = await open(address);
    if (s === null) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const header = Buffer.alloc(8);
    header.writeUInt32LE(0, 0); // one segment
    header.writeUInt32LE(Math.floor(announce / 8), 4); // its size in words
    await write(s, header);
    const chunk = Buffer.alloc(Math.min(send, 64 * 1024));
    for (let sent = 0; sent < send && !s.destroyed; sent += chunk.length) await write(s, chunk);
    if (!s.destroyed) await new Promise<void>((r) => s.once('close', () => r()));
  }
}

function tversion(): Uint8Array {
  const version = Buffer.from('9P2000.L');
  const b = Buffer.alloc(4 + 1 + 2 + 4 + 2 + version.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt8(100, 4); // Tversion
  b.writeUInt16LE(0xffff, 5); // NOTAG
  b.writeUInt32LE(8192 + 24, 7);
  b.writeUInt16LE(version.length, 11);
  version.copy(b, 13);
  return b;
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2] ?? '{}') as HostileConfig;
  const deadline = Date.now() + c.seconds * 1000;
  const stop = (): void => {
    stopping = true;
    for (const s of sockets) s.destroy();
  };
  process.on('SIGTERM', () => {
    stop();
  });
  const jobs: Promise<void>[] = [];
  // Floods first: they connect before the idle sockets fill the places.
  for (let i = 0; i < c.auth; i++) jobs.push(flood(c.rpc, c.authCalls, authenticateFrame, (k) => (counts.authSent += k), deadline));
  for (let i = 0; i < c.unfinished; i++) jobs.push(flood(c.rpc, c.unfinishedCalls, unknownCallFrame, (k) => (counts.unfinishedSent += k), deadline));
  for (let i = 0; i < c.partial; i++) jobs.push(partial(c.rpc, c.partialAnnounce, c.partialSend, deadline));
  const httpSlow = Buffer.from(`GET /api/v1/ns/list?path=/ HTTP/1.1\r\nHost: ${hostPort(c.http).host}:${hostPort(c.http).port}\r\nUser-Agent: ${'x'.repeat(200)}\r\n\r\n`);
  for (let i = 0; i < c.slow; i++) {
    jobs.push(slow(c.rpc, bootstrapFrame, c.slowIntervalMs, deadline));
    jobs.push(slow(c.ninep, tversion(), c.slowIntervalMs, deadline));
    jobs.push(slow(c.http, httpSlow, c.slowIntervalMs, deadline));
  }
  const on = new Set(c.idleOn ?? ['rpc', '9p', 'http']);
  for (const address of [on.has('rpc') && c.rpc, on.has('9p') && c.ninep, on.has('http') && c.http].filter((a): a is string => a !== false)) {
    const budget = { left: c.idleConnects };
    for (let i = 0; i < c.idle; i++) jobs.push(idle(address, budget, deadline));
  }
  await new Promise<void>((r) => {
    const t = setTimeout(r, Math.max(0, deadline - Date.now()));
    process.once('SIGTERM', () => {
      clearTimeout(t);
      r();
    });
  });
  const held = sockets.size;
  stop();
  await Promise.race([Promise.allSettled(jobs), new Promise((r) => setTimeout(r, 2000))]);
  process.stdout.write(JSON.stringify({ ...counts, heldAtEnd: held }) + '\n');
  process.exit(0);
}

await main();
