/**
 * Live sessions: every namespace `capns serve` has handed to a connection (RPC Gate
 * clients, 9P listeners, HTTP sessions, export peers), so that the sessions tree
 * (sessions-file-server.ts) can show and rewrite them, as ANTS's writable /proc/N/ns does.
 *
 * The registry is an object the composition root (src/server) makes and feeds; nothing
 * here is module-level state. A session is reached only through the capability its
 * connection holds (`SessionNamespace`): a write to its `ns` is an `apply` on that very
 * capability, so it meets every check the session's own calls meet (its profile's
 * declarations, its view's root, read-only flag and filter).
 */
import type { Client } from 'capnp-es';
import * as $ from 'capnp-es';
import { NsError } from '../errors.js';
import { fromFailure, refusalFrom } from '../failure.js';
import { Position as PositionEnum } from '../gen/common.js';
import { Namespace as NamespaceIface, type Namespace$Client } from '../gen/namespace.js';
import type { CapabilityTable, GrantInfo } from '../captable/capability-table.js';
import { grantedNamespace, type GateProfile } from '../captable/gate.js';
import { MountTable, type Member } from '../namespace/mount-table.js';
import { cleanPath } from '../namespace/path.js';
import { diffStack, labelBases, modelOfTable, modelOfText, formatOps, type NsModel, type NsOp } from '../namespace/ns-diff.js';
import { quoteWord } from '../namespace/ns-text.js';
import { borrowClient, dupClient, release } from '../rpc/index.js';

/** How a session reached capns. */
export type SessionKind = 'rpc' | '9p' | 'http' | 'export';

/** What the registry may do to a session's namespace: what the session itself could do. */
export interface SessionNamespace {
  /** The namespace as namespace(6) text (Namespace.describe). */
  describe(): Promise<string>;
  /** Namespace.apply: all lines or none. @throws NsError naming the line. */
  apply(text: string): Promise<void>;
  /** Namespace.bind of `member.cap` (the caller's reference; the namespace takes its own). */
  bind(path: string, member: Member<Client>): Promise<void>;
  /** Namespace.unmount of everything at `path`. */
  unmount(path: string): Promise<void>;
  /** Lets go of the namespace (the session ended). Never throws. */
  close(): void;
}

/** A Namespace capability as a SessionNamespace. Takes ownership of `ns`. */
export function rpcSessionNamespace(ns: Namespace$Client): SessionNamespace {
  return new RpcSessionNamespace(ns);
}

/**
 * A Namespace capability as a SessionNamespace that does not keep it alive (rpc's
 * `borrowClient`): the session must end (Session.end) as soon as the namespace's owner
 * lets go of it, and its grants leave then. A connection's sessions borrow their
 * namespaces: holding them kept every namespace a connection authenticated for, and
 * their grants, until the connection ended, however often the client let go of them.
 */
export function borrowedSessionNamespace(ns: Namespace$Client): SessionNamespace {
  return new RpcSessionNamespace(new NamespaceIface.Client(borrowClient(ns.client)));
}

/**
 * rpcSessionNamespace's. A class, not an object of closures: one is kept per RPC
 * connection, and six closures with their context were 400 bytes of each.
 */
class RpcSessionNamespace implements SessionNamespace {
  #live: Namespace$Client | null;

  constructor(ns: Namespace$Client) {
    this.#live = ns;
  }

  #get(): Namespace$Client {
    if (this.#live === null) throw new NsError('NS_ERR_NOT_FOUND', 'the session has ended');
    return this.#live;
  }

  async describe(): Promise<string> {
    try {
      return (await this.#get().describe().promise()).text;
    } catch (e) {
      throw refusalFrom(e);
    }
  }

  async apply(text: string): Promise<void> {
    const r = (
      await this.#get()
        .apply((p) => {
          p.text = text;
        })
        .promise()
    ).result;
    if (r._isErr) throw fromFailure(r.err);
  }

  async bind(path: string, member: Member<Client>): Promise<void> {
    const r = (
      await this.#get()
        .bind((p) => {
          p.path = path;
          // Lent to the call (the namespace takes a reference of its own): a capability
          // in a call's params stays the caller's.
          $.utils.setInterfacePointer(p.segment.message.addCap(member.cap), p.cap);
          p.interfaceId = member.interfaceId;
          p.label = member.label;
          p.position = PositionEnum.REPLACE;
          p.create = false;
        })
        .promise()
    ).result;
    if (r._isErr) throw fromFailure(r.err);
  }

  async unmount(path: string): Promise<void> {
    const r = (
      await this.#get()
        .unmount((p) => {
          p.path = path;
          p.label = '';
        })
        .promise()
    ).result;
    if (r._isErr) throw fromFailure(r.err);
  }

  close(): void {
    release(this.#live);
    this.#live = null;
  }
}

/**
 * A namespace held as a plain table (a 9P listener's tree): applies run on the table
 * itself, labels naming what it shows. Capabilities bound into it are taken; `release`
 * is told of each one when the session ends (with those the table held at first, which
 * the caller releases).
 */
export function tableSessionNamespace(table: MountTable<Client>, onClose: (bound: readonly Client[]) => void): SessionNamespace {
  const bound: Client[] = [];
  let closed = false;
  return {
    async describe() {
      return table.describe();
    },
    async apply(text) {
      const bases = new Map<string, { member: Member<Client>; spec: string }>();
      for (const mp of table.mounts()) for (const b of mp.stack) if (!bases.has(b.member.label)) bases.set(b.member.label, { member: b.member, spec: b.spec });
      table.apply(text, { resolve: (label) => bases.get(label) });
    },
    async bind(path, member) {
      const own = dupClient(member.cap);
      try {
        table.bind(path, { ...member, cap: own });
      } catch (e) {
        release(own);
        throw e;
      }
      bound.push(own);
    },
    async unmount(path) {
      table.unmount(path);
    },
    close() {
      if (closed) return;
      closed = true;
      onClose(bound);
    },
  };
}

/** What the composition root tells the registry of a new session. */
export interface SessionInit {
  readonly kind: SessionKind;
  readonly profile: string;
  /** The capability table's holder name of its grants (e.g. "alice@rpc#3"). */
  readonly holder: string;
  /** The connection its grants count against (default: the holder). */
  readonly connection?: string;
  /**
   * Who is at the other end, e.g. "tcp!127.0.0.1!40312"; or what tells it when asked (an
   * RPC connection's Peer reads its socket's address only then).
   */
  readonly peer: string | { readonly address: string };
  /** The session's namespace; the registry owns it from here (closed when the session ends). */
  readonly ns: SessionNamespace;
  /**
   * Cuts the session's connection: a function, or what has a `hangup` method (an RPC
   * connection's Peer: no closure per session); undefined where that cannot be done alone.
   */
  readonly hangup?: ((reason: string) => void) | { hangup(reason: string): void };
}

/** A live session. */
export class Session {
  /** When it started (Date.now(): a Date is 96 bytes, kept for each connection). */
  readonly #started = Date.now();
  #ended = false;
  /** The message of the last failed write to `ns` (9P can carry only an errno). */
  lastError = '';

  constructor(
    readonly id: number,
    readonly init: SessionInit,
    readonly registry: SessionRegistry,
  ) {}

  /** When it started. */
  get started(): Date {
    return new Date(this.#started);
  }

  get kind(): SessionKind {
    return this.init.kind;
  }

  get profile(): string {
    return this.init.profile;
  }

  get holder(): string {
    return this.init.holder;
  }

  get peer(): string {
    const p = this.init.peer;
    return typeof p === 'string' ? p : p.address;
  }

  get ns(): SessionNamespace {
    return this.init.ns;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The grants the session holds, with their call counts. */
  grants(): GrantInfo[] {
    return this.registry.captable.list(this.holder);
  }

  /** Revokes every grant of the session: its next call through any fails `revoked`. */
  revoke(): number {
    return this.registry.captable.revokeHolder(this.holder);
  }

  /** Cuts the connection. @throws NsError NS_ERR_PERMISSION where that cannot be done. */
  hangup(reason = 'hung up through the sessions tree'): void {
    if (this.init.hangup === undefined) {
      throw new NsError('NS_ERR_PERMISSION', `a ${this.kind} session cannot be hung up alone (its namespace is shared by every connection of ${this.peer})`);
    }
    const h = this.init.hangup;
    if (typeof h === 'function') h(reason);
    else h.hangup(reason);
  }

  /** The session is over: it leaves the registry and lets go of its namespace. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.registry.forget(this);
    this.init.ns.close();
  }
}

/** Options of the registry. */
export interface SessionRegistryOptions {
  readonly captable: CapabilityTable;
  /** The profiles now (a reload changes them), for reroot and the profiles' texts. */
  readonly profiles: () => ReadonlyMap<string, GateProfile>;
  /** Sessions at once (further ones are served, but not listed). Default 65536. */
  readonly maxSessions?: number;
}

/** The live sessions of one `capns serve`. */
export class SessionRegistry {
  readonly #sessions = new Map<number, Session>();
  #next = 1;
  #untracked = 0;

  constructor(readonly options: SessionRegistryOptions) {}

  get captable(): CapabilityTable {
    return this.options.captable;
  }

  /**
   * Records a session; the caller calls `end()` on the result when its connection ends.
   * Over `maxSessions` the session is served but not listed (and counted in `untracked`).
   */
  add(init: SessionInit): Session {
    const s = new Session(this.#next++, init, this);
    if (this.#sessions.size >= (this.options.maxSessions ?? 65536)) this.#untracked++;
    else this.#sessions.set(s.id, s);
    return s;
  }

  /** @internal Session.end's. */
  forget(s: Session): void {
    this.#sessions.delete(s.id);
  }

  /** Sessions not listed because the registry was full. */
  get untracked(): number {
    return this.#untracked;
  }

  /** The live sessions, oldest first. */
  list(): Session[] {
    return [...this.#sessions.values()];
  }

  get(id: number): Session | undefined {
    return this.#sessions.get(id);
  }

  /** A profile's namespace as namespace(6) text. @throws NsError NS_ERR_NOT_FOUND. */
  profileText(name: string): string {
    return this.#profile(name).table.describe();
  }

  /** Profile names now. */
  profileNames(): string[] {
    return [...this.options.profiles().keys()];
  }

  #profile(name: string): GateProfile {
    const p = this.options.profiles().get(name);
    if (p === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no profile '${name}'`);
    return p;
  }

  /**
   * rerootwin: replaces the root of `session`'s namespace by `source` in one apply,
   * keeping the paths in `keep` (and everything mounted below them) as they are.
   * A path to keep that lies inside a mount is first bound onto itself (`bind k k`), so
   * it stays when what holds it goes. A profile's capabilities are granted to the
   * session's holder and bound under `/.reroot/N` first, so that its namespace text can
   * name them; the one apply that replaces the root unmounts them from there.
   * Returns the lines applied.
   * @throws NsError: a bad path to keep, an unknown profile or label, what the apply
   *   refuses (nothing changed then; the staged grants are unmounted again).
   */
  async reroot(session: Session, source: RerootSource, keep: readonly string[]): Promise<string> {
    const kept = keep.map((k) => {
      const c = cleanPath(k);
      if (c === '/') throw new NsError('NS_ERR_INVALID_ARGUMENT', "keeping '/' would keep everything: name the paths to keep");
      return c;
    });
    const covered = (p: string): boolean => kept.some((k) => p === k || p.startsWith(`${k}/`));
    const staged: string[] = [];
    try {
      let target: NsModel;
      if (source.kind === 'profile') {
        const profile = this.#profile(source.name);
        const granted = grantedNamespace(profile, this.captable, session.holder, session.init.connection ?? session.holder);
        const caps = new Map<string, Member<Client>>();
        for (const mp of granted.mounts()) for (const b of mp.stack) caps.set(b.member.label, b.member);
        try {
          let i = 0;
          for (const m of caps.values()) {
            const at = `/.reroot/${session.id}.${i++}`;
            await session.ns.bind(at, m);
            staged.push(at);
          }
        } finally {
          for (const m of caps.values()) release(m.cap);
        }
        target = modelOfTable(granted);
      } else if (source.kind === 'mount') {
        target = modelOfText(`mount ${quoteWord(source.label)} / ${quoteWord(source.spec)}\n`);
      } else {
        target = modelOfText(source.text);
      }
      const current = modelOfText(await session.ns.describe());
      const lines: string[] = [];
      for (const k of kept) {
        // A mount point stays as it is; a directory of mount points keeps those below it.
        const paths = [...current.keys()];
        if (current.has(k) || paths.some((p) => p.startsWith(`${k}/`))) continue;
        const holder = paths.some((p) => p === '/' || k.startsWith(`${p}/`));
        if (holder) lines.push(`bind ${quoteWord(k)} ${quoteWord(k)}`);
      }
      const bases = labelBases(current);
      const ops: NsOp[] = [];
      const paths = new Set([...current.keys(), ...target.keys()]);
      for (const p of [...paths].sort()) {
        if (covered(p)) continue;
        ops.push(...diffStack(p, current.get(p) ?? [], target.get(p) ?? [], bases));
      }
      // Unmounts first: a label that moves is never shown twice on the way.
      ops.sort((a, b) => (a.op === b.op ? 0 : a.op === 'unmount' ? -1 : 1));
      const text = (lines.length > 0 ? `${lines.join('\n')}\n` : '') + formatOps(ops);
      await session.ns.apply(text);
      return text;
    } catch (e) {
      for (const at of staged) await session.ns.unmount(at).catch(() => undefined);
      throw e;
    }
  }
}

/** What a session is rerooted onto. */
export type RerootSource =
  | { readonly kind: 'profile'; readonly name: string }
  | { readonly kind: 'mount'; readonly label: string; readonly spec: string }
  | { readonly kind: 'text'; readonly text: string };
