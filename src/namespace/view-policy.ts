/**
 * What "read-only" means for the capabilities a view hands out, in one place: the
 * Namespace server wraps what a read-only view hands out in `readOnlyPolicy`, and the
 * exporter's policy uses `mutation` for its read-only exports.
 *
 * Read-only covers the interfaces capns knows the meaning of: every method of every
 * interface in schema/ is sorted below into those that change something (refused) and
 * those that only read (File.open by its mode). A method of these interfaces found in
 * neither list (a newer peer's, say) is refused: read-only fails closed on what it knows.
 * test/namespace/view-policy.test.ts fails while any method of schema/ is unsorted. A
 * method of any other interface passes: capns cannot tell which of a foreign interface's
 * methods change anything, so a read-only view of such a capability is that capability
 * (docs/security.md).
 */
import type { Struct } from 'capnp-es';
import { NsError } from '../errors.js';
import { CapTable } from '../gen/captable.js';
import { OpenMode_Access } from '../gen/common.js';
import { Clock, Echo } from '../gen/demo.js';
import { File, FileServer, File_Open$Params } from '../gen/fileserver.js';
import { Hub } from '../gen/hub.js';
import { Gate, Namespace } from '../gen/namespace.js';
import { Import } from '../gen/proxy.js';
import { Introspect, Post, ServiceHost, Srv } from '../gen/services.js';
import type { MembraneLifetime, MembranePolicy, Verdict } from '../rpc/membrane.js';

/** One interface of schema/: its name, and its methods by id, sorted. */
export interface SortedInterface {
  readonly name: string;
  /** Methods that change something whatever their arguments: refused under read-only. */
  readonly changes: ReadonlyMap<number, string>;
  /** Methods that only read (File.open: by its mode). */
  readonly reads: ReadonlyMap<number, string>;
}

const sorted = (name: string, changes: [number, string][], reads: [number, string][]): SortedInterface => ({ name, changes: new Map(changes), reads: new Map(reads) });

/** Every interface of schema/, by id. */
export const OWN_INTERFACES: ReadonlyMap<bigint, SortedInterface> = new Map([
  [Namespace.Client.interfaceId, sorted('Namespace', [[1, 'bind'], [2, 'bindPath'], [3, 'unmount'], [10, 'apply']], [[0, 'resolve'], [4, 'list'], [5, 'members'], [6, 'walk'], [7, 'sub'], [8, 'fork'], [9, 'describe']])],
  // What authenticate hands out comes through the same view (a read-only namespace).
  [Gate.Client.interfaceId, sorted('Gate', [], [[0, 'authenticate']])],
  [FileServer.Client.interfaceId, sorted('FileServer', [], [[0, 'attach']])],
  [File.Client.interfaceId, sorted('File', [[2, 'create'], [4, 'write'], [7, 'wstat'], [8, 'remove']], [[0, 'walk'], [1, 'open'], [3, 'read'], [5, 'readDir'], [6, 'stat'], [9, 'clunk']])],
  [CapTable.Client.interfaceId, sorted('CapTable', [[1, 'revoke'], [2, 'revokeHolder'], [4, 'revokeExport']], [[0, 'list'], [3, 'exports']])],
  [Hub.Client.interfaceId, sorted('Hub', [[1, 'create'], [2, 'remove'], [3, 'write']], [[0, 'channels'], [4, 'read'], [5, 'position'], [6, 'files']])],
  [Srv.Client.interfaceId, sorted('Srv', [[0, 'post']], [[1, 'list']])],
  [Post.Client.interfaceId, sorted('Post', [[0, 'remove']], [])],
  // Its namespace comes through the same view.
  [ServiceHost.Client.interfaceId, sorted('ServiceHost', [], [[0, 'namespace']])],
  [Introspect.Client.interfaceId, sorted('Introspect', [], [[0, 'interfaceId'], [1, 'schema']])],
  [Import.Client.interfaceId, sorted('Import', [], [[0, 'status']])],
  [Clock.Client.interfaceId, sorted('Clock', [], [[0, 'now']])],
  [Echo.Client.interfaceId, sorted('Echo', [], [[0, 'echo']])],
]);

const FILE = File.Client.interfaceId;
const FILE_OPEN = 1;

/** A struct received as params (of no particular type), seen as `Cls`. */
export function paramsAs<S extends Struct>(
  Cls: new (segment: Struct['segment'], byteOffset: number, depthLimit?: number) => S,
  s: Struct,
): S {
  return new Cls(s.segment, s.byteOffset, s._capnp.depthLimit);
}

/**
 * The name of the change a call makes (`File.write`), or undefined when it changes
 * nothing capns knows of. Without `params`, only what the method alone tells (File.open
 * then counts as reading); with them, File.open's mode too.
 */
export function mutation(interfaceId: bigint, methodId: number, params?: Struct): string | undefined {
  const own = OWN_INTERFACES.get(interfaceId);
  if (own === undefined) return undefined;
  const name = own.changes.get(methodId);
  if (name !== undefined) return `${own.name}.${name}`;
  if (!own.reads.has(methodId)) return `method @${methodId} of ${own.name}, which this version of capns does not know`;
  if (params !== undefined && interfaceId === FILE && methodId === FILE_OPEN) {
    const mode = paramsAs(File_Open$Params, params).mode;
    if (
      mode.access === OpenMode_Access.WRITE ||
      mode.access === OpenMode_Access.READ_WRITE ||
      mode.truncate ||
      mode.removeOnClose
    ) {
      return 'File.open for writing';
    }
  }
  return undefined;
}

/** Whether a method's verdict depends on its params under read-only (File.open). */
export function readOnlyNeedsParams(interfaceId: bigint, methodId: number): boolean {
  return interfaceId === FILE && methodId === FILE_OPEN;
}

/**
 * A membrane policy that refuses every change (see `mutation`) with NS_ERR_PERMISSION,
 * for everything derived from what it wraps. `what` names the view in the message.
 */
export function readOnlyPolicy(what: string, lifetime?: MembraneLifetime): MembranePolicy {
  const refuse = (m: string): NsError => new NsError('NS_ERR_PERMISSION', `${m}: ${what} is read-only`);
  return {
    lifetime,
    check(interfaceId: bigint, methodId: number): Verdict {
      const m = mutation(interfaceId, methodId);
      return m === undefined ? undefined : refuse(m);
    },
    checkParams(interfaceId: bigint, methodId: number, params: Struct): Verdict {
      if (!readOnlyNeedsParams(interfaceId, methodId)) return undefined;
      const m = mutation(interfaceId, methodId, params);
      return m === undefined ? undefined : refuse(m);
    },
  };
}
