/**
 * A set of compiled schemas (CodeGeneratorRequests) with their reflection: what capns
 * serve loads from the manifest's `schemas`, and what a TypeScript service offers its
 * capabilities' descriptions from. It answers `Introspect` for the interfaces it holds.
 */
import { NsError } from '../errors.js';
import { setFailure } from '../failure.js';
import {
  Introspect,
  type Introspect$Client,
  type Introspect$Server$Target,
  type Introspect_InterfaceId$Params,
  type Introspect_InterfaceId$Results,
  type Introspect_Schema$Params,
  type Introspect_Schema$Results,
} from '../gen/services.js';
import { serve } from '../rpc/index.js';
import { DEFAULT_SCHEMA_LIMITS, loadCodeGeneratorRequest, type LoadedSchema, type SchemaLimits } from './nodes.js';
import { idKey, SchemaIndex } from './schema-index.js';

/** One schema in the set: where it came from and what it defines. */
export interface SchemaSource {
  /** Named in messages: a file path, "the schema /svc/kv sent". */
  readonly source: string;
  /** The files it was compiled from. */
  readonly files: readonly string[];
  /** The interfaces it defines. */
  readonly interfaces: readonly bigint[];
}

/** Compiled schemas, their reflection (over capns's own), and the bytes to describe them with. */
export class SchemaSet {
  /** capns's own schema and every schema added. */
  readonly index: SchemaIndex;
  readonly #limits: SchemaLimits;
  readonly #bytes = new Map<string, Uint8Array>();
  readonly #sources: SchemaSource[] = [];

  constructor(parent: SchemaIndex = new SchemaIndex(), limits: SchemaLimits = DEFAULT_SCHEMA_LIMITS) {
    this.index = SchemaIndex.over(parent);
    this.#limits = limits;
  }

  /** What was added, in order. */
  get sources(): readonly SchemaSource[] {
    return this.#sources;
  }

  /**
   * Adds a CodeGeneratorRequest (`capnp compile -o-` output). All or nothing.
   * @throws NsError naming `source` when the bytes are not a usable schema or clash with
   *   one already known.
   */
  add(bytes: Uint8Array, source: string): LoadedSchema {
    const loaded = loadCodeGeneratorRequest(bytes, `schema ${source}`, this.#limits);
    this.index.add(loaded.reflection, `schema ${source}`);
    const own = bytes.slice();
    const interfaces: bigint[] = [];
    for (const id of Object.keys(loaded.reflection.interfaces)) {
      if (!this.#bytes.has(id)) this.#bytes.set(id, own);
      interfaces.push(BigInt(id));
    }
    this.#sources.push({ source, files: loaded.files, interfaces });
    return loaded;
  }

  /** The request that defines `interfaceId` (with everything it refers to), if one here does. */
  bytesFor(interfaceId: bigint): Uint8Array | undefined {
    return this.#bytes.get(idKey(interfaceId));
  }

  /**
   * The id of the interface called `name` ("KeyValue", "kv.capnp:KeyValue").
   * @throws NsError NS_ERR_NOT_FOUND naming the schemas looked in, or saying the name is
   *   ambiguous.
   */
  interfaceId(name: string): bigint {
    const id = this.index.interfaceByName(name);
    if (id !== undefined) return id;
    const all = this.index.interfaces().filter(([, i]) => i.name === name.slice(name.lastIndexOf(':') + 1));
    if (all.length > 1) {
      throw new NsError('NS_ERR_NOT_FOUND', `interface '${name}' is defined in more than one schema (${all.map(([, i]) => i.file).join(', ')}): write it as FILE:${name}`);
    }
    const where = this.#sources.length === 0 ? 'the manifest names no schemas' : `not in ${this.#sources.map((s) => s.source).join(', ')}`;
    throw new NsError('NS_ERR_NOT_FOUND', `unknown interface '${name}': ${where}`);
  }

  /**
   * A capability answering `Introspect` for `interfaceId` (what it says it implements)
   * from this set. The caller owns it.
   */
  introspect(interfaceId: bigint): Introspect$Client & Disposable {
    return serve(Introspect, new SetIntrospect(this, interfaceId));
  }
}

class SetIntrospect implements Introspect$Server$Target {
  constructor(
    readonly set: SchemaSet,
    readonly own: bigint,
  ) {}

  async interfaceId(_p: Introspect_InterfaceId$Params, r: Introspect_InterfaceId$Results): Promise<void> {
    r.id = this.own;
  }

  async schema(p: Introspect_Schema$Params, r: Introspect_Schema$Results): Promise<void> {
    const id = p.interfaceId === 0n ? this.own : p.interfaceId;
    const bytes = this.set.bytesFor(id);
    if (bytes === undefined) {
      setFailure(r._initResult()._initErr(), new NsError('NS_ERR_NOT_FOUND', `no schema of interface ${idKey(id)} here`));
      return;
    }
    r._initResult()._initOk(bytes.length).copyBuffer(bytes);
  }
}
