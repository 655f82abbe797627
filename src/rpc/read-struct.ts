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
  if ($.utils.getPointerType(s) !== STRUCT_POINTER) {
    throw new TypeError(`expected a struct pointer for ${Class._capnp.displayName}`);
  }
  const actual = $.utils.getTargetStructSize(s);
  const wanted = Class._capnp.size;
  if (actual.dataByteLength < wanted.dataByteLength || actual.pointerLength < wanted.pointerLength) {
    $.utils.resize(wanted, s);
  }
  return s;
}
