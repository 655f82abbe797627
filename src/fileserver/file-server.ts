/**
 * The FileServer capability in plain TypeScript: schema/fileserver.capnp and the file
 * types of schema/common.capnp, one method and one field for each of theirs, so that an
 * adapter can serve any implementation over Cap'n Proto RPC and a remote FileServer can
 * implement the same interface. The 9P bridge (fileserver/9p) and the namespace serve and
 * consume only this view.
 *
 * Error model (STYLE.md section 4): expected conditions reject with an `NsError`
 * (src/errors.ts) whose code says what went wrong; an RPC adapter turns it into the
 * result's `err` arm (`Failure`). Anything else that escapes a method is a bug or an
 * infrastructure failure. The one expected condition that is *returned* rather than
 * thrown is a partial walk, because the schema's WalkResult carries the qids walked.
 *
 * Ownership (STYLE.md section 5): every `File` a method returns (attach's root, walk's
 * file, create's file) belongs to the caller, who releases it with `clunk()` (or
 * `await using`). Arguments stay the caller's: a server copies what it keeps of them
 * (a `Uint8Array` passed to `write` may be reused by the caller once the promise
 * settles).
 *
 * Concurrency: methods of one File, and of different Files, may be called concurrently.
 * Each call is atomic with respect to the others on the same server for the in-memory
 * server; a host-directory server is as atomic as the host filesystem is. A call made
 * after `clunk()` (or `remove()`) rejects with `NS_ERR_INVALID_ARGUMENT`.
 */

import { NsError } from '../errors.js';
import type { File$Client as FileClient } from '../gen/fileserver.js';

// ---------------------------------------------------------------------------------------
// Constants (common.capnp consts; intro(5), stat(5)).

/** Qid.type bit: the file is a directory (QTDIR). */
export const QTDIR = 0x80;
/** Qid.type bit: append-only file (QTAPPEND). */
export const QTAPPEND = 0x40;
/** Qid.type bit: exclusive-use file (QTEXCL). */
export const QTEXCL = 0x20;
/** Qid.type bit: authentication file (QTAUTH). */
export const QTAUTH = 0x08;
/** Qid.type bit: not backed up (QTTMP). */
export const QTTMP = 0x04;
/** Qid.type of a plain file (QTFILE). */
export const QTFILE = 0x00;

/** Stat.mode bit: directory (DMDIR). */
export const DMDIR = 0x80000000;
/** Stat.mode bit: append-only: every write goes to the end (DMAPPEND). */
export const DMAPPEND = 0x40000000;
/** Stat.mode bit: exclusive use: open by one File at a time (DMEXCL). */
export const DMEXCL = 0x20000000;
/** Stat.mode bit: not backed up (DMTMP). */
export const DMTMP = 0x04000000;
/** The permission bits of Stat.mode (owner, group, other rwx). */
export const DMPERM = 0o777;

/** At most this many names in one walk (fileserver.capnp maxWalkNames; 9P MAXWELEM). */
export const MAX_WALK_NAMES = 16;
/** At most this many bytes (UTF-8) in one name (fileserver.capnp). */
export const MAX_NAME_BYTES = 255;

/** StatChange's "don't touch" value for 32-bit fields (mode, mtime, atime): ~0. */
export const KEEP_U32 = 0xffffffff;
/** StatChange's "don't touch" value for length: ~0 (64 bits). */
export const KEEP_U64 = 0xffffffffffffffffn;

// ---------------------------------------------------------------------------------------
// Types (common.capnp).

/**
 * The server's identity for a file (intro(5)). `path` is unique within one server and
 * stable for the life of the file; `version` changes whenever the file changes. `type` is
 * the high byte of the mode (QTDIR, QTAPPEND, QTEXCL, QTTMP). A plain value: the caller
 * may keep and change it.
 */
export interface Qid {
  type: number;
  /** UInt32. */
  version: number;
  /** UInt64. */
  path: bigint;
}

/**
 * A directory entry, as stat(5) without the kernel-private type/dev fields. `mode` holds
 * the permission bits in the low 9 bits and DM* flags in the high byte; times are seconds
 * since the epoch (UInt32); `length` is 0 for directories; `name` is "/" for a root.
 * A plain value owned by whoever received it.
 */
export interface Stat {
  qid: Qid;
  mode: number;
  atime: number;
  mtime: number;
  length: bigint;
  name: string;
  uid: string;
  gid: string;
  /** Who last modified the file. */
  muid: string;
}

/**
 * The argument of wstat (common.capnp StatChange). A field that is absent, or holds 9P's
 * "don't touch" value ("" for strings, `KEEP_U32` for mode/mtime/atime, `KEEP_U64` for
 * length), leaves that attribute alone, so a bridge may pass 9P's values straight
 * through. A wstat is applied whole or not at all.
 */
export interface StatChange {
  /** Rename within the same directory. */
  name?: string;
  /** Truncate or extend (files only). */
  length?: bigint;
  /** New permission bits and DM flags; DMDIR may not change. */
  mode?: number;
  mtime?: number;
  atime?: number;
  gid?: string;
}

/** open(5) access, spelled out: OREAD, OWRITE, ORDWR, OEXEC. */
export type OpenAccess = 'read' | 'write' | 'readWrite' | 'exec';

/** open(5) mode: access plus OTRUNC and ORCLOSE (absent means false). */
export interface OpenMode {
  access: OpenAccess;
  /** OTRUNC: truncate to zero length on open (needs write permission). */
  truncate?: boolean;
  /** ORCLOSE: remove the file when this File is clunked (needs write permission on the parent). */
  removeOnClose?: boolean;
}

/**
 * The result of `File.walk`. `qids` holds one Qid per name walked, in order. When every
 * name was walked, `file` is the new File at the end (the caller owns it). Otherwise
 * `error` says why the name after the last qid failed (with no qids when the first one
 * did), and no File was made.
 */
export type WalkResult =
  | {
      qids: Qid[];
      file: File;
      /**
       * Where the walk ended, from the attach root ("/" or "/a/b"), as the server resolved
       * it: symbolic links it followed replaced by their targets, `..` applied. Undefined
       * when the server does not say. Path filters judge this (schema: File.WalkResult.path).
       */
      path?: string | undefined;
      error?: undefined;
    }
  | { qids: Qid[]; file?: undefined; path?: undefined; error: NsError };

/** The result of `File.open`: the file's qid and the largest read or write done in one piece. */
export interface OpenResult {
  qid: Qid;
  /** Bytes; never 0. Reads are clamped to it; longer writes are refused. */
  iounit: number;
}

/** The result of `File.create`: the new file, open with the requested mode (the caller owns it). */
export interface CreateResult {
  file: File;
  qid: Qid;
  iounit: number;
}

// ---------------------------------------------------------------------------------------
// Interfaces (fileserver.capnp).

/**
 * The root of one or more file trees (fileserver.capnp FileServer).
 */
export interface FileServer {
  /**
   * A new File for the root of the tree named by `aname`, as Tattach. "" (and "/") is the
   * default tree; the built-in servers also accept a relative path such as "a/b", which
   * selects that directory of the default tree as the root (it is then the "/" of the
   * returned File: `..` never climbs above it). The caller owns the File.
   *
   * Rejects with NS_ERR_NOT_FOUND (no such tree), NS_ERR_NOT_DIR, NS_ERR_PERMISSION,
   * NS_ERR_IO (the server is closed or its store failed).
   */
  attach(aname: string): Promise<Attached>;
}

/** What `FileServer.attach` gives (fileserver.capnp AttachResult). */
export interface Attached {
  root: File;
  qid: Qid;
  /**
   * Where the attach ended, as a path from the server's root ("/" for the root), as the
   * server resolved `aname`: every symbolic link it followed replaced by its target.
   * Undefined when the server does not say. Path filters judge this (schema:
   * FileServer.AttachResult.path), as they judge a walk's.
   */
  path?: string | undefined;
}

/** The attach path of a server without links: `aname`'s names, from its root (see Attached.path). */
export function attachedAt(names: readonly string[]): string {
  return `/${names.join('/')}`;
}

/**
 * One file or directory, as seen through one walk (fileserver.capnp File; 9P's fid).
 * Not open until `open` or `create` succeeds; only then may it be read or written
 * (directories: `readDir`). Every method rejects with NS_ERR_INVALID_ARGUMENT once the
 * File has been clunked or removed.
 */
export interface File {
  /**
   * Walk `names` (at most MAX_WALK_NAMES) from this file, which must be a directory
   * unless `names` is empty; an empty walk returns a clone (a new, unopened File for the
   * same file). This File stays where it is, open or not. `..` goes to the parent; `..` of
   * the root is the root. A name that cannot be walked ends the walk: the result then
   * carries the qids of the names walked so far and the reason in `error`
   * (NS_ERR_NOT_FOUND, NS_ERR_NOT_DIR, NS_ERR_PERMISSION for a directory without execute
   * permission, NS_ERR_INVALID_PATH for a malformed name, NS_ERR_TOO_LARGE for a name over
   * MAX_NAME_BYTES). A non-empty walk from a plain file fails at its first name with
   * NS_ERR_NOT_DIR.
   *
   * Rejects only with NS_ERR_TOO_LARGE for more than MAX_WALK_NAMES names (nothing is
   * walked then), and as every method does once the File is clunked.
   */
  walk(names: readonly string[]): Promise<WalkResult>;

  /**
   * Open this file for I/O with `mode` (open(5)). Rejects with NS_ERR_PERMISSION (mode
   * bits, read-only server), NS_ERR_IS_DIR (a directory opened for anything but read),
   * NS_ERR_BUSY (an exclusive-use file already open through another File),
   * NS_ERR_INVALID_ARGUMENT (this File is already open), NS_ERR_NOT_FOUND (the file was
   * removed since the walk).
   */
  open(mode: OpenMode): Promise<OpenResult>;

  /**
   * Create `name` in this directory and return it opened with `mode` (create(5)). `perm`
   * holds permission bits and DM flags; DMDIR makes a directory, which may be opened for
   * read only. The permission bits are masked by the directory's: a file gets
   * `perm & (~0o666 | dir.perm & 0o666)`, a directory `perm & (~0o777 | dir.perm & 0o777)`.
   * This File stays the directory (unlike Tcreate, which moves the fid).
   *
   * Rejects with NS_ERR_EXISTS, NS_ERR_PERMISSION (no write permission in the directory),
   * NS_ERR_NOT_DIR, NS_ERR_INVALID_PATH (empty, ".", "..", "/" or NUL in `name`),
   * NS_ERR_TOO_LARGE (name too long),
   * NS_ERR_IS_DIR (a directory with a write mode), NS_ERR_INVALID_ARGUMENT (mode bits the
   * server does not support, e.g. DMAPPEND/DMEXCL on a host directory), NS_ERR_BUSY (a
   * server limit such as its file count).
   */
  create(name: string, perm: number, mode: OpenMode): Promise<CreateResult>;

  /**
   * Up to `count` bytes at `offset` (clamped to the iounit); fewer, or none at the end of
   * the file, is not an error. The returned bytes are a snapshot the server never changes
   * afterwards, and may be shared with it (ramfs hands out views of its blocks and copies
   * a block before writing into it again): read them, keep them, send them, but do not
   * write into them. `signal` is checked before the read starts: an aborted read rejects
   * with `signal.reason` and has no effect; once started, a read completes. A signal
   * means something for the duration of the call only: do not keep it (the 9P bridge
   * reuses the signals of finished requests).
   *
   * Rejects with NS_ERR_NOT_OPEN (not open for reading), NS_ERR_IS_DIR (a directory: use
   * readDir), NS_ERR_NOT_FOUND (ramfs: the file was removed meanwhile; a host directory,
   * like POSIX, keeps serving an open file after its removal), NS_ERR_IO.
   */
  read(offset: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array>;

  /**
   * Write `data` at `offset` (append-only files always append); resolves to the number of
   * bytes written. A write beyond the end fills the gap with zeros. The server does not
   * keep `data`. `signal` is checked before the write starts (an aborted write rejects
   * with `signal.reason` and writes nothing); once started, a write completes (as for
   * read, the signal is for the duration of the call). When the promise resolves, the bytes are as durable as the server documents
   * (docs/fileserver.md).
   *
   * Rejects with NS_ERR_NOT_OPEN (not open for writing), NS_ERR_TOO_LARGE (more than the
   * iounit, or past the server's maximum file size), NS_ERR_BUSY (a server-wide limit such
   * as ramfs's total bytes), NS_ERR_NOT_FOUND (as for read), NS_ERR_IO.
   */
  write(offset: bigint, data: Uint8Array, signal?: AbortSignal): Promise<number>;

  /**
   * Optional: the File capability that serves this File's bytes exactly as this File
   * would (same data, same errors, every check of this File's own already passed for
   * `forWrite`), when there is one — so that a server of this File can pass reads (and
   * writes) straight to it instead of through this object. Undefined: use read/write.
   */
  bytesCapability?(forWrite: boolean): FileClient | undefined;

  /**
   * Optional: the File capability whose Stat this File's is but for the qid, with the
   * map from its qid to this File's — so that a server of this File copies that Stat as
   * it comes and maps its qid, instead of decoding it into a Stat and encoding it again
   * (a namespace's File inside a member). Undefined: use stat.
   */
  statCapability?(): { file: FileClient; qid: (q: Qid) => Qid } | undefined;

  /**
   * Optional: false when this File's reads never wait on anything outside the server
   * (data still to arrive, a peer): a ram or host file, whose read completes as soon as
   * the server can do it. Served over RPC, such a read is given no signal: the caller
   * that cancels has its answer at once (the connection answers `canceled`), and a read
   * has nothing to undo, while making the call's AbortSignal (an EventTarget in Node)
   * cost a 64 KiB read more CPU than anything else the server does for it but the copy
   * (BENCHMARKS.md, Namespace.walk File). Writes are given their signal whatever this
   * says (a write cancelled before it starts writes nothing). Undefined means a read may
   * wait (a hub channel's, a remote file's), and gets the signal that cancels it.
   */
  readonly waits?: boolean;

  /**
   * Directory entries, starting `offset` entries in, at most `count` of them; an empty
   * list means the end. Reading at offset 0 takes a fresh snapshot of the directory's
   * names; later offsets page through that snapshot, so entries neither repeat nor go
   * missing while a listing is read (an entry removed meanwhile is skipped). The
   * directory must be open for reading (NS_ERR_NOT_OPEN otherwise); NS_ERR_NOT_DIR for a
   * file.
   */
  readDir(offset: number, count: number): Promise<Stat[]>;

  /** The file's Stat. Rejects with NS_ERR_NOT_FOUND if it was removed since the walk. */
  stat(): Promise<Stat>;

  /**
   * Change metadata (wstat(5)): all of it or none. Rejects with NS_ERR_EXISTS (renaming
   * onto a name that is taken), NS_ERR_PERMISSION (read-only server; renaming or changing
   * the root), NS_ERR_INVALID_ARGUMENT (changing DMDIR, unknown mode bits), NS_ERR_IS_DIR
   * (a length for a directory), NS_ERR_INVALID_PATH (a malformed new name),
   * NS_ERR_TOO_LARGE.
   */
  wstat(change: StatChange): Promise<void>;

  /**
   * Remove the file (remove(5)) and clunk this File, whether or not the remove succeeded.
   * Rejects with NS_ERR_NOT_EMPTY (a non-empty directory), NS_ERR_PERMISSION (no write
   * permission in the parent, the root, a read-only server), NS_ERR_NOT_FOUND.
   */
  remove(): Promise<void>;

  /**
   * Forget this File now, closing it and, if it was opened with `removeOnClose`, removing
   * the file. Never rejects; calling it again does nothing. Pending calls on this File
   * finish first or fail; later calls reject.
   */
  clunk(): Promise<void>;

  /** Same as `clunk()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Helpers shared by servers.

/**
 * A name or path as every message quotes it: in single quotes, as rc and namespace(6)
 * text do ('my file', a quote inside doubled), so that names with spaces read plainly.
 */
export function quote(path: string): string {
  return `'${path.replaceAll("'", "''")}'`;
}

/**
 * The reason `name` cannot name a directory entry, or undefined if it can: NS_ERR_INVALID_PATH
 * for "", ".", "..", or a name holding "/" or NUL; NS_ERR_TOO_LARGE for more than
 * MAX_NAME_BYTES bytes of UTF-8. Pure.
 */
export function nameError(name: string): NsError | undefined {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    return new NsError('NS_ERR_INVALID_PATH', `invalid file name ${JSON.stringify(name)}`);
  }
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
    return new NsError('NS_ERR_TOO_LARGE', `file name longer than ${MAX_NAME_BYTES} bytes`);
  }
  return undefined;
}

/** The Qid.type bits for a Stat.mode: its high byte (stat(5)). Pure. */
export function qidTypeOf(mode: number): number {
  return (mode >>> 24) & 0xff;
}

/** Whether a StatChange field holds a value to apply (not absent, not 9P's "don't touch"). */
export function changes<T extends string | number | bigint>(value: T | undefined): value is T {
  return value !== undefined && value !== '' && value !== KEEP_U32 && value !== KEEP_U64;
}
