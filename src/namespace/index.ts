/**
 * The namespace core: Plan 9 name spaces over capabilities, pure and synchronous.
 * The Namespace server (RPC) and the 9P bridge are built on these.
 */
export {
  MountTable,
  mergeUnion,
  type ApplyOptions,
  type BindOptions,
  type BindPathOptions,
  type Binding,
  type CreateTarget,
  type Listing,
  type Lookup,
  type Member,
  type MountEntry,
  type MountPoint,
  type Resolution,
} from './mount-table.js';
export {
  parseNamespaceText,
  quoteWord,
  formatFlags,
  type NsCommand,
  type ParseOptions,
  type Position,
  type Word,
} from './ns-text.js';
export {
  MAX_NAME_BYTES,
  MAX_PATH_DEPTH,
  MAX_PATH_LENGTH,
  cleanPath,
  formatPath,
  parsePath,
  parseSpec,
  validateName,
} from './path.js';
export {
  FILE_SERVER_INTERFACE_ID,
  NAMESPACE_INTERFACE_ID,
  formatInterfaceId,
  isContainer,
} from './interfaces.js';
export { PersistentMap } from './persistent-map.js';
