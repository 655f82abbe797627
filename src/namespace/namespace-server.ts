/**
 * The Namespace capability (schema/namespace.capnp) served over a MountTable whose
 * members are RPC capabilities.
 *
 * A family of Namespace capabilities — one namespace, its `fork`s and `sub` views —
 * shares one `CapHolder`: it keeps a reference to every capability bound into any of
 * them, and releases them all when the last Namespace capability of the family is
 * released. Persistent tables share bindings between forks, so per-binding reference
 * counts would have to be kept across every fork; holding per family is simple and
 * bounded by the binds a client makes (the server bounds those with `maxBinds`).
 *
 * FileServer members are walked and listed through RemoteFileServer (which works for a
 * capability in this process too), via NamespaceFileServer: the same file tree the 9P
 * bridge serves.
 */
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import { setFailure } from '../failure.js';
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
import { RemoteFileServer, serveFile } from '../fileserver/file-server-rpc.js';
import { FileServer as FileServerIface } from '../gen/fileserver.js';
import { dupClient, release, serve, type CallContext } from '../rpc/index.js';
import { FILE_SERVER_INTERFACE_ID, NAMESPACE_INTERFACE_ID, isContainer } from './interfaces.js';
import { MountTable, type Member, type Position } from './mount-table.js';
import { NamespaceFileServer } from './namespace-file-server.js';

/** Limits of one Namespace family, each with a safe default. */
export interface NamespaceServerOptions {
  /** Capabilities a family may hold through binds (NS_ERR_BUSY beyond). Default 10000. */
  readonly maxBinds?: number;
  /** Bytes of namespace text `apply` accepts (NS_ERR_TOO_LARGE beyond). Default 1 MiB. */
  readonly maxApplyBytes?: number;
  /**
   * Called once, after the family's last Namespace capability is released (by the
   * client, or by the RPC layer when the connection ends) and its capabilities with it.
   */
  readonly onClose?: () => void;
}

const DEFAULT_MAX_BINDS = 10_000;
const DEFAULT_MAX_APPLY_BYTES = 1 << 20;


/**
 * The capabilities a Namespace family holds. Each bound capability is one reference of
 * ours; `close()` releases them all.
 */
class CapHolder {
  readonly #held: Client[] = [];
  readonly #fileServers = new Map<Client, RemoteFileServer>();
  readonly #maxBinds: number;
  readonly #onClose: (() => void) | undefined;
  #servers = 0;

  constructor(maxBinds: number, onClose: (() => void) | undefined) {
    this.#maxBinds = maxBinds;
    this.#onClose = onClose;
  }

  /** Keeps a new reference to `client` for the family's lifetime and returns it. */
  hold(client: Client): Client {
    if (this.#held.length >= this.#maxBinds) {
      throw new NsError('NS_ERR_BUSY', `this namespace already holds ${this.#maxBinds} capabilities`);
    }
    const own = dupClient(client);
    this.#held.push(own);
    return own;
  }

  /** Adopts a reference the caller owns (it is released with the family). */
  adopt(client: Client): Client {
    this.#held.push(client);
    return client;
  }

  fileServer(member: Member<Client>): FileServer | undefined {
    if (member.interfaceId !== FILE_SERVER_INTERFACE_ID) return undefined;
    let fs = this.#fileServers.get(member.cap);
    if (fs === undefined) {
      fs = new RemoteFileServer(new FileServerIface.Client(dupClient(member.cap)));
      this.#fileServers.set(member.cap, fs);
    }
    return fs;
  }

  opened(): void {
    this.#servers++;
  }

  /** One Namespace capability of the family is gone; the last one releases everything. */
  closed(): void {
    if (--this.#servers > 0) return;
    for (const fs of this.#fileServers.values()) fs.close();
    this.#fileServers.clear();
    for (const c of this.#held.splice(0)) release(c);
    try {
      this.#onClose?.();
    } catch {
      // A disposer's callback never throws out of it.
    }
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

/**
 * One Namespace capability: a MountTable (a whole namespace, a fork, or a sub view) and
 * the family's CapHolder. Concurrency: calls may interleave at their awaits; every
 * mutation of the table is synchronous, so each one is atomic.
 */
class NamespaceTarget implements Namespace$Server$Target {
  readonly #table: MountTable<Client>;
  readonly #holder: CapHolder;
  readonly #options: NamespaceServerOptions;
  #disposed = false;

  constructor(table: MountTable<Client>, holder: CapHolder, options: NamespaceServerOptions) {
    this.#table = table;
    this.#holder = holder;
    this.#options = options;
    holder.opened();
  }

  #files(): NamespaceFileServer<Client> {
    return new NamespaceFileServer(this.#table, { fileServer: (m) => this.#holder.fileServer(m) });
  }

  /**
   * When `path` lies inside a Namespace member (an imported namespace) — the first
   * candidate of the deepest mount point is one and something is left of the path —
   * that member and the path to ask it for. Undefined otherwise, or when the path does
   * not resolve (the caller's own code reports that).
   */
  #remote(path: string): { ns: Namespace$Client; path: string } | undefined {
    let r;
    try {
      r = this.#table.resolve(path);
    } catch {
      return undefined;
    }
    const b = r.binding;
    if (b.member.interfaceId !== NAMESPACE_INTERFACE_ID || (r.rest === '' && b.spec === '')) return undefined;
    const rest = b.spec === '' ? r.rest : r.rest === '' ? b.spec : `${b.spec}/${r.rest}`;
    // A reference of its own for the forwarded call; released once the call is made.
    return { ns: new NamespaceIface.Client(dupClient(b.member.cap)), path: `/${rest}` };
  }

  async resolve(params: Namespace_Resolve$Params, results: Namespace_Resolve$Results, ctx?: CallContext): Promise<void> {
    const remote = ctx === undefined ? undefined : this.#remote(params.path);
    if (remote !== undefined && ctx !== undefined) {
      // Resolution continues in the imported namespace, as a tail call: the caller's
      // calls pipelined on the result go straight on to the remote answer.
      const expected = params.expectedInterface;
      try {
        return await ctx.tailCall(remote.ns, (ns) =>
          ns.resolve((p) => {
            p.path = remote.path;
            p.expectedInterface = expected;
          }),
        );
      } finally {
        release(remote.ns);
      }
    }
    const res = results._initResult();
    try {
      const expected = params.expectedInterface;
      const r = this.#table.resolve(params.path, expected === 0n ? undefined : expected);
      const ok = res._initOk();
      const member = r.binding.member;
      // The result gets a reference of its own; the message owns it from here.
      const capId = results.segment.message.addCap(dupClient(member.cap));
      $.utils.setInterfacePointer(capId, ok.cap);
      ok.interfaceId = member.interfaceId;
      ok.label = member.label;
      const spec = r.binding.spec;
      ok.rest = spec === '' ? r.rest : r.rest === '' ? spec : `${spec}/${r.rest}`;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async bind(params: Namespace_Bind$Params, results: Namespace_Bind$Results): Promise<void> {
    await outcome(results._initResult(), () => {
      const client = $.utils.getInterfaceClientOrNull(params.cap);
      if (client === null) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'bind of a null capability');
      const label = params.label === '' ? `cap${params.interfaceId.toString(16)}` : params.label;
      const options = { position: positionOf(params.position), create: params.create };
      // Validate against the table before taking a reference, so a refused bind holds nothing.
      const probe = this.#table.fork();
      probe.bind(params.path, { cap: client, interfaceId: params.interfaceId, label }, options);
      this.#table.bind(params.path, { cap: this.#holder.hold(client), interfaceId: params.interfaceId, label }, options);
    });
  }

  async bindPath(params: Namespace_BindPath$Params, results: Namespace_BindPath$Results): Promise<void> {
    await outcome(results._initResult(), () => {
      this.#table.bindPath(params.from, params.to, { position: positionOf(params.position), create: params.create });
    });
  }

  async unmount(params: Namespace_Unmount$Params, results: Namespace_Unmount$Results): Promise<void> {
    await outcome(results._initResult(), () => {
      this.#table.unmount(params.path, params.label === '' ? undefined : params.label);
    });
  }

  async list(params: Namespace_List$Params, results: Namespace_List$Results, ctx?: CallContext): Promise<void> {
    const remote = ctx === undefined ? undefined : this.#remote(params.path);
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

  /** A File (ours to clunk) for `path` in the namespace's file tree. */
  async #walkTo(path: string): Promise<File> {
    const { root } = await this.#files().attach('');
    let file: File = root;
    try {
      const names = components(this.#table.lookup(path).path);
      // File.walk takes at most 16 names at a time (MAXWELEM).
      for (let i = 0; i === 0 || i < names.length; i += 16) {
        const w = await file.walk(names.slice(i, i + 16));
        await file.clunk();
        if (w.file === undefined) throw w.error;
        file = w.file;
      }
      return file;
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
    const remote = ctx === undefined ? undefined : this.#remote(params.path);
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
      const file = await this.#walkTo(params.path);
      res._initQids(0);
      res.file = serveFile(file);
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async sub(params: Namespace_Sub$Params, results: Namespace_Sub$Results): Promise<void> {
    const res = results._initResult();
    try {
      const view = this.#table.sub(params.prefix, params.readOnly);
      res.ns = serve(NamespaceIface, new NamespaceTarget(view, this.#holder, this.#options));
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async fork(_params: Namespace_Fork$Params, results: Namespace_Fork$Results): Promise<void> {
    results.ns = serve(NamespaceIface, new NamespaceTarget(this.#table.fork(), this.#holder, this.#options));
  }

  async describe(_params: Namespace_Describe$Params, results: Namespace_Describe$Results): Promise<void> {
    results.text = this.#table.describe();
  }

  async apply(params: Namespace_Apply$Params, results: Namespace_Apply$Results): Promise<void> {
    await outcome(results._initResult(), () => {
      const text = params.text;
      const max = this.#options.maxApplyBytes ?? DEFAULT_MAX_APPLY_BYTES;
      if (Buffer.byteLength(text, 'utf8') > max) throw new NsError('NS_ERR_TOO_LARGE', `namespace text over ${max} bytes`);
      // `mount` lines name capabilities this namespace already holds, by label.
      const byLabel = new Map<string, Member<Client>>();
      for (const mp of this.#table.mounts()) for (const b of mp.stack) if (!byLabel.has(b.member.label)) byLabel.set(b.member.label, b.member);
      this.#table.apply(text, { resolve: (label) => byLabel.get(label) });
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
 * capabilities its members hold (`cap` is a capnp-es Client reference each; they are
 * released when the last Namespace capability of the family — this one, its forks and
 * sub views — is released). The caller owns the returned client.
 */
export function serveNamespace(table: MountTable<Client>, options: NamespaceServerOptions = {}): Namespace$Client & Disposable {
  const holder = new CapHolder(options.maxBinds ?? DEFAULT_MAX_BINDS, options.onClose);
  // One reference per capability, however many bindings (aliases) show it.
  const caps = new Set<Client>();
  for (const mp of table.mounts()) for (const b of mp.stack) caps.add(b.member.cap);
  for (const c of caps) holder.adopt(c);
  return serve(NamespaceIface, new NamespaceTarget(table, holder, options));
}
