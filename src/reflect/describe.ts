/**
 * Interfaces as people read them: `get (key :Text) -> (value :Text, found :Bool)`, for
 * `capns call PATH` (the method list), the 9P bridge's capability files and the web page.
 */
import { idKey, type ReflectedField, type ReflectedType, type SchemaIndex } from './schema-index.js';

/** A type as the schema language writes it (`List(Text)`, `UInt64`, `KeyValue`). */
export function typeName(schema: SchemaIndex, t: ReflectedType): string {
  switch (t.kind) {
    case 'list':
      return `List(${typeName(schema, t.element)})`;
    case 'struct':
      return schema.struct(t.id).name;
    case 'enum':
      return schema.enum(t.id).name;
    case 'interface':
      return schema.interfaceName(BigInt(t.id));
    case 'anyPointer':
      return t.capability ? 'Capability' : 'AnyPointer';
    default:
      return t.kind[0]!.toUpperCase() + t.kind.slice(1).replace('int', 'Int').replace('Uint', 'UInt');
  }
}

function fieldsOf(schema: SchemaIndex, fields: readonly ReflectedField[]): string {
  return fields.map((f) => `${f.name} :${f.group !== undefined ? 'group' : typeName(schema, f.type!)}`).join(', ');
}

/** `name (params) -> (results)` as in the schema. */
export function methodSignature(schema: SchemaIndex, m: { name: string; params: string; results: string }): string {
  return `${m.name} (${fieldsOf(schema, schema.struct(m.params).fields)}) -> (${fieldsOf(schema, schema.struct(m.results).fields)})`;
}

/**
 * A few lines describing the interface `id`: its name, id, file and methods (inherited
 * ones included); for an interface the index does not know, the id alone.
 */
export function describeInterface(schema: SchemaIndex, id: bigint): string {
  const iface = schema.interface(id);
  if (iface === undefined) return `interface ${idKey(id)}\n`;
  const lines = [`interface ${iface.name} ${idKey(id)}${iface.file === '' ? '' : ` (${iface.file})`}`];
  for (const r of schema.methods(id)) lines.push(`  ${methodSignature(schema, r.method)}`);
  return lines.join('\n') + '\n';
}
