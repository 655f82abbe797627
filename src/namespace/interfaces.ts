/**
 * The interface ids the namespace core treats specially, taken from the generated schema
 * code so they cannot drift from schema/*.capnp.
 *
 * A FileServer member makes its path a directory that can be walked into; a Namespace
 * member (for instance one imported from another machine) continues resolution there.
 * Together they are the "containers": members with names below them. Any other
 * interface is a leaf.
 */
import { FileServer$Client } from '../gen/fileserver.js';
import { Namespace$Client } from '../gen/namespace.js';

/** `FileServer`'s interface id (schema/fileserver.capnp). */
export const FILE_SERVER_INTERFACE_ID: bigint = FileServer$Client.interfaceId;

/** `Namespace`'s interface id (schema/namespace.capnp). */
export const NAMESPACE_INTERFACE_ID: bigint = Namespace$Client.interfaceId;

/** Whether a member of this interface has names below it (a FileServer or a Namespace). */
export function isContainer(interfaceId: bigint): boolean {
  return interfaceId === FILE_SERVER_INTERFACE_ID || interfaceId === NAMESPACE_INTERFACE_ID;
}

/** An interface id as printed in messages and namespace text: 0x followed by 16 hex digits. */
export function formatInterfaceId(interfaceId: bigint): string {
  return `0x${interfaceId.toString(16).padStart(16, '0')}`;
}
