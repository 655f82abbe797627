/**
 * Cap'n Proto stream framing (encoding spec, "Serialization over a stream"), as a pure
 * push parser: no sockets here [pg-protocol].
 *
 *   u32 segmentCount-1, u32 size[segmentCount] (words), padding to 8 bytes, segments.
 *
 * The segment table is validated (count, each size, total against the maximum message
 * size) BEFORE anything is allocated for the body, then each segment gets its own
 * ArrayBuffer (capnp-es wants a segment to start at offset 0 of its buffer). Memory
 * follows the bytes that actually arrive, not the sizes a header claims: a segment is
 * allocated only when its first byte is due, and one larger than `eagerSegmentBytes`
 * starts at that size and doubles as it fills. A peer that sends a 16-byte header claiming
 * 64 MiB and then nothing costs at most `eagerSegmentBytes`, and a frame costs at most
 * twice what was received of it (plus that).
 *
 * Two ways in. `push(chunk)` copies bytes from chunks the stream allocated: one copy per
 * byte, no reassembly buffer. `readTarget()`/`commit(n)` let the socket read straight into
 * memory the reader chooses (net.connect's `onread`): the rest of a large segment being
 * received is read in place, with no copy at all, and everything else goes through one
 * small scratch buffer that is reused, so no read allocates. That scratch buffer is one for
 * the whole process (`SCRATCH`): a read's bytes are taken out of it (copied into the
 * frame's segments) by commit() before any other read can land there, so an idle
 * connection holds no read buffer at all.
 */
import { ProtocolError } from './failure.js';

/** One received message: its segments, each a whole ArrayBuffer. */
export interface Frame {
  readonly segments: ArrayBuffer[];
  /** Size on the wire, header included. */
  readonly bytes: number;
}

/** A segment with at least this many bytes still to come is read in place. */
const DIRECT_MIN = 4096;
/**
 * Segments this large get uninitialized memory (every byte is overwritten from the
 * stream); smaller ones a plain `new ArrayBuffer`, whose zeroing costs less than making
 * the Buffer that Buffer.allocUnsafeSlow returns.
 */
const UNINITIALIZED_MIN = 4096;
/**
 * The scratch buffer for headers, small messages and the start of large ones. Small
 * enough that most of a large segment is read in place, large enough to take a burst of
 * small messages in one read.
 */
export const SCRATCH_BYTES = 16 * 1024;
/**
 * After a frame that was read in place, the next frame's first read takes at most this
 * much (its header and a small first segment): a peer that sent one large message tends
 * to send another (a stream of large results), whose body then lands in place too instead
 * of its first 16 KiB being copied out of the scratch buffer.
 */
export const SCRATCH_AFTER_LARGE = 1024;

/**
 * The scratch buffer of every FrameReader in the process (and of DirectReads before its
 * connection attaches). Sharing it is sound because a read into it is consumed at once:
 * node:net's `onread` reads into the buffer its `buffer()` gave and calls `callback`
 * right after, synchronously (libuv's read and Node's onStreamRead), and commit() copies
 * every byte it is given into the frame being built before returning; so between one
 * socket's read into it and the commit of that read, no other read happens. It held 16 KiB
 * per connection (zero-filled, so resident) when each reader had its own: a third of an
 * idle connection's memory (BENCHMARKS.md, capns serve: connections). Immutable binding,
 * contents owned by whoever read into it last; the pool below is the same kind of
 * process-wide memory.
 */
const SCRATCH = new Uint8Array(SCRATCH_BYTES);
/** The first SCRATCH_AFTER_LARGE bytes of SCRATCH. */
const SCRATCH_HEAD = SCRATCH.subarray(0, SCRATCH_AFTER_LARGE);

/**
 * The process's scratch buffer (see SCRATCH): for bytes read before a reader is there to
 * say where (DirectReads). Whoever reads into it copies out what it keeps before
 * returning to the event loop.
 */
export function sharedScratch(): Uint8Array {
  return SCRATCH;
}

/**
 * Large received segments given back (`recycleSegments`, through the connection's
 * `releaseResults`) wait here for a frame with a segment of exactly their size: a client
 * reading a stream of same-sized results reuses a few warm buffers, as C++'s Response
 * does, instead of a fresh malloc per message. Process-wide, like Node's Buffer pool, and
 * bounded by count and bytes.
 */
const POOL_MAX_BUFFERS = 8;
const POOL_MAX_BYTES = 4 * 1024 * 1024;
const pool: ArrayBuffer[] = [];
let poolBytes = 0;
/** Large segment buffers handed out in frames and not given back since. */
const issued = new WeakSet<ArrayBuffer>();

/** An uninitialized buffer of `size` bytes for a large segment: a pooled one when one fits exactly. */
function takeSegment(size: number): ArrayBuffer {
  for (let i = pool.length - 1; i >= 0; i--) {
    const b = pool[i]!;
    if (b.byteLength === size) {
      pool[i] = pool[pool.length - 1]!;
      pool.pop();
      poolBytes -= size;
      issued.add(b);
      return b;
    }
  }
  const b = Buffer.allocUnsafeSlow(size).buffer;
  issued.add(b);
  return b;
}

/**
 * Gives the buffers of a received frame's segments back for reuse by later frames. Only
 * large segments a FrameReader made count, each once however often it is given; anything
 * else is ignored. The caller guarantees nothing reads them any more.
 */
export function recycleSegments(buffers: readonly ArrayBuffer[]): void {
  for (const b of buffers) {
    if (!issued.delete(b)) continue;
    if (pool.length >= POOL_MAX_BUFFERS || poolBytes + b.byteLength > POOL_MAX_BYTES) continue;
    pool.push(b);
    poolBytes += b.byteLength;
  }
}

/**
 * Segments up to this size are allocated whole when their first byte is due; larger ones
 * grow (see the file comment). Above a 64 KiB result's segment, so the large reads the
 * benchmarks measure land in place in their final buffer without a copy.
 */
export const EAGER_SEGMENT_BYTES = 256 * 1024;

/** Limits the framer enforces. Read at each frame header: the owner may change them. */
export interface FrameLimits {
  maxMessageBytes: number;
  maxSegments: number;
  /** Names the size limit in the error for a frame over it (default "maxMessageBytes"). */
  maxMessageBytesName?: string;
}

/** Tuning of a FrameReader (tests use small values to see segments grow). */
export interface FrameReaderOptions {
  /** See EAGER_SEGMENT_BYTES. */
  eagerSegmentBytes?: number;
}

const EMPTY = new ArrayBuffer(0);

/**
 * What push() and commit() return when no frame completed (most reads of a large frame,
 * and every read of a header alone): one shared, frozen empty array, not a new one per read.
 */
const NO_FRAMES: Frame[] = Object.freeze([]) as unknown as Frame[];

/** Memory for (the start of) a segment: large ones uninitialized, every byte is overwritten. */
function allocSegment(size: number, final: boolean): ArrayBuffer {
  if (size < UNINITIALIZED_MIN) return new ArrayBuffer(size);
  // Only a segment's final buffer comes from (and may go back to) the pool.
  return final ? takeSegment(size) : Buffer.allocUnsafeSlow(size).buffer;
}

/** Between frames: no sizes, no segments (shared, frozen: only #onSizes makes the real ones). */
const NO_SIZES: number[] = Object.freeze([]) as unknown as number[];
const NO_SEGMENTS: ArrayBuffer[] = Object.freeze([]) as unknown as ArrayBuffer[];

const enum State {
  Count,
  Sizes,
  /** The header's padding word, after an even number of sizes. */
  Pad,
  Body,
}

/**
 * Incremental frame parser. `push(chunk)` survives any split and returns the frames
 * completed by that chunk; invalid headers throw ProtocolError (after which the reader
 * must not be used again).
 */
/** What each byte of a little-endian 32-bit word is worth. */
const BYTE_WEIGHT = [1, 0x100, 0x10000, 0x1000000] as const;

export class FrameReader {
  readonly #limits: FrameLimits;
  #state = State.Count;
  // The header is read a byte at a time into numbers: the word being gathered (little
  // endian) and how many of its bytes are in. No buffer of its own: an idle connection's
  // reader held an 8-byte Uint8Array, its ArrayBuffer and a DataView (about 0.4 KB with
  // the backing store) for nothing.
  #word = 0;
  #wordFill = 0;
  /** Header bytes of the frame being received (0 between frames). */
  #hdrFill = 0;
  #count = 0;
  /** Sizes read so far; padding bytes still to skip. */
  #sizesRead = 0;
  #padLeft = 0;
  /** Each segment's size in bytes, from the header. */
  #sizes: number[] = NO_SIZES;
  /** Completed segments (the rest are filled in as they complete). */
  #segments: ArrayBuffer[] = NO_SEGMENTS;
  #segIndex = 0;
  #segFill = 0;
  /** The current segment's memory: its final buffer, or a smaller one it grows from. */
  #cur: Uint8Array | null = null;
  /** The current segment's size (#cur may be smaller while it grows). */
  #segSize = 0;
  /** Bytes allocated for the frame being received (segments done and the current one). */
  #allocated = 0;
  #frameBytes = 0;
  readonly #eager: number;
  /** Whether the last readTarget() was the current segment itself. */
  #direct = false;
  /** Whether part of the frame being received was read in place. */
  #directInFrame = false;
  /** Whether part of the last frame was read in place (see SCRATCH_AFTER_LARGE). */
  #lastLarge = false;

  constructor(limits: FrameLimits, opts: FrameReaderOptions = {}) {
    this.#limits = limits;
    this.#eager = opts.eagerSegmentBytes ?? EAGER_SEGMENT_BYTES;
  }

  /** Bytes of a partial frame held (for tests: 0 between frames). */
  get buffered(): number {
    return this.#state === State.Body ? this.#frameBytes : this.#hdrFill;
  }

  /** Bytes of memory allocated for the frame being received (0 between frames). */
  get allocated(): number {
    return this.#state === State.Body ? this.#allocated : 0;
  }

  /**
   * Where the next read should put its bytes: the unfilled rest of the segment being
   * received when that is large (read in place), else the process's scratch buffer
   * (shared by every reader: see SCRATCH). Pass the number of bytes read to commit()
   * before asking again, and before any other reader's target is filled.
   */
  readTarget(): Uint8Array {
    const cur = this.#cur;
    if (this.#state === State.Body && cur !== null && cur.length - this.#segFill >= DIRECT_MIN) {
      this.#direct = true;
      this.#directInFrame = true;
      return cur.subarray(this.#segFill);
    }
    this.#direct = false;
    if (this.#lastLarge && this.#state === State.Count && this.#hdrFill === 0) return SCRATCH_HEAD;
    return SCRATCH;
  }

  /**
   * Accounts for `n` bytes read into the last readTarget(); returns the frames completed
   * (an array the caller must not change).
   */
  commit(n: number): readonly Frame[] {
    if (!this.#direct) return this.push(SCRATCH.subarray(0, n));
    this.#segFill += n;
    if (this.#segFill < this.#cur!.length) return NO_FRAMES;
    if (this.#segFill < this.#segSize) {
      this.#grow();
      return NO_FRAMES;
    }
    this.#nextSegment();
    return this.#cur === null ? [this.#finish()] : NO_FRAMES;
  }

  /** Feeds bytes; returns every frame they complete, possibly none (an array the caller must not change). */
  push(chunk: Uint8Array): readonly Frame[] {
    let out: Frame[] = NO_FRAMES;
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.#state !== State.Body) {
        const b = chunk[pos++]!;
        this.#hdrFill++;
        if (this.#state === State.Pad) {
          if (--this.#padLeft === 0) this.#startBody();
          continue;
        }
        this.#word += b * BYTE_WEIGHT[this.#wordFill]!;
        if (++this.#wordFill < 4) continue;
        const word = this.#word;
        this.#word = 0;
        this.#wordFill = 0;
        if (this.#state === State.Count) this.#onCount(word);
        else this.#onSize(word);
        continue;
      }
      const cur = this.#cur!;
      const take = Math.min(cur.length - this.#segFill, n - pos);
      cur.set(chunk.subarray(pos, pos + take), this.#segFill);
      this.#segFill += take;
      pos += take;
      if (this.#segFill === cur.length) {
        if (this.#segFill < this.#segSize) this.#grow();
        else {
          this.#nextSegment();
          if (this.#cur === null) {
            if (out === NO_FRAMES) out = [];
            out.push(this.#finish());
          }
        }
      }
    }
    return out;
  }

  #onCount(word: number): void {
    const count = word + 1;
    if (count > this.#limits.maxSegments) {
      throw new ProtocolError(`frame claims ${count} segments (limit ${this.#limits.maxSegments})`);
    }
    this.#count = count;
    this.#sizes = new Array<number>(count);
    this.#sizesRead = 0;
    // 4 bytes of count + 4 per size, padded to a multiple of 8.
    this.#frameBytes = (4 + 4 * count + 7) & ~7;
    this.#padLeft = this.#frameBytes - 4 - 4 * count;
    this.#state = State.Sizes;
  }

  #onSize(word: number): void {
    const size = word * 8;
    this.#frameBytes += size;
    const max = this.#limits.maxMessageBytes;
    if (this.#frameBytes > max) {
      throw new ProtocolError(`frame of more than ${max} bytes refused (${this.#limits.maxMessageBytesName ?? 'maxMessageBytes'})`);
    }
    this.#sizes[this.#sizesRead++] = size;
    if (this.#sizesRead < this.#count) return;
    if (this.#padLeft > 0) this.#state = State.Pad;
    else this.#startBody();
  }

  /** The whole header is in and checked: only now is anything allocated, and only as the bytes of each segment arrive (#nextSegment, #grow). */
  #startBody(): void {
    if (this.#sizes[0] === 0) throw new ProtocolError('frame segment 0 is empty (no root pointer)');
    this.#segments = new Array<ArrayBuffer>(this.#count);
    this.#allocated = 0;
    this.#segIndex = -1;
    this.#state = State.Body;
    this.#nextSegment();
  }

  /**
   * The current segment (if any) is complete: keep it, and start the next non-empty one
   * with memory for its first bytes. Each segment is an ArrayBuffer of its own at offset
   * 0 (capnp-es wants that).
   */
  #nextSegment(): void {
    if (this.#cur !== null) this.#segments[this.#segIndex] = this.#cur.buffer as ArrayBuffer;
    this.#segFill = 0;
    this.#cur = null;
    while (++this.#segIndex < this.#count) {
      const size = this.#sizes[this.#segIndex]!;
      if (size === 0) {
        this.#segments[this.#segIndex] = EMPTY;
        continue;
      }
      const first = size <= this.#eager ? size : this.#eager;
      this.#segSize = size;
      this.#cur = new Uint8Array(allocSegment(first, first === size));
      this.#allocated += first;
      return;
    }
  }

  /** The current segment's memory is full but the segment is not: double it (at most to its size). */
  #grow(): void {
    const old = this.#cur!;
    const size = Math.min(this.#segSize, old.length * 2);
    const next = new Uint8Array(allocSegment(size, size === this.#segSize));
    next.set(old);
    this.#allocated += size - old.length;
    this.#cur = next;
  }

  #finish(): Frame {
    const f: Frame = { segments: this.#segments, bytes: this.#frameBytes };
    this.#lastLarge = this.#directInFrame;
    this.#directInFrame = false;
    this.#segments = NO_SEGMENTS;
    this.#sizes = NO_SIZES;
    this.#allocated = 0;
    this.#state = State.Count;
    this.#hdrFill = 0;
    this.#frameBytes = 0;
    return f;
  }
}

/** Frames segments (each word-aligned) into one buffer: for tests and the slow path. */
export function encodeFrame(segments: readonly Uint8Array[]): Uint8Array {
  const hdr = (4 + 4 * segments.length + 7) & ~7;
  let total = hdr;
  for (const s of segments) total += s.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, segments.length - 1, true);
  let pos = hdr;
  segments.forEach((s, i) => {
    if (s.length % 8 !== 0) throw new RangeError('segment is not word-aligned');
    dv.setUint32(4 + 4 * i, s.length / 8, true);
    out.set(s, pos);
    pos += s.length;
  });
  return out;
}
