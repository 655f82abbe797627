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
/** Reads into memory we choose: a frame with at least this much still to come is read in place. */
const DIRECT_MIN = 4096;
/** Reads into memory we choose: small frames are read back to back into arenas this large. */
const ARENA_BYTES = 256 * 1024;
/**
 * The first arena of a connection. Each arena made after it is twice the last, up to
 * ARENA_BYTES: a connection that sends a Tversion and a few walks (or nothing at all, as
 * a flood of idle sockets does) holds 4 KiB, not a 256 KiB arena mapped and unmapped.
 */
const FIRST_ARENA_BYTES = 4096;
/**
 * Reads into memory we choose: a read is offered at least this much room in the arena
 * (else the next arena), so that a whole Twrite at msize 64 KiB lands in one read.
 */
const READ_ROOM = 64 * 1024 + 4096;
/**
 * Where a connection's reads go until it has received a byte: one buffer for the process.
 * commit() copies what arrived into the connection's first arena before the read returns
 * to the event loop, so no two connections ever use it at once. A connection that never
 * sends anything (an idle socket, one evicted or closed before it speaks) allocates
 * nothing: under a flood of them, a 4 KiB arena per connection, freed only when the
 * collector got to its Buffer, left holes in the C heap that kept the server's resident
 * memory 20 MiB up after the flood.
 */
const FIRST_READ = Buffer.allocUnsafeSlow(READ_ROOM);
/** At most this many arenas whose frames have all been given back are kept for reuse. */
const MAX_FREE_ARENAS = 2;

/** A buffer frames are read into back to back; reusable once every frame in it is given back. */
interface Arena {
  readonly buf: Buffer;
  /** Frames handed out of it and not yet given back. */
  live: number;
  /** Whether reads have moved on to another arena. */
  retired: boolean;
}

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
 * A second way in, for a socket that reads where its owner says (net's `onread`):
 * `readTarget()` names where the next read goes and `commit(n)` takes the frames the `n`
 * bytes read there complete. Small frames are read back to back into an arena and handed
 * out as views of it (no copy); the rest of a large frame is read in place into a buffer
 * of its own (recycled like an assembled frame), with only the bytes of its start that
 * came with an earlier read copied. An arena is reused once every frame in it has been
 * given back through `recycle`. Nothing is allocated per read. A framer is fed one way
 * or the other, never both.
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

  // Reads into memory we choose (readTarget/commit).
  /** The arena being read into, its bytes read so far, and where its unparsed bytes start. */
  private arena: Arena | null = null;
  private arenaEnd = 0;
  private arenaParsed = 0;
  /**
   * Frames handed out of arenas and not yet given back, with their arena (a frame given
   * back twice counts once). A plain Map, not a WeakMap: weak tables cost V8 a write
   * barrier and rehashing on every frame. A frame never given back stays until the framer
   * (its connection) goes.
   */
  private readonly outFrames = new Map<Buffer, Arena>();
  private readonly freeArenas: Arena[] = [];
  /** The size of the next arena made (FIRST_ARENA_BYTES, doubling up to ARENA_BYTES). */
  private arenaBytes = FIRST_ARENA_BYTES;
  /** A frame whose rest is being read in place, and its bytes so far. */
  private direct: Buffer | null = null;
  private directFill = 0;
  /** Whether the last readTarget() was `direct`. */
  private lastDirect = false;
  /** Whether the last readTarget() was FIRST_READ (no arena yet). */
  private lastFirst = false;
  /** Set once a size was out of range: the framer takes nothing more. */
  private broken = false;
  private sink: Buffer | null = null;

  /** @param maxSize the largest frame accepted (the negotiated msize, or the server's maximum before Tversion). */
  constructor(public maxSize: number) {}

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return (
      this.pendingBytes +
      (this.arenaEnd - this.arenaParsed) +
      (this.direct === null ? 0 : this.directFill)
    );
  }

  /**
   * Where the next read should put its bytes (see the class comment). Pass the number of
   * bytes read to `commit` before asking again.
   */
  readTarget(): Uint8Array {
    // After a bad size nothing more is parsed: reads (until the socket closes) go nowhere.
    if (this.broken) return (this.sink ??= Buffer.allocUnsafe(64));
    let a = this.arena;
    if (this.direct === null && a !== null) {
      const partial = this.arenaEnd - this.arenaParsed;
      // A frame whose size is known (checked by commit) and whose rest is large, or which
      // could not fit in a fresh arena with room to spare: copy its start out, read the
      // rest in place.
      if (partial >= 4) {
        const need = a.buf.readUInt32LE(this.arenaParsed);
        if (need - partial >= DIRECT_MIN || need > this.arenaBytes / 2) {
          const f = this.frameBuffer(need);
          a.buf.copy(f, 0, this.arenaParsed, this.arenaEnd);
          this.arenaParsed = this.arenaEnd;
          this.direct = f;
          this.directFill = partial;
        }
      }
    }
    if (this.direct !== null) {
      this.lastDirect = true;
      return this.direct.subarray(this.directFill);
    }
    this.lastDirect = false;
    if (a === null) {
      this.lastFirst = true;
      return FIRST_READ;
    }
    if (a.buf.length - this.arenaEnd < Math.min(READ_ROOM, this.maxSize, a.buf.length / 2)) {
      const next = this.takeArena();
      const partial = this.arenaEnd - this.arenaParsed;
      a.buf.copy(next.buf, 0, this.arenaParsed, this.arenaEnd);
      a.retired = true;
      if (a.live === 0) this.freeArena(a);
      this.arena = a = next;
      this.arenaEnd = partial;
      this.arenaParsed = 0;
    }
    return a.buf.subarray(this.arenaEnd);
  }

  /**
   * Accounts for `n` bytes read into the last readTarget(); returns the frames they
   * complete, in order. Each is a view of an arena or a buffer of its own; give each back
   * with `recycle` once nothing refers to it. Throws NinepProtocolError for a size out of
   * range; the framer is then unusable.
   */
  commit(n: number): Buffer[] {
    if (this.broken) return [];
    if (this.lastDirect) {
      const f = this.direct!;
      this.directFill += n;
      if (this.directFill < f.length) return [];
      this.direct = null;
      return [f];
    }
    if (this.lastFirst) {
      // The first bytes: into an arena of the connection's own, large enough for them.
      this.lastFirst = false;
      if (n <= 0) return [];
      while (this.arenaBytes < n && this.arenaBytes < ARENA_BYTES) this.arenaBytes *= 2;
      const first = this.takeArena(n);
      FIRST_READ.copy(first.buf, 0, 0, n);
      this.arena = first;
      this.arenaEnd = 0;
      this.arenaParsed = 0;
    }
    const a = this.arena!;
    const buf = a.buf;
    const end = (this.arenaEnd += n);
    const out: Buffer[] = [];
    let pos = this.arenaParsed;
    while (end - pos >= 4) {
      const size = this.checkSize(buf.readUInt32LE(pos));
      if (end - pos < size) break;
      const f = buf.subarray(pos, pos + size);
      this.outFrames.set(f, a);
      out.push(f);
      pos += size;
    }
    a.live += out.length;
    this.arenaParsed = pos;
    return out;
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
    const a = this.outFrames.get(frame);
    if (a !== undefined) {
      this.outFrames.delete(frame);
      if (--a.live === 0 && a.retired) this.freeArena(a);
      return;
    }
    const mem = frame.buffer;
    if (!this.own.has(mem) || this.freeSet.has(mem) || this.free.length >= MAX_FREE) return;
    this.freeSet.add(mem);
    this.free.push(Buffer.from(mem, 0, mem.byteLength));
  }

  /** Copies the pending views into one frame, in a recycled buffer when one fits. */
  private assemble(): Buffer {
    const need = this.need;
    if (need < POOL_MIN) return Buffer.concat(this.pending, need);
    const base = this.frameBuffer(need);
    let at = 0;
    for (const p of this.pending) {
      p.copy(base, at);
      at += p.length;
    }
    return base;
  }

  /** A recyclable buffer of `need` bytes (POOL_MIN or more): a recycled one when one fits. */
  private frameBuffer(need: number): Buffer {
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      // Reuse only a buffer of about the right size: a big one for small frames would pin memory.
      if (b.length >= need && b.length <= need * 2) {
        this.free.splice(i, 1);
        this.freeSet.delete(b.buffer);
        return b.subarray(0, need);
      }
    }
    const base = Buffer.allocUnsafeSlow(need);
    this.own.add(base.buffer);
    return base;
  }

  /** An arena for reading on: a free one, or a new one of the current size (at least `min` bytes). */
  private takeArena(min = 0): Arena {
    const a = this.freeArenas.pop();
    if (a !== undefined) {
      a.retired = false;
      return a;
    }
    const bytes = Math.max(this.arenaBytes, min);
    this.arenaBytes = Math.min(ARENA_BYTES, this.arenaBytes * 2);
    return { buf: Buffer.allocUnsafeSlow(bytes), live: 0, retired: false };
  }

  /**
   * An arena read past and with no frame out: kept for reuse, or left to the collector
   * (as are the smaller ones of a connection whose arenas are still growing).
   */
  private freeArena(a: Arena): void {
    if (this.freeArenas.length < MAX_FREE_ARENAS && a.buf.length * 2 > this.arenaBytes) this.freeArenas.push(a);
  }

  private checkSize(size: number): number {
    if (size < HEADER_SIZE || size > this.maxSize) this.broken = true;
    if (size < HEADER_SIZE)
      throw new NinepProtocolError(
        `message size ${size} is smaller than the ${HEADER_SIZE}-byte header`,
      );
    if (size > this.maxSize)
      throw new NinepProtocolError(`message size ${size} is over msize ${this.maxSize}`);
    return size;
  }
}
