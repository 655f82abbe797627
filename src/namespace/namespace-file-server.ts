/**
 * A namespace seen as a file tree: the FileServer that the 9P bridge serves when it
 * serves a whole Namespace, and that `Namespace.walk` hands out.
 *
 * - Mount points and their parents are directories. At a mount point whose members are
 *   FileServers, a walk tries the members in union order and the first that has the name
 *   wins; from there on the walk continues inside that member (Plan 9: a union is a
 *   property of the mount point directory, not of the directories below it). A listing is
 *   the mount points below the directory first, then each member's entries in order,
 *   de-duplicated by name, first wins — the same order lookup uses.
 * - A create at a mount point goes to the first member bound with create, and only to it
 *   (MountTable.createTarget); below a mount point it goes to the member holding the
 *   directory.
 * - A Namespace member (an imported remote namespace) is a directory too: `fileServer`
 *   gives its file tree (RemoteNamespaceFileServer: the remote namespace's own walk), and
 *   it is walked, listed and created in like a FileServer member.
 * - Any other capability shows as a read-only file whose contents describe it
 *   ("interface 0x… label …"): the 9P view of the capability world.
 * - Qid paths are unique across the whole tree: each (member, qid.path) pair and each
 *   namespace directory gets a number of its own, allocated on first sight and kept for
 *   the life of this server (memory grows with the distinct files seen).
 *
 * The namespace is read at every step, so binds and unmounts show at once in later walks;
 * a File already inside a member stays valid after its mount point is unmounted (as an
 * open fid does in Plan 9).
 */
import { NsError } from '../errors.js';
import {
  DMDIR,
  MAX_WALK_NAMES,
  QTDIR,
  QTFILE,
  nameError,
  type CreateResult,
  type File,
  type FileServer,
  type OpenMode,
  type OpenResult,
  type Qid,
  type Stat,
  type StatChange,
  type WalkResult,
} from '../fileserver/file-server.js';
import { formatInterfaceId, isContainer } from './interfaces.js';
import { mergeUnion, type Binding, type Member, type MountTable } from './mount-table.js';

/** Options for a NamespaceFileServer. */
export interface NamespaceFileServerOptions<C> {
  /**
   * The FileServer behind a member — a FileServer's own, a Namespace member's file tree
   * (RemoteNamespaceFileServer) — or undefined when the member is not one this server
   * can walk into (it is then shown as a capability file). Called often: make it cheap.
   */
  readonly fileServer: (member: Member<C>) => FileServer | undefined;
  /**
   * The text of a capability file (what a member that is not a file server reads as),
   * ending in a newline; default: its interface id and label. Called at every stat and
   * read: make it cheap, and give the same text for the same member.
   */
  readonly describe?: (member: Member<C>) => string;
  /** Refuse every create, write, wstat and remove (default false, or the table's own). */
  readonly readOnly?: boolean;
  /** Owner shown for namespace directories and capability files (default "capns"). */
  readonly owner?: string;
  /** The iounit reported for namespace directories and capability files (default 8192). */
  readonly iounit?: number;
}

/** A directory of the namespace: a mount point of FileServers or a synthetic directory. */
type DirPlace = { readonly kind: 'dir'; readonly path: string };
/** A capability that is not a FileServer, shown as a read-only file. */
type LeafPlace<C> = { readonly kind: 'leaf'; readonly path: string; readonly binding: Binding<C> };
/**
 * A file inside a FileServer member. `base` is the namespace path of the member's attach
 * root (its mount point, or the view's root): a walk the member reports as ending at "/x"
 * ends at base + "/x" in the namespace.
 */
type InsidePlace<C> = {
  readonly kind: 'inside';
  readonly path: string;
  readonly file: File;
  readonly member: Member<C>;
  readonly base: string;
};
type Place<C> = DirPlace | LeafPlace<C> | InsidePlace<C>;

const encoder = new TextEncoder();

function join(path: string, name: string): string {
  return path === '/' ? `/${name}` : `${path}/${name}`;
}

function parent(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function basename(path: string): string {
  return path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1);
}

/** `base` (a namespace path) + `rel` (a path a member reported, "/" or "/a/b"). */
function below(base: string, rel: string): string {
  if (rel === '/' || rel === '') return base;
  return base === '/' ? rel : `${base}${rel}`;
}

function relComponents(rel: string): string[] {
  return rel === '' ? [] : rel.split('/');
}

function writes(mode: OpenMode): boolean {
  return mode.access === 'write' || mode.access === 'readWrite' || mode.truncate === true || mode.removeOnClose === true;
}

function readOnlyError(what: string): NsError {
  return new NsError('NS_ERR_PERMISSION', `${what}: the namespace is served read-only`);
}

/** The text a capability file holds by default. */
function describeMember(m: Member<unknown>): string {
  return `interface ${formatInterfaceId(m.interfaceId)}\nlabel ${m.label}\n`;
}

/**
 * A FileServer over a MountTable. Takes no ownership of the table or of the members'
 * capabilities; every File it returns belongs to the caller. Concurrency: any number of
 * calls at once; each reads the table as it is at that moment.
 */
export class NamespaceFileServer<C> implements FileServer {
  readonly #table: MountTable<C>;
  readonly #fileServer: (member: Member<C>) => FileServer | undefined;
  readonly #describe: (member: Member<C>) => string;
  readonly #readOnly: boolean;
  readonly #owner: string;
  readonly #iounit: number;
  readonly #started = Math.floor(Date.now() / 1000);
  /** Qid paths of this tree: for a member's file (by the member's qid path), and for the namespace's own directories and capabilities (by key). One numbering. */
  readonly #memberPaths = new Map<unknown, Map<bigint, bigint>>();
  readonly #qidPaths = new Map<string, bigint>();
  #nextQidPath = 1n;

  constructor(table: MountTable<C>, options: NamespaceFileServerOptions<C>) {
    this.#table = table;
    this.#fileServer = options.fileServer;
    this.#describe = options.describe ?? describeMember;
    this.#readOnly = options.readOnly === true || table.readOnly;
    this.#owner = options.owner ?? 'capns';
    this.#iounit = options.iounit ?? 8192;
  }

  /**
   * A File for the root of the namespace, or with `aname` for the directory it names (a
   * view: `..` never climbs above it).
   * @throws NsError NS_ERR_INVALID_PATH, NS_ERR_NOT_FOUND, NS_ERR_NOT_DIR.
   */
  async attach(aname: string): Promise<{ root: File; qid: Qid }> {
    if (aname === '' || aname === '/') {
      const root = new NamespaceFile(this, { kind: 'dir', path: '/' });
      return { root, qid: this.dirQid('/') };
    }
    // An attach name is a path of the namespace, relative to its root or not: diod's
    // tools send `-a tmp` as "tmp" (docs/9p.md).
    const at = aname.startsWith('/') ? aname : `/${aname}`;
    const view = new NamespaceFileServer(this.#table.sub(at, this.#readOnly), {
      fileServer: this.#fileServer,
      readOnly: this.#readOnly,
      owner: this.#owner,
      iounit: this.#iounit,
    });
    return view.attach('');
  }

  // ---- used by NamespaceFile -----------------------------------------------------------

  get readOnly(): boolean {
    return this.#readOnly;
  }

  get iounit(): number {
    return this.#iounit;
  }

  get table(): MountTable<C> {
    return this.#table;
  }

  fileServerOf(binding: Binding<C>): FileServer | undefined {
    return isContainer(binding.member.interfaceId) ? this.#fileServer(binding.member) : undefined;
  }

  /** A qid path of this tree for (member, path) or for a namespace directory. */
  qidPath(key: string): bigint {
    let p = this.#qidPaths.get(key);
    if (p === undefined) {
      p = this.#nextQidPath++;
      this.#qidPaths.set(key, p);
    }
    return p;
  }

  memberQid(member: Member<C>, qid: Qid): Qid {
    // Each member's paths map to this tree's (no string key per stat and walk).
    let paths = this.#memberPaths.get(member.cap);
    if (paths === undefined) {
      paths = new Map();
      this.#memberPaths.set(member.cap, paths);
    }
    let path = paths.get(qid.path);
    if (path === undefined) {
      path = this.#nextQidPath++;
      paths.set(qid.path, path);
    }
    return { type: qid.type, version: qid.version, path };
  }

  memberStat(member: Member<C>, stat: Stat): Stat {
    return { ...stat, qid: this.memberQid(member, stat.qid) };
  }

  dirQid(path: string): Qid {
    return { type: QTDIR, version: 0, path: this.qidPath(`ns:${path}`) };
  }

  dirStat(path: string): Stat {
    // Writable when something there takes creates, so that clients checking mode bits
    // before a create (v9fs does) try it.
    let mode = 0o555;
    if (!this.#readOnly) {
      try {
        const l = this.#table.lookup(path);
        if (l.rest === '' && l.stack.some((b) => b.create && this.fileServerOf(b) !== undefined)) mode = 0o775;
      } catch {
        // The directory went away meanwhile; its stat is still well-formed.
      }
    }
    return {
      qid: this.dirQid(path),
      mode: (DMDIR | mode) >>> 0,
      atime: this.#started,
      mtime: this.#started,
      length: 0n,
      name: basename(path),
      uid: this.#owner,
      gid: this.#owner,
      muid: this.#owner,
    };
  }

  /** The text of the capability file of `binding`. */
  describeCapability(binding: Binding<C>): string {
    return this.#describe(binding.member);
  }

  leafStat(path: string, binding: Binding<C>): Stat {
    return {
      qid: { type: QTFILE, version: 0, path: this.qidPath(`cap:${path}`) },
      mode: 0o444,
      atime: this.#started,
      mtime: this.#started,
      length: BigInt(encoder.encode(this.describeCapability(binding)).length),
      name: basename(path),
      uid: this.#owner,
      gid: this.#owner,
      muid: this.#owner,
    };
  }

  /**
   * Where `path` is as far as the namespace itself is concerned: a directory of the
   * namespace, a capability file, or undefined when it lies inside a member (the caller
   * walks the member). @throws NsError NS_ERR_NOT_FOUND.
   */
  namespacePlace(path: string): DirPlace | LeafPlace<C> | 'inside' {
    const l = this.#table.lookup(path);
    if (l.mountPoint === undefined) return { kind: 'dir', path: l.path };
    if (l.rest !== '') return 'inside';
    const first = l.stack[0];
    if (first !== undefined && this.fileServerOf(first) === undefined && !l.hasMountsBelow) {
      return { kind: 'leaf', path: l.path, binding: first };
    }
    return { kind: 'dir', path: l.path };
  }

  /** Whether mount points lie below `path` (false when it names nothing). */
  hasMountsBelow(path: string): boolean {
    try {
      return this.#table.lookup(path).hasMountsBelow;
    } catch {
      return false;
    }
  }

  /** Attaches `binding`'s member at its spec; the caller owns the root File. */
  async memberRoot(binding: Binding<C>): Promise<File | undefined> {
    const fs = this.fileServerOf(binding);
    if (fs === undefined) return undefined;
    const { root } = await fs.attach(binding.spec);
    return root;
  }

  /**
   * Walks `names` from the mount point or directory `path` into its members, first match
   * wins (only the first member with the directory below a mount point, as Plan 9). The
   * caller owns the returned File.
   */
  async walkIntoMembers(
    path: string,
    names: readonly string[],
  ): Promise<{ qids: Qid[]; place?: Place<C>; error?: NsError }> {
    const l = this.#table.lookup(path);
    let lastError: NsError = new NsError('NS_ERR_NOT_FOUND', `'${join(path, names[0] ?? '')}' not found`);
    for (const binding of l.stack) {
      const root = await this.memberRoot(binding);
      if (root === undefined) continue;
      try {
        const r = await root.walk([...relComponents(l.rest), ...names]);
        const skipped = relComponents(l.rest).length;
        if (r.qids.length <= skipped) {
          lastError = r.error ?? lastError;
          continue;
        }
        const qids = r.qids.slice(skipped).map((q) => this.memberQid(binding.member, q));
        if (r.file === undefined) return { qids, error: r.error };
        const base = l.mountPoint ?? '/';
        let end = path;
        for (const n of names) end = n === '..' ? parent(end) : join(end, n);
        // Where the member says the walk ended wins over the names walked (a symbolic link).
        if (r.path !== undefined) end = below(base, r.path);
        return { qids, place: { kind: 'inside', path: end, file: r.file, member: binding.member, base } };
      } finally {
        await root.clunk();
      }
    }
    return { qids: [], error: lastError };
  }
}

/** One File of a NamespaceFileServer. */
class NamespaceFile<C> implements File {
  readonly #server: NamespaceFileServer<C>;
  readonly #place: Place<C>;
  #open: OpenMode | undefined;
  #clunked = false;
  /** The readDir snapshot of a namespace directory, taken at offset 0. */
  #snapshot: Stat[] | undefined;

  constructor(server: NamespaceFileServer<C>, place: Place<C>) {
    this.#server = server;
    this.#place = place;
  }

  #live(): void {
    if (this.#clunked) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'file already clunked');
  }

  async walk(names: readonly string[]): Promise<WalkResult> {
    this.#live();
    if (names.length > MAX_WALK_NAMES) {
      throw new NsError('NS_ERR_TOO_LARGE', `walk of ${names.length} names; at most ${MAX_WALK_NAMES}`);
    }
    const server = this.#server;
    const qids: Qid[] = [];
    let place: Place<C> = this.#place;
    // Files made by intermediate steps inside members; all but the final one are clunked.
    let owned: File | undefined;
    const step = async (next: Place<C>): Promise<void> => {
      if (owned !== undefined && (next.kind !== 'inside' || next.file !== owned)) await owned.clunk();
      owned = next.kind === 'inside' ? next.file : undefined;
      place = next;
    };
    try {
      if (names.length === 0) {
        if (place.kind === 'inside') {
          const r = await place.file.walk([]);
          if (r.file === undefined) return { qids: [], error: r.error };
          return { qids: [], file: new NamespaceFile(server, { ...place, file: r.file }), path: place.path };
        }
        return { qids: [], file: new NamespaceFile(server, place), path: place.path };
      }
      let i = 0;
      while (i < names.length) {
        const name = names[i] as string;
        const bad = name === '..' ? undefined : nameError(name);
        if (bad !== undefined) return { qids, error: bad };
        const nextPath = name === '..' ? parent(place.path) : join(place.path, name);
        if (place.kind === 'leaf' && name !== '..') {
          return { qids, error: new NsError('NS_ERR_NOT_DIR', `'${place.path}' is a capability, not a directory`) };
        }
        let ns: DirPlace | LeafPlace<C> | 'inside';
        try {
          ns = server.namespacePlace(nextPath);
        } catch (e) {
          return { qids, error: e instanceof NsError ? e : new NsError('NS_ERR_NOT_FOUND', `'${nextPath}' not found`) };
        }
        if (ns !== 'inside') {
          qids.push(ns.kind === 'dir' ? server.dirQid(ns.path) : server.leafStat(ns.path, ns.binding).qid);
          await step(ns);
          i++;
          continue;
        }
        // Inside a member: take every following name that also stays inside, in one walk.
        let j = i + 1;
        let p = nextPath;
        while (j < names.length) {
          const n = names[j] as string;
          const q = n === '..' ? parent(p) : join(p, n);
          if (server.namespacePlace(q) !== 'inside' || server.hasMountsBelow(p)) break;
          p = q;
          j++;
        }
        const run = names.slice(i, j);
        if (place.kind === 'inside') {
          const r = await place.file.walk(run);
          if (r.file === undefined && r.qids.length === 0 && run.length === 1 && server.hasMountsBelow(nextPath)) {
            // The member lacks the directory, but mount points lie below it: it is still
            // a directory of the namespace.
            qids.push(server.dirQid(nextPath));
            await step({ kind: 'dir', path: nextPath });
            i = j;
            continue;
          }
          for (const q of r.qids) qids.push(server.memberQid(place.member, q));
          if (r.file === undefined) return { qids, error: r.error };
          const end = r.path !== undefined ? below(place.base, r.path) : p;
          await step({ kind: 'inside', path: end, file: r.file, member: place.member, base: place.base });
        } else {
          const r = await server.walkIntoMembers(place.path, run);
          if (r.place === undefined && r.qids.length === 0 && run.length === 1 && server.hasMountsBelow(nextPath)) {
            qids.push(server.dirQid(nextPath));
            await step({ kind: 'dir', path: nextPath });
            i = j;
            continue;
          }
          qids.push(...r.qids);
          if (r.place === undefined) {
            return { qids, error: r.error ?? new NsError('NS_ERR_NOT_FOUND', `'${nextPath}' not found`) };
          }
          await step(r.place);
        }
        i = j;
      }
      const file = new NamespaceFile(server, place);
      owned = undefined;
      return { qids, file, path: place.path };
    } finally {
      if (owned !== undefined) await owned.clunk();
    }
  }

  async open(mode: OpenMode): Promise<OpenResult> {
    this.#live();
    const place = this.#place;
    if (place.kind === 'inside') {
      if (writes(mode) && this.#server.readOnly) throw readOnlyError(`open '${place.path}' for writing`);
      const r = await place.file.open(mode);
      this.#open = mode;
      return { qid: this.#server.memberQid(place.member, r.qid), iounit: r.iounit };
    }
    if (this.#open !== undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `'${place.path}' is already open`);
    if (writes(mode)) {
      if (place.kind === 'dir') throw new NsError('NS_ERR_IS_DIR', `'${place.path}' is a directory`);
      throw new NsError('NS_ERR_PERMISSION', `'${place.path}' is a capability: its file is read-only`);
    }
    this.#open = mode;
    const qid = place.kind === 'dir' ? this.#server.dirQid(place.path) : this.#server.leafStat(place.path, place.binding).qid;
    return { qid, iounit: this.#server.iounit };
  }

  async create(name: string, perm: number, mode: OpenMode): Promise<CreateResult> {
    this.#live();
    const place = this.#place;
    const server = this.#server;
    if (server.readOnly) throw readOnlyError(`create '${name}'`);
    const bad = nameError(name);
    if (bad !== undefined) throw bad;
    if (place.kind === 'leaf') throw new NsError('NS_ERR_NOT_DIR', `'${place.path}' is a capability, not a directory`);
    const path = join(place.path, name);
    if (place.kind === 'inside') {
      const r = await place.file.create(name, perm, mode);
      return this.#created(path, place.member, place.base, r);
    }
    const target = server.table.createTarget(path);
    const base = server.table.lookup(place.path).mountPoint ?? '/';
    if (target.kind === 'member') {
      // Tcreate of a name that exists is refused (create(5)), and in a union a name exists
      // if any member has it: creating it in the create member would hide the other.
      await this.#mustNotExist(name);
      const root = await server.memberRoot(target.binding);
      if (root === undefined) throw new NsError('NS_ERR_PERMISSION', `cannot create in '${place.path}': its create member is not a file server`);
      try {
        const r = await root.create(target.rest, perm, mode);
        return this.#created(path, target.binding.member, base, r);
      } finally {
        await root.clunk();
      }
    }
    // The parent lies below a mount point (the root of a view inside a file tree): the
    // member that holds the directory creates it, as in any directory of that member.
    const dir = relComponents(target.rest).slice(0, -1);
    let lastError: NsError = new NsError('NS_ERR_NOT_FOUND', `'${place.path}' not found`);
    for (const binding of target.bindings) {
      const root = await server.memberRoot(binding);
      if (root === undefined) continue;
      try {
        const w = await root.walk(dir);
        if (w.file === undefined) {
          lastError = w.error;
          continue;
        }
        try {
          const r = await w.file.create(name, perm, mode);
          return this.#created(path, binding.member, base, r);
        } finally {
          await w.file.clunk();
        }
      } finally {
        await root.clunk();
      }
    }
    throw lastError;
  }

  /** @throws NsError NS_ERR_EXISTS when a member of this union directory has `name`. */
  async #mustNotExist(name: string): Promise<void> {
    const r = await this.walk([name]);
    if (r.file !== undefined) {
      await r.file.clunk();
      throw new NsError('NS_ERR_EXISTS', `'${join(this.#place.path, name)}' already exists`);
    }
  }

  #created(path: string, member: Member<C>, base: string, r: CreateResult): CreateResult {
    const qid = this.#server.memberQid(member, r.qid);
    return { file: new NamespaceFile(this.#server, { kind: 'inside', path, file: r.file, member, base }), qid, iounit: r.iounit };
  }

  /** Inside a member: the member's File, and its qids mapped to this tree's (File.statCapability). */
  statCapability(): ReturnType<NonNullable<File['statCapability']>> {
    const place = this.#place;
    if (this.#clunked || place.kind !== 'inside') return undefined;
    const file = place.file.bytesCapability?.(false);
    if (file === undefined) return undefined;
    const server = this.#server;
    return { file, qid: (q) => server.memberQid(place.member, q) };
  }

  /** Inside a member, as the member's File; a capability's description never waits (File.waits). */
  get waits(): boolean {
    const place = this.#place;
    return place.kind === 'inside' ? place.file.waits !== false : false;
  }

  async read(offset: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    this.#live();
    const place = this.#place;
    if (place.kind === 'inside') return place.file.read(offset, count, signal);
    if (this.#open === undefined) throw new NsError('NS_ERR_NOT_OPEN', `'${place.path}' is not open`);
    if (place.kind === 'dir') throw new NsError('NS_ERR_IS_DIR', `'${place.path}' is a directory`);
    const bytes = encoder.encode(this.#server.describeCapability(place.binding));
    if (offset >= BigInt(bytes.length)) return new Uint8Array(0);
    const start = Number(offset);
    return bytes.slice(start, start + Math.min(count, this.#server.iounit));
  }

  async write(offset: bigint, data: Uint8Array, signal?: AbortSignal): Promise<number> {
    this.#live();
    const place = this.#place;
    if (place.kind === 'inside') {
      if (this.#server.readOnly) throw readOnlyError(`write '${place.path}'`);
      return place.file.write(offset, data, signal);
    }
    throw new NsError('NS_ERR_NOT_OPEN', `'${place.path}' is not open for writing`);
  }

  /**
   * Inside a member, the member's own File serves the bytes (reads, and writes when this
   * tree is writable): a server of this File passes them straight to it.
   */
  bytesCapability(forWrite: boolean): ReturnType<NonNullable<File['bytesCapability']>> {
    const place = this.#place;
    if (this.#clunked || place.kind !== 'inside') return undefined;
    if (forWrite && this.#server.readOnly) return undefined;
    return place.file.bytesCapability?.(forWrite);
  }

  async readDir(offset: number, count: number): Promise<Stat[]> {
    this.#live();
    const place = this.#place;
    const server = this.#server;
    if (place.kind === 'leaf') throw new NsError('NS_ERR_NOT_DIR', `'${place.path}' is a capability, not a directory`);
    if (place.kind === 'inside' && !server.hasMountsBelow(place.path)) {
      const entries = await place.file.readDir(offset, count);
      return entries.map((e) => server.memberStat(place.member, e));
    }
    if (this.#open === undefined) throw new NsError('NS_ERR_NOT_OPEN', `'${place.path}' is not open`);
    if (offset === 0 || this.#snapshot === undefined) this.#snapshot = await this.#listing();
    return this.#snapshot.slice(offset, offset + count);
  }

  /** The whole union listing of this directory (see the module comment for the order). */
  async #listing(): Promise<Stat[]> {
    const server = this.#server;
    const place = this.#place;
    const l = server.table.list(place.path);
    const first = l.children.map((c) => {
      const path = join(place.path, c.name);
      return c.kind === 'capability' && c.binding !== undefined ? server.leafStat(path, c.binding) : server.dirStat(path);
    });
    const lists: Stat[][] = [];
    if (place.kind === 'inside') {
      lists.push(await readAll(place.file, (s) => server.memberStat(place.member, s)));
    } else {
      for (const binding of l.bindings) {
        const root = await server.memberRoot(binding);
        if (root === undefined) continue;
        try {
          const w = await root.walk(relComponents(l.rest));
          if (w.file === undefined) continue;
          try {
            await w.file.open({ access: 'read' });
            lists.push(await readAll(w.file, (s) => server.memberStat(binding.member, s)));
          } finally {
            await w.file.clunk();
          }
        } finally {
          await root.clunk();
        }
        if (!l.union) break;
      }
    }
    return mergeUnion(first, lists);
  }

  async stat(): Promise<Stat> {
    this.#live();
    const place = this.#place;
    const server = this.#server;
    switch (place.kind) {
      case 'inside':
        return server.memberStat(place.member, await place.file.stat());
      case 'dir':
        return server.dirStat(place.path);
      case 'leaf':
        return server.leafStat(place.path, place.binding);
    }
  }

  async wstat(change: StatChange): Promise<void> {
    this.#live();
    const place = this.#place;
    if (this.#server.readOnly) throw readOnlyError(`wstat '${place.path}'`);
    if (place.kind === 'inside') return place.file.wstat(change);
    throw new NsError('NS_ERR_PERMISSION', `'${place.path}' belongs to the namespace: use bind and unmount`);
  }

  async remove(): Promise<void> {
    this.#live();
    const place = this.#place;
    try {
      if (this.#server.readOnly) throw readOnlyError(`remove '${place.path}'`);
      if (place.kind === 'inside') {
        this.#clunked = true;
        return await place.file.remove();
      }
      throw new NsError('NS_ERR_PERMISSION', `'${place.path}' belongs to the namespace: use unmount`);
    } finally {
      await this.clunk();
    }
  }

  async clunk(): Promise<void> {
    if (this.#clunked) return;
    this.#clunked = true;
    this.#snapshot = undefined;
    if (this.#place.kind === 'inside') await this.#place.file.clunk();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.clunk();
  }
}

/** Every entry of an open directory File, mapped. */
async function readAll(file: File, map: (s: Stat) => Stat): Promise<Stat[]> {
  const out: Stat[] = [];
  for (;;) {
    const page = await file.readDir(out.length, 256);
    if (page.length === 0) return out;
    for (const s of page) out.push(map(s));
  }
}
