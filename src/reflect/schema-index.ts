/**
 * Lookups over the reflection data that `npm run gen` emits from schema/*.capnp
 * (src/gen/reflection.js): structs, enums and interfaces by id, methods by name
 * (inherited ones included). Pure; the data is read-only.
 */
import reflection, {
  type ReflectedEnum,
  type ReflectedInterface,
  type ReflectedMethod,
  type ReflectedStruct,
  type SchemaReflection,
} from '../gen/reflection.js';
import { NsError } from '../errors.js';

export type { ReflectedEnum, ReflectedField, ReflectedInterface, ReflectedMethod, ReflectedStruct, ReflectedType, SchemaReflection } from '../gen/reflection.js';

/** An interface id as the reflection data spells it: 0x and 16 hex digits. */
export function idKey(id: bigint): string {
  return '0x' + id.toString(16).padStart(16, '0');
}

/** A method together with the interface that declares it. */
export interface MethodRef {
  readonly interfaceId: bigint;
  readonly interfaceName: string;
  readonly method: ReflectedMethod;
}

/**
 * The schema as data: every struct, enum and interface of schema/*.capnp, and of the
 * schemas added to it (the manifest's, or those a capability described at run time). An
 * index may sit on a parent (a session's learned schemas over the server's): lookups try
 * its own nodes, then the parent's; additions go to its own.
 */
export class SchemaIndex {
  readonly #data: SchemaReflection;
  readonly #parent: SchemaIndex | undefined;
  /** Where each added node came from (for conflict messages); built-in nodes have none. */
  readonly #sources = new Map<string, string>();

  constructor(data: SchemaReflection = reflection, parent?: SchemaIndex) {
    this.#data = { structs: { ...data.structs }, enums: { ...data.enums }, interfaces: { ...data.interfaces } };
    this.#parent = parent;
  }

  /** An empty index over `parent`: what is added to it stays out of the parent. */
  static over(parent: SchemaIndex): SchemaIndex {
    return new SchemaIndex({ structs: {}, enums: {}, interfaces: {} }, parent);
  }

  /**
   * Adds the nodes of `r` (from `source`, named in messages), all or none. A node this
   * index (or its parent) already has must be the same (a schema importing capns's own
   * files repeats them); a different node under a known id is refused.
   * @throws NsError NS_ERR_INVALID_ARGUMENT naming the node and both sources.
   */
  add(r: SchemaReflection, source: string): void {
    const clash = (kind: 'structs' | 'enums' | 'interfaces', id: string, node: unknown): void => {
      const have = this.#lookup(kind, id);
      if (have !== undefined && JSON.stringify(have) !== JSON.stringify(node)) {
        const name = (node as { name: string }).name;
        throw new NsError('NS_ERR_INVALID_ARGUMENT', `${source}: ${name} (${id}) differs from the node of that id already known (from ${this.#sourceOf(id)})`);
      }
    };
    for (const kind of ['structs', 'enums', 'interfaces'] as const) for (const [id, node] of Object.entries(r[kind])) clash(kind, id, node);
    for (const kind of ['structs', 'enums', 'interfaces'] as const) {
      for (const [id, node] of Object.entries(r[kind])) {
        if (this.#lookup(kind, id) !== undefined) continue;
        (this.#data[kind] as Record<string, unknown>)[id] = node;
        this.#sources.set(id, source);
      }
    }
  }

  #lookup(kind: 'structs' | 'enums' | 'interfaces', id: string): unknown {
    const own = (this.#data[kind] as Record<string, unknown>)[id];
    return own !== undefined || this.#parent === undefined ? own : this.#parent.#lookup(kind, id);
  }

  #sourceOf(id: string): string {
    return this.#sources.get(id) ?? (this.#parent === undefined ? "capns's own schema" : this.#parent.#sourceOf(id));
  }

  /** The struct with id `id` (0x key). @throws NsError NS_ERR_INVALID_ARGUMENT if unknown. */
  struct(id: string): ReflectedStruct {
    const s = this.#lookup('structs', id) as ReflectedStruct | undefined;
    if (s === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `struct ${id} is not in the schema`);
    return s;
  }

  /** The enum with id `id`. @throws NsError NS_ERR_INVALID_ARGUMENT if unknown. */
  enum(id: string): ReflectedEnum {
    const e = this.#lookup('enums', id) as ReflectedEnum | undefined;
    if (e === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `enum ${id} is not in the schema`);
    return e;
  }

  /** The interface with id `id`, or undefined when no schema here defines it. */
  interface(id: bigint): ReflectedInterface | undefined {
    return this.#lookup('interfaces', idKey(id)) as ReflectedInterface | undefined;
  }

  /** The interface's name ("Clock"), or its id in hex when no schema here defines it. */
  interfaceName(id: bigint): string {
    return this.interface(id)?.name ?? idKey(id);
  }

  /** Every interface: [id, interface] (own first, then the parent's not shadowed). */
  interfaces(): Array<[bigint, ReflectedInterface]> {
    const out = new Map<string, ReflectedInterface>(this.#parent === undefined ? [] : this.#parent.interfaces().map(([id, i]) => [idKey(id), i]));
    for (const [k, v] of Object.entries(this.#data.interfaces)) out.set(k, v);
    return [...out].map(([k, v]) => [BigInt(k), v]);
  }

  /**
   * The interface with this name ("Clock", "KeyValue"), or qualified by its file
   * ("kv.capnp:KeyValue"), if there is exactly one.
   */
  interfaceByName(name: string): bigint | undefined {
    const colon = name.lastIndexOf(':');
    const found =
      colon < 0
        ? this.interfaces().filter(([, i]) => i.name === name)
        : this.interfaces().filter(([, i]) => i.name === name.slice(colon + 1) && (i.file === name.slice(0, colon) || i.file.endsWith('/' + name.slice(0, colon))));
    return found.length === 1 ? found[0]![0] : undefined;
  }

  /** Whether `id` is `base` or extends it (through the superclasses this index knows). */
  extendsInterface(id: bigint, base: bigint): boolean {
    const seen = new Set<bigint>();
    const visit = (i: bigint): boolean => {
      if (i === base) return true;
      if (seen.has(i)) return false;
      seen.add(i);
      return (this.interface(i)?.superclasses ?? []).some((s) => visit(BigInt(s)));
    };
    return visit(id);
  }

  /** Every method an interface has, its own first, then inherited ones (each once). */
  methods(interfaceId: bigint): MethodRef[] {
    const out: MethodRef[] = [];
    const seen = new Set<string>();
    const visit = (id: bigint): void => {
      const key = idKey(id);
      if (seen.has(key)) return;
      seen.add(key);
      const iface = this.interface(id);
      if (iface === undefined) return;
      for (const method of iface.methods) out.push({ interfaceId: id, interfaceName: iface.name, method });
      for (const sup of iface.superclasses) visit(BigInt(sup));
    };
    visit(interfaceId);
    return out;
  }

  /**
   * The method `name` of the interface.
   * @throws NsError NS_ERR_INVALID_ARGUMENT naming the methods that exist, or saying the
   *   interface is not in schema/.
   */
  method(interfaceId: bigint, name: string): MethodRef {
    const iface = this.interface(interfaceId);
    if (iface === undefined) {
      throw new NsError('NS_ERR_INVALID_ARGUMENT', `interface ${idKey(interfaceId)} is in no schema known here; cannot call it by name`);
    }
    const all = this.methods(interfaceId);
    const m = all.find((r) => r.method.name === name);
    if (m === undefined) {
      throw new NsError('NS_ERR_INVALID_ARGUMENT', `${iface.name} has no method ${JSON.stringify(name)}; its methods: ${all.map((r) => r.method.name).join(', ')}`);
    }
    return m;
  }
}
