/**
 * What "read-only" means for the capabilities a view hands out, in one place: the
 * Namespace server wraps what a read-only view hands out in `readOnlyPolicy`, and the
 * exporter's policy uses `mutation` for its read-only exports.
 *
 * Read-only covers the interfaces capns knows the meaning of: Namespace (bind, bindPath,
 * unmount, apply), File (create, write, wstat, remove, and open for writing, truncating
 * or remove-on-close), CapTable (revoke, revokeHolder), Hub (create, remove, write). A
 * method of any other interface
 * passes: capns cannot tell which of a foreign interface's methods change anything, so a
 * read-only view of such a capability is that capability (docs/security.md).
 */
import type { Struct } from 'capnp-es';
import { NsError } from '../errors.js';
import { CapTable } from '../gen/captable.js';
import { OpenMode_Access } from '../gen/common.js';
import { File, File_Open$Params } from '../gen/fileserver.js';
import { Hub } from '../gen/hub.js';
import { Namespace } from '../gen/namespace.js';
import type { MembraneLifetime, MembranePolicy, Verdict } from '../rpc/membrane.js';

const NS = Namespace.Client.interfaceId;
const FILE = File.Client.interfaceId;
const CAPTABLE = CapTable.Client.interfaceId;
const HUB = Hub.Client.interfaceId;

/** Methods that change something whatever their arguments, by interface: id -> name. */
const MUTATING: ReadonlyMap<bigint, ReadonlyMap<number, string>> = new Map([
  [NS, new Map([[1, 'bind'], [2, 'bindPath'], [3, 'unmount'], [10, 'apply']])],
  [FILE, new Map([[2, 'create'], [4, 'write'], [7, 'wstat'], [8, 'remove']])],
  [CAPTABLE, new Map([[1, 'revoke'], [2, 'revokeHolder']])],
  [HUB, new Map([[1, 'create'], [2, 'remove'], [3, 'write']])],
]);

const INTERFACE_NAMES: ReadonlyMap<bigint, string> = new Map([[NS, 'Namespace'], [FILE, 'File'], [CAPTABLE, 'CapTable'], [HUB, 'Hub']]);

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
  const name = MUTATING.get(interfaceId)?.get(methodId);
  if (name !== undefined) return `${INTERFACE_NAMES.get(interfaceId)}.${name}`;
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
