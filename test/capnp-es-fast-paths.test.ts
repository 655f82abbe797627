/**
 * patches/capnp-es+0.0.16.patch also gives capnp-es fast paths that change no result:
 * struct and list content found from a near pointer without following fars, struct
 * sizes read from the pointer word, and Data's and Text's methods and List's `length`
 * reading the list behind List's Proxy. These tests hold the paths the fast ones skip (double-far and
 * single-far pointers, composite-list elements) and the ones they take to what the
 * encoding says, so a wrong fast path fails here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { File_ReadDirResult } from '../src/gen/fileserver.js';
import { Evolving, Test_Data$Results } from './fixtures/rpc/gen/test.js';

/** A frame of `segments` (each a list of 64-bit words given as [lo, hi] u32 pairs). */
function frame(segments: Array<Array<[number, number]>>): ArrayBuffer {
  const hdrWords = Math.ceil((4 + 4 * segments.length) / 8);
  const total = hdrWords + segments.reduce((n, s) => n + s.length, 0);
  const dv = new DataView(new ArrayBuffer(total * 8));
  dv.setUint32(0, segments.length - 1, true);
  segments.forEach((s, i) => dv.setUint32(4 + 4 * i, s.length, true));
  let w = hdrWords;
  for (const s of segments) {
    for (const [lo, hi] of s) {
      dv.setUint32(w * 8, lo >>> 0, true);
      dv.setUint32(w * 8 + 4, hi >>> 0, true);
      w++;
    }
  }
  return dv.buffer;
}

const far = (wordOffset: number, segment: number, double = false): [number, number] => [(wordOffset << 3) | (double ? 4 : 0) | 2, segment];
const structPtr = (offset: number, data: number, ptrs: number): [number, number] => [offset << 2, data | (ptrs << 16)];
const bytesPtr = (offset: number, count: number): [number, number] => [(offset << 2) | 1, (count << 3) | 2];
const text = (s: string): Array<[number, number]> => {
  const b = Buffer.alloc(Math.ceil((s.length + 1) / 8) * 8);
  b.write(s);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < b.length; i += 8) out.push([b.readUInt32LE(i), b.readUInt32LE(i + 4)]);
  return out;
};

test('a struct behind a double-far pointer, a Text behind a single-far one, a struct behind a near one', () => {
  const D = Evolving._capnp.size.dataByteLength / 8;
  const P = Evolving._capnp.size.pointerLength;
  assert.deepEqual([D, P], [2, 4], 'the layout this test writes by hand');
  const body = (a: number, ptrs: Array<[number, number]>): Array<[number, number]> => [[a, 0], [0, 0], ...ptrs];
  const bytes = frame([
    // Segment 0: the root, a double-far pointer to a landing pad in segment 1.
    [far(0, 1, true)],
    // Segment 1: the landing pad (a far pointer to segment 2 and the struct's tag), then
    // a landing pad for `b` (a near pointer to the text after it).
    [far(0, 2), structPtr(0, D, P), bytesPtr(0, 6), ...text('hello')],
    // Segment 2: the root struct (a = 42; b far to segment 1; f near), then f (a = 7).
    [...body(42, [far(2, 1), [0, 0], [0, 0], structPtr(0, D, P)]), ...body(7, [[0, 0], [0, 0], [0, 0], [0, 0]])],
  ]);
  const root = new $.Message(bytes, false).getRoot(Evolving);
  assert.equal(root.a, 42);
  assert.equal(root.b, 'hello');
  assert.equal(root.c, 7n, 'a default through the double-far path');
  assert.equal(root.d, 'default');
  assert.equal(root.g, -100000);
  assert.equal(root.e.length, 0);
  assert.equal(root._hasF(), true);
  assert.equal(root.f.a, 7);
  assert.equal(root.f.b, '');
  assert.equal(root.f.g, -100000);
  // Writes through the same paths land where reads find them.
  root.a = 43;
  root.f.a = 8;
  root.g = 5;
  assert.deepEqual([root.a, root.f.a, root.g, root.c], [43, 8, 5, 7n]);
});

test('composite-list elements read and write their own fields', () => {
  const m = new $.Message();
  const r = m.initRoot(File_ReadDirResult);
  const entries = r._initEntries(3);
  for (let i = 0; i < 3; i++) {
    const e = entries.get(i);
    e.name = `n${i}`;
    e.mode = 0o700 + i;
    e.length = BigInt(1000 * i);
    e._initQid().path = BigInt(i + 1);
  }
  const back = new $.Message(m.toArrayBuffer(), false).getRoot(File_ReadDirResult);
  const got = [...back.entries].map((e) => [e.name, e.mode, e.length, e.qid.path]);
  assert.deepEqual(got, [
    ['n0', 0o700, 0n, 1n],
    ['n1', 0o701, 1000n, 2n],
    ['n2', 0o702, 2000n, 3n],
  ]);
});

test('Data and Text keep their List behaviour behind the Proxy (indexing, length, views)', () => {
  const m = new $.Message();
  const r = m.initRoot(Test_Data$Results);
  assert.equal(r.data.length, 0, 'a null Data reads as empty');
  assert.equal(r.data.toUint8Array().length, 0);
  const d = r._initData(5);
  d.copyBuffer(new Uint8Array([1, 2, 3]));
  assert.equal(d.length, 5);
  assert.deepEqual([...d.toUint8Array()], [1, 2, 3, 0, 0]);
  assert.equal(d[1], 2, 'an index reads a byte');
  d.set(4, 9);
  assert.equal(d.get(4), 9);
  assert.deepEqual([...new Uint8Array(d.toArrayBuffer())], [1, 2, 3, 0, 9]);
  assert.equal(d.toDataView().getUint8(4), 9);
  // The view is of the message itself.
  d.toUint8Array()[0] = 7;
  assert.equal(r.data.get(0), 7);

  const e = new $.Message().initRoot(Evolving);
  e.b = 'héllo';
  assert.equal(e.b, 'héllo');
  e.b = 'x';
  assert.equal(e.b, 'x');
  const t = e._initE(2);
  t.set(0, 'one');
  assert.deepEqual([...t], ['one', '']);
});
