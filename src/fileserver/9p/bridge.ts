/**
 * 9P ⇄ FileServer: the translations between what a 9P request asks and what the
 * FileServer interface (file-server.ts) offers. conn.ts has already checked the protocol
 * (the fid exists, is or is not open, the tag is free); these functions only call the
 * backend and shape the answer.
 *
 * The error vocabulary is translated here and nowhere else: `ninepErrorOf` maps an
 * NsError code onto the one table in errors.ts (STYLE.md section 4).
 */
import { NsError, type NsErrorCode } from '../../errors.js';
import { refusalFrom } from '../../failure.js';
import {
  KEEP_U32,
  KEEP_U64,
  type File,
  type OpenAccess,
  type OpenMode,
  type Qid as FsQid,
  type Stat as FsStat,
  type StatChange,
} from '../file-server.js';
import {
  DMDIR,
  DT_DIR,
  DT_REG,
  L_O_ACCMODE,
  L_O_RDWR,
  L_O_TRUNC,
  L_O_WRONLY,
  NONUNAME,
  ORCLOSE,
  OTRUNC,
  P9_GETATTR_BASIC,
  P9_SETATTR_ATIME,
  P9_SETATTR_ATIME_SET,
  P9_SETATTR_MODE,
  P9_SETATTR_MTIME,
  P9_SETATTR_MTIME_SET,
  P9_SETATTR_SIZE,
  QTDIR,
  S_IFDIR,
  S_IFREG,
} from './constants.js';
import { encodeDirent, writeStat, Writer } from './codec.js';
import { NinepErrors, type NinepError } from './errors.js';
import type { Qid, Rgetattr, Stat, Tsetattr } from './messages.js';

/**
 * A 9P-level refusal found while serving a request (as opposed to an NsError from the
 * backend): carries the table entry to answer with.
 */
export class NinepFail extends Error {
  constructor(readonly error: NinepError) {
    super(error.ename);
  }

  override get name(): string {
    return 'NinepFail';
  }
}

/** NsError code → 9P error: the one place this translation happens. */
const BY_CODE: Readonly<Record<NsErrorCode, NinepError>> = {
  NS_ERR_NOT_FOUND: NinepErrors.Enotfound,
  NS_ERR_EXISTS: NinepErrors.Eexist,
  NS_ERR_PERMISSION: NinepErrors.Eperm,
  NS_ERR_NOT_DIR: NinepErrors.Enotdir,
  NS_ERR_IS_DIR: NinepErrors.Eisdir,
  NS_ERR_NOT_EMPTY: NinepErrors.Enotempty,
  NS_ERR_REVOKED: NinepErrors.Eperm,
  NS_ERR_INVALID_PATH: NinepErrors.Ename,
  NS_ERR_INVALID_ARGUMENT: NinepErrors.Ebadarg,
  NS_ERR_INTERFACE_MISMATCH: NinepErrors.Eperm,
  NS_ERR_BUSY: NinepErrors.Ebusy,
  NS_ERR_NOT_OPEN: NinepErrors.Ebadusefid,
  NS_ERR_IO: NinepErrors.Eio,
  NS_ERR_TOO_LARGE: NinepErrors.Efbig,
  NS_ERR_PARSE: NinepErrors.Ebadarg,
};

/**
 * The 9P error for a failed request. `aborted` says the request's AbortSignal fired
 * (Tflush): a failure then is "interrupted". Returns undefined for a failure that is not
 * an expected condition (a bug or an infrastructure failure), which the caller logs and
 * answers with "i/o error".
 */
export function ninepErrorOf(err: unknown, aborted: boolean): NinepError | undefined {
  if (aborted) return NinepErrors.Einterrupted;
  if (err instanceof NinepFail) return err.error;
  // A refusal by policy that came as an exception ("revoked: ...") is still a refusal.
  const e = refusalFrom(err);
  if (e instanceof NsError) return BY_CODE[e.code];
  return undefined;
}

/** The 9P qid for a FileServer qid (the same three fields). */
export function toQid(q: FsQid): Qid {
  return { type: q.type, version: q.version, path: q.path };
}

/**
 * The stat(5) entry for a FileServer Stat (type and dev are 0, as for a user server).
 * `dotu` (9P2000.u) adds an empty extension and numeric ids (see `numericId`), with
 * `nUname` the attaching user's.
 */
export function toStat(s: FsStat, dotu = false, nUname = NONUNAME): Stat {
  const stat: Stat = {
    type: 0,
    dev: 0,
    qid: toQid(s.qid),
    mode: s.mode,
    atime: s.atime,
    mtime: s.mtime,
    length: s.length,
    name: s.name,
    uid: s.uid,
    gid: s.gid,
    muid: s.muid,
  };
  if (dotu) {
    stat.extension = '';
    stat.n_uid = numericId(s.uid, nUname);
    stat.n_gid = numericId(s.gid, nUname);
    stat.n_muid = numericId(s.muid, nUname);
  }
  return stat;
}

/** open(5) mode byte → OpenMode. Unknown high bits are ignored, as Plan 9's devices do. */
export function openModeOf(mode: number): OpenMode {
  const access: OpenAccess = ['read', 'write', 'readWrite', 'exec'][mode & 3] as OpenAccess;
  const out: OpenMode = { access };
  if (mode & OTRUNC) out.truncate = true;
  if (mode & ORCLOSE) out.removeOnClose = true;
  return out;
}

/** Linux open(2) flags (Tlopen, Tlcreate) → OpenMode. O_APPEND, O_CREAT, O_EXCL and the rest are the client's business. */
export function openModeOfFlags(flags: number): OpenMode {
  const acc = flags & L_O_ACCMODE;
  const access: OpenAccess = acc === L_O_WRONLY ? 'write' : acc === L_O_RDWR ? 'readWrite' : 'read';
  const out: OpenMode = { access };
  if (flags & L_O_TRUNC) out.truncate = true;
  return out;
}

/** Whether an OpenMode allows reads / writes. */
export function accessOf(mode: OpenMode): { read: boolean; write: boolean } {
  switch (mode.access) {
    case 'read':
    case 'exec':
      return { read: true, write: false };
    case 'write':
      return { read: false, write: true };
    case 'readWrite':
      return { read: true, write: true };
  }
}

/** `names` applied to `path`, resolving ".." (never above the root). */
export function walkPath(path: readonly string[], names: readonly string[]): string[] {
  const out = [...path];
  for (const n of names) {
    if (n === '..') out.pop();
    else if (n !== '.') out.push(n);
  }
  return out;
}

/**
 * Writes `data` at `offset`, split into pieces of at most `iounit` bytes (a client may
 * send up to msize - IOHDRSZ, a backend may take less). Stops at a short write.
 */
export async function writeAll(
  file: File,
  offset: bigint,
  data: Uint8Array,
  iounit: number,
  signal: AbortSignal,
): Promise<number> {
  if (data.length <= iounit) return file.write(offset, data, signal);
  let done = 0;
  while (done < data.length) {
    const piece = data.subarray(done, Math.min(data.length, done + iounit));
    const n = await file.write(offset + BigInt(done), piece, done === 0 ? signal : undefined);
    done += n;
    if (n < piece.length) break;
  }
  return done;
}

/**
 * Packs directory entries for a 9P2000 Tread of a directory: as many whole stat(5)
 * entries (9P2000.u entries when `dotu`) as fit in `count` bytes (read(5): never a partial
 * entry). Returns the bytes and how many entries they hold.
 */
export function packStats(
  entries: readonly FsStat[],
  count: number,
  dotu = false,
  nUname = NONUNAME,
): { data: Buffer; n: number } {
  const w = new Writer(Math.min(count, 64 * 1024));
  let n = 0;
  for (const e of entries) {
    const at = w.pos;
    writeStat(w, toStat(e, dotu, nUname));
    if (w.pos > count) {
      w.pos = at;
      break;
    }
    n++;
  }
  return { data: w.finish(), n };
}

/**
 * Packs entries for Rreaddir (9P2000.L): qid offset type name, as many as fit in `count`
 * bytes. Each entry's offset is the cookie for the entry after it: its index + 1 from the
 * start of the directory (`first` is the index of `entries[0]`).
 */
export function packDirents(
  entries: readonly FsStat[],
  first: number,
  count: number,
): { data: Buffer; n: number } {
  const parts: Buffer[] = [];
  let bytes = 0;
  let n = 0;
  for (const e of entries) {
    const b = encodeDirent({
      qid: toQid(e.qid),
      offset: BigInt(first + n + 1),
      type: e.qid.type & QTDIR ? DT_DIR : DT_REG,
      name: e.name,
    });
    if (bytes + b.length > count) break;
    parts.push(b);
    bytes += b.length;
    n++;
  }
  return { data: Buffer.concat(parts, bytes), n };
}

/** A numeric id for a Stat's uid/gid string: the number if it is one, else the attaching user's. */
function numericId(name: string, nUname: number): number {
  if (/^\d{1,10}$/.test(name)) {
    const v = Number(name);
    if (v <= 0xffffffff) return v;
  }
  return nUname === NONUNAME ? 0 : nUname;
}

/** Rgetattr's fields for a FileServer Stat (9P2000.L). */
export function getattrOf(s: FsStat, nUname: number): Omit<Rgetattr, 'type' | 'tag'> {
  const isDir = (s.mode & DMDIR) !== 0;
  return {
    valid: BigInt(P9_GETATTR_BASIC),
    qid: toQid(s.qid),
    mode: (isDir ? S_IFDIR : S_IFREG) | (s.mode & 0o777),
    uid: numericId(s.uid, nUname),
    gid: numericId(s.gid, nUname),
    nlink: isDir ? 2n : 1n,
    rdev: 0n,
    size: s.length,
    blksize: 4096n,
    blocks: (s.length + 511n) / 512n,
    atime_sec: BigInt(s.atime),
    atime_nsec: 0n,
    mtime_sec: BigInt(s.mtime),
    mtime_nsec: 0n,
    ctime_sec: BigInt(s.mtime),
    ctime_nsec: 0n,
    btime_sec: 0n,
    btime_nsec: 0n,
    gen: 0n,
    data_version: BigInt(s.qid.version),
  };
}

/**
 * The StatChange for a Tsetattr (9P2000.L), given the file's current mode (to keep its
 * DM flags). uid and gid changes are ignored: a FileServer has names, not numbers, and
 * chown by a client that is root on its own machine should not fail its copy.
 */
export function statChangeOfSetattr(m: Tsetattr, currentMode: number, nowSec: number): StatChange {
  const change: StatChange = {};
  if (m.valid & P9_SETATTR_MODE) change.mode = ((currentMode & ~0o777) | (m.mode & 0o777)) >>> 0;
  if (m.valid & P9_SETATTR_SIZE) change.length = m.size;
  if (m.valid & P9_SETATTR_ATIME)
    change.atime = m.valid & P9_SETATTR_ATIME_SET ? Number(m.atime_sec & 0xffffffffn) : nowSec;
  if (m.valid & P9_SETATTR_MTIME)
    change.mtime = m.valid & P9_SETATTR_MTIME_SET ? Number(m.mtime_sec & 0xffffffffn) : nowSec;
  return change;
}

/**
 * The StatChange for a Twstat (wstat(5)): 9P's "don't touch" values pass straight
 * through (file-server.ts accepts them). As lib9p does, a field a FileServer cannot change
 * may be sent with its current value: a qid or uid other than "don't touch" or the
 * current one is refused ("permission denied"), and so is changing DMDIR. type and dev
 * are the kernel's and muid is the server's: they are ignored (Linux's 9P2000 client sets
 * muid to its user name in the wstat it renames with).
 */
export function statChangeOfWstat(s: Stat, current: FsStat): StatChange {
  const q = s.qid;
  const qidKept =
    (q.type === 0xff || q.type === current.qid.type) &&
    (q.version === KEEP_U32 || q.version === current.qid.version) &&
    (q.path === KEEP_U64 || q.path === current.qid.path);
  if (!qidKept || (s.uid !== '' && s.uid !== current.uid)) throw new NinepFail(NinepErrors.Eperm);
  if (s.mode !== KEEP_U32 && ((s.mode ^ current.mode) & DMDIR) !== 0)
    throw new NinepFail(NinepErrors.Ewstatconv);
  return {
    name: s.name,
    length: s.length,
    mode: s.mode,
    mtime: s.mtime,
    atime: s.atime,
    gid: s.gid,
  };
}
