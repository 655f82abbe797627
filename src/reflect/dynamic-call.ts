/**
 * Calling any schema/ method of a capability with JSON params and getting JSON results,
 * by reflection (the generated classes are not used): the params struct is built from
 * the method's reflected layout and sent with the RPC layer's ordinary call path
 * (`client.call({ method, paramsFunc })`), as generated clients do.
 */
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { releaseResults, type MessagePool } from '../rpc/index.js';
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

/** Options of `callPrepared`. */
export interface CallPreparedOptions extends WriteOptions {
  /**
   * The pool `client` has local callees build results in (it is a `withResultsPool`
   * view): the results go back to it once read. Received results are given back to
   * their connection either way (releaseResults).
   */
  readonly resultsPool?: MessagePool;
}

/**
 * `callByReflection` with the method prepared beforehand (by `prepareMethod` over the
 * same `codec`). The results are read into JSON, their capabilities released and their
 * memory given back (releaseResults): nothing of them outlives the call.
 */
export function callPrepared(client: Client, prepared: PreparedMethod, args: unknown, codec: JsonCodec, opts: CallPreparedOptions = {}): Promise<JsonValue> {
  const m = prepared.ref.method;
  const { descriptor } = prepared;
  const hasArgs = args !== null && args !== undefined;
  try {
    // Encode once into a scratch message first, so that bad arguments fail here as an
    // NsError and never reach the wire (an exception in paramsFunc would come back as an
    // RpcError, and a grant would count a call). The scratch message is dropped; it holds
    // no references of its own. No arguments (all defaults) cannot be bad: no scratch,
    // and no params function (the callee builds default params as it likes).
    if (hasArgs) codec.write(new $.Message().initRoot(descriptor.ParamsClass), m.params, args, 'params', opts);
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
  const answer = client.call(
    hasArgs ? { method: descriptor, paramsFunc: (p: $.Struct) => codec.write(p, m.params, args, 'params', opts) } : { method: descriptor },
  ) as unknown as { struct(): Promise<$.Struct> };
  // The answer's struct is the results root (what capnp-es's Pipeline would give, without
  // its wrapper and an async step more); the codec reads it by the method's layout.
  return answer.struct().then((results) => {
    try {
      return codec.read(results, m.results);
    } finally {
      // Results' capabilities belong to the caller: this caller does not keep them.
      const msg = results.segment.message;
      const caps = msg._capnp.capTable ?? [];
      msg._capnp.capTable = [];
      for (const c of caps) {
        try {
          c?.close();
        } catch {
          // Disposers never throw.
        }
      }
      // The JSON holds copies only (strings; Data as base64).
      releaseResults(results, opts.resultsPool);
    }
  });
}
