import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { fitsAsIs, readStruct } from '../../src/rpc/read-struct.js';
import { Evolving as OldEvolving } from '../fixtures/rpc/old/gen/test.js';
import { Evolving } from '../fixtures/rpc/gen/test.js';

/** An Evolving written by the older schema (fields a and b only), read back from bytes. */
function oldEvolvingBytes(): ArrayBuffer {
  const m = new $.Message();
  const old = m.initRoot(OldEvolving);
  old.a = 5;
  old.b = 'bee';
  return m.toArrayBuffer();
}

test('a struct from an older schema reads the newer fields as their defaults (capnp evolution rules)', () => {
  const message = new $.Message(oldEvolvingBytes(), false);
  // The root pointer, seen as an AnyPointer, as Payload.content is in an RPC message.
  const pointer = message.getRoot(OldEvolving);
  const v = readStruct(Evolving, pointer);
  assert.equal(v.a, 5);
  assert.equal(v.b, 'bee');
  assert.equal(v.c, 7n);
  assert.equal(v.d, 'default');
  assert.equal(v.e.length, 0);
  assert.equal(v.f.a, 0);
});

test('capnp-es getAs alone throws CAPNP-TS020 on the same bytes (the defect readStruct works around)', () => {
  const message = new $.Message(oldEvolvingBytes(), false);
  const raw = $.utils.getAs(Evolving, message.getRoot(OldEvolving));
  assert.throws(() => raw.c, /CAPNP-TS020/);
});

test('a struct of the same or a newer schema is read in place, without a copy', () => {
  const m = new $.Message();
  const v = m.initRoot(Evolving);
  v.a = 1;
  v.c = 9n;
  const read = readStruct(Evolving, v);
  assert.equal(read.c, 9n);
  assert.equal(read.byteOffset, v.byteOffset);
  // A newer writer, older reader: extra fields are simply not seen.
  const asOld = readStruct(OldEvolving, v);
  assert.equal(asOld.a, 1);
});

test('a null pointer reads as a struct of defaults', () => {
  const m = new $.Message();
  const holder = m.initRoot(Evolving);
  const fSlot = $.utils.getPointer(3, holder); // f @5 is the 4th pointer: b, d, e, f
  const v = readStruct(Evolving, fSlot);
  assert.equal(v.c, 7n);
  assert.equal(v.d, 'default');
});

test('a list pointer is refused with a clear error, not misread as a struct', () => {
  const m = new $.Message();
  const holder = m.initRoot(Evolving);
  holder._initE(2);
  const eSlot = $.utils.getPointer(2, holder);
  assert.throws(() => readStruct(Evolving, eSlot), /expected a struct pointer for Evolving/);
});

test('fitsAsIs: a struct right after its pointer (offset 0) fits; only both halves 0 are the null pointer', () => {
  const m = new $.Message();
  const seg = m.getSegment(0);
  const at = seg.allocate(8 * 3).byteOffset;
  const size = Evolving._capnp.size;
  // offset 0, the reader's data and pointer counts
  seg.setUint32(at, 0);
  seg.setUint32(at + 4, (size.dataByteLength / 8) | (size.pointerLength << 16));
  assert.equal(fitsAsIs(seg, at, size), true);
  // a smaller struct at offset 0 does not fit; nor does the null pointer
  seg.setUint32(at + 4, 1);
  assert.equal(fitsAsIs(seg, at, size), false);
  seg.setUint32(at + 4, 0);
  assert.equal(fitsAsIs(seg, at, size), false);
  assert.equal(fitsAsIs(seg, at, new $.ObjectSize(0, 0)), false);
});
