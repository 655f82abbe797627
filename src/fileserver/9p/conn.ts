/**
 * One 9P connection: the session (Tversion), its tags and fids, Tflush, and the protocol
 * checks that need no backend (lib9p's `s<op>` functions). Transport-agnostic: bytes come
 * in through `receive`, frames go out through a `NinepTransport`; server.ts wires a
 * socket to it. Requests are served concurrently: each T-message starts its work as soon
 * as it is decoded and answers when that work is done, in whatever order that is.
 *
 * Lifetimes (STYLE.md section 5): the connection owns its fid table and its tag table.
 * `destroy` is idempotent, empties both tables before closing any File, and fails every
 * later call; `close` stops reading and drains the requests in flight first.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { getEventListeners } from 'node:events';
import type { File, FileServer } from '../file-server.js';
import { decodeMessage, encodeDataHeader, encodeMessage } from './codec.js';
import {
  AT_REMOVEDIR,
  DMDEVICE,
  DMDIR,
  DMNAMEDPIPE,
  DMSOCKET,
  DMSYMLINK,
  IOHDRSZ,
  MAXWELEM,
  MessageType,
  MIN_MSIZE,
  NOFID,
  NONUNAME,
  P9_LOCK_SUCCESS,
  P9_LOCK_TYPE_UNLCK,
  QTAUTH,
  QTDIR,
  V9FS_MAGIC,
  VERSION9P,
  VERSION9PL,
  VERSION9PU,
  VERSION_UNKNOWN,
  type Dialect,
} from './constants.js';
import { NinepErrors, NinepProtocolError, type NinepError } from './errors.js';
import { FidTable, type FidEntry } from './fid-table.js';
import { NinepFramer } from './framer.js';
import {
  assertNever,
  describeMessage,
  MESSAGE_NAMES,
  type Message,
  type RMessage,
  type TMessage,
  type Tversion,
} from './messages.js';
import {
  accessOf,
  getattrOf,
  ninepErrorOf,
  NinepFail,
  openModeOf,
  openModeOfFlags,
  packDirents,
  packStats,
  statChangeOfSetattr,
  statChangeOfWstat,
  toStat,
  walkPath,
  writeAll,
} from './bridge.js';
import { NsError } from '../../errors.js';

/** Where a connection's frames go. server.ts implements it over a socket. */
export interface NinepTransport {
  /** Sends one frame; takes ownership of it. */
  write(frame: Buffer): void;
  /** Stop delivering input (too many requests in flight). */
  pause(): void;
  resume(): void;
  /**
   * Whether replies the peer has not read have piled up past the transport's limit. While
   * it is true the connection starts no new request, even from input already received (a
   * client can send thousands of small requests in one chunk); the transport calls
   * `NinepConnection.writable()` when it drains. A transport without it never blocks.
   */
  blocked?(): boolean;
  /** Close after what was written has been sent. */
  end(): void;
  /** Close now. */
  destroy(): void;
}

/** Limits and policy of a 9P connection; every field has a safe default in server.ts. */
export interface NinepConnectionOptions {
  /** The largest msize negotiated (and the largest frame accepted before Tversion). */
  readonly maxMsize: number;
  /** The most fids one connection may hold. */
  readonly maxFids: number;
  /** The most requests in flight; further input waits (backpressure, not an error). */
  readonly maxOutstanding: number;
  /** Refuse everything that would change the tree ("read only file system"). */
  readonly readOnly: boolean;
  /** When set, Tattach needs an afid to which this token was written. */
  readonly token?: string | undefined;
  /**
   * Read at each Tauth and Tattach (so the caller may change them while connections are
   * open; it takes precedence over `token`): undefined, no authentication; a list, Tattach
   * needs an afid to which one of these was written (an empty list: nobody may attach).
   */
  readonly tokens?: (() => readonly string[] | undefined) | undefined;
  /** Why a connection was closed, and failures that are bugs. */
  readonly log: (line: string) => void;
  /** One line per message (NS_TRACE=9p), or undefined. */
  readonly trace?: ((line: string) => void) | undefined;
  /** A name for this connection in log lines (the peer address). */
  readonly name: string;
}

/**
 * One request in flight: its tag stays taken until its reply is written. The
 * AbortController and the list of flushes waiting on it are made only when needed: most
 * requests are never flushed and never take a signal.
 */
class Request {
  /** Fids this request holds a reference to; released when it ends. */
  readonly held: FidEntry[] = [];
  /** Set once the request is aborted (Tflush, Tversion, destroy). */
  aborted = false;
  private reason: unknown;
  private ac: AbortController | null = null;
  private waiters: (() => void)[] | null = null;
  private finished = false;

  /**
   * `session`: a reply to an older session (before Tversion) is dropped. `controllers`:
   * the connection's unused AbortControllers, taken from and given back to.
   */
  constructor(
    readonly tag: number,
    readonly msg: TMessage,
    readonly session: number,
    private readonly controllers: AbortController[],
  ) {}

  /**
   * The signal handed to the backend: aborted when the request is. Making an AbortSignal
   * costs Node about 1.6 µs (it is an EventTarget), which was 18% of the server's time
   * at 8 KiB reads and writes; a controller whose signal nobody aborted or listens to
   * any more is reused by a later request (File's contract: a signal means something for
   * the duration of the call only).
   */
  get signal(): AbortSignal {
    if (this.ac === null) {
      this.ac = this.controllers.pop() ?? new AbortController();
      if (this.aborted) this.ac.abort(this.reason);
    }
    return this.ac.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.ac?.abort(reason);
  }

  /** Resolves after the reply is written (or dropped): what Tflush waits for. */
  done(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  /**
   * Marks the reply written. Waiters run in the order they were added, so flushes of one
   * tag answer in the order they arrived (flush(9P)).
   */
  markDone(): void {
    if (this.finished) return;
    this.finished = true;
    const ac = this.ac;
    if (
      ac !== null &&
      !ac.signal.aborted &&
      ac.signal.onabort === null &&
      getEventListeners(ac.signal, 'abort').length === 0 &&
      this.controllers.length < MAX_SPARE_CONTROLLERS
    ) {
      this.ac = null;
      this.controllers.push(ac);
    }
    const ws = this.waiters;
    this.waiters = null;
    if (ws !== null) for (const w of ws) w();
  }
}

const AUTH_MAX_BYTES = 1024;
/** Unused AbortControllers a connection keeps for its next requests. */
const MAX_SPARE_CONTROLLERS = 64;

/**
 * A 9P2000 / 9P2000.L server connection over one FileServer. Not reentrant across
 * connections: one per client transport.
 */
export class NinepConnection {
  private readonly framer: NinepFramer;
  private readonly fids: FidTable;
  private readonly tags = new Map<number, Request>();
  /** AbortControllers of finished requests, for the next ones (Request.signal). */
  private readonly spareControllers: AbortController[] = [];
  /** Frames received but not yet started because `maxOutstanding` requests are in flight. */
  private backlog: Buffer[] = [];
  private paused = false;
  private dialect: Dialect | null = null;
  private msize: number;
  private session = 0;
  private nextAuthPath = 1n;
  private closing = false;
  /** Set by the first Tattach answered Rattach (the end of the handshake). */
  private attachedOnce = false;
  private destroyed = false;
  private drained: (() => void) | null = null;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private filesClosing: Promise<void> = Promise.resolve();
  /** The tokens that may attach now (undefined: no authentication). */
  private readonly tokens: () => readonly string[] | undefined;

  /**
   * @param fs the tree served; the connection does not own it (it attaches to it).
   * @param transport where frames go; the connection owns it and ends or destroys it.
   */
  constructor(
    private readonly fs: FileServer,
    private readonly transport: NinepTransport,
    private readonly options: NinepConnectionOptions,
  ) {
    this.msize = options.maxMsize;
    this.framer = new NinepFramer(options.maxMsize);
    this.fids = new FidTable(options.maxFids);
    const token = options.token;
    this.tokens = options.tokens ?? (token === undefined ? () => undefined : () => [token]);
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** Fids in the table (for leak checks and stats). */
  get fidCount(): number {
    return this.fids.size;
  }

  /** Whether a Tattach has succeeded on this connection (the handshake is over). */
  get attached(): boolean {
    return this.attachedOnce;
  }

  /** Requests in flight. */
  get pendingCount(): number {
    return this.tags.size;
  }

  /** Resolves once the connection is destroyed and every File it held is closed. */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Bytes from the transport, split anywhere. Malformed input destroys the connection
   * with a logged reason; nothing is thrown.
   */
  receive(chunk: Uint8Array): void {
    if (this.destroyed || this.closing) return;
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.received(frames);
  }

  /**
   * The other way in, for a transport that reads where the connection says (net's
   * `onread`): the next read goes into `readTarget()`, and `commit(n)` is told how many
   * bytes it brought. Use this or `receive`, not both.
   */
  readTarget(): Uint8Array {
    return this.framer.readTarget();
  }

  /** `n` bytes were read into the last readTarget(); see there. */
  commit(n: number): void {
    let frames: Buffer[];
    try {
      frames = this.framer.commit(n);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.destroyed || this.closing) {
      // Input after close() is dropped; its memory goes back to the framer at once (a
      // client writing on while the connection drains must not pin an arena per 256 KiB).
      for (const f of frames) this.framer.recycle(f);
      return;
    }
    this.received(frames);
  }

  private received(frames: Buffer[]): void {
    for (const f of frames) this.backlog.push(f);
    this.pump();
  }

  /** The transport drained the replies the peer had not read: start waiting requests. */
  writable(): void {
    if (!this.destroyed) this.pump();
  }

  /** Starts backlogged frames while fewer than `maxOutstanding` requests are in flight. */
  private pump(): void {
    while (
      this.backlog.length > 0 &&
      !this.destroyed &&
      this.tags.size < this.options.maxOutstanding &&
      this.transport.blocked?.() !== true
    ) {
      const frame = this.backlog.shift()!;
      let msg: Message;
      try {
        msg = decodeMessage(frame, this.dialect ?? '9P2000');
      } catch (err) {
        this.fail(err);
        return;
      }
      // Only a Twrite's decoded form refers to its frame (its data); the frame of any
      // other message can be reused at once, a Twrite's when its write has settled.
      if (msg.type === MessageType.Twrite) this.dispatch(msg, frame);
      else {
        this.framer.recycle(frame);
        this.dispatch(msg, null);
      }
    }
    // While closing, input is still read (and dropped): a paused socket would not see the
    // client hang up, and the requests being drained are aborted when it does.
    const wantPause = this.backlog.length > 0 && !this.closing;
    if (wantPause && !this.paused && !this.destroyed) {
      this.paused = true;
      this.transport.pause();
    } else if (!wantPause && this.paused && !this.destroyed) {
      this.paused = false;
      this.transport.resume();
    }
  }

  private dispatch(msg: Message, frame: Buffer | null): void {
    this.options.trace?.(`9p ${this.options.name} <- ${describeMessage(msg)}`);
    if (msg.type === MessageType.Tversion) {
      this.version(msg);
      return;
    }
    if (!isTMessage(msg)) {
      this.fail(
        new NinepProtocolError(`client sent ${MESSAGE_NAMES[msg.type]}, which only a server sends`),
      );
      return;
    }
    if (this.tags.has(msg.tag)) {
      // flush(9P): a tag is in use until its reply; reusing it makes both replies ambiguous.
      this.fail(new NinepProtocolError(`tag ${msg.tag} reused while its request is in flight`));
      return;
    }
    const req = new Request(msg.tag, msg, this.session, this.spareControllers);
    this.tags.set(msg.tag, req);
    void this.run(req, frame);
  }

  /** Serves `req` and replies; never rejects. `frame` (a Twrite's) is recycled at the end. */
  private async run(req: Request, frame: Buffer | null): Promise<void> {
    try {
      let reply: RMessage;
      try {
        // Tflush is answered even before Tversion: it is never answered with an error.
        if (this.dialect === null && req.msg.type !== MessageType.Tflush)
          throw new NinepFail(NinepErrors.Eproto);
        reply = await this.serve(req);
      } catch (err) {
        const e = ninepErrorOf(err, req.aborted);
        if (e === undefined)
          this.options.log(
            `9p ${this.options.name}: ${MESSAGE_NAMES[req.msg.type]} failed: ${String(err)}`,
          );
        reply = this.errorReply(req.tag, e ?? NinepErrors.Eio);
      } finally {
        const held = req.held;
        for (let i = 0; i < held.length; i++) {
          const closing = this.fids.release(held[i]!);
          if (closing !== undefined) this.track(closing);
        }
        held.length = 0;
      }
      this.reply(req, reply);
    } catch (err) {
      this.fail(err);
    } finally {
      if (frame !== null) this.framer.recycle(frame);
    }
  }

  /** Writes `reply` for `req`, unless a Tversion or destroy came in between. */
  private reply(req: Request, reply: RMessage): void {
    const current = this.tags.get(req.tag) === req;
    if (current) {
      // lib9p, p9: clear the tag before the reply goes out, so that a client that reuses
      // the tag the moment it reads the reply never finds it taken.
      this.tags.delete(req.tag);
      if (req.session === this.session && !this.destroyed) {
        this.options.trace?.(`9p ${this.options.name} -> ${describeMessage(reply)}`);
        if (
          (reply.type === MessageType.Rread || reply.type === MessageType.Rreaddir) &&
          reply.data.length >= 1024
        ) {
          // Bulk data goes out as it came from the backend (which gave it to us), after
          // its header: no copy into a frame-sized buffer.
          this.transport.write(encodeDataHeader(reply));
          this.transport.write(
            Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength),
          );
        } else {
          this.transport.write(encodeMessage(reply));
        }
      }
    }
    // Flushes waiting on this request answer after it (flush(9P)), in arrival order.
    req.markDone();
    if (this.closing && this.tags.size === 0) this.drained?.();
    else this.pump();
  }

  private errorReply(tag: number, e: NinepError): RMessage {
    switch (this.dialect) {
      case VERSION9PL:
        return { type: MessageType.Rlerror, tag, ecode: e.errno };
      case VERSION9PU:
        return { type: MessageType.Rerror, tag, ename: e.ename, errno: e.errno };
      default:
        return { type: MessageType.Rerror, tag, ename: e.ename };
    }
  }

  /** version(5): negotiates msize and dialect, and resets the session. */
  private version(m: Tversion): void {
    // version(5): a Tversion aborts all outstanding I/O and clunks every fid. Their
    // replies are dropped (the session they belong to is gone).
    this.session++;
    const pending = [...this.tags.values()];
    this.tags.clear();
    for (const req of pending) {
      req.abort(new NsError('NS_ERR_IO', 'session reset by Tversion'));
      req.markDone();
    }
    this.track(this.fids.clear());
    let version: string = VERSION_UNKNOWN;
    if (m.version === VERSION9PL) version = VERSION9PL;
    else if (m.version === VERSION9PU) version = VERSION9PU;
    else if (m.version === VERSION9P || m.version.startsWith(`${VERSION9P}.`)) version = VERSION9P;
    const msize = Math.min(m.msize, this.options.maxMsize);
    if (msize < MIN_MSIZE) version = VERSION_UNKNOWN;
    this.dialect = version === VERSION_UNKNOWN ? null : (version as Dialect);
    if (this.dialect !== null) {
      this.msize = msize;
      this.framer.maxSize = msize;
    }
    const reply: RMessage = {
      type: MessageType.Rversion,
      tag: m.tag,
      msize: this.dialect === null ? this.msize : msize,
      version,
    };
    this.options.trace?.(`9p ${this.options.name} -> ${describeMessage(reply)}`);
    this.transport.write(encodeMessage(reply));
  }

  /** A reference to `fid` held for the rest of `req`; "fid unknown or out of range" if none. */
  private fid(req: Request, fid: number): FidEntry {
    const entry = this.fids.acquire(fid);
    if (entry === undefined) throw new NinepFail(NinepErrors.Eunknownfid);
    req.held.push(entry);
    return entry;
  }

  /** As `fid`, for a fid that must name a File (not an auth fid). */
  private fileFid(req: Request, fid: number): { entry: FidEntry; file: File } {
    const entry = this.fid(req, fid);
    if (entry.target.kind !== 'file') throw new NinepFail(NinepErrors.Ebadusefid);
    return { entry, file: entry.target.file };
  }

  /** Checks that `fid` may be created now: free, and room in the table. */
  private checkNewFid(fid: number): void {
    if (this.fids.has(fid)) throw new NinepFail(NinepErrors.Edupfid);
    if (this.fids.full) throw new NinepFail(NinepErrors.Etoomanyfids);
  }

  private checkWritable(): void {
    if (this.options.readOnly) throw new NinepFail(NinepErrors.Erofs);
  }

  private get maxIo(): number {
    return this.msize - IOHDRSZ;
  }

  /** Points `entry` at `file` (Twalk with newfid = fid, Tcreate): the old File closes when no request uses it. */
  private moveFid(entry: FidEntry, file: File): void {
    const old = entry.target;
    entry.target = { kind: 'file', file };
    // Only this request holds the entry besides the table: close the old File now.
    // Otherwise another request may be using it; it closes with the fid.
    if (old.kind === 'file') {
      if (entry.refs <= 2) this.track(old.file.clunk());
      else entry.retired.push(old.file);
    }
  }

  /** Serves one request: the protocol checks, then the backend call. */
  private async serve(req: Request): Promise<RMessage> {
    const m = req.msg;
    const tag = m.tag;
    switch (m.type) {
      case MessageType.Tauth: {
        if (this.tokens() === undefined) throw new NinepFail(NinepErrors.Enoauth);
        this.checkNewFid(m.afid);
        const aqid = { type: QTAUTH, version: 0, path: this.nextAuthPath++ };
        this.fids.add(
          m.afid,
          { kind: 'auth', aname: m.aname, uname: m.uname, written: [], writtenBytes: 0 },
          aqid,
          [],
          m.n_uname ?? NONUNAME,
        );
        return { type: MessageType.Rauth, tag, aqid };
      }
      case MessageType.Tattach: {
        this.checkNewFid(m.fid);
        const tokens = this.tokens();
        if (tokens !== undefined) {
          if (m.afid === NOFID) throw new NinepFail(NinepErrors.Eauth);
          const a = this.fid(req, m.afid);
          if (a.target.kind !== 'auth') throw new NinepFail(NinepErrors.Ebadusefid);
          const given = digest(Buffer.concat(a.target.written));
          // Compare with every token, in constant time each, whatever matched first.
          let ok = false;
          for (const t of tokens) if (timingSafeEqual(given, digest(Buffer.from(t, 'utf8')))) ok = true;
          if (!ok) throw new NinepFail(NinepErrors.Eauth);
        } else if (m.afid !== NOFID) {
          throw new NinepFail(NinepErrors.Eunknownfid);
        }
        const { root, qid } = await this.fs.attach(m.aname);
        if (this.fids.has(m.fid) || this.fids.full || req.session !== this.session) {
          this.track(root.clunk());
          throw new NinepFail(
            this.fids.has(m.fid) ? NinepErrors.Edupfid : NinepErrors.Etoomanyfids,
          );
        }
        this.fids.add(m.fid, { kind: 'file', file: root }, qid, [], m.n_uname ?? NONUNAME);
        this.attachedOnce = true;
        return { type: MessageType.Rattach, tag, qid };
      }
      case MessageType.Tflush: {
        const target = this.tags.get(m.oldtag);
        // flush(9P): an unknown oldtag (already answered, or never sent) gets Rflush at once.
        if (target !== undefined && target !== req) {
          target.abort(new NsError('NS_ERR_IO', 'flushed'));
          await target.done();
        }
        return { type: MessageType.Rflush, tag };
      }
      case MessageType.Twalk: {
        const { entry, file } = this.fileFid(req, m.fid);
        // walk(5): the fid must not be open. 9P2000.L servers (diod) allow a walk from an
        // open fid to a different newfid, and diod's own tools rely on it (diodls -l walks
        // from the directory it is reading); the new fid is not open either way.
        if (entry.open !== null && (this.dialect !== VERSION9PL || m.newfid === m.fid))
          throw new NinepFail(NinepErrors.Ebadusefid);
        if (m.wname.length > MAXWELEM) throw new NinepFail(NinepErrors.Ebadarg);
        if (m.newfid !== m.fid) this.checkNewFid(m.newfid);
        const result = await file.walk(m.wname);
        if (result.file === undefined) {
          if (result.qids.length === 0) throw result.error;
          return { type: MessageType.Rwalk, tag, wqid: result.qids };
        }
        const qid = result.qids[result.qids.length - 1] ?? entry.qid;
        const path = walkPath(entry.path, m.wname);
        if (req.session !== this.session) {
          this.track(result.file.clunk());
          throw new NinepFail(NinepErrors.Eunknownfid);
        }
        if (m.newfid === m.fid) {
          this.moveFid(entry, result.file);
          entry.qid = qid;
          entry.path = path;
        } else {
          if (this.fids.has(m.newfid) || this.fids.full) {
            this.track(result.file.clunk());
            throw new NinepFail(
              this.fids.has(m.newfid) ? NinepErrors.Edupfid : NinepErrors.Etoomanyfids,
            );
          }
          this.fids.add(m.newfid, { kind: 'file', file: result.file }, qid, path, entry.nUname);
        }
        return { type: MessageType.Rwalk, tag, wqid: result.qids };
      }
      case MessageType.Topen:
      case MessageType.Tlopen: {
        const { entry, file } = this.fileFid(req, m.fid);
        if (entry.open !== null) throw new NinepFail(NinepErrors.Eopen);
        const mode = m.type === MessageType.Topen ? openModeOf(m.mode) : openModeOfFlags(m.flags);
        const access = accessOf(mode);
        if (access.write || mode.truncate === true || mode.removeOnClose === true)
          this.checkWritable();
        const res = await file.open(mode);
        const iounit = Math.max(1, Math.min(res.iounit, this.maxIo));
        entry.open = { ...access, iounit, backendIounit: res.iounit };
        entry.qid = res.qid;
        if (res.qid.type & QTDIR) entry.dirRead = { nextOffset: 0n, nextIndex: 0 };
        return m.type === MessageType.Topen
          ? { type: MessageType.Ropen, tag, qid: res.qid, iounit }
          : { type: MessageType.Rlopen, tag, qid: res.qid, iounit };
      }
      case MessageType.Tcreate:
      case MessageType.Tlcreate: {
        const { entry, file } = this.fileFid(req, m.fid);
        if (entry.open !== null) throw new NinepFail(NinepErrors.Ebadusefid);
        this.checkWritable();
        const dotl = m.type === MessageType.Tlcreate;
        // 9P2000.u special files (symbolic links, devices, pipes, sockets): a FileServer has none.
        if (!dotl && (m.perm & (DMSYMLINK | DMDEVICE | DMNAMEDPIPE | DMSOCKET)) !== 0) {
          throw new NinepFail(NinepErrors.Enotsup);
        }
        const perm = dotl ? m.mode & 0o777 : m.perm;
        const mode = dotl ? openModeOfFlags(m.flags) : openModeOf(m.mode);
        const res = await file.create(m.name, perm, mode);
        const iounit = Math.max(1, Math.min(res.iounit, this.maxIo));
        // create(5): the fid moves to the new file, open.
        this.moveFid(entry, res.file);
        entry.qid = res.qid;
        entry.path = walkPath(entry.path, [m.name]);
        entry.open = { ...accessOf(mode), iounit, backendIounit: res.iounit };
        if (res.qid.type & QTDIR) entry.dirRead = { nextOffset: 0n, nextIndex: 0 };
        return dotl
          ? { type: MessageType.Rlcreate, tag, qid: res.qid, iounit }
          : { type: MessageType.Rcreate, tag, qid: res.qid, iounit };
      }
      case MessageType.Tread: {
        const entry = this.fid(req, m.fid);
        if (entry.target.kind === 'auth')
          return { type: MessageType.Rread, tag, data: Buffer.alloc(0) };
        const file = entry.target.file;
        if (entry.open === null || !entry.open.read) throw new NinepFail(NinepErrors.Ebadusefid);
        const count = Math.min(m.count, this.maxIo);
        if (entry.dirRead !== null)
          return {
            type: MessageType.Rread,
            tag,
            data: await this.readDirStats(entry, file, m.offset, count),
          };
        const data = await file.read(m.offset, count, req.signal);
        // A backend that returns more than asked must not make a frame over msize.
        return {
          type: MessageType.Rread,
          tag,
          data: data.length > count ? data.subarray(0, count) : data,
        };
      }
      case MessageType.Twrite: {
        const entry = this.fid(req, m.fid);
        if (entry.target.kind === 'auth') {
          const t = entry.target;
          if (t.writtenBytes + m.data.length > AUTH_MAX_BYTES)
            throw new NinepFail(NinepErrors.Eauth);
          t.written.push(Buffer.from(m.data));
          t.writtenBytes += m.data.length;
          return { type: MessageType.Rwrite, tag, count: m.data.length };
        }
        if (entry.open === null || !entry.open.write) throw new NinepFail(NinepErrors.Ebadusefid);
        // The frame's data is a view of the receive buffer: the backend copies what it keeps.
        const n = await writeAll(
          entry.target.file,
          m.offset,
          m.data,
          entry.open.backendIounit,
          req.signal,
        );
        return { type: MessageType.Rwrite, tag, count: n };
      }
      case MessageType.Tclunk: {
        const closing = this.fids.clunk(m.fid);
        if (closing === undefined) throw new NinepFail(NinepErrors.Eunknownfid);
        await closing;
        return { type: MessageType.Rclunk, tag };
      }
      case MessageType.Tremove: {
        const entry = this.fid(req, m.fid);
        // remove(5): the fid is clunked even if the remove fails.
        this.track(this.fids.clunk(m.fid) ?? Promise.resolve());
        if (entry.target.kind !== 'file') throw new NinepFail(NinepErrors.Ebadusefid);
        this.checkWritable();
        await entry.target.file.remove();
        return { type: MessageType.Rremove, tag };
      }
      case MessageType.Tstat: {
        const { entry, file } = this.fileFid(req, m.fid);
        const stat = toStat(await file.stat(), this.dialect === VERSION9PU, entry.nUname);
        return { type: MessageType.Rstat, tag, stat };
      }
      case MessageType.Twstat: {
        const { entry, file } = this.fileFid(req, m.fid);
        this.checkWritable();
        const current = await file.stat();
        await file.wstat(statChangeOfWstat(m.stat, current));
        if (m.stat.name !== '' && entry.path.length > 0)
          entry.path = [...entry.path.slice(0, -1), m.stat.name];
        return { type: MessageType.Rwstat, tag };
      }
      case MessageType.Tstatfs: {
        this.fileFid(req, m.fid);
        return {
          type: MessageType.Rstatfs,
          tag,
          fstype: V9FS_MAGIC,
          bsize: 4096,
          blocks: 1n << 24n,
          bfree: 1n << 23n,
          bavail: 1n << 23n,
          files: 1n << 20n,
          ffree: 1n << 19n,
          fsid: 0n,
          namelen: 255,
        };
      }
      case MessageType.Tgetattr: {
        const { entry, file } = this.fileFid(req, m.fid);
        const stat = await file.stat();
        return { type: MessageType.Rgetattr, tag, ...getattrOf(stat, entry.nUname) };
      }
      case MessageType.Tsetattr: {
        const { file } = this.fileFid(req, m.fid);
        this.checkWritable();
        const current = await file.stat();
        const change = statChangeOfSetattr(m, current.mode, Math.floor(Date.now() / 1000));
        if (Object.keys(change).length > 0) await file.wstat(change);
        return { type: MessageType.Rsetattr, tag };
      }
      case MessageType.Treaddir: {
        const { entry, file } = this.fileFid(req, m.fid);
        if (entry.open === null || !entry.open.read) throw new NinepFail(NinepErrors.Ebadusefid);
        if (entry.dirRead === null) throw new NinepFail(NinepErrors.Enotdir);
        const count = Math.min(m.count, this.maxIo);
        if (m.offset > 0x7fffffffn)
          return { type: MessageType.Rreaddir, tag, data: Buffer.alloc(0) };
        const first = Number(m.offset);
        const entries = await file.readDir(
          first,
          Math.min(1024, Math.max(1, Math.floor(count / 24))),
        );
        const { data, n } = packDirents(entries, first, count);
        if (n === 0 && entries.length > 0) throw new NinepFail(NinepErrors.Ebadarg);
        return { type: MessageType.Rreaddir, tag, data };
      }
      case MessageType.Tfsync: {
        // wstat(5): a wstat that changes nothing asks the server to commit the file to
        // stable storage (dirfs fsyncs; ramfs has nothing to do). A server that refuses
        // wstat (read-only) has nothing unwritten either.
        const { file } = this.fileFid(req, m.fid);
        try {
          await file.wstat({});
        } catch (e) {
          if (!(e instanceof NsError && e.code === 'NS_ERR_PERMISSION')) throw e;
        }
        return { type: MessageType.Rfsync, tag };
      }
      case MessageType.Tlock: {
        // Advisory locks are the clients' business on one machine; across 9P we grant them
        // all (as diod does without its lock support), which keeps flock()-using programs working.
        this.fileFid(req, m.fid);
        return { type: MessageType.Rlock, tag, status: P9_LOCK_SUCCESS };
      }
      case MessageType.Tgetlock: {
        this.fileFid(req, m.fid);
        return {
          type: MessageType.Rgetlock,
          tag,
          locktype: P9_LOCK_TYPE_UNLCK,
          start: m.start,
          length: m.length,
          proc_id: m.proc_id,
          client_id: m.client_id,
        };
      }
      case MessageType.Tmkdir: {
        const { file } = this.fileFid(req, m.dfid);
        this.checkWritable();
        const res = await file.create(m.name, (DMDIR | (m.mode & 0o777)) >>> 0, { access: 'read' });
        await res.file.clunk();
        return { type: MessageType.Rmkdir, tag, qid: res.qid };
      }
      case MessageType.Trename: {
        const { entry } = this.fileFid(req, m.fid);
        const { entry: dir } = this.fileFid(req, m.dfid);
        this.checkWritable();
        if (entry.path.length === 0) throw new NinepFail(NinepErrors.Eperm);
        const oldName = entry.path[entry.path.length - 1]!;
        await this.renameIn(dir, entry.path.slice(0, -1), oldName, dir, m.name);
        entry.path = [...dir.path, m.name];
        return { type: MessageType.Rrename, tag };
      }
      case MessageType.Trenameat: {
        const { entry: olddir } = this.fileFid(req, m.olddirfid);
        const { entry: newdir } = this.fileFid(req, m.newdirfid);
        this.checkWritable();
        await this.renameIn(olddir, olddir.path, m.oldname, newdir, m.newname);
        return { type: MessageType.Rrenameat, tag };
      }
      case MessageType.Tunlinkat: {
        const { file } = this.fileFid(req, m.dirfd);
        this.checkWritable();
        const w = await file.walk([m.name]);
        if (w.file === undefined) throw w.error;
        const isDir = ((w.qids[0]?.type ?? 0) & QTDIR) !== 0;
        if (isDir !== ((m.flags & AT_REMOVEDIR) !== 0)) {
          await w.file.clunk();
          throw new NinepFail(isDir ? NinepErrors.Eisdir : NinepErrors.Enotdir);
        }
        await w.file.remove();
        return { type: MessageType.Runlinkat, tag };
      }
      case MessageType.Txattrwalk:
      case MessageType.Txattrcreate:
      case MessageType.Tsymlink:
      case MessageType.Tmknod:
      case MessageType.Treadlink:
      case MessageType.Tlink:
        // A FileServer has no extended attributes, symbolic links, device nodes or hard links.
        this.fileFid(req, 'dfid' in m ? m.dfid : m.fid);
        throw new NinepFail(NinepErrors.Enotsup);
      case MessageType.Tversion:
      case MessageType.Tlerror:
        // Tversion never gets here (dispatch); Tlerror is not a request (9P2000.L reserves it).
        throw new NinepFail(NinepErrors.Eproto);
      default:
        return assertNever(m);
    }
  }

  /**
   * Renames `oldName` in directory `olddir` to `newName` in `newdir` (Trename, Trenameat).
   * A FileServer renames within one directory only; across directories the answer is
   * EXDEV, on which Linux's mv copies instead. POSIX rename replaces an existing target
   * (a file, or an empty directory), which FileServer.wstat refuses, so the target is
   * removed first.
   */
  private async renameIn(
    olddir: FidEntry,
    oldPath: readonly string[],
    oldName: string,
    newdir: FidEntry,
    newName: string,
  ): Promise<void> {
    if (
      oldPath.join('/') !== newdir.path.join('/') ||
      olddir.target.kind !== 'file' ||
      newdir.target.kind !== 'file'
    ) {
      throw new NinepFail(NinepErrors.Exdev);
    }
    if (oldName === newName) return;
    const dir = olddir.target.file;
    const w = await dir.walk([oldName]);
    if (w.file === undefined) throw w.error;
    const file = w.file;
    try {
      try {
        await file.wstat({ name: newName });
      } catch (err) {
        if (!(err instanceof NsError) || err.code !== 'NS_ERR_EXISTS') throw err;
        const t = await dir.walk([newName]);
        if (t.file === undefined) throw t.error;
        await t.file.remove();
        await file.wstat({ name: newName });
      }
    } finally {
      await file.clunk();
    }
  }

  /** read(5) of a directory: whole stat entries, continuing where the previous read ended. */
  private async readDirStats(
    entry: FidEntry,
    file: File,
    offset: bigint,
    count: number,
  ): Promise<Buffer> {
    const state = entry.dirRead!;
    if (offset === 0n) {
      state.nextOffset = 0n;
      state.nextIndex = 0;
    } else if (offset !== state.nextOffset) {
      throw new NinepFail(NinepErrors.Ebadoffset);
    }
    const index = state.nextIndex;
    const entries = await file.readDir(index, Math.min(1024, Math.max(1, Math.floor(count / 48))));
    const { data, n } = packStats(entries, count, this.dialect === VERSION9PU, entry.nUname);
    if (n === 0 && entries.length > 0) throw new NinepFail(NinepErrors.Ebadarg);
    state.nextIndex = index + n;
    state.nextOffset = offset + BigInt(data.length);
    return data;
  }

  /** Keeps a File-closing promise so `closed` can wait for it; never rejects. */
  private track(p: Promise<void>): void {
    const next = p.catch(() => undefined);
    this.filesClosing = Promise.all([this.filesClosing, next]).then(() => undefined);
  }

  /** Destroys the connection for malformed or hostile input, logging why. */
  private fail(err: unknown): void {
    if (this.destroyed) return;
    const why = err instanceof NinepProtocolError ? err.message : `internal error: ${String(err)}`;
    this.options.log(`9p ${this.options.name}: closing connection: ${why}`);
    this.destroy();
  }

  /**
   * Starts no new request (input from now on is read and dropped, so that a client
   * hanging up is still seen), lets the requests in flight answer, then ends the transport
   * and closes every File. Resolves when all of that is done. Never rejects.
   */
  async close(): Promise<void> {
    if (this.destroyed) return this.closedPromise;
    if (!this.closing) {
      this.closing = true;
      this.backlog = [];
      if (this.paused) {
        this.paused = false;
        this.transport.resume();
      }
      if (this.tags.size > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      // A destroy (the peer hung up) may have come while draining: it has finished the job.
      if (!this.destroyed) {
        this.transport.end();
        this.finish(NsError.refusal('NS_ERR_IO', 'connection closed'));
      }
    }
    return this.closedPromise;
  }

  /**
   * Closes the connection now: requests in flight are aborted with `err` (their replies
   * dropped), fids are clunked, the transport is destroyed. `err`, if given, is logged as
   * the reason. Idempotent; never throws.
   */
  destroy(err?: Error): void {
    if (this.destroyed) return;
    if (err !== undefined)
      this.options.log(`9p ${this.options.name}: closing connection: ${err.message}`);
    this.transport.destroy();
    this.finish(err ?? NsError.refusal('NS_ERR_IO', 'connection closed'));
  }

  private finish(reason: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.drained?.();
    // Requests still running see a session that is over: what they make (a walked fid, an
    // attached root) is closed instead of entering the table, which is now gone.
    this.session++;
    this.backlog = [];
    const pending = [...this.tags.values()];
    this.tags.clear();
    for (const req of pending) {
      req.abort(reason);
      req.markDone();
    }
    this.track(this.fids.clear());
    // Requests still running release their fids when they end; `closed` waits for the
    // Files already unreferenced.
    void this.filesClosing.then(() => this.resolveClosed());
  }
}

function isTMessage(m: Message): m is TMessage {
  // Every T-message code is even, every R-message code odd (intro(5), 9p.h).
  return (m.type & 1) === 0;
}

function digest(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}
