/**
 * A 9P client for tests and benchmarks: speaks 9P2000 and 9P2000.L over a TCP or unix
 * socket with our codec, keeps many requests in flight (one tag each), and can also send
 * raw bytes for fuzzing. It adds breadth and protocol edge cases; it never replaces the
 * real clients (diod's tools, Linux v9fs) that the tests also run.
 */
import net from 'node:net';
import { decodeMessage, encodeMessage } from '../../src/fileserver/9p/codec.js';
import { MessageType, NOFID, NOTAG, type Dialect } from '../../src/fileserver/9p/constants.js';
import { NinepFramer } from '../../src/fileserver/9p/framer.js';
import type { MessageOf, Qid, RMessage, TMessage } from '../../src/fileserver/9p/messages.js';
import type { NinepAddress } from '../../src/fileserver/9p/server.js';

/** A T-message without its tag (the client picks one). */
export type TRequest = TMessage extends infer M
  ? M extends TMessage
    ? Omit<M, 'tag'>
    : never
  : never;

/** An Rerror or Rlerror answer, thrown by the typed helpers. */
export class NinepClientError extends Error {
  constructor(
    readonly ename: string | undefined,
    readonly ecode: number | undefined,
  ) {
    super(ename ?? `errno ${ecode}`);
  }
}

interface Waiter {
  resolve: (m: RMessage) => void;
  reject: (e: Error) => void;
}

/** One client connection. Close it with `close()`. */
export class NinepClient {
  private readonly framer = new NinepFramer(16 * 1024 * 1024);
  private readonly waiters = new Map<number, Waiter>();
  private nextTag = 0;
  private nextFid = 1;
  private ended: Error | null = null;
  private endedWaiters: (() => void)[] = [];
  dialect: Dialect = '9P2000';
  msize = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onEnd(new Error('connection closed')));
  }

  /** Connects to `address`; the caller owns the client. */
  static connect(address: NinepAddress): Promise<NinepClient> {
    return new Promise((resolve, reject) => {
      const socket =
        address.kind === 'unix'
          ? net.connect(address.path)
          : net.connect({ host: address.host, port: address.port, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new NinepClient(socket));
      });
    });
  }

  /** Connects, negotiates `version` with `msize`, and returns the client. */
  static async open(
    address: NinepAddress,
    version: Dialect = '9P2000.L',
    msize = 65536 + 24,
  ): Promise<NinepClient> {
    const c = await NinepClient.connect(address);
    const r = await c.version(msize, version);
    if (r.version !== version) throw new Error(`server answered version ${r.version}`);
    return c;
  }

  /** Whether the server has closed the connection. */
  get isClosed(): boolean {
    return this.ended !== null;
  }

  /** Resolves when the connection has closed (for either reason). */
  closedP(): Promise<void> {
    if (this.ended !== null) return Promise.resolve();
    return new Promise((resolve) => this.endedWaiters.push(resolve));
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      this.socket.destroy();
      this.onEnd(err as Error);
      return;
    }
    for (const f of frames) {
      const m = decodeMessage(f, this.dialect) as RMessage;
      // Data fields are views of the frame, which stays referenced: fine for tests.
      const w = this.waiters.get(m.tag);
      if (w === undefined) continue;
      this.waiters.delete(m.tag);
      w.resolve(m);
    }
  }

  private onEnd(err: Error): void {
    if (this.ended !== null) return;
    this.ended = err;
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    for (const r of this.endedWaiters.splice(0)) r();
  }

  /** A fresh fid number. */
  fid(): number {
    return this.nextFid++;
  }

  /** A free tag. */
  tag(): number {
    for (;;) {
      const t = this.nextTag;
      this.nextTag = (this.nextTag + 1) % 0xffff;
      if (!this.waiters.has(t)) return t;
    }
  }

  /** Sends bytes as they are (fuzzing, split frames). */
  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /**
   * Sends `m` with `tag` (or a fresh one) and resolves with the reply, whatever it is
   * (Rerror/Rlerror included). Rejects if the connection closes first.
   */
  rpc(m: TRequest, tag = this.tag()): Promise<RMessage> {
    if (this.ended !== null) return Promise.reject(this.ended);
    const p = new Promise<RMessage>((resolve, reject) =>
      this.waiters.set(tag, { resolve, reject }),
    );
    this.socket.write(encodeMessage({ ...m, tag }));
    return p;
  }

  /** Sends `m` with `tag` and registers a waiter, returning the reply promise and the tag. */
  start(m: TRequest): { tag: number; reply: Promise<RMessage> } {
    const tag = this.tag();
    return { tag, reply: this.rpc(m, tag) };
  }

  /** As `rpc`, but an Rerror/Rlerror rejects with NinepClientError and any other unexpected type throws. */
  async call<T extends RMessage['type']>(m: TRequest, expect: T): Promise<MessageOf<T>> {
    const r = await this.rpc(m);
    if (r.type === MessageType.Rerror) throw new NinepClientError(r.ename, undefined);
    if (r.type === MessageType.Rlerror) throw new NinepClientError(undefined, r.ecode);
    if (r.type !== expect) throw new Error(`expected reply type ${expect}, got ${r.type}`);
    return r as MessageOf<T>;
  }

  async version(msize: number, version: string): Promise<MessageOf<MessageType.Rversion>> {
    const r = await this.rpc({ type: MessageType.Tversion, msize, version }, NOTAG);
    if (r.type !== MessageType.Rversion) throw new Error(`Tversion answered with type ${r.type}`);
    if (r.version === '9P2000' || r.version === '9P2000.u' || r.version === '9P2000.L') {
      this.dialect = r.version;
    }
    this.msize = r.msize;
    return r;
  }

  /** Tattach with no afid; returns the root fid and its qid. */
  async attach(aname = '', uname = 'test'): Promise<{ fid: number; qid: Qid }> {
    const fid = this.fid();
    const r = await this.call(
      this.dialect !== '9P2000'
        ? { type: MessageType.Tattach, fid, afid: NOFID, uname, aname, n_uname: 1000 }
        : { type: MessageType.Tattach, fid, afid: NOFID, uname, aname },
      MessageType.Rattach,
    );
    return { fid, qid: r.qid };
  }

  /** Twalk `names` from `fid` to a new fid; rejects unless every name was walked. */
  async walk(fid: number, names: string[]): Promise<number> {
    const newfid = this.fid();
    const r = await this.call(
      { type: MessageType.Twalk, fid, newfid, wname: names },
      MessageType.Rwalk,
    );
    if (r.wqid.length !== names.length) throw new NinepClientError('partial walk', undefined);
    return newfid;
  }

  async clunk(fid: number): Promise<void> {
    await this.call({ type: MessageType.Tclunk, fid }, MessageType.Rclunk);
  }

  /** Topen (9P2000) or Tlopen (9P2000.L, `mode` as open(5) access bits); returns the iounit. */
  async open(fid: number, mode: number): Promise<number> {
    if (this.dialect === '9P2000.L') {
      return (
        await this.call({ type: MessageType.Tlopen, fid, flags: mode & 3 }, MessageType.Rlopen)
      ).iounit;
    }
    return (await this.call({ type: MessageType.Topen, fid, mode }, MessageType.Ropen)).iounit;
  }

  async read(fid: number, offset: bigint, count: number): Promise<Uint8Array> {
    return (await this.call({ type: MessageType.Tread, fid, offset, count }, MessageType.Rread))
      .data;
  }

  async write(fid: number, offset: bigint, data: Uint8Array): Promise<number> {
    return (await this.call({ type: MessageType.Twrite, fid, offset, data }, MessageType.Rwrite))
      .count;
  }

  /** Reads the whole file, `depth` reads in flight at a time, `chunk` bytes each. */
  async readAll(fid: number, size: number, chunk: number, depth = 1): Promise<Buffer> {
    const out = Buffer.alloc(size);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < size) {
        const at = next;
        next += chunk;
        const d = await this.read(fid, BigInt(at), Math.min(chunk, size - at));
        out.set(d, at);
      }
    };
    await Promise.all(Array.from({ length: depth }, worker));
    return out;
  }

  /** Writes `data` from offset 0, `depth` writes in flight at a time, `chunk` bytes each. */
  async writeAll(fid: number, data: Uint8Array, chunk: number, depth = 1): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < data.length) {
        const at = next;
        next += chunk;
        const piece = data.subarray(at, Math.min(data.length, at + chunk));
        const n = await this.write(fid, BigInt(at), piece);
        if (n !== piece.length) throw new Error(`short write ${n} of ${piece.length}`);
      }
    };
    await Promise.all(Array.from({ length: depth }, worker));
  }

  /** Closes the connection and waits for it to be closed. */
  async close(): Promise<void> {
    this.socket.end();
    this.socket.destroySoon();
    await this.closedP();
  }
}
