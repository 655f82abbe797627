/**
 * Schemas capns was not built with: a CodeGeneratorRequest (what `capnp compile -o-`
 * writes, and what a capability's `Introspect.schema` answers) turned into the same
 * reflection data `npm run gen` emits for schema/ (src/gen/reflection.js), so that the
 * JSON codec can call any interface it describes.
 *
 * The bytes are untrusted input (a service sends them): the framing is checked before
 * capnp-es reads it, sizes and counts are bounded, every field must fit its struct's
 * sections, and every node a field, method or superclass names must be in the request —
 * an incomplete closure is an error naming the first missing node and who needs it
 * (gRPC reflection's most reported failure is a closure that was not complete).
 */
import * as $ from 'capnp-es';
import { CodeGeneratorRequest, Field_Which, Type_Which, Value_Which, type Node, type Type, type Value } from 'capnp-es/capnp/schema';
import { NsError } from '../errors.js';
import type { ReflectedField, ReflectedInterface, ReflectedStruct, ReflectedType, SchemaReflection } from './schema-index.js';

/** Bounds on a schema read from bytes. */
export interface SchemaLimits {
  /** The whole message (default 4 MiB). */
  readonly maxBytes: number;
  /** Nodes in it (default 20000). */
  readonly maxNodes: number;
}

/** The defaults of SchemaLimits. */
export const DEFAULT_SCHEMA_LIMITS: SchemaLimits = { maxBytes: 4 << 20, maxNodes: 20_000 };

/** A schema read from a CodeGeneratorRequest. */
export interface LoadedSchema {
  readonly reflection: SchemaReflection;
  /** The files the request was compiled from (its requestedFiles), e.g. ["kv.capnp"]. */
  readonly files: readonly string[];
}

const PRIMITIVES: Partial<Record<number, ReflectedType['kind']>> = {
  [Type_Which.VOID]: 'void',
  [Type_Which.BOOL]: 'bool',
  [Type_Which.INT8]: 'int8',
  [Type_Which.INT16]: 'int16',
  [Type_Which.INT32]: 'int32',
  [Type_Which.INT64]: 'int64',
  [Type_Which.UINT8]: 'uint8',
  [Type_Which.UINT16]: 'uint16',
  [Type_Which.UINT32]: 'uint32',
  [Type_Which.UINT64]: 'uint64',
  [Type_Which.FLOAT32]: 'float32',
  [Type_Which.FLOAT64]: 'float64',
  [Type_Which.TEXT]: 'text',
  [Type_Which.DATA]: 'data',
};

/** Bits a data field of this kind takes (0: a pointer field). */
const BITS: Partial<Record<ReflectedType['kind'], number>> = {
  void: 0,
  bool: 1,
  int8: 8,
  uint8: 8,
  int16: 16,
  uint16: 16,
  enum: 16,
  int32: 32,
  uint32: 32,
  float32: 32,
  int64: 64,
  uint64: 64,
  float64: 64,
};

function hex(id: bigint): string {
  return '0x' + id.toString(16).padStart(16, '0');
}

function bad(what: string, why: string): NsError {
  return new NsError('NS_ERR_INVALID_ARGUMENT', `${what}: ${why}`);
}

/**
 * Checks the stream framing of one unpacked message (segment table) before capnp-es
 * sees it: capnp-es allocates by the claimed segment count before validating it.
 */
function checkFraming(bytes: Uint8Array, what: string): void {
  if (bytes.length < 8 || bytes.length % 8 !== 0) throw bad(what, `not a Cap'n Proto message (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const segments = view.getUint32(0, true) + 1;
  if (segments > 512) throw bad(what, `not a Cap'n Proto message (it claims ${segments} segments)`);
  const header = 4 + segments * 4;
  const headerBytes = header + (header % 8);
  if (headerBytes > bytes.length) throw bad(what, 'not a Cap\'n Proto message (truncated segment table)');
  let words = 0;
  for (let i = 0; i < segments; i++) words += view.getUint32(4 + i * 4, true);
  if (headerBytes + words * 8 !== bytes.length) {
    throw bad(what, `not one unpacked Cap'n Proto message (${bytes.length} bytes; its segment table says ${headerBytes + words * 8})`);
  }
}

/**
 * Reads a CodeGeneratorRequest into reflection data. `what` names the source in errors
 * ("schema kv.capnp.bin", "the schema /svc/kv sent").
 * @throws NsError NS_ERR_INVALID_ARGUMENT (not a request, malformed, incomplete) or
 *   NS_ERR_TOO_LARGE (over `limits`).
 */
export function loadCodeGeneratorRequest(bytes: Uint8Array, what: string, limits: SchemaLimits = DEFAULT_SCHEMA_LIMITS): LoadedSchema {
  if (bytes.length > limits.maxBytes) throw new NsError('NS_ERR_TOO_LARGE', `${what}: ${bytes.length} bytes, over the limit of ${limits.maxBytes}`);
  checkFraming(bytes, what);
  try {
    const copy = bytes.slice();
    const req = new $.Message(copy.buffer, false).getRoot(CodeGeneratorRequest);
    const n = req.nodes.length;
    if (n > limits.maxNodes) throw new NsError('NS_ERR_TOO_LARGE', `${what}: ${n} nodes, over the limit of ${limits.maxNodes}`);
    const out: SchemaReflection = { structs: {}, enums: {}, interfaces: {} };
    const kinds = new Map<string, 'struct' | 'enum' | 'interface' | 'other'>();
    const nodes: Node[] = [];
    for (let i = 0; i < n; i++) {
      const node = req.nodes.get(i);
      nodes.push(node);
      kinds.set(hex(node.id), node._isStruct ? 'struct' : node._isEnum ? 'enum' : node._isInterface ? 'interface' : 'other');
    }
    for (const node of nodes) readNode(node, out);
    validate(out, kinds, what);
    const files: string[] = [];
    for (let i = 0; i < req.requestedFiles.length; i++) files.push(req.requestedFiles.get(i).filename);
    return { reflection: out, files };
  } catch (e) {
    if (e instanceof NsError) throw e;
    throw bad(what, `not a readable CodeGeneratorRequest (${(e as Error).message})`);
  }
}

function typeOf(t: Type): ReflectedType {
  const w = t.which();
  const p = PRIMITIVES[w];
  if (p !== undefined) return { kind: p } as ReflectedType;
  switch (w) {
    case Type_Which.LIST:
      return { kind: 'list', element: typeOf(t.list.elementType) };
    case Type_Which.ENUM:
      return { kind: 'enum', id: hex(t.enum.typeId) };
    case Type_Which.STRUCT:
      return { kind: 'struct', id: hex(t.struct.typeId) };
    case Type_Which.INTERFACE:
      return { kind: 'interface', id: hex(t.interface.typeId) };
    case Type_Which.ANY_POINTER: {
      const a = t.anyPointer;
      return { kind: 'anyPointer', capability: a._isUnconstrained && a.unconstrained._isCapability };
    }
    default:
      throw new Error(`unknown type ${w}`);
  }
}

/** An explicit default of a data field, as the reflection data holds it. */
function defaultOf(v: Value): number | string | boolean | undefined {
  switch (v.which()) {
    case Value_Which.BOOL:
      return v.bool;
    case Value_Which.INT8:
      return v.int8;
    case Value_Which.INT16:
      return v.int16;
    case Value_Which.INT32:
      return v.int32;
    case Value_Which.INT64:
      return v.int64.toString();
    case Value_Which.UINT8:
      return v.uint8;
    case Value_Which.UINT16:
      return v.uint16;
    case Value_Which.UINT32:
      return v.uint32;
    case Value_Which.UINT64:
      return v.uint64.toString();
    case Value_Which.FLOAT32:
      return v.float32;
    case Value_Which.FLOAT64:
      return v.float64;
    case Value_Which.ENUM:
      return v.enum;
    default:
      return undefined;
  }
}

function readNode(node: Node, out: SchemaReflection): void {
  const full = node.displayName;
  const colon = full.indexOf(':');
  const file = colon < 0 ? '' : full.slice(0, colon);
  const name = full.slice(colon + 1);
  const id = hex(node.id);
  if (node._isStruct) {
    const s = node.struct;
    const fields: Array<ReflectedField & { codeOrder: number }> = [];
    for (let i = 0; i < s.fields.length; i++) {
      const f = s.fields.get(i);
      const field: ReflectedField & { codeOrder: number } = { name: f.name, codeOrder: f.codeOrder };
      if (f.discriminantValue !== 0xffff) field.discriminant = f.discriminantValue;
      if (f.which() === Field_Which.GROUP) {
        field.group = hex(f.group.typeId);
      } else {
        field.offset = f.slot.offset;
        field.type = typeOf(f.slot.type);
        if (f.slot.hadExplicitDefault) {
          const d = defaultOf(f.slot.defaultValue);
          if (d !== undefined) field.default = d;
        }
      }
      fields.push(field);
    }
    fields.sort((a, b) => a.codeOrder - b.codeOrder);
    const st: ReflectedStruct = {
      name,
      file,
      dataWords: s.dataWordCount,
      pointers: s.pointerCount,
      ...(s.isGroup ? { isGroup: true } : {}),
      ...(s.discriminantCount > 0 ? { discriminantCount: s.discriminantCount, discriminantOffset: s.discriminantOffset } : {}),
      fields: fields.map(({ codeOrder: _c, ...f }) => f),
    };
    out.structs[id] = st;
  } else if (node._isEnum) {
    const e = node.enum;
    const enumerants: string[] = [];
    for (let i = 0; i < e.enumerants.length; i++) enumerants.push(e.enumerants.get(i).name);
    out.enums[id] = { name, file, enumerants };
  } else if (node._isInterface) {
    const i = node.interface;
    const superclasses: string[] = [];
    for (let k = 0; k < i.superclasses.length; k++) superclasses.push(hex(i.superclasses.get(k).id));
    const methods: ReflectedInterface['methods'] = [];
    for (let k = 0; k < i.methods.length; k++) {
      const m = i.methods.get(k);
      methods.push({ name: m.name, id: k, params: hex(m.paramStructType), results: hex(m.resultStructType) });
    }
    out.interfaces[id] = { name, file, superclasses, methods };
  }
}

/** Every field fits its struct; every id named is in the request with the right kind. */
function validate(r: SchemaReflection, kinds: ReadonlyMap<string, string>, what: string): void {
  const need = (id: string, kind: string, by: string): void => {
    const k = kinds.get(id);
    if (k === undefined) throw bad(what, `incomplete: node ${id} (needed by ${by}) is not in it`);
    if (k !== kind) throw bad(what, `node ${id} (needed by ${by}) is a ${k}, not a ${kind}`);
  };
  const needType = (t: ReflectedType, by: string): void => {
    if (t.kind === 'list') needType(t.element, by);
    else if (t.kind === 'struct' || t.kind === 'enum' || t.kind === 'interface') need(t.id, t.kind, by);
  };
  for (const [id, s] of Object.entries(r.structs)) {
    const dataBits = s.dataWords * 64;
    if (s.discriminantCount !== undefined && ((s.discriminantOffset ?? 0) + 1) * 16 > dataBits) {
      throw bad(what, `struct ${s.name} (${id}): its union discriminant lies outside its data section`);
    }
    for (const f of s.fields) {
      const by = `${s.name}.${f.name}`;
      if (f.group !== undefined) {
        need(f.group, 'struct', by);
        continue;
      }
      const t = f.type!;
      needType(t, by);
      const bits = BITS[t.kind];
      if (bits === undefined) {
        if (f.offset! >= s.pointers) throw bad(what, `field ${by}: pointer ${f.offset} is outside the struct's ${s.pointers} pointers`);
      } else if ((f.offset! + 1) * bits > dataBits) {
        throw bad(what, `field ${by}: ${t.kind} at offset ${f.offset} is outside the struct's ${s.dataWords} data words`);
      }
    }
  }
  for (const [id, i] of Object.entries(r.interfaces)) {
    for (const sup of i.superclasses) need(sup, 'interface', `${i.name} (${id}) extends`);
    for (const m of i.methods) {
      need(m.params, 'struct', `${i.name}.${m.name} params`);
      need(m.results, 'struct', `${i.name}.${m.name} results`);
    }
  }
}
