/**
 * From manifest entries to the options of the services' classes: the one place that
 * knows both shapes (the composition root calls these).
 */
import { formatAddress } from '../manifest/address.js';
import { formatInterfaceRef } from '../manifest/interfaces.js';
import type { ConnectCapability } from '../manifest/types.js';
import type { ConnectorOptions } from './connector.js';

/** A `connect` capability's connector options (without TLS files, which the caller reads). */
export function connectorOptions(c: ConnectCapability, interfaceId: bigint): ConnectorOptions {
  return {
    name: c.name,
    address: formatAddress(c.address),
    interfaceId,
    interfaceName: formatInterfaceRef(c.interface),
    ...(c.timeoutMs !== undefined && { timeoutMs: c.timeoutMs }),
    ...(c.heartbeatMs !== undefined && { heartbeatMs: c.heartbeatMs }),
    ...(c.backoffMaxMs !== undefined && { backoffMaxMs: c.backoffMaxMs }),
  };
}
