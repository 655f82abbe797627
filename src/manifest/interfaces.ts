/**
 * The interfaces a manifest can name in `require` (and an import's `interface`), and the
 * capability types with the interface each provides.
 *
 * The ids are copies of the generated schema code's (`FileServer$Client.interfaceId`, ...):
 * the manifest may import nothing but zod and errors (STYLE.md section 2), so they are
 * written here again, and test/manifest/interfaces.test.ts fails if they drift from
 * schema/*.capnp.
 */

/** An interface named by its schema name, its 64-bit id, or both when the name is known. */
export interface InterfaceRef {
  readonly name?: string;
  readonly id?: bigint;
}

/** An interface the manifest knows by name. */
export interface KnownInterface {
  readonly name: string;
  /** Its id (from schema/*.capnp). */
  readonly id: bigint | undefined;
  /** Whether members of it have names below them (FileServer, Namespace). */
  readonly container: boolean;
}

/** Every interface `require` accepts by name. */
export const KNOWN_INTERFACES: readonly KnownInterface[] = [
  { name: 'FileServer', id: 0x9f045841e9732f3bn, container: true },
  { name: 'File', id: 0x94db5ce70c569848n, container: false },
  { name: 'Namespace', id: 0xa71e78dfa5ac5a4en, container: true },
  { name: 'Gate', id: 0xe3ff1e313040d0f7n, container: false },
  { name: 'CapTable', id: 0xb278e99f942a1329n, container: false },
  { name: 'Hub', id: 0xe0251e244eca4fd0n, container: false },
  // Services (schema/services.capnp).
  { name: 'Srv', id: 0xda36bedc15ac4583n, container: false },
  { name: 'Introspect', id: 0xa0c79397f18f5f54n, container: false },
  // The demo services (schema/demo.capnp).
  { name: 'Clock', id: 0xf9fe98c2ac1f6b3cn, container: false },
  { name: 'Echo', id: 0xb4acfa6b60fde9fcn, container: false },
];

/** The capability types a manifest may instantiate, and what each provides. */
export const CAPABILITY_TYPES = {
  /** An in-memory FileServer (MemFileServer). */
  ram: { interface: 'FileServer', description: 'an in-memory file tree' },
  /** A host directory as a FileServer (DirFileServer). */
  dir: { interface: 'FileServer', description: 'a host directory' },
  /** A namespace exported by another capns (`exports` there), reached over the network. */
  import: {
    interface: 'Namespace',
    description: 'a remote export (its interface: `interface`, default Namespace)',
  },
  /** The capability table: list and revoke grants (an administrator's capability). */
  captable: { interface: 'CapTable', description: 'the capability table (list and revoke grants)' },
  /**
   * The live sessions as a file tree, with a writable `ns` per session (ANTS's
   * /proc/N/ns): an administrator's capability, like `captable`.
   */
  sessions: { interface: 'FileServer', description: 'the live sessions as files (ns, profile, peer, grants, ctl)' },
  /** A hub (ANTS hubfs): named channels with many writers and readers, typed. */
  hub: { interface: 'Hub', description: 'named channels that many write to and many follow (typed)' },
  /** The file face of a `hub` capability: each channel a file. */
  hubfs: { interface: 'FileServer', description: "a hub's channels as files (cat follows, >> appends)" },
  /** A demo service: the time, as a typed capability. */
  'demo.clock': { interface: 'Clock', description: 'a demo clock service' },
  /** Any Cap'n Proto server's bootstrap capability, dialed (and redialed) by capns. */
  connect: { interface: undefined, description: "a Cap'n Proto server's bootstrap capability (its interface: `interface`)" },
  /** A program capns starts and supervises; profiles mount its offers. */
  service: { interface: undefined, description: 'a supervised program (mount its offers: SERVICE/OFFER)' },
  /** A board of posted capabilities (Plan 9's /srv). */
  srv: { interface: 'Srv', description: 'a board to post capabilities on (mount BOARD/NAME for what is posted)' },
} as const;

/** A capability type's name. */
export type CapabilityType = keyof typeof CAPABILITY_TYPES;

/** The capability type names, in documentation order. */
export const CAPABILITY_TYPE_NAMES = Object.keys(CAPABILITY_TYPES) as CapabilityType[];

/** An interface id as printed: 0x followed by 16 hex digits. */
export function formatInterfaceId(id: bigint): string {
  return `0x${id.toString(16).padStart(16, '0')}`;
}

/** The known interface called `name`, or with id `id`. */
export function knownInterface(ref: InterfaceRef): KnownInterface | undefined {
  if (ref.name !== undefined) return KNOWN_INTERFACES.find((k) => k.name === ref.name);
  return KNOWN_INTERFACES.find((k) => k.id !== undefined && k.id === ref.id);
}

/** A reference completed from the table: both name and id where the table knows them. */
export function completeInterfaceRef(ref: InterfaceRef): InterfaceRef {
  const k = knownInterface(ref);
  if (k === undefined) return ref;
  return k.id === undefined ? { name: k.name } : { name: k.name, id: k.id };
}

/** A name an interface of the user's own schemas may have: `KeyValue`, `Outer.Inner`, `kv.capnp:KeyValue`. */
const USER_INTERFACE_NAME = /^(?:[A-Za-z0-9_./-]+\.capnp:)?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Whether `text` has the shape of an interface name (known or not). */
export function isInterfaceName(text: string): boolean {
  return USER_INTERFACE_NAME.test(text);
}

/**
 * Parses `require`'s value: a known interface name, or an id written `0x` + 1 to 16 hex
 * digits; with `userNames`, also a name of the manifest's own schemas (`KeyValue`,
 * `kv.capnp:KeyValue`), kept as a name for the server to look up once it has loaded
 * them. Returns the reference, or the problem as a message.
 */
export function parseInterfaceRef(text: string, opts: { userNames?: boolean } = {}): InterfaceRef | string {
  if (/^0x[0-9a-fA-F]{1,16}$/.test(text)) {
    const id = BigInt(text);
    if (id === 0n) return 'interface id 0x0 means "any interface"; leave `require` out instead';
    return completeInterfaceRef({ id });
  }
  const k = KNOWN_INTERFACES.find((i) => i.name === text);
  if (k !== undefined) return completeInterfaceRef({ name: k.name });
  if (opts.userNames === true && isInterfaceName(text)) return { name: text };
  return `unknown interface "${text}": expected one of ${KNOWN_INTERFACES.map((i) => i.name).join(', ')}, an id such as 0x9f045841e9732f3b, or an interface of the manifest's \`schemas\``;
}

/** The reference as a person reads it: its name, else its id. */
export function formatInterfaceRef(ref: InterfaceRef): string {
  if (ref.name !== undefined) return ref.name;
  return ref.id === undefined ? '?' : formatInterfaceId(ref.id);
}

/**
 * Whether two references name the same interface: true, false, or undefined when it
 * cannot be told (an id the table does not know against a name without an id).
 */
export function sameInterface(a: InterfaceRef, b: InterfaceRef): boolean | undefined {
  const ca = completeInterfaceRef(a);
  const cb = completeInterfaceRef(b);
  if (ca.id !== undefined && cb.id !== undefined) return ca.id === cb.id;
  if (ca.name !== undefined && cb.name !== undefined) return ca.name === cb.name;
  return undefined;
}

/** Whether members of this interface have names below them (FileServer, Namespace). */
export function isContainerInterface(ref: InterfaceRef): boolean {
  return knownInterface(completeInterfaceRef(ref))?.container === true;
}
