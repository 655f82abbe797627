/**
 * The 9P bridge's error vocabulary, in one table (STYLE.md section 4), and the one error
 * class for malformed input. Pure: imports nothing from the project.
 *
 * Every error a 9P client sees comes from `NinepErrors`: 9P2000 clients get `ename` in an
 * Rerror, 9P2000.L clients get `errno` (a Linux errno number) in an Rlerror. The strings
 * are ones Linux's v9fs maps exactly (net/9p/error.c `errmap`); a string it does not know
 * becomes ESERVERFAULT and a kernel log line. The one exception is `Einterrupted`
 * ("interrupted"), sent only for a request cancelled by Tflush, whose reply the client
 * has already given up on (flush(9P)).
 */

/** Linux errno numbers used in Rlerror (asm-generic/errno-base.h, errno.h). */
export const enum Errno {
  EPERM = 1,
  ENOENT = 2,
  EINTR = 4,
  EIO = 5,
  EBADF = 9,
  EAGAIN = 11,
  EACCES = 13,
  EBUSY = 16,
  EEXIST = 17,
  EXDEV = 18,
  ENOTDIR = 20,
  EISDIR = 21,
  EINVAL = 22,
  EMFILE = 24,
  ETXTBSY = 26,
  EFBIG = 27,
  ENOSPC = 28,
  ESPIPE = 29,
  EROFS = 30,
  ERANGE = 34,
  ENAMETOOLONG = 36,
  ENOSYS = 38,
  ENOTEMPTY = 39,
  ENODATA = 61,
  EPROTO = 71,
  EMSGSIZE = 90,
  EOPNOTSUPP = 95,
  ECONNREFUSED = 111,
}

/** One entry of the table: the Rerror text and the Rlerror errno for one condition. */
export interface NinepError {
  readonly ename: string;
  readonly errno: number;
}

function e(ename: string, errno: Errno): NinepError {
  return Object.freeze({ ename, errno });
}

/**
 * Every error the bridge sends. Names follow lib9p's `E<word>` style; `ename` values are
 * from net/9p/error.c's `errmap` (with the errno it maps them to, which is what we send
 * in Rlerror).
 */
export const NinepErrors = Object.freeze({
  Enotfound: e('file not found', Errno.ENOENT),
  Eperm: e('permission denied', Errno.EACCES),
  Enotpermitted: e('Operation not permitted', Errno.EPERM),
  Eexist: e('file already exists', Errno.EEXIST),
  Enotdir: e('not a directory', Errno.ENOTDIR),
  Eisdir: e('Is a directory', Errno.EISDIR),
  Enotempty: e('directory is not empty', Errno.ENOTEMPTY),
  Eio: e('i/o error', Errno.EIO),
  Eunknownfid: e('fid unknown or out of range', Errno.EBADF),
  Edupfid: e('fid already in use', Errno.EBADF),
  Ebadusefid: e('bad use of fid', Errno.EBADF),
  Eopen: e('file already open for I/O', Errno.ETXTBSY),
  Ebusy: e('Device or resource busy', Errno.EBUSY),
  Einuse: e('exclusive use file already open', Errno.EAGAIN),
  Ebadarg: e('Invalid argument', Errno.EINVAL),
  Emode: e('illegal mode', Errno.EINVAL),
  Ename: e('illegal name', Errno.ENAMETOOLONG),
  Etoolong: e('File name too long', Errno.ENAMETOOLONG),
  Efbig: e('File too large', Errno.EFBIG),
  Ebadoffset: e('bad offset in directory read', Errno.ESPIPE),
  Ecount: e('i/o count too large', Errno.EIO),
  Emsgsize: e('Message too long', Errno.EMSGSIZE),
  Erofs: e('read only file system', Errno.EROFS),
  Enosys: e('Function not implemented', Errno.ENOSYS),
  Enotsup: e('Operation not supported', Errno.EOPNOTSUPP),
  Enodata: e('No data available', Errno.ENODATA),
  Exdev: e('Invalid cross-device link', Errno.EXDEV),
  Eauth: e('authentication failed', Errno.ECONNREFUSED),
  // Tauth when no authentication is configured. diod's client library (npc_auth) reads
  // ENOENT as "authentication not required" and goes on to attach; Linux never sends
  // Tauth. The text is ENOENT's, so that a 9P2000 client maps it to the same errno.
  Enoauth: e('No such file or directory', Errno.ENOENT),
  Eproto: e('Protocol error', Errno.EPROTO),
  Etoomanyfids: e('Too many open files', Errno.EMFILE),
  Ewstatconv: e("wstat can't convert between files and directories", Errno.EPERM),
  Einterrupted: e('interrupted', Errno.EINTR),
});

/** The name of one table entry. */
export type NinepErrorName = keyof typeof NinepErrors;

/**
 * Malformed 9P input: a frame too short or too long, a field that runs past the end of
 * its message, bytes left over, a string that is not UTF-8, an unknown message code.
 * The connection that sent it is closed; `message` says why (for the log).
 */
export class NinepProtocolError extends Error {
  override get name(): string {
    return 'NinepProtocolError';
  }
}
