/**
 * Schema reflection for `capns call`: the shape of every schema/ type as data
 * (src/gen/reflection.js, emitted by `npm run gen`), JSON <-> struct conversion, and a
 * call of any method by name with JSON params.
 */
export { SchemaIndex, idKey, type MethodRef, type ReflectedEnum, type ReflectedField, type ReflectedInterface, type ReflectedMethod, type ReflectedStruct, type ReflectedType, type SchemaReflection } from './schema-index.js';
export { JsonCodec, capabilityPaths, capabilityPathOf, type JsonValue, type WriteOptions } from './json-codec.js';
export { callByReflection } from './dynamic-call.js';
