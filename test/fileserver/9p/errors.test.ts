import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { NsError, type NsErrorCode } from '../../../src/errors.js';
import { ninepErrorOf } from '../../../src/fileserver/9p/bridge.js';
import { NinepErrors } from '../../../src/fileserver/9p/errors.js';

/**
 * The strings Linux's v9fs maps to an errno, with that errno: `errmap` in the kernel's
 * net/9p/error.c (formerly fs/9p/error.c), copied as data. Any other Rerror text becomes
 * ESERVERFAULT plus a "server reported unknown error" kernel log line.
 */
const LINUX_ERRMAP: Readonly<Record<string, number>> = {
  'Operation not permitted': 1,
  'wstat prohibited': 1,
  'No such file or directory': 2,
  'directory entry not found': 2,
  'file not found': 2,
  'Interrupted system call': 4,
  'Input/output error': 5,
  'No such device or address': 6,
  'Argument list too long': 7,
  'Bad file descriptor': 9,
  'Resource temporarily unavailable': 11,
  'Cannot allocate memory': 12,
  'Permission denied': 13,
  'Bad address': 14,
  'Block device required': 15,
  'Device or resource busy': 16,
  'File exists': 17,
  'Invalid cross-device link': 18,
  'No such device': 19,
  'Not a directory': 20,
  'Is a directory': 21,
  'Invalid argument': 22,
  'Too many open files in system': 23,
  'Too many open files': 24,
  'Text file busy': 26,
  'File too large': 27,
  'No space left on device': 28,
  'Illegal seek': 29,
  'Read-only file system': 30,
  'Too many links': 31,
  'Broken pipe': 32,
  'Numerical argument out of domain': 33,
  'Numerical result out of range': 34,
  'Resource deadlock avoided': 35,
  'File name too long': 36,
  'No locks available': 37,
  'Function not implemented': 38,
  'Directory not empty': 39,
  'Too many levels of symbolic links': 40,
  'No message of desired type': 42,
  'Identifier removed': 43,
  'No data available': 61,
  'Machine is not on the network': 64,
  'Package not installed': 65,
  'Object is remote': 66,
  'Link has been severed': 67,
  'Communication error on send': 70,
  'Protocol error': 71,
  'Bad message': 74,
  'File descriptor in bad state': 77,
  'Streams pipe error': 86,
  'Too many users': 87,
  'Socket operation on non-socket': 88,
  'Message too long': 90,
  'Protocol not available': 92,
  'Protocol not supported': 93,
  'Socket type not supported': 94,
  'Operation not supported': 95,
  'Protocol family not supported': 96,
  'Network is down': 100,
  'Network is unreachable': 101,
  'Network dropped connection on reset': 102,
  'Software caused connection abort': 103,
  'Connection reset by peer': 104,
  'No buffer space available': 105,
  'Transport endpoint is already connected': 106,
  'Transport endpoint is not connected': 107,
  'Cannot send after transport endpoint shutdown': 108,
  'Connection timed out': 110,
  'Connection refused': 111,
  'Host is down': 112,
  'No route to host': 113,
  'Operation already in progress': 114,
  'Operation now in progress': 115,
  'Is a named type file': 120,
  'Remote I/O error': 121,
  'Disk quota exceeded': 122,
  // errors from fossil, vacfs, and u9fs
  'fid unknown or out of range': 9,
  'permission denied': 13,
  'file does not exist': 2,
  'authentication failed': 111,
  'bad offset in directory read': 29,
  'bad use of fid': 9,
  "wstat can't convert between files and directories": 1,
  'directory is not empty': 39,
  'file exists': 17,
  'file already exists': 17,
  'file or directory already exists': 17,
  'fid already in use': 9,
  'file in use': 26,
  'i/o error': 5,
  'file already open for I/O': 26,
  'illegal mode': 22,
  'illegal name': 36,
  'not a directory': 20,
  'not a member of proposed group': 1,
  'not owner': 13,
  'only owner can change group in wstat': 13,
  'read only file system': 30,
  'no access to special file': 1,
  'i/o count too large': 5,
  'unknown group': 22,
  'unknown user': 22,
  'bogus wstat buffer': 71,
  'exclusive use file already open': 11,
  'corrupted directory entry': 5,
  'corrupted file entry': 5,
  'corrupted block label': 5,
  'corrupted meta data': 5,
  'illegal offset': 22,
  'illegal path element': 2,
  'root of file system is corrupted': 5,
  'corrupted super block': 5,
  'protocol botch': 71,
  'file system is full': 28,
  'file is in use': 11,
  'directory entry is not allocated': 2,
  'file is read only': 30,
  'file has been removed': 43,
  'only support truncation to zero length': 1,
  'cannot remove root': 1,
  'file too big': 27,
  'venti i/o error': 5,
};

test('every Rerror text is one Linux v9fs maps exactly (net/9p/error.c), except "interrupted"', () => {
  for (const [name, e] of Object.entries(NinepErrors)) {
    if (name === 'Einterrupted') {
      // flush(9P): sent only for a request the client has flushed and no longer waits for.
      assert.equal(e.ename, 'interrupted');
      continue;
    }
    assert.ok(
      Object.hasOwn(LINUX_ERRMAP, e.ename),
      `${name}: ${JSON.stringify(e.ename)} is not in Linux's errmap`,
    );
  }
});

test('every Rlerror errno is the one Linux maps the same Rerror text to', () => {
  for (const [name, e] of Object.entries(NinepErrors)) {
    if (name === 'Einterrupted') {
      assert.equal(e.errno, 4); // EINTR
      continue;
    }
    assert.equal(
      e.errno,
      LINUX_ERRMAP[e.ename],
      `${name}: errno ${e.errno} but Linux maps ${JSON.stringify(e.ename)} to ${LINUX_ERRMAP[e.ename]}`,
    );
  }
});

test("docs/errors.md's 9P column is exactly what the bridge sends for each NsError code", () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = doc.split('\n').filter((l) => l.startsWith('| `NS_ERR_'));
  assert.ok(rows.length > 10);
  for (const row of rows) {
    const cells = row.split('|').map((c) => c.trim());
    const code = cells[1]!.replace(/`/g, '') as NsErrorCode;
    const sent = ninepErrorOf(new NsError(code, 'x'), false);
    assert.equal(cells[3], sent?.ename, `docs/errors.md row ${code}`);
  }
});
