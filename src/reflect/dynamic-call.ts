/**
 * Calling any schema/ method of a capability with JSON params and getting JSON results,
 * by reflection (the generated classes are not used): the params struct is built from
 * the method's reflected layout and sent with the RPC layer's ordinary call path
 * (`client.call({ method, paramsFunc })`), as generated clients do.
 */
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { idKey, type MethodRef } from './schema-index.js';
import { JsonCodec, type JsonValue, type WriteOptions } from './json-codec.js';

/**
 * Calls `ref` on `client` with params from `args` (a JSON object, or null for all
 * defaults) and returns the results as JSON. The capabilities in the results are
 * described and released (the caller gets no references); `client` and any capability
 * `opts.capabilityFor` supplies stay the caller's.
 *
 * @throws NsError NS_ERR_INVALID_ARGUMENT when `args` does not fit the params struct
 *   (nothing is sent); RpcError when the call fails (an exception from the callee, a
 *   dead connection).
 */
export async function callByReflection(client: Client, ref: MethodRef, args: unknown, codec: JsonCodec, opts: WriteOptions = {}): Promise<JsonValue> {
  const m = ref.method;
  const ParamsClass = codec.structClass(m.params);
  const ResultsClass = codec.structClass(m.results);
  // Encode once into a scratch message first, so that bad arguments fail here as an
  // NsError and never reach the wire (an exception in paramsFunc would come back as an
  // RpcError). The scratch message is dropped; it holds no references of its own.
  codec.write(new $.Message().initRoot(ParamsClass), m.params, args, 'params', opts);
  const answer = client.call({
    method: {
      interfaceId: ref.interfaceId,
      methodId: m.id,
      interfaceName: `${ref.interfaceName} (${idKey(ref.interfaceId)})`,
      methodName: m.name,
      ParamsClass,
      ResultsClass,
    },
    paramsFunc: (p: $.Struct) => codec.write(p, m.params, args, 'params', opts),
  });
  const results = await new $.Pipeline(ResultsClass, answer).struct();
  try {
    return codec.read(results, m.results);
  } finally {
    // Results' capabilities belong to the caller: this caller does not keep them.
    for (const c of results.segment.message._capnp.capTable ?? []) {
      try {
        c?.close();
      } catch {
        // Disposers never throw.
      }
    }
  }
}
