import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeDirents,
  decodeMessage,
  decodeStats,
  encodeDataHeader,
  encodeDirent,
  encodeMessage,
  encodeStat,
} from '../../../src/fileserver/9p/codec.js';
import { MessageType, type Dialect } from '../../../src/fileserver/9p/constants.js';
import { NinepProtocolError } from '../../../src/fileserver/9p/errors.js';
import { NinepFramer } from '../../../src/fileserver/9p/framer.js';
import type { Message } from '../../../src/fileserver/9p/messages.js';

const FIXTURES = new URL('../../fixtures/9p/', import.meta.url);

interface Fixture {
  name: string;
  dialect: Dialect;
  bytes: Buffer;
  message: Message;
}

/** Fixture files: comment lines (layout, dialect, the message as JSON), then the frame in hex. */
function loadFixtures(): Fixture[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.hex'))
    .sort()
    .map((f) => {
      const text = readFileSync(new URL(f, FIXTURES), 'utf8');
      const lines = text.split('\n');
      const dialect = /^# dialect: (.*)$/m.exec(text)![1] as Dialect;
      const json = /^# message: (.*)$/m.exec(text)![1]!;
      const message = JSON.parse(json, (_k, v: unknown) => {
        if (typeof v === 'object' && v !== null && '$bigint' in v)
          return BigInt((v as { $bigint: string }).$bigint);
        if (typeof v === 'object' && v !== null && '$hex' in v)
          return Buffer.from((v as { $hex: string }).$hex, 'hex');
        return v;
      }) as Message;
      const hex = lines
        .filter((l) => !l.startsWith('#'))
        .join('')
        .replace(/\s+/g, '');
      return { name: f.replace(/\.hex$/, ''), dialect, bytes: Buffer.from(hex, 'hex'), message };
    });
}

/** Data fields decode as views of the frame; compare them as plain bytes. */
function normalize(m: Message): unknown {
  return JSON.parse(
    JSON.stringify(m, (_k, v: unknown) => {
      if (typeof v === 'bigint') return `${v}n`;
      if (
        v instanceof Uint8Array ||
        (typeof v === 'object' && v !== null && (v as { type?: string }).type === 'Buffer')
      ) {
        return `hex:${Buffer.from(v as Uint8Array).toString('hex')}`;
      }
      return v;
    }),
  );
}

const fixtures = loadFixtures();

test('fixtures exist for every 9P2000 message and the 9P2000.L messages Linux and diod send', () => {
  assert.ok(fixtures.length >= 50, `only ${fixtures.length} fixtures`);
});

test('every spec-derived fixture decodes to its message (intro(5), 9P2000.L protocol)', () => {
  for (const f of fixtures) {
    assert.deepEqual(normalize(decodeMessage(f.bytes, f.dialect)), normalize(f.message), f.name);
  }
});

test('every fixture message encodes to exactly the spec bytes', () => {
  for (const f of fixtures) {
    assert.equal(encodeMessage(f.message).toString('hex'), f.bytes.toString('hex'), f.name);
  }
});

test('every fixture re-fed split at every offset yields the same frame (pg-protocol)', () => {
  const stream = Buffer.concat(fixtures.map((f) => f.bytes));
  for (let cut = 0; cut <= stream.length; cut++) {
    const framer = new NinepFramer(1 << 20);
    const frames = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
    assert.equal(frames.length, fixtures.length, `cut at ${cut}`);
    frames.forEach((fr, i) =>
      assert.ok(fr.equals(fixtures[i]!.bytes), `cut at ${cut}, frame ${i}`),
    );
  }
  // And one byte at a time.
  const framer = new NinepFramer(1 << 20);
  const frames: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) frames.push(...framer.push(stream.subarray(i, i + 1)));
  assert.equal(frames.length, fixtures.length);
  assert.equal(framer.buffered, 0);
});

test('a fixture split in three at every pair of offsets decodes to its message', () => {
  for (const f of fixtures.filter((x) =>
    ['Twalk', 'Rstat', 'Rgetattr', 'Twstat'].includes(x.name),
  )) {
    for (let a = 0; a <= f.bytes.length; a++) {
      for (let b = a; b <= f.bytes.length; b++) {
        const framer = new NinepFramer(1 << 20);
        const frames = [
          ...framer.push(f.bytes.subarray(0, a)),
          ...framer.push(f.bytes.subarray(a, b)),
          ...framer.push(f.bytes.subarray(b)),
        ];
        assert.equal(frames.length, 1);
        assert.deepEqual(normalize(decodeMessage(frames[0]!, f.dialect)), normalize(f.message));
      }
    }
  }
});

test('the framer rejects a size over msize as soon as the size field arrives, before buffering the body', () => {
  const framer = new NinepFramer(8192);
  const header = Buffer.alloc(4);
  header.writeUInt32LE(8193);
  // Only two bytes of size: nothing to judge yet.
  assert.deepEqual(framer.push(header.subarray(0, 2)), []);
  assert.throws(() => framer.push(header.subarray(2)), NinepProtocolError);
  const small = Buffer.from('06000000', 'hex');
  assert.throws(() => new NinepFramer(8192).push(small), /smaller than the 7-byte header/);
});

test('decoding rejects short fields, leftover bytes, bad UTF-8 and unknown types with NinepProtocolError', () => {
  const twalk = fixtures.find((f) => f.name === 'Twalk')!.bytes;
  const short = Buffer.from(twalk.subarray(0, twalk.length - 1));
  short.writeUInt32LE(short.length, 0);
  assert.throws(() => decodeMessage(short, '9P2000'), /runs past the end/);
  const long = Buffer.concat([twalk, Buffer.from([0])]);
  long.writeUInt32LE(long.length, 0);
  assert.throws(() => decodeMessage(long, '9P2000'), /left over/);
  const badUtf8 = Buffer.from(twalk);
  badUtf8[twalk.length - 1] = 0xff;
  assert.throws(() => decodeMessage(badUtf8, '9P2000'), /not UTF-8/);
  const unknown = Buffer.from('07000000ff0000', 'hex');
  assert.throws(() => decodeMessage(unknown, '9P2000'), /unknown message type 255/);
  const sizeMismatch = Buffer.from(twalk);
  sizeMismatch.writeUInt32LE(twalk.length + 1, 0);
  assert.throws(() => decodeMessage(sizeMismatch, '9P2000'), NinepProtocolError);
  // A walk count the frame cannot possibly hold fails without looping over it.
  const hostile = Buffer.from('110000006e0500010000000200000000ff', 'hex');
  hostile.writeUInt16LE(0xffff, 15);
  assert.throws(() => decodeMessage(hostile, '9P2000'), /runs past the end/);
});

// --- Property tests -------------------------------------------------------------------

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const str = fc.string({ maxLength: 40, unit: 'grapheme' });
const data = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const qid = fc.record({ type: u8, version: u32, path: u64 });
const stat = fc.record({
  type: u16,
  dev: u32,
  qid,
  mode: u32,
  atime: u32,
  mtime: u32,
  length: u64,
  name: str,
  uid: str,
  gid: str,
  muid: str,
});

type Fields = Record<string, fc.Arbitrary<unknown>>;
const BODIES: [MessageType, Fields][] = [
  [MessageType.Tversion, { msize: u32, version: str }],
  [MessageType.Rversion, { msize: u32, version: str }],
  [MessageType.Rauth, { aqid: qid }],
  [MessageType.Rattach, { qid }],
  [MessageType.Rerror, { ename: str }],
  [MessageType.Tflush, { oldtag: u16 }],
  [MessageType.Rflush, {}],
  [MessageType.Twalk, { fid: u32, newfid: u32, wname: fc.array(str, { maxLength: 16 }) }],
  [MessageType.Rwalk, { wqid: fc.array(qid, { maxLength: 16 }) }],
  [MessageType.Topen, { fid: u32, mode: u8 }],
  [MessageType.Ropen, { qid, iounit: u32 }],
  [MessageType.Tcreate, { fid: u32, name: str, perm: u32, mode: u8 }],
  [MessageType.Rcreate, { qid, iounit: u32 }],
  [MessageType.Tread, { fid: u32, offset: u64, count: u32 }],
  [MessageType.Rread, { data }],
  [MessageType.Twrite, { fid: u32, offset: u64, data }],
  [MessageType.Rwrite, { count: u32 }],
  [MessageType.Tclunk, { fid: u32 }],
  [MessageType.Rclunk, {}],
  [MessageType.Tremove, { fid: u32 }],
  [MessageType.Rremove, {}],
  [MessageType.Tstat, { fid: u32 }],
  [MessageType.Rstat, { stat }],
  [MessageType.Twstat, { fid: u32, stat }],
  [MessageType.Rwstat, {}],
  [MessageType.Tlerror, {}],
  [MessageType.Rlerror, { ecode: u32 }],
  [MessageType.Tstatfs, { fid: u32 }],
  [
    MessageType.Rstatfs,
    {
      fstype: u32,
      bsize: u32,
      blocks: u64,
      bfree: u64,
      bavail: u64,
      files: u64,
      ffree: u64,
      fsid: u64,
      namelen: u32,
    },
  ],
  [MessageType.Tlopen, { fid: u32, flags: u32 }],
  [MessageType.Rlopen, { qid, iounit: u32 }],
  [MessageType.Tlcreate, { fid: u32, name: str, flags: u32, mode: u32, gid: u32 }],
  [MessageType.Rlcreate, { qid, iounit: u32 }],
  [MessageType.Tsymlink, { fid: u32, name: str, symtgt: str, gid: u32 }],
  [MessageType.Rsymlink, { qid }],
  [MessageType.Tmknod, { dfid: u32, name: str, mode: u32, major: u32, minor: u32, gid: u32 }],
  [MessageType.Rmknod, { qid }],
  [MessageType.Trename, { fid: u32, dfid: u32, name: str }],
  [MessageType.Rrename, {}],
  [MessageType.Treadlink, { fid: u32 }],
  [MessageType.Rreadlink, { target: str }],
  [MessageType.Tgetattr, { fid: u32, request_mask: u64 }],
  [
    MessageType.Rgetattr,
    {
      valid: u64,
      qid,
      mode: u32,
      uid: u32,
      gid: u32,
      nlink: u64,
      rdev: u64,
      size: u64,
      blksize: u64,
      blocks: u64,
      atime_sec: u64,
      atime_nsec: u64,
      mtime_sec: u64,
      mtime_nsec: u64,
      ctime_sec: u64,
      ctime_nsec: u64,
      btime_sec: u64,
      btime_nsec: u64,
      gen: u64,
      data_version: u64,
    },
  ],
  [
    MessageType.Tsetattr,
    {
      fid: u32,
      valid: u32,
      mode: u32,
      uid: u32,
      gid: u32,
      size: u64,
      atime_sec: u64,
      atime_nsec: u64,
      mtime_sec: u64,
      mtime_nsec: u64,
    },
  ],
  [MessageType.Rsetattr, {}],
  [MessageType.Txattrwalk, { fid: u32, newfid: u32, name: str }],
  [MessageType.Rxattrwalk, { size: u64 }],
  [MessageType.Txattrcreate, { fid: u32, name: str, attr_size: u64, flags: u32 }],
  [MessageType.Rxattrcreate, {}],
  [MessageType.Treaddir, { fid: u32, offset: u64, count: u32 }],
  [MessageType.Rreaddir, { data }],
  [MessageType.Tfsync, { fid: u32, datasync: u32 }],
  [MessageType.Rfsync, {}],
  [
    MessageType.Tlock,
    { fid: u32, locktype: u8, flags: u32, start: u64, length: u64, proc_id: u32, client_id: str },
  ],
  [MessageType.Rlock, { status: u8 }],
  [
    MessageType.Tgetlock,
    { fid: u32, locktype: u8, start: u64, length: u64, proc_id: u32, client_id: str },
  ],
  [MessageType.Rgetlock, { locktype: u8, start: u64, length: u64, proc_id: u32, client_id: str }],
  [MessageType.Tlink, { dfid: u32, fid: u32, name: str }],
  [MessageType.Rlink, {}],
  [MessageType.Tmkdir, { dfid: u32, name: str, mode: u32, gid: u32 }],
  [MessageType.Rmkdir, { qid }],
  [MessageType.Trenameat, { olddirfid: u32, oldname: str, newdirfid: u32, newname: str }],
  [MessageType.Rrenameat, {}],
  [MessageType.Tunlinkat, { dirfd: u32, name: str, flags: u32 }],
  [MessageType.Runlinkat, {}],
];

type Tagged = { m: Message; dialect: Dialect };
const in9P = (m: object): Tagged => ({ m: m as Message, dialect: '9P2000' });
const in9PL = (m: object): Tagged => ({ m: m as Message, dialect: '9P2000.L' });
const in9PU = (m: object): Tagged => ({ m: m as Message, dialect: '9P2000.u' });
const statU = fc
  .tuple(stat, str, u32, u32, u32)
  .map(([s, extension, n_uid, n_gid, n_muid]) => ({ ...s, extension, n_uid, n_gid, n_muid }));

/** A message of any type, with the dialect it must be decoded in. */
const anyMessage: fc.Arbitrary<Tagged> = fc.oneof(
  ...BODIES.map(([type, fields]) =>
    fc.record({ tag: u16, ...fields }).map((r) => in9P({ type, ...r })),
  ),
  fc
    .record({ tag: u16, afid: u32, uname: str, aname: str })
    .map((r) => in9P({ type: MessageType.Tauth, ...r })),
  fc
    .record({ tag: u16, afid: u32, uname: str, aname: str, n_uname: u32 })
    .map((r) => in9PL({ type: MessageType.Tauth, ...r })),
  fc
    .record({ tag: u16, fid: u32, afid: u32, uname: str, aname: str })
    .map((r) => in9P({ type: MessageType.Tattach, ...r })),
  fc
    .record({ tag: u16, fid: u32, afid: u32, uname: str, aname: str, n_uname: u32 })
    .map((r) => in9PL({ type: MessageType.Tattach, ...r })),
  // 9P2000.u: the same messages with the fields the dialect adds.
  fc
    .record({ tag: u16, afid: u32, uname: str, aname: str, n_uname: u32 })
    .map((r) => in9PU({ type: MessageType.Tauth, ...r })),
  fc
    .record({ tag: u16, fid: u32, afid: u32, uname: str, aname: str, n_uname: u32 })
    .map((r) => in9PU({ type: MessageType.Tattach, ...r })),
  fc
    .record({ tag: u16, ename: str, errno: u32 })
    .map((r) => in9PU({ type: MessageType.Rerror, ...r })),
  fc
    .record({ tag: u16, fid: u32, name: str, perm: u32, mode: u8, extension: str })
    .map((r) => in9PU({ type: MessageType.Tcreate, ...r })),
  fc.record({ tag: u16, stat: statU }).map((r) => in9PU({ type: MessageType.Rstat, ...r })),
  fc
    .record({ tag: u16, fid: u32, stat: statU })
    .map((r) => in9PU({ type: MessageType.Twstat, ...r })),
);

test('every message type has a round-trip arbitrary', () => {
  const covered = new Set<number>([
    ...BODIES.map(([t]) => t),
    MessageType.Tauth,
    MessageType.Tattach,
  ]);
  const all = Object.keys(MessageNames()).map(Number);
  for (const t of all) assert.ok(covered.has(t), `message type ${t} has no arbitrary`);
});

function MessageNames(): Record<number, string> {
  // Every code the codec knows: those it can decode from a minimal frame without an "unknown type" error.
  const out: Record<number, string> = {};
  for (let t = 0; t < 256; t++) {
    const frame = Buffer.from([7, 0, 0, 0, t, 0, 0]);
    try {
      decodeMessage(frame, '9P2000');
      out[t] = String(t);
    } catch (err) {
      if (!(err instanceof NinepProtocolError)) throw err;
      if (!/unknown message type/.test(err.message)) out[t] = String(t);
    }
  }
  return out;
}

test('decode(encode(m)) ≡ m for every message type (fast-check)', () => {
  fc.assert(
    fc.property(anyMessage, ({ m, dialect }) => {
      const frame = encodeMessage(m);
      assert.deepEqual(normalize(decodeMessage(frame, dialect)), normalize(m));
    }),
    { numRuns: 3000 },
  );
});

test('encoded messages split anywhere and fed to the framer decode to the same messages (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.array(anyMessage, { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (ms, cuts) => {
        const stream = Buffer.concat(ms.map(({ m }) => encodeMessage(m)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const framer = new NinepFramer(1 << 20);
        const frames: Buffer[] = [];
        let at = 0;
        for (const p of [...points, stream.length]) {
          frames.push(...framer.push(stream.subarray(at, p)));
          at = p;
        }
        assert.equal(frames.length, ms.length);
        frames.forEach((f, i) =>
          assert.deepEqual(normalize(decodeMessage(f, ms[i]!.dialect)), normalize(ms[i]!.m)),
        );
      },
    ),
    { numRuns: 500 },
  );
});

test('stat and dirent helpers round-trip (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(stat, { maxLength: 5 }), (stats) => {
      const bytes = Buffer.concat(stats.map(encodeStat));
      assert.deepEqual(normalize(decodeStats(bytes) as never), normalize(stats as never));
    }),
  );
  fc.assert(
    fc.property(fc.array(statU, { maxLength: 5 }), (stats) => {
      const bytes = Buffer.concat(stats.map(encodeStat));
      assert.deepEqual(normalize(decodeStats(bytes, true) as never), normalize(stats as never));
    }),
  );
  const d = { qid: { type: 0x80, version: 1, path: 2n }, offset: 3n, type: 4, name: 'x' };
  assert.deepEqual(decodeDirents(encodeDirent(d)), [d]);
});

test('random bytes only ever raise NinepProtocolError (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 200 }),
      fc.constantFrom<Dialect>('9P2000', '9P2000.u', '9P2000.L'),
      (bytes, dialect) => {
        const framer = new NinepFramer(1 << 16);
        try {
          for (const f of framer.push(bytes)) decodeMessage(f, dialect);
        } catch (err) {
          assert.ok(err instanceof NinepProtocolError, String(err));
        }
      },
    ),
    { numRuns: 5000 },
  );
});

test('mutated valid frames only ever raise NinepProtocolError (fast-check)', () => {
  fc.assert(
    fc.property(
      anyMessage,
      fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 4 }),
      ({ m, dialect }, flips) => {
        const frame = Buffer.from(encodeMessage(m));
        for (const [at, v] of flips) frame[4 + (at % Math.max(1, frame.length - 4))] = v;
        try {
          decodeMessage(frame, dialect);
        } catch (err) {
          assert.ok(err instanceof NinepProtocolError, String(err));
        }
      },
    ),
    { numRuns: 3000 },
  );
});

test('encodeDataHeader + data is the same frame as encodeMessage for Rread and Rreaddir', () => {
  fc.assert(
    fc.property(u16, data, fc.boolean(), (tag, bytes, dir) => {
      const m = { type: dir ? MessageType.Rreaddir : MessageType.Rread, tag, data: bytes } as const;
      assert.ok(Buffer.concat([encodeDataHeader(m), bytes]).equals(encodeMessage(m)));
    }),
  );
});

test('recycled frames are reused for later split frames, and never handed out twice', () => {
  const framer = new NinepFramer(1 << 20);
  const frame = (fill: number): Buffer =>
    encodeMessage({
      type: MessageType.Twrite,
      tag: 1,
      fid: 1,
      offset: 0n,
      data: Buffer.alloc(10_000, fill),
    });
  const split = (b: Buffer): Buffer => {
    const out = [...framer.push(b.subarray(0, 5000)), ...framer.push(b.subarray(5000))];
    assert.equal(out.length, 1);
    return out[0]!;
  };
  const a = split(frame(1));
  framer.recycle(a);
  framer.recycle(a); // twice: must be kept once
  const b = split(frame(2));
  const c = split(frame(3));
  assert.equal(b.buffer, a.buffer, 'the recycled buffer was reused');
  assert.notEqual(c.buffer, b.buffer, 'one buffer was handed out for two live frames');
  assert.ok(b.equals(frame(2)) && c.equals(frame(3)));
  // A frame that was a view of the caller's chunk is never taken over.
  const whole = frame(4);
  const [view] = framer.push(whole);
  framer.recycle(view!);
  const d = split(frame(5));
  assert.notEqual(d.buffer, whole.buffer);
  assert.ok(whole.equals(frame(4)), 'a chunk the framer does not own was written to');
});

test('u64 fields encode byte-exact on both sides of the 32-bit fast path', () => {
  for (const offset of [
    0n,
    1n,
    0xffff_ffffn,
    0x1_0000_0000n,
    0x1_ffff_ffffn,
    2n ** 53n + 1n,
    2n ** 64n - 1n,
  ]) {
    const frame = encodeMessage({ type: MessageType.Tread, tag: 1, fid: 2, offset, count: 3 });
    const expected = Buffer.alloc(8);
    expected.writeBigUInt64LE(offset);
    assert.equal(frame.subarray(11, 19).toString('hex'), expected.toString('hex'), String(offset));
    const m = decodeMessage(frame, '9P2000');
    assert.equal(m.type === MessageType.Tread && m.offset, offset);
  }
});
