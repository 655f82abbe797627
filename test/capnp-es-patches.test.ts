/**
 * The defects of capnp-es 0.0.16 that patches/capnp-es+0.0.16.patch fixes (applied by
 * `npm ci` through patch-package). Each test fails on the unpatched library, except the
 * last, which guards the cost of the list check itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { StatChange } from '../src/gen/common.js';
import { FileServer_AttachResult_Ok } from '../src/gen/fileserver.js';
import { Evolving, Test_Echo$Params } from './fixtures/rpc/gen/test.js';
import { Payload } from 'capnp-es/capnp/rpc';

test('a null capability field reads as no capability, not as the message\'s first one', () => {
  const m = new $.Message();
  const ok = m.initRoot(FileServer_AttachResult_Ok);
  const other: $.Client = { call: () => { throw new Error('must not be called'); }, close: () => {} };
  m.addCap(other); // the message holds a capability, at index 0
  const root = ok.root; // ... but this field was never set
  assert.notEqual(root.client, other);
  assert.ok(root.client instanceof $.ErrorClient, 'a null field reads as the null client');
});

test('a UInt32 field with a non-zero default reads unsigned (StatChange.mode defaults to ~0)', () => {
  const c = new $.Message().initRoot(StatChange);
  assert.equal(c.mode, 0xffffffff);
  assert.equal(c.mtime, 0xffffffff);
  c.mode = 0o644;
  assert.equal(c.mode, 0o644);
});

test('an Int32 field with a default wider than 16 bits reads that default', () => {
  const e = new $.Message().initRoot(Evolving);
  assert.equal(e.g, -100000);
  e.g = 7;
  assert.equal(e.g, 7);
});

// ---- lists read from a peer (C++ layout.c++ readListPointer) -------------------------

/**
 * A message whose root is an Evolving with its `e` field (List(Text), pointer 2) set by
 * hand to `word0`/`word1`, followed by `extra` words (e.g. a composite list's tag).
 * Returns the received form: a message read from bytes, as a peer's would be.
 */
function evolvingWithList(word0: number, word1: number, extra: number[] = []): $.Message {
  const m = new $.Message();
  const ev = m.initRoot(Evolving);
  const seg = m.getSegment(0);
  const at = $.utils.getPointerSection(ev).byteOffset + 2 * 8;
  const tail = seg.allocate(Math.max(8, extra.length * 4));
  extra.forEach((w, i) => seg.setUint32(tail.byteOffset + 4 * i, w));
  // A list pointer's offset counts words from the end of the pointer to the content.
  seg.setUint32(at, (word0 | (((tail.byteOffset - at - 8) / 8) << 2)) >>> 0);
  seg.setUint32(at + 4, word1 >>> 0);
  return new $.Message(m.toArrayBuffer(), false);
}

const LIST = 1;
const VOID = 0;
const BYTE = 2;
const COMPOSITE = 7;

test('a composite list of 2^29-1 zero-sized structs in a 32-byte message is refused, not allocated (C++ "amplified read": a word per element)', () => {
  // The tag: a struct "pointer" whose offset field is the element count, sizes 0 and 0.
  const hostile = (): $.Message => evolvingWithList(LIST, COMPOSITE | (0 << 3), [((2 ** 29 - 1) << 2) >>> 0, 0]);
  assert.throws(() => hostile().getRoot(Evolving).e.length, /amplified or oversized list/);
  assert.throws(() => hostile().getRoot(Evolving).e.toArray(), /amplified or oversized list/);
});

test('a List(Void) charges one word per element against the traversal limit', () => {
  const read = (n: number, limitWords: number): number => {
    const m = evolvingWithList(LIST, VOID | (n << 3));
    m._capnp.traversalLimit = limitWords * 8; // capnp-es keeps it in bytes
    return m.getRoot(Evolving).e.length;
  };
  assert.equal(read(1000, 2000), 1000);
  assert.throws(() => read(1000, 900), /Traversal limit exceeded reading a list of 1000 elements/);
});

test('a list whose content runs past its segment is refused (2^29 bytes claimed in a few words)', () => {
  const hostile = (): $.Message => evolvingWithList(LIST, BYTE | ((2 ** 29 - 1) << 3));
  assert.throws(() => hostile().getRoot(Evolving).e.length, /runs past the end of its segment/);
  assert.throws(() => hostile().getRoot(Evolving).e.toArray(), /runs past the end of its segment/);
});

test('a struct pointer where a list is expected is refused, not read as a list', () => {
  // A struct pointer with 1 data word and 1 pointer: as a list it would claim 8 elements.
  const m = evolvingWithList(0, 1 | (1 << 16));
  assert.throws(() => m.getRoot(Evolving).e.length, /Expected a list pointer/);
});

test('a composite list whose elements do not fit in the words it claims is refused', () => {
  // 4 elements of 1 data word each, in a list claiming 1 word.
  const m = evolvingWithList(LIST, COMPOSITE | (1 << 3), [4 << 2, 1, 0, 0]);
  assert.throws(() => m.getRoot(Evolving).e.length, /do not fit in the 1 words/);
});

test('copying a message (setRoot) reads its lists as any reader does: zero-sized structs are charged, not looped over for free', () => {
  // 100k elements against a 10k-word limit (2^29 of them looped for seconds unpatched).
  const src = evolvingWithList(LIST, COMPOSITE | (0 << 3), [(100_000 << 2) >>> 0, 0]);
  src._capnp.traversalLimit = 10_000 * 8;
  assert.throws(() => new $.Message().setRoot(src.getRoot(Evolving)), /amplified or oversized list/);
});

test('copying a message charges what it reads: many pointers to one text are not copied for free', () => {
  // e: a List(Text) of 512 pointers, every one to the same 64 KiB text (32 MiB copied
  // unpatched), against a limit of 1 Mi words (8 MiB).
  const m = new $.Message();
  const ev = m.initRoot(Evolving);
  const seg = m.getSegment(0);
  const list = seg.allocate(512 * 8);
  const text = seg.allocate(64 * 1024);
  new Uint8Array(seg.buffer, text.byteOffset, 64 * 1024 - 1).fill(0x61);
  for (let i = 0; i < 512; i++) {
    const at = list.byteOffset + i * 8;
    seg.setUint32(at, 1 | (((text.byteOffset - at - 8) / 8) << 2));
    seg.setUint32(at + 4, 2 | ((64 * 1024) << 3));
  }
  const at = $.utils.getPointerSection(ev).byteOffset + 2 * 8;
  seg.setUint32(at, 1 | (((list.byteOffset - at - 8) / 8) << 2));
  seg.setUint32(at + 4, 6 | (512 << 3));
  const src = new $.Message(m.toArrayBuffer(), false);
  src._capnp.traversalLimit = 1024 * 1024 * 8; // capnp-es counts bytes
  assert.throws(() => new $.Message().setRoot(src.getRoot(Evolving)), /Traversal limit exceeded reading a list/);
});

test('text set into a fresh field is encoded straight into the message (no intermediate array), byte for byte as TextEncoder encodes it', () => {
  const samples = ['', 'plain', 'café', '日本語 text', 'pair 😀 and 𝄞', 'lone high \ud800 here', 'lone low \udc00', 'ends high \ud83d', '\u07ff\u0800\uffff'];
  const proto = TextEncoder.prototype;
  const original = Object.getOwnPropertyDescriptor(proto, 'encode')!;
  let calls = 0;
  Object.defineProperty(proto, 'encode', {
    ...original,
    value: (s?: string): Uint8Array => {
      calls++;
      return new Uint8Array(Buffer.from(s ?? '', 'utf8'));
    },
  });
  const written: string[] = [];
  try {
    for (const s of samples) {
      const m = new $.Message();
      m.initRoot(Test_Echo$Params).text = s;
      written.push(new $.Message(m.toArrayBuffer(), false).getRoot(Test_Echo$Params).text);
    }
  } finally {
    Object.defineProperty(proto, 'encode', original);
  }
  // What reading gives back is what decoding TextEncoder's bytes gives: a length off by
  // one would show as a NUL or a cut character.
  assert.deepEqual(written, samples.map((s) => new TextDecoder().decode(new TextEncoder().encode(s))));
  assert.equal(calls, 0, 'TextEncoder.encode was called (an array per text set)');
});

test('a single-segment message grows its buffer geometrically: 4000 texts of 1 KiB take a few reallocations, not one per 4 KiB', () => {
  const m = new $.Message();
  const ev = m.initRoot(Evolving);
  const texts = ev._initE(4000);
  const seg = m.getSegment(0);
  let buffer = seg.buffer;
  let reallocations = 0;
  const kib = 'k'.repeat(1023);
  for (let i = 0; i < 4000; i++) {
    texts.set(i, kib);
    if (seg.buffer !== buffer) {
      buffer = seg.buffer;
      reallocations++;
    }
  }
  // Growing by what was asked (4 KiB at a time) reallocated and copied the whole message
  // about 1000 times: the square of its size.
  assert.ok(reallocations <= 12, `${reallocations} reallocations`);
  assert.equal(new $.Message(m.toArrayBuffer(), false).getRoot(Evolving).e.get(3999), kib);
});

test('a list is charged once per read, however often a loop asks its length', () => {
  const m = new $.Message();
  const ev = m.initRoot(Evolving);
  const texts = ev._initE(200);
  for (let i = 0; i < 200; i++) texts.set(i, `t${i}`);
  const r = new $.Message(m.toArrayBuffer(), false);
  // Enough for the list once and one pointer per element, not for 200 charges of it.
  r._capnp.traversalLimit = 8 * (1000 + 200 * 8);
  const e = r.getRoot(Evolving).e;
  let n = 0;
  e.forEach(() => n++);
  assert.equal(n, 200);
});

test('a primitive field read or written through a near struct pointer is charged to the traversal limit as before (no Pointer made for it)', () => {
  const m = new $.Message();
  const ev = m.initRoot(Evolving);
  ev.a = 3;
  const r = new $.Message(m.toArrayBuffer(), false);
  const root = r.getRoot(Evolving);
  // Each field access costs one word (8 bytes), as when capnp-es made a Pointer for it.
  r._capnp.traversalLimit = 8 * 10;
  for (let i = 0; i < 9; i++) assert.equal(root.a, 3);
  assert.throws(() => root.a, /CAPNP-TS022/);
});

test('primitive fields of composite list elements and of a struct behind a far pointer read and write as before', () => {
  // Composite list elements (CapDescriptor in a capTable) take capnp-es's general path.
  const m = new $.Message();
  const caps = m.initRoot(Payload)._initCapTable(3);
  for (let i = 0; i < 3; i++) caps.get(i).senderHosted = 10 + i;
  const back = new $.Message(m.toArrayBuffer(), false).getRoot(Payload).capTable;
  assert.deepEqual([0, 1, 2].map((i) => back.get(i).senderHosted), [10, 11, 12]);
  // A root that is a far pointer into segment 1 (landing pad at word 0, the struct after it).
  const dataWords = Evolving._capnp.size.dataByteLength / 8;
  const ptrs = Evolving._capnp.size.pointerLength;
  const frame = new Uint8Array(16 + 8 + 8 * (1 + dataWords + ptrs));
  const dv = new DataView(frame.buffer);
  dv.setUint32(0, 1, true); // two segments
  dv.setUint32(4, 1, true); // of one word
  dv.setUint32(8, 1 + dataWords + ptrs, true); // and the pad and the struct
  dv.setUint32(16, 2, true); // seg 0 word 0: far pointer to seg 1 word 0
  dv.setUint32(20, 1, true);
  dv.setUint32(24, 0, true); // seg 1 word 0: struct pointer, offset 0: right after it
  dv.setUint32(28, dataWords | (ptrs << 16), true);
  dv.setUint32(32, 77, true); // Evolving.a
  const far = new $.Message(frame.buffer, false);
  const root = far.getRoot(Evolving);
  assert.equal(root.a, 77);
  root.a = 78;
  assert.equal(root.a, 78);
  assert.equal(new $.Message(far.toArrayBuffer(), false).getRoot(Evolving).a, 78);
});

test('a struct field written smaller (an older writer) reads its absent fields as defaults; a full one in place; a null one as defaults', () => {
  const m = new $.Message();
  const ev = m.initRoot(Evolving);
  // f @5 is the 4th pointer (b, d, e, f): point it at a struct of one data word, no pointers.
  $.utils.initStruct(new $.ObjectSize(8, 0), $.utils.getPointer(3, ev));
  const r = new $.Message(m.toArrayBuffer(), false).getRoot(Evolving);
  const small = $.utils.getPointer(3, r);
  new DataView(small.segment.buffer).setUint32($.utils.getContent(small).byteOffset, 9, true);
  assert.equal(r.f.a, 9);
  assert.equal(r.f.c, 7n);
  assert.equal(r.f.d, 'default');
  const full = new $.Message();
  const fe = full.initRoot(Evolving);
  fe._initF().c = 3n;
  const rf = new $.Message(full.toArrayBuffer(), false).getRoot(Evolving);
  const at = $.utils.getContent($.utils.getPointer(3, rf)).byteOffset;
  assert.equal(rf.f.c, 3n);
  assert.equal($.utils.getContent($.utils.getPointer(3, rf)).byteOffset, at); // not moved
  const none = new $.Message();
  none.initRoot(Evolving).a = 1;
  assert.equal(new $.Message(none.toArrayBuffer(), false).getRoot(Evolving).f.c, 7n);
});

test('a pointer field read is charged to the traversal limit as before (no Pointer made for the pointer section)', () => {
  const m = new $.Message();
  m.initRoot(Evolving).b = 'bee';
  const r = new $.Message(m.toArrayBuffer(), false);
  const root = r.getRoot(Evolving);
  r._capnp.traversalLimit = 8 * 40;
  assert.throws(() => {
    for (let i = 0; i < 40; i++) void $.utils.getPointer(0, root);
  }, /CAPNP-TS022/);
});
