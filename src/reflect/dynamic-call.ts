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
 * What a call of one method needs besides its arguments, built once (`prepareMethod`)
 * and kept by callers that call the method again (the HTTP gateway): the method, and
 * the descriptor with the params and results classes that capnp-es's call path takes.
 */
export interface PreparedMethod {
  readonly ref: MethodRef;
  readonly descriptor: $.Method<$.Struct, $.Struct>;
}

/** The call descriptor of `ref`, its struct classes from `codec` (which must be the one calls use). */
export function prepareMethod(ref: MethodRef, codec: JsonCodec): PreparedMethod {
  const m = ref.method;
  return {
    ref,
    descriptor: {
      interfaceId: ref.interfaceId,
      methodId: m.id,
      interfaceName: `${ref.interfaceName} (${idKey(ref.interfaceId)})`,
      methodName: m.name,
      ParamsClass: codec.structClass(m.params),
      ResultsClass: codec.structClass(m.results),
    },
  };
}

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
  return callPrepared(client, prepareMethod(ref, codec), args, codec, opts);
}

/** `callByReflection` with the method prepared beforehand (by `prepareMethod` over the same `codec`). */
export async function callPrepared(client: Client, prepared: PreparedMethod, args: unknown, codec: JsonCodec, opts: WriteOptions = {}): Promise<JsonValue> {
  const m = prepared.ref.method;
  const { descriptor } = prepared;
  // Encode once into a scratch message first, so that bad arguments fail here as an
  // NsError and never reach the wire (an exception in paramsFunc would come back as an
  // RpcError, and a grant would count a call). The scratch message is dropped; it holds
  // no references of its own. No arguments (all defaults) cannot be bad: no scratch.
  if (args !== null && args !== undefined) codec.write(new $.Message().initRoot(descriptor.ParamsClass), m.params, args, 'params', opts);
  const answer = client.call({
    method: descriptor,
    paramsFunc: (p: $.Struct) => codec.write(p, m.params, args, 'params', opts),
  });
  const results = await new $.Pipeline(descriptor.ResultsClass, answer).struct();
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
