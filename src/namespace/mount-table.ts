/**
 * The mount table: a Plan 9 name space over capabilities. Pure and synchronous; no I/O.
 *
 * A mount table maps cleaned absolute paths (mount points) to ordered union stacks of
 * bindings. A binding is a member (a capability with its interface id and label), a
 * `spec` (a path inside that capability: what `bind` of a name inside a file server
 * shows) and the MCREATE flag. Parents of mount points exist as synthetic directories.
 *
 * Lookup takes the deepest mount point at or above a path and its stack; the rest of the
 * path is walked inside the members (by whoever holds them: the Namespace server, the 9P
 * bridge). Plan 9's rules for what lies below a mount point, which callers follow:
 * at the mount point itself the directory is the union of its container members; below
 * it, the first member (in stack order) that has the first component of the rest takes
 * the whole rest — exactly as a 9P walk through a union directory does.
 *
 * Representation: a trie of path components whose nodes are immutable, with each node's
 * children in a persistent hash map. A table holds a reference to a root node in a
 * `Store`; `fork()` copies that reference (O(1)), and every mutation copies the O(depth)
 * nodes on its path (each in O(log32 width)), so two tables share everything they have
 * not changed. `sub()` views share the Store of the table they came from (they are the
 * same namespace, seen from below a prefix).
 *
 * Concurrency: single-threaded; every method runs to completion, so each is atomic.
 */
import { NsError } from '../errors.js';
import {
  FILE_SERVER_INTERFACE_ID,
  NAMESPACE_INTERFACE_ID,
  anInterface,
  interfaceDisplayName,
  isContainer,
} from './interfaces.js';
import {
  clip,
  formatFlags,
  parseNamespaceText,
  quoteWord,
  type NsCommand,
  type ParseOptions,
  type Position,
  type Word,
} from './ns-text.js';
import {
  MAX_NAME_BYTES,
  MAX_PATH_DEPTH,
  formatPath,
  parsePath,
  parsePathCleaned,
  parseSpec,
  utf8Length,
} from './path.js';
import { PersistentMap } from './persistent-map.js';

export type { Position } from './ns-text.js';

/**
 * A capability reference as the namespace holds it. `cap` is opaque to the core: a local
 * object, or an RPC client for a remote capability. The namespace never calls it, and
 * never releases it: whoever builds members owns their lifetimes (the Namespace server
 * keeps a capability alive while any table still references it).
 */
export interface Member<C = unknown> {
  readonly cap: C;
  /** The Cap'n Proto interface id the capability implements (e.g. FileServer's). */
  readonly interfaceId: bigint;
  /** A short name for people and namespace text: what `describe()` prints as the source. */
  readonly label: string;
}

/** One entry of a union stack. */
export interface Binding<C = unknown> {
  readonly member: Member<C>;
  /**
   * The path inside the member this binding shows, cleaned and relative ('' for the
   * member's root). Whoever walks below a binding must not climb above it: hand out the
   * member attenuated to `spec`, never the bare capability, when `spec` is not ''.
   */
  readonly spec: string;
  /** MCREATE: creates at the mount point go to the first binding that has it. */
  readonly create: boolean;
}

/** Options for `bind`. */
export interface BindOptions {
  /** Where in the union stack (default 'replace'). */
  readonly position?: Position;
  /** MCREATE (default false). */
  readonly create?: boolean;
  /** A path inside the member to show instead of its root (like mount's aname). */
  readonly spec?: string;
}

/** Options for `bindPath`. */
export interface BindPathOptions {
  readonly position?: Position;
  readonly create?: boolean;
}

/** Where a path leads. Paths are in the coordinates of the table asked. */
export interface Lookup<C = unknown> {
  /** The cleaned path looked up. */
  readonly path: string;
  /**
   * The deepest mount point at or above `path`, or undefined when none is (then `path`
   * is a synthetic directory). In a `sub()` view whose root lies below a mount point,
   * that mount point is reported as the view's root '/', and the bindings' specs are
   * extended down to the view's root.
   */
  readonly mountPoint: string | undefined;
  /** The union stack at `mountPoint`, in search order ([] when there is none). */
  readonly stack: readonly Binding<C>[];
  /** The part of `path` below `mountPoint`, relative, '' at the mount point itself. */
  readonly rest: string;
  /**
   * Whether `path` is `mountPoint` itself, where the union (and MCREATE) applies. False
   * below a mount point — and at the root of a view that lies below one, whose `stack`
   * then holds only the containers, their specs extended to the view's root.
   */
  readonly atMountPoint: boolean;
  /** Whether mount points lie below `path` (it is, also, a synthetic directory). */
  readonly hasMountsBelow: boolean;
}

/** What `resolve` found. */
export interface Resolution<C = unknown> {
  readonly path: string;
  readonly mountPoint: string;
  /** The first candidate: Plan 9's first match. */
  readonly binding: Binding<C>;
  /**
   * The candidates in search order: the whole stack when `rest` is '', else only its
   * containers (FileServer and Namespace members), which alone have names below them.
   */
  readonly bindings: readonly Binding<C>[];
  /** What is left to walk inside a candidate, below its `spec`. */
  readonly rest: string;
}

/** A mount point or synthetic directory directly below a listed directory. */
export interface MountEntry<C = unknown> {
  readonly name: string;
  /** 'directory' for a synthetic directory or a container's mount point, else 'capability'. */
  readonly kind: 'directory' | 'capability';
  /** The first binding of the mount point there; undefined for a synthetic directory. */
  readonly binding: Binding<C> | undefined;
}

/** The parts of a union listing the core knows; members' entries are read by the caller. */
export interface Listing<C = unknown> {
  readonly path: string;
  /** Mount points and synthetic directories directly below `path`, sorted by name. */
  readonly children: readonly MountEntry<C>[];
  /** Container bindings whose directory at `rest` (below their spec) is listed, in order. */
  readonly bindings: readonly Binding<C>[];
  readonly rest: string;
  /**
   * True at a mount point: the listing is every binding's entries in order. False below
   * one: only the binding that holds the directory contributes (see the module comment).
   */
  readonly union: boolean;
}

/** Where `createTarget` says a new name goes. */
export type CreateTarget<C = unknown> =
  | {
      /** The parent is a mount point: create `rest` in exactly this binding; no fall-through. */
      readonly kind: 'member';
      readonly binding: Binding<C>;
      readonly rest: string;
    }
  | {
      /**
       * The parent lies below a mount point: the binding that holds the parent directory
       * (the first of `bindings` that has the first component of `rest`) creates it, as
       * in any directory of that member.
       */
      readonly kind: 'walk';
      readonly bindings: readonly Binding<C>[];
      readonly rest: string;
    };

/**
 * What a `mount` line's label names: a member, or a member seen below a path inside it
 * (`spec`: a view's member is confined to the part the view shows, and a `mount` line's
 * own spec is taken below that).
 */
export type MountSource<C> = Member<C> | { readonly member: Member<C>; readonly spec: string };

/** Options for `apply`. */
export interface ApplyOptions<C> extends ParseOptions {
  /** The capability a `mount` line names; undefined when there is none by that label. */
  readonly resolve?: (label: string) => MountSource<C> | undefined;
}

/** An opaque state of a namespace, from `snapshot()`. */
export interface Snapshot {
  readonly __snapshot: never;
}

/** A mount point and its stack, as `mounts()` yields them. */
export interface MountPoint<C = unknown> {
  readonly path: string;
  readonly stack: readonly Binding<C>[];
}

interface Node<C> {
  readonly stack: readonly Binding<C>[];
  readonly children: PersistentMap<Node<C>>;
  /** Mount points in this subtree, this node included. Every stored node has at least one. */
  readonly mounts: number;
}

/** The mutable cell that tables sharing one namespace (a table and its sub views) share. */
interface Store<C> {
  root: Node<C>;
  /** Interface requirements, keyed by absolute (root-coordinate) path. */
  declared: PersistentMap<bigint>;
}

const NO_BINDINGS: readonly never[] = [];

function emptyNode<C>(): Node<C> {
  return { stack: NO_BINDINGS, children: PersistentMap.empty(), mounts: 0 };
}

function makeNode<C>(
  stack: readonly Binding<C>[],
  children: PersistentMap<Node<C>>,
  belowMounts: number,
): Node<C> | undefined {
  if (stack.length === 0 && children.size === 0) return undefined;
  return { stack, children, mounts: belowMounts + (stack.length > 0 ? 1 : 0) };
}

/**
 * Replaces the node at `comps` by `fn(old)`, copying the nodes on the path and pruning
 * nodes left with neither bindings nor children. Returns `node` itself when nothing
 * changed.
 */
function updateAt<C>(
  node: Node<C> | undefined,
  comps: readonly string[],
  i: number,
  fn: (old: Node<C> | undefined) => Node<C> | undefined,
): Node<C> | undefined {
  if (i === comps.length) return fn(node);
  const name = comps[i] as string;
  const child = node?.children.get(name);
  const next = updateAt(child, comps, i + 1, fn);
  if (next === child) return node;
  const base = node ?? emptyNode<C>();
  const children = next === undefined ? base.children.delete(name) : base.children.set(name, next);
  const below =
    base.mounts - (base.stack.length > 0 ? 1 : 0) - (child?.mounts ?? 0) + (next?.mounts ?? 0);
  return makeNode(base.stack, children, below);
}

/**
 * `node` with `stack` as its union stack. Stacks and their bindings are frozen: they are
 * shared between forks and handed out by `lookup`/`members`, so nobody may change them.
 */
function withStack<C>(
  node: Node<C> | undefined,
  stack: readonly Binding<C>[],
): Node<C> | undefined {
  for (const b of stack) Object.freeze(b);
  Object.freeze(stack);
  const children = node?.children ?? PersistentMap.empty<Node<C>>();
  const below = node ? node.mounts - (node.stack.length > 0 ? 1 : 0) : 0;
  return makeNode(stack, children, below);
}

function joinRel(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  return `${a}/${b}`;
}

function describeMember(m: Member<unknown>): string {
  return `'${m.label}' (${interfaceDisplayName(m.interfaceId)})`;
}

function permission(message: string): NsError {
  return new NsError('NS_ERR_PERMISSION', message);
}

/** Checks a member handed in from outside. */
function checkMember(member: Member<unknown>): void {
  if (typeof member !== 'object' || member === null)
    throw new NsError('NS_ERR_INVALID_ARGUMENT', 'member is not an object');
  const { interfaceId, label } = member;
  if (typeof interfaceId !== 'bigint' || interfaceId < 0n || interfaceId >= 1n << 64n) {
    throw new NsError(
      'NS_ERR_INVALID_ARGUMENT',
      'member interfaceId is not a 64-bit unsigned integer',
    );
  }
  checkLabel(label);
}

function checkLabel(label: string): void {
  if (typeof label !== 'string' || label.length === 0) {
    throw new NsError('NS_ERR_INVALID_ARGUMENT', 'member label is empty');
  }
  if (utf8Length(label) > MAX_NAME_BYTES) {
    throw new NsError(
      'NS_ERR_INVALID_ARGUMENT',
      `member label is longer than ${MAX_NAME_BYTES} bytes`,
    );
  }
  // Labels are printed as one word of namespace text: no control characters.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(label)) {
    throw new NsError(
      'NS_ERR_INVALID_ARGUMENT',
      `member label ${JSON.stringify(label)} contains a control character`,
    );
  }
  if (/\p{Cs}/u.test(label)) {
    throw new NsError('NS_ERR_INVALID_ARGUMENT', 'member label is not valid UTF-8');
  }
}

function checkPosition(position: unknown): Position {
  if (position === undefined) return 'replace';
  if (position === 'replace' || position === 'before' || position === 'after') return position;
  throw new NsError(
    'NS_ERR_INVALID_ARGUMENT',
    `position must be 'replace', 'before' or 'after', not ${JSON.stringify(position)}`,
  );
}

function place<C>(
  old: readonly Binding<C>[],
  added: readonly Binding<C>[],
  position: Position,
): readonly Binding<C>[] {
  switch (position) {
    case 'replace':
      return added;
    case 'before':
      return [...added, ...old];
    case 'after':
      return [...old, ...added];
  }
}

/**
 * A Plan 9 name space of capabilities. See the module comment for the model.
 * @typeParam C the type of the capability references held (opaque to the table).
 */
export class MountTable<C = unknown> {
  private store: Store<C>;
  /** The root of this view, in root coordinates ([] for a whole namespace). */
  private prefix: readonly string[];
  private ro: boolean;

  /** A new, empty namespace (RFCNAMEG). */
  constructor() {
    this.store = { root: emptyNode(), declared: PersistentMap.empty() };
    this.prefix = [];
    this.ro = false;
  }

  private static make<C>(
    store: Store<C>,
    prefix: readonly string[],
    readOnly: boolean,
  ): MountTable<C> {
    const t = new MountTable<C>();
    t.store = store;
    t.prefix = prefix;
    t.ro = readOnly;
    return t;
  }

  /** True for a read-only view: every mutation is refused with NS_ERR_PERMISSION. */
  get readOnly(): boolean {
    return this.ro;
  }

  // ---- mutation ----------------------------------------------------------------------

  /**
   * mount(2): adds `member` to the union at `path`. The table keeps a reference to
   * `member` (it does not take ownership of `member.cap`; see `Member`).
   * @throws NsError NS_ERR_PERMISSION (read-only view), NS_ERR_INVALID_PATH,
   *   NS_ERR_INVALID_ARGUMENT (bad member, position or spec), NS_ERR_NOT_DIR (a spec on a
   *   leaf capability), NS_ERR_INTERFACE_MISMATCH (the path is declared to hold another
   *   interface).
   */
  bind(path: string, member: Member<C>, options: BindOptions = {}): void {
    this.writable();
    const comps = parsePath(path);
    checkMember(member);
    const position = checkPosition(options.position);
    const spec = parseSpec(options.spec ?? '').join('/');
    if (spec !== '' && !isContainer(member.interfaceId)) {
      throw new NsError(
        'NS_ERR_NOT_DIR',
        `spec '${clip(spec)}' given for ${describeMember(member)}, which has no names below it`,
      );
    }
    this.addBindings(comps, [{ member, spec, create: options.create === true }], position);
  }

  /**
   * bind(2): makes what `from` names now visible at `to` as well. `from` is evaluated at
   * bind time: the bindings found there are copied, so later changes at `from` do not
   * move the alias. At a mount point the whole union stack is copied; below one, the
   * containers of that stack, each with its spec extended by the rest of `from`. Mount
   * points below `from` are not carried. Every copied binding gets `options.create`.
   * @throws NsError as `bind`, and NS_ERR_NOT_FOUND when `from` names nothing, or only a
   *   synthetic directory (which holds no capability to bind).
   */
  bindPath(from: string, to: string, options: BindPathOptions = {}): void {
    this.writable();
    const l = this.lookup(from);
    const toComps = parsePath(to);
    const position = checkPosition(options.position);
    if (l.mountPoint === undefined) {
      throw new NsError(
        'NS_ERR_NOT_FOUND',
        `'${l.path}' is a synthetic directory: there is no capability there to bind`,
      );
    }
    const create = options.create === true;
    let copied: Binding<C>[];
    if (l.atMountPoint) {
      copied = l.stack.map((b) => ({ member: b.member, spec: b.spec, create }));
    } else {
      copied = l.stack
        .filter((b) => isContainer(b.member.interfaceId))
        .map((b) => ({ member: b.member, spec: joinRel(b.spec, l.rest), create }));
      if (copied.length === 0) throw this.notDir(l);
    }
    this.addBindings(toComps, copied, position);
  }

  /**
   * unmount(2): removes every binding of the member labelled `label` from the union at
   * `path`, or the whole stack when `label` is undefined. Mount points below `path` stay.
   * @throws NsError NS_ERR_PERMISSION, NS_ERR_INVALID_PATH, NS_ERR_NOT_FOUND when `path` is
   *   not a mount point of this table or no binding has that label.
   */
  unmount(path: string, label?: string): void {
    this.writable();
    const full = this.full(parsePath(path));
    const node = this.nodeAt(full);
    const shown = formatPath(full.slice(this.prefix.length));
    if (node === undefined || node.stack.length === 0)
      throw new NsError('NS_ERR_NOT_FOUND', `nothing is mounted at '${shown}'`);
    let stack: readonly Binding<C>[] = NO_BINDINGS;
    if (label !== undefined) {
      stack = node.stack.filter((b) => b.member.label !== label);
      if (stack.length === node.stack.length)
        throw new NsError(
          'NS_ERR_NOT_FOUND',
          `no member labelled '${clip(label)}' is mounted at '${shown}'`,
        );
    }
    this.store.root =
      updateAt(this.store.root, full, 0, (old) => withStack(old, stack)) ?? emptyNode();
  }

  /**
   * Declares that `path` must hold `interfaceId`: every later bind there must add only
   * members of that interface. Declarations are not part of `describe()` (they come from
   * whoever builds the namespace, e.g. the manifest) and survive `clear()`.
   * @throws NsError NS_ERR_PERMISSION, NS_ERR_INVALID_PATH, NS_ERR_INVALID_ARGUMENT,
   *   NS_ERR_INTERFACE_MISMATCH when a member already mounted there differs.
   */
  declare(path: string, interfaceId: bigint): void {
    this.writable();
    if (typeof interfaceId !== 'bigint' || interfaceId <= 0n || interfaceId >= 1n << 64n) {
      throw new NsError(
        'NS_ERR_INVALID_ARGUMENT',
        'declared interfaceId is not a non-zero 64-bit unsigned integer',
      );
    }
    const full = this.full(parsePath(path));
    const node = this.nodeAt(full);
    const bad = node?.stack.find((b) => b.member.interfaceId !== interfaceId);
    if (bad) {
      throw new NsError(
        'NS_ERR_INTERFACE_MISMATCH',
        `'${formatPath(full.slice(this.prefix.length))}' holds ${describeMember(bad.member)}, not ${anInterface(interfaceId)}`,
      );
    }
    this.store.declared = this.store.declared.set(formatPath(full), interfaceId);
  }

  /** The interface `path` is declared to hold, if any. @throws NsError NS_ERR_INVALID_PATH. */
  declared(path: string): bigint | undefined {
    return this.store.declared.get(formatPath(this.full(parsePath(path))));
  }

  /**
   * Unmounts everything at and below this table's root (the namespace(6) `clear`).
   * Declarations stay. In a view, mount points above the view's root are untouched.
   * @throws NsError NS_ERR_PERMISSION for a read-only view.
   */
  clear(): void {
    this.writable();
    this.store.root = updateAt(this.store.root, this.prefix, 0, () => undefined) ?? emptyNode();
  }

  // ---- lookup ------------------------------------------------------------------------

  /**
   * Where `path` leads: the deepest mount point at or above it and its stack, or a
   * synthetic directory. The root of a table always exists (an empty directory at worst).
   * @throws NsError NS_ERR_INVALID_PATH, NS_ERR_NOT_FOUND when `path` is neither at or below
   *   a mount point nor a parent of one.
   */
  lookup(path: string): Lookup<C> {
    const { components: comps, cleaned } = parsePathCleaned(path);
    const prefix = this.prefix;
    const p = prefix.length;
    const total = p + comps.length;
    let node: Node<C> | undefined = this.store.root;
    let deep = -1;
    let stack: readonly Binding<C>[] = NO_BINDINGS;
    let k = 0;
    for (;;) {
      if (node.stack.length > 0) {
        deep = k;
        stack = node.stack;
      }
      if (k === total) break;
      const next: Node<C> | undefined = node.children.get(
        (k < p ? prefix[k] : comps[k - p]) as string,
      );
      if (next === undefined) {
        node = undefined;
        break;
      }
      node = next;
      k++;
    }
    const hasMountsBelow = node !== undefined && node.children.size > 0;
    if (deep < 0) {
      if (node === undefined && comps.length > 0)
        throw new NsError('NS_ERR_NOT_FOUND', `'${cleaned}' does not exist`);
      return {
        path: cleaned,
        mountPoint: undefined,
        stack: NO_BINDINGS,
        rest: '',
        atMountPoint: false,
        hasMountsBelow,
      };
    }
    if (deep < p) {
      // The mount point lies above this view's root: show it as the root, with the specs
      // extended down to the root so nothing above it can be named through them. The
      // view's root is below the mount point, where only containers have names.
      const clip = prefix.slice(deep).join('/');
      return {
        path: cleaned,
        mountPoint: '/',
        stack: stack
          .filter((b) => isContainer(b.member.interfaceId))
          .map((b) => ({ member: b.member, spec: joinRel(b.spec, clip), create: b.create })),
        rest: cleaned.slice(1),
        atMountPoint: false,
        hasMountsBelow,
      };
    }
    // Split the cleaned text at the mount point instead of joining components again.
    let cut = 0;
    for (let i = 0; i < deep - p; i++) cut += (comps[i] as string).length + 1;
    return {
      path: cleaned,
      mountPoint: cut === 0 ? '/' : cleaned.slice(0, cut),
      stack,
      rest: cleaned.slice(cut + 1),
      atMountPoint: deep === total,
      hasMountsBelow,
    };
  }

  /**
   * Resolves `path` to a capability: the first binding of the deepest mount point at or
   * above it (Plan 9's first match), plus what is left to walk inside it.
   *
   * With `expectedInterfaceId`, at a mount point the first member must implement it; below
   * one, the candidates narrow to FileServers when a FileServer is expected (a directory
   * inside one is served as a FileServer) and to Namespaces (which check the rest
   * themselves) — nothing else can be found inside a container.
   * @throws NsError NS_ERR_INVALID_PATH; NS_ERR_NOT_FOUND (nothing there, or a synthetic
   *   directory); NS_ERR_NOT_DIR (a path below a leaf capability);
   *   NS_ERR_INTERFACE_MISMATCH.
   */
  resolve(path: string, expectedInterfaceId?: bigint): Resolution<C> {
    const l = this.lookup(path);
    if (l.mountPoint === undefined) {
      throw new NsError(
        'NS_ERR_NOT_FOUND',
        `nothing is bound at '${l.path}' (a directory of mount points)`,
      );
    }
    let bindings: readonly Binding<C>[] = l.stack;
    if (l.atMountPoint) {
      const first = bindings[0] as Binding<C>;
      if (expectedInterfaceId !== undefined && first.member.interfaceId !== expectedInterfaceId) {
        throw new NsError(
          'NS_ERR_INTERFACE_MISMATCH',
          `'${l.path}' holds ${describeMember(first.member)}, not ${anInterface(expectedInterfaceId)}`,
        );
      }
    } else {
      bindings = bindings.filter((b) => isContainer(b.member.interfaceId));
      if (bindings.length === 0) throw this.notDir(l);
      if (expectedInterfaceId !== undefined) {
        bindings = bindings.filter(
          (b) =>
            b.member.interfaceId === NAMESPACE_INTERFACE_ID ||
            expectedInterfaceId === FILE_SERVER_INTERFACE_ID,
        );
        if (bindings.length === 0) {
          throw new NsError(
            'NS_ERR_INTERFACE_MISMATCH',
            `'${l.path}' lies inside a file tree; it cannot hold ${anInterface(expectedInterfaceId)}`,
          );
        }
      }
    }
    return {
      path: l.path,
      mountPoint: l.mountPoint,
      binding: bindings[0] as Binding<C>,
      bindings,
      rest: l.rest,
    };
  }

  /**
   * The union stack at exactly `path`, in search order.
   * @throws NsError NS_ERR_INVALID_PATH, NS_ERR_NOT_FOUND when `path` is not a mount point.
   */
  members(path: string): readonly Binding<C>[] {
    const l = this.lookup(path);
    if (l.mountPoint === undefined || l.rest !== '' || l.stack.length === 0)
      throw new NsError('NS_ERR_NOT_FOUND', `'${l.path}' is not a mount point`);
    return l.stack;
  }

  /**
   * What the core knows of the directory listing at `path`: the mount points and synthetic
   * directories directly below it, and the container bindings whose entries the caller
   * reads and merges with `mergeUnion` (see `listUnion` for the synchronous whole).
   * @throws NsError NS_ERR_INVALID_PATH, NS_ERR_NOT_FOUND, NS_ERR_NOT_DIR (a leaf capability
   *   with nothing mounted below it).
   */
  list(path: string): Listing<C> {
    const l = this.lookup(path);
    const node = this.nodeAt(this.full(parsePath(l.path)));
    const children: MountEntry<C>[] = [];
    if (node !== undefined) {
      for (const [name, child] of node.children.entries()) {
        const first = child.stack[0];
        children.push({
          name,
          kind:
            first === undefined || isContainer(first.member.interfaceId)
              ? 'directory'
              : 'capability',
          binding: first,
        });
      }
      children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    const bindings = l.stack.filter((b) => isContainer(b.member.interfaceId));
    if (l.mountPoint !== undefined && bindings.length === 0 && children.length === 0)
      throw this.notDir(l);
    return { path: l.path, children, bindings, rest: l.rest, union: l.atMountPoint };
  }

  /**
   * The whole union listing at `path`, reading members synchronously through `read`:
   * mount points and synthetic directories first (sorted by name; lookup finds them before
   * anything a member holds under the same name), then each binding's entries in stack
   * order, de-duplicated by name, first wins. `read(binding, path)` returns the entries of
   * the directory `path` (relative, below the member's root, spec included) or undefined
   * when the member has no such directory. Below a mount point only the first binding that
   * has the directory contributes (Plan 9).
   * @throws as `list`, and whatever `read` throws.
   */
  listUnion<E extends { readonly name: string }>(
    path: string,
    read: (binding: Binding<C>, path: string) => readonly E[] | undefined,
  ): (MountEntry<C> | E)[] {
    const l = this.list(path);
    const lists: (readonly E[])[] = [];
    for (const b of l.bindings) {
      const entries = read(b, joinRel(b.spec, l.rest));
      if (entries === undefined) continue;
      lists.push(entries);
      if (!l.union) break;
    }
    return mergeUnion(l.children, lists);
  }

  /**
   * Where a new file `path` would be created (MCREATE rules): when its parent is a mount
   * point, the first binding bound with create — and only that one; when its parent lies
   * below a mount point, the member holding that directory (the caller walks).
   * @throws NsError NS_ERR_PERMISSION (read-only view; no binding with create; the parent is
   *   a synthetic directory), NS_ERR_EXISTS (`path` is a mount point or synthetic
   *   directory, or the root), NS_ERR_INVALID_PATH, NS_ERR_NOT_FOUND, NS_ERR_NOT_DIR.
   */
  createTarget(path: string): CreateTarget<C> {
    this.writable();
    const comps = parsePath(path);
    if (comps.length === 0) throw new NsError('NS_ERR_EXISTS', "'/' already exists");
    const node = this.nodeAt(this.full(comps));
    if (node !== undefined)
      throw new NsError(
        'NS_ERR_EXISTS',
        `'${formatPath(comps)}' is a mount point or a directory of mount points`,
      );
    const name = comps[comps.length - 1] as string;
    const parent = this.lookup(formatPath(comps.slice(0, -1)));
    if (parent.mountPoint === undefined) {
      throw permission(
        `cannot create in '${parent.path}': it is a synthetic directory (only mount points are there)`,
      );
    }
    const containers = parent.stack.filter((b) => isContainer(b.member.interfaceId));
    if (containers.length === 0) throw this.notDir(parent);
    if (parent.atMountPoint) {
      const target = containers.find((b) => b.create);
      if (target === undefined) {
        throw permission(
          `mounted directory '${parent.path}' forbids creation: no member was bound with create (-c)`,
        );
      }
      return { kind: 'member', binding: target, rest: name };
    }
    return { kind: 'walk', bindings: containers, rest: joinRel(parent.rest, name) };
  }

  /** Every mount point at or below this table's root, parents before children, siblings by name. */
  *mounts(): Generator<MountPoint<C>> {
    const top = this.lookup('/');
    if (top.mountPoint === '/' && top.stack.length > 0) yield { path: '/', stack: top.stack };
    const node = this.nodeAt(this.prefix);
    if (node !== undefined) yield* walkMounts(node, []);
  }

  // ---- copies and views --------------------------------------------------------------

  /**
   * rfork(RFNAMEG): an independent copy; later changes to either do not show in the
   * other. O(1) (the trie is shared until written). A view forks into a whole namespace
   * holding what the view sees (with a mount point covering the view's root as a binding
   * at '/'), and a read-only view forks read-only: forking never adds authority. One
   * difference: when the view's root lies below a union of several containers, the fork's
   * '/' is a union of all of them, where the view shows only the first that holds the
   * directory (which only the members' contents can tell).
   */
  fork(): MountTable<C> {
    if (this.prefix.length === 0)
      return MountTable.make({ root: this.store.root, declared: this.store.declared }, [], this.ro);
    let root = this.nodeAt(this.prefix) ?? emptyNode<C>();
    const top = this.lookup('/');
    if (top.mountPoint === '/' && root.stack.length === 0)
      root = withStack(root, top.stack) ?? emptyNode();
    let declared = PersistentMap.empty<bigint>();
    const base = formatPath(this.prefix);
    for (const [p, id] of this.store.declared.entries()) {
      if (p === base) declared = declared.set('/', id);
      else if (p.startsWith(base + '/')) declared = declared.set(p.slice(base.length), id);
    }
    return MountTable.make({ root, declared }, [], this.ro);
  }

  /**
   * Every distinct member bound in this namespace as a fork of it holds it (a view: what
   * the view sees), in the order of `mounts()`: parents before children, siblings by
   * name, stacks in order. Remembered for the state it was made for (profiles are forked
   * for every connection; a change makes a new state).
   */
  boundMembers(): readonly Member<C>[] {
    return membersOf(this.fork().store.root);
  }

  /**
   * A fork of this namespace (as `fork()`) in which every member's capability is replaced
   * by `map(member)`; labels, interface ids, mount points, stacks, specs, MCREATE flags
   * and declarations are the same. `map` is called once per distinct member, in the order
   * of `boundMembers()`; if it throws, that is thrown and nothing is made. It gives what
   * `apply(describe())` over a resolver gives, built directly: the Gate makes one per
   * connection, and the text's round trip (format, parse, bind each line) was most of
   * that cost.
   */
  mapCaps<D>(map: (member: Member<C>) => D): MountTable<D> {
    const f = this.fork();
    const mapped = new Map<Member<C>, Member<D>>();
    for (const m of membersOf(f.store.root)) {
      mapped.set(m, Object.freeze({ cap: map(m), interfaceId: m.interfaceId, label: m.label }));
    }
    const mapNode = (node: Node<C>): Node<D> => ({
      stack:
        node.stack.length === 0
          ? NO_BINDINGS
          : Object.freeze(node.stack.map((b) => Object.freeze({ member: mapped.get(b.member) as Member<D>, spec: b.spec, create: b.create }))),
      children: node.children.mapValues(mapNode),
      mounts: node.mounts,
    });
    return MountTable.make({ root: mapNode(f.store.root), declared: f.store.declared }, [], f.ro);
  }

  /** A new, empty, writable namespace (rfork(RFCNAMEG)); nothing of this one is in it. */
  clean(): MountTable<C> {
    return new MountTable<C>();
  }

  /**
   * An attenuated view of this namespace whose root is `prefix`: it shares this
   * namespace (changes through either show in both) but cannot name anything outside
   * `prefix` — '..' stops at its root. With `readOnly` (and always when this table is
   * read-only) every mutation is refused with NS_ERR_PERMISSION; callers must also refuse
   * creates, writes and removes through members they reach from it.
   * @throws NsError NS_ERR_INVALID_PATH (also when the view's root would lie deeper than
   *   MAX_PATH_DEPTH in the whole namespace), NS_ERR_NOT_FOUND when `prefix` names
   *   nothing, NS_ERR_NOT_DIR when it lies below a leaf capability.
   */
  sub(prefix: string, readOnly = false): MountTable<C> {
    const l = this.lookup(prefix);
    if (
      !l.atMountPoint &&
      l.mountPoint !== undefined &&
      !l.hasMountsBelow &&
      !l.stack.some((m) => isContainer(m.member.interfaceId))
    ) {
      throw this.notDir(l);
    }
    const comps = l.path === '/' ? [] : l.path.slice(1).split('/');
    // Views of views: bound the depth of the root in the whole namespace, as for any path.
    const depth = this.prefix.length + comps.length;
    if (depth > MAX_PATH_DEPTH) {
      throw new NsError(
        'NS_ERR_INVALID_PATH',
        `a view rooted there would be ${depth} names deep in the namespace; the limit is ${MAX_PATH_DEPTH}`,
      );
    }
    return MountTable.make(this.store, [...this.prefix, ...comps], this.ro || readOnly);
  }

  // ---- text --------------------------------------------------------------------------

  /**
   * The namespace as namespace(6) text, as /proc/N/ns prints it: one `mount` line per
   * binding (`mount [-ac] label path [spec]`), the first of each stack without -a so it
   * replaces. Every binding is written by its member's label, because a `bind` of a path
   * would be re-evaluated; `apply()` of the text on a clean namespace, with a resolver that
   * maps each label to its member, rebuilds this namespace (labels must be unique per
   * capability for that). Declarations are not included.
   */
  describe(): string {
    const lines: string[] = [];
    for (const { path, stack } of this.mounts()) {
      stack.forEach((b, i) => {
        const flags = formatFlags(i === 0 ? 'replace' : 'after', b.create);
        const words = [
          'mount',
          ...(flags ? [flags] : []),
          quoteWord(b.member.label),
          quoteWord(path),
        ];
        if (b.spec !== '') words.push(quoteWord(b.spec));
        lines.push(words.join(' '));
      });
    }
    return lines.length === 0 ? '' : lines.join('\n') + '\n';
  }

  /**
   * Runs namespace(6) lines (see ns-text.ts): all of them or none — the lines run on a
   * copy that replaces this namespace only when every line succeeded.
   * @throws NsError NS_ERR_PERMISSION (read-only view); NS_ERR_PARSE for syntax, with
   *   line and column; any error of `bind`, `bindPath`, `unmount` with its own code and a
   *   message prefixed by line and column; NS_ERR_NOT_FOUND for a `mount` label the
   *   resolver does not know.
   */
  apply(text: string, options: ApplyOptions<C> = {}): void {
    this.writable();
    const commands = parseNamespaceText(text, options);
    const scratch: Store<C> = { root: this.store.root, declared: this.store.declared };
    const t = MountTable.make(scratch, this.prefix, false);
    for (const c of commands) runCommand(t, c, options);
    this.store.root = scratch.root;
  }

  // ---- accounting --------------------------------------------------------------------

  /**
   * The state of the whole namespace this table belongs to (its sub views share it), to
   * compare with later by `changesSince` or go back to by `restore`. O(1).
   */
  snapshot(): Snapshot {
    return this.store.root as unknown as Snapshot;
  }

  /**
   * Puts the namespace back as it was at `snapshot` (declarations are untouched). Only for
   * undoing a change just made: whatever happened since is lost.
   */
  restore(snapshot: Snapshot): void {
    this.store.root = snapshot as unknown as Node<C>;
  }

  /**
   * Calls `visit(member, delta)` for every member whose number of bindings in the whole
   * namespace changed since `snapshot` (delta > 0: more bindings show it now). Costs what
   * changed, not the namespace's size: subtrees both states share are skipped.
   */
  changesSince(snapshot: Snapshot, visit: (member: Member<C>, delta: number) => void): void {
    const counts = new Map<C, { member: Member<C>; delta: number }>();
    diffNodes(snapshot as unknown as Node<C>, this.store.root, (b, d) => {
      const e = counts.get(b.member.cap);
      if (e === undefined) counts.set(b.member.cap, { member: b.member, delta: d });
      else e.delta += d;
    });
    for (const { member, delta } of counts.values()) if (delta !== 0) visit(member, delta);
  }

  /**
   * Calls `visit` for every binding of the whole namespace this table belongs to, views
   * included (a walk, not a generator: it runs for every namespace made and closed).
   */
  forEachBinding(visit: (binding: Binding<C>) => void): void {
    nodeBindings(this.store.root, visit);
  }

  /** The interface declarations at or below this table's root, in its coordinates. */
  *declarations(): Generator<[path: string, interfaceId: bigint]> {
    const base = formatPath(this.prefix);
    for (const [p, id] of this.store.declared.entries()) {
      if (this.prefix.length === 0) yield [p, id];
      else if (p === base) yield ['/', id];
      else if (p.startsWith(base + '/')) yield [p.slice(base.length), id];
    }
  }

  // ---- internals ---------------------------------------------------------------------

  private writable(): void {
    if (this.ro) throw permission('this namespace is read-only');
  }

  private full(comps: readonly string[]): readonly string[] {
    return this.prefix.length === 0 ? comps : [...this.prefix, ...comps];
  }

  private nodeAt(full: readonly string[]): Node<C> | undefined {
    let node: Node<C> | undefined = this.store.root;
    for (const name of full) {
      node = node.children.get(name);
      if (node === undefined) return undefined;
    }
    return node;
  }

  private notDir(l: Lookup<C>): NsError {
    const first = l.stack[0];
    if (first === undefined)
      return new NsError(
        'NS_ERR_NOT_DIR',
        `'${l.path}' lies inside a capability that has no names below it`,
      );
    return new NsError(
      'NS_ERR_NOT_DIR',
      `'${l.mountPoint}' holds ${describeMember(first.member)}, which has no names below it`,
    );
  }

  private addBindings(
    comps: readonly string[],
    added: readonly Binding<C>[],
    position: Position,
  ): void {
    const full = this.full(comps);
    const want = this.store.declared.get(formatPath(full));
    if (want !== undefined) {
      const bad = added.find((b) => b.member.interfaceId !== want);
      if (bad) {
        throw new NsError(
          'NS_ERR_INTERFACE_MISMATCH',
          `'${formatPath(comps)}' is declared to hold ${anInterface(want)}; ${describeMember(bad.member)} is not one`,
        );
      }
    }
    this.store.root =
      updateAt(this.store.root, full, 0, (old) =>
        withStack(old, place(old?.stack ?? NO_BINDINGS, added, position)),
      ) ?? emptyNode();
  }
}

function nodeBindings<C>(node: Node<C>, visit: (binding: Binding<C>) => void): void {
  const stack = node.stack;
  for (let i = 0; i < stack.length; i++) visit(stack[i] as Binding<C>);
  if (node.children.size > 0) node.children.forEach(childBindings, visit);
}

function childBindings<C>(child: Node<C>, _name: string, visit: (binding: Binding<C>) => void): void {
  nodeBindings(child, visit);
}

/** Reports every binding in `a` but not `b` (-1) and in `b` but not `a` (+1), by stack. */
function diffNodes<C>(
  a: Node<C> | undefined,
  b: Node<C> | undefined,
  visit: (binding: Binding<C>, delta: number) => void,
): void {
  if (a === b) return;
  if (a?.stack !== b?.stack) {
    for (const x of a?.stack ?? NO_BINDINGS) visit(x, -1);
    for (const x of b?.stack ?? NO_BINDINGS) visit(x, +1);
  }
  const ac = a?.children;
  const bc = b?.children;
  if (ac === bc) return;
  ac?.forEach((child, name) => diffNodes(child, bc?.get(name), visit));
  bc?.forEach((child, name) => {
    if (ac?.get(name) === undefined) diffNodes(undefined, child, visit);
  });
}

/** Distinct members of a trie, in mounts() order, by root node (see boundMembers). */
const membersByRoot = new WeakMap<object, readonly Member<unknown>[]>();

function membersOf<C>(root: Node<C>): readonly Member<C>[] {
  let list = membersByRoot.get(root) as readonly Member<C>[] | undefined;
  if (list === undefined) {
    const seen = new Set<Member<C>>();
    for (const b of root.stack) seen.add(b.member);
    for (const mp of walkMounts(root, [])) for (const b of mp.stack) seen.add(b.member);
    list = Object.freeze([...seen]);
    membersByRoot.set(root, list);
  }
  return list;
}

function* walkMounts<C>(node: Node<C>, at: string[]): Generator<MountPoint<C>> {
  const names = [...node.children.entries()].sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
  );
  for (const [name, child] of names) {
    at.push(name);
    if (child.stack.length > 0) yield { path: formatPath(at), stack: child.stack };
    yield* walkMounts(child, at);
    at.pop();
  }
}

/**
 * A union listing: `first` (mount points and synthetic directories), then the entries of
 * each list in order, de-duplicated by name; the first entry with a name wins.
 */
export function mergeUnion<
  A extends { readonly name: string },
  B extends { readonly name: string },
>(first: readonly A[], lists: Iterable<readonly B[]>): (A | B)[] {
  const seen = new Set<string>();
  const out: (A | B)[] = [];
  for (const e of first) {
    if (seen.has(e.name)) continue;
    seen.add(e.name);
    out.push(e);
  }
  for (const list of lists) {
    for (const e of list) {
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      out.push(e);
    }
  }
  return out;
}

function at(w: Word, e: unknown): unknown {
  if (e instanceof NsError && e.code !== 'NS_ERR_PARSE') {
    return new NsError(e.code, `line ${w.line}, column ${w.column}: ${e.message}`, { cause: e });
  }
  return e;
}

/** Runs one parsed line on `t`, blaming errors on the word at fault. */
function runCommand<C>(t: MountTable<C>, c: NsCommand, options: ApplyOptions<C>): void {
  const check = (w: Word): void => {
    try {
      parsePath(w.text);
    } catch (e) {
      throw at(w, e);
    }
  };
  switch (c.op) {
    case 'bind': {
      check(c.from);
      check(c.to);
      try {
        t.lookup(c.from.text);
      } catch (e) {
        throw at(c.from, e);
      }
      try {
        t.bindPath(c.from.text, c.to.text, { position: c.position, create: c.create });
      } catch (e) {
        throw at(c.to, e);
      }
      return;
    }
    case 'mount': {
      check(c.to);
      const source = options.resolve?.(c.label.text);
      if (source === undefined)
        throw at(
          c.label,
          new NsError('NS_ERR_NOT_FOUND', `no capability is labelled '${clip(c.label.text)}'`),
        );
      if (c.spec !== undefined) {
        try {
          parseSpec(c.spec.text);
        } catch (e) {
          throw at(c.spec, e);
        }
      }
      const base = 'member' in source ? source.spec : '';
      const member = 'member' in source ? source.member : source;
      try {
        t.bind(c.to.text, member, {
          position: c.position,
          create: c.create,
          spec: joinRel(base, parseSpec(c.spec?.text ?? '').join('/')),
        });
      } catch (e) {
        throw at(c.to, e);
      }
      return;
    }
    case 'unmount': {
      check(c.to);
      try {
        t.unmount(c.to.text, c.label?.text);
      } catch (e) {
        throw at(c.label ?? c.to, e);
      }
      return;
    }
    case 'clear':
      t.clear();
      return;
  }
}
