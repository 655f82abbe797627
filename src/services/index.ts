/**
 * Services: the user's own typed capabilities in namespaces (docs/services.md) —
 * `connect` (any Cap'n Proto server's bootstrap), `service` (a supervised program),
 * `srv` (a board of posted capabilities), the user's schema files, the slot every such
 * capability is bound through, and the library to write a service with.
 */
export { Slot, DEFAULT_SLOT_MAX_WAITING, DEFAULT_SLOT_WAIT_MS, type SlotOptions, type SlotState } from './slot.js';
export { Connector, startConnector, CONNECT_DEFAULTS, type ConnectorOptions, type ConnectorStatus } from './connector.js';
export { connectorOptions, introspectionFrom, acceptExtending, serviceOptions } from './manifest-options.js';
export { compileSchema, readSchemaFile, loadSchemaFiles, isSchemaSource, CAPNP_COMPILER } from './schema-files.js';
export { described } from './described.js';
export { preflightManifest, type Preflight } from './preflight.js';
export { Board, SrvTarget, DEFAULT_BOARD_MAX_ENTRIES, type BoardOptions, type DeclaredName } from './board.js';
export { ServiceProcess, startService, SERVICE_DEFAULTS, EXIT_DO_NOT_RESTART, type RestartPolicy, type ServiceLog, type ServiceOptions, type ServiceState, type ServiceStatus } from './supervisor.js';
export { runService, type Offer, type RunServiceOptions, type ServiceContext } from './run-service.js';
