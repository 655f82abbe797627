/** The client library (docs/client.md). */
export {
  CapnsClient,
  connect,
  type BindOptions,
  type ClientClass,
  type ConnectOptions,
  type FileReader,
  type InterfaceLike,
  type NamespaceEntry,
  type Position,
  type Resolution,
  type UnionMember,
} from './capns-client.js';
export { formatImportStatus, importStatusJson, type ImportState, type ImportStatus, type ImportStatusJson } from '../proxy/import-status.js';
