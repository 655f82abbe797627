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

/** The schema as data: every struct, enum and interface of schema/*.capnp. */
export class SchemaIndex {
  readonly #data: SchemaReflection;

  constructor(data: SchemaReflection = reflection) {
    this.#data = data;
  }

  /** The struct with id `id` (0x key). @throws NsError NS_ERR_INVALID_ARGUMENT if unknown. */
  struct(id: string): ReflectedStruct {
    const s = this.#data.structs[id];
    if (s === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `struct ${id} is not in the schema`);
    return s;
  }

  /** The enum with id `id`. @throws NsError NS_ERR_INVALID_ARGUMENT if unknown. */
  enum(id: string): ReflectedEnum {
    const e = this.#data.enums[id];
    if (e === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `enum ${id} is not in the schema`);
    return e;
  }

  /** The interface with id `id`, or undefined when schema/ does not define it. */
  interface(id: bigint): ReflectedInterface | undefined {
    return this.#data.interfaces[idKey(id)];
  }

  /** The interface's name ("Clock"), or its id in hex when schema/ does not define it. */
  interfaceName(id: bigint): string {
    return this.interface(id)?.name ?? idKey(id);
  }

  /** Every interface: [id, interface]. */
  interfaces(): Array<[bigint, ReflectedInterface]> {
    return Object.entries(this.#data.interfaces).map(([k, v]) => [BigInt(k), v]);
  }

  /** The interface with this name ("Clock", "File"), if there is exactly one. */
  interfaceByName(name: string): bigint | undefined {
    const found = this.interfaces().filter(([, i]) => i.name === name);
    return found.length === 1 ? found[0]![0] : undefined;
  }

  /** Every method an interface has, its own first, then inherited ones (each once). */
  methods(interfaceId: bigint): MethodRef[] {
    const out: MethodRef[] = [];
    const seen = new Set<string>();
    const visit = (id: bigint): void => {
      const key = idKey(id);
      if (seen.has(key)) return;
      seen.add(key);
      const iface = this.#data.interfaces[key];
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
      throw new NsError('NS_ERR_INVALID_ARGUMENT', `interface ${idKey(interfaceId)} is not defined in schema/; cannot call it by name`);
    }
    const all = this.methods(interfaceId);
    const m = all.find((r) => r.method.name === name);
    if (m === undefined) {
      throw new NsError('NS_ERR_INVALID_ARGUMENT', `${iface.name} has no method ${JSON.stringify(name)}; its methods: ${all.map((r) => r.method.name).join(', ')}`);
    }
    return m;
  }
}
