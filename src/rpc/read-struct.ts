/**
 * Reading a struct out of an AnyPointer without breaking schema evolution.
 *
 * Cap'n Proto promises that a reader built from a newer schema sees the defaults for
 * fields an older writer did not know. capnp-es keeps that promise in `getStruct`,
 * `getRoot` and composite `getList` (they copy a too-small struct into one of the
 * reader's size first), but not in `utils.getAs`, which is how a struct is read from an
 * AnyPointer — that is, how every RPC params and results struct is read from
 * `Payload.content`. Reading a field past the older struct's data or pointer section then
 * throws CAPNP-TS020 instead of returning the default.
 *
 * `readStruct` is `getAs` with the same upgrade `getStruct` does. Nested structs and
 * lists are then read through capnp-es's own accessors, which already upgrade, so fixing
 * the one entry point fixes the whole tree.
 */
import * as $ from 'capnp-es';

// PointerType.STRUCT; capnp-es declares the enum in its types but does not export it as a
// value, so the number is spelled here.
const STRUCT_POINTER = 0 as $.PointerType;

/** A generated struct class, e.g. `Evolving` or `Test_Echo$Params`. */
export type StructClass<T extends $.Struct> = $.StructCtor<T>;

/**
 * Reads the struct that `pointer` points to as `Class`. A null pointer reads as the
 * struct's defaults. When the struct on the wire is smaller than `Class` (written by an
 * older schema), it is first copied into a struct of `Class`'s size inside the same
 * message, so absent fields read as their defaults. Cost: one size check; the copy
 * happens only for older writers.
 *
 * Throws TypeError if the pointer is not a struct pointer. Does not take
 * ownership of anything; the result is a view into the pointer's message.
 */
export function readStruct<T extends $.Struct>(Class: StructClass<T>, pointer: $.Pointer): T {
  const s = $.utils.getAs(Class, pointer);
  if ($.utils.isNull(s)) {
    $.utils.initStruct(Class._capnp.size, s);
    return s;
  }
  // The target's type: Payload.content is often a far pointer (a large content segment).
  if ($.utils.getTargetPointerType(s) !== STRUCT_POINTER) {
    throw new TypeError(`expected a struct pointer for ${Class._capnp.displayName}`);
  }
  const actual = $.utils.getTargetStructSize(s);
  const wanted = Class._capnp.size;
  if (actual.dataByteLength < wanted.dataByteLength || actual.pointerLength < wanted.pointerLength) {
    // Each section at least the reader's size, and no smaller than the writer's.
    const size = new $.ObjectSize(Math.max(actual.dataByteLength, wanted.dataByteLength), Math.max(actual.pointerLength, wanted.pointerLength));
    $.utils.resize(size, s);
  }
  return s;
}

/**
 * `s` (a struct read from an AnyPointer, as `new Class(segment, byteOffset)` makes it)
 * ready to read as `Class`: itself when the struct on the wire has at least `Class`'s
 * sections (the usual case, decided from the pointer word alone), else `readStruct`'s
 * upgrade (an older writer's smaller struct, a null pointer, a far pointer). How served
 * calls read their params and calls their results, so that a newer reader sees an older
 * writer's absent fields as their defaults (capnp evolution rules).
 *
 * Throws TypeError when the pointer is not a struct pointer.
 */
export function asStruct<T extends $.Struct>(Class: StructClass<T>, s: T): T {
  return fitsAsIs(s.segment, s.byteOffset, Class._capnp.size) ? s : readStruct(Class, s);
}

/**
 * Whether the pointer at `at` is a near struct pointer with at least `size`'s sections,
 * read from the pointer word alone (false for anything else: null, far, smaller). A
 * struct right after its pointer has an offset of 0, so its first half-word is 0 too:
 * only both halves 0 are the null pointer.
 */
export function fitsAsIs(seg: $.Pointer["segment"], at: number, size: $.ObjectSize): boolean {
  const w = seg.getUint32(at);
  const hi = seg.getUint32(at + 4);
  return (w & 3) === 0 && (w !== 0 || hi !== 0) && (hi & 0xffff) * 8 >= size.dataByteLength && hi >>> 16 >= size.pointerLength;
}
