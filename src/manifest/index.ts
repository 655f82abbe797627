/**
 * The manifest: what capabilities exist, and for each profile (an identity) the ordered
 * bind/mount steps that build its namespace; listeners, exports, limits. Pure (no I/O):
 * the caller reads the file and passes the environment. See docs/manifest.md.
 */
export {
  parseAddress,
  formatAddress,
  isLoopback,
  addressesConflict,
  MAX_UNIX_PATH_BYTES,
  type Address,
} from './address.js';
export {
  checkManifest,
  capabilityInterface,
  buildOnPaper,
  serves,
  type PaperMember,
  type PaperNamespace,
} from './check.js';
export {
  defaultManifest,
  defaultManifestText,
  DEFAULT_PORTS,
  DEFAULT_DATA_DIR,
  DEFAULT_MANIFEST_FILE,
  type DefaultManifestOptions,
} from './default.js';
export { manifestGraph } from './graph.js';
export {
  diffManifests,
  type ManifestDiff,
  type NameChanges,
  type RevokedCredentials,
} from './diff.js';
export {
  KNOWN_INTERFACES,
  CAPABILITY_TYPES,
  CAPABILITY_TYPE_NAMES,
  parseInterfaceRef,
  formatInterfaceRef,
  formatInterfaceId,
  completeInterfaceRef,
  sameInterface,
  knownInterface,
  isContainerInterface,
  type InterfaceRef,
  type KnownInterface,
  type CapabilityType,
} from './interfaces.js';
export {
  ManifestError,
  DIAGNOSTIC_CODES,
  PREFLIGHT_DIAGNOSTIC_CODES,
  formatDiagnostic,
  compareDiagnostics,
  type Diagnostic,
  type DiagnosticCode,
} from './manifest-error.js';
export { parseManifest, formatPath, type ParseOptions } from './parse.js';
export { checkNamespacePath, checkSpec, isAtOrBelow, MAX_NAME_BYTES } from './paths.js';
export { manifestToJSON } from './show.js';
export type * from './types.js';
