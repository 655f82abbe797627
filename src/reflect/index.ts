/**
 * Schema reflection for `capns call`, the HTTP gateway and the web page: the shape of
 * every schema/ type as data (src/gen/reflection.js, emitted by `npm run gen`), schemas
 * capns was not built with (a CodeGeneratorRequest from the manifest or from a
 * capability's `Introspect`), JSON <-> struct conversion, and a call of any method by
 * name with JSON params.
 */
export { SchemaIndex, idKey, type MethodRef, type ReflectedEnum, type ReflectedField, type ReflectedInterface, type ReflectedMethod, type ReflectedStruct, type ReflectedType, type SchemaReflection } from './schema-index.js';
export { JsonCodec, capabilityPaths, capabilityPathOf, type JsonValue, type WriteOptions } from './json-codec.js';
export { callByReflection, callPrepared, prepareMethod, type CallPreparedOptions, type PreparedMethod } from './dynamic-call.js';
export { loadCodeGeneratorRequest, DEFAULT_SCHEMA_LIMITS, type LoadedSchema, type SchemaLimits } from './nodes.js';
export { learnSchema, INTROSPECT_INTERFACE_ID } from './introspect.js';
export { SchemaSet, type SchemaSource } from './schema-set.js';
export { describeInterface, methodSignature, typeName } from './describe.js';
