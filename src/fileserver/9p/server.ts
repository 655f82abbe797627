/**
 * The 9P listener: accepts stream connections (TCP or a unix socket) and serves each with
 * a `NinepConnection` over one FileServer. Bad input on one connection closes that
 * connection only.
 */
import { dropAtAccept, withOnread } from '../../accepted-reads.js';
import { formatAddress, parseAddress, type Address } from '../../address.js';
import net from 'node:net';
import type { FileServer } from '../file-server.js';
import { headerAhead, newWriterId } from '../../early-header.js';
import { RateLimitedLog } from '../../rate-limited-log.js';
import { DEFAULT_MAX_MSIZE, MAX_MAX_MSIZE, MIN_MSIZE } from './constants.js';
import { NinepConnection, type NinepConnectionOptions, type NinepTransport } from './conn.js';

/** Bulk data larger than this after a reply's header may send the header ahead (see flush). */
const EARLY_HEADER_MIN = 16 * 1024;

/** Limits and policy of a `NinepServer`; every field is optional with a safe default. */
export interface NinepServerOptions {
  /** Largest msize negotiated, bytes (default 64 KiB + IOHDRSZ; at most 16 MiB). */
  maxMsize?: number;
  /** Most fids per connection (default 4096). */
  maxFids?: number;
  /** Most requests in flight per connection before input waits (default 256). */
  maxOutstanding?: number;
  /**
   * Most connections at once; further ones are closed at once with a logged reason
   * (default 256, or no limit of the server's own when `admit` is given).
   */
  maxConnections?: number;
  /**
   * Admission policy consulted for each connection `maxConnections` lets in (e.g. a
   * process-wide budget shared with other listeners): `{ release }` admits it (release is
   * called once when its socket closes), `{ refused }` closes it at once. The policy logs
   * its own refusals. With `watch`, the policy is told how to tell whether the connection
   * has attached and how to close it to make room (it is then closed without a log line
   * of the server's). Default: admit all.
   */
  admit?: (peer: string) =>
    | {
        readonly release: () => void;
        readonly watch?: (w: { established(): boolean; evict(reason: string): void }) => void;
      }
    | { readonly refused: string };
  /**
   * Asked as each connection is accepted, before anything is made for it: true closes it
   * at once (for an `admit` policy that already knows it would refuse; accepted-reads.ts,
   * `dropAtAccept`).
   */
  dropAtAccept?: () => boolean;
  /**
   * A connection that has not completed Tversion and Tattach this long after it was
   * accepted is closed (default 10 000 ms; 0 = never). Counters connections opened and
   * left silent to hold the server's slots.
   */
  handshakeTimeoutMs?: number;
  /**
   * A connection with no request in flight and nothing received for this long is closed
   * (default 0 = never: a kernel mount may rightly stay quiet for hours).
   */
  idleTimeoutMs?: number;
  /** Refuse every change to the tree (default false). */
  readOnly?: boolean;
  /** Require this token, written by the client to an afid (Tauth), before Tattach (default: no authentication). */
  token?: string;
  /**
   * Read at each Tauth and Tattach, taking precedence over `token`: undefined, no
   * authentication; a list, Tattach needs an afid to which one of these was written (an
   * empty list: nobody may attach). For a server whose accepted tokens change while it runs.
   */
  tokens?: () => readonly string[] | undefined;
  /** Log lines: closed connections and their reasons, failures that are bugs (default: none). */
  log?: (line: string) => void;
  /** One line per 9P message, both ways (NS_TRACE=9p) (default: none). */
  trace?: (line: string) => void;
}

/** Default time a connection has to complete Tversion and Tattach. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export { DEFAULT_MAX_MSIZE, MAX_MAX_MSIZE } from './constants.js';

/** Where to listen: TCP host and port, or a unix socket path (src/address.ts). */
export type NinepAddress = Address;

/**
 * Parses a listen/dial address: `tcp!HOST!PORT`, `HOST:PORT` (`[::1]:564` for IPv6) or
 * `unix!PATH` — the project's one address syntax. Throws NsError naming the problem.
 */
export const parseNinepAddress = parseAddress;

/** An address as `tcp!HOST!PORT` or `unix!PATH`. */
export const formatNinepAddress = formatAddress;

/**
 * A 9P server for one FileServer. Create, `listen`, and `close` (drain) or `destroy`
 * (now). Does not own the FileServer.
 */
export class NinepServer {
  private readonly server: net.Server;
  private readonly conns = new Set<NinepConnection>();
  private readonly opts: Omit<NinepConnectionOptions, 'name'> & {
    readonly maxConnections: number;
    readonly handshakeTimeoutMs: number;
    readonly idleTimeoutMs: number;
  };
  private readonly admit: NinepServerOptions['admit'];
  private readonly dropAtAccept: NinepServerOptions['dropAtAccept'];
  /** Refusals and timeouts: a peer can provoke them at will, so they are logged at a bounded rate. */
  private readonly peerLog: RateLimitedLog;
  private nextId = 1;
  private closing: Promise<void> | null = null;

  /** The tree each connection gets, by connection (setFileServer changes it for new ones). */
  private readonly treeOf = new WeakMap<NinepConnection, FileServer>();

  /** @throws RangeError for a limit out of range. */
  constructor(
    private fs: FileServer,
    options: NinepServerOptions = {},
  ) {
    const maxMsize = options.maxMsize ?? DEFAULT_MAX_MSIZE;
    if (!Number.isInteger(maxMsize) || maxMsize < MIN_MSIZE || maxMsize > MAX_MAX_MSIZE) {
      throw new RangeError(`maxMsize ${maxMsize} is outside ${MIN_MSIZE}..${MAX_MAX_MSIZE}`);
    }
    for (const k of ['maxFids', 'maxOutstanding', 'maxConnections'] as const) {
      const v = options[k];
      if (v !== undefined && (!Number.isInteger(v) || v < 1))
        throw new RangeError(`${k} must be a positive integer`);
    }
    for (const k of ['handshakeTimeoutMs', 'idleTimeoutMs'] as const) {
      const v = options[k];
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1))
        throw new RangeError(`${k} must be a whole number of milliseconds (0 = never)`);
    }
    this.opts = {
      maxMsize,
      maxFids: options.maxFids ?? 4096,
      maxOutstanding: options.maxOutstanding ?? 256,
      // With an admission policy, the policy counts; the server adds no limit of its own
      // unless asked.
      maxConnections: options.maxConnections ?? (options.admit !== undefined ? Infinity : 256),
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      idleTimeoutMs: options.idleTimeoutMs ?? 0,
      readOnly: options.readOnly ?? false,
      token: options.token,
      tokens: options.tokens,
      log: options.log ?? (() => undefined),
      trace: options.trace,
    };
    this.admit = options.admit;
    this.dropAtAccept = options.dropAtAccept;
    const log = this.opts.log;
    this.peerLog = new RateLimitedLog((line) => log(line));
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) =>
      this.accept(socket),
    );
  }

  /** Connections being served. */
  get connections(): number {
    return this.conns.size;
  }

  /** Fids held by all connections (for leak checks). */
  get fidCount(): number {
    let n = 0;
    for (const c of this.conns) n += c.fidCount;
    return n;
  }

  /**
   * Starts listening; resolves with the bound address (port 0 picks a free port).
   * Rejects with the listen error (address in use, ...).
   */
  listen(address: NinepAddress | string): Promise<NinepAddress> {
    const a = typeof address === 'string' ? parseNinepAddress(address) : address;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      const done = (): void => {
        this.server.off('error', onError);
        if (this.dropAtAccept !== undefined) dropAtAccept(this.server, this.dropAtAccept);
        this.server.on('error', (err) => this.opts.log(`9p listener: ${err.message}`));
        resolve(this.address()!);
      };
      if (a.kind === 'unix') this.server.listen(a.path, done);
      else this.server.listen(a.port, a.host, done);
    });
  }

  /** The bound address, or undefined before `listen`. */
  address(): NinepAddress | undefined {
    const a = this.server.address();
    if (a === null) return undefined;
    if (typeof a === 'string') return { kind: 'unix', path: a };
    return { kind: 'tcp', host: a.address, port: a.port };
  }

  private accept(accepted: net.Socket): void {
    const name =
      accepted.remoteAddress !== undefined
        ? `${accepted.remoteAddress}!${accepted.remotePort}`
        : `unix#${this.nextId}`;
    this.nextId++;
    if (this.closing !== null || this.conns.size >= this.opts.maxConnections) {
      const why = this.closing !== null ? 'server closing' : `${this.opts.maxConnections} connections already`;
      this.peerLog.note(`refused ${why}`, `9p ${name}: refused: ${why}`);
      accepted.destroy();
      return;
    }
    const admission = this.admit?.(name);
    if (admission !== undefined && 'refused' in admission) {
      accepted.destroy();
      return;
    }
    // The socket that reads with `onread`, made below once the connection exists.
    let socket = accepted;
    // Replies finished in the same tick go out together, in the next one: one frame alone
    // is written as is; several (many requests in flight, or a read's header and data)
    // corked, so one syscall carries them. Frames are kept here rather than in a corked
    // socket: for a request at a time, the Writable's buffering around cork and uncork
    // cost more than the write.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const writerId = newWriterId();
    const flush = (): void => {
      const frames = pending;
      if (frames.length === 0) return;
      pending = [];
      pendingBytes = 0;
      if (socket.destroyed) return;
      const ahead = headerAhead(writerId);
      let from = 0;
      if (frames.length > 1 && frames[1]!.length > EARLY_HEADER_MIN && ahead) {
        // Bulk data comes next (an Rread's): its header, and any small replies before it,
        // go out in a write of their own, so the client wakes on them while the kernel is
        // still taking the data; only while this is the one connection being written to
        // (early-header.ts).
        socket.write(frames[0]!);
        from = 1;
      }
      if (frames.length - from === 1) socket.write(frames[from]!);
      else {
        socket.cork();
        for (let i = from; i < frames.length; i++) socket.write(frames[i]!);
        socket.uncork();
      }
      // Blocked by replies that were only pending, and the socket took them without asking
      // for 'drain' (under its own 16 KiB mark): nothing else would unblock the connection.
      if (writeBlocked && !socket.writableNeedDrain) unblock();
    };
    // Input stops while the connection asks (too many requests in flight, draining) or
    // while replies the client has not read pile up: a client that sends requests and
    // never reads the answers holds at most about maxBuffered + maxOutstanding * msize.
    let connPaused = false;
    let writeBlocked = false;
    const maxBuffered = 4 * this.opts.maxMsize;
    const update = (): void => {
      if (connPaused || writeBlocked) socket.pause();
      else socket.resume();
    };
    const unblock = (): void => {
      writeBlocked = false;
      update();
      conn.writable();
    };
    const transport: NinepTransport = {
      write: (frame) => {
        if (socket.destroyed) return;
        if (pending.push(frame) === 1) process.nextTick(flush);
        pendingBytes += frame.length;
        if (!writeBlocked && socket.writableLength + pendingBytes > maxBuffered) {
          writeBlocked = true;
          update();
        }
      },
      pause: () => {
        connPaused = true;
        update();
      },
      resume: () => {
        connPaused = false;
        update();
      },
      blocked: () => writeBlocked,
      end: () => {
        flush();
        socket.end(() => socket.destroy());
      },
      destroy: () => socket.destroy(),
    };
    const conn = new NinepConnection(this.fs, transport, { ...this.opts, name });
    this.conns.add(conn);
    this.treeOf.set(conn, this.fs);
    admission?.watch?.({ established: () => conn.attached, evict: () => conn.destroy() });
    const timers = this.watch(conn, name);
    // Anything received counts as activity (a request still being assembled too).
    const active = timers?.active;
    // Reads land where the connection says (accepted-reads.ts): nothing allocated per
    // read, small requests back to back in an arena, a large Twrite's data in place.
    const r = withOnread(accepted, {
      buffer: () => conn.readTarget(),
      callback: (n) => {
        active?.();
        conn.commit(n);
        return true;
      },
    });
    socket = r.socket;
    if (!r.usedOnread)
      socket.on('data', (chunk: Buffer) => {
        active?.();
        conn.receive(chunk);
      });
    socket.on('drain', () => {
      if (writeBlocked) unblock();
    });
    socket.on('error', () => undefined); // 'close' follows; the connection ends there.
    socket.on('close', () => {
      timers?.stop();
      admission?.release();
      conn.destroy();
      void conn.closed.then(() => this.conns.delete(conn));
    });
  }

  /**
   * The handshake deadline and the idle timer of one connection (null when both are off).
   * One timer at a time, re-armed only when it fires: no cost per message beyond a clock
   * read.
   */
  private watch(conn: NinepConnection, name: string): { active?: () => void; stop: () => void } | null {
    const { handshakeTimeoutMs: handshake, idleTimeoutMs: idle } = this.opts;
    if (handshake === 0 && idle === 0) return null;
    let last = Date.now();
    let timer: NodeJS.Timeout | null = null;
    const arm = (ms: number, fire: () => void): void => {
      timer = setTimeout(fire, ms);
      timer.unref();
    };
    const idleCheck = (): void => {
      const quiet = Date.now() - last;
      if (conn.pendingCount > 0 || quiet < idle) {
        arm(conn.pendingCount > 0 ? idle : idle - quiet, idleCheck);
        return;
      }
      timer = null;
      this.peerLog.note('idle', `9p ${name}: closing connection: idle for ${idle} ms`);
      void conn.close();
    };
    const startIdle = (): void => {
      if (idle > 0) arm(Math.max(0, idle - (Date.now() - last)), idleCheck);
    };
    if (handshake > 0) {
      arm(handshake, () => {
        timer = null;
        if (conn.attached) {
          startIdle();
          return;
        }
        this.peerLog.note('handshake', `9p ${name}: closing connection: no Tversion and Tattach within ${handshake} ms`);
        conn.destroy();
      });
    } else startIdle();
    return {
      ...(idle > 0 && { active: () => void (last = Date.now()) }),
      stop: () => {
        if (timer !== null) clearTimeout(timer);
        timer = null;
      },
    };
  }

  /**
   * Serves `fs` to connections accepted from now on; connections already open keep the
   * tree they attached to (as a Plan 9 process keeps its name space). Resolves when the
   * last connection using the previous tree has closed and released its Files, so that
   * the caller may then release that tree. Does not own either tree.
   */
  async setFileServer(fs: FileServer): Promise<void> {
    const previous = this.fs;
    this.fs = fs;
    const users = [...this.conns].filter((c) => this.treeOf.get(c) === previous);
    await Promise.all(users.map((c) => c.closed));
  }

  /**
   * Stops accepting, lets every connection answer the requests it has in flight, closes
   * them, and resolves when every File they held is closed. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.peerLog.flush();
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      await Promise.all([...this.conns].map((c) => c.close()));
      await stopped;
    })();
    return this.closing;
  }

  /**
   * Closes every connection now (requests in flight are aborted with `err`, which is
   * logged if given) and stops listening. Resolves when every File is closed.
   */
  async destroy(err?: Error): Promise<void> {
    this.closing ??= Promise.resolve();
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const conns = [...this.conns];
    for (const c of conns) c.destroy(err);
    await Promise.all(conns.map((c) => c.closed));
    await stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
