/**
 * Services: the user's own typed capabilities in namespaces (docs/services.md) —
 * `connect` (any Cap'n Proto server's bootstrap), the user's schema files, and the slot
 * every such capability is bound through.
 */
export { Slot, DEFAULT_SLOT_MAX_WAITING, DEFAULT_SLOT_WAIT_MS, type SlotOptions, type SlotState } from './slot.js';
export { Connector, startConnector, CONNECT_DEFAULTS, type ConnectorOptions, type ConnectorStatus } from './connector.js';
export { connectorOptions, introspectionFrom, acceptExtending } from './manifest-options.js';
export { compileSchema, readSchemaFile, loadSchemaFiles, isSchemaSource, CAPNP_COMPILER } from './schema-files.js';
export { described } from './described.js';
export { preflightManifest, type Preflight } from './preflight.js';
