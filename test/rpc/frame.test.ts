/**
 * The stream framer (src/rpc/frame.ts) on its own: frames of every shape come back intact
 * however the stream is cut, through push() (chunks the stream allocated) and through
 * readTarget()/commit() (reads into memory the reader chooses, large segments in place).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FrameReader, encodeFrame, type Frame } from '../../src/rpc/index.js';
import { SCRATCH_AFTER_LARGE, SCRATCH_BYTES } from '../../src/rpc/frame.js';

const LIMITS = { maxMessageBytes: 1 << 22, maxSegments: 8 };

/** Segments of whole words, filled with bytes that differ by segment and position. */
const arbFrame = fc
  .array(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 500, max: 9000 })), { minLength: 1, maxLength: 4 })
  .chain((words) =>
    fc.integer({ min: 0, max: 255 }).map((seed) =>
      words.map((w, i) => {
        const s = new Uint8Array(w * 8);
        for (let j = 0; j < s.length; j++) s[j] = (seed + 31 * i + j) & 0xff;
        return s;
      }),
    ),
  );

function same(got: readonly Frame[], want: Uint8Array[][]): void {
  assert.equal(got.length, want.length, 'frame count');
  got.forEach((f, i) => {
    assert.deepEqual(
      f.segments.map((ab) => new Uint8Array(ab)),
      want[i],
      `frame ${i}`,
    );
  });
}

test('push(): frames survive any cut of the stream', () => {
  fc.assert(
    fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 20000 }), { minLength: 1 }), (frames, cuts) => {
      const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
      const r = new FrameReader(LIMITS);
      const got: Frame[] = [];
      let pos = 0;
      for (let i = 0; pos < stream.length; i++) {
        const n = Math.min(cuts[i % cuts.length]!, stream.length - pos);
        got.push(...r.push(stream.subarray(pos, pos + n)));
        pos += n;
      }
      same(got, frames);
      assert.equal(r.buffered, 0);
    }),
    { numRuns: 200 },
  );
});

test('push(): a frame split at every offset comes back whole', () => {
  const frame = [new Uint8Array(24).fill(1), new Uint8Array(8).fill(2), new Uint8Array(16).fill(3)];
  const bytes = encodeFrame(frame);
  for (let cut = 1; cut < bytes.length; cut++) {
    const r = new FrameReader(LIMITS);
    assert.deepEqual(r.push(bytes.subarray(0, cut)), [], `nothing complete at ${cut}`);
    same(r.push(bytes.subarray(cut)), [frame]);
  }
});

test('readTarget()/commit(): reads of any size, large segments read in place', () => {
  fc.assert(
    fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 20000 }), { minLength: 1 }), (frames, reads) => {
      const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
      const r = new FrameReader(LIMITS);
      const got: Frame[] = [];
      let pos = 0;
      let inPlace = 0;
      const scratch = r.readTarget().buffer; // a frame starts in the scratch buffer
      for (let i = 0; pos < stream.length; i++) {
        const target = r.readTarget();
        // A socket read: at most what the target holds, at most what the "kernel" has.
        const n = Math.min(target.length, reads[i % reads.length]!, stream.length - pos);
        target.set(stream.subarray(pos, pos + n));
        if (target.buffer !== scratch) inPlace++;
        got.push(...r.commit(n));
        pos += n;
      }
      same(got, frames);
      assert.equal(r.buffered, 0);
      // A segment with 4 KiB or more still to come is read in place. One longer than the
      // scratch buffer plus 4 KiB always has that much left after a read into the scratch
      // (a shorter one may arrive whole in the scratch read that brought its header).
      if (frames.some((f) => f.some((s) => s.length >= SCRATCH_BYTES + 4096)) && reads.every((n) => n >= SCRATCH_BYTES)) {
        assert.ok(inPlace > 0, 'some read went straight into a segment');
      }
    }),
    { numRuns: 200 },
  );
});

test('readTarget()/commit(): readers of many streams, their reads interleaved, share one scratch buffer and keep their own frames', () => {
  // As many sockets of one process do: each read lands in the reader's target and is
  // committed before the next socket's read; the scratch buffer is one for them all
  // (an idle connection holds no read buffer), so each commit must take its bytes out.
  fc.assert(
    fc.property(
      fc.array(fc.array(arbFrame, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 5 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 20000 })), { minLength: 1 }),
      (streams, reads) => {
        const bytes = streams.map((frames) => Buffer.concat(frames.map((f) => encodeFrame(f))));
        const readers = streams.map(() => new FrameReader(LIMITS));
        const got: Frame[][] = streams.map(() => []);
        const pos = streams.map(() => 0);
        // A frame starts in the scratch buffer: every reader's is the same.
        assert.equal(new Set(readers.map((r) => r.readTarget().buffer)).size, 1, 'one scratch buffer for every reader');
        for (let i = 0; pos.some((p, k) => p < bytes[k]!.length); i++) {
          const [pick, size] = reads[i % reads.length]!;
          // The next stream with bytes left, from the one this read picks.
          let k = pick % streams.length;
          while (pos[k]! >= bytes[k]!.length) k = (k + 1) % streams.length;
          const target = readers[k]!.readTarget();
          const n = Math.min(target.length, size, bytes[k]!.length - pos[k]!);
          target.set(bytes[k]!.subarray(pos[k], pos[k]! + n));
          got[k]!.push(...readers[k]!.commit(n));
          pos[k]! += n;
        }
        streams.forEach((frames, k) => same(got[k]!, frames));
      },
    ),
    { numRuns: 200 },
  );
});

test('readTarget(): the in-place target never reaches past the segment being received', () => {
  const big = new Uint8Array(64 * 1024).fill(9);
  const next = new Uint8Array(8).fill(4);
  const stream = Buffer.concat([encodeFrame([new Uint8Array(16), big]), encodeFrame([next])]);
  const r = new FrameReader(LIMITS);
  // First read: the scratch buffer takes the header, segment 0 and the start of segment 1.
  const first = r.readTarget();
  const n0 = first.length;
  assert.ok(n0 < 64 * 1024, 'the scratch buffer is smaller than the big segment');
  first.set(stream.subarray(0, n0));
  assert.deepEqual(r.commit(n0), []);
  // Then the rest of segment 1 exactly, in place.
  const rest = r.readTarget();
  const hdr = 16;
  assert.equal(rest.length, hdr + 16 + big.length - n0);
  assert.equal(rest.buffer.byteLength, big.length, 'the target is the segment itself');
  rest.set(stream.subarray(n0, n0 + rest.length));
  const done = r.commit(rest.length);
  same(done, [[new Uint8Array(16), big]]);
  // The next frame starts in the scratch buffer again.
  const after = r.readTarget();
  after.set(stream.subarray(n0 + rest.length));
  same(r.commit(stream.length - n0 - rest.length), [[next]]);
});

test('readTarget(): after a frame read in place, the next one starts with a small read, so its body lands in place too', () => {
  const big = (fill: number) => new Uint8Array(64 * 1024).fill(fill);
  const small = new Uint8Array(8).fill(4);
  const frames = [[new Uint8Array(16), big(1)], [new Uint8Array(16), big(2)], [small], [small]];
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
  const r = new FrameReader(LIMITS);
  const firstTargets: number[] = []; // the size of each frame's first read
  const copied: number[] = []; // bytes each frame had read through the scratch buffer
  let pos = 0;
  let atStart = true;
  let scratchBytes = 0;
  const got: Frame[] = [];
  while (pos < stream.length) {
    const t = r.readTarget();
    if (atStart) firstTargets.push(t.length);
    const n = Math.min(t.length, stream.length - pos);
    if (t.buffer.byteLength === SCRATCH_BYTES) scratchBytes += n;
    t.set(stream.subarray(pos, pos + n));
    pos += n;
    const done = r.commit(n);
    got.push(...done);
    atStart = done.length > 0 && r.buffered === 0;
    if (done.length > 0) {
      copied.push(scratchBytes);
      scratchBytes = 0;
    }
  }
  same(got, frames);
  assert.equal(firstTargets[0], SCRATCH_BYTES, 'a first frame starts in the whole scratch buffer');
  assert.equal(firstTargets[1], SCRATCH_AFTER_LARGE, 'after a large frame, a small first read');
  assert.ok(copied[1]! <= SCRATCH_AFTER_LARGE && copied[1]! < copied[0]!, `second large frame copied ${copied[1]} bytes, the first ${copied[0]}`);
  // The small frames after it (arriving in one read here) bring the whole scratch back.
  assert.equal(r.readTarget().length, SCRATCH_BYTES);
});

test('header limits are checked before the body is allocated', () => {
  const r = new FrameReader({ maxMessageBytes: 1024, maxSegments: 4 });
  const hdr = new Uint8Array(8);
  new DataView(hdr.buffer).setUint32(0, 0, true);
  new DataView(hdr.buffer).setUint32(4, 1 << 20, true); // 8 MiB claimed
  assert.throws(() => r.push(hdr), /more than 1024 bytes/);
  const r2 = new FrameReader({ maxMessageBytes: 1024, maxSegments: 4 });
  const many = new Uint8Array(4);
  new DataView(many.buffer).setUint32(0, 99, true);
  assert.throws(() => r2.push(many), /100 segments/);
});

test('frame memory grows as bytes arrive: a header claiming 64 MiB costs the eager size, a frame at most twice what arrived', () => {
  const eager = 64 * 1024;
  const r = new FrameReader({ maxMessageBytes: 1 << 27, maxSegments: 4 }, { eagerSegmentBytes: eager });
  const size = 64 * 1024 * 1024;
  const hdr = new Uint8Array(8);
  new DataView(hdr.buffer).setUint32(0, 0, true);
  new DataView(hdr.buffer).setUint32(4, size / 8, true);
  assert.deepEqual(r.push(hdr), []);
  assert.equal(r.allocated, eager, 'only the first eager bytes of the claimed segment');
  // Feed 1 MiB: memory follows, within twice what came.
  const chunk = new Uint8Array(64 * 1024).fill(7);
  let sent = 0;
  for (let i = 0; i < 16; i++) {
    r.push(chunk);
    sent += chunk.length;
    assert.ok(r.allocated <= Math.max(eager, 2 * sent), `allocated ${r.allocated} after ${sent} bytes`);
  }
  assert.ok(r.allocated < 4 * 1024 * 1024, 'nowhere near the 64 MiB claimed');
});

test('frame memory: a header claiming many segments allocates none before their bytes are due', () => {
  const r = new FrameReader({ maxMessageBytes: 1 << 27, maxSegments: 512 }, { eagerSegmentBytes: 4096 });
  const count = 500;
  const hdr = new Uint8Array((4 + 4 * count + 7) & ~7);
  const dv = new DataView(hdr.buffer);
  dv.setUint32(0, count - 1, true);
  for (let i = 0; i < count; i++) dv.setUint32(4 + 4 * i, 16384, true); // 128 KiB each: 62.5 MiB
  r.push(hdr);
  assert.equal(r.allocated, 4096, 'the first segment\'s first bytes only');
});

test('frames come back whole when their segments grow, through push() and readTarget()/commit()', () => {
  fc.assert(
    fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 20000 }), { minLength: 1 }), fc.integer({ min: 8, max: 5000 }), (frames, cuts, eager) => {
      const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
      for (const mode of ['push', 'commit'] as const) {
        const r = new FrameReader(LIMITS, { eagerSegmentBytes: eager });
        const got: Frame[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          if (mode === 'push') {
            const n = Math.min(cuts[i % cuts.length]!, stream.length - pos);
            got.push(...r.push(stream.subarray(pos, pos + n)));
            pos += n;
          } else {
            const target = r.readTarget();
            const n = Math.min(target.length, cuts[i % cuts.length]!, stream.length - pos);
            target.set(stream.subarray(pos, pos + n));
            got.push(...r.commit(n));
            pos += n;
          }
        }
        same(got, frames);
        assert.equal(r.allocated, 0);
      }
    }),
    { numRuns: 200 },
  );
});

test('the size limit is named in the error, and read at each header (it may rise)', () => {
  const limits = { maxMessageBytes: 1024, maxSegments: 4, maxMessageBytesName: 'maxPreAuthMessageBytes' };
  const r = new FrameReader(limits);
  const big = encodeFrame([new Uint8Array(2048)]);
  assert.throws(() => new FrameReader(limits).push(big), /more than 1024 bytes refused \(maxPreAuthMessageBytes\)/);
  limits.maxMessageBytes = 4096;
  assert.equal(r.push(big).length, 1);
});
