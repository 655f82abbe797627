/**
 * Asking a capability for its schema (schema/services.capnp `Introspect`), for callers
 * that meet an interface capns was not built with: `capns call`, the HTTP gateway, the
 * web page. What it answers is untrusted input, read by nodes.ts within limits.
 */
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import { fromFailure } from '../failure.js';
import { Introspect } from '../gen/services.js';
import { RpcError } from '../rpc/index.js';
import { DEFAULT_SCHEMA_LIMITS, loadCodeGeneratorRequest, type SchemaLimits } from './nodes.js';
import { idKey, type SchemaIndex } from './schema-index.js';

/** The interface id of schema/services.capnp's Introspect. */
export const INTROSPECT_INTERFACE_ID = Introspect.Client.interfaceId;

/**
 * Makes sure `index` knows `interfaceId`: if not, asks `target` (a view; not released)
 * for the schema and adds it to `index`. `what` names the capability in errors ("/svc/kv").
 * @throws NsError NS_ERR_NOT_FOUND naming what is missing when no schema can be had (the
 *   capability does not implement Introspect, or does not know the interface);
 *   NS_ERR_INVALID_ARGUMENT / NS_ERR_TOO_LARGE for a schema that cannot be used;
 *   RpcError when the call fails otherwise (a dead connection).
 */
export async function learnSchema(target: Client, interfaceId: bigint, index: SchemaIndex, what: string, limits: SchemaLimits = DEFAULT_SCHEMA_LIMITS): Promise<void> {
  if (index.interface(interfaceId) !== undefined) return;
  const missing = `interface ${idKey(interfaceId)} at ${what} is in none of the schemas known here`;
  let bytes: Uint8Array;
  try {
    const r = (
      await new Introspect.Client(target)
        .schema((p) => {
          p.interfaceId = interfaceId;
        })
        .promise()
    ).result;
    if (r._isErr) throw new NsError('NS_ERR_NOT_FOUND', `${missing}, and the capability does not know it either (${fromFailure(r.err).message})`);
    bytes = r.ok.toUint8Array().slice();
  } catch (e) {
    if (e instanceof RpcError && e.type === 'unimplemented') {
      throw new NsError(
        'NS_ERR_NOT_FOUND',
        `${missing}, and the capability does not describe itself (it does not implement Introspect): name its compiled schema in the manifest's \`schemas\` (docs/services.md)`,
      );
    }
    throw e;
  }
  const loaded = loadCodeGeneratorRequest(bytes, `the schema ${what} sent`, limits);
  if (loaded.reflection.interfaces[idKey(interfaceId)] === undefined) {
    throw new NsError('NS_ERR_NOT_FOUND', `${missing}, and the schema the capability sent does not define it`);
  }
  index.add(loaded.reflection, `the schema ${what} sent`);
}
