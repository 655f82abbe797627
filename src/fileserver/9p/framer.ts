/**
 * Splits a 9P byte stream into frames. Pure: no I/O. Feed it whatever chunks the
 * transport delivers, split anywhere; it yields each whole message once its last byte
 * has arrived.
 */
import { HEADER_SIZE } from './constants.js';
import { NinepProtocolError } from './errors.js';

/** Frames smaller than this are not pooled. */
const POOL_MIN = 4096;
/** At most this many recycled buffers are kept per framer. */
const MAX_FREE = 8;

/**
 * A stream framer with a maximum frame size. A frame whose size[4] is over `maxSize` (or
 * under the 7-byte header) is rejected as soon as its size field has arrived, before any
 * of its body is buffered [ws maxPayload].
 *
 * Frames that lie whole inside one chunk are returned as views of it (no copy). A frame
 * split across chunks is kept as views of those chunks and copied once, when its last
 * byte arrives (Node reads sockets 64 KiB at a time, so every Twrite at msize 64 KiB is
 * split), into a buffer given back by `recycle` when one fits; nothing is allocated ahead
 * of the bytes actually received.
 *
 * Not safe for concurrent use (it holds the partial frame); one per connection.
 */
export class NinepFramer {
  /** Views of the chunks holding the start of an incomplete frame. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Size of the frame being collected, once its size field is known; -1 before. */
  private need = -1;
  /** Buffers of recycled frames, reused for frames assembled from several chunks. */
  private readonly free: Buffer[] = [];
  /** The memory of the buffers in `free`: a frame given back twice is kept once. */
  private readonly freeSet = new Set<ArrayBufferLike>();
  /** The buffers this framer made for assembled frames (recyclable), by their memory. */
  private readonly own = new WeakSet<ArrayBufferLike>();

  /** @param maxSize the largest frame accepted (the negotiated msize, or the server's maximum before Tversion). */
  constructor(public maxSize: number) {}

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /**
   * Adds `chunk` and returns the frames it completes, in order (possibly none). Each
   * returned frame is its own memory or a view of `chunk`; the caller may keep it. The
   * framer keeps views of `chunk` for a frame that continues in later chunks: the caller
   * must not reuse `chunk`'s memory. Throws NinepProtocolError for a size out of range;
   * the framer is then unusable.
   */
  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pendingBytes > 0) {
      if (this.need < 0) {
        // The size field itself was split.
        const take = Math.min(4 - this.pendingBytes, buf.length);
        this.pending.push(buf.subarray(0, take));
        this.pendingBytes += take;
        buf = buf.subarray(take);
        if (this.pendingBytes < 4) return out;
        this.need = this.checkSize(Buffer.concat(this.pending, 4).readUInt32LE(0));
      }
      const take = Math.min(this.need - this.pendingBytes, buf.length);
      this.pending.push(buf.subarray(0, take));
      this.pendingBytes += take;
      buf = buf.subarray(take);
      if (this.pendingBytes < this.need) return out;
      out.push(this.assemble());
      this.pending = [];
      this.pendingBytes = 0;
      this.need = -1;
    }
    let pos = 0;
    while (buf.length - pos >= 4) {
      const size = this.checkSize(buf.readUInt32LE(pos));
      if (buf.length - pos < size) break;
      out.push(buf.subarray(pos, pos + size));
      pos += size;
    }
    if (pos < buf.length) {
      const tail = buf.subarray(pos);
      this.pending = [tail];
      this.pendingBytes = tail.length;
      this.need = tail.length >= 4 ? this.checkSize(tail.readUInt32LE(0)) : -1;
    }
    return out;
  }

  /**
   * Gives back a frame this framer returned, once nothing refers to its memory any more
   * (for a Twrite: once the backend's write has settled). An assembled frame's buffer is
   * then reused for a later frame instead of allocating one: at msize 64 KiB every Twrite
   * is assembled, and the allocation, not the copy, is what costs (in GC). Frames that
   * were views of a chunk are ignored. Optional: a frame never given back is collected.
   */
  recycle(frame: Buffer): void {
    const mem = frame.buffer;
    if (!this.own.has(mem) || this.freeSet.has(mem) || this.free.length >= MAX_FREE) return;
    this.freeSet.add(mem);
    this.free.push(Buffer.from(mem, 0, mem.byteLength));
  }

  /** Copies the pending views into one frame, in a recycled buffer when one fits. */
  private assemble(): Buffer {
    const need = this.need;
    let base: Buffer | undefined;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      // Reuse only a buffer of about the right size: a big one for small frames would pin memory.
      if (b.length >= need && b.length <= need * 2) {
        base = b;
        this.free.splice(i, 1);
        this.freeSet.delete(b.buffer);
        break;
      }
    }
    if (base === undefined) {
      if (need < POOL_MIN) return Buffer.concat(this.pending, need);
      base = Buffer.allocUnsafeSlow(need);
      this.own.add(base.buffer);
    }
    let at = 0;
    for (const p of this.pending) {
      p.copy(base, at);
      at += p.length;
    }
    return base.subarray(0, need);
  }

  private checkSize(size: number): number {
    if (size < HEADER_SIZE)
      throw new NinepProtocolError(
        `message size ${size} is smaller than the ${HEADER_SIZE}-byte header`,
      );
    if (size > this.maxSize)
      throw new NinepProtocolError(`message size ${size} is over msize ${this.maxSize}`);
    return size;
  }
}
