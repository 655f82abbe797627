/**
 * The 9P codec: `encodeMessage` turns a message object into one frame, `decodeMessage`
 * turns one frame back into a message object. Pure: no I/O, no project imports beyond the
 * 9p folder. Little-endian integers and s[2]-prefixed UTF-8 strings, as intro(5) says.
 *
 * Decoding reads through a bounds-checked `Reader` that never throws on a short field: it
 * returns zeros and sets `overflow`, which is checked once at the end of the message, with
 * leftover bytes, as p9's buffer.go does. Malformed input of any kind raises
 * `NinepProtocolError` and nothing else.
 */
import { HEADER_SIZE, MessageType, NONUNAME, type Dialect } from './constants.js';
import { NinepProtocolError } from './errors.js';
import {
  assertNever,
  MESSAGE_NAMES,
  type Dirent,
  type Message,
  type Qid,
  type Rread,
  type Rreaddir,
  type Stat,
} from './messages.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const EMPTY = new Uint8Array(0);

/**
 * A bounds-checked little-endian reader over one message. Reads past the end yield 0 / ""
 * / an empty view and set `overflow`; callers check it once per message.
 */
export class Reader {
  private readonly view: DataView;
  pos: number;
  overflow = false;
  /** Set when a string was not valid UTF-8. */
  badString = false;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private take(n: number): number {
    const at = this.pos;
    if (this.overflow || n > this.end - at) {
      this.overflow = true;
      return -1;
    }
    this.pos = at + n;
    return at;
  }

  u8(): number {
    const at = this.take(1);
    return at < 0 ? 0 : this.view.getUint8(at);
  }

  u16(): number {
    const at = this.take(2);
    return at < 0 ? 0 : this.view.getUint16(at, true);
  }

  u32(): number {
    const at = this.take(4);
    return at < 0 ? 0 : this.view.getUint32(at, true);
  }

  u64(): bigint {
    const at = this.take(8);
    return at < 0 ? 0n : this.view.getBigUint64(at, true);
  }

  /** `n` bytes as a view sharing the frame's memory. */
  bytesOf(n: number): Uint8Array {
    const at = this.take(n);
    return at < 0 ? EMPTY : this.bytes.subarray(at, at + n);
  }

  /** A string s[2]: UTF-8, strictly (invalid sequences set `badString`). */
  str(): string {
    const n = this.u16();
    const b = this.bytesOf(n);
    let ascii = true;
    for (let i = 0; i < b.length; i++) {
      if (b[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
    try {
      return utf8.decode(b);
    } catch {
      this.badString = true;
      return '';
    }
  }

  qid(): Qid {
    const type = this.u8();
    const version = this.u32();
    const path = this.u64();
    return { type, version, path };
  }
}

/** A growable little-endian writer. */
export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
  }

  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }

  u64(v: bigint): void {
    this.room(8);
    if (v >= 0n && v <= 0xffff_ffffn) {
      // Most u64 fields (sizes, times, counts, masks) fit in 32 bits: two u32 writes cost
      // a third of writeBigUInt64LE's BigInt masking and shifting (Rgetattr has 15 u64s).
      this.buf.writeUInt32LE(Number(v), this.pos);
      this.buf.writeUInt32LE(0, this.pos + 4);
    } else {
      this.buf.writeBigUInt64LE(v, this.pos);
    }
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A string s[2]; throws RangeError if its UTF-8 form is over 65535 bytes. */
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (n > 0xffff) throw new RangeError(`9P string of ${n} bytes is over 65535`);
    this.u16(n);
    this.room(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }

  qid(q: Qid): void {
    this.u8(q.type);
    this.u32(q.version);
    this.u64(q.path);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Encodes stat(5): size[2] type[2] dev[4] qid[13] mode[4] atime[4] mtime[4] length[8] name uid gid muid. */
export function writeStat(w: Writer, s: Stat): void {
  const at = w.pos;
  w.u16(0);
  w.u16(s.type);
  w.u32(s.dev);
  w.qid(s.qid);
  w.u32(s.mode);
  w.u32(s.atime);
  w.u32(s.mtime);
  w.u64(s.length);
  w.str(s.name);
  w.str(s.uid);
  w.str(s.gid);
  w.str(s.muid);
  if (s.extension !== undefined) {
    // 9P2000.u
    w.str(s.extension);
    w.u32(s.n_uid ?? NONUNAME);
    w.u32(s.n_gid ?? NONUNAME);
    w.u32(s.n_muid ?? NONUNAME);
  }
  w.buf.writeUInt16LE(w.pos - at - 2, at);
}

/**
 * Decodes one stat(5) entry (with the 9P2000.u fields when `dotu`); its size[2] must
 * match what it holds exactly.
 */
export function readStat(r: Reader, dotu = false): Stat {
  const size = r.u16();
  const start = r.pos;
  const type = r.u16();
  const dev = r.u32();
  const qid = r.qid();
  const mode = r.u32();
  const atime = r.u32();
  const mtime = r.u32();
  const length = r.u64();
  const name = r.str();
  const uid = r.str();
  const gid = r.str();
  const muid = r.str();
  const stat: Stat = { type, dev, qid, mode, atime, mtime, length, name, uid, gid, muid };
  if (dotu) {
    stat.extension = r.str();
    stat.n_uid = r.u32();
    stat.n_gid = r.u32();
    stat.n_muid = r.u32();
  }
  if (!r.overflow && r.pos - start !== size) r.overflow = true;
  return stat;
}

/** The bytes of one stat(5) entry, as Rread of a directory carries it. */
export function encodeStat(s: Stat): Buffer {
  const w = new Writer(64 + s.name.length + s.uid.length + s.gid.length + s.muid.length);
  writeStat(w, s);
  return w.finish();
}

/**
 * All stat(5) entries in a directory read's data (9P2000.u entries when `dotu`). Throws
 * NinepProtocolError if malformed.
 */
export function decodeStats(data: Uint8Array, dotu = false): Stat[] {
  const r = new Reader(data);
  const out: Stat[] = [];
  while (r.remaining > 0 && !r.overflow) out.push(readStat(r, dotu));
  if (r.overflow || r.badString) throw new NinepProtocolError('malformed stat in directory data');
  return out;
}

/** The bytes of one Rreaddir entry: qid[13] offset[8] type[1] name[s]. */
export function encodeDirent(d: Dirent): Buffer {
  const w = new Writer(24 + d.name.length * 3);
  w.qid(d.qid);
  w.u64(d.offset);
  w.u8(d.type);
  w.str(d.name);
  return w.finish();
}

/** All entries of an Rreaddir's data. Throws NinepProtocolError if malformed. */
export function decodeDirents(data: Uint8Array): Dirent[] {
  const r = new Reader(data);
  const out: Dirent[] = [];
  while (r.remaining > 0 && !r.overflow) {
    const qid = r.qid();
    const offset = r.u64();
    const type = r.u8();
    const name = r.str();
    out.push({ qid, offset, type, name });
  }
  if (r.overflow || r.badString) throw new NinepProtocolError('malformed Rreaddir data');
  return out;
}

/**
 * One frame for `m`: size[4] type[1] tag[2] and the body. Takes no ownership of `m`; the
 * result does not share memory with it. Throws RangeError for values that do not fit
 * their fields (a bug in the caller, not bad input).
 */
export function encodeMessage(m: Message): Buffer {
  const dataLen = 'data' in m ? m.data.length : 0;
  const w = new Writer(64 + dataLen);
  w.u32(0);
  w.u8(m.type);
  w.u16(m.tag);
  switch (m.type) {
    case MessageType.Tversion:
    case MessageType.Rversion:
      w.u32(m.msize);
      w.str(m.version);
      break;
    case MessageType.Tauth:
      w.u32(m.afid);
      w.str(m.uname);
      w.str(m.aname);
      if (m.n_uname !== undefined) w.u32(m.n_uname);
      break;
    case MessageType.Rauth:
      w.qid(m.aqid);
      break;
    case MessageType.Tattach:
      w.u32(m.fid);
      w.u32(m.afid);
      w.str(m.uname);
      w.str(m.aname);
      if (m.n_uname !== undefined) w.u32(m.n_uname);
      break;
    case MessageType.Rattach:
      w.qid(m.qid);
      break;
    case MessageType.Rerror:
      w.str(m.ename);
      if (m.errno !== undefined) w.u32(m.errno);
      break;
    case MessageType.Tflush:
      w.u16(m.oldtag);
      break;
    case MessageType.Twalk:
      w.u32(m.fid);
      w.u32(m.newfid);
      w.u16(m.wname.length);
      for (const n of m.wname) w.str(n);
      break;
    case MessageType.Rwalk:
      w.u16(m.wqid.length);
      for (const q of m.wqid) w.qid(q);
      break;
    case MessageType.Topen:
      w.u32(m.fid);
      w.u8(m.mode);
      break;
    case MessageType.Ropen:
    case MessageType.Rcreate:
    case MessageType.Rlopen:
    case MessageType.Rlcreate:
      w.qid(m.qid);
      w.u32(m.iounit);
      break;
    case MessageType.Tcreate:
      w.u32(m.fid);
      w.str(m.name);
      w.u32(m.perm);
      w.u8(m.mode);
      if (m.extension !== undefined) w.str(m.extension);
      break;
    case MessageType.Tread:
    case MessageType.Treaddir:
      w.u32(m.fid);
      w.u64(m.offset);
      w.u32(m.count);
      break;
    case MessageType.Rread:
    case MessageType.Rreaddir:
      w.u32(m.data.length);
      w.bytes(m.data);
      break;
    case MessageType.Twrite:
      w.u32(m.fid);
      w.u64(m.offset);
      w.u32(m.data.length);
      w.bytes(m.data);
      break;
    case MessageType.Rwrite:
      w.u32(m.count);
      break;
    case MessageType.Tclunk:
    case MessageType.Tremove:
    case MessageType.Tstat:
    case MessageType.Tstatfs:
    case MessageType.Treadlink:
      w.u32(m.fid);
      break;
    case MessageType.Rstat: {
      // Rstat's stat[n] is the stat(5) entry with its own size[2] in front (stat(5) BUGS).
      const at = w.pos;
      w.u16(0);
      writeStat(w, m.stat);
      w.buf.writeUInt16LE(w.pos - at - 2, at);
      break;
    }
    case MessageType.Twstat: {
      w.u32(m.fid);
      const at = w.pos;
      w.u16(0);
      writeStat(w, m.stat);
      w.buf.writeUInt16LE(w.pos - at - 2, at);
      break;
    }
    case MessageType.Rflush:
    case MessageType.Rclunk:
    case MessageType.Rremove:
    case MessageType.Rwstat:
    case MessageType.Tlerror:
    case MessageType.Rrename:
    case MessageType.Rsetattr:
    case MessageType.Rxattrcreate:
    case MessageType.Rfsync:
    case MessageType.Rlink:
    case MessageType.Rrenameat:
    case MessageType.Runlinkat:
      break;
    case MessageType.Rlerror:
      w.u32(m.ecode);
      break;
    case MessageType.Rstatfs:
      w.u32(m.fstype);
      w.u32(m.bsize);
      w.u64(m.blocks);
      w.u64(m.bfree);
      w.u64(m.bavail);
      w.u64(m.files);
      w.u64(m.ffree);
      w.u64(m.fsid);
      w.u32(m.namelen);
      break;
    case MessageType.Tlopen:
      w.u32(m.fid);
      w.u32(m.flags);
      break;
    case MessageType.Tlcreate:
      w.u32(m.fid);
      w.str(m.name);
      w.u32(m.flags);
      w.u32(m.mode);
      w.u32(m.gid);
      break;
    case MessageType.Tsymlink:
      w.u32(m.fid);
      w.str(m.name);
      w.str(m.symtgt);
      w.u32(m.gid);
      break;
    case MessageType.Rsymlink:
    case MessageType.Rmknod:
    case MessageType.Rmkdir:
      w.qid(m.qid);
      break;
    case MessageType.Tmknod:
      w.u32(m.dfid);
      w.str(m.name);
      w.u32(m.mode);
      w.u32(m.major);
      w.u32(m.minor);
      w.u32(m.gid);
      break;
    case MessageType.Trename:
      w.u32(m.fid);
      w.u32(m.dfid);
      w.str(m.name);
      break;
    case MessageType.Rreadlink:
      w.str(m.target);
      break;
    case MessageType.Tgetattr:
      w.u32(m.fid);
      w.u64(m.request_mask);
      break;
    case MessageType.Rgetattr:
      w.u64(m.valid);
      w.qid(m.qid);
      w.u32(m.mode);
      w.u32(m.uid);
      w.u32(m.gid);
      w.u64(m.nlink);
      w.u64(m.rdev);
      w.u64(m.size);
      w.u64(m.blksize);
      w.u64(m.blocks);
      w.u64(m.atime_sec);
      w.u64(m.atime_nsec);
      w.u64(m.mtime_sec);
      w.u64(m.mtime_nsec);
      w.u64(m.ctime_sec);
      w.u64(m.ctime_nsec);
      w.u64(m.btime_sec);
      w.u64(m.btime_nsec);
      w.u64(m.gen);
      w.u64(m.data_version);
      break;
    case MessageType.Tsetattr:
      w.u32(m.fid);
      w.u32(m.valid);
      w.u32(m.mode);
      w.u32(m.uid);
      w.u32(m.gid);
      w.u64(m.size);
      w.u64(m.atime_sec);
      w.u64(m.atime_nsec);
      w.u64(m.mtime_sec);
      w.u64(m.mtime_nsec);
      break;
    case MessageType.Txattrwalk:
      w.u32(m.fid);
      w.u32(m.newfid);
      w.str(m.name);
      break;
    case MessageType.Rxattrwalk:
      w.u64(m.size);
      break;
    case MessageType.Txattrcreate:
      w.u32(m.fid);
      w.str(m.name);
      w.u64(m.attr_size);
      w.u32(m.flags);
      break;
    case MessageType.Tfsync:
      w.u32(m.fid);
      w.u32(m.datasync);
      break;
    case MessageType.Tlock:
      w.u32(m.fid);
      w.u8(m.locktype);
      w.u32(m.flags);
      w.u64(m.start);
      w.u64(m.length);
      w.u32(m.proc_id);
      w.str(m.client_id);
      break;
    case MessageType.Rlock:
      w.u8(m.status);
      break;
    case MessageType.Tgetlock:
      w.u32(m.fid);
      w.u8(m.locktype);
      w.u64(m.start);
      w.u64(m.length);
      w.u32(m.proc_id);
      w.str(m.client_id);
      break;
    case MessageType.Rgetlock:
      w.u8(m.locktype);
      w.u64(m.start);
      w.u64(m.length);
      w.u32(m.proc_id);
      w.str(m.client_id);
      break;
    case MessageType.Tlink:
      w.u32(m.dfid);
      w.u32(m.fid);
      w.str(m.name);
      break;
    case MessageType.Tmkdir:
      w.u32(m.dfid);
      w.str(m.name);
      w.u32(m.mode);
      w.u32(m.gid);
      break;
    case MessageType.Trenameat:
      w.u32(m.olddirfid);
      w.str(m.oldname);
      w.u32(m.newdirfid);
      w.str(m.newname);
      break;
    case MessageType.Tunlinkat:
      w.u32(m.dirfd);
      w.str(m.name);
      w.u32(m.flags);
      break;
    default:
      assertNever(m);
  }
  const out = w.finish();
  out.writeUInt32LE(out.length, 0);
  return out;
}

/**
 * The first 11 bytes of an Rread or Rreaddir frame — size[4] type[1] tag[2] count[4] —
 * for a writer that sends `m.data` after it without copying it into one frame
 * (`Buffer.concat([encodeDataHeader(m), m.data])` equals `encodeMessage(m)`).
 */
export function encodeDataHeader(m: Rread | Rreaddir): Buffer {
  const b = Buffer.allocUnsafe(11);
  b.writeUInt32LE(11 + m.data.length, 0);
  b.writeUInt8(m.type, 4);
  b.writeUInt16LE(m.tag, 5);
  b.writeUInt32LE(m.data.length, 7);
  return b;
}

/**
 * Decodes one whole frame (size[4] included, as `NinepFramer` yields it). `dialect`
 * decides the fields the dialects add to shared messages: n_uname in Tauth and Tattach
 * (9P2000.u, 9P2000.L); errno in Rerror, extension in Tcreate and the stat extension
 * (9P2000.u). `data` fields are
 * views into `frame`. Throws NinepProtocolError for anything malformed.
 */
export function decodeMessage(frame: Uint8Array, dialect: Dialect): Message {
  if (frame.length < HEADER_SIZE)
    throw new NinepProtocolError(`frame of ${frame.length} bytes is shorter than a header`);
  const r = new Reader(frame);
  const size = r.u32();
  if (size !== frame.length)
    throw new NinepProtocolError(`size field ${size} does not match frame length ${frame.length}`);
  const type = r.u8() as MessageType;
  const tag = r.u16();
  const m = decodeBody(r, type, tag, dialect);
  if (r.overflow)
    throw new NinepProtocolError(
      `${MESSAGE_NAMES[type]} runs past the end of its ${size}-byte frame`,
    );
  if (r.badString)
    throw new NinepProtocolError(`${MESSAGE_NAMES[type]} holds a string that is not UTF-8`);
  if (r.remaining !== 0)
    throw new NinepProtocolError(`${MESSAGE_NAMES[type]} has ${r.remaining} bytes left over`);
  return m;
}

function decodeBody(r: Reader, type: MessageType, tag: number, dialect: Dialect): Message {
  const dotu = dialect === '9P2000.u';
  // n_uname: 9P2000.u added it to Tauth and Tattach, and 9P2000.L kept it.
  const nUname = dotu || dialect === '9P2000.L';
  switch (type) {
    case MessageType.Tversion:
    case MessageType.Rversion:
      return { type, tag, msize: r.u32(), version: r.str() };
    case MessageType.Tauth: {
      const afid = r.u32();
      const uname = r.str();
      const aname = r.str();
      return nUname
        ? { type, tag, afid, uname, aname, n_uname: r.u32() }
        : { type, tag, afid, uname, aname };
    }
    case MessageType.Rauth:
      return { type, tag, aqid: r.qid() };
    case MessageType.Tattach: {
      const fid = r.u32();
      const afid = r.u32();
      const uname = r.str();
      const aname = r.str();
      return nUname
        ? { type, tag, fid, afid, uname, aname, n_uname: r.u32() }
        : { type, tag, fid, afid, uname, aname };
    }
    case MessageType.Rattach:
      return { type, tag, qid: r.qid() };
    case MessageType.Rerror: {
      const ename = r.str();
      return dotu ? { type, tag, ename, errno: r.u32() } : { type, tag, ename };
    }
    case MessageType.Tflush:
      return { type, tag, oldtag: r.u16() };
    case MessageType.Twalk: {
      const fid = r.u32();
      const newfid = r.u32();
      const n = r.u16();
      // Each name is at least 2 bytes; a count the frame cannot hold is malformed, and
      // checking it first keeps a hostile count from driving a long loop.
      if (n * 2 > r.remaining) r.overflow = true;
      const wname: string[] = [];
      for (let i = 0; i < n && !r.overflow; i++) wname.push(r.str());
      return { type, tag, fid, newfid, wname };
    }
    case MessageType.Rwalk: {
      const n = r.u16();
      if (n * 13 > r.remaining) r.overflow = true;
      const wqid: Qid[] = [];
      for (let i = 0; i < n && !r.overflow; i++) wqid.push(r.qid());
      return { type, tag, wqid };
    }
    case MessageType.Topen:
      return { type, tag, fid: r.u32(), mode: r.u8() };
    case MessageType.Ropen:
    case MessageType.Rcreate:
    case MessageType.Rlopen:
    case MessageType.Rlcreate:
      return { type, tag, qid: r.qid(), iounit: r.u32() };
    case MessageType.Tcreate: {
      const m = { type, tag, fid: r.u32(), name: r.str(), perm: r.u32(), mode: r.u8() };
      return dotu ? { ...m, extension: r.str() } : m;
    }
    case MessageType.Tread:
    case MessageType.Treaddir:
      return { type, tag, fid: r.u32(), offset: r.u64(), count: r.u32() };
    case MessageType.Rread:
    case MessageType.Rreaddir:
      return { type, tag, data: r.bytesOf(r.u32()) };
    case MessageType.Twrite: {
      const fid = r.u32();
      const offset = r.u64();
      return { type, tag, fid, offset, data: r.bytesOf(r.u32()) };
    }
    case MessageType.Rwrite:
      return { type, tag, count: r.u32() };
    case MessageType.Tclunk:
    case MessageType.Tremove:
    case MessageType.Tstat:
    case MessageType.Tstatfs:
    case MessageType.Treadlink:
      return { type, tag, fid: r.u32() };
    case MessageType.Rstat: {
      const n = r.u16();
      const end = r.pos + n;
      const stat = readStat(r, dotu);
      if (!r.overflow && r.pos !== end) r.overflow = true;
      return { type, tag, stat };
    }
    case MessageType.Twstat: {
      const fid = r.u32();
      const n = r.u16();
      const end = r.pos + n;
      const stat = readStat(r, dotu);
      if (!r.overflow && r.pos !== end) r.overflow = true;
      return { type, tag, fid, stat };
    }
    case MessageType.Rflush:
    case MessageType.Rclunk:
    case MessageType.Rremove:
    case MessageType.Rwstat:
    case MessageType.Tlerror:
    case MessageType.Rrename:
    case MessageType.Rsetattr:
    case MessageType.Rxattrcreate:
    case MessageType.Rfsync:
    case MessageType.Rlink:
    case MessageType.Rrenameat:
    case MessageType.Runlinkat:
      return { type, tag };
    case MessageType.Rlerror:
      return { type, tag, ecode: r.u32() };
    case MessageType.Rstatfs:
      return {
        type,
        tag,
        fstype: r.u32(),
        bsize: r.u32(),
        blocks: r.u64(),
        bfree: r.u64(),
        bavail: r.u64(),
        files: r.u64(),
        ffree: r.u64(),
        fsid: r.u64(),
        namelen: r.u32(),
      };
    case MessageType.Tlopen:
      return { type, tag, fid: r.u32(), flags: r.u32() };
    case MessageType.Tlcreate:
      return {
        type,
        tag,
        fid: r.u32(),
        name: r.str(),
        flags: r.u32(),
        mode: r.u32(),
        gid: r.u32(),
      };
    case MessageType.Tsymlink:
      return { type, tag, fid: r.u32(), name: r.str(), symtgt: r.str(), gid: r.u32() };
    case MessageType.Rsymlink:
    case MessageType.Rmknod:
    case MessageType.Rmkdir:
      return { type, tag, qid: r.qid() };
    case MessageType.Tmknod:
      return {
        type,
        tag,
        dfid: r.u32(),
        name: r.str(),
        mode: r.u32(),
        major: r.u32(),
        minor: r.u32(),
        gid: r.u32(),
      };
    case MessageType.Trename:
      return { type, tag, fid: r.u32(), dfid: r.u32(), name: r.str() };
    case MessageType.Rreadlink:
      return { type, tag, target: r.str() };
    case MessageType.Tgetattr:
      return { type, tag, fid: r.u32(), request_mask: r.u64() };
    case MessageType.Rgetattr:
      return {
        type,
        tag,
        valid: r.u64(),
        qid: r.qid(),
        mode: r.u32(),
        uid: r.u32(),
        gid: r.u32(),
        nlink: r.u64(),
        rdev: r.u64(),
        size: r.u64(),
        blksize: r.u64(),
        blocks: r.u64(),
        atime_sec: r.u64(),
        atime_nsec: r.u64(),
        mtime_sec: r.u64(),
        mtime_nsec: r.u64(),
        ctime_sec: r.u64(),
        ctime_nsec: r.u64(),
        btime_sec: r.u64(),
        btime_nsec: r.u64(),
        gen: r.u64(),
        data_version: r.u64(),
      };
    case MessageType.Tsetattr:
      return {
        type,
        tag,
        fid: r.u32(),
        valid: r.u32(),
        mode: r.u32(),
        uid: r.u32(),
        gid: r.u32(),
        size: r.u64(),
        atime_sec: r.u64(),
        atime_nsec: r.u64(),
        mtime_sec: r.u64(),
        mtime_nsec: r.u64(),
      };
    case MessageType.Txattrwalk:
      return { type, tag, fid: r.u32(), newfid: r.u32(), name: r.str() };
    case MessageType.Rxattrwalk:
      return { type, tag, size: r.u64() };
    case MessageType.Txattrcreate:
      return { type, tag, fid: r.u32(), name: r.str(), attr_size: r.u64(), flags: r.u32() };
    case MessageType.Tfsync: {
      const fid = r.u32();
      // Linux (since 5.x) sends datasync[4]; older clients send fid[4] alone.
      return { type, tag, fid, datasync: r.remaining >= 4 ? r.u32() : 0 };
    }
    case MessageType.Tlock:
      return {
        type,
        tag,
        fid: r.u32(),
        locktype: r.u8(),
        flags: r.u32(),
        start: r.u64(),
        length: r.u64(),
        proc_id: r.u32(),
        client_id: r.str(),
      };
    case MessageType.Rlock:
      return { type, tag, status: r.u8() };
    case MessageType.Tgetlock:
      return {
        type,
        tag,
        fid: r.u32(),
        locktype: r.u8(),
        start: r.u64(),
        length: r.u64(),
        proc_id: r.u32(),
        client_id: r.str(),
      };
    case MessageType.Rgetlock:
      return {
        type,
        tag,
        locktype: r.u8(),
        start: r.u64(),
        length: r.u64(),
        proc_id: r.u32(),
        client_id: r.str(),
      };
    case MessageType.Tlink:
      return { type, tag, dfid: r.u32(), fid: r.u32(), name: r.str() };
    case MessageType.Tmkdir:
      return { type, tag, dfid: r.u32(), name: r.str(), mode: r.u32(), gid: r.u32() };
    case MessageType.Trenameat:
      return {
        type,
        tag,
        olddirfid: r.u32(),
        oldname: r.str(),
        newdirfid: r.u32(),
        newname: r.str(),
      };
    case MessageType.Tunlinkat:
      return { type, tag, dirfd: r.u32(), name: r.str(), flags: r.u32() };
    default:
      // The code came off the wire: any number is possible, so this is input, not a bug.
      throw new NinepProtocolError(`unknown message type ${String(type)}`);
  }
}
