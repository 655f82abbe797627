import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeDirents,
  decodeMessage,
  decodeStats,
  encodeMessage,
} from '../../../src/fileserver/9p/codec.js';
import { NinepFramer } from '../../../src/fileserver/9p/framer.js';
import {
  DMDIR,
  MessageType,
  NOFID,
  NOTAG,
  OREAD,
  ORDWR,
  OWRITE,
  QTDIR,
} from '../../../src/fileserver/9p/constants.js';
import { newDirFileServer } from '../../../src/fileserver/dir-file-server.js';
import { NinepServer } from '../../../src/fileserver/9p/server.js';
import { NinepClient, NinepClientError } from '../../support/ninep-client.js';
import { readGate, startServer } from './harness.js';

const ENOENT = 2;
const EBADF = 9;

/** Creates `name` in the directory at `dirFid` with `data`, via a clone (9P2000.L). */
async function makeFile(
  c: NinepClient,
  root: number,
  name: string,
  data: Uint8Array,
): Promise<void> {
  const f = await c.walk(root, []);
  await c.call(
    { type: MessageType.Tlcreate, fid: f, name, flags: 2, mode: 0o644, gid: 0 },
    MessageType.Rlcreate,
  );
  if (data.length > 0) await c.writeAll(f, data, 8192);
  await c.clunk(f);
}

test('Tversion negotiates msize down to the server maximum and names the dialect (version(5))', async (t) => {
  const h = await startServer(t, { maxMsize: 32768 });
  const c = await NinepClient.connect(h.address);
  assert.deepEqual(await c.version(1 << 20, '9P2000.L'), {
    type: MessageType.Rversion,
    tag: NOTAG,
    msize: 32768,
    version: '9P2000.L',
  });
  assert.equal((await c.version(8192, '9P2000')).msize, 8192);
  assert.equal((await c.version(8192, '9P2000.u')).version, '9P2000.u');
  assert.equal(
    (await c.version(8192, '9P2000.x')).version,
    '9P2000',
    'a dialect we do not speak is answered with the base protocol',
  );
  assert.equal((await c.version(8192, '9P1999')).version, 'unknown');
  // After "unknown" nothing is negotiated: requests are refused until a Tversion succeeds.
  const r = await c.rpc({ type: MessageType.Tattach, fid: 1, afid: NOFID, uname: 'u', aname: '' });
  assert.equal(r.type, MessageType.Rerror);
  await c.close();
});

test('Tversion resets the session: fids are clunked and outstanding requests aborted (version(5))', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  await makeFile(c, fid, 'f', Buffer.from('data'));
  const f = await c.walk(fid, ['f']);
  await c.open(f, OREAD);
  const gate = readGate(h.fs);
  const held = gate.waiting();
  const read = c.start({ type: MessageType.Tread, fid: f, offset: 0n, count: 4 });
  await held;
  // The reply to the read belongs to the old session and never arrives; the Rversion does.
  await c.version(8192 + 24, '9P2000.L');
  gate.held[0]!.release();
  h.fs.gate = null;
  const walk = await c.rpc({ type: MessageType.Twalk, fid, newfid: 50, wname: [] });
  assert.deepEqual(walk, { type: MessageType.Rlerror, tag: walk.tag, ecode: EBADF });
  // The fid numbers are free again.
  const again = await c.call(
    { type: MessageType.Tattach, fid, afid: NOFID, uname: 'u', aname: '', n_uname: 0 },
    MessageType.Rattach,
  );
  assert.equal(again.qid.type, QTDIR);
  let settled = false;
  read.reply.then(
    () => (settled = true),
    () => undefined,
  );
  await c.clunk(fid);
  assert.equal(settled, false, 'the aborted read was answered after Tversion');
  assert.equal(h.server.fidCount, 0);
});

test('Tflush for an unknown oldtag gets Rflush at once, never Rerror (flush(9P))', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000');
  const r = await c.rpc({ type: MessageType.Tflush, oldtag: 1234 });
  assert.equal(r.type, MessageType.Rflush);
});

test('Tflush of a request in flight: the request answers "interrupted" first, then Rflush (flush(9P))', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000');
  const { fid } = await c.attach();
  const f = await c.walk(fid, []);
  await c.call(
    { type: MessageType.Tcreate, fid: f, name: 'x', perm: 0o644, mode: ORDWR },
    MessageType.Rcreate,
  );
  const gate = readGate(h.fs);
  const held = gate.waiting();
  const order: string[] = [];
  const read = c.start({ type: MessageType.Tread, fid: f, offset: 0n, count: 10 });
  void read.reply.then((m) =>
    order.push(m.type === MessageType.Rerror ? `Rerror ${m.ename}` : `type ${m.type}`),
  );
  await held;
  const flush1 = c
    .rpc({ type: MessageType.Tflush, oldtag: read.tag })
    .then((m) => order.push(`flush1 ${m.type}`));
  const flush2 = c
    .rpc({ type: MessageType.Tflush, oldtag: read.tag })
    .then((m) => order.push(`flush2 ${m.type}`));
  await Promise.all([read.reply, flush1, flush2]);
  assert.deepEqual(order, [
    'Rerror interrupted',
    `flush1 ${MessageType.Rflush}`,
    `flush2 ${MessageType.Rflush}`,
  ]);
  h.fs.gate = null;
  await c.clunk(f);
  await c.clunk(fid);
});

test('signals of finished requests are reused only when nobody listens to them: a flush never reaches an earlier read', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000');
  const { fid } = await c.attach();
  const f = await c.walk(fid, []);
  await c.call(
    { type: MessageType.Tcreate, fid: f, name: 'x', perm: 0o644, mode: ORDWR },
    MessageType.Rcreate,
  );
  const seen: AbortSignal[] = [];
  let keptFired = 0;
  // Read 1 leaves a listener on its signal (a backend that should not, but might);
  // read 2 leaves none; read 3 is held and flushed.
  let n = 0;
  const gate = readGate(h.fs);
  const inner = h.fs.gate!;
  h.fs.gate = (signal) => {
    seen.push(signal!);
    n++;
    if (n === 1) signal!.addEventListener('abort', () => keptFired++);
    return n === 3 ? inner(signal) : Promise.resolve();
  };
  await c.call({ type: MessageType.Tread, fid: f, offset: 0n, count: 10 }, MessageType.Rread);
  await c.call({ type: MessageType.Tread, fid: f, offset: 0n, count: 10 }, MessageType.Rread);
  const held = gate.waiting();
  const read = c.start({ type: MessageType.Tread, fid: f, offset: 0n, count: 10 });
  await held;
  await c.rpc({ type: MessageType.Tflush, oldtag: read.tag });
  const r = await read.reply;
  assert.equal(r.type, MessageType.Rerror, 'the flushed read was interrupted');
  assert.equal(keptFired, 0, "read 1's listener never saw read 3's flush");
  assert.notEqual(seen[2], seen[0], 'a signal with a listener is not reused');
  assert.equal(seen[2], seen[1], 'a signal nobody listens to is reused');
  assert.equal(seen[0]!.aborted, false);
  h.fs.gate = null;
  await c.clunk(f);
  await c.clunk(fid);
});

test('Tflush of a request that completes anyway: its reply comes before Rflush (flush(9P))', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  // Sent back to back: the Tgetattr is (most likely) in flight when the Tflush arrives,
  // and the backend finishes it regardless (stat takes no signal). Either way the
  // original's reply comes first.
  const order: number[] = [];
  const p1 = c
    .rpc({ type: MessageType.Tgetattr, fid, request_mask: 0x7ffn }, 7)
    .then((m) => order.push(m.type));
  const p2 = c.rpc({ type: MessageType.Tflush, oldtag: 7 }, 8).then((m) => order.push(m.type));
  await Promise.all([p1, p2]);
  assert.deepEqual(order, [MessageType.Rgetattr, MessageType.Rflush]);
  await c.clunk(fid);
});

test('several requests are served concurrently: held reads answer in the order they are released', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  await makeFile(c, fid, 'f', Buffer.from('0123456789'));
  const f = await c.walk(fid, ['f']);
  await c.open(f, OREAD);
  const gate = readGate(h.fs);
  const n = 8;
  const arrived: number[] = [];
  const replies: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const held = gate.waiting();
    const { reply } = c.start({ type: MessageType.Tread, fid: f, offset: BigInt(i), count: 1 });
    replies.push(
      reply.then((m) => arrived.push(m.type === MessageType.Rread ? m.data[0]! - 0x30 : -1)),
    );
    await held;
  }
  // Also a request that does not wait on the gate completes while the reads are held.
  await c.call({ type: MessageType.Tgetattr, fid, request_mask: 0x7ffn }, MessageType.Rgetattr);
  for (let i = n - 1; i >= 0; i--) gate.held[i]!.release();
  await Promise.all(replies);
  assert.deepEqual(arrived, [7, 6, 5, 4, 3, 2, 1, 0]);
  h.fs.gate = null;
  await c.clunk(f);
  await c.clunk(fid);
});

test('fid protocol errors are answered without calling the backend (lib9p s<op>)', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000');
  const { fid } = await c.attach();
  const f = await c.walk(fid, []);
  await c.open(f, OREAD);
  const before = h.fs.calls;
  const expect = async (m: Parameters<NinepClient['rpc']>[0], ename: string): Promise<void> => {
    const r = await c.rpc(m);
    assert.deepEqual(
      r.type === MessageType.Rerror ? r.ename : r,
      ename,
      JSON.stringify(m, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    );
  };
  await expect(
    { type: MessageType.Twalk, fid: 999, newfid: 1000, wname: [] },
    'fid unknown or out of range',
  );
  await expect({ type: MessageType.Tclunk, fid: 999 }, 'fid unknown or out of range');
  await expect(
    { type: MessageType.Tattach, fid, afid: NOFID, uname: 'u', aname: '' },
    'fid already in use',
  );
  await expect({ type: MessageType.Twalk, fid, newfid: f, wname: [] }, 'fid already in use');
  await expect({ type: MessageType.Twalk, fid: f, newfid: 77, wname: [] }, 'bad use of fid'); // walk(5): fid must not be open
  await expect({ type: MessageType.Topen, fid: f, mode: OREAD }, 'file already open for I/O');
  await expect({ type: MessageType.Tread, fid, offset: 0n, count: 1 }, 'bad use of fid'); // not open
  await expect(
    { type: MessageType.Twrite, fid: f, offset: 0n, data: Buffer.from('x') },
    'bad use of fid',
  ); // open for reading
  await expect(
    { type: MessageType.Tauth, afid: 5, uname: 'u', aname: '' },
    'No such file or directory',
  ); // no auth configured
  await expect(
    { type: MessageType.Tattach, fid: 6, afid: 5, uname: 'u', aname: '' },
    'fid unknown or out of range',
  );
  assert.equal(h.fs.calls, before, 'the backend was called for a protocol violation');
  await c.clunk(f);
  await c.clunk(fid);
});

test('walks: partial walks report how far they got; the first name failing is an error (walk(5))', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000');
  const { fid } = await c.attach();
  const d = await c.walk(fid, []);
  await c.call(
    { type: MessageType.Tcreate, fid: d, name: 'a', perm: (DMDIR | 0o755) >>> 0, mode: OREAD },
    MessageType.Rcreate,
  );
  await c.clunk(d);
  const partial = await c.call(
    { type: MessageType.Twalk, fid, newfid: 10, wname: ['a', 'nope', 'x'] },
    MessageType.Rwalk,
  );
  assert.equal(partial.wqid.length, 1);
  assert.equal(partial.wqid[0]!.type, QTDIR);
  // newfid was not created by a partial walk.
  assert.equal((await c.rpc({ type: MessageType.Tclunk, fid: 10 })).type, MessageType.Rerror);
  const none = await c.rpc({ type: MessageType.Twalk, fid, newfid: 11, wname: ['nope'] });
  assert.deepEqual(none.type === MessageType.Rerror && none.ename, 'file not found');
  const tooMany = await c.rpc({
    type: MessageType.Twalk,
    fid,
    newfid: 12,
    wname: Array<string>(17).fill('a'),
  });
  assert.equal(tooMany.type, MessageType.Rerror);
  // Walking to newfid == fid moves the fid.
  const same = await c.walk(fid, []);
  await c.call(
    { type: MessageType.Twalk, fid: same, newfid: same, wname: ['a', '..', 'a'] },
    MessageType.Rwalk,
  );
  assert.equal(
    (await c.call({ type: MessageType.Tstat, fid: same }, MessageType.Rstat)).stat.name,
    'a',
  );
  await c.clunk(same);
  await c.clunk(fid);
});

test('9P2000: create, write, read back, stat, wstat rename and truncate, directory read, remove', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000', 8192 + 24);
  const { fid } = await c.attach();
  const f = await c.walk(fid, []);
  const created = await c.call(
    { type: MessageType.Tcreate, fid: f, name: 'file', perm: 0o644, mode: ORDWR },
    MessageType.Rcreate,
  );
  assert.ok(created.iounit > 0 && created.iounit <= 8192);
  const data = Buffer.alloc(100_000, 7);
  data.write('hello', 50_000);
  await c.writeAll(f, data, created.iounit, 4);
  assert.ok((await c.readAll(f, data.length, created.iounit, 4)).equals(data));
  const st = (await c.call({ type: MessageType.Tstat, fid: f }, MessageType.Rstat)).stat;
  assert.equal(st.length, BigInt(data.length));
  assert.equal(st.name, 'file');
  const keep = {
    type: 0xffff,
    dev: 0xffffffff,
    qid: { type: 0xff, version: 0xffffffff, path: 0xffffffffffffffffn },
    mode: 0xffffffff,
    atime: 0xffffffff,
    mtime: 0xffffffff,
    length: 0xffffffffffffffffn,
    name: '',
    uid: '',
    gid: '',
    muid: '',
  };
  await c.call(
    { type: MessageType.Twstat, fid: f, stat: { ...keep, name: 'renamed', length: 5n } },
    MessageType.Rwstat,
  );
  const st2 = (await c.call({ type: MessageType.Tstat, fid: f }, MessageType.Rstat)).stat;
  assert.deepEqual([st2.name, st2.length], ['renamed', 5n]);
  assert.notEqual(st2.qid.version, st.qid.version, 'qid.version changes with the file');
  const bad = await c.rpc({
    type: MessageType.Twstat,
    fid: f,
    stat: { ...keep, mode: (DMDIR | 0o755) >>> 0 },
  });
  assert.deepEqual(
    bad.type === MessageType.Rerror && bad.ename,
    "wstat can't convert between files and directories",
  );
  // 30 more files, then read the directory in small pieces.
  for (let i = 0; i < 30; i++) {
    const g = await c.walk(fid, []);
    await c.call(
      { type: MessageType.Tcreate, fid: g, name: `f${i}`, perm: 0o644, mode: OWRITE },
      MessageType.Rcreate,
    );
    await c.clunk(g);
  }
  const d = await c.walk(fid, []);
  await c.open(d, OREAD);
  const names: string[] = [];
  let offset = 0n;
  for (;;) {
    const chunk = await c.read(d, offset, 200);
    if (chunk.length === 0) break;
    for (const s of decodeStats(chunk)) names.push(s.name);
    offset += BigInt(chunk.length);
  }
  assert.equal(names.length, 31);
  assert.ok(names.includes('renamed') && names.includes('f29'));
  const badOffset = await c.rpc({ type: MessageType.Tread, fid: d, offset: 3n, count: 200 });
  assert.deepEqual(
    badOffset.type === MessageType.Rerror && badOffset.ename,
    'bad offset in directory read',
  );
  await c.clunk(d);
  await c.call({ type: MessageType.Tremove, fid: f }, MessageType.Rremove);
  // remove(5): the fid is gone even though... it succeeded here; and a clunk of it fails.
  assert.equal((await c.rpc({ type: MessageType.Tclunk, fid: f })).type, MessageType.Rerror);
  const gone = await c.rpc({ type: MessageType.Twalk, fid, newfid: 99, wname: ['renamed'] });
  assert.deepEqual(gone.type === MessageType.Rerror && gone.ename, 'file not found');
  await c.clunk(fid);
});

test('9P2000.L: mkdir, lcreate, getattr, setattr, readdir paging, renameat, unlinkat, statfs, errno replies', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L', 4096 + 24);
  const { fid } = await c.attach();
  const mk = await c.call(
    { type: MessageType.Tmkdir, dfid: fid, name: 'd', mode: 0o755, gid: 0 },
    MessageType.Rmkdir,
  );
  assert.equal(mk.qid.type, QTDIR);
  const d = await c.walk(fid, ['d']);
  for (let i = 0; i < 200; i++)
    await makeFile(c, d, `file-with-a-longish-name-${i}`, Buffer.from(String(i)));
  const attr = await c.call(
    { type: MessageType.Tgetattr, fid: d, request_mask: 0x7ffn },
    MessageType.Rgetattr,
  );
  assert.equal(attr.mode & 0o170000, 0o040000);
  assert.equal(attr.uid, 1000, 'names that are not numbers map to the attaching n_uname');
  const dd = await c.walk(d, []);
  await c.open(dd, OREAD);
  const seen: string[] = [];
  let offset = 0n;
  for (;;) {
    const r = await c.call(
      { type: MessageType.Treaddir, fid: dd, offset, count: 1000 },
      MessageType.Rreaddir,
    );
    const ents = decodeDirents(r.data);
    if (ents.length === 0) break;
    seen.push(...ents.map((e) => e.name));
    offset = ents[ents.length - 1]!.offset;
  }
  assert.equal(seen.length, 200);
  assert.equal(new Set(seen).size, 200);
  await c.clunk(dd);
  await c.call(
    {
      type: MessageType.Trenameat,
      olddirfid: d,
      oldname: 'file-with-a-longish-name-1',
      newdirfid: d,
      newname: 'one',
    },
    MessageType.Rrenameat,
  );
  // POSIX rename replaces an existing target.
  await c.call(
    {
      type: MessageType.Trenameat,
      olddirfid: d,
      oldname: 'one',
      newdirfid: d,
      newname: 'file-with-a-longish-name-2',
    },
    MessageType.Rrenameat,
  );
  const f2 = await c.walk(d, ['file-with-a-longish-name-2']);
  await c.open(f2, OREAD);
  assert.equal(Buffer.from(await c.read(f2, 0n, 10)).toString(), '1');
  await c.clunk(f2);
  const cross = await c.rpc({
    type: MessageType.Trenameat,
    olddirfid: d,
    oldname: 'one',
    newdirfid: fid,
    newname: 'x',
  });
  assert.equal(cross.type === MessageType.Rlerror && cross.ecode, 18, 'EXDEV across directories');
  const f3 = await c.walk(d, ['file-with-a-longish-name-3']);
  await c.call(
    {
      type: MessageType.Tsetattr,
      fid: f3,
      valid: 0x8 | 0x1,
      mode: 0o600,
      uid: 0,
      gid: 0,
      size: 0n,
      atime_sec: 0n,
      atime_nsec: 0n,
      mtime_sec: 0n,
      mtime_nsec: 0n,
    },
    MessageType.Rsetattr,
  );
  const a3 = await c.call(
    { type: MessageType.Tgetattr, fid: f3, request_mask: 0x7ffn },
    MessageType.Rgetattr,
  );
  assert.deepEqual([a3.mode, a3.size], [0o100600, 0n]);
  await c.clunk(f3);
  const notEmpty = await c.rpc({
    type: MessageType.Tunlinkat,
    dirfd: fid,
    name: 'd',
    flags: 0x200,
  });
  assert.equal(notEmpty.type === MessageType.Rlerror && notEmpty.ecode, 39, 'ENOTEMPTY');
  const isDir = await c.rpc({ type: MessageType.Tunlinkat, dirfd: fid, name: 'd', flags: 0 });
  assert.equal(isDir.type === MessageType.Rlerror && isDir.ecode, 21, 'EISDIR');
  await c.call(
    { type: MessageType.Tunlinkat, dirfd: d, name: 'file-with-a-longish-name-3', flags: 0 },
    MessageType.Runlinkat,
  );
  const missing = await c.rpc({
    type: MessageType.Twalk,
    fid: d,
    newfid: 500,
    wname: ['file-with-a-longish-name-3'],
  });
  assert.equal(missing.type === MessageType.Rlerror && missing.ecode, ENOENT);
  const fs = await c.call({ type: MessageType.Tstatfs, fid }, MessageType.Rstatfs);
  assert.equal(fs.namelen, 255);
  const xattr = await c.rpc({ type: MessageType.Txattrwalk, fid, newfid: 600, name: 'user.x' });
  assert.equal(xattr.type === MessageType.Rlerror && xattr.ecode, 95, 'EOPNOTSUPP');
  const lock = await c.call(
    {
      type: MessageType.Tlock,
      fid: d,
      locktype: 1,
      flags: 0,
      start: 0n,
      length: 0n,
      proc_id: 1,
      client_id: 'c',
    },
    MessageType.Rlock,
  );
  assert.equal(lock.status, 0);
  await c.clunk(d);
  await c.clunk(fid);
});

test('the attach name selects a subtree: ".." never climbs above it', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  await c.call(
    { type: MessageType.Tmkdir, dfid: fid, name: 'sub', mode: 0o755, gid: 0 },
    MessageType.Rmkdir,
  );
  const sub = await c.walk(fid, ['sub']);
  await makeFile(c, sub, 'inside', Buffer.from('x'));
  await c.clunk(sub);
  const root2 = await c.attach('sub');
  const up = await c.walk(root2.fid, ['..', '..', 'inside']);
  await c.clunk(up);
  const missing = await c.rpc({
    type: MessageType.Tattach,
    fid: 700,
    afid: NOFID,
    uname: 'u',
    aname: 'nope',
    n_uname: 0,
  });
  assert.equal(missing.type === MessageType.Rlerror && missing.ecode, ENOENT);
  await c.clunk(root2.fid);
  await c.clunk(fid);
});

test('token authentication through the afid: no token, a wrong token, the right token', async (t) => {
  const h = await startServer(t, { token: 's3cret' });
  const c = await h.client('9P2000');
  const noAfid = await c.rpc({
    type: MessageType.Tattach,
    fid: 1,
    afid: NOFID,
    uname: 'u',
    aname: '',
  });
  assert.deepEqual(noAfid.type === MessageType.Rerror && noAfid.ename, 'authentication failed');
  const auth = await c.call(
    { type: MessageType.Tauth, afid: 2, uname: 'u', aname: '' },
    MessageType.Rauth,
  );
  assert.equal(auth.aqid.type, 0x08);
  await c.write(2, 0n, Buffer.from('wrong'));
  const wrong = await c.rpc({ type: MessageType.Tattach, fid: 1, afid: 2, uname: 'u', aname: '' });
  assert.deepEqual(wrong.type === MessageType.Rerror && wrong.ename, 'authentication failed');
  await c.clunk(2);
  await c.call({ type: MessageType.Tauth, afid: 3, uname: 'u', aname: '' }, MessageType.Rauth);
  await c.write(3, 0n, Buffer.from('s3c'));
  await c.write(3, 3n, Buffer.from('ret'));
  await c.call(
    { type: MessageType.Tattach, fid: 1, afid: 3, uname: 'u', aname: '' },
    MessageType.Rattach,
  );
  await c.clunk(3);
  await c.clunk(1);
});

test('a read-only server refuses every change with "read only file system"', async (t) => {
  const h = await startServer(t, { readOnly: true });
  const c = await h.client('9P2000');
  const { fid } = await c.attach();
  const f = await c.walk(fid, []);
  for (const m of [
    { type: MessageType.Tcreate, fid: f, name: 'x', perm: 0o644, mode: OWRITE } as const,
    { type: MessageType.Topen, fid: f, mode: OWRITE } as const,
    { type: MessageType.Topen, fid: f, mode: OREAD | 0x10 } as const,
  ]) {
    const r = await c.rpc(m);
    assert.deepEqual(r.type === MessageType.Rerror && r.ename, 'read only file system');
  }
  await c.open(f, OREAD);
  await c.clunk(f);
  await c.clunk(fid);
});

test('fids per connection are limited (maxFids): "Too many open files"', async (t) => {
  const h = await startServer(t, { maxFids: 4 });
  const c = await h.client('9P2000');
  const { fid } = await c.attach();
  const fids = [await c.walk(fid, []), await c.walk(fid, []), await c.walk(fid, [])];
  await assert.rejects(c.walk(fid, []), (e: NinepClientError) => e.ename === 'Too many open files');
  for (const f of fids) await c.clunk(f);
  await c.clunk(fid);
});

test('a duplicate tag in flight closes that connection with a logged reason; another client keeps working', async (t) => {
  const h = await startServer(t);
  const other = await h.client('9P2000.L');
  const { fid } = await other.attach();
  const c = await h.client('9P2000.L');
  const root = await c.attach();
  const gate = readGate(h.fs);
  await makeFile(other, fid, 'f', Buffer.from('x'));
  const f = await c.walk(root.fid, ['f']);
  await c.open(f, OREAD);
  const held = gate.waiting();
  const first = c.rpc({ type: MessageType.Tread, fid: f, offset: 0n, count: 1 }, 42);
  await held;
  c.sendRaw(encodeMessage({ type: MessageType.Tclunk, tag: 42, fid: f }));
  await assert.rejects(first);
  await c.closedP();
  assert.ok(
    h.logs.some((l) => l.includes('tag 42 reused')),
    h.logs.join('\n'),
  );
  h.fs.gate = null;
  gate.held[0]?.release();
  const g = await other.call(
    { type: MessageType.Tgetattr, fid, request_mask: 0x7ffn },
    MessageType.Rgetattr,
  );
  assert.equal(g.qid.type, QTDIR);
  await other.clunk(fid);
});

test('a message over msize closes the connection before its body arrives', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000', 8192);
  const header = Buffer.alloc(7);
  header.writeUInt32LE(8193, 0);
  header[4] = MessageType.Twrite;
  c.sendRaw(header);
  await c.closedP();
  assert.ok(
    h.logs.some((l) => /message size 8193 is over msize 8192/.test(l)),
    h.logs.join('\n'),
  );
});

test('a client that sends a server message (an R-message) is disconnected', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000');
  c.sendRaw(encodeMessage({ type: MessageType.Rclunk, tag: 1 }));
  await c.closedP();
  assert.ok(h.logs.some((l) => l.includes('only a server sends')));
});

test('close() lets requests in flight answer, then closes the connection (drain)', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  await makeFile(c, fid, 'f', Buffer.from('abc'));
  const f = await c.walk(fid, ['f']);
  await c.open(f, OREAD);
  const gate = readGate(h.fs);
  const held = gate.waiting();
  const read = c.rpc({ type: MessageType.Tread, fid: f, offset: 0n, count: 3 });
  await held;
  const closing = h.server.close();
  setImmediate(() => gate.held[0]!.release());
  const r = await read;
  assert.deepEqual(r.type === MessageType.Rread && Buffer.from(r.data).toString(), 'abc');
  await closing;
  await c.closedP();
  assert.equal(h.fs.live, 0, 'every File was closed');
});

test('maxOutstanding: input waits while that many requests are in flight, and nothing is lost', async (t) => {
  const h = await startServer(t, { maxOutstanding: 2 });
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  const replies = Array.from({ length: 50 }, () =>
    c.rpc({ type: MessageType.Tgetattr, fid, request_mask: 0x7ffn }),
  );
  const all = await Promise.all(replies);
  assert.ok(all.every((m) => m.type === MessageType.Rgetattr));
  await c.clunk(fid);
});

test('Tflush before any Tversion is still answered with Rflush (flush(9P): never Rerror)', async (t) => {
  const h = await startServer(t);
  const c = await NinepClient.connect(h.address);
  const r = await c.rpc({ type: MessageType.Tflush, oldtag: 3 });
  assert.equal(r.type, MessageType.Rflush);
  await c.close();
});

test('close() finishes when the client hangs up while a request is being drained', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  await makeFile(c, fid, 'f', Buffer.from('abc'));
  const f = await c.walk(fid, ['f']);
  await c.open(f, OREAD);
  const gate = readGate(h.fs);
  const held = gate.waiting();
  c.rpc({ type: MessageType.Tread, fid: f, offset: 0n, count: 3 }).catch(() => undefined);
  await held;
  const closing = h.server.close();
  c.socket.destroy();
  // The held read is aborted by the hang-up (its signal fires) and the drain ends.
  await closing;
  assert.equal(h.server.connections, 0);
  await h.settled();
  assert.equal(h.fs.live, 0);
});

test('a Tclunk racing a Tread does not close the File under the read (fid refcounts, lib9p)', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  await makeFile(c, fid, 'f', Buffer.from('still here'));
  const f = await c.walk(fid, ['f']);
  await c.open(f, OREAD);
  const gate = readGate(h.fs);
  const held = gate.waiting();
  const read = c.rpc({ type: MessageType.Tread, fid: f, offset: 0n, count: 100 });
  await held;
  const liveBefore = h.fs.live;
  // Rclunk comes at once (the fid is out of the table) but the File stays open for the read.
  await c.clunk(f);
  assert.equal(h.fs.live, liveBefore, 'the File was closed while a read still used it');
  assert.equal(
    (await c.rpc({ type: MessageType.Tread, fid: f, offset: 0n, count: 1 })).type,
    MessageType.Rlerror,
  );
  gate.held[0]!.release();
  const r = await read;
  assert.equal(r.type === MessageType.Rread && Buffer.from(r.data).toString(), 'still here');
  await h.settled();
  for (let i = 0; i < 100 && h.fs.live !== liveBefore - 1; i++)
    await new Promise((res) => setTimeout(res, 5));
  assert.equal(h.fs.live, liveBefore - 1, 'the last reference closed the File');
  h.fs.gate = null;
  await c.clunk(fid);
});

test('maxConnections: a connection over the limit is closed at once with a log line', async (t) => {
  const h = await startServer(t, { maxConnections: 1 });
  const first = await h.client('9P2000');
  const second = await NinepClient.connect(h.address);
  await second.closedP();
  assert.ok(
    h.logs.some((l) => l.includes('refused: 1 connections already')),
    h.logs.join('\n'),
  );
  const { fid } = await first.attach();
  await first.clunk(fid);
});

test('data integrity: 8 MiB written 8 at a time at msize 64 KiB to a host directory reads back the same', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-9p-int-'));
  const dfs = await newDirFileServer(dir);
  const server = new NinepServer(dfs);
  const address = await server.listen('127.0.0.1:0');
  t.after(async () => {
    await server.close();
    await dfs.close();
    await rm(dir, { recursive: true, force: true });
  });
  const c = await NinepClient.open(address, '9P2000.L', 65536 + 24);
  const { fid } = await c.attach();
  const f = await c.walk(fid, []);
  const r = await c.call(
    { type: MessageType.Tlcreate, fid: f, name: 'blob', flags: 2, mode: 0o644, gid: 0 },
    MessageType.Rlcreate,
  );
  const data = randomBytes(8 * 1024 * 1024);
  // Each Twrite frame is split across socket reads and assembled in recycled buffers:
  // a buffer reused before the host write finished would corrupt the file.
  await c.writeAll(f, data, Math.min(r.iounit, c.msize - 24), 8);
  assert.ok((await c.readAll(f, data.length, c.msize - 24, 8)).equals(data));
  await c.clunk(f);
  await c.clunk(fid);
  await c.close();
  assert.ok(
    (await readFile(join(dir, 'blob'))).equals(data),
    'the host file holds what was written',
  );
});

test("Twstat as Linux's 9P2000 client renames (muid set to its user) succeeds; a uid change is refused", async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000');
  const { fid } = await c.attach();
  const f = await c.walk(fid, []);
  await c.call(
    { type: MessageType.Tcreate, fid: f, name: 'old', perm: 0o644, mode: OWRITE },
    MessageType.Rcreate,
  );
  const keep = {
    type: 0xffff,
    dev: 0xffffffff,
    qid: { type: 0xff, version: 0xffffffff, path: 0xffffffffffffffffn },
    mode: 0xffffffff,
    atime: 0xffffffff,
    mtime: 0xffffffff,
    length: 0xffffffffffffffffn,
    name: '',
    uid: '',
    gid: '',
    muid: '',
  };
  // v9fs_vfs_rename (net/9p, legacy protocol): v9fs_blank_wstat, then muid = uname, name = new.
  await c.call(
    { type: MessageType.Twstat, fid: f, stat: { ...keep, name: 'new', muid: 'root' } },
    MessageType.Rwstat,
  );
  const st = (await c.call({ type: MessageType.Tstat, fid: f }, MessageType.Rstat)).stat;
  assert.equal(st.name, 'new');
  // Sending current values for what cannot change is allowed (lib9p); other values are not.
  await c.call(
    { type: MessageType.Twstat, fid: f, stat: { ...keep, qid: st.qid, uid: st.uid } },
    MessageType.Rwstat,
  );
  const chown = await c.rpc({
    type: MessageType.Twstat,
    fid: f,
    stat: { ...keep, uid: 'someone-else' },
  });
  assert.deepEqual(chown.type === MessageType.Rerror && chown.ename, 'permission denied');
  await c.clunk(f);
  await c.clunk(fid);
});

test('a session sent one byte per TCP write is served exactly as sent whole (transport split)', async (t) => {
  const h = await startServer(t);
  const c = await NinepClient.connect(h.address);
  const frames = [
    encodeMessage({ type: MessageType.Tversion, tag: NOTAG, msize: 8192, version: '9P2000' }),
    encodeMessage({
      type: MessageType.Tattach,
      tag: 1,
      fid: 1,
      afid: NOFID,
      uname: 'u',
      aname: '',
    }),
    encodeMessage({ type: MessageType.Twalk, tag: 2, fid: 1, newfid: 2, wname: [] }),
    encodeMessage({
      type: MessageType.Tcreate,
      tag: 3,
      fid: 2,
      name: 'slow',
      perm: 0o644,
      mode: ORDWR,
    }),
    encodeMessage({
      type: MessageType.Twrite,
      tag: 4,
      fid: 2,
      offset: 0n,
      data: Buffer.from('byte by byte'),
    }),
    encodeMessage({ type: MessageType.Tread, tag: 5, fid: 2, offset: 0n, count: 100 }),
    encodeMessage({ type: MessageType.Tclunk, tag: 6, fid: 2 }),
    encodeMessage({ type: MessageType.Tclunk, tag: 7, fid: 1 }),
  ];
  const replies: Buffer[] = [];
  c.socket.removeAllListeners('data');
  c.socket.on('data', (chunk: Buffer) => replies.push(chunk));
  c.socket.setNoDelay(true);
  const stream = Buffer.concat(frames);
  for (let i = 0; i < stream.length; i++) {
    c.socket.write(stream.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
  for (let i = 0; i < 200; i++) {
    const got = new NinepFramer(1 << 20).push(Buffer.concat(replies));
    if (got.length >= frames.length) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const got = new NinepFramer(1 << 20)
    .push(Buffer.concat(replies))
    .map((f) => decodeMessage(f, '9P2000'));
  assert.deepEqual(
    got.map((m) => m.type),
    [
      MessageType.Rversion,
      MessageType.Rattach,
      MessageType.Rwalk,
      MessageType.Rcreate,
      MessageType.Rwrite,
      MessageType.Rread,
      MessageType.Rclunk,
      MessageType.Rclunk,
    ],
  );
  const r = got[5]!;
  assert.equal(r.type === MessageType.Rread && Buffer.from(r.data).toString(), 'byte by byte');
  await c.close();
});

test('9P2000.u: n_uname at attach, Rerror with errno, stat with numeric ids, special files refused', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.u', 8192 + 24);
  assert.equal(c.dialect, '9P2000.u');
  const { fid } = await c.attach('', 'glenda');
  const missing = await c.rpc({ type: MessageType.Twalk, fid, newfid: 9, wname: ['nope'] });
  assert.deepEqual(missing.type === MessageType.Rerror && [missing.ename, missing.errno], [
    'file not found',
    ENOENT,
  ]);
  const f = await c.walk(fid, []);
  await c.call(
    { type: MessageType.Tcreate, fid: f, name: 'x', perm: 0o644, mode: ORDWR, extension: '' },
    MessageType.Rcreate,
  );
  const st = (await c.call({ type: MessageType.Tstat, fid: f }, MessageType.Rstat)).stat;
  assert.deepEqual(
    [st.name, st.extension, st.n_uid],
    ['x', '', 1000],
    'names that are not numbers map to n_uname',
  );
  const g = await c.walk(fid, []);
  const link = await c.rpc({
    type: MessageType.Tcreate,
    fid: g,
    name: 'l',
    perm: 0x02000000 | 0o777,
    mode: OREAD,
    extension: '/etc/passwd',
  });
  assert.deepEqual(link.type === MessageType.Rerror && [link.ename, link.errno], [
    'Operation not supported',
    95,
  ]);
  await c.open(g, OREAD);
  const entries = decodeStats(await c.read(g, 0n, 8000), true);
  assert.deepEqual(
    entries.map((e) => [e.name, e.n_uid]),
    [['x', 1000]],
  );
  await c.clunk(g);
  await c.clunk(f);
  await c.clunk(fid);
});

test('a client that never reads its replies stops being read: the server does not buffer without bound', async (t) => {
  const h = await startServer(t, { maxOutstanding: 16 });
  const c = await h.client('9P2000.L');
  const { fid } = await c.attach();
  await makeFile(c, fid, 'f', Buffer.alloc(60_000, 1));
  const f = await c.walk(fid, ['f']);
  await c.open(f, OREAD);
  c.socket.pause(); // stop reading replies
  const before = h.fs.calls;
  const n = 2000; // 2000 x 60 KB of replies: far more than any socket buffer holds
  const replies = Array.from({ length: n }, () =>
    c.rpc({ type: MessageType.Tread, fid: f, offset: 0n, count: 60_000 }).catch(() => undefined),
  );
  // Let the server run for a while; then it must have stopped reading well short of n.
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
  const served = h.fs.calls - before;
  assert.ok(
    served < n / 2,
    `the server served ${served} of ${n} reads for a client that reads nothing`,
  );
  // Reading again lets everything through.
  c.socket.resume();
  await Promise.all(replies);
  assert.equal(h.fs.calls - before, n);
  await c.clunk(f);
  await c.clunk(fid);
});

test("a burst of replies over the unread limit but under the socket's own mark does not stop the connection for good", async (t) => {
  // maxMsize 512: the unread-replies limit is 2 KiB, below the 16 KiB past which a socket
  // write asks for 'drain'. Forty Rgetattr in one turn (about 6 KiB) pass the limit; once
  // they are written the connection must read requests again, with no 'drain' to wait for.
  const h = await startServer(t, { maxMsize: 512 });
  const c = await h.client('9P2000.L', 512);
  const { fid } = await c.attach();
  const getattr = (): Promise<unknown> =>
    c.call(
      { type: MessageType.Tgetattr, tag: 0, fid, request_mask: 0x7ffn } as never,
      MessageType.Rgetattr,
    );
  for (let round = 0; round < 3; round++) {
    const answered = await Promise.race([
      Promise.all(Array.from({ length: 40 }, getattr)).then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref()),
    ]);
    assert.ok(answered, `round ${round}: the connection stopped answering`);
  }
  await c.clunk(fid);
});

test('Tfsync asks the FileServer to commit the file: a wstat that changes nothing (wstat(5))', async (t) => {
  const h = await startServer(t);
  const c = await h.client('9P2000.L');
  const { fid: root } = await c.attach('');
  await makeFile(c, root, 'f', new TextEncoder().encode('data'));
  const f = await c.walk(root, ['f']);
  await c.call({ type: MessageType.Tlopen, tag: 0, fid: f, flags: 2 } as never, MessageType.Rlopen);
  const before = h.fs.syncs;
  await c.call(
    { type: MessageType.Tfsync, tag: 0, fid: f, datasync: 0 } as never,
    MessageType.Rfsync,
  );
  assert.equal(h.fs.syncs, before + 1);
  await c.clunk(f);
});
