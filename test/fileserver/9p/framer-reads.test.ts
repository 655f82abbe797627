// The framer's second way in (readTarget/commit, for sockets read with `onread`): frames
// come out whole and in order however the bytes arrive, frames still held are never
// overwritten by later reads, and memory is reused rather than allocated per read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NinepProtocolError } from '../../../src/fileserver/9p/errors.js';
import { NinepFramer } from '../../../src/fileserver/9p/framer.js';

/** A frame of `size` bytes: size[4] then a pattern that depends on `seed`. */
function frame(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(size, 0);
  for (let i = 4; i < size; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

interface Feed {
  frames: Buffer[];
  targets: Uint8Array[];
}

/**
 * Reads `stream` through `framer` as a socket would: each read fills at most what the
 * target offers and what `limits` (cycled) allows. `keep(i)` says whether frame i is held
 * to the end or given back at once.
 */
function feed(
  framer: NinepFramer,
  stream: Buffer,
  limits: number[],
  keep: (i: number) => boolean,
): Feed {
  const frames: Buffer[] = [];
  const targets: Uint8Array[] = [];
  let at = 0;
  let step = 0;
  while (at < stream.length) {
    const target = framer.readTarget();
    assert.ok(target.length > 0, 'a zero-length read target (a socket would read it as EOF)');
    targets.push(target);
    const n = Math.min(target.length, stream.length - at, limits[step++ % limits.length]!);
    target.set(stream.subarray(at, at + n));
    at += n;
    for (const f of framer.commit(n)) {
      const i = frames.length;
      frames.push(keep(i) ? f : Buffer.from(f));
      if (!keep(i)) framer.recycle(f);
    }
  }
  return { frames, targets };
}

const sizes = fc.oneof(
  fc.integer({ min: 7, max: 300 }),
  fc.integer({ min: 4000, max: 9000 }),
  fc.integer({ min: 60_000, max: 140_000 }),
);

test('frames read into framer-chosen memory come out whole, in order, and held ones stay intact (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.array(sizes, { minLength: 1, maxLength: 40 }),
      fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 10 }),
      fc.func(fc.boolean()),
      (frameSizes, limits, keepFn) => {
        const originals = frameSizes.map((s, i) => frame(s, i));
        const framer = new NinepFramer(1 << 20);
        const keep = (i: number): boolean => keepFn(i);
        const { frames } = feed(framer, Buffer.concat(originals), limits, keep);
        assert.equal(frames.length, originals.length);
        // Checked only now: a held frame overwritten by a later read would show here.
        frames.forEach((f, i) =>
          assert.ok(f.equals(originals[i]!), `frame ${i} (${originals[i]!.length} bytes)`),
        );
        assert.equal(framer.buffered, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('given back, the frames of an arena make it reusable: small frames read one at a time allocate nothing per read', () => {
  const framer = new NinepFramer(65_560);
  const small = Array.from({ length: 20_000 }, (_, i) => frame(23 + (i % 50), i));
  const { frames, targets } = feed(framer, Buffer.concat(small), [23, 4096, 70], () => false);
  assert.equal(frames.length, small.length);
  frames.forEach((f, i) => assert.ok(f.equals(small[i]!)));
  // The first read goes to the process's shared buffer (no arena before a byte arrives).
  const memories = [...new Set(targets.slice(1).map((t) => t.buffer))];
  // About 1.1 MB went through arenas of 4, 8, ... 128 KiB, then 256 KiB ones: with frames
  // given back, two of those take turns.
  const full = memories.filter((m) => m.byteLength === 256 * 1024);
  assert.ok(full.length <= 3, `${full.length} full-size arenas for ${targets.length} reads`);
  assert.deepEqual(
    memories.filter((m) => m.byteLength < 256 * 1024).map((m) => m.byteLength / 1024),
    [4, 8, 16, 32, 64, 128],
    'each arena made while they grow is twice the last',
  );
});

test('a connection allocates nothing until a byte arrives, then one small arena: a Tversion-sized frame, then nothing', () => {
  const framer = new NinepFramer(65_560);
  const silent = new NinepFramer(65_560);
  const t = framer.readTarget();
  assert.equal(silent.readTarget().buffer, t.buffer, 'before their first bytes, connections read into one shared buffer');
  const tversion = frame(21, 1);
  t.set(tversion);
  const [f] = framer.commit(21);
  assert.ok(f!.equals(tversion));
  assert.equal(f!.buffer.byteLength, 4096, 'what arrived was copied into a 4 KiB arena of its own');
  // The shared buffer is free for the next connection's read; the frame is not affected.
  silent.readTarget().fill(0xee);
  assert.ok(f!.equals(tversion));
  framer.recycle(f!);
  assert.equal(framer.readTarget().buffer, f!.buffer, 'the next read goes to the same arena');
  // A socket that ends before it speaks reads 0 bytes (or an error) there: nothing kept.
  assert.deepEqual(silent.commit(0), []);
  assert.equal(silent.buffered, 0);
});

test('a large frame is read in place: its rest goes straight into the buffer handed out', () => {
  const framer = new NinepFramer(1 << 20);
  const big = frame(65_560, 7);
  // The first read brings the header and a little: the rest is asked for in place.
  const t1 = framer.readTarget();
  t1.set(big.subarray(0, 100));
  assert.deepEqual(framer.commit(100), []);
  const t2 = framer.readTarget();
  assert.equal(t2.length, big.length - 100, 'the target is exactly the rest of the frame');
  t2.set(big.subarray(100));
  const [f] = framer.commit(t2.length);
  assert.ok(f!.equals(big));
  assert.equal(f!.buffer, t2.buffer, 'the frame is the memory the rest was read into');
  // Given back, that memory takes the next frame of about the same size.
  framer.recycle(f!);
  const t3 = framer.readTarget();
  t3.set(big.subarray(0, 100));
  framer.commit(100);
  assert.equal(framer.readTarget().buffer, f!.buffer);
});

test('a frame given back twice is counted once: its arena is not reused under a frame still held', () => {
  const framer = new NinepFramer(65_560);
  const a = frame(100, 1);
  const b = frame(100, 2);
  const t = framer.readTarget();
  t.set(Buffer.concat([a, b]));
  const [fa, fb] = framer.commit(200);
  framer.recycle(fa!);
  framer.recycle(fa!);
  // Fill the arena past its end so that reads move on; fb is still held.
  const filler = Buffer.concat(Array.from({ length: 5000 }, (_, i) => frame(100, i)));
  feed(framer, filler, [65_536], () => false);
  assert.ok(fb!.equals(b), 'a held frame was overwritten');
});

test('after a size over msize the framer takes nothing more and allocates nothing for it', () => {
  const framer = new NinepFramer(8192);
  const t = framer.readTarget();
  const hostile = Buffer.alloc(8);
  hostile.writeUInt32LE(0xffffffff, 0);
  t.set(hostile);
  assert.throws(() => framer.commit(8), NinepProtocolError);
  // The socket asks where to read next before it is closed: somewhere small.
  const after = framer.readTarget();
  assert.ok(after.length > 0 && after.length <= 4096);
  assert.deepEqual(framer.commit(after.length), []);
});
