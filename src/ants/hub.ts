/**
 * Hubs (ANTS hubfs, section V): named channels, each a stream of bytes that any number
 * of writers append to and any number of readers follow, each at its own pace. The hub
 * lives in the server, so channels outlive every client (ANTS's persistent shells).
 *
 * Flow control: a write is appended at once and never waits for a reader. Each channel
 * retains its last `backlogBytes` (plus at most one write); a reader is a position in the
 * stream, and one that falls behind what is retained is moved to the oldest byte retained
 * and told how many bytes it missed. So a slow or stopped reader costs the hub nothing
 * beyond the backlog, and loses only its own data, knowingly.
 *
 * Concurrency: single-threaded; every method is atomic. Waiting readers are woken by the
 * next write, or by the channel's removal.
 */
import { NsError } from '../errors.js';
import { nameError } from '../fileserver/file-server.js';

/** Limits of a hub, each with a safe default. */
export interface HubOptions {
  /** Bytes each channel retains for readers that join from the backlog or fall behind. Default 1 MiB. */
  readonly backlogBytes?: number;
  /** Channels at once (NS_ERR_BUSY beyond). Default 256. */
  readonly maxChannels?: number;
  /** Bytes in one write (NS_ERR_TOO_LARGE beyond). Default 64 KiB. */
  readonly maxWriteBytes?: number;
  /** Readers waiting on one channel at once (NS_ERR_BUSY beyond). Default 1024. */
  readonly maxWaiting?: number;
}

export const DEFAULT_HUB_BACKLOG_BYTES = 1 << 20;
export const DEFAULT_HUB_MAX_CHANNELS = 256;
export const DEFAULT_HUB_MAX_WRITE_BYTES = 64 * 1024;
export const DEFAULT_HUB_MAX_WAITING = 1024;

/** What `Channel.read` returns. */
export interface HubRead {
  readonly data: Uint8Array;
  /** The offset to read next. */
  readonly next: bigint;
  /** Bytes between the offset asked for and the oldest byte retained (lost to this reader). */
  readonly missed: bigint;
}

/** A channel's counters, as `Hub.channels()` lists them. A plain value. */
export interface ChannelInfo {
  readonly name: string;
  readonly end: bigint;
  readonly oldest: bigint;
  readonly readers: number;
  readonly writes: bigint;
  readonly missed: bigint;
}

/** One named stream of a hub. */
export class Channel {
  /** Retained writes, oldest first, each with the offset of its first byte. */
  readonly #chunks: { at: bigint; data: Uint8Array }[] = [];
  /** Index of the first live chunk in #chunks (dropped ones are spliced in batches). */
  #head = 0;
  #retained = 0;
  #end = 0n;
  #writes = 0n;
  #missed = 0n;
  #removed = false;
  readonly #waiting = new Set<() => void>();
  /** Of #waiting, the reads of open files (counted once, as followers). */
  #filesWaiting = 0;
  /** Open files following this channel (counted in `readers`). */
  followers = 0;

  constructor(
    readonly name: string,
    readonly hub: Hub,
  ) {}

  get removed(): boolean {
    return this.#removed;
  }

  /** Bytes ever written: where a reader joining now starts. */
  get end(): bigint {
    return this.#end;
  }

  /** Offset of the oldest byte retained: where a reader of the backlog starts. */
  get oldest(): bigint {
    const first = this.#chunks[this.#head];
    return first === undefined ? this.#end : first.at;
  }

  info(): ChannelInfo {
    const readers = this.#waiting.size - this.#filesWaiting + this.followers;
    return { name: this.name, end: this.#end, oldest: this.oldest, readers, writes: this.#writes, missed: this.#missed };
  }

  /**
   * Appends `data` (copied) as one piece; returns the offset after it.
   * @throws NsError NS_ERR_NOT_FOUND (removed), NS_ERR_TOO_LARGE (over maxWriteBytes).
   */
  write(data: Uint8Array): bigint {
    if (this.#removed) throw new NsError('NS_ERR_NOT_FOUND', `hub channel '${this.name}' was removed`);
    const max = this.hub.maxWriteBytes;
    if (data.length > max) throw new NsError('NS_ERR_TOO_LARGE', `a write of ${data.length} bytes to hub channel '${this.name}'; at most ${max} (maxWriteBytes)`);
    if (data.length === 0) return this.#end;
    this.#chunks.push({ at: this.#end, data: Uint8Array.from(data) });
    this.#end += BigInt(data.length);
    this.#retained += data.length;
    this.#writes++;
    // Keep the backlog: drop whole writes from the front while the rest still covers it.
    const backlog = this.hub.backlogBytes;
    while (this.#head < this.#chunks.length - 1 && this.#retained - (this.#chunks[this.#head] as { data: Uint8Array }).data.length >= backlog) {
      this.#retained -= (this.#chunks[this.#head] as { data: Uint8Array }).data.length;
      this.#head++;
    }
    if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
      this.#chunks.splice(0, this.#head);
      this.#head = 0;
    }
    this.#wake();
    return this.#end;
  }

  /**
   * Up to `max` bytes from `from`, without waiting (empty when there are none yet). A
   * `from` before the oldest byte retained reads from the oldest, with `missed` set; one
   * past the end reads from the end.
   */
  read(from: bigint, max: number): HubRead {
    let at = from > this.#end ? this.#end : from;
    let missed = 0n;
    const oldest = this.oldest;
    if (at < oldest) {
      missed = oldest - at;
      this.#missed += missed;
      at = oldest;
    }
    const parts: Uint8Array[] = [];
    let n = 0;
    // Find the chunk holding `at` (chunks are in offset order: binary search).
    let lo = this.#head;
    let hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#chunks[mid] as { at: bigint }).at <= at) lo = mid;
      else hi = mid - 1;
    }
    for (let i = lo; i < this.#chunks.length && n < max; i++) {
      const c = this.#chunks[i] as { at: bigint; data: Uint8Array };
      const skip = at > c.at ? Number(at - c.at) : 0;
      if (skip >= c.data.length) continue;
      const piece = c.data.subarray(skip, skip + (max - n));
      parts.push(piece);
      n += piece.length;
    }
    const data = parts.length === 1 ? (parts[0] as Uint8Array) : concat(parts, n);
    return { data, next: at + BigInt(n), missed };
  }

  /**
   * Resolves once there is something at `from` (a write reached it) or the channel is
   * removed; rejects with `signal.reason` when the signal aborts first. `follower`: the
   * read of an open file, already counted in `readers`.
   * @throws NsError NS_ERR_BUSY with maxWaiting readers waiting already.
   */
  async wait(from: bigint, signal?: AbortSignal, follower = false): Promise<void> {
    signal?.throwIfAborted();
    if (this.#removed || from < this.#end || from < this.oldest) return;
    if (this.#waiting.size >= this.hub.maxWaiting) {
      throw new NsError('NS_ERR_BUSY', `${this.#waiting.size} readers are waiting on hub channel '${this.name}' already (maxWaiting)`);
    }
    if (follower) this.#filesWaiting++;
    await new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        this.#waiting.delete(done);
        if (follower) this.#filesWaiting--;
      };
      const done = (): void => {
        leave();
        signal?.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = (): void => {
        leave();
        const why: unknown = signal?.reason;
        reject(why instanceof Error ? why : new NsError('NS_ERR_IO', `a read of hub channel '${this.name}' was cancelled`));
      };
      this.#waiting.add(done);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  /**
   * Reads up to `max` bytes from `from`, waiting while there are none; empty once the
   * channel is removed. `follower` as for `wait`.
   */
  async follow(from: bigint, max: number, signal?: AbortSignal, follower = false): Promise<HubRead> {
    for (;;) {
      const r = this.read(from, max);
      if (r.data.length > 0 || r.missed > 0n || this.#removed) return r;
      await this.wait(r.next, signal, follower);
    }
  }

  /** @internal Hub.remove's. */
  markRemoved(): void {
    this.#removed = true;
    this.#chunks.length = 0;
    this.#head = 0;
    this.#retained = 0;
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiting]) w();
  }
}

function concat(parts: readonly Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A set of named channels. */
export class Hub {
  readonly #channels = new Map<string, Channel>();
  readonly backlogBytes: number;
  readonly maxChannels: number;
  readonly maxWriteBytes: number;
  readonly maxWaiting: number;

  /** @throws RangeError for a limit that is not a positive integer. */
  constructor(options: HubOptions = {}) {
    const check = (k: keyof HubOptions, d: number): number => {
      const v = options[k] ?? d;
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`hub ${k} must be a positive integer`);
      return v;
    };
    this.backlogBytes = check('backlogBytes', DEFAULT_HUB_BACKLOG_BYTES);
    this.maxChannels = check('maxChannels', DEFAULT_HUB_MAX_CHANNELS);
    this.maxWriteBytes = check('maxWriteBytes', DEFAULT_HUB_MAX_WRITE_BYTES);
    this.maxWaiting = check('maxWaiting', DEFAULT_HUB_MAX_WAITING);
  }

  /** The channel `name`. @throws NsError NS_ERR_NOT_FOUND. */
  get(name: string): Channel {
    const c = this.#channels.get(name);
    if (c === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no hub channel '${name}'`);
    return c;
  }

  has(name: string): boolean {
    return this.#channels.has(name);
  }

  /**
   * A new channel. @throws NsError NS_ERR_EXISTS, NS_ERR_BUSY (maxChannels),
   * NS_ERR_INVALID_PATH / NS_ERR_TOO_LARGE (not a file name).
   */
  create(name: string): Channel {
    const bad = nameError(name);
    if (bad !== undefined) throw bad;
    if (this.#channels.has(name)) throw new NsError('NS_ERR_EXISTS', `hub channel '${name}' exists`);
    if (this.#channels.size >= this.maxChannels) throw new NsError('NS_ERR_BUSY', `the hub has ${this.maxChannels} channels, its limit (maxChannels)`);
    const c = new Channel(name, this);
    this.#channels.set(name, c);
    return c;
  }

  /** Removes a channel; its waiting readers get the end. @throws NsError NS_ERR_NOT_FOUND. */
  remove(name: string): void {
    const c = this.get(name);
    this.#channels.delete(name);
    c.markRemoved();
  }

  /** The channels, in creation order. */
  list(): Channel[] {
    return [...this.#channels.values()];
  }

  /** Removes every channel (the server is closing): waiting readers get the end. */
  close(): void {
    for (const name of [...this.#channels.keys()]) this.remove(name);
  }
}
