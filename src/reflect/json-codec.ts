/**
 * JSON <-> Cap'n Proto structs of any schema/ type, driven by the reflection data
 * (SchemaIndex) rather than by generated classes, for `capns call`.
 *
 * The JSON form:
 * - Bool, Float32/64, (U)Int8..32: JSON booleans and numbers. (U)Int64: decimal strings
 *   out; numbers, decimal strings or 0x hex strings in.
 * - Text: strings. Data: base64 strings. Void: null. Enums: enumerant names (out; in,
 *   names or ordinals); an ordinal this schema does not know comes out as a number.
 * - Structs and groups: objects keyed by field name; a union shows only its active
 *   member; fields left out of an input keep their defaults.
 * - Lists: arrays.
 * - Capabilities: out, `{"capability": {"interfaceId": "0x...", "interface": "File"}}`
 *   (the caller cannot hold them: the call's result capabilities are released); in,
 *   `{"capability": "/some/path"}`, a capability of the caller's namespace, supplied by
 *   the caller through `capabilityFor`.
 *
 * Bad input raises NsError NS_ERR_INVALID_ARGUMENT naming the field path
 * ("params.change.mode: ...").
 */
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import { type ReflectedField, type ReflectedStruct, type ReflectedType, SchemaIndex } from './schema-index.js';

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

type StructClass = $.StructCtor<$.Struct>;
type NumberKind = 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32' | 'float32' | 'float64';
type BigKind = 'int64' | 'uint64';

const NUMBER_SIZE: Record<NumberKind | BigKind, number> = {
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  int64: 8,
  uint64: 8,
  float64: 8,
};

const INT_RANGE: Record<'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32', [number, number]> = {
  int8: [-0x80, 0x7f],
  int16: [-0x8000, 0x7fff],
  int32: [-0x80000000, 0x7fffffff],
  uint8: [0, 0xff],
  uint16: [0, 0xffff],
  uint32: [0, 0xffffffff],
};

function bad(where: string, why: string): NsError {
  return new NsError('NS_ERR_INVALID_ARGUMENT', `${where}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `{"capability": "/path"}`: a capability argument naming a path of the caller's namespace. */
export function capabilityPathOf(v: unknown): string | undefined {
  if (!isObject(v)) return undefined;
  const keys = Object.keys(v);
  const p = v['capability'];
  return keys.length === 1 && typeof p === 'string' ? p : undefined;
}

/** Every `{"capability": "/path"}` in `v`, for the caller to resolve before encoding. */
export function capabilityPaths(v: unknown, out = new Set<string>()): Set<string> {
  const p = capabilityPathOf(v);
  if (p !== undefined) out.add(p);
  else if (Array.isArray(v)) for (const e of v) capabilityPaths(e, out);
  else if (isObject(v)) for (const e of Object.values(v)) capabilityPaths(e, out);
  return out;
}

/** Options of `JsonCodec.write`. */
export interface WriteOptions {
  /** The capability a `{"capability": PATH}` argument names (a reference the message will hold a copy of). */
  readonly capabilityFor?: (path: string) => Client;
}

/** Converts between JSON and structs described by a SchemaIndex. Keeps a cache of struct classes. */
export class JsonCodec {
  readonly schema: SchemaIndex;
  readonly #classes = new Map<string, StructClass>();
  /** Each struct's fields by name, built at its first write (the reflection data is read-only). */
  readonly #fieldsByName = new WeakMap<ReflectedStruct, ReadonlyMap<string, ReflectedField>>();

  constructor(schema: SchemaIndex = new SchemaIndex()) {
    this.schema = schema;
  }

  /** A capnp-es struct class for the struct `id`, built from its layout (for params, results, lists). */
  structClass(id: string): StructClass {
    let C = this.#classes.get(id);
    if (C === undefined) {
      const st = this.schema.struct(id);
      C = class extends $.Struct {
        static override readonly _capnp = { displayName: st.name, id: id.slice(2), size: new $.ObjectSize(st.dataWords * 8, st.pointers) };
      };
      this.#classes.set(id, C);
    }
    return C;
  }

  // ---- JSON -> struct ----------------------------------------------------------------

  /**
   * Fills `s` (a struct of type `id`, freshly initialized) from `json` (an object, or
   * null/undefined for all defaults). @throws NsError NS_ERR_INVALID_ARGUMENT.
   */
  write(s: $.Struct, id: string, json: unknown, where: string, opts: WriteOptions = {}): void {
    this.#writeStruct(s, this.schema.struct(id), json, where, opts);
  }

  #writeStruct(s: $.Struct, st: ReflectedStruct, json: unknown, where: string, opts: WriteOptions): void {
    if (json === null || json === undefined) return;
    if (!isObject(json)) throw bad(where, `expected an object with fields ${st.fields.map((f) => f.name).join(', ') || '(none)'}`);
    let byName = this.#fieldsByName.get(st);
    if (byName === undefined) this.#fieldsByName.set(st, (byName = new Map(st.fields.map((f) => [f.name, f]))));
    let unionSet: string | undefined;
    for (const [key, value] of Object.entries(json)) {
      const f = byName.get(key);
      if (f === undefined) {
        throw bad(where, `no field ${JSON.stringify(key)} in ${st.name}; its fields: ${st.fields.map((x) => x.name).join(', ') || '(none)'}`);
      }
      const at = `${where}.${key}`;
      if (f.discriminant !== undefined) {
        if (unionSet !== undefined) throw bad(where, `fields ${unionSet} and ${key} are members of one union; give at most one`);
        unionSet = key;
        $.utils.setUint16((st.discriminantOffset ?? 0) * 2, f.discriminant, s);
      }
      if (f.group !== undefined) this.#writeStruct(s, this.schema.struct(f.group), value, at, opts);
      else this.#writeSlot(s, f, value, at, opts);
    }
  }

  #writeSlot(s: $.Struct, f: ReflectedField, v: unknown, where: string, opts: WriteOptions): void {
    const t = f.type!;
    const off = f.offset!;
    switch (t.kind) {
      case 'void':
        if (v !== null && !(isObject(v) && Object.keys(v).length === 0)) throw bad(where, 'expected null (Void)');
        return;
      case 'bool':
        if (typeof v !== 'boolean') throw bad(where, 'expected true or false');
        $.utils.setBit(off, v !== (f.default === true), s);
        return;
      case 'int8':
      case 'int16':
      case 'int32':
      case 'uint8':
      case 'uint16':
      case 'uint32':
      case 'float32':
      case 'float64':
        setNumber(s, t.kind, off * NUMBER_SIZE[t.kind], toNumber(t.kind, v, where), f.default);
        return;
      case 'int64':
      case 'uint64':
        setBig(s, t.kind, off * 8, toBig(t.kind, v, where), f.default);
        return;
      case 'enum':
        $.utils.setUint16(off * 2, this.#enumOrdinal(t.id, v, where) ^ Number(f.default ?? 0), s);
        return;
      case 'text':
        if (typeof v !== 'string') throw bad(where, 'expected a string');
        $.utils.setText(off, v, s);
        return;
      case 'data': {
        const bytes = fromBase64(v, where);
        $.utils.initData(off, bytes.length, s).copyBuffer(bytes);
        return;
      }
      case 'struct':
        if (v === null) return;
        this.#writeStruct($.utils.initStructAt(off, this.structClass(t.id), s), this.schema.struct(t.id), v, where, opts);
        return;
      case 'list':
        if (v === null) return;
        if (!Array.isArray(v)) throw bad(where, 'expected an array');
        this.#writeList(s, off, t.element, v, where, opts);
        return;
      case 'interface':
      case 'anyPointer': {
        if (v === null) return;
        if (t.kind === 'anyPointer' && !t.capability) throw bad(where, 'AnyPointer fields cannot be given as JSON');
        const path = capabilityPathOf(v);
        if (path === undefined || opts.capabilityFor === undefined) throw bad(where, 'expected {"capability": "/path/in/your/namespace"}');
        const capId = s.segment.message.addCap(opts.capabilityFor(path));
        $.utils.setInterfacePointer(capId, $.utils.getPointer(off, s));
        return;
      }
    }
  }

  #writeList(s: $.Struct, off: number, el: ReflectedType, v: unknown[], where: string, opts: WriteOptions): void {
    const n = v.length;
    switch (el.kind) {
      case 'struct': {
        const list = $.utils.initList(off, $.CompositeList(this.structClass(el.id)), n, s);
        const st = this.schema.struct(el.id);
        v.forEach((e, i) => this.#writeStruct(list.get(i), st, e, `${where}[${i}]`, opts));
        return;
      }
      case 'text': {
        const list = $.utils.initList(off, $.TextList, n, s);
        v.forEach((e, i) => {
          if (typeof e !== 'string') throw bad(`${where}[${i}]`, 'expected a string');
          list.set(i, e);
        });
        return;
      }
      case 'bool': {
        const list = $.utils.initList(off, $.BoolList, n, s);
        v.forEach((e, i) => {
          if (typeof e !== 'boolean') throw bad(`${where}[${i}]`, 'expected true or false');
          list.set(i, e);
        });
        return;
      }
      case 'enum': {
        const list = $.utils.initList(off, $.Uint16List, n, s);
        v.forEach((e, i) => list.set(i, this.#enumOrdinal(el.id, e, `${where}[${i}]`)));
        return;
      }
      case 'int8':
      case 'int16':
      case 'int32':
      case 'uint8':
      case 'uint16':
      case 'uint32':
      case 'float32':
      case 'float64': {
        const k = el.kind;
        const list = $.utils.initList(off, NUMBER_LISTS[k], n, s);
        v.forEach((e, i) => list.set(i, toNumber(k, e, `${where}[${i}]`)));
        return;
      }
      case 'int64':
      case 'uint64': {
        const k = el.kind;
        const list = $.utils.initList(off, k === 'int64' ? $.Int64List : $.Uint64List, n, s);
        v.forEach((e, i) => list.set(i, toBig(k, e, `${where}[${i}]`)));
        return;
      }
      case 'void':
        $.utils.initList(off, $.VoidList, n, s);
        return;
      case 'data':
      case 'list':
      case 'interface':
      case 'anyPointer':
        throw bad(where, `lists of ${el.kind} cannot be given as JSON`);
    }
  }

  #enumOrdinal(id: string, v: unknown, where: string): number {
    const e = this.schema.enum(id);
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff) return v;
    const i = typeof v === 'string' ? e.enumerants.indexOf(v) : -1;
    if (i < 0) throw bad(where, `expected one of ${e.enumerants.join(', ')} (${e.name})`);
    return i;
  }

  // ---- struct -> JSON ----------------------------------------------------------------

  /**
   * The JSON form of `s` (a struct of type `id`). Capabilities are described, not kept:
   * the caller releases the message's capabilities.
   */
  read(s: $.Struct, id: string): JsonValue {
    return this.#readStruct(s, this.schema.struct(id));
  }

  #readStruct(s: $.Struct, st: ReflectedStruct): JsonValue {
    const size = $.utils.getSize(s);
    const out: Record<string, JsonValue> = {};
    let active: number | undefined;
    if (st.discriminantCount !== undefined) {
      const at = (st.discriminantOffset ?? 0) * 2;
      active = at + 2 <= size.dataByteLength ? $.utils.getUint16(at, s) : 0;
    }
    for (const f of st.fields) {
      if (f.discriminant !== undefined && f.discriminant !== active) continue;
      out[f.name] = f.group !== undefined ? this.#readStruct(s, this.schema.struct(f.group)) : this.#readSlot(s, size, f);
    }
    return out;
  }

  #readSlot(s: $.Struct, size: $.ObjectSize, f: ReflectedField): JsonValue {
    const t = f.type!;
    const k = t.kind;
    const off = f.offset!;
    // Older (smaller) structs read as defaults past their sections, as Cap'n Proto promises
    // (capnp-es would throw CAPNP-TS020: docs notes/capnp-es.md).
    const inData = (bytes: number, at: number): boolean => at + bytes <= size.dataByteLength;
    // Only pointer fields look at their pointer (a Pointer object each, for data fields
    // too until now); the one made is the one read.
    const ptr = POINTER_KINDS.has(k) && off < size.pointerLength ? $.utils.getPointer(off, s) : null;
    const hasPointer = ptr !== null && !$.utils.isNull(ptr);
    switch (k) {
      case 'void':
        return null;
      case 'bool':
        return (inData(1, Math.floor(off / 8)) ? $.utils.getBit(off, s) : false) !== (f.default === true);
      case 'int8':
      case 'int16':
      case 'int32':
      case 'uint8':
      case 'uint16':
      case 'uint32':
      case 'float32':
      case 'float64': {
        const at = off * NUMBER_SIZE[k];
        return inData(NUMBER_SIZE[k], at) ? getNumber(s, k, at, f.default) : Number(f.default ?? 0);
      }
      case 'int64':
      case 'uint64':
        return (inData(8, off * 8) ? getBig(s, k, off * 8, f.default) : BigInt(f.default ?? 0)).toString();
      case 'enum': {
        const n = (inData(2, off * 2) ? $.utils.getUint16(off * 2, s) : 0) ^ Number(f.default ?? 0);
        return this.schema.enum(t.id).enumerants[n] ?? n;
      }
      case 'text':
        return hasPointer ? $.Text.fromPointer(ptr).get(0) : '';
      case 'data':
        return hasPointer ? Buffer.from($.utils.getData(off, s).toUint8Array()).toString('base64') : '';
      case 'struct':
        return hasPointer ? this.#readStruct($.utils.getStruct(off, this.structClass(t.id), s), this.schema.struct(t.id)) : null;
      case 'list':
        return hasPointer ? this.#readList(s, off, t.element) : [];
      case 'interface':
      case 'anyPointer': {
        if (!hasPointer) return null;
        if (t.kind === 'anyPointer' && !t.capability) return { anyPointer: 'not shown' };
        const desc: Record<string, JsonValue> = {};
        if (t.kind === 'interface') {
          desc['interfaceId'] = t.id;
          desc['interface'] = this.schema.interfaceName(BigInt(t.id));
        }
        return { capability: desc };
      }
    }
  }

  #readList(s: $.Struct, off: number, el: ReflectedType): JsonValue {
    switch (el.kind) {
      case 'struct': {
        const st = this.schema.struct(el.id);
        return $.utils.getList(off, $.CompositeList(this.structClass(el.id)), s).map((e) => this.#readStruct(e, st));
      }
      case 'text':
        return $.utils.getList(off, $.TextList, s).toArray();
      case 'data':
        return $.utils.getList(off, $.DataList, s).map((d) => Buffer.from(d.toUint8Array()).toString('base64'));
      case 'bool':
        return $.utils.getList(off, $.BoolList, s).toArray();
      case 'enum': {
        const names = this.schema.enum(el.id).enumerants;
        return $.utils.getList(off, $.Uint16List, s).map((n) => names[n] ?? n);
      }
      case 'int8':
      case 'int16':
      case 'int32':
      case 'uint8':
      case 'uint16':
      case 'uint32':
      case 'float32':
      case 'float64':
        return $.utils.getList(off, NUMBER_LISTS[el.kind], s).toArray();
      case 'int64':
      case 'uint64':
        return $.utils.getList(off, el.kind === 'int64' ? $.Int64List : $.Uint64List, s).map((n) => n.toString());
      case 'void':
        return $.utils.getList(off, $.VoidList, s).map(() => null);
      case 'list':
      case 'interface':
      case 'anyPointer':
        return { list: `of ${el.kind}, not shown` };
    }
  }
}

/** The kinds of field that live in the pointer section. */
const POINTER_KINDS: ReadonlySet<string> = new Set(['text', 'data', 'struct', 'list', 'interface', 'anyPointer']);

const NUMBER_LISTS: Record<NumberKind, $.ListCtor<number>> = {
  int8: $.Int8List,
  int16: $.Int16List,
  int32: $.Int32List,
  uint8: $.Uint8List,
  uint16: $.Uint16List,
  uint32: $.Uint32List,
  float32: $.Float32List,
  float64: $.Float64List,
};

function toNumber(kind: NumberKind, v: unknown, where: string): number {
  if (kind === 'float32' || kind === 'float64') {
    if (typeof v !== 'number') throw bad(where, 'expected a number');
    return v;
  }
  const n = typeof v === 'string' && /^-?(0x[0-9a-fA-F]+|\d+)$/.test(v) ? Number(v.startsWith('-') ? -Number(v.slice(1)) : Number(v)) : v;
  const [lo, hi] = INT_RANGE[kind];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi) throw bad(where, `expected an integer in ${lo}..${hi} (${kind})`);
  return n;
}

function toBig(kind: BigKind, v: unknown, where: string): bigint {
  let n: bigint | undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^(-?\d+|0x[0-9a-fA-F]+)$/.test(v)) n = BigInt(v);
  const ok = n !== undefined && (kind === 'uint64' ? n >= 0n && n < 1n << 64n : n >= -(1n << 63n) && n < 1n << 63n);
  if (!ok) throw bad(where, `expected a ${kind} as a number or a decimal or 0x string`);
  return n!;
}

function fromBase64(v: unknown, where: string): Uint8Array {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 === 1) throw bad(where, 'expected base64 text (Data)');
  return Buffer.from(v, 'base64');
}

/** Sets a number in the data section, XORed with the field's default as the encoding says. */
function setNumber(s: $.Struct, kind: NumberKind, at: number, v: number, def: unknown): void {
  const d = Number(def ?? 0);
  switch (kind) {
    case 'int8':
      return $.utils.setInt8(at, v, s, d === 0 ? undefined : $.getInt8Mask(d));
    case 'int16':
      return $.utils.setInt16(at, v, s, d === 0 ? undefined : $.getInt16Mask(d));
    case 'int32':
      return $.utils.setInt32(at, v, s, d === 0 ? undefined : $.getInt32Mask(d));
    case 'uint8':
      return $.utils.setUint8(at, v, s, d === 0 ? undefined : $.getUint8Mask(d));
    case 'uint16':
      return $.utils.setUint16(at, v, s, d === 0 ? undefined : $.getUint16Mask(d));
    case 'uint32':
      return $.utils.setUint32(at, v, s, d === 0 ? undefined : $.getUint32Mask(d));
    case 'float32':
      return $.utils.setFloat32(at, v, s, d === 0 ? undefined : $.getFloat32Mask(d));
    case 'float64':
      return $.utils.setFloat64(at, v, s, d === 0 ? undefined : $.getFloat64Mask(d));
  }
}

function getNumber(s: $.Struct, kind: NumberKind, at: number, def: unknown): number {
  const d = Number(def ?? 0);
  switch (kind) {
    case 'int8':
      return $.utils.getInt8(at, s, d === 0 ? undefined : $.getInt8Mask(d));
    case 'int16':
      return $.utils.getInt16(at, s, d === 0 ? undefined : $.getInt16Mask(d));
    case 'int32':
      return $.utils.getInt32(at, s, d === 0 ? undefined : $.getInt32Mask(d));
    case 'uint8':
      return $.utils.getUint8(at, s, d === 0 ? undefined : $.getUint8Mask(d));
    case 'uint16':
      return $.utils.getUint16(at, s, d === 0 ? undefined : $.getUint16Mask(d));
    case 'uint32':
      // The XOR with a default yields an int32; `>>> 0` restores the unsigned value.
      return $.utils.getUint32(at, s, d === 0 ? undefined : $.getUint32Mask(d)) >>> 0;
    case 'float32':
      return $.utils.getFloat32(at, s, d === 0 ? undefined : $.getFloat32Mask(d));
    case 'float64':
      return $.utils.getFloat64(at, s, d === 0 ? undefined : $.getFloat64Mask(d));
  }
}

function setBig(s: $.Struct, kind: BigKind, at: number, v: bigint, def: unknown): void {
  const d = BigInt((def as string | undefined) ?? 0);
  if (kind === 'int64') $.utils.setInt64(at, v, s, d === 0n ? undefined : $.getInt64Mask(d));
  else $.utils.setUint64(at, v, s, d === 0n ? undefined : $.getUint64Mask(d));
}

function getBig(s: $.Struct, kind: BigKind, at: number, def: unknown): bigint {
  const d = def === undefined ? 0n : BigInt(def as string);
  return kind === 'int64' ? $.utils.getInt64(at, s, d === 0n ? undefined : $.getInt64Mask(d)) : $.utils.getUint64(at, s, d === 0n ? undefined : $.getUint64Mask(d));
}
