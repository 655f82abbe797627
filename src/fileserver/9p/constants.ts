/**
 * 9P constants: message codes, special tags and fids, open modes, qid types, and the
 * protocol limits. Names are verbatim from intro(5) and Plan 9's fcall.h; the 9P2000.L
 * codes and flags are from Linux's include/net/9p/9p.h. Pure: imports nothing.
 */

/**
 * Message codes, with their spec values. 9P2000 uses 100..127; 9P2000.L adds the codes
 * below 100 and reuses Tversion, Tauth, Tattach, Tflush, Twalk, Tread, Twrite, Tclunk and
 * Tremove (Tattach and Tauth gain an `n_uname` field in .L).
 */
export const enum MessageType {
  // 9P2000.L (Linux include/net/9p/9p.h)
  Tlerror = 6,
  Rlerror = 7,
  Tstatfs = 8,
  Rstatfs = 9,
  Tlopen = 12,
  Rlopen = 13,
  Tlcreate = 14,
  Rlcreate = 15,
  Tsymlink = 16,
  Rsymlink = 17,
  Tmknod = 18,
  Rmknod = 19,
  Trename = 20,
  Rrename = 21,
  Treadlink = 22,
  Rreadlink = 23,
  Tgetattr = 24,
  Rgetattr = 25,
  Tsetattr = 26,
  Rsetattr = 27,
  Txattrwalk = 30,
  Rxattrwalk = 31,
  Txattrcreate = 32,
  Rxattrcreate = 33,
  Treaddir = 40,
  Rreaddir = 41,
  Tfsync = 50,
  Rfsync = 51,
  Tlock = 52,
  Rlock = 53,
  Tgetlock = 54,
  Rgetlock = 55,
  Tlink = 70,
  Rlink = 71,
  Tmkdir = 72,
  Rmkdir = 73,
  Trenameat = 74,
  Rrenameat = 75,
  Tunlinkat = 76,
  Runlinkat = 77,
  // 9P2000 (intro(5))
  Tversion = 100,
  Rversion = 101,
  Tauth = 102,
  Rauth = 103,
  Tattach = 104,
  Rattach = 105,
  Rerror = 107,
  Tflush = 108,
  Rflush = 109,
  Twalk = 110,
  Rwalk = 111,
  Topen = 112,
  Ropen = 113,
  Tcreate = 114,
  Rcreate = 115,
  Tread = 116,
  Rread = 117,
  Twrite = 118,
  Rwrite = 119,
  Tclunk = 120,
  Rclunk = 121,
  Tremove = 122,
  Rremove = 123,
  Tstat = 124,
  Rstat = 125,
  Twstat = 126,
  Rwstat = 127,
}

/** The protocol dialects this bridge speaks, as Tversion spells them. */
export type Dialect = '9P2000' | '9P2000.u' | '9P2000.L';

/** Version strings (version(5)). */
export const VERSION9P = '9P2000';
export const VERSION9PL = '9P2000.L';
export const VERSION9PU = '9P2000.u';
/** Rversion's answer to a version the server does not speak. */
export const VERSION_UNKNOWN = 'unknown';

/** The tag of Tversion (intro(5)). */
export const NOTAG = 0xffff;
/** "No fid": the afid of an unauthenticated Tattach (intro(5)). */
export const NOFID = 0xffffffff;
/** n_uname meaning "no numeric uid" (9P2000.u/.L). */
export const NONUNAME = 0xffffffff;

/** size[4] type[1] tag[2]: the header of every message. */
export const HEADER_SIZE = 7;
/**
 * Room for the header of an Rread or Twrite: size[4] type[1] tag[2] fid[4] offset[8]
 * count[4] (fcall.h). iounit = msize - IOHDRSZ.
 */
export const IOHDRSZ = 24;
/** The most names in one Twalk (fcall.h MAXWELEM; walk(5)). */
export const MAXWELEM = 16;
/** The longest error string Plan 9 keeps (ERRMAX). */
export const ERRMAX = 128;
/** The smallest msize worth negotiating: room for IOHDRSZ and some data. */
export const MIN_MSIZE = 256;
/** A server's default largest msize: 64 KiB of data plus the I/O header. */
export const DEFAULT_MAX_MSIZE = 64 * 1024 + IOHDRSZ;
/** The largest msize a server may be configured with. */
export const MAX_MAX_MSIZE = 16 * 1024 * 1024;
/** lib9p's default msize: 8192 bytes of data plus IOHDRSZ. */
export const DEFAULT_MSIZE_LIB9P = 8192 + IOHDRSZ;

/** open(5) modes (Topen, Tcreate). */
export const OREAD = 0;
export const OWRITE = 1;
export const ORDWR = 2;
export const OEXEC = 3;
export const OTRUNC = 0x10;
export const ORCLOSE = 0x40;

/** Qid types (intro(5)). */
export const QTDIR = 0x80;
export const QTAPPEND = 0x40;
export const QTEXCL = 0x20;
export const QTAUTH = 0x08;
export const QTTMP = 0x04;
export const QTFILE = 0x00;

/** Permission flags of stat(5) mode. */
export const DMDIR = 0x80000000;
export const DMAPPEND = 0x40000000;
export const DMEXCL = 0x20000000;
export const DMAUTH = 0x08000000;
export const DMTMP = 0x04000000;
/** 9P2000.u special files (Tcreate extension): symbolic link, device, pipe, socket. */
export const DMSYMLINK = 0x02000000;
export const DMDEVICE = 0x00800000;
export const DMNAMEDPIPE = 0x00200000;
export const DMSOCKET = 0x00100000;

/** Linux open(2) flags as Tlopen/Tlcreate carry them (9P2000.L). */
export const L_O_ACCMODE = 0o3;
export const L_O_RDONLY = 0o0;
export const L_O_WRONLY = 0o1;
export const L_O_RDWR = 0o2;
export const L_O_CREAT = 0o100;
export const L_O_EXCL = 0o200;
export const L_O_TRUNC = 0o1000;
export const L_O_APPEND = 0o2000;
export const L_O_DIRECTORY = 0o200000;

/** Linux st_mode file type bits (Rgetattr mode, Tmkdir/Tlcreate mode). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** Tgetattr request_mask / Rgetattr valid bits (9P2000.L). */
export const P9_GETATTR_MODE = 0x1;
export const P9_GETATTR_NLINK = 0x2;
export const P9_GETATTR_UID = 0x4;
export const P9_GETATTR_GID = 0x8;
export const P9_GETATTR_RDEV = 0x10;
export const P9_GETATTR_ATIME = 0x20;
export const P9_GETATTR_MTIME = 0x40;
export const P9_GETATTR_CTIME = 0x80;
export const P9_GETATTR_INO = 0x100;
export const P9_GETATTR_SIZE = 0x200;
export const P9_GETATTR_BLOCKS = 0x400;
export const P9_GETATTR_BASIC = 0x7ff;

/** Tsetattr valid bits (9P2000.L). */
export const P9_SETATTR_MODE = 0x1;
export const P9_SETATTR_UID = 0x2;
export const P9_SETATTR_GID = 0x4;
export const P9_SETATTR_SIZE = 0x8;
export const P9_SETATTR_ATIME = 0x10;
export const P9_SETATTR_MTIME = 0x20;
export const P9_SETATTR_CTIME = 0x40;
export const P9_SETATTR_ATIME_SET = 0x80;
export const P9_SETATTR_MTIME_SET = 0x100;

/** Tunlinkat flags: AT_REMOVEDIR. */
export const AT_REMOVEDIR = 0x200;

/** Tlock types and Rlock status (9P2000.L). */
export const P9_LOCK_TYPE_RDLCK = 0;
export const P9_LOCK_TYPE_WRLCK = 1;
export const P9_LOCK_TYPE_UNLCK = 2;
export const P9_LOCK_SUCCESS = 0;
export const P9_LOCK_BLOCKED = 1;
export const P9_LOCK_ERROR = 2;
export const P9_LOCK_GRACE = 3;

/** Linux dirent d_type values (Rreaddir). */
export const DT_DIR = 4;
export const DT_REG = 8;

/** Rstatfs type: V9FS_MAGIC. */
export const V9FS_MAGIC = 0x01021997;
