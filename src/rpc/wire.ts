/* eslint-disable @typescript-eslint/no-unsafe-enum-comparison -- wire values are plain numbers read from the peer; comparing them with the const enums that name them is the point. */
/**
 * The rpc.capnp envelope, hand-encoded and hand-decoded.
 *
 * Why by hand: building one small Call with capnp-es accessors costs ~49 µs (an object
 * and a bounds check per field); the envelope has a fixed layout (rpc.capnp, offsets
 * below as printed by `capnp compile -ocapnp rpc.capnp`), so we write it with DataView
 * into a reused buffer and read it with DataView, and let capnp-es build and read only
 * the params/results *content*. Content travels as extra segments of the same frame: the
 * envelope is segment 0 and Payload.content is a far pointer to word 0 of segment 1,
 * which is the content message's own root pointer (a valid landing pad). capnp-es
 * messages built with `new Message()` are single-segment, so no far pointer inside the
 * content needs renumbering.
 *
 * The decoder bounds-checks every pointer (ProtocolError on anything malformed) and
 * reads fields past a struct's data or pointer section as their defaults, as the
 * encoding spec requires for schema evolution.
 */
import type { PipelineOp } from './cap.js';
import { ProtocolError } from './failure.js';

// ---------------------------------------------------------------------------------------
// Message union tags (rpc.capnp Message).
export const enum Tag {
  Unimplemented = 0,
  Abort = 1,
  Call = 2,
  Return = 3,
  Finish = 4,
  Resolve = 5,
  Release = 6,
  ObsoleteSave = 7,
  Bootstrap = 8,
  ObsoleteDelete = 9,
  Provide = 10,
  Accept = 11,
  Join = 12,
  Disembargo = 13,
}

/** Return union tags. */
export const enum RetTag {
  Results = 0,
  Exception = 1,
  Canceled = 2,
  ResultsSentElsewhere = 3,
  TakeFromOtherQuestion = 4,
  AcceptFromThirdParty = 5,
}

/** CapDescriptor union tags. */
export const enum CapTag {
  None = 0,
  SenderHosted = 1,
  SenderPromise = 2,
  ReceiverHosted = 3,
  ReceiverAnswer = 4,
  ThirdPartyHosted = 5,
}

/** Disembargo.context union tags. */
export const enum EmbargoTag {
  SenderLoopback = 0,
  ReceiverLoopback = 1,
  Accept = 2,
  Provide = 3,
}

/** A capability descriptor (CapDescriptor) as decoded / to encode. */
export interface CapDesc {
  tag: CapTag;
  /** senderHosted/senderPromise/receiverHosted id, or receiverAnswer question id. */
  id: number;
  /** receiverAnswer transform. */
  ops: PipelineOp[] | null;
}

/** MessageTarget. */
export type Target =
  | { kind: 'import'; id: number }
  | { kind: 'answer'; questionId: number; ops: PipelineOp[] };

/** Exception. */
export interface WireException {
  type: number;
  reason: string;
}

/** Where a pointer lives in a received frame: segment index and byte offset of the word. */
export interface Loc {
  seg: number;
  off: number;
}

export type Decoded =
  | { which: Tag.Unimplemented; innerTag: number; innerQuestionId: number }
  | { which: Tag.Abort; exc: WireException }
  | { which: Tag.Bootstrap; questionId: number }
  | {
      which: Tag.Call;
      questionId: number;
      target: Target;
      interfaceId: bigint;
      methodId: number;
      content: Loc | null;
      caps: readonly CapDesc[];
      sendResultsTo: number;
    }
  | {
      which: Tag.Return;
      answerId: number;
      releaseParamCaps: boolean;
      /** rpc.capnp Return.noFinishNeeded: the callee dropped the answer already. */
      noFinishNeeded: boolean;
      kind: number;
      content: Loc | null;
      caps: readonly CapDesc[];
      exc: WireException | null;
      otherQuestion: number;
    }
  | { which: Tag.Finish; questionId: number; releaseResultCaps: boolean }
  | { which: Tag.Resolve; promiseId: number; cap: CapDesc | null; exc: WireException | null }
  | { which: Tag.Release; id: number; count: number }
  | { which: Tag.Disembargo; target: Target; ctx: number; value: number }
  | { which: -1; tag: number };

// ---------------------------------------------------------------------------------------
// Decoding.

interface S {
  seg: number;
  data: number;
  dataLen: number;
  ptrs: number;
  ptrCount: number;
}

const td = new TextDecoder('utf-8', { fatal: false });

/**
 * Bounds-checked reader over a received frame's segments. A segment's DataView is made
 * when the segment is first read (an envelope is read from segment 0 alone: a Return's
 * content segment is left to capnp-es), and a pointer followed leaves its target in
 * fields of the reader rather than in a new object: decoding is a few allocations per
 * message, not one per pointer.
 */
export class WireReader {
  readonly #segments: readonly ArrayBuffer[];
  #dv0: DataView | null = null;
  #dvs: Array<DataView | undefined> | null = null;
  // The target of the pointer #target() followed last: segment, byte offset, its words.
  #tSeg = 0;
  #tAt = 0;
  #tLo = 0;
  #tHi = 0;

  /** Reads `segments` (each a whole segment). */
  constructor(segments: readonly ArrayBuffer[]) {
    this.#segments = segments;
  }

  #dv(seg: number): DataView {
    if (seg === 0 && this.#dv0 !== null) return this.#dv0;
    const b = seg < this.#segments.length ? this.#segments[seg] : undefined;
    if (b === undefined) throw new ProtocolError(`pointer into missing segment ${seg}`);
    if (seg === 0) return (this.#dv0 = new DataView(b));
    const dvs = (this.#dvs ??= []);
    return (dvs[seg] ??= new DataView(b));
  }

  /**
   * Resolves the pointer at (seg, off) through far pointers into #tSeg, #tAt (the byte
   * offset of the target object) and #tLo, #tHi (the words describing it). Returns false
   * for a null pointer.
   */
  #target(seg: number, off: number): boolean {
    const dv = this.#dv(seg);
    if (off + 8 > dv.byteLength) throw new ProtocolError('pointer out of bounds');
    let lo = dv.getUint32(off, true);
    let hi = dv.getUint32(off + 4, true);
    if (lo === 0 && hi === 0) return false;
    if ((lo & 3) !== 2) {
      this.#tSeg = seg;
      this.#tAt = off + 8 + (lo >> 2) * 8;
      this.#tLo = lo;
      this.#tHi = hi;
      return true;
    }
    // Far pointer.
    const double = (lo >>> 2) & 1;
    const padSeg = hi;
    const padOff = (lo >>> 3) * 8;
    const pdv = this.#dv(padSeg);
    if (padOff + (double ? 16 : 8) > pdv.byteLength) throw new ProtocolError('far pointer out of bounds');
    lo = pdv.getUint32(padOff, true);
    hi = pdv.getUint32(padOff + 4, true);
    if (!double) {
      if ((lo & 3) === 2) throw new ProtocolError('far pointer to a far pointer');
      this.#tSeg = padSeg;
      this.#tAt = padOff + 8 + (lo >> 2) * 8;
      this.#tLo = lo;
      this.#tHi = hi;
      return true;
    }
    if ((lo & 7) !== 2) throw new ProtocolError('bad double-far landing pad');
    const tSeg = hi;
    const tOff = (lo >>> 3) * 8;
    this.#dv(tSeg);
    const tlo = pdv.getUint32(padOff + 8, true);
    const thi = pdv.getUint32(padOff + 12, true);
    if ((tlo & 3) === 2 || tlo >>> 2 !== 0) throw new ProtocolError('bad double-far tag');
    this.#tSeg = tSeg;
    this.#tAt = tOff;
    this.#tLo = tlo;
    this.#tHi = thi;
    return true;
  }

  /** The struct the pointer at (seg, off) points to; null for a null pointer. */
  struct(seg: number, off: number): S | null {
    if (!this.#target(seg, off)) return null;
    if ((this.#tLo & 3) !== 0) throw new ProtocolError('expected a struct pointer');
    const at = this.#tAt;
    const dataWords = this.#tHi & 0xffff;
    const ptrCount = this.#tHi >>> 16;
    const end = at + (dataWords + ptrCount) * 8;
    if (at < 0 || end > this.#dv(this.#tSeg).byteLength) throw new ProtocolError('struct out of bounds');
    return { seg: this.#tSeg, data: at, dataLen: dataWords * 8, ptrs: at + dataWords * 8, ptrCount };
  }

  /** Pointer field `i` of `s` as a struct (null if absent or null). */
  structField(s: S, i: number): S | null {
    if (i >= s.ptrCount) return null;
    return this.struct(s.seg, s.ptrs + i * 8);
  }

  /** Location of pointer field `i` (null if the struct has no such field). */
  loc(s: S, i: number): Loc | null {
    if (i >= s.ptrCount) return null;
    return { seg: s.seg, off: s.ptrs + i * 8 };
  }

  u16(s: S, byte: number): number {
    return byte + 2 <= s.dataLen ? this.#dv(s.seg).getUint16(s.data + byte, true) : 0;
  }

  u32(s: S, byte: number): number {
    return byte + 4 <= s.dataLen ? this.#dv(s.seg).getUint32(s.data + byte, true) : 0;
  }

  u64(s: S, byte: number): bigint {
    return byte + 8 <= s.dataLen ? this.#dv(s.seg).getBigUint64(s.data + byte, true) : 0n;
  }

  bit(s: S, bit: number): boolean {
    const byte = bit >>> 3;
    return byte < s.dataLen ? ((this.#dv(s.seg).getUint8(s.data + byte) >>> (bit & 7)) & 1) === 1 : false;
  }

  /** Text at pointer field `i` ('' when null). */
  text(s: S, i: number): string {
    if (i >= s.ptrCount) return '';
    if (!this.#target(s.seg, s.ptrs + i * 8)) return '';
    const lo = this.#tLo;
    const hi = this.#tHi;
    const at = this.#tAt;
    if ((lo & 3) !== 1 || (hi & 7) !== 2) throw new ProtocolError('expected Text');
    const n = hi >>> 3;
    const dv = this.#dv(this.#tSeg);
    if (at < 0 || at + n > dv.byteLength) throw new ProtocolError('Text out of bounds');
    const len = n > 0 && dv.getUint8(at + n - 1) === 0 ? n - 1 : n;
    return td.decode(new Uint8Array(dv.buffer, at, len));
  }

  /** Elements of the struct list at pointer field `i` (composite lists only; [] when null). */
  structList(s: S, i: number, max: number): S[] {
    if (i >= s.ptrCount) return [];
    if (!this.#target(s.seg, s.ptrs + i * 8)) return [];
    const lo = this.#tLo;
    const hi = this.#tHi;
    const tAt = this.#tAt;
    const tSeg = this.#tSeg;
    if ((lo & 3) !== 1) throw new ProtocolError('expected a list');
    const size = hi & 7;
    if (size !== 7) {
      // A list of non-composite elements where structs are expected: only the empty list
      // is worth accepting (some encoders write `List(Void)` for an empty list).
      if ((hi >>> 3) === 0) return [];
      throw new ProtocolError('expected a struct list');
    }
    const words = hi >>> 3;
    const dv = this.#dv(tSeg);
    if (tAt < 0 || tAt + 8 + words * 8 > dv.byteLength) throw new ProtocolError('list out of bounds');
    const tagLo = dv.getUint32(tAt, true);
    const tagHi = dv.getUint32(tAt + 4, true);
    const count = tagLo >>> 2;
    const dw = tagHi & 0xffff;
    const pc = tagHi >>> 16;
    if (count * (dw + pc) > words) throw new ProtocolError('list elements overrun the list');
    if (count > max) throw new ProtocolError(`list of ${count} elements exceeds the limit ${max}`);
    const out: S[] = [];
    let at = tAt + 8;
    for (let k = 0; k < count; k++) {
      out.push({ seg: tSeg, data: at, dataLen: dw * 8, ptrs: at + dw * 8, ptrCount: pc });
      at += (dw + pc) * 8;
    }
    return out;
  }
}

function decodeOps(r: WireReader, pa: S): PipelineOp[] {
  const ops: PipelineOp[] = [];
  for (const op of r.structList(pa, 0, 1024)) {
    const tag = r.u16(op, 0);
    if (tag === 1) ops.push({ field: r.u16(op, 2) });
    else if (tag !== 0) throw new ProtocolError(`unknown PromisedAnswer.Op ${tag}`);
  }
  return ops;
}

function decodeTarget(r: WireReader, t: S | null): Target {
  if (t === null) throw new ProtocolError('missing MessageTarget');
  const tag = r.u16(t, 4);
  if (tag === 0) return { kind: 'import', id: r.u32(t, 0) };
  if (tag === 1) {
    const pa = r.structField(t, 0);
    if (pa === null) throw new ProtocolError('missing PromisedAnswer');
    return { kind: 'answer', questionId: r.u32(pa, 0), ops: decodeOps(r, pa) };
  }
  throw new ProtocolError(`unknown MessageTarget ${tag}`);
}

function decodeCap(r: WireReader, c: S): CapDesc {
  const tag = r.u16(c, 0) as CapTag;
  switch (tag) {
    case CapTag.None:
      return { tag, id: 0, ops: null };
    case CapTag.SenderHosted:
    case CapTag.SenderPromise:
    case CapTag.ReceiverHosted:
      return { tag, id: r.u32(c, 4), ops: null };
    case CapTag.ReceiverAnswer: {
      const pa = r.structField(c, 0);
      if (pa === null) throw new ProtocolError('missing receiverAnswer');
      return { tag, id: r.u32(pa, 0), ops: decodeOps(r, pa) };
    }
    case CapTag.ThirdPartyHosted:
      return { tag, id: 0, ops: null };
    default:
      throw new ProtocolError(`unknown CapDescriptor ${String(tag)}`);
  }
}

function decodeException(r: WireReader, e: S | null): WireException {
  if (e === null) return { type: 0, reason: '' };
  return { type: r.u16(e, 4), reason: r.text(e, 0) };
}

/** No capabilities: the cap table of most calls and results (shared, frozen). */
const NO_CAPS: readonly CapDesc[] = Object.freeze([]);

/** Payload.capTable. */
function decodeCaps(r: WireReader, payload: S, maxCaps: number): readonly CapDesc[] {
  const list = r.structList(payload, 1, maxCaps);
  return list.length === 0 ? NO_CAPS : list.map((c) => decodeCap(r, c));
}

/** Decodes the envelope of a received frame. Throws ProtocolError on malformed input. */
export function decode(r: WireReader, maxCaps: number): Decoded {
  const root = r.struct(0, 0);
  if (root === null) throw new ProtocolError('null root');
  const which = r.u16(root, 0);
  const body = r.structField(root, 0);
  switch (which) {
    case Tag.Call: {
      if (body === null) throw new ProtocolError('Call without body');
      const payload = r.structField(body, 1);
      return {
        which,
        questionId: r.u32(body, 0),
        methodId: r.u16(body, 4),
        sendResultsTo: r.u16(body, 6),
        interfaceId: r.u64(body, 8),
        target: decodeTarget(r, r.structField(body, 0)),
        content: payload === null ? null : r.loc(payload, 0),
        caps: payload === null ? NO_CAPS : decodeCaps(r, payload, maxCaps),
      };
    }
    case Tag.Return: {
      if (body === null) throw new ProtocolError('Return without body');
      const kind = r.u16(body, 6);
      let content: Loc | null = null;
      let caps: readonly CapDesc[] = NO_CAPS;
      let exc: WireException | null = null;
      if (kind === RetTag.Results) {
        const payload = r.structField(body, 0);
        if (payload !== null) {
          content = r.loc(payload, 0);
          caps = decodeCaps(r, payload, maxCaps);
        }
      } else if (kind === RetTag.Exception) {
        exc = decodeException(r, r.structField(body, 0));
      }
      return {
        which,
        answerId: r.u32(body, 0),
        releaseParamCaps: !r.bit(body, 32),
        noFinishNeeded: r.bit(body, 33),
        kind,
        content,
        caps,
        exc,
        otherQuestion: r.u32(body, 8),
      };
    }
    case Tag.Finish:
      if (body === null) throw new ProtocolError('Finish without body');
      return { which, questionId: r.u32(body, 0), releaseResultCaps: !r.bit(body, 32) };
    case Tag.Release:
      if (body === null) throw new ProtocolError('Release without body');
      return { which, id: r.u32(body, 0), count: r.u32(body, 4) };
    case Tag.Bootstrap:
      if (body === null) throw new ProtocolError('Bootstrap without body');
      return { which, questionId: r.u32(body, 0) };
    case Tag.Resolve: {
      if (body === null) throw new ProtocolError('Resolve without body');
      const tag = r.u16(body, 4);
      const inner = r.structField(body, 0);
      if (tag === 0) {
        if (inner === null) throw new ProtocolError('Resolve without cap');
        return { which, promiseId: r.u32(body, 0), cap: decodeCap(r, inner), exc: null };
      }
      if (tag === 1) return { which, promiseId: r.u32(body, 0), cap: null, exc: decodeException(r, inner) };
      throw new ProtocolError(`unknown Resolve variant ${tag}`);
    }
    case Tag.Disembargo: {
      if (body === null) throw new ProtocolError('Disembargo without body');
      return {
        which,
        target: decodeTarget(r, r.structField(body, 0)),
        ctx: r.u16(body, 4),
        value: r.u32(body, 0),
      };
    }
    case Tag.Abort:
      return { which, exc: decodeException(r, body) };
    case Tag.Unimplemented: {
      // The peer echoes a message of ours it did not understand.
      let innerTag = -1;
      let innerQuestionId = 0;
      if (body !== null) {
        innerTag = r.u16(body, 0);
        const ib = r.structField(body, 0);
        if (ib !== null) innerQuestionId = r.u32(ib, 0);
      }
      return { which, innerTag, innerQuestionId };
    }
    default:
      return { which: -1, tag: which };
  }
}

// ---------------------------------------------------------------------------------------
// Encoding.

const te = new TextEncoder();

/**
 * Builds segment 0 (the envelope) of an outgoing message in a reused buffer. One
 * instance per connection; `reset()` before each message, `bytes()` after (valid until
 * the next reset: the caller copies it into the write batch).
 */
export class Envelope {
  // Small to start (an idle connection keeps it): most envelopes are a few words; it
  // doubles for a larger one (an exception's reason, many capabilities).
  buf = new Uint8Array(256);
  dv = new DataView(this.buf.buffer);
  words = 0;
  /**
   * Views of `buf` by length in words, made once each: `bytes()` is called for every
   * message sent, and an envelope has one of a few lengths (a Call, a Return, a Finish).
   */
  #views: Array<Uint8Array | undefined> = [];

  /**
   * Word index of Payload.content in the message just built when its content is to be
   * segment 1 (a far pointer to word 0 there); -1 otherwise. The sender may instead
   * inline small content into segment 0 (see `inlineContent`).
   */
  contentPtr = -1;

  reset(): void {
    this.words = 0;
    this.contentPtr = -1;
  }

  /**
   * Rewrites Payload.content to point at `content` placed right after the envelope in
   * segment 0 (a one-segment frame, like the C++ implementation sends). `content` is a
   * single-segment message whose word 0 is its root pointer; the root is re-aimed from
   * the Payload field (same kind and size bits, new offset) and word 0 is left as dead
   * space. Returns false when the root cannot be moved that way (a far pointer).
   */
  inlineContent(content: Uint8Array): boolean {
    const p = this.contentPtr;
    if (p < 0 || content.length < 8) return false;
    const cv = new DataView(content.buffer, content.byteOffset, 8);
    const lo = cv.getUint32(0, true);
    const hi = cv.getUint32(4, true);
    const kind = lo & 3;
    if (lo === 0 && hi === 0) {
      this.dv.setUint32(p * 8, 0, true);
      this.dv.setUint32(p * 8 + 4, 0, true);
      return true;
    }
    if (kind === 2) return false;
    if (kind === 3) {
      this.dv.setUint32(p * 8, lo, true);
      this.dv.setUint32(p * 8 + 4, hi, true);
      return true;
    }
    const target = this.words + 1 + (lo >> 2);
    this.dv.setUint32(p * 8, (((target - p - 1) << 2) | kind) >>> 0, true);
    this.dv.setUint32(p * 8 + 4, hi, true);
    return true;
  }

  /** Allocates `n` zeroed words; returns the index of the first. */
  alloc(n: number): number {
    const w = this.words;
    const need = (w + n) * 8;
    if (need > this.buf.length) {
      const nb = new Uint8Array(Math.max(need, this.buf.length * 2));
      nb.set(this.buf.subarray(0, w * 8));
      this.buf = nb;
      this.dv = new DataView(nb.buffer);
      this.#views = [];
    }
    this.buf.fill(0, w * 8, need);
    this.words = w + n;
    return w;
  }

  /** Allocates a struct and points the pointer word `ptr` at it; returns its first word. */
  struct(ptr: number, dataWords: number, ptrCount: number): number {
    const at = this.alloc(dataWords + ptrCount);
    this.dv.setUint32(ptr * 8, ((at - ptr - 1) << 2) >>> 0, true);
    this.dv.setUint32(ptr * 8 + 4, dataWords | (ptrCount << 16), true);
    return at;
  }

  /** Allocates a composite list of `count` structs; returns the first element's word. */
  structList(ptr: number, count: number, dataWords: number, ptrCount: number): number {
    const per = dataWords + ptrCount;
    const tag = this.alloc(1 + count * per);
    this.dv.setUint32(ptr * 8, (((tag - ptr - 1) << 2) | 1) >>> 0, true);
    this.dv.setUint32(ptr * 8 + 4, (7 | ((count * per) << 3)) >>> 0, true);
    this.dv.setUint32(tag * 8, (count << 2) >>> 0, true);
    this.dv.setUint32(tag * 8 + 4, dataWords | (ptrCount << 16), true);
    return tag + 1;
  }

  text(ptr: number, s: string): void {
    const bytes = te.encode(s);
    const words = (bytes.length + 1 + 7) >>> 3;
    const at = this.alloc(words);
    this.buf.set(bytes, at * 8);
    this.dv.setUint32(ptr * 8, (((at - ptr - 1) << 2) | 1) >>> 0, true);
    this.dv.setUint32(ptr * 8 + 4, (2 | ((bytes.length + 1) << 3)) >>> 0, true);
  }

  /** A far pointer at word `ptr` to word `word` of segment `seg` (a landing pad). */
  far(ptr: number, seg: number, word: number): void {
    this.dv.setUint32(ptr * 8, ((word << 3) | 2) >>> 0, true);
    this.dv.setUint32(ptr * 8 + 4, seg, true);
  }

  /** A capability pointer at word `ptr` to cap-table index `index`. */
  cap(ptr: number, index: number): void {
    this.dv.setUint32(ptr * 8, 3, true);
    this.dv.setUint32(ptr * 8 + 4, index, true);
  }

  u16(word: number, byte: number, v: number): void {
    this.dv.setUint16(word * 8 + byte, v, true);
  }

  u32(word: number, byte: number, v: number): void {
    this.dv.setUint32(word * 8 + byte, v, true);
  }

  u64(word: number, byte: number, v: bigint): void {
    this.dv.setBigUint64(word * 8 + byte, v, true);
  }

  /** The message built since the last reset (a view of `buf`: valid until the next reset). */
  bytes(): Uint8Array {
    const w = this.words;
    if (w >= 64) return this.buf.subarray(0, w * 8);
    return (this.#views[w] ??= this.buf.subarray(0, w * 8));
  }

  /** Starts a message: root pointer + Message struct; returns the body pointer word. */
  begin(tag: Tag): number {
    this.reset();
    this.alloc(1);
    const m = this.struct(0, 1, 1);
    this.u16(m, 0, tag);
    return m + 1;
  }

  ops(paPtr: number, questionId: number, ops: readonly PipelineOp[]): void {
    const pa = this.struct(paPtr, 1, 1);
    this.u32(pa, 0, questionId);
    if (ops.length > 0) {
      const first = this.structList(pa + 1, ops.length, 1, 0);
      ops.forEach((op, i) => {
        this.u16(first + i, 0, 1);
        this.u16(first + i, 2, op.field);
      });
    }
  }

  target(ptr: number, t: Target): void {
    const mt = this.struct(ptr, 1, 1);
    if (t.kind === 'import') {
      this.u32(mt, 0, t.id);
    } else {
      this.u16(mt, 4, 1);
      this.ops(mt + 1, t.questionId, t.ops);
    }
  }

  capDescs(ptr: number, caps: readonly CapDesc[]): void {
    if (caps.length === 0) return;
    const first = this.structList(ptr, caps.length, 1, 1);
    caps.forEach((c, i) => this.capDesc(first + i * 2, c));
  }

  /** Writes a CapDescriptor whose data word is at `at` (pointer at at+1). */
  capDesc(at: number, c: CapDesc): void {
    this.u16(at, 0, c.tag);
    if (c.tag === CapTag.ReceiverAnswer) this.ops(at + 1, c.id, c.ops ?? []);
    else if (c.tag !== CapTag.None) this.u32(at, 4, c.id);
  }

  exception(ptr: number, e: WireException): void {
    const x = this.struct(ptr, 1, 2);
    this.u16(x, 4, e.type);
    this.text(x + 1, e.reason);
  }

  // ---- whole messages -----------------------------------------------------------------

  /** Call; content (if any) is segment 1 of the frame. */
  call(
    questionId: number,
    target: Target,
    interfaceId: bigint,
    methodId: number,
    hasContent: boolean,
    caps: readonly CapDesc[],
    sendResultsTo: number,
  ): void {
    const body = this.begin(Tag.Call);
    const c = this.struct(body, 3, 3);
    this.u32(c, 0, questionId);
    this.u16(c, 4, methodId);
    this.u16(c, 6, sendResultsTo);
    this.u64(c + 1, 0, interfaceId);
    this.target(c + 3, target);
    const p = this.struct(c + 4, 0, 2);
    this.contentPtr = hasContent ? p : -1;
    if (hasContent) this.far(p, 1, 0);
    this.capDescs(p + 1, caps);
  }

  /**
   * Return with results; content is segment 1 (or, if `capContent`, a cap pointer to index
   * 0). `noFinishNeeded`: we drop the answer now (results without capabilities).
   */
  returnResults(answerId: number, hasContent: boolean, caps: readonly CapDesc[], capContent = false, noFinishNeeded = false): void {
    const body = this.begin(Tag.Return);
    const r = this.struct(body, 2, 1);
    this.u32(r, 0, answerId);
    // releaseParamCaps = false: stored XOR its default (true). We release imports from
    // params ourselves, by Release, like the C++ implementation. noFinishNeeded is bit 33.
    this.dv.setUint8(r * 8 + 4, noFinishNeeded ? 3 : 1);
    const p = this.struct(r + 2, 0, 2);
    this.contentPtr = hasContent && !capContent ? p : -1;
    if (capContent) this.cap(p, 0);
    else if (hasContent) this.far(p, 1, 0);
    this.capDescs(p + 1, caps);
  }

  returnOther(answerId: number, kind: RetTag, exc: WireException | null, otherQuestion = 0, noFinishNeeded = false): void {
    const body = this.begin(Tag.Return);
    const r = this.struct(body, 2, 1);
    this.u32(r, 0, answerId);
    this.dv.setUint8(r * 8 + 4, noFinishNeeded ? 3 : 1);
    this.u16(r, 6, kind);
    if (kind === RetTag.Exception && exc !== null) this.exception(r + 2, exc);
    if (kind === RetTag.TakeFromOtherQuestion) this.u32(r + 1, 0, otherQuestion);
  }

  finish(questionId: number, releaseResultCaps: boolean): void {
    const body = this.begin(Tag.Finish);
    const f = this.struct(body, 1, 0);
    this.u32(f, 0, questionId);
    if (!releaseResultCaps) this.dv.setUint8(f * 8 + 4, 1);
  }

  release(id: number, count: number): void {
    const body = this.begin(Tag.Release);
    const f = this.struct(body, 1, 0);
    this.u32(f, 0, id);
    this.u32(f, 4, count);
  }

  bootstrap(questionId: number): void {
    const body = this.begin(Tag.Bootstrap);
    const b = this.struct(body, 1, 1);
    this.u32(b, 0, questionId);
  }

  resolveCap(promiseId: number, cap: CapDesc): void {
    const body = this.begin(Tag.Resolve);
    const r = this.struct(body, 1, 1);
    this.u32(r, 0, promiseId);
    const c = this.struct(r + 1, 1, 1);
    this.capDesc(c, cap);
  }

  resolveException(promiseId: number, exc: WireException): void {
    const body = this.begin(Tag.Resolve);
    const r = this.struct(body, 1, 1);
    this.u32(r, 0, promiseId);
    this.u16(r, 4, 1);
    this.exception(r + 1, exc);
  }

  disembargo(target: Target, ctx: EmbargoTag, value: number): void {
    const body = this.begin(Tag.Disembargo);
    const d = this.struct(body, 1, 1);
    this.u32(d, 0, value);
    this.u16(d, 4, ctx);
    this.target(d + 1, target);
  }

  abort(exc: WireException): void {
    const body = this.begin(Tag.Abort);
    const x = this.struct(body, 1, 2);
    this.u16(x, 4, exc.type);
    this.text(x + 1, exc.reason);
  }
}
