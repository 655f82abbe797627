/**
 * 9P messages as plain objects: one interface per message, field names verbatim from
 * intro(5) (9P2000) and from Linux's net/9p/client.c and diod's protocol.md (9P2000.L),
 * and the union `Message` discriminated by `type`. Pure: imports only constants.
 *
 * 64-bit fields (offsets, lengths, qid.path, ...) are `bigint` so that every value a
 * client can send survives decoding; `data` fields are byte views that may share memory
 * with the frame they were decoded from (copy them to keep them past the next message).
 */
import { MessageType } from './constants.js';

/** The server's identity for a file (intro(5)). */
export interface Qid {
  type: number;
  version: number;
  path: bigint;
}

/**
 * A directory entry as stat(5) encodes it (9P2000). 9P2000.u appends `extension`,
 * `n_uid`, `n_gid` and `n_muid`: present (all four) exactly when the entry is in that
 * dialect.
 */
export interface Stat {
  type: number;
  dev: number;
  qid: Qid;
  mode: number;
  atime: number;
  mtime: number;
  length: bigint;
  name: string;
  uid: string;
  gid: string;
  muid: string;
  extension?: string;
  n_uid?: number;
  n_gid?: number;
  n_muid?: number;
}

/** One Rreaddir entry (9P2000.L): qid[13] offset[8] type[1] name[s]. */
export interface Dirent {
  qid: Qid;
  offset: bigint;
  type: number;
  name: string;
}

interface Base<T extends MessageType> {
  type: T;
  tag: number;
}

// 9P2000 (intro(5)).
export interface Tversion extends Base<MessageType.Tversion> {
  msize: number;
  version: string;
}
export interface Rversion extends Base<MessageType.Rversion> {
  msize: number;
  version: string;
}
/** `n_uname` is present in 9P2000.u and 9P2000.L only (undefined in 9P2000). */
export interface Tauth extends Base<MessageType.Tauth> {
  afid: number;
  uname: string;
  aname: string;
  n_uname?: number;
}
export interface Rauth extends Base<MessageType.Rauth> {
  aqid: Qid;
}
/** `n_uname` is present in 9P2000.u and 9P2000.L only (undefined in 9P2000). */
export interface Tattach extends Base<MessageType.Tattach> {
  fid: number;
  afid: number;
  uname: string;
  aname: string;
  n_uname?: number;
}
export interface Rattach extends Base<MessageType.Rattach> {
  qid: Qid;
}
/** `errno` is present in 9P2000.u only. */
export interface Rerror extends Base<MessageType.Rerror> {
  ename: string;
  errno?: number;
}
export interface Tflush extends Base<MessageType.Tflush> {
  oldtag: number;
}
export type Rflush = Base<MessageType.Rflush>;
export interface Twalk extends Base<MessageType.Twalk> {
  fid: number;
  newfid: number;
  wname: string[];
}
export interface Rwalk extends Base<MessageType.Rwalk> {
  wqid: Qid[];
}
export interface Topen extends Base<MessageType.Topen> {
  fid: number;
  mode: number;
}
export interface Ropen extends Base<MessageType.Ropen> {
  qid: Qid;
  iounit: number;
}
/** `extension` is present in 9P2000.u only. */
/** `extension` is present in 9P2000.u only. */
export interface Tcreate extends Base<MessageType.Tcreate> {
  fid: number;
  name: string;
  perm: number;
  mode: number;
  extension?: string;
}
export interface Rcreate extends Base<MessageType.Rcreate> {
  qid: Qid;
  iounit: number;
}
export interface Tread extends Base<MessageType.Tread> {
  fid: number;
  offset: bigint;
  count: number;
}
export interface Rread extends Base<MessageType.Rread> {
  data: Uint8Array;
}
export interface Twrite extends Base<MessageType.Twrite> {
  fid: number;
  offset: bigint;
  data: Uint8Array;
}
export interface Rwrite extends Base<MessageType.Rwrite> {
  count: number;
}
export interface Tclunk extends Base<MessageType.Tclunk> {
  fid: number;
}
export type Rclunk = Base<MessageType.Rclunk>;
export interface Tremove extends Base<MessageType.Tremove> {
  fid: number;
}
export type Rremove = Base<MessageType.Rremove>;
export interface Tstat extends Base<MessageType.Tstat> {
  fid: number;
}
export interface Rstat extends Base<MessageType.Rstat> {
  stat: Stat;
}
export interface Twstat extends Base<MessageType.Twstat> {
  fid: number;
  stat: Stat;
}
export type Rwstat = Base<MessageType.Rwstat>;

// 9P2000.L (Linux include/net/9p/9p.h, net/9p/client.c; diod protocol.md).
export type Tlerror = Base<MessageType.Tlerror>;
export interface Rlerror extends Base<MessageType.Rlerror> {
  ecode: number;
}
export interface Tstatfs extends Base<MessageType.Tstatfs> {
  fid: number;
}
export interface Rstatfs extends Base<MessageType.Rstatfs> {
  fstype: number;
  bsize: number;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  fsid: bigint;
  namelen: number;
}
export interface Tlopen extends Base<MessageType.Tlopen> {
  fid: number;
  flags: number;
}
export interface Rlopen extends Base<MessageType.Rlopen> {
  qid: Qid;
  iounit: number;
}
export interface Tlcreate extends Base<MessageType.Tlcreate> {
  fid: number;
  name: string;
  flags: number;
  mode: number;
  gid: number;
}
export interface Rlcreate extends Base<MessageType.Rlcreate> {
  qid: Qid;
  iounit: number;
}
export interface Tsymlink extends Base<MessageType.Tsymlink> {
  fid: number;
  name: string;
  symtgt: string;
  gid: number;
}
export interface Rsymlink extends Base<MessageType.Rsymlink> {
  qid: Qid;
}
export interface Tmknod extends Base<MessageType.Tmknod> {
  dfid: number;
  name: string;
  mode: number;
  major: number;
  minor: number;
  gid: number;
}
export interface Rmknod extends Base<MessageType.Rmknod> {
  qid: Qid;
}
export interface Trename extends Base<MessageType.Trename> {
  fid: number;
  dfid: number;
  name: string;
}
export type Rrename = Base<MessageType.Rrename>;
export interface Treadlink extends Base<MessageType.Treadlink> {
  fid: number;
}
export interface Rreadlink extends Base<MessageType.Rreadlink> {
  target: string;
}
export interface Tgetattr extends Base<MessageType.Tgetattr> {
  fid: number;
  request_mask: bigint;
}
export interface Rgetattr extends Base<MessageType.Rgetattr> {
  valid: bigint;
  qid: Qid;
  mode: number;
  uid: number;
  gid: number;
  nlink: bigint;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atime_sec: bigint;
  atime_nsec: bigint;
  mtime_sec: bigint;
  mtime_nsec: bigint;
  ctime_sec: bigint;
  ctime_nsec: bigint;
  btime_sec: bigint;
  btime_nsec: bigint;
  gen: bigint;
  data_version: bigint;
}
export interface Tsetattr extends Base<MessageType.Tsetattr> {
  fid: number;
  valid: number;
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  atime_sec: bigint;
  atime_nsec: bigint;
  mtime_sec: bigint;
  mtime_nsec: bigint;
}
export type Rsetattr = Base<MessageType.Rsetattr>;
export interface Txattrwalk extends Base<MessageType.Txattrwalk> {
  fid: number;
  newfid: number;
  name: string;
}
export interface Rxattrwalk extends Base<MessageType.Rxattrwalk> {
  size: bigint;
}
export interface Txattrcreate extends Base<MessageType.Txattrcreate> {
  fid: number;
  name: string;
  attr_size: bigint;
  flags: number;
}
export type Rxattrcreate = Base<MessageType.Rxattrcreate>;
export interface Treaddir extends Base<MessageType.Treaddir> {
  fid: number;
  offset: bigint;
  count: number;
}
/** `data` is the packed entries; see `encodeDirents`/`decodeDirents`. */
export interface Rreaddir extends Base<MessageType.Rreaddir> {
  data: Uint8Array;
}
/** Linux sends `datasync` since 5.x; older clients (and diod's docs) omit it: read as 0. */
export interface Tfsync extends Base<MessageType.Tfsync> {
  fid: number;
  datasync: number;
}
export type Rfsync = Base<MessageType.Rfsync>;
export interface Tlock extends Base<MessageType.Tlock> {
  fid: number;
  locktype: number;
  flags: number;
  start: bigint;
  length: bigint;
  proc_id: number;
  client_id: string;
}
export interface Rlock extends Base<MessageType.Rlock> {
  status: number;
}
export interface Tgetlock extends Base<MessageType.Tgetlock> {
  fid: number;
  locktype: number;
  start: bigint;
  length: bigint;
  proc_id: number;
  client_id: string;
}
export interface Rgetlock extends Base<MessageType.Rgetlock> {
  locktype: number;
  start: bigint;
  length: bigint;
  proc_id: number;
  client_id: string;
}
export interface Tlink extends Base<MessageType.Tlink> {
  dfid: number;
  fid: number;
  name: string;
}
export type Rlink = Base<MessageType.Rlink>;
export interface Tmkdir extends Base<MessageType.Tmkdir> {
  dfid: number;
  name: string;
  mode: number;
  gid: number;
}
export interface Rmkdir extends Base<MessageType.Rmkdir> {
  qid: Qid;
}
export interface Trenameat extends Base<MessageType.Trenameat> {
  olddirfid: number;
  oldname: string;
  newdirfid: number;
  newname: string;
}
export type Rrenameat = Base<MessageType.Rrenameat>;
export interface Tunlinkat extends Base<MessageType.Tunlinkat> {
  dirfd: number;
  name: string;
  flags: number;
}
export type Runlinkat = Base<MessageType.Runlinkat>;

/** Every T-message. */
export type TMessage =
  | Tversion
  | Tauth
  | Tattach
  | Tflush
  | Twalk
  | Topen
  | Tcreate
  | Tread
  | Twrite
  | Tclunk
  | Tremove
  | Tstat
  | Twstat
  | Tlerror
  | Tstatfs
  | Tlopen
  | Tlcreate
  | Tsymlink
  | Tmknod
  | Trename
  | Treadlink
  | Tgetattr
  | Tsetattr
  | Txattrwalk
  | Txattrcreate
  | Treaddir
  | Tfsync
  | Tlock
  | Tgetlock
  | Tlink
  | Tmkdir
  | Trenameat
  | Tunlinkat;

/** Every R-message. */
export type RMessage =
  | Rversion
  | Rauth
  | Rattach
  | Rerror
  | Rflush
  | Rwalk
  | Ropen
  | Rcreate
  | Rread
  | Rwrite
  | Rclunk
  | Rremove
  | Rstat
  | Rwstat
  | Rlerror
  | Rstatfs
  | Rlopen
  | Rlcreate
  | Rsymlink
  | Rmknod
  | Rrename
  | Rreadlink
  | Rgetattr
  | Rsetattr
  | Rxattrwalk
  | Rxattrcreate
  | Rreaddir
  | Rfsync
  | Rlock
  | Rgetlock
  | Rlink
  | Rmkdir
  | Rrenameat
  | Runlinkat;

/** Any 9P message. */
export type Message = TMessage | RMessage;

/** The message with code `T`. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** For exhaustive switches: a value the type system says cannot exist. */
export function assertNever(value: never): never {
  throw new Error(
    `unreachable: ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`,
  );
}

/** Message names by code, for traces and error messages. */
export const MESSAGE_NAMES: Readonly<Record<number, string>> = {
  6: 'Tlerror',
  7: 'Rlerror',
  8: 'Tstatfs',
  9: 'Rstatfs',
  12: 'Tlopen',
  13: 'Rlopen',
  14: 'Tlcreate',
  15: 'Rlcreate',
  16: 'Tsymlink',
  17: 'Rsymlink',
  18: 'Tmknod',
  19: 'Rmknod',
  20: 'Trename',
  21: 'Rrename',
  22: 'Treadlink',
  23: 'Rreadlink',
  24: 'Tgetattr',
  25: 'Rgetattr',
  26: 'Tsetattr',
  27: 'Rsetattr',
  30: 'Txattrwalk',
  31: 'Rxattrwalk',
  32: 'Txattrcreate',
  33: 'Rxattrcreate',
  40: 'Treaddir',
  41: 'Rreaddir',
  50: 'Tfsync',
  51: 'Rfsync',
  52: 'Tlock',
  53: 'Rlock',
  54: 'Tgetlock',
  55: 'Rgetlock',
  70: 'Tlink',
  71: 'Rlink',
  72: 'Tmkdir',
  73: 'Rmkdir',
  74: 'Trenameat',
  75: 'Rrenameat',
  76: 'Tunlinkat',
  77: 'Runlinkat',
  100: 'Tversion',
  101: 'Rversion',
  102: 'Tauth',
  103: 'Rauth',
  104: 'Tattach',
  105: 'Rattach',
  107: 'Rerror',
  108: 'Tflush',
  109: 'Rflush',
  110: 'Twalk',
  111: 'Rwalk',
  112: 'Topen',
  113: 'Ropen',
  114: 'Tcreate',
  115: 'Rcreate',
  116: 'Tread',
  117: 'Rread',
  118: 'Twrite',
  119: 'Rwrite',
  120: 'Tclunk',
  121: 'Rclunk',
  122: 'Tremove',
  123: 'Rremove',
  124: 'Tstat',
  125: 'Rstat',
  126: 'Twstat',
  127: 'Rwstat',
};

/** One line describing `m`, for NS_TRACE=9p (data fields shown by length only). */
export function describeMessage(m: Message): string {
  const parts: string[] = [`${MESSAGE_NAMES[m.type] ?? m.type} tag ${m.tag}`];
  for (const [k, v] of Object.entries(m)) {
    if (k === 'type' || k === 'tag') continue;
    parts.push(`${k} ${formatValue(v)}`);
  }
  return parts.join(' ');
}

function formatValue(v: unknown): string {
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(' ')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.entries(v)
      .map(([k, x]) => `${k} ${formatValue(x)}`)
      .join(' ')}}`;
  }
  return String(v);
}
