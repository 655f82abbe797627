/**
 * The capability table process: everything `capns serve` runs, built from a Manifest.
 *
 *   manifest capabilities -> instances (ram, dir, demo, captable), one capability each
 *   manifest profiles     -> a MountTable per profile, built by its steps in order
 *   rpc listeners         -> each connection bootstraps a Gate: credentials in, a fork of
 *                            the profile's namespace out, every capability a fresh grant
 *   9p listeners          -> the namespace file tree of one profile, for 9P clients
 *   http listeners        -> the admin API, JSON gateway and web page (src/admin), one
 *                            session namespace per profile, granted like a Gate client's
 *
 * Constructed by `startCapnsServer` (which listens); the CLI is the only caller that
 * reads argv/env and installs signal handlers.
 */
import { mkdir, readFile } from 'node:fs/promises';
import type net from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Client } from 'capnp-es';
import type { Logger } from 'pino';
import { buildAdminApp, HostPolicy, type AdminProfile, type AdminSession } from '../admin/app.js';
import { errorBody } from '../admin/error-handler.js';
import { RateLimitedLog } from '../rate-limited-log.js';
import { dropAtAccept } from '../accepted-reads.js';
import {
  ConnectionBudget,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_TOTAL,
  DEFAULT_EVICT_AFTER_MS,
  type BudgetLimits,
  type ListenerBudget,
  type Watched,
} from './connection-budget.js';
import { CapnsClient } from '../client/capns-client.js';
import { NsError } from '../errors.js';
import { NinepServer } from '../fileserver/9p/server.js';
import { newDirFileServer } from '../fileserver/dir-file-server.js';
import { RemoteFileServer, serveFileServer } from '../fileserver/file-server-rpc.js';
import type { FileServer } from '../fileserver/file-server.js';
import { MemFileServer } from '../fileserver/mem-file-server.js';
import { CapTable } from '../gen/captable.js';
import { Clock, Echo } from '../gen/demo.js';
import { File as FileIface, FileServer as FileServerIface } from '../gen/fileserver.js';
import { Gate, Namespace, type Namespace$Client } from '../gen/namespace.js';
import { Introspect, Srv } from '../gen/services.js';
import { addressesConflict, formatAddress, isLoopback, type Address } from '../manifest/address.js';
import { canonical, diffManifests } from '../manifest/diff.js';
import type { Capability, ClientTls, Export, Listener, Manifest, Profile, ServiceCapability, SrvCapability } from '../manifest/types.js';
import { formatInterfaceRef } from '../manifest/interfaces.js';
import type { InterfaceRef } from '../manifest/interfaces.js';
import { FILE_SERVER_INTERFACE_ID, NAMESPACE_INTERFACE_ID } from '../namespace/interfaces.js';
import { RemoteNamespaceFileServer } from '../namespace/remote-namespace-file-server.js';
import { MountTable } from '../namespace/mount-table.js';
import { NamespaceOwner, openNamespaces, serveNamespace } from '../namespace/namespace-server.js';
import { NamespaceFileServer } from '../namespace/namespace-file-server.js';
import { parseExportFilter, type ExportFilter } from '../proxy/export-policy.js';
import { startExport, type Exporter } from '../proxy/exporter.js';
import { startImport, type ImportEvent, type ImportStatus } from '../proxy/importer.js';
import { dupClient, listen, release, RpcError, type RpcConnection, type RpcLimits, type RpcListener } from '../rpc/index.js';
import { CapabilityTable, serveCapTable, type ExportInfo, type ExportRegistry } from '../captable/capability-table.js';
import { newClock } from './demo-services.js';
import { listenerAccess, ninepTokens, type ListenerAccess } from './listener-access.js';
import { Board, type DeclaredName, connectorOptions, introspectionFrom, loadSchemaFiles, ServiceProcess, serviceOptions, startConnector } from '../services/index.js';
import { describeInterface, JsonCodec, SchemaIndex, SchemaSet } from '../reflect/index.js';
import { grantedNamespace, serveGate, type GateOptions, type GateProfile } from '../captable/gate.js';
import { borrowedSessionNamespace, rpcSessionNamespace, SessionRegistry, tableSessionNamespace, type Session } from '../ants/session-registry.js';
import { newSessionsFileServer } from '../ants/sessions-file-server.js';
import { Hub } from '../ants/hub.js';
import { DEFAULT_RECLAIM, Reclaimer } from './reclaim.js';
import { newHubFileServer, serveHub } from '../ants/hub-server.js';
import { Hub as HubIface } from '../gen/hub.js';

/** Interface ids by schema name, from the generated code. */
const INTERFACE_IDS: ReadonlyMap<string, bigint> = new Map([
  ['FileServer', FileServerIface.Client.interfaceId],
  ['File', FileIface.Client.interfaceId],
  ['Namespace', Namespace.Client.interfaceId],
  ['Gate', Gate.Client.interfaceId],
  ['CapTable', CapTable.Client.interfaceId],
  ['Hub', HubIface.Client.interfaceId],
  ['Clock', Clock.Client.interfaceId],
  ['Echo', Echo.Client.interfaceId],
  ['Srv', Srv.Client.interfaceId],
  ['Introspect', Introspect.Client.interfaceId],
]);

/**
 * The interface id an InterfaceRef names: capns's own interfaces by name, the others from
 * `schemas` (the manifest's). @throws NsError for an unknown name.
 */
export function interfaceIdOf(ref: InterfaceRef, schemas?: SchemaSet): bigint {
  if (ref.id !== undefined) return ref.id;
  const id = ref.name === undefined ? undefined : INTERFACE_IDS.get(ref.name);
  if (id !== undefined) return id;
  if (schemas !== undefined && ref.name !== undefined) return schemas.interfaceId(ref.name);
  throw new NsError('NS_ERR_INVALID_ARGUMENT', `unknown interface '${ref.name ?? '?'}'`);
}

/** One capability instance: a reference the server holds for its whole life. */
interface Instance {
  readonly client: Client;
  readonly interfaceId: bigint;
  readonly close: () => Promise<void> | void;
  /** An import's status (`type: import` only). */
  readonly importStatus?: () => ImportStatus;
  /** What `NAME/PART` mounts: a service's offers, a srv board's names. */
  readonly parts?: ReadonlyMap<string, { readonly client: Client; readonly interfaceId: bigint }>;
  /** Runs once the profiles are built (a service's program needs its namespace). */
  readonly start?: () => void;
  /** A service's state, for status and tests. */
  readonly service?: ServiceProcess;
}

/** What `capns serve` is listening on, for printing. */
export interface ServedAddress {
  /** `export`: an exports entry (RPC; the bootstrap is the export's Gate). */
  readonly protocol: Listener['protocol'] | 'export';
  readonly address: string;
  readonly profile?: string;
}

/** Options of the process. */
export interface CapnsServerOptions {
  readonly manifest: Manifest;
  readonly logger: Logger;
  /** How long close() waits for connections to drain before cutting them (default 5 s). */
  readonly drainMs?: number;
  /** Filters of `exports` entries, by index in `manifest.exports` (`capns export --filter`). */
  readonly exportFilters?: ReadonlyMap<number, ExportFilter>;
  /** Heartbeat period of `import` capabilities without one of their own (default: the importer's, 250 ms). */
  readonly importHeartbeatMs?: number;
  /** Told of every import's events (after they are logged), by capability name. Must not throw. */
  readonly onImportEvent?: (name: string, event: ImportEvent, status: ImportStatus) => void;
  /**
   * What every `service` program's environment holds besides the manifest's `env` (the
   * CLI passes its PATH; default: PATH=/usr/local/bin:/usr/bin:/bin).
   */
  readonly serviceEnv?: Readonly<Record<string, string>>;
}

/** An open listener, keyed by what identifies it in the manifest (for reload). */
interface OpenListener {
  /** For an export: what the administrator sees of it, and its revocation. */
  readonly export?: { readonly info: () => ExportInfo; readonly revoke: (reason: string) => void };
  readonly key: string;
  readonly served: ServedAddress;
  /** The address the manifest gave (port 0 as given), to find what a new listener displaces. */
  readonly address: Address;
  /** Prepares the same listener again (a reload puts it back when its successor cannot bind). */
  readonly again: () => Promise<PreparedListener>;
  /** A 9P listener's profile was rebuilt: serve the new namespace to new connections. */
  readonly profileRebuilt?: (profile: string) => void;
  /** Connections open now (for metrics); undefined where the listener cannot tell. */
  readonly connections?: () => number;
  /** 9P fids held by its connections (for metrics). */
  readonly fids?: () => number;
  /** Stops accepting and drains. */
  close(): Promise<void>;
  /** Cuts every connection. Never throws. */
  destroy(): void;
}

/**
 * A listener made ready to bind: everything that can fail on the manifest's account
 * (certificates, filter files, the profile, the export's root) is done.
 */
interface PreparedListener {
  /**
   * Binds and serves. Rejects, having released what preparing took, when the address
   * cannot be bound. Called once.
   */
  listen(): Promise<OpenListener>;
}

/** A listener a reload could not open. */
export interface ReloadRefusal {
  /** Which: `rpc tcp!0.0.0.0!5650`, `export tcp!127.0.0.1!5643`. */
  readonly listener: string;
  /** Why, as the error said it. */
  readonly reason: string;
  /**
   * Listeners still open in its place, that the new manifest would have closed: those of
   * the same protocol, or the one at its own address put back.
   */
  readonly kept: string[];
}

/** Connections open on one listener. */
export interface ListenerStats {
  readonly protocol: string;
  readonly address: string;
  readonly connections: number;
}

/** What `CapnsServer.stats()` reports. */
export interface ServerStats {
  readonly listeners: readonly ListenerStats[];
  /** 9P fids held by every 9P connection. */
  readonly fids: number;
  /** Namespaces open in the process (each with its forks and views; namespace-server's openNamespaces). */
  readonly namespaces: number;
}

/** What a reload changed. */
export interface ReloadReport {
  readonly capabilitiesAdded: readonly string[];
  readonly capabilitiesRemoved: readonly string[];
  readonly capabilitiesChanged: readonly string[];
  readonly profilesChanged: readonly string[];
  readonly profilesRemoved: readonly string[];
  readonly listenersOpened: string[];
  readonly listenersClosed: string[];
  /** 9P listeners that serve a rebuilt profile's new namespace to new connections. */
  readonly listenersRefreshed: string[];
  /** Grants revoked because their capability or profile left the manifest. */
  readonly revoked: number;
  /**
   * Listeners (and exports) of the new manifest that could not be opened, and why. The
   * rest of the reload is applied; the listeners they would have replaced stay open.
   */
  readonly refused: ReloadRefusal[];
}

/** The limits of each connection's namespaces (NamespaceOwnerOptions without `refused`). */
type NamespaceLimits = { readonly maxBinds?: number; readonly maxNamespaces?: number };

/**
 * An RPC connection as its listener's budget watches it until it authenticates: a class
 * rather than an object of two closures, as one is kept for each connection.
 */
class WatchedRpc implements Watched {
  constructor(readonly conn: RpcConnection) {}

  established(): boolean {
    return this.conn.isAuthenticated;
  }

  evict(why: string): void {
    void this.conn.close();
    this.conn.destroy(RpcError.withoutStack('overloaded', why));
  }
}

/** The running process. Built by `startCapnsServer`. */
export class CapnsServer implements ExportRegistry {
  readonly captable: CapabilityTable;
  /** Every connection's namespace, for the sessions tree (capability type `sessions`). */
  readonly sessions: SessionRegistry;
  #manifest: Manifest;
  readonly #log: Logger;
  readonly #drainMs: number;
  readonly #instances = new Map<string, Instance>();
  /** The hubs of `hub` capabilities, by name, for the `hubfs` capabilities that show them as files. */
  readonly #hubs = new Map<string, Hub>();
  readonly #profiles = new Map<string, GateProfile>();
  /** Bumped each time a profile's namespace is rebuilt (9P listeners reopen on a change). */
  readonly #generation = new Map<string, number>();
  readonly #listeners = new Map<string, OpenListener>();
  readonly #exportFilters: ReadonlyMap<number, ExportFilter>;
  readonly #importHeartbeatMs: number | undefined;
  readonly #onImportEvent: CapnsServerOptions['onImportEvent'];
  /** Connections of every listener, against limits.maxConnections(Total). */
  readonly #budget: ConnectionBudget;
  /** Export peers refused or over the limit: a peer provokes those at will. */
  readonly #peerLog: RateLimitedLog;
  readonly #serviceEnv: Readonly<Record<string, string>>;
  /** capns's own schema and the manifest's `schemas` (docs/services.md). */
  #schemas = new SchemaSet();
  #closing: Promise<void> | null = null;
  /** RPC connections accepted so far, on every listener (they are named by it). */
  #connections = 0;
  /** Collections once a burst of departures is over (src/server/reclaim.ts). */
  readonly #reclaim: Reclaimer;

  constructor(options: CapnsServerOptions) {
    const l = options.manifest.limits;
    this.#log = options.logger;
    this.#reclaim = new Reclaimer({
      ...DEFAULT_RECLAIM,
      onCollect: (departures, ms, before, after) =>
        this.#log.info(
          { departures, ms: Math.round(ms), heapBefore: before, heapAfter: after },
          `memory reclaimed after ${departures} departures: two full collections ${ms.toFixed(0)} ms, V8 heap in use ${mib(before)} -> ${mib(after)} MiB`,
        ),
    });
    this.captable = new CapabilityTable({
      ...(l.maxGrants !== undefined && { maxGrants: l.maxGrants }),
      ...(l.maxGrantsPerConnection !== undefined && { maxGrantsPerConnection: l.maxGrantsPerConnection }),
      onRemoved: () => this.#reclaim.departed(),
    });
    this.#manifest = options.manifest;
    this.#drainMs = options.drainMs ?? 5000;
    this.#exportFilters = options.exportFilters ?? new Map();
    this.#importHeartbeatMs = options.importHeartbeatMs;
    this.#serviceEnv = options.serviceEnv ?? { PATH: '/usr/local/bin:/usr/bin:/bin' };
    this.#onImportEvent = options.onImportEvent;
    this.#budget = new ConnectionBudget(budgetLimits(options.manifest), (line, count) => this.#log.warn({ refused: count }, line), {
      onFree: () => this.#reclaim.departed(),
    });
    this.#peerLog = new RateLimitedLog((line, count) => this.#log.warn({ count }, line));
    this.sessions = new SessionRegistry({ captable: this.captable, profiles: () => new Map([...this.#profiles].map(([k, p]) => [k, p])) });
  }

  /** Every import capability of the manifest, by name, with its status now. */
  imports(): Array<{ readonly name: string; readonly status: ImportStatus }> {
    const out: Array<{ name: string; status: ImportStatus }> = [];
    for (const [name, inst] of this.#instances) if (inst.importStatus !== undefined) out.push({ name, status: inst.importStatus() });
    return out;
  }

  /** Connections open now in the whole process, as the budget counts them. */
  get connectionCount(): number {
    return this.#budget.open;
  }

  /** What is open now, for metrics: connections per listener, 9P fids and namespaces in all. */
  stats(): ServerStats {
    const listeners: ListenerStats[] = [];
    let fids = 0;
    for (const l of this.#listeners.values()) {
      if (l.connections !== undefined) listeners.push({ protocol: l.served.protocol, address: l.served.address, connections: l.connections() });
      fids += l.fids?.() ?? 0;
    }
    return { listeners, fids, namespaces: openNamespaces() };
  }

  /** The exports served now (CapTable.exports, GET /api/v1/exports). */
  list(): ExportInfo[] {
    return [...this.#listeners.values()].flatMap((l) => (l.export === undefined ? [] : [l.export.info()]));
  }

  /**
   * Revokes the export listening on `address` (CapTable.revokeExport, `capns exports
   * revoke`): everything it handed out fails `revoked`, and no peer gets in until a
   * reload opens it anew. @throws NsError NS_ERR_NOT_FOUND.
   */
  revoke(address: string, reason: string): void {
    const l = [...this.#listeners.values()].find((x) => x.export !== undefined && x.served.address === address);
    if (l?.export === undefined) {
      throw new NsError('NS_ERR_NOT_FOUND', `no export listens on ${address} (exports: ${this.list().map((e) => e.address).join(', ') || 'none'})`);
    }
    l.export.revoke(reason);
    this.#log.warn({ export: address, reason }, 'export revoked');
  }

  /** Where the process listens, in manifest order. */
  get addresses(): ServedAddress[] {
    return [...this.#listeners.values()].map((l) => l.served);
  }

  /** Instantiates capabilities, builds profiles, opens listeners. Undoes it all on failure. */
  async start(): Promise<void> {
    try {
      this.#schemas = await this.#loadSchemas(this.#manifest);
      for (const c of hubsFirst(this.#manifest.capabilities)) this.#instances.set(c.name, await this.#instantiate(c));
      for (const p of this.#manifest.profiles) this.#setProfile(p.name, this.#buildProfile(p, this.#instances));
      for (const inst of this.#instances.values()) inst.start?.();
      for (const l of this.#manifest.listeners) this.#record(await (await this.#prepare(l)).listen());
      for (const [i, e] of this.#manifest.exports.entries()) this.#record(await (await this.#prepareExport(e, i)).listen());
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** The schemas the manifest names, loaded (compiled when they are .capnp sources). */
  async #loadSchemas(m: Manifest): Promise<SchemaSet> {
    const files = m.schemas ?? [];
    const set = await loadSchemaFiles(files, (i) => `${files[i]!.loc.file}:${files[i]!.loc.line}:${files[i]!.loc.column} `);
    for (const src of set.sources) this.#log.info({ schema: src.source, interfaces: src.interfaces.map((id) => set.index.interfaceName(id)) }, 'schema loaded');
    return set;
  }

  /** The schemas the server knows (capns's own and the manifest's). */
  get schemas(): SchemaSet {
    return this.#schemas;
  }

  #setProfile(name: string, profile: GateProfile): void {
    this.#profiles.set(name, profile);
    this.#accessOf = new WeakMap();
    this.#generation.set(name, (this.#generation.get(name) ?? 0) + 1);
  }

  /**
   * Applies `next` differentially (SIGHUP, `capns reload`). New and changed capabilities
   * are instantiated and profiles rebuilt first; if any of that fails, nothing changes
   * and the error is thrown. Then: grants of removed or changed capabilities, and of
   * removed profiles, are revoked live; new connections get the new profiles, while
   * connections already open keep the namespaces they have (as a running Plan 9 process
   * keeps its name space); listeners that left the manifest are closed, new ones opened.
   * Profiles whose steps and capabilities did not change are not touched at all.
   */
  async reload(next: Manifest): Promise<ReloadReport> {
    const old = this.#manifest;
    const diff = diffManifests(old, next);
    const newCaps = new Map(next.capabilities.map((c) => [c.name, c]));
    const { added, removed, changed } = diff.capabilities;
    const fresh = new Map<string, Instance>();
    const rebuilt = new Map<string, GateProfile>();
    const schemasBefore = this.#schemas;
    try {
      // New schemas serve what is instantiated from now on; running capabilities and open
      // sessions keep the schemas they were made with.
      if (canonical(old.schemas ?? []) !== canonical(next.schemas ?? [])) this.#schemas = await this.#loadSchemas(next);
      for (const c of hubsFirst([...added, ...changed].map((name) => newCaps.get(name)!))) fresh.set(c.name, await this.#instantiate(c));
      const instances = new Map(this.#instances);
      for (const name of removed) instances.delete(name);
      for (const [name, inst] of fresh) instances.set(name, inst);
      for (const p of next.profiles) {
        if (diff.profiles.added.includes(p.name) || diff.profiles.changed.includes(p.name)) {
          rebuilt.set(p.name, this.#buildProfile(p, instances));
        } else if (canonical(p.auth) !== canonical(old.profiles.find((q) => q.name === p.name)?.auth)) {
          // Same namespace, other credentials: the Gate reads tokens from the profile.
          rebuilt.set(p.name, { ...this.#profiles.get(p.name)!, tokens: p.auth.tokens, loopback: p.auth.loopback, tlsSubjects: p.auth.tlsSubjects });
        }
      }
    } catch (e) {
      this.#schemas = schemasBefore;
      for (const inst of fresh.values()) await inst.close();
      throw e;
    }
    // Commit: nothing below fails on the manifest's account.
    let revoked = 0;
    const retired: Instance[] = [];
    for (const name of [...removed, ...changed]) {
      revoked += this.captable.revokeLabel(name);
      retired.push(this.#instances.get(name)!);
      this.#instances.delete(name);
    }
    for (const [name, inst] of fresh) this.#instances.set(name, inst);
    const profilesRemoved = [...diff.profiles.removed];
    for (const name of profilesRemoved) {
      revoked += this.captable.revokeHolder(`${name}@`);
      this.#profiles.delete(name);
      this.#accessOf = new WeakMap();
    }
    // A profile that lost a token (or loopback access): the holders are not told apart by
    // the credential they used, so every live grant of the profile is revoked; clients
    // holding a credential that is still valid authenticate again.
    for (const r of diff.revoked) if (!profilesRemoved.includes(r.profile)) revoked += this.captable.revokeHolder(`${r.profile}@`);
    for (const [name, profile] of rebuilt) this.#setProfile(name, profile);
    this.#manifest = next;
    // New and changed services start now that their profiles are in place.
    for (const inst of fresh.values()) inst.start?.();
    this.#budget.setLimits(budgetLimits(next));
    const { opened, closed, refreshed, refused } = await this.#reloadListeners(next, new Set(diff.profiles.changed));
    for (const inst of retired) await inst.close();
    return {
      capabilitiesAdded: added,
      capabilitiesRemoved: removed,
      capabilitiesChanged: changed,
      profilesChanged: [...diff.profiles.changed],
      profilesRemoved,
      listenersOpened: opened,
      listenersClosed: closed,
      listenersRefreshed: refreshed,
      revoked,
      refused,
    };
  }

  /**
   * The listeners and exports of `next`, opened before any old one is closed: each new
   * one is prepared (certificates read, profile and root checked) and bound while the old
   * ones still serve; only then are those that left the manifest drained. One that cannot
   * be prepared or bound is refused, and the old listeners of its protocol that it would
   * have replaced stay open. A new listener on the address of an old one (its definition
   * changed) cannot bind beside it: once it is prepared, the old one stops accepting and
   * the new one binds; if even that fails, the old one is put back.
   */
  async #reloadListeners(
    next: Manifest,
    rebuiltProfiles: ReadonlySet<string>,
  ): Promise<{ opened: string[]; closed: string[]; refreshed: string[]; refused: (ReloadRefusal & { protocol: string })[] }> {
    const wants = [
      ...next.listeners.map((l) => ({ key: this.#key(l), protocol: l.protocol, address: l.address, prepare: () => this.#prepare(l) })),
      ...next.exports.map((e, i) => ({ key: this.#exportKey(e, i), protocol: 'export', address: e.listen, prepare: () => this.#prepareExport(e, i) })),
    ];
    const wanted = new Set(wants.map((w) => w.key));
    const leaving = new Set([...this.#listeners.values()].filter((o) => !wanted.has(o.key)));
    const opened: string[] = [];
    const closed: string[] = [];
    const refreshed: string[] = [];
    const refused: (ReloadRefusal & { protocol: string })[] = [];
    for (const o of this.#listeners.values()) {
      if (o.profileRebuilt === undefined || leaving.has(o) || o.served.profile === undefined || !rebuiltProfiles.has(o.served.profile)) continue;
      o.profileRebuilt(o.served.profile);
      refreshed.push(o.served.address);
    }
    for (const w of wants) {
      if (this.#listeners.has(w.key)) continue;
      const label = `${w.protocol} ${formatAddress(w.address)}`;
      let prepared: PreparedListener;
      try {
        prepared = await w.prepare();
      } catch (e) {
        // Whatever serves its address now goes on serving it.
        const kept = [...leaving].filter((o) => addressesConflict(o.address, w.address));
        for (const o of kept) leaving.delete(o);
        refused.push({ listener: label, protocol: w.protocol, reason: errorText(e), kept: kept.map((o) => o.served.address) });
        continue;
      }
      const displaced = [...leaving].filter((o) => addressesConflict(o.address, w.address));
      for (const o of displaced) {
        leaving.delete(o);
        this.#listeners.delete(o.key);
        // Stops accepting at once (every close() does that first); drains meanwhile.
        void this.#drain(o);
      }
      try {
        const open = await prepared.listen();
        this.#record(open);
        opened.push(open.served.address);
        for (const o of displaced) closed.push(o.served.address);
      } catch (e) {
        const refusal = { listener: label, protocol: w.protocol, reason: errorText(e), kept: [] as string[] };
        refused.push(refusal);
        for (const o of displaced) {
          try {
            const back = await (await o.again()).listen();
            this.#record(back);
            refusal.kept.push(back.served.address);
          } catch (err) {
            closed.push(o.served.address);
            this.#log.error({ err, address: o.served.address }, 'reload: a listener taken down for its successor could not be put back');
          }
        }
      }
    }
    for (const o of leaving) {
      // A refused listener keeps the old ones of its protocol: the reload meant it to take
      // their place, and a server with neither serves nobody.
      const r = refused.find((x) => x.protocol === o.served.protocol);
      if (r !== undefined) {
        r.kept.push(o.served.address);
        continue;
      }
      this.#listeners.delete(o.key);
      closed.push(o.served.address);
      void this.#drain(o);
    }
    return { opened, closed, refreshed, refused };
  }

  #record(open: OpenListener): void {
    this.#listeners.set(open.key, open);
  }

  /** Closes a listener, cutting its connections after `drainMs`. Never rejects. */
  async #drain(l: OpenListener): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.#drainMs)));
    const done = l.close().then(
      () => 'closed' as const,
      () => 'closed' as const,
    );
    if ((await Promise.race([done, timeout])) === 'timeout') {
      this.#log.warn({ address: l.served.address }, 'connections did not drain in time; cutting them');
      l.destroy();
    }
    clearTimeout(timer);
  }

  /**
   * The limits the manifest sets on each connection's namespaces (maxBinds,
   * maxNamespacesPerConnection): one frozen object per manifest, not one per connection
   * (the Gate keeps it).
   */
  #namespaceLimits(): NamespaceLimits {
    const limits = this.#manifest.limits;
    let l = this.#namespaceLimitsOf.get(limits);
    if (l === undefined) {
      const { maxBinds, maxNamespacesPerConnection } = limits;
      l = Object.freeze({ ...(maxBinds !== undefined && { maxBinds }), ...(maxNamespacesPerConnection !== undefined && { maxNamespaces: maxNamespacesPerConnection }) });
      this.#namespaceLimitsOf.set(limits, l);
    }
    return l;
  }
  readonly #namespaceLimitsOf = new WeakMap<object, NamespaceLimits>();

  /**
   * What identifies a listener across reloads: its definition, and for a 9P listener the
   * profile it serves (a 9P listener of a rebuilt profile stays open and serves the new
   * namespace to new connections).
   */
  #key(l: Listener): string {
    const profile = l.protocol === '9p' ? (l.profile ?? this.#loopbackProfile()?.name) : undefined;
    // An http listener reads whether its profile is anonymous once (#prepareHttp); rpc and
    // 9P read it at each connection.
    const anonymous = l.protocol === 'http' && this.#access(l).anonymous;
    return canonical({ l, profile, ...(anonymous && { anonymous }) });
  }

  #loopbackProfile(): GateProfile | undefined {
    return [...this.#profiles.values()].find((p) => p.loopback);
  }

  async #instantiate(c: Capability): Promise<Instance> {
    switch (c.type) {
      case 'ram': {
        const fs = new MemFileServer({
          ...(c.maxBytes !== undefined && { maxBytes: c.maxBytes }),
          ...(c.maxFiles !== undefined && { maxFiles: c.maxFiles }),
          ...(c.maxFileSize !== undefined && { maxFileSize: c.maxFileSize }),
        });
        const client = serveFileServer(fs).client;
        return { client, interfaceId: FILE_SERVER_INTERFACE_ID, close: () => client.close() };
      }
      case 'dir': {
        if (c.create) await mkdir(c.path, { recursive: true });
        const fs = await newDirFileServer(c.path, {
          readOnly: c.readOnly,
          syncWrites: c.syncWrites,
          io: c.io,
        });
        const client = serveFileServer(fs).client;
        this.#log.info({ capability: c.name, path: c.path, readOnly: c.readOnly }, 'serving host directory');
        return { client, interfaceId: FILE_SERVER_INTERFACE_ID, close: () => client.close() };
      }
      case 'demo.clock': {
        const client = newClock().client;
        return { client, interfaceId: Clock.Client.interfaceId, close: () => client.close() };
      }
      case 'hub': {
        const hub = new Hub({
          ...(c.backlogBytes !== undefined && { backlogBytes: c.backlogBytes }),
          ...(c.maxChannels !== undefined && { maxChannels: c.maxChannels }),
          ...(c.maxWriteBytes !== undefined && { maxWriteBytes: c.maxWriteBytes }),
          ...(c.maxWaiting !== undefined && { maxWaiting: c.maxWaiting }),
        });
        for (const name of c.channels) hub.create(name);
        this.#hubs.set(c.name, hub);
        const client = serveHub(hub).client;
        return {
          client,
          interfaceId: HubIface.Client.interfaceId,
          close: () => {
            client.close();
            hub.close();
            if (this.#hubs.get(c.name) === hub) this.#hubs.delete(c.name);
          },
        };
      }
      case 'hubfs': {
        const hub = this.#hubs.get(c.hub);
        if (hub === undefined) throw new NsError('NS_ERR_NOT_FOUND', `${c.loc.file}:${c.loc.line}:${c.loc.column} hubfs '${c.name}': no capability '${c.hub}' of type hub`);
        const client = serveFileServer(newHubFileServer(hub)).client;
        return { client, interfaceId: FILE_SERVER_INTERFACE_ID, close: () => client.close() };
      }
      case 'sessions': {
        const fs = newSessionsFileServer(this.sessions, {
          ...(c.profiles !== undefined && { profiles: c.profiles }),
          readOnly: c.readOnly,
          onChange: (session, what) => this.#log.info({ capability: c.name, session: session.id, holder: session.holder }, `session changed: ${what}`),
        });
        const client = serveFileServer(fs).client;
        return { client, interfaceId: FILE_SERVER_INTERFACE_ID, close: () => client.close() };
      }
      case 'captable': {
        const client = serveCapTable(this.captable, this).client;
        return { client, interfaceId: CapTable.Client.interfaceId, close: () => client.close() };
      }
      case 'import': {
        const address = formatAddress(c.address);
        const interfaceId = interfaceIdOf(c.interface, this.#schemas);
        const heartbeatMs = c.heartbeatMs ?? this.#importHeartbeatMs;
        let logged = '';
        const imp = startImport({
          address,
          name: c.name,
          path: c.path,
          interfaceId,
          ...(c.token !== undefined && { token: c.token }),
          ...(c.tls !== undefined && { tls: await clientTlsOptions(c.tls, c.address) }),
          ...(heartbeatMs !== undefined && { heartbeatMs }),
          ...(c.heartbeatTimeoutMs !== undefined && { heartbeatTimeoutMs: c.heartbeatTimeoutMs }),
          ...(c.connectTimeoutMs !== undefined && { connectTimeoutMs: c.connectTimeoutMs }),
          ...(c.authTimeoutMs !== undefined && { authTimeoutMs: c.authTimeoutMs }),
          ...(c.resolveTimeoutMs !== undefined && { resolveTimeoutMs: c.resolveTimeoutMs }),
          ...(c.callTimeoutMs !== undefined && { callTimeoutMs: c.callTimeoutMs }),
          ...(c.retryRefusedMs !== undefined && { retryRefusedMs: c.retryRefusedMs }),
          onEvent: (event, status) => {
            logged = logImportEvent(this.#log, event, status, logged);
            this.#onImportEvent?.(c.name, event, status);
          },
        });
        // Never waits for the export (startup and reload go on at once): the import
        // connects in the background, and calls through it fail `disconnected`, naming
        // it, until it is up.
        const client = imp.capability();
        return {
          client,
          interfaceId,
          close: async () => {
            release(client);
            await imp.close();
          },
          importStatus: () => imp.status(),
        };
      }
      case 'service':
        return this.#instantiateService(c);
      case 'srv':
        return this.#instantiateBoard(c);
      case 'connect': {
        // Not awaited: calls wait for the first dial (bounded by its timeout), and a
        // server that is down never holds up the rest of the manifest.
        const interfaceId = interfaceIdOf(c.interface, this.#schemas);
        const connector = startConnector({
          ...connectorOptions(c, interfaceId, this.#schemas),
          ...(c.tls !== undefined && { tls: await clientTlsOptions(c.tls, c.address) }),
          onState: (state, detail) => this.#log[state === 'connected' ? 'info' : 'warn']({ capability: c.name, address: formatAddress(c.address), detail }, `connect ${state}`),
        });
        const client = connector.capability();
        return {
          client,
          interfaceId,
          close: async () => {
            release(client);
            await connector.close();
          },
        };
      }
    }
  }

  /**
   * A `service`: its offers are slots from now on; its program starts once the profiles
   * are built (`start`), with a namespace made from its profile at each start.
   */
  #instantiateService(c: ServiceCapability): Instance {
    const schemas = this.#schemas;
    const offers = new Map(
      c.offers.map((o) => {
        const interfaceId = interfaceIdOf(o.interface, schemas);
        const intercept = introspectionFrom(schemas, interfaceId);
        return [o.name, { interfaceId, interfaceName: formatInterfaceRef(o.interface), ...(intercept !== undefined && { intercept }) }] as const;
      }),
    );
    let run = 0;
    const svc = new ServiceProcess({
      ...serviceOptions(c, this.#serviceEnv),
      offers,
      accept: (posted, declared) => (schemas.index.extendsInterface(posted, declared) ? undefined : `it is ${schemas.index.interfaceName(posted)}`),
      namespace: (owner) => {
        // A holder per namespace, so the capability table tells them apart; the grants
        // leave the table with the namespace (at the latest when the run's connection ends).
        owner.checkRoom();
        const holder = `${c.name}@service#${++run}`;
        const profile = c.profile === undefined ? undefined : this.#profiles.get(c.profile);
        const table = profile === undefined ? new MountTable<Client>() : grantedNamespace(profile, this.captable, holder);
        return serveNamespace(table, { owner });
      },
      namespaceLimits: () => this.#namespaceLimits(),
      log: {
        output: (stream, line) => this.#log.info({ service: c.name, stream }, line),
        event: (level, what, detail) => this.#log[level](detail, what),
      },
    });
    const parts = new Map(c.offers.map((o) => [o.name, { client: svc.offer(o.name), interfaceId: offers.get(o.name)!.interfaceId }]));
    const first = parts.values().next().value!;
    return {
      client: first.client,
      interfaceId: first.interfaceId,
      parts,
      service: svc,
      start: () => svc.start(),
      close: async () => {
        for (const p of parts.values()) release(p.client);
        await svc.stop();
      },
    };
  }

  /**
   * A `srv` board: mounting it gives the right to post; `BOARD/NAME` is what is posted
   * under NAME. A post is a grant in the capability table (label BOARD/NAME), revocable
   * like any other.
   */
  #instantiateBoard(c: SrvCapability): Instance {
    const schemas = this.#schemas;
    const names = new Map<string, DeclaredName>(
      c.names.map((n): [string, DeclaredName] => {
        if (n.interface === undefined) return [n.name, {}];
        const interfaceId = interfaceIdOf(n.interface, schemas);
        const intercept = introspectionFrom(schemas, interfaceId);
        return [n.name, { interfaceId, interfaceName: formatInterfaceRef(n.interface), ...(intercept !== undefined && { intercept }) }];
      }),
    );
    const board = new Board({
      label: `board '${c.name}'`,
      names,
      accept: (posted, declared) => (schemas.index.extendsInterface(posted, declared) ? undefined : `it is ${schemas.index.interfaceName(posted)}`),
      wrap: (cap, name, interfaceId) => this.captable.grant(cap, { interfaceId, label: `${c.name}/${name}`, holder: `${c.name}@srv` }),
      onChange: (name, posted, why) => this.#log.info({ board: c.name, name, why }, posted ? 'posted' : 'post removed'),
    });
    const client = board.serveSrv();
    const parts = new Map(c.names.map((n) => [n.name, { client: board.capability(n.name), interfaceId: names.get(n.name)?.interfaceId ?? 0n }]));
    return {
      client,
      interfaceId: Srv.Client.interfaceId,
      parts,
      close: () => {
        release(client);
        for (const p of parts.values()) release(p.client);
        board.close(`board '${c.name}' closed`);
      },
    };
  }

  /** The supervised services, by name (status for tests and the admin side). */
  services(): ServiceProcess[] {
    return [...this.#instances.values()].flatMap((i) => (i.service === undefined ? [] : [i.service]));
  }

  #buildProfile(p: Profile, instances: ReadonlyMap<string, Instance>): GateProfile {
    const table = new MountTable<Client>();
    for (const step of p.namespace) {
      const where = `${step.loc.file}:${step.loc.line}:${step.loc.column} profile '${p.name}'`;
      try {
        switch (step.op) {
          case 'mount': {
            const [name, part] = step.capability.split('/') as [string, string | undefined];
            const inst = instances.get(name);
            const what = part === undefined ? inst : inst?.parts?.get(part);
            if (what === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no capability '${step.capability}'`);
            if (step.require !== undefined) table.declare(step.at, interfaceIdOf(step.require, this.#schemas));
            table.bind(
              step.at,
              { cap: what.client, interfaceId: what.interfaceId, label: step.capability },
              { position: step.position, create: step.create, spec: step.spec },
            );
            break;
          }
          case 'bind':
            if (step.require !== undefined) table.declare(step.at, interfaceIdOf(step.require, this.#schemas));
            table.bindPath(step.from, step.at, { position: step.position, create: step.create });
            break;
          case 'unmount':
            table.unmount(step.at, step.member);
            break;
        }
      } catch (e) {
        if (e instanceof NsError) throw new NsError(e.code, `${where}: ${e.message}`, { cause: e });
        throw e;
      }
    }
    return { name: p.name, tokens: p.auth.tokens, loopback: p.auth.loopback, tlsSubjects: p.auth.tlsSubjects, table };
  }

  /**
   * Who listener `l` lets in, over the profiles there are now (src/server/listener-access.ts):
   * made once per listener and profile set, not for every connection (it was an object
   * and an array of profiles each).
   */
  #access(l: Listener): ListenerAccess {
    let a = this.#accessOf.get(l);
    if (a === undefined) this.#accessOf.set(l, (a = listenerAccess(l, this.#profiles)));
    return a;
  }
  /** #access's answers; emptied whenever a profile is set or removed. */
  #accessOf = new WeakMap<Listener, ListenerAccess>();

  /** Prepares one listener of the manifest (see PreparedListener). */
  async #prepare(l: Listener): Promise<PreparedListener> {
    if (l.profile !== undefined && !this.#profiles.has(l.profile)) {
      throw new NsError('NS_ERR_INVALID_ARGUMENT', `${l.loc.file}:${l.loc.line}:${l.loc.column} ${l.protocol} listener: no profile '${l.profile}'`);
    }
    switch (l.protocol) {
      case 'rpc':
        return this.#prepareRpc(l);
      case '9p':
        return this.#prepare9p(l);
      case 'http':
        return this.#prepareHttp(l);
    }
  }

  async #prepareRpc(l: Listener): Promise<PreparedListener> {
    const tls = l.tls !== undefined ? await tlsOptions(l.tls) : undefined;
    return { listen: () => this.#listenRpc(l, tls) };
  }

  async #listenRpc(l: Listener, tls: TlsFiles | undefined): Promise<OpenListener> {
    const limits = rpcLimits(this.#manifest);
    // One for the listener: what it needs of the connection comes with `gate`.
    const onAuthenticated = (profile: string, holder: string, ns: Namespace$Client, gate: GateOptions): (() => void) => {
      this.#log.info({ profile, holder }, 'authenticated');
      const peer = gate.peer!;
      // The session borrows the namespace: it ends when the namespace closes (the Gate
      // calls what this returns), as the client lets go of it or the connection ends.
      const session = this.sessions.add({
        kind: 'rpc',
        profile,
        holder,
        connection: gate.connection,
        peer,
        ns: borrowedSessionNamespace(ns),
        hangup: peer,
      });
      return () => session.end();
    };
    const budget = this.#budget.listener(`rpc ${formatAddress(l.address)}`);
    const listener: RpcListener = await listen(formatAddress(l.address), {
      ...(limits !== undefined && { limits }),
      ...(tls !== undefined && { tls }),
      // Until the Gate admits a peer: small frames only, and a deadline (limits.rpc).
      requireAuthentication: true,
      onConnection: (conn) => this.#admitRpc(budget, conn),
      onSocketClosed: this.#rpcSocketClosed,
      dropAtAccept: () => budget.refusesAtAccept(),
      bootstrap: (peer) => {
        // Numbered across every listener: a holder name is one connection's, whichever.
        const connection = `rpc#${++this.#connections}`;
        // Read at each connection, so a reload's profiles serve new connections.
        const access = this.#access(l);
        return serveGate({
          profiles: access.profiles,
          captable: this.captable,
          connection,
          peerIsLoopback: access.peerIsLoopback,
          tlsSubject: peer.tlsSubject,
          peer,
          namespaces: this.#namespaceLimits(),
          onAuthenticated,
        });
      },
    });
    budget.name = `rpc ${listener.address}`;
    return {
      key: this.#key(l),
      address: l.address,
      again: () => this.#prepare(l),
      served: { protocol: 'rpc', address: listener.address, ...(l.profile !== undefined && { profile: l.profile }) },
      connections: () => listener.connections.size,
      close: () => listener.close(),
      destroy: () => listener.destroy(),
    };
  }

  /**
   * A profile's namespace as a file tree (what 9P listeners serve): every capability a
   * grant to `holder`. The caller owns it: `release()` gives the grants back.
   * @throws NsError NS_ERR_NOT_FOUND for an unknown profile.
   */
  namespaceFiles(profileName: string, holder: string): { fs: FileServer; release: () => void; session: { end(): void } } {
    const profile = this.#profiles.get(profileName);
    if (profile === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no profile '${profileName}'`);
    const table = grantedNamespace(profile, this.captable, holder);
    const fileServers = new Map<Client, RemoteFileServer | RemoteNamespaceFileServer>();
    const schemas = this.#schemas;
    const fs = new NamespaceFileServer(table, {
      describe: (m) => `${describeInterface(schemas.index, m.interfaceId)}label ${m.label}\n`,
      fileServer: (m) => {
        let r = fileServers.get(m.cap);
        if (r !== undefined) return r;
        // A Namespace member (an import) is a directory: its own file tree.
        if (m.interfaceId === FILE_SERVER_INTERFACE_ID) r = new RemoteFileServer(new FileServerIface.Client(dupClient(m.cap)));
        else if (m.interfaceId === NAMESPACE_INTERFACE_ID) r = new RemoteNamespaceFileServer(new Namespace.Client(dupClient(m.cap)));
        else return undefined;
        fileServers.set(m.cap, r);
        return r;
      },
    });
    let released = false;
    // What the table holds now is released at the end, whatever the sessions tree changes
    // in it meanwhile (an `ns` write can only move these; a reroot adds its own).
    const held = [...table.mounts()].flatMap((mp) => mp.stack.map((b) => b.member.cap));
    let bound: readonly Client[] = [];
    // One namespace for every connection of the listener: one session.
    const session = this.sessions.add({
      kind: '9p',
      profile: profileName,
      holder,
      peer: holder.slice(holder.indexOf('@') + 1),
      ns: tableSessionNamespace(table, (b) => (bound = b)),
    });
    return {
      fs,
      session,
      release: () => {
        if (released) return;
        released = true;
        session.end();
        for (const r of fileServers.values()) r.close();
        fileServers.clear();
        // Each grant leaves the table once nothing derived from it is held.
        for (const cap of [...held, ...bound]) release(cap);
      },
    };
  }

  async #prepare9p(l: Listener): Promise<PreparedListener> {
    const where = `${l.loc.file}:${l.loc.line}:${l.loc.column} 9p listener`;
    const profile = l.profile !== undefined ? this.#profiles.get(l.profile) : this.#loopbackProfile();
    if (profile === undefined || (l.profile === undefined && !isLoopback(l.address))) {
      throw new NsError('NS_ERR_INVALID_ARGUMENT', `${where}: name a profile, or listen on loopback with a loopback profile`);
    }
    // What a client must prove before Tattach, read at each attach (a reload's credentials
    // apply to new attaches): nothing, or one of the profile's tokens (Tauth).
    const tokens = (): readonly string[] | undefined => {
      const access = this.#access(l);
      return ninepTokens(access.profiles.find((p) => p.name === profile.name), access);
    };
    if (tokens()?.length === 0) {
      throw new NsError(
        'NS_ERR_INVALID_ARGUMENT',
        profile.loopback
          ? `${where}: profile '${profile.name}' is loopback-only (auth.loopback), but ${formatAddress(l.address)} is not a loopback address: no one could attach`
          : `${where}: profile '${profile.name}' authenticates by TLS client certificate only, which 9P cannot carry: give it a token (written to an afid after Tauth) or auth.loopback on a loopback address`,
      );
    }
    const holder = `${profile.name}@9p:${formatAddress(l.address)}`;
    let tree = this.namespaceFiles(profile.name, holder);
    const ninep = this.#manifest.limits['9p'];
    const budget = this.#budget.listener(`9p ${formatAddress(l.address)}`);
    let server: NinepServer;
    try {
      server = new NinepServer(tree.fs, {
        ...(ninep.maxMsize !== undefined && { maxMsize: ninep.maxMsize }),
        ...(ninep.maxFids !== undefined && { maxFids: ninep.maxFids }),
        ...(ninep.maxOutstanding !== undefined && { maxOutstanding: ninep.maxOutstanding }),
        ...(ninep.handshakeTimeoutMs !== undefined && { handshakeTimeoutMs: ninep.handshakeTimeoutMs }),
        ...(ninep.idleTimeoutMs !== undefined && { idleTimeoutMs: ninep.idleTimeoutMs }),
        tokens,
        // The budget counts connections (per listener and in the process); the server
        // adds no limit of its own.
        admit: (peer) => budget.admit(peer),
        dropAtAccept: () => budget.refusesAtAccept(),
        log: (line) => this.#log.info({ protocol: '9p' }, line),
      });
    } catch (e) {
      tree.release();
      throw e;
    }
    // Trees a rebuilt profile replaced, until the connections that attached to them close.
    const retiring = new Set<{ release: () => void }>();
    let rebuilds = 0;
    const releaseAll = (): void => {
      tree.release();
      for (const t of retiring) t.release();
      retiring.clear();
    };
    const listenNow = async (): Promise<OpenListener> => {
      let bound: Awaited<ReturnType<NinepServer['listen']>>;
      try {
        bound = await server.listen(l.address.kind === 'unix' ? { kind: 'unix', path: l.address.path } : { kind: 'tcp', host: l.address.host, port: l.address.port });
      } catch (e) {
        await server.close();
        releaseAll();
        throw e;
      }
      const address = formatAddress(bound);
      budget.name = `9p ${address}`;
      return {
        key: this.#key(l),
        address: l.address,
        again: () => this.#prepare(l),
        served: { protocol: '9p', address, profile: profile.name },
        connections: () => server.connections,
        fids: () => server.fidCount,
        profileRebuilt: (name) => {
          // A distinct holder: releasing the old tree forgets its grants, not the new ones'.
          const fresh = this.namespaceFiles(name, `${holder}#${++rebuilds}`);
          const old = tree;
          tree = fresh;
          retiring.add(old);
          void server.setFileServer(fresh.fs).then(() => {
            if (retiring.delete(old)) old.release();
          });
        },
        close: async () => {
          await server.close();
          releaseAll();
        },
        destroy: () => {
          void server.destroy();
          releaseAll();
        },
      };
    };
    return { listen: listenNow };
  }

  /**
   * The HTTP admin API, JSON gateway and web page (src/admin, docs/http.md). Each profile
   * gets one session per listener, made on its first request: a namespace served in
   * process, its capabilities granted to `profile@http:ADDRESS` like a Gate client's.
   */
  async #prepareHttp(l: Listener): Promise<PreparedListener> {
    // Fixed for the listener's life: a reload that makes its profile anonymous (or no
    // longer) opens a new listener (#key).
    const { peerIsLoopback } = this.#access(l);
    const sessions = new Map<string, Promise<AdminSession & { close(): Promise<void> }>>();
    let address = formatAddress(l.address);
    const schemas = this.#schemas;
    const capTableId = CapTable.Client.interfaceId;
    const adminProfiles = new WeakMap<GateProfile, AdminProfile>();
    const adminLists = new WeakMap<ListenerAccess, readonly AdminProfile[]>();
    const adminProfilesOf = (access: ListenerAccess): AdminProfile[] =>
      access.profiles.map((p) => {
        // An anonymous listener's profile is a copy (listener-access.ts): keyed by the original.
        const key = this.#profiles.get(p.name) ?? p;
        let a = adminProfiles.get(key);
        if (a === undefined || a.loopback !== p.loopback || a.tokens !== p.tokens) {
          a = {
            name: p.name,
            tokens: p.tokens,
            loopback: p.loopback,
            admin: [...p.table.mounts()].some((mp) => mp.stack.some((b) => b.member.interfaceId === capTableId)),
          };
          adminProfiles.set(key, a);
        }
        return a;
      });
    const http = this.#manifest.limits.http ?? {};
    const https = l.tls !== undefined ? await tlsOptions(l.tls) : undefined;
    const budget = this.#budget.listener(`http ${address}`);
    const app = buildAdminApp({
      loggerInstance: this.#log.child({ listener: `http ${address}` }),
      hostPolicy: new HostPolicy({
        ...(l.address.kind === 'tcp' && { bindHost: l.address.host }),
        loopback: isLoopback(l.address),
        tls: https !== undefined,
        ...(l.hosts !== undefined && { hosts: l.hosts }),
      }),
      ...(https !== undefined && { https }),
      timeouts: {
        ...(http.headersTimeoutMs !== undefined && { headersTimeoutMs: http.headersTimeoutMs }),
        ...(http.requestTimeoutMs !== undefined && { requestTimeoutMs: http.requestTimeoutMs }),
        ...(http.keepAliveTimeoutMs !== undefined && { keepAliveTimeoutMs: http.keepAliveTimeoutMs }),
      },
      // Read at each request: made once per listener access (#access's answer, new when
      // a profile is set or removed) and per profile object (a reload that changes a
      // profile sets a new one), so a request neither walks the profile's mount table
      // nor builds the list.
      profiles: () => {
        const access = this.#access(l);
        let list = adminLists.get(access);
        if (list === undefined) adminLists.set(access, (list = adminProfilesOf(access)));
        return list;
      },
      peerIsLoopback,
      session: (name) => {
        let s = sessions.get(name);
        if (s === undefined) {
          const profile = this.#access(l).profiles.find((p) => p.name === name);
          if (profile === undefined) return Promise.reject(new NsError('NS_ERR_NOT_FOUND', `no profile '${name}'`));
          const holder = `${name}@http:${address}`;
          const table = grantedNamespace(profile, this.captable, holder);
          // Its end, when the session closes, closes the namespace whatever holds it (a
          // namespace bound into itself through a gateway call would hold itself).
          const owner = new NamespaceOwner(`http:${address}`, this.#namespaceLimits());
          const ns = serveNamespace(table, { owner });
          const session = this.sessions.add({
            kind: 'http',
            profile: name,
            holder,
            peer: `http ${address}`,
            ns: rpcSessionNamespace(new Namespace.Client(dupClient(ns.client))),
          });
          // In process: no RPC connection, only the namespace to release.
          // The table's snapshot changes with every bind, unmount or apply through any
          // Namespace capability of it (the HTTP routes', the sessions tree's): the gateway
          // reuses what it resolved until then.
          const client = CapnsClient.local(ns, name, new JsonCodec(SchemaIndex.over(schemas.index)), { version: () => table.snapshot() });
          const close = client.close.bind(client);
          s = Promise.resolve(
            Object.assign(client, {
              holder,
              close: async () => {
                session.end();
                await close();
                owner.end();
              },
            }),
          );
          sessions.set(name, s);
        }
        return s;
      },
      endSession: async (name) => {
        const s = sessions.get(name);
        sessions.delete(name);
        if (s !== undefined) await (await s).close();
      },
      sessionCount: () => sessions.size,
      captable: this.captable,
      exports: this,
      stats: () => this.stats(),
      schema: schemas.index,
    });
    const closeSessions = async (): Promise<void> => {
      const all = [...sessions.values()];
      sessions.clear();
      for (const s of all) await (await s).close();
    };
    const refuse = refuseHttp(https !== undefined);
    admitConnections(app.server, budget, refuse.refuse);
    try {
      // Plugins load now: their failures are the manifest's (or ours), not the address's.
      await app.ready();
    } catch (e) {
      await app.close();
      throw e;
    }
    const listenNow = async (): Promise<OpenListener> => {
      try {
        if (l.address.kind === 'unix') {
          await app.listen({ path: l.address.path });
        } else {
          await app.listen({ host: l.address.host, port: l.address.port });
          const a = app.server.address();
          if (a !== null && typeof a === 'object') address = `tcp!${l.address.host}!${a.port}`;
        }
      } catch (e) {
        await app.close();
        throw e;
      }
      dropAtAccept(app.server, () => budget.refusesAtAccept());
      budget.name = `http ${address}`;
      return {
        key: this.#key(l),
        address: l.address,
        again: () => this.#prepare(l),
        served: { protocol: 'http', address, ...(l.profile !== undefined && { profile: l.profile }) },
        connections: () => budget.open,
        close: async () => {
          // Stop accepting now (fastify's close gets there later); kept-alive connections
          // with no request in flight would hold close() until their keep-alive timeout.
          app.server.close(() => undefined);
          app.server.closeIdleConnections();
          await app.close();
          refuse.destroy();
          await closeSessions();
        },
        destroy: () => {
          app.server.closeAllConnections();
          refuse.destroy();
          void app.close();
          void closeSessions();
        },
      };
    };
    return { listen: listenNow };
  }

  #exportKey(e: Export, index: number): string {
    return `export:${canonical({ e, filter: index, generation: this.#generation.get(e.profile) })}`;
  }

  /**
   * Opens one `exports` entry: the profile's namespace (every capability a grant to the
   * export's holder), a sub view at `root`, on a listener of its own behind the export's
   * Gate (see src/proxy/exporter.ts).
   */
  async #prepareExport(e: Export, index: number): Promise<PreparedListener> {
    const where = `${e.loc.file}:${e.loc.line}:${e.loc.column} export`;
    const profile = this.#profiles.get(e.profile);
    if (profile === undefined) throw new NsError('NS_ERR_NOT_FOUND', `${where}: no profile '${e.profile}'`);
    // Each peer gets a namespace of its own: its own grants (listed and revocable as
    // `profile@export:ADDRESS#peer#N`, ADDRESS as bound), its own budget of bindings.
    let bound = formatAddress(e.listen);
    // Each peer's session, until the peer lets go of its namespace (or its connection ends).
    const sessions = new Map<string, Session>();
    // `owner`: the connection's ("peer#3" for "peer#3.2"), which bounds its namespaces
    // (maxNamespacesPerConnection) and its bindings, as at an rpc listener's Gate.
    const namespaceFor = (peer: string, owner?: NamespaceOwner): Namespace$Client => {
      owner?.checkRoom();
      const holder = `${profile.name}@export:${bound}#${peer}`;
      const onClose = (): void => {
        sessions.get(peer)?.end();
        sessions.delete(peer);
      };
      const table = grantedNamespace(profile, this.captable, holder, `export:${bound}#${owner?.name ?? peer}`);
      // Without an owner: the probe of the root below, released at once.
      return serveNamespace(table, { ...(owner !== undefined && { owner }), onClose });
    };
    let filter: ExportFilter | undefined;
    let tls: TlsFiles | undefined;
    try {
      // The caller's filter for this export (capns export --filter) wins over the manifest's.
      filter = this.#exportFilters.get(index);
      if (filter === undefined && e.filter !== undefined) {
        let text: string;
        try {
          text = await readFile(e.filter, 'utf8');
        } catch (err) {
          throw new NsError('NS_ERR_NOT_FOUND', `filter ${e.filter}: ${(err as Error).message}`);
        }
        filter = parseExportFilter(text, e.filter);
      }
      if (e.tls !== undefined) tls = await tlsOptions(e.tls);
      // The root must be there now, so that a reload refuses an export whose root is gone
      // before its predecessor stops serving (startExport makes the same view again).
      const ns = namespaceFor('probe');
      try {
        const probe = (await ns.sub((p) => { p.prefix = e.root; p.readOnly = e.readOnly; }).promise()).result;
        if (probe._isErr) throw new NsError('NS_ERR_NOT_FOUND', `export root ${e.root}: ${probe.err.message}`);
        release(probe.ns);
      } finally {
        release(ns);
      }
    } catch (err) {
      if (err instanceof NsError) throw new NsError(err.code, `${where}: ${err.message}`, { cause: err });
      throw err;
    }
    const listenNow = async (): Promise<OpenListener> => {
      const limits = rpcLimits(this.#manifest);
      const budget = this.#budget.listener(`export ${formatAddress(e.listen)}`);
      let exp: Exporter;
      try {
        exp = await startExport({
          namespaceFor,
          namespaces: this.#namespaceLimits(),
          root: e.root,
          readOnly: e.readOnly,
          listen: formatAddress(e.listen),
          tokens: e.auth.tokens,
          tlsSubjects: e.auth.tlsSubjects,
          anonymous: e.auth.loopback && isLoopback(e.listen),
          ...(filter !== undefined && { filter }),
          ...(tls !== undefined && { tls }),
          ...(e.heartbeatMs !== undefined && { heartbeatMs: e.heartbeatMs }),
          ...(e.heartbeatTimeoutMs !== undefined && { heartbeatTimeoutMs: e.heartbeatTimeoutMs }),
          // The budget admits this export's connections (limits.maxConnections, the
          // process's total, eviction of those not authenticated); the exporter's own
          // count would cut the newest first, before the budget could make room.
          maxConnections: Number.MAX_SAFE_INTEGER,
          ...(limits !== undefined && { limits }),
          onConnection: (conn) => this.#admitRpc(budget, conn),
          onSocketClosed: this.#rpcSocketClosed,
          dropAtAccept: () => budget.refusesAtAccept(),
          onSession: (peer, ns, who) => {
            const session = this.sessions.add({
              kind: 'export',
              profile: profile.name,
              holder: `${profile.name}@export:${bound}#${peer}`,
              connection: `export:${bound}#${peer.split('.')[0]}`,
              peer: who,
              // Borrowed: the session ends when the peer lets go of it (namespaceFor's onClose).
              ns: borrowedSessionNamespace(ns),
              hangup: who,
            });
            // It ends when the namespace closes (namespaceFor's onClose), as the peer lets
            // go of it or its connection ends.
            sessions.set(peer, session);
          },
          onPeer: (event, peer) => {
            const line = `export ${formatAddress(e.listen)}: peer ${event}`;
            // Refusals and cuts happen as often as a peer likes: logged at a bounded rate.
            if (event === 'admitted') this.#log.info({ export: formatAddress(e.listen), peer }, line);
            else this.#peerLog.note(`${event} ${formatAddress(e.listen)}`, `${line} (${peer})`);
          },
        });
        budget.name = `export ${exp.address}`;
        bound = exp.address;
      } catch (err) {
        if (err instanceof NsError) throw new NsError(err.code, `${where}: ${err.message}`, { cause: err });
        throw err;
      }
      return {
        key: this.#exportKey(e, index),
        address: e.listen,
        again: () => this.#prepareExport(e, index),
        served: { protocol: 'export', address: exp.address, profile: e.profile },
        connections: () => exp.connections,
        export: {
          info: () => ({
            address: exp.address,
            profile: e.profile,
            root: e.root,
            readOnly: e.readOnly,
            filtered: filter !== undefined && filter.include.length + filter.exclude.length + filter.rules.length > 0,
            peers: exp.connections,
            revoked: exp.revoked,
          }),
          revoke: (reason) => exp.revoke(reason),
        },
        close: () => exp.close(),
        destroy: () => exp.destroy(),
      };
    };
    return { listen: listenNow };
  }

  /** An accepted RPC connection (rpc listener or export) asks `budget` for its place. */
  #admitRpc(budget: ListenerBudget, conn: RpcConnection): void {
    const a = budget.admit();
    // close() sends FIN now (destroy() alone would wait 100 ms for an Abort this
    // connection has no reason to send); destroy() then frees the socket within 100 ms
    // even if the peer never answers the FIN.
    if ('refused' in a) {
      void conn.close();
      conn.destroy();
      return;
    }
    this.#rpcPlaces.set(conn, a);
    // Until the Gate admits it, the connection may give its place to a newer one.
    a.watch(new WatchedRpc(conn));
  }

  /** The budget's place of each admitted RPC connection (rpc listeners and exports), until its socket closes. */
  readonly #rpcPlaces = new WeakMap<RpcConnection, { release(): void }>();

  /**
   * An RPC connection's socket has closed (the listeners' onSocketClosed): its place goes
   * back to the budget (a departure), and what it held at its end (answers left
   * unfinished, imports, exports) counts as departures too. A connection refused before
   * admission has no place.
   */
  readonly #rpcSocketClosed = (conn: RpcConnection): void => {
    const place = this.#rpcPlaces.get(conn);
    if (place === undefined) return;
    this.#rpcPlaces.delete(conn);
    this.#reclaim.departed(conn.heldAtClose);
    place.release();
  };

  /** Stops accepting, drains connections (at most `drainMs`), then releases everything. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const open = [...this.#listeners.values()];
      this.#listeners.clear();
      await Promise.all(open.map((l) => this.#drain(l)));
      this.#budget.flush();
      this.#peerLog.flush();
      await this.#release();
    })();
    return this.#closing;
  }

  /** Cuts every connection at once and releases everything. Idempotent; never throws. */
  destroy(): void {
    const open = [...this.#listeners.values()];
    this.#listeners.clear();
    for (const l of open) {
      try {
        l.destroy();
      } catch (e) {
        this.#log.error({ err: e }, 'while cutting connections');
      }
    }
    void this.#release();
  }

  #released = false;

  async #release(): Promise<void> {
    if (this.#released) return;
    this.#reclaim.close();
    this.#released = true;
    for (const inst of this.#instances.values()) {
      try {
        await inst.close();
      } catch (e) {
        this.#log.error({ err: e }, 'while closing a capability');
      }
    }
    this.#instances.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Logs one import event: up and reconnected at info; a refusal at error and a failure at
 * warn when its reason is new (an export down for an hour logs once, not every backoff
 * step; repeats at debug). Returns the reason last logged.
 */
function logImportEvent(log: Logger, event: ImportEvent, s: ImportStatus, logged: string): string {
  const fields = { capability: s.name, address: s.address, path: s.path, connections: s.connections };
  const next = s.nextAttemptAt > 0 ? { retryInMs: Math.max(0, s.nextAttemptAt - Date.now()) } : {};
  switch (event) {
    case 'connected':
    case 'reconnected':
      log.info(fields, `import ${event}`);
      return '';
    case 'refused':
      if (s.lastError === logged) {
        log.debug({ ...fields, error: s.lastError, ...next }, 'import refused again');
        return logged;
      }
      log.error({ ...fields, error: s.lastError, ...next }, `import refused: the export refused the credentials${s.nextAttemptAt > 0 ? '' : ' (not retrying)'}`);
      return s.lastError;
    case 'lost':
    case 'failed':
      if (event === 'lost' || s.lastError !== logged) {
        log.warn({ ...fields, error: s.lastError, ...next }, event === 'lost' ? 'import lost its connection' : 'import down');
        return s.lastError;
      }
      log.debug({ ...fields, error: s.lastError, ...next }, 'import attempt failed');
      return logged;
    case 'closed':
      log.debug(fields, 'import closed');
      return logged;
  }
}

/** Bytes as MiB, one decimal. */
function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** `caps` with the hubs first: a `hubfs` shows a hub made before it. */
function hubsFirst(caps: readonly Capability[]): Capability[] {
  return [...caps.filter((c) => c.type === 'hub'), ...caps.filter((c) => c.type !== 'hub')];
}

function rpcLimits(m: Manifest): Partial<RpcLimits> | undefined {
  const r = m.limits.rpc;
  const out: Partial<RpcLimits> = {};
  for (const k of [
    'maxMessageBytes', 'maxInFlightCalls', 'maxQuestions', 'maxExports', 'maxImports',
    'maxAnswers', 'maxPreAuthMessageBytes', 'handshakeTimeoutMs', 'idleTimeoutMs', 'abortLingerMs',
    'refusalPauseMs',
  ] as const) {
    const v = r[k];
    if (v !== undefined) (out as Record<string, number>)[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A listener's TLS files, read, as node:tls server options. */
type TlsFiles = { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean };

/**
 * Reads a listener's TLS files and checks that they make a context (a key that does not
 * match its certificate, a file that is not PEM), so that a reload refuses them before
 * anything stops serving. @throws NsError naming the file or the problem.
 */
async function tlsOptions(t: NonNullable<Listener['tls']>): Promise<TlsFiles> {
  const read = async (f: string): Promise<Buffer> => {
    try {
      return await readFile(f);
    } catch (e) {
      throw new NsError('NS_ERR_NOT_FOUND', `tls: cannot read ${f}: ${(e as Error).message}`);
    }
  };
  // Both read at once; a failure is reported for the first file in the manifest's order
  // (cert, then key), whichever read failed first.
  const settled = await Promise.allSettled([read(t.cert), read(t.key)]);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  const [cert, key] = settled.map((s) => (s as PromiseFulfilledResult<Buffer>).value) as [Buffer, Buffer];
  const files: TlsFiles = t.ca === undefined ? { cert, key } : { cert, key, ca: await read(t.ca), requestCert: true, rejectUnauthorized: true };
  try {
    createSecureContext(files);
  } catch (e) {
    throw new NsError('NS_ERR_INVALID_ARGUMENT', `tls: ${t.cert} and ${t.key}: ${(e as Error).message}`);
  }
  return files;
}

/** An error's message, for reports. */
function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function clientTlsOptions(t: ClientTls, address: Manifest['exports'][number]['listen']): Promise<{ ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string }> {
  const read = async (f: string | undefined): Promise<Buffer | undefined> => (f === undefined ? undefined : await readFile(f));
  const [ca, cert, key] = await Promise.all([read(t.ca), read(t.cert), read(t.key)]);
  const servername = t.serverName ?? (address.kind === 'tcp' ? address.host : undefined);
  return {
    ...(ca !== undefined && { ca }),
    ...(cert !== undefined && { cert }),
    ...(key !== undefined && { key }),
    ...(servername !== undefined && { servername }),
  };
}

/** The connection limits a manifest sets, defaults for the rest. */
function budgetLimits(m: Manifest): BudgetLimits {
  return {
    maxConnections: m.limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxConnectionsTotal: m.limits.maxConnectionsTotal ?? DEFAULT_MAX_CONNECTIONS_TOTAL,
    evictAfterMs: m.limits.evictAfterMs ?? DEFAULT_EVICT_AFTER_MS,
  };
}

/**
 * Puts `budget` in front of a node:http(s) server: each accepted socket is admitted (and
 * handed to the server's own connection handling) or refused before the server reads a
 * byte of it. The server's 'connection' listeners are taken over: every accepted
 * socket passes here first.
 */
function admitConnections(server: net.Server, budget: ListenerBudget, refuse: (socket: net.Socket, why: string) => void): void {
  const inner = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  // A connection is established once it has had a whole request answered: until then
  // (silent, sending its headers or its body slowly) it may be evicted to make room.
  const answered = new WeakSet<net.Socket>();
  server.on('request', (req: { socket: net.Socket & { _parent?: net.Socket } }, res: { once(e: 'finish', f: () => void): void }) => {
    // Over TLS the request's socket wraps the accepted one (node:tls keeps it as _parent).
    const accepted = req.socket._parent ?? req.socket;
    // Once is enough: a kept-alive connection's later requests add no listener.
    if (!answered.has(accepted)) res.once('finish', () => answered.add(accepted));
  });
  server.on('connection', (socket: net.Socket) => {
    const a = budget.admit(socket.remoteAddress !== undefined ? `${socket.remoteAddress}!${socket.remotePort}` : undefined);
    if ('refused' in a) {
      refuse(socket, a.refused);
      return;
    }
    socket.once('close', a.release);
    a.watch({ established: () => answered.has(socket), evict: () => socket.destroy() });
    for (const f of inner) f.call(server, socket);
  });
}

/** Refused HTTP connections waiting for their 503 to go out (beyond this, closed at once). */
const MAX_LINGERING_REFUSALS = 64;
/** How long a refused HTTP connection is kept to read its request and deliver the 503. */
const REFUSAL_LINGER_MS = 1000;

/**
 * How an http listener refuses a connection over its budget: a plain one is answered
 * `503` with `Retry-After` and the JSON error body (before its request is read; HTTP
 * clients take such an early answer), then closed once the client has had time to read
 * it; a TLS one is closed at once (there is no one to answer before a handshake).
 */
function refuseHttp(tls: boolean): { refuse: (socket: net.Socket, why: string) => void; destroy: () => void } {
  const lingering = new Set<net.Socket>();
  return {
    refuse: (socket, why) => {
      socket.on('error', () => undefined);
      if (tls || lingering.size >= MAX_LINGERING_REFUSALS) {
        socket.destroy();
        return;
      }
      lingering.add(socket);
      const body = JSON.stringify(errorBody(503, 'NS_ERR_BUSY', `${why}; retry later`));
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // Read (and drop) what the client sends meanwhile: closing with unread input would
      // reset the connection, and the client might lose the 503 with it.
      socket.resume();
      const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
      timer.unref();
      socket.once('close', () => {
        clearTimeout(timer);
        lingering.delete(socket);
      });
    },
    destroy: () => {
      for (const s of lingering) s.destroy();
      lingering.clear();
    },
  };
}

/** Starts the process a manifest describes. Rejects (having started nothing) on failure. */
export async function startCapnsServer(options: CapnsServerOptions): Promise<CapnsServer> {
  const s = new CapnsServer(options);
  await s.start();
  return s;
}

