/**
 * From manifest entries to the options of the services' classes: the one place that
 * knows both shapes (the composition root calls these).
 */
import type { Call, Client, Struct } from 'capnp-es';
import { formatAddress } from '../manifest/address.js';
import { formatInterfaceRef } from '../manifest/interfaces.js';
import type { ConnectCapability, ServiceCapability } from '../manifest/types.js';
import { idKey, INTROSPECT_INTERFACE_ID, learnSchema, SchemaIndex, type SchemaSet } from '../reflect/index.js';
import type { Answer } from '../rpc/cap.js';
import type { ConnectorOptions } from './connector.js';
import type { ServiceOptions } from './supervisor.js';

/**
 * Answers `Introspect` calls for a capability of interface `interfaceId` from `schemas`,
 * when they hold its schema (capns then describes a server that cannot describe itself);
 * otherwise lets them through to the capability. The returned function owns one local
 * capability for as long as it lives (it is tiny and never released: it lives as long
 * as the capability it describes).
 */
export function introspectionFrom(schemas: SchemaSet, interfaceId: bigint): ((call: Call<Struct, Struct>) => Answer<Struct> | undefined) | undefined {
  if (schemas.bytesFor(interfaceId) === undefined) return undefined;
  const local = schemas.introspect(interfaceId).client;
  return (call) => (call.method.interfaceId === INTROSPECT_INTERFACE_ID ? (local.call(call)) : undefined);
}

/**
 * Whether a server offering `offered` will do for `declared`: the same interface, or one
 * that extends it — learned from the manifest's schemas, or else asked of the server
 * itself (Introspect.schema). Returns the reason to refuse, or undefined.
 */
export function acceptExtending(schemas: SchemaSet, declared: bigint, declaredName: string, what: string): (offered: bigint, peer: Client) => Promise<string | undefined> {
  return async (offered, peer) => {
    const index = SchemaIndex.over(schemas.index);
    if (index.interface(offered) === undefined) {
      try {
        await learnSchema(peer, offered, index, what);
      } catch {
        // Nothing to learn from: judged on the ids alone.
      }
    }
    if (index.extendsInterface(offered, declared)) return undefined;
    const named = (id: bigint, name: string): string => (name === idKey(id) ? name : `${name} (${idKey(id)})`);
    return `the server offers interface ${named(offered, index.interfaceName(offered))}, not the declared ${named(declared, declaredName)} nor one extending it`;
  };
}

/** A `connect` capability's connector options (without TLS files, which the caller reads). */
export function connectorOptions(c: ConnectCapability, interfaceId: bigint, schemas: SchemaSet): ConnectorOptions {
  const intercept = introspectionFrom(schemas, interfaceId);
  const name = formatInterfaceRef(c.interface);
  return {
    name: c.name,
    address: formatAddress(c.address),
    interfaceId,
    interfaceName: name,
    accept: acceptExtending(schemas, interfaceId, name, `connect '${c.name}'`),
    ...(intercept !== undefined && { intercept }),
    ...(c.timeoutMs !== undefined && { timeoutMs: c.timeoutMs }),
    ...(c.heartbeatMs !== undefined && { heartbeatMs: c.heartbeatMs }),
    ...(c.backoffMaxMs !== undefined && { backoffMaxMs: c.backoffMaxMs }),
  };
}

/**
 * A `service` capability's options, but for what the composition root supplies (offers
 * with their ids, the namespace, the log). `baseEnv` is what every service gets besides
 * its own `env` (PATH).
 */
export function serviceOptions(c: ServiceCapability, baseEnv: Readonly<Record<string, string>>): Omit<ServiceOptions, 'offers' | 'namespace' | 'log' | 'accept'> {
  return {
    name: c.name,
    command: c.command,
    args: c.args,
    env: { ...baseEnv, ...c.env },
    cwd: c.cwd,
    restart: c.restart,
    ...(c.readyTimeoutMs !== undefined && { readyTimeoutMs: c.readyTimeoutMs }),
    ...(c.stopTimeoutMs !== undefined && { stopTimeoutMs: c.stopTimeoutMs }),
    ...(c.backoffMaxMs !== undefined && { backoffMaxMs: c.backoffMaxMs }),
    ...(c.startLimit !== undefined && { startLimit: c.startLimit }),
  };
}
