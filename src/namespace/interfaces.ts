/**
 * The interface ids the namespace core treats specially, taken from the generated schema
 * code so they cannot drift from schema/*.capnp.
 *
 * A FileServer member makes its path a directory that can be walked into; a Namespace
 * member (for instance one imported from another machine) continues resolution there.
 * Together they are the "containers": members with names below them. Any other
 * interface is a leaf.
 */
import { CapTable$Client } from '../gen/captable.js';
import { Clock$Client, Echo$Client } from '../gen/demo.js';
import { File$Client, FileServer$Client } from '../gen/fileserver.js';
import { Gate$Client, Namespace$Client } from '../gen/namespace.js';
import { Import$Client } from '../gen/proxy.js';

/** `FileServer`'s interface id (schema/fileserver.capnp). */
export const FILE_SERVER_INTERFACE_ID: bigint = FileServer$Client.interfaceId;

/** `Namespace`'s interface id (schema/namespace.capnp). */
export const NAMESPACE_INTERFACE_ID: bigint = Namespace$Client.interfaceId;

/** Whether a member of this interface has names below it (a FileServer or a Namespace). */
export function isContainer(interfaceId: bigint): boolean {
  return interfaceId === FILE_SERVER_INTERFACE_ID || interfaceId === NAMESPACE_INTERFACE_ID;
}

/** The schema's interfaces by id, to name them in messages (schema/*.capnp). */
const SCHEMA_INTERFACES: ReadonlyMap<bigint, string> = new Map([
  [FileServer$Client.interfaceId, 'FileServer'],
  [File$Client.interfaceId, 'File'],
  [Namespace$Client.interfaceId, 'Namespace'],
  [Gate$Client.interfaceId, 'Gate'],
  [CapTable$Client.interfaceId, 'CapTable'],
  [Import$Client.interfaceId, 'Import'],
  [Clock$Client.interfaceId, 'Clock'],
  [Echo$Client.interfaceId, 'Echo'],
]);

/** An interface as messages name it: its schema name (`Clock`), or its id for one capns was not built with. */
export function interfaceDisplayName(interfaceId: bigint): string {
  return SCHEMA_INTERFACES.get(interfaceId) ?? formatInterfaceId(interfaceId);
}

/** "a Clock", "an Echo", "an interface 0x..." (for one capns was not built with). */
export function anInterface(interfaceId: bigint): string {
  const name = SCHEMA_INTERFACES.get(interfaceId);
  if (name === undefined) return `an interface ${formatInterfaceId(interfaceId)}`;
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** An interface id as printed in messages and namespace text: 0x followed by 16 hex digits. */
export function formatInterfaceId(interfaceId: bigint): string {
  return `0x${interfaceId.toString(16).padStart(16, '0')}`;
}
