/**
 * The Namespace capability (schema/namespace.capnp) served over a MountTable whose
 * members are RPC capabilities.
 *
 * A family of Namespace capabilities — one namespace, its `fork`s and `sub` views —
 * keeps a reference to every capability bound into any of them, and releases them all
 * when the last Namespace capability of the family is released. Persistent tables share
 * bindings between forks, so per-binding reference counts would have to be kept across
 * every fork; holding per family is simple and bounded by the binds a client makes (the
 * server bounds those with `maxBinds`).
 *
 * The namespaces made for one connection have one `NamespaceOwner`: one budget of
 * bindings, a bound on how many, and the end of them all when the connection ends —
 * which reference counting alone cannot give, since a namespace bound into itself holds
 * a reference to itself.
 *
 * FileServer members are walked and listed through RemoteFileServer (which works for a
 * capability in this process too), via NamespaceFileServer: the same file tree the 9P
 * bridge serves.
 */
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import { fromFailure, setFailure } from '../failure.js';
import { Position as PositionEnum, type Outcome } from '../gen/common.js';
import {
  Namespace as NamespaceIface,
  Namespace_Entry_Kind,
  type Namespace$Client,
  type Namespace$Server$Target,
  type Namespace_Apply$Params,
  type Namespace_Apply$Results,
  type Namespace_Bind$Params,
  type Namespace_Bind$Results,
  type Namespace_BindPath$Params,
  type Namespace_BindPath$Results,
  type Namespace_Describe$Params,
  type Namespace_Describe$Results,
  type Namespace_Fork$Params,
  type Namespace_Fork$Results,
  type Namespace_List$Params,
  type Namespace_List$Results,
  type Namespace_Members$Params,
  type Namespace_Members$Results,
  type Namespace_Resolve$Params,
  type Namespace_Resolve$Results,
  type Namespace_Sub$Params,
  type Namespace_Sub$Results,
  type Namespace_Unmount$Params,
  type Namespace_Unmount$Results,
  type Namespace_Walk$Params,
  type Namespace_Walk$Results,
} from '../gen/namespace.js';
import { QTDIR, type File, type FileServer, type Stat } from '../fileserver/file-server.js';
import { confineFileServer, RemoteFileServer, serveFile } from '../fileserver/file-server-rpc.js';
import { FileServer as FileServerIface } from '../gen/fileserver.js';
import { dupClient, release, RpcError, serve, withSignal, type CallContext } from '../rpc/index.js';
import { membrane } from '../rpc/membrane.js';
import { FILE_SERVER_INTERFACE_ID, NAMESPACE_INTERFACE_ID, isContainer } from './interfaces.js';
import { MountTable, type Binding, type Member, type MountSource, type Position } from './mount-table.js';
import { NamespaceFileServer } from './namespace-file-server.js';
import { RemoteNamespaceFileServer } from './remote-namespace-file-server.js';
import { readOnlyPolicy } from './view-policy.js';

/** Limits of one Namespace family, each with a safe default. */
export interface NamespaceServerOptions {
  /**
   * Bindings the family may hold, counting every namespace in it (a fork counts what it
   * copied), every form of bind, and what it started with (NS_ERR_BUSY beyond). Default
   * 10000. Ignored when `quota` is given.
   */
  readonly maxBinds?: number;
  /**
   * The connection this namespace is made for, with the others made for it: they share
   * its budget of bindings (so no connection can hold more, however often it
   * authenticates), count against its `maxNamespaces`, and end with it. Default: a
   * family on its own, with a budget of `maxBinds`, that ends when released.
   */
  readonly owner?: NamespaceOwner;
  /** Bytes of namespace text `apply` accepts (NS_ERR_TOO_LARGE beyond). Default 1 MiB. */
  readonly maxApplyBytes?: number;
  /**
   * Called once, after the family's last Namespace capability is released (by the
   * client, or by the RPC layer when the connection ends) or its owner ended, and its
   * capabilities with it.
   */
  readonly onClose?: () => void;
}

/** The default of `maxBinds`. */
export const DEFAULT_MAX_BINDS = 10_000;
const DEFAULT_MAX_APPLY_BYTES = 1 << 20;

/** A number of bindings that one or more namespace families may hold at once. */
export class BindQuota {
  #used = 0;

  /** `refused`: told each time take() refuses (the Gate's peer, whose connection pauses: Peer.overLimit). */
  constructor(
    readonly max: number,
    readonly refused?: { overLimit(): void },
  ) {}

  get used(): number {
    return this.#used;
  }

  /** @throws NsError NS_ERR_BUSY (taking nothing) when `n` more would go over. */
  take(n: number): void {
    if (n <= 0) return;
    if (this.#used + n > this.max) {
      this.refused?.overLimit();
      throw new NsError('NS_ERR_BUSY', `this namespace would hold ${this.#used + n} bindings; its limit is ${this.max} (maxBinds)`);
    }
    this.#used += n;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}

/** Namespaces (families) open in the process: made by serveNamespace and not yet closed. */
let openFamilies = 0;

/** Namespaces open in the process now, each with its forks and views (for metrics: a count that only grows is a leak). */
export function openNamespaces(): number {
  return openFamilies;
}

/** The default of NamespaceOwner's `maxNamespaces` (the manifest's `limits.maxNamespacesPerConnection`). */
export const DEFAULT_MAX_NAMESPACES = 256;

/** Options of a NamespaceOwner, each with a safe default. */
export interface NamespaceOwnerOptions {
  /**
   * Namespaces open at once (default DEFAULT_MAX_NAMESPACES): each `authenticate` makes
   * one, with its grants, its mount table and its session, which the grants quota alone
   * bounds loosely. Forks and sub views are part of the namespace they come from.
   */
  readonly maxNamespaces?: number;
  /** Bindings across all of them (default DEFAULT_MAX_BINDS). */
  readonly maxBinds?: number;
  /** Told each time a request is refused for the bindings budget: the connection's Peer, which pauses. */
  readonly refused?: { overLimit(): void };
}

/**
 * What one connection was given: the namespaces made for it (each with its forks and sub
 * views), one budget of bindings for all of them, and how many it may hold at once.
 *
 * `end()` (its connection has ended) closes every one of them as if each of its
 * Namespace capabilities had been released, wherever those are: a namespace bound into
 * itself, or two of the connection's bound into each other, hold references to
 * themselves that would otherwise keep them, their bindings and their grants alive after
 * the connection. A namespace lives as long as the connection it was given to; one
 * passed on elsewhere answers NS_ERR_REVOKED once that connection has ended.
 */
export class NamespaceOwner {
  readonly quota: BindQuota;
  readonly #max: number;
  /** Namespaces (families) open. */
  #families = 0;
  /**
   * Their namespaces (the family's own and its forks) with a capability open: what end()
   * closes. One set for the connection, rather than one in each family.
   */
  readonly #open = new Set<Holder>();
  #ended = false;

  /** `name`: the connection's, as errors and the capability table name it (e.g. "rpc#3"). */
  constructor(
    readonly name: string,
    options: NamespaceOwnerOptions = {},
  ) {
    this.#max = options.maxNamespaces ?? DEFAULT_MAX_NAMESPACES;
    this.quota = new BindQuota(options.maxBinds ?? DEFAULT_MAX_BINDS, options.refused);
  }

  /** Namespaces open now. */
  get namespaces(): number {
    return this.#families;
  }

  /**
   * Throws the refusal of one more namespace, so a caller can refuse before granting
   * anything for it. @throws NsError NS_ERR_BUSY past `maxNamespaces`, NS_ERR_REVOKED
   * once ended.
   */
  checkRoom(): void {
    if (this.#ended) throw this.endedError();
    if (this.#families >= this.#max) {
      throw NsError.refusal('NS_ERR_BUSY', `connection ${this.name} holds ${this.#families} namespaces, its limit (maxNamespacesPerConnection)`);
    }
  }

  /** Closes every namespace it holds, now and from now on. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const h of [...this.#open]) h.end();
  }

  /** What a Namespace capability of an ended owner answers. */
  endedError(): NsError {
    return NsError.refusal('NS_ERR_REVOKED', `this namespace was given to ${this.name}, which has ended`);
  }

  /** @internal A namespace is made. @throws as checkRoom */
  adopt(): void {
    this.checkRoom();
    this.#families++;
  }

  /** @internal A namespace has closed, or was never made. */
  forget(): void {
    this.#families--;
  }

  /** @internal A namespace of one of them has a capability open (opened) or none (closed). */
  opened(h: Holder): void {
    this.#open.add(h);
  }

  /** @internal */
  closed(h: Holder): void {
    this.#open.delete(h);
  }
}

/**
 * One family of Namespace capabilities: a namespace served by `serveNamespace` and every
 * fork and sub view made from it. The family owns one reference to each distinct
 * capability bound in any of its namespaces, counted by the bindings that show it: when
 * the last binding goes (an unmount, a replace, the namespace released), so does the
 * reference. `onClose` runs when no Namespace capability of the family is open, or when
 * its owner ends.
 */
class Family {
  /** Bindings showing each capability across the family, by the reference it owns. */
  readonly #refs = new Map<Client, number>();
  /** Made at the first file view asked for: most families are never walked as files. */
  #fileServers: Map<Client, RemoteFileServer | RemoteNamespaceFileServer> | null = null;
  /** The family's namespaces with a Namespace capability open. */
  #open = 0;
  readonly quota: BindQuota;

  constructor(
    readonly options: NamespaceServerOptions,
    readonly owner: NamespaceOwner | undefined,
  ) {
    this.quota = owner?.quota ?? new BindQuota(options.maxBinds ?? DEFAULT_MAX_BINDS);
  }

  /** Counts `delta` more bindings of `cap`; the reference is released at zero. */
  count(cap: Client, delta: number): void {
    const n = (this.#refs.get(cap) ?? 0) + delta;
    if (n > 0) {
      this.#refs.set(cap, n);
      return;
    }
    this.#refs.delete(cap);
    const fs = this.#fileServers?.get(cap);
    if (fs !== undefined) {
      fs.close();
      this.#fileServers!.delete(cap);
    }
    release(cap);
  }

  /** Whether some binding of the family shows `cap`. */
  holds(cap: Client): boolean {
    return this.#refs.has(cap);
  }

  /**
   * The file view of a member: a FileServer's own, or a Namespace member's file tree
   * (through its `walk`: an imported namespace is a directory like any other).
   */
  fileServer(member: Member<Client>): FileServer | undefined {
    let fs = this.#fileServers?.get(member.cap);
    if (fs !== undefined) return fs;
    if (member.interfaceId === FILE_SERVER_INTERFACE_ID) fs = new RemoteFileServer(new FileServerIface.Client(dupClient(member.cap)));
    else if (member.interfaceId === NAMESPACE_INTERFACE_ID) fs = new RemoteNamespaceFileServer(new NamespaceIface.Client(dupClient(member.cap)));
    else return undefined;
    (this.#fileServers ??= new Map()).set(member.cap, fs);
    return fs;
  }

  opened(h: Holder): void {
    this.#open++;
    this.owner?.opened(h);
  }

  closed(h: Holder): void {
    this.owner?.closed(h);
    if (--this.#open > 0) return;
    openFamilies--;
    this.owner?.forget();
    try {
      this.options.onClose?.();
    } catch {
      // A disposer's callback never throws out of it.
    }
  }
}

/**
 * The accounting of one namespace of a family: the namespace's table and its sub views
 * share one (they are the same namespace); a fork gets its own. Its bindings count in the
 * family's references and against the quota.
 */
class Holder {
  #bindings = 0;
  #servers = 0;
  /** Closed by its owner's end, whatever capabilities of it were still open. */
  #ended = false;
  /** Closed: its bindings let go (the last capability released, or the owner ended). */
  #closed = false;

  /** `table`: any table of this namespace (they all see the whole of it). */
  constructor(
    readonly family: Family,
    readonly table: MountTable<Client>,
  ) {}

  /**
   * Counts the bindings `table` holds now as this namespace's (a new namespace, or a fresh
   * fork). @throws NsError NS_ERR_BUSY over the quota (nothing counted).
   */
  adopt(): void {
    let n = 0;
    this.table.forEachBinding(() => n++);
    this.family.quota.take(n);
    this.#bindings = n;
    this.table.forEachBinding((b) => this.family.count(b.member.cap, +1));
  }

  /**
   * Runs `change` on a table of this namespace and accounts for it: capabilities no binding
   * of the family shows any more are released; bindings count against the quota, and a
   * change that would go over is undone. `fresh`: references `change` may have bound,
   * taken for it by the caller (each is released unless a binding now shows it).
   * @throws whatever `change` throws (nothing changed), NsError NS_ERR_BUSY.
   */
  mutate(table: MountTable<Client>, change: () => void, fresh: readonly Client[] = []): void {
    if (this.#closed) {
      for (const c of fresh) release(c);
      throw this.#closedError();
    }
    const before = table.snapshot();
    const deltas: [Client, number][] = [];
    let added = 0;
    try {
      change();
      table.changesSince(before, (member, delta) => {
        deltas.push([member.cap, delta]);
        added += delta;
      });
      if (added > 0) this.family.quota.take(added);
    } catch (e) {
      table.restore(before);
      for (const c of fresh) release(c);
      throw e;
    }
    if (added < 0) this.family.quota.give(-added);
    this.#bindings += added;
    // Additions first: a capability moved from one binding to another is never let go.
    for (const [cap, d] of deltas) if (d > 0) this.family.count(cap, d);
    for (const [cap, d] of deltas) if (d < 0) this.family.count(cap, d);
    for (const c of fresh) if (!this.family.holds(c)) release(c);
  }

  /**
   * The table of a Namespace capability of this namespace, for a call on it.
   * @throws NsError NS_ERR_REVOKED once closed (the owner ended, or it was released).
   */
  use(table: MountTable<Client>): MountTable<Client> {
    if (this.#closed) throw this.#closedError();
    return table;
  }

  /**
   * Why a closed namespace refuses: its owner ended, or (a call of its own still running
   * when the rest of it went; the RPC layer keeps a capability until its calls settle, so
   * only through a path that does not) it was released.
   */
  #closedError(): NsError {
    if (this.#ended) return this.family.owner!.endedError();
    return NsError.refusal('NS_ERR_REVOKED', 'this namespace was released');
  }

  opened(): void {
    if (this.#servers++ === 0) this.family.opened(this);
  }

  /** One Namespace capability of this namespace is gone; the last one lets its bindings go. */
  closed(): void {
    if (this.#ended || --this.#servers > 0) return;
    this.#close();
  }

  /** Its owner has ended: closes as if every Namespace capability of it were released. */
  end(): void {
    if (this.#ended || this.#servers === 0) return;
    this.#ended = true;
    this.#close();
  }

  #close(): void {
    this.#closed = true;
    this.table.forEachBinding((b) => this.family.count(b.member.cap, -1));
    this.family.quota.give(this.#bindings);
    this.#bindings = 0;
    this.family.closed(this);
  }
}

const POSITIONS: Record<number, Position> = {
  [PositionEnum.REPLACE]: 'replace',
  [PositionEnum.BEFORE]: 'before',
  [PositionEnum.AFTER]: 'after',
};

function positionOf(p: number): Position {
  const position = POSITIONS[p];
  if (position === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `unknown union position ${p}`);
  return position;
}

/** Runs `fn`, filling `outcome` with ok or with the NsError it threw. */
async function outcome(o: Outcome, fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
    o.ok = true;
  } catch (e) {
    setFailure(o._initErr(), e);
  }
}

/** The components of an absolute path, for File.walk (cleaned by the caller). */
function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

function joinRel(a: string, b: string): string {
  return a === '' ? b : b === '' ? a : `${a}/${b}`;
}

/**
 * What cancels a call's asking of other members: the served call's context, whose
 * signal is read (and so made: an AbortController per call) only when a member is asked
 * over a capability (a union's imported namespace), not for every resolve and walk.
 */
type Cancel = { readonly signal: AbortSignal } | undefined;

/**
 * One Namespace capability: a MountTable (a whole namespace, a fork, or a sub view) and
 * its namespace's Holder. Concurrency: calls may interleave at their awaits; every
 * mutation of the table is synchronous, so each one is atomic.
 *
 * What it hands out carries the view's policy (docs/security.md): a member seen below a
 * path inside it (a view rooted inside a file tree, a bind of a directory inside one) is
 * handed out confined to that path, and everything a read-only view hands out is wrapped
 * in a read-only membrane, results of results included.
 */
class NamespaceTarget implements Namespace$Server$Target {
  readonly #view: MountTable<Client>;
  readonly #holder: Holder;
  #disposed = false;

  constructor(table: MountTable<Client>, holder: Holder) {
    this.#view = table;
    this.#holder = holder;
    holder.opened();
  }

  /** The table, for a call: every call reads it, so every call of an ended namespace is refused. */
  get #table(): MountTable<Client> {
    return this.#holder.use(this.#view);
  }

  get #family(): Family {
    return this.#holder.family;
  }

  #files(): NamespaceFileServer<Client> {
    return new NamespaceFileServer(this.#table, { fileServer: (m) => this.#family.fileServer(m) });
  }

  /** `cap` (owned) as this view lets it out: read-only views wrap it. The caller owns the result. */
  #attenuate(cap: Client): Client {
    return this.#table.readOnly ? membrane(cap, readOnlyPolicy('this view')) : cap;
  }

  /** A reference of the caller's own to a Namespace member, as this view lets it out. */
  #namespaceOf(b: Binding<Client>): Namespace$Client {
    return new NamespaceIface.Client(this.#attenuate(dupClient(b.member.cap)));
  }

  /**
   * The Namespace member of `b` seen from `b.spec`: the member itself, or its own view
   * rooted there (`sub`, pipelined: no round trip of its own), so that whatever is asked
   * of it — walks and their `..`, resolves and what they hand out — stays below the spec.
   * As this view lets it out; the caller owns it.
   */
  #namespaceAt(b: Binding<Client>): Namespace$Client {
    if (b.spec === '') return this.#namespaceOf(b);
    const whole = new NamespaceIface.Client(dupClient(b.member.cap));
    const answer = whole.sub((p) => {
      p.prefix = `/${b.spec}`;
      p.readOnly = this.#table.readOnly;
    });
    // Results.result (pointer 0) -> SubResult.ns (pointer 0); a failed sub fails the calls.
    const view = answer.pipeline.getPipeline(NamespaceIface.SubResult, 0).getPipeline(NamespaceIface.SubResult, 0).client();
    release(whole);
    return new NamespaceIface.Client(this.#attenuate(view));
  }

  /**
   * What this view hands out for binding `b`: its member, confined to `b.spec` when that
   * is not '' (a FileServer rooted there; a Namespace's sub view there), read-only when
   * the view is. The caller owns the result.
   */
  async #handOut(b: Binding<Client>, cx: Cancel): Promise<Client> {
    const id = b.member.interfaceId;
    if (b.spec !== '' && id === FILE_SERVER_INTERFACE_ID) {
      return this.#attenuate(confineFileServer(new FileServerIface.Client(dupClient(b.member.cap)), b.spec).client);
    }
    if (b.spec !== '' && id === NAMESPACE_INTERFACE_ID) {
      const ns = new NamespaceIface.Client(dupClient(b.member.cap));
      try {
        const call = (cx === undefined ? ns : withSignal(ns, cx.signal)).sub((p) => {
          p.prefix = `/${b.spec}`;
          p.readOnly = this.#table.readOnly;
        });
        const r = (await call.promise()).result;
        if (r._isErr) throw fromFailure(r.err);
        return this.#attenuate(r.ns.client);
      } finally {
        release(ns);
      }
    }
    return this.#attenuate(dupClient(b.member.cap));
  }

  /**
   * Which binding holds `path`, and the rest of the path below it. At a mount point: its
   * first member. Below one, Plan 9's rule: the first container member that has the first
   * name of the rest takes the whole rest; with one candidate it is not asked (the caller's
   * walk of the rest will tell).
   * @throws NsError as MountTable.resolve, and NS_ERR_NOT_FOUND when no member has the name.
   */
  async #holding(path: string, expected: bigint | undefined, cx: Cancel): Promise<{ binding: Binding<Client>; rest: string }> {
    const r = this.#table.resolve(path, expected);
    if (r.rest === '' || r.bindings.length <= 1) return { binding: r.binding, rest: r.rest };
    const first = r.rest.split('/', 1)[0] as string;
    for (const b of r.bindings) if (await this.#has(b, first, cx)) return { binding: b, rest: r.rest };
    throw new NsError('NS_ERR_NOT_FOUND', `'${r.path}' does not exist: no member of the union at '${r.mountPoint}' has '${first}'`);
  }

  /** Whether the container binding `b` has `name` directly below its root. Never throws. */
  async #has(b: Binding<Client>, name: string, cx: Cancel): Promise<boolean> {
    try {
      await this.#existsIn(b, joinRel(b.spec, name), cx);
      return true;
    } catch {
      // Not there, or the member cannot say (a dead server): the union goes on (ANTS).
      return false;
    }
  }

  /**
   * Checks that the path `spec` (relative, inside the container member of `b`) exists,
   * as a directory when `dir`. @throws NsError NS_ERR_NOT_FOUND, NS_ERR_NOT_DIR, or the
   * member's own failure.
   */
  async #existsIn(b: Binding<Client>, spec: string, cx: Cancel, dir = false): Promise<void> {
    if (b.member.interfaceId === FILE_SERVER_INTERFACE_ID) {
      const fs = this.#family.fileServer(b.member);
      if (fs === undefined) throw new NsError('NS_ERR_NOT_DIR', `'${b.member.label}' is not a file server`);
      if (dir) {
        // Attaching there proves a directory: servers refuse to attach to anything else.
        const { root } = await fs.attach(spec);
        await root.clunk();
        return;
      }
      const names = components(spec);
      const parent = names.slice(0, -1).join('/');
      const { root } = await fs.attach(parent);
      try {
        const w = await root.walk(names.slice(-1));
        if (w.file === undefined) throw w.error ?? new NsError('NS_ERR_NOT_FOUND', `'${spec}' not found`);
        await w.file.clunk();
      } finally {
        await root.clunk();
      }
      return;
    }
    const ns = new NamespaceIface.Client(dupClient(b.member.cap));
    try {
      const call = (cx === undefined ? ns : withSignal(ns, cx.signal)).resolve((p) => {
        p.path = `/${spec}`;
      });
      const r = (await call.promise()).result;
      if (r._isErr) throw fromFailure(r.err);
      release($.utils.getInterfaceClientOrNull(r.ok.cap));
      if (dir && r.ok.rest === '' && r.ok.interfaceId !== FILE_SERVER_INTERFACE_ID && r.ok.interfaceId !== NAMESPACE_INTERFACE_ID) {
        throw new NsError('NS_ERR_NOT_DIR', `'/${spec}' in '${b.member.label}' is a capability, not a directory`);
      }
    } finally {
      release(ns);
    }
  }

  /**
   * When `path` lies inside a Namespace member (an imported namespace) — the member
   * holding it is one, and something of the path or the binding's spec is left — that
   * member (as this view lets it out) and the path to ask it for. Undefined otherwise, or
   * when the path does not resolve (the caller's own code reports that).
   */
  async #remote(path: string, cx: Cancel): Promise<{ ns: Namespace$Client; path: string } | undefined> {
    let h;
    try {
      h = await this.#holding(path, undefined, cx);
    } catch {
      return undefined;
    }
    const b = h.binding;
    if (b.member.interfaceId !== NAMESPACE_INTERFACE_ID || (h.rest === '' && b.spec === '')) return undefined;
    return { ns: this.#namespaceAt(b), path: `/${h.rest}` };
  }

  /**
   * When `path` is a mount point whose only member is a Namespace, with nothing mounted
   * below it: that member and the directory to list there (an imported namespace's
   * listing is its own, capabilities and all). Undefined otherwise (a union listing is
   * merged here, through the members' file trees).
   */
  #remoteDir(path: string): { ns: Namespace$Client; path: string } | undefined {
    let l;
    try {
      l = this.#table.lookup(path);
    } catch {
      return undefined;
    }
    const only = l.stack[0];
    if (l.mountPoint === undefined || l.rest !== '' || l.stack.length !== 1 || only === undefined || l.hasMountsBelow) return undefined;
    if (only.member.interfaceId !== NAMESPACE_INTERFACE_ID) return undefined;
    return { ns: this.#namespaceAt(only), path: '/' };
  }

  async resolve(params: Namespace_Resolve$Params, results: Namespace_Resolve$Results, ctx?: CallContext): Promise<void> {
    const expected = params.expectedInterface === 0n ? undefined : params.expectedInterface;
    let h;
    try {
      h = await this.#holding(params.path, expected, ctx);
    } catch (e) {
      setFailure(results._initResult()._initErr(), e);
      return;
    }
    const b = h.binding;
    if (b.member.interfaceId === NAMESPACE_INTERFACE_ID && h.rest !== '' && ctx !== undefined) {
      // Resolution continues in the imported namespace, as a tail call: the caller's
      // calls pipelined on the result go straight on to the remote answer.
      const ns = this.#namespaceAt(b);
      try {
        return await ctx.tailCall(ns, (n) =>
          n.resolve((p) => {
            p.path = `/${h.rest}`;
            p.expectedInterface = params.expectedInterface;
          }),
        );
      } finally {
        release(ns);
      }
    }
    const res = results._initResult();
    let cap: Client;
    try {
      cap = await this.#handOut(b, ctx);
    } catch (e) {
      setFailure(res._initErr(), e);
      return;
    }
    const ok = res._initOk();
    // The message owns the reference from here.
    $.utils.setInterfacePointer(results.segment.message.addCap(cap), ok.cap);
    ok.interfaceId = b.member.interfaceId;
    ok.label = b.member.label;
    ok.rest = h.rest;
  }

  async bind(params: Namespace_Bind$Params, results: Namespace_Bind$Results): Promise<void> {
    await outcome(results._initResult(), () => {
      const client = $.utils.getInterfaceClientOrNull(params.cap);
      if (client === null) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'bind of a null capability');
      const label = params.label === '' ? `cap${params.interfaceId.toString(16)}` : params.label;
      const options = { position: positionOf(params.position), create: params.create };
      const table = this.#table;
      const own = dupClient(client);
      const member = { cap: own, interfaceId: params.interfaceId, label };
      this.#holder.mutate(table, () => table.bind(params.path, member, options), [own]);
    });
  }

  async bindPath(params: Namespace_BindPath$Params, results: Namespace_BindPath$Results, ctx?: CallContext): Promise<void> {
    await outcome(results._initResult(), async () => {
      const from = params.from;
      const to = params.to;
      const options = { position: positionOf(params.position), create: params.create };
      this.#writable();
      const l = this.#table.lookup(from);
      if (l.mountPoint === undefined || l.atMountPoint || l.rest === '') {
        // A mount point (its whole union), or a directory of mount points: the table knows.
        this.#holder.mutate(this.#table, () => this.#table.bindPath(from, to, options));
        return;
      }
      // bind(2) of a directory inside a file tree binds what a walk of `from` reaches:
      // the member that holds it, seen from there. It must exist (bind(2) fails otherwise).
      const h = await this.#holding(from, undefined, ctx);
      const spec = joinRel(h.binding.spec, h.rest);
      await this.#existsIn(h.binding, spec, ctx, true);
      const member = h.binding.member;
      if (!this.#family.holds(member.cap)) {
        throw new NsError('NS_ERR_NOT_FOUND', `'${from}' was unmounted while it was being bound`);
      }
      this.#holder.mutate(this.#table, () => this.#table.bind(to, member, { ...options, spec }));
    });
  }

  /** @throws NsError NS_ERR_PERMISSION in a read-only view (before any other check). */
  #writable(): void {
    if (this.#table.readOnly) throw new NsError('NS_ERR_PERMISSION', 'this namespace is read-only');
  }

  async unmount(params: Namespace_Unmount$Params, results: Namespace_Unmount$Results): Promise<void> {
    await outcome(results._initResult(), () => {
      this.#holder.mutate(this.#table, () => this.#table.unmount(params.path, params.label === '' ? undefined : params.label));
    });
  }

  async list(params: Namespace_List$Params, results: Namespace_List$Results, ctx?: CallContext): Promise<void> {
    const remote = ctx === undefined ? undefined : ((await this.#remote(params.path, ctx)) ?? this.#remoteDir(params.path));
    if (remote !== undefined && ctx !== undefined) {
      try {
        return await ctx.tailCall(remote.ns, (ns) =>
          ns.list((p) => {
            p.path = remote.path;
          }),
        );
      } finally {
        release(remote.ns);
      }
    }
    const res = results._initResult();
    let entries: Stat[];
    let kinds: Map<string, { interfaceId: bigint; label: string }>;
    try {
      const l = this.#table.list(params.path);
      kinds = new Map(
        l.children
          .filter((c) => c.binding !== undefined)
          .map((c) => [c.name, { interfaceId: c.binding!.member.interfaceId, label: c.binding!.member.label }]),
      );
      entries = await this.#readDir(params.path);
    } catch (e) {
      setFailure(res._initErr(), e);
      return;
    }
    const list = res._initEntries(entries.length);
    entries.forEach((st, i) => {
      const e = list.get(i);
      e.name = st.name;
      const bound = kinds.get(st.name);
      if (bound !== undefined && !isContainer(bound.interfaceId)) {
        e.kind = Namespace_Entry_Kind.CAPABILITY;
      } else {
        e.kind = (st.qid.type & QTDIR) !== 0 ? Namespace_Entry_Kind.DIRECTORY : Namespace_Entry_Kind.FILE;
      }
      if (bound !== undefined) {
        e.interfaceId = bound.interfaceId;
        e.label = bound.label;
      }
      const q = e._initQid();
      q.type = st.qid.type;
      q.version = st.qid.version;
      q.path = st.qid.path;
    });
  }

  async #readDir(path: string): Promise<Stat[]> {
    const file = await this.#walkTo(path);
    try {
      await file.open({ access: 'read' });
      const out: Stat[] = [];
      for (;;) {
        const page = await file.readDir(out.length, 1024);
        if (page.length === 0) return out;
        out.push(...page);
      }
    } finally {
      await file.clunk();
    }
  }

  /**
   * A File (ours to clunk) for `path` in the namespace's file tree, and where it really is
   * (a link followed inside a member shows as its target).
   */
  async #walkTo(path: string): Promise<File> {
    return (await this.#walkWhere(path)).file;
  }

  async #walkWhere(path: string): Promise<{ file: File; path: string }> {
    const { root } = await this.#files().attach('');
    let file: File = root;
    let where = '/';
    try {
      const names = components(this.#table.lookup(path).path);
      // File.walk takes at most 16 names at a time (MAXWELEM).
      for (let i = 0; i === 0 || i < names.length; i += 16) {
        const w = await file.walk(names.slice(i, i + 16));
        await file.clunk();
        if (w.file === undefined) throw w.error;
        file = w.file;
        where = w.path ?? where;
      }
      return { file, path: where };
    } catch (e) {
      await file.clunk();
      throw e;
    }
  }

  async members(params: Namespace_Members$Params, results: Namespace_Members$Results): Promise<void> {
    const res = results._initResult();
    try {
      const stack = this.#table.members(params.path);
      const list = res._initMembers(stack.length);
      stack.forEach((b, i) => {
        const m = list.get(i);
        m.interfaceId = b.member.interfaceId;
        m.label = b.member.label;
        m.create = b.create;
      });
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async walk(params: Namespace_Walk$Params, results: Namespace_Walk$Results, ctx?: CallContext): Promise<void> {
    const remote = ctx === undefined ? undefined : await this.#remote(params.path, ctx);
    if (remote !== undefined && ctx !== undefined) {
      try {
        return await ctx.tailCall(remote.ns, (ns) =>
          ns.walk((p) => {
            p.path = remote.path;
          }),
        );
      } finally {
        release(remote.ns);
      }
    }
    const res = results._initResult();
    try {
      const { file, path } = await this.#walkWhere(params.path);
      res._initQids(0);
      res.file = serveFile(file);
      res.path = path;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async sub(params: Namespace_Sub$Params, results: Namespace_Sub$Results): Promise<void> {
    const res = results._initResult();
    try {
      const view = this.#table.sub(params.prefix, params.readOnly);
      res.ns = serve(NamespaceIface, new NamespaceTarget(view, this.#holder));
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async fork(_params: Namespace_Fork$Params, results: Namespace_Fork$Results): Promise<void> {
    const table = this.#table.fork();
    const holder = new Holder(this.#family, table);
    try {
      holder.adopt();
    } catch (e) {
      // fork has no result union: a full quota is the overload it is.
      throw new RpcError('overloaded', (e as Error).message);
    }
    results.ns = serve(NamespaceIface, new NamespaceTarget(table, holder));
  }

  async describe(_params: Namespace_Describe$Params, results: Namespace_Describe$Results): Promise<void> {
    results.text = this.#table.describe();
  }

  async apply(params: Namespace_Apply$Params, results: Namespace_Apply$Results): Promise<void> {
    await outcome(results._initResult(), () => {
      const text = params.text;
      const max = this.#family.options.maxApplyBytes ?? DEFAULT_MAX_APPLY_BYTES;
      if (Buffer.byteLength(text, 'utf8') > max) throw new NsError('NS_ERR_TOO_LARGE', `namespace text over ${max} bytes`);
      // `mount` lines name capabilities this view shows, by label, each as the view shows
      // it: a member seen below a path (the view's root inside a file tree) stays below it.
      const byLabel = new Map<string, MountSource<Client>>();
      for (const mp of this.#table.mounts()) {
        for (const b of mp.stack) {
          if (!byLabel.has(b.member.label)) byLabel.set(b.member.label, { member: b.member, spec: b.spec });
        }
      }
      this.#holder.mutate(this.#table, () => this.#table.apply(text, { resolve: (label) => byLabel.get(label) }));
    });
  }

  /** The last reference to this Namespace capability is gone. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#holder.closed();
  }
}

/**
 * Serves `table` as a Namespace capability. Takes ownership of `table` and of the
 * capabilities its members hold (`cap` is a capnp-es Client reference each, one per
 * distinct Client however many bindings show it); each is released when no namespace of
 * the family (this one, its forks and sub views) shows it any more. The caller owns the
 * returned client.
 * @throws NsError NS_ERR_BUSY when `table` alone is over the quota or the owner holds its
 *   `maxNamespaces`, NS_ERR_REVOKED when the owner has ended (its capabilities are
 *   released either way).
 */
export function serveNamespace(table: MountTable<Client>, options: NamespaceServerOptions = {}): Namespace$Client & Disposable {
  const family = new Family(options, options.owner);
  const holder = new Holder(family, table);
  let counted = false;
  try {
    options.owner?.adopt();
    counted = true;
    holder.adopt();
  } catch (e) {
    if (counted) options.owner?.forget();
    const caps = new Set<Client>();
    table.forEachBinding((b) => caps.add(b.member.cap));
    for (const c of caps) release(c);
    throw e;
  }
  // adopt() counted one binding per binding; the caller gave one reference per distinct
  // capability, which is what the family owns.
  openFamilies++;
  return serve(NamespaceIface, new NamespaceTarget(table, holder));
}
