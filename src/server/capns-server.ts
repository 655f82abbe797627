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
import type { Client } from 'capnp-es';
import type { Logger } from 'pino';
import { buildAdminApp, type AdminSession } from '../admin/app.js';
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
import { formatAddress, isLoopback } from '../manifest/address.js';
import { canonical, diffManifests } from '../manifest/diff.js';
import type { Capability, ClientTls, Export, Listener, Manifest, Profile, ServiceCapability, SrvCapability } from '../manifest/types.js';
import { formatInterfaceRef } from '../manifest/interfaces.js';
import type { InterfaceRef } from '../manifest/interfaces.js';
import { FILE_SERVER_INTERFACE_ID } from '../namespace/interfaces.js';
import { MountTable } from '../namespace/mount-table.js';
import { serveNamespace } from '../namespace/namespace-server.js';
import { NamespaceFileServer } from '../namespace/namespace-file-server.js';
import { parseExportFilter, type ExportFilter } from '../proxy/export-policy.js';
import { startExport, type Exporter } from '../proxy/exporter.js';
import { startImport } from '../proxy/importer.js';
import { dupClient, listen, release, type RpcLimits, type RpcListener } from '../rpc/index.js';
import { CapabilityTable, serveCapTable, type ExportInfo, type ExportRegistry } from '../captable/capability-table.js';
import { newClock } from './demo-services.js';
import { Board, type DeclaredName, connectorOptions, introspectionFrom, loadSchemaFiles, ServiceProcess, serviceOptions, startConnector } from '../services/index.js';
import { describeInterface, JsonCodec, SchemaIndex, SchemaSet } from '../reflect/index.js';
import { grantedNamespace, serveGate, type GateProfile } from '../captable/gate.js';

/** Interface ids by schema name, from the generated code. */
const INTERFACE_IDS: ReadonlyMap<string, bigint> = new Map([
  ['FileServer', FileServerIface.Client.interfaceId],
  ['File', FileIface.Client.interfaceId],
  ['Namespace', Namespace.Client.interfaceId],
  ['Gate', Gate.Client.interfaceId],
  ['CapTable', CapTable.Client.interfaceId],
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
  /** Heartbeat period of `import` capabilities (default: the importer's, 250 ms). */
  readonly importHeartbeatMs?: number;
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
  /** Connections open now (for metrics); undefined where the listener cannot tell. */
  readonly connections?: () => number;
  /** 9P fids held by its connections (for metrics). */
  readonly fids?: () => number;
  /** Stops accepting and drains. */
  close(): Promise<void>;
  /** Cuts every connection. Never throws. */
  destroy(): void;
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
  /** Grants revoked because their capability or profile left the manifest. */
  readonly revoked: number;
}

/** The running process. Built by `startCapnsServer`. */
export class CapnsServer implements ExportRegistry {
  readonly captable = new CapabilityTable();
  #manifest: Manifest;
  readonly #log: Logger;
  readonly #drainMs: number;
  readonly #instances = new Map<string, Instance>();
  readonly #profiles = new Map<string, GateProfile>();
  /** Bumped each time a profile's namespace is rebuilt (9P listeners reopen on a change). */
  readonly #generation = new Map<string, number>();
  readonly #listeners = new Map<string, OpenListener>();
  readonly #exportFilters: ReadonlyMap<number, ExportFilter>;
  readonly #importHeartbeatMs: number | undefined;
  readonly #serviceEnv: Readonly<Record<string, string>>;
  /** capns's own schema and the manifest's `schemas` (docs/services.md). */
  #schemas = new SchemaSet();
  #closing: Promise<void> | null = null;
  /** RPC connections accepted so far, on every listener (they are named by it). */
  #connections = 0;

  constructor(options: CapnsServerOptions) {
    this.#manifest = options.manifest;
    this.#log = options.logger;
    this.#drainMs = options.drainMs ?? 5000;
    this.#exportFilters = options.exportFilters ?? new Map();
    this.#importHeartbeatMs = options.importHeartbeatMs;
    this.#serviceEnv = options.serviceEnv ?? { PATH: '/usr/local/bin:/usr/bin:/bin' };
  }

  /** What is open now, for metrics: connections per listener, 9P fids in all. */
  stats(): ServerStats {
    const listeners: ListenerStats[] = [];
    let fids = 0;
    for (const l of this.#listeners.values()) {
      if (l.connections !== undefined) listeners.push({ protocol: l.served.protocol, address: l.served.address, connections: l.connections() });
      fids += l.fids?.() ?? 0;
    }
    return { listeners, fids };
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
      for (const c of this.#manifest.capabilities) this.#instances.set(c.name, await this.#instantiate(c));
      for (const p of this.#manifest.profiles) this.#setProfile(p.name, this.#buildProfile(p, this.#instances));
      for (const inst of this.#instances.values()) inst.start?.();
      for (const l of this.#manifest.listeners) await this.#open(l);
      for (const [i, e] of this.#manifest.exports.entries()) await this.#openExport(e, i);
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
      for (const name of [...added, ...changed]) fresh.set(name, await this.#instantiate(newCaps.get(name)!));
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
    }
    // A profile that lost a token (or loopback access): the holders are not told apart by
    // the credential they used, so every live grant of the profile is revoked; clients
    // holding a credential that is still valid authenticate again.
    for (const r of diff.revoked) if (!profilesRemoved.includes(r.profile)) revoked += this.captable.revokeHolder(`${r.profile}@`);
    for (const [name, profile] of rebuilt) this.#setProfile(name, profile);
    this.#manifest = next;
    // New and changed services start now that their profiles are in place.
    for (const inst of fresh.values()) inst.start?.();
    // Listeners: keys include the profile generation, so a 9P listener of a rebuilt
    // profile is reopened with the new namespace.
    const wanted = new Map(next.listeners.map((l) => [this.#key(l), l]));
    const closed: string[] = [];
    for (const [key, open] of this.#listeners) {
      if (wanted.has(key) || key.startsWith('export:')) continue;
      this.#listeners.delete(key);
      closed.push(open.served.address);
      void this.#drain(open);
    }
    const opened: string[] = [];
    for (const [key, l] of wanted) {
      if (this.#listeners.has(key)) continue;
      try {
        const o = await this.#open(l);
        if (o !== undefined) opened.push(o.served.address);
      } catch (e) {
        this.#log.error({ err: e, address: formatAddress(l.address) }, 'reload: listener not opened');
      }
    }
    // Exports: keyed like listeners (definition + profile generation).
    const wantedExports = new Map(next.exports.map((e, i) => [this.#exportKey(e, i), { e, i }]));
    for (const [key, open] of this.#listeners) {
      if (!key.startsWith('export:') || wantedExports.has(key)) continue;
      this.#listeners.delete(key);
      closed.push(open.served.address);
      void this.#drain(open);
    }
    for (const [key, { e, i }] of wantedExports) {
      if (this.#listeners.has(key)) continue;
      try {
        opened.push((await this.#openExport(e, i)).served.address);
      } catch (err) {
        this.#log.error({ err, address: formatAddress(e.listen) }, 'reload: export not opened');
      }
    }
    for (const inst of retired) await inst.close();
    return {
      capabilitiesAdded: added,
      capabilitiesRemoved: removed,
      capabilitiesChanged: changed,
      profilesChanged: [...diff.profiles.changed],
      profilesRemoved,
      listenersOpened: opened,
      listenersClosed: closed,
      revoked,
    };
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

  #key(l: Listener): string {
    const profile = l.protocol === '9p' ? (l.profile ?? this.#loopbackProfile()?.name) : undefined;
    const generation = profile !== undefined ? this.#generation.get(profile) : undefined;
    return canonical({ l, generation });
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
      case 'captable': {
        const client = serveCapTable(this.captable, this).client;
        return { client, interfaceId: CapTable.Client.interfaceId, close: () => client.close() };
      }
      case 'import': {
        const address = formatAddress(c.address);
        const interfaceId = interfaceIdOf(c.interface, this.#schemas);
        const imp = startImport({
          address,
          path: c.path,
          interfaceId,
          ...(c.token !== undefined && { token: c.token }),
          ...(c.tls !== undefined && { tls: await clientTlsOptions(c.tls, c.address) }),
          ...(this.#importHeartbeatMs !== undefined && { heartbeatMs: this.#importHeartbeatMs }),
          onState: (state, detail) => this.#log[state === 'connected' ? 'info' : 'warn']({ capability: c.name, address, detail }, `import ${state}`),
        });
        // Serve even when the export is down: calls fail `disconnected` until it is back.
        await imp.firstAttempt();
        const client = imp.capability();
        return {
          client,
          interfaceId,
          close: async () => {
            release(client);
            await imp.close();
          },
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
      namespace: () => {
        // A holder per run, so the capability table tells the runs apart; the grants
        // leave the table with the namespace (when the run's connection ends).
        const holder = `${c.name}@service#${++run}`;
        const profile = c.profile === undefined ? undefined : this.#profiles.get(c.profile);
        const table = profile === undefined ? new MountTable<Client>() : grantedNamespace(profile, this.captable, holder);
        return serveNamespace(table);
      },
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

  /** The profiles a listener serves: its own, or every profile. */
  #profilesFor(l: Listener): GateProfile[] {
    const all = [...this.#profiles.values()];
    if (l.profile === undefined) return all;
    const p = this.#profiles.get(l.profile);
    // A listener bound to one profile serves it to whoever connects (manifest doc).
    return p === undefined ? [] : [{ ...p, loopback: true }];
  }

  /** Opens one listener and records it under its key. */
  async #open(l: Listener): Promise<OpenListener | undefined> {
    const loopback = isLoopback(l.address) || l.profile !== undefined;
    let open: OpenListener;
    switch (l.protocol) {
      case 'rpc':
        open = await this.#listenRpc(l, loopback);
        break;
      case '9p':
        open = await this.#listen9p(l, loopback);
        break;
      case 'http':
        open = await this.#listenHttp(l, loopback);
        break;
    }
    this.#listeners.set(this.#key(l), open);
    return open;
  }

  async #listenRpc(l: Listener, peerIsLoopback: boolean): Promise<OpenListener> {
    const limits = rpcLimits(this.#manifest);
    const listener: RpcListener = await listen(formatAddress(l.address), {
      ...(limits !== undefined && { limits }),
      ...(l.tls !== undefined && { tls: await tlsOptions(l.tls) }),
      bootstrap: (peer) => {
        // Numbered across every listener: a holder name is one connection's, whichever.
        const connection = `rpc#${++this.#connections}`;
        return serveGate({
          // Read at each connection, so a reload's profiles serve new connections.
          profiles: this.#profilesFor(l),
          captable: this.captable,
          connection,
          peerIsLoopback,
          tlsSubject: peer.tlsSubject,
          onAuthenticated: (profile, holder) => this.#log.info({ profile, holder }, 'authenticated'),
        });
      },
    });
    return {
      key: this.#key(l),
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
  namespaceFiles(profileName: string, holder: string): { fs: FileServer; release: () => void } {
    const profile = this.#profiles.get(profileName);
    if (profile === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no profile '${profileName}'`);
    const table = grantedNamespace(profile, this.captable, holder);
    const fileServers = new Map<Client, RemoteFileServer>();
    const schemas = this.#schemas;
    const fs = new NamespaceFileServer(table, {
      describe: (m) => `${describeInterface(schemas.index, m.interfaceId)}label ${m.label}\n`,
      fileServer: (m) => {
        if (m.interfaceId !== FILE_SERVER_INTERFACE_ID) return undefined;
        let r = fileServers.get(m.cap);
        if (r === undefined) fileServers.set(m.cap, (r = new RemoteFileServer(new FileServerIface.Client(dupClient(m.cap)))));
        return r;
      },
    });
    let released = false;
    return {
      fs,
      release: () => {
        if (released) return;
        released = true;
        for (const r of fileServers.values()) r.close();
        fileServers.clear();
        // Each grant leaves the table once nothing derived from it is held.
        for (const mp of table.mounts()) for (const b of mp.stack) release(b.member.cap);
      },
    };
  }

  async #listen9p(l: Listener, peerIsLoopback: boolean): Promise<OpenListener> {
    const profile = l.profile !== undefined ? this.#profiles.get(l.profile) : this.#loopbackProfile();
    if (profile === undefined || !(peerIsLoopback || l.profile !== undefined)) {
      throw new NsError(
        'NS_ERR_INVALID_ARGUMENT',
        `${l.loc.file}:${l.loc.line}:${l.loc.column} 9p listener: name a profile, or listen on loopback with a loopback profile`,
      );
    }
    const { fs, release: releaseAll } = this.namespaceFiles(profile.name, `${profile.name}@9p:${formatAddress(l.address)}`);
    const ninep = this.#manifest.limits['9p'];
    const server = new NinepServer(fs, {
      ...(ninep.maxMsize !== undefined && { maxMsize: ninep.maxMsize }),
      ...(ninep.maxFids !== undefined && { maxFids: ninep.maxFids }),
      ...(ninep.maxOutstanding !== undefined && { maxOutstanding: ninep.maxOutstanding }),
      ...(this.#manifest.limits.maxConnections !== undefined && { maxConnections: this.#manifest.limits.maxConnections }),
      log: (line) => this.#log.info({ protocol: '9p' }, line),
    });
    const bound = await server.listen(l.address.kind === 'unix' ? { kind: 'unix', path: l.address.path } : { kind: 'tcp', host: l.address.host, port: l.address.port });
    return {
      key: this.#key(l),
      served: { protocol: '9p', address: bound.kind === 'unix' ? `unix!${bound.path}` : `tcp!${bound.host}!${bound.port}`, profile: profile.name },
      connections: () => server.connections,
      fids: () => server.fidCount,
      close: async () => {
        await server.close();
        releaseAll();
      },
      destroy: () => {
        void server.destroy();
        releaseAll();
      },
    };
  }

  /**
   * The HTTP admin API, JSON gateway and web page (src/admin, docs/http.md). Each profile
   * gets one session per listener, made on its first request: a namespace served in
   * process, its capabilities granted to `profile@http:ADDRESS` like a Gate client's.
   */
  async #listenHttp(l: Listener, peerIsLoopback: boolean): Promise<OpenListener> {
    const sessions = new Map<string, Promise<AdminSession & { close(): Promise<void> }>>();
    let address = formatAddress(l.address);
    const schemas = this.#schemas;
    const capTableId = CapTable.Client.interfaceId;
    const app = buildAdminApp({
      profiles: () =>
        this.#profilesFor(l).map((p) => ({
          name: p.name,
          tokens: p.tokens,
          loopback: p.loopback,
          admin: [...p.table.mounts()].some((mp) => mp.stack.some((b) => b.member.interfaceId === capTableId)),
        })),
      peerIsLoopback,
      session: (name) => {
        let s = sessions.get(name);
        if (s === undefined) {
          const profile = this.#profilesFor(l).find((p) => p.name === name);
          if (profile === undefined) return Promise.reject(new NsError('NS_ERR_NOT_FOUND', `no profile '${name}'`));
          const holder = `${name}@http:${address}`;
          const ns = serveNamespace(grantedNamespace(profile, this.captable, holder));
          // In process: no RPC connection, only the namespace to release.
          const client = CapnsClient.local(ns, name, new JsonCodec(SchemaIndex.over(schemas.index)));
          s = Promise.resolve(Object.assign(client, { holder }));
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
    return {
      key: this.#key(l),
      served: { protocol: 'http', address, ...(l.profile !== undefined && { profile: l.profile }) },
      close: async () => {
        await app.close();
        await closeSessions();
      },
      destroy: () => {
        app.server.closeAllConnections();
        void app.close();
        void closeSessions();
      },
    };
  }

  #exportKey(e: Export, index: number): string {
    return `export:${canonical({ e, filter: index, generation: this.#generation.get(e.profile) })}`;
  }

  /**
   * Opens one `exports` entry: the profile's namespace (every capability a grant to the
   * export's holder), a sub view at `root`, on a listener of its own behind the export's
   * Gate (see src/proxy/exporter.ts).
   */
  async #openExport(e: Export, index: number): Promise<OpenListener> {
    const where = `${e.loc.file}:${e.loc.line}:${e.loc.column} export`;
    const profile = this.#profiles.get(e.profile);
    if (profile === undefined) throw new NsError('NS_ERR_NOT_FOUND', `${where}: no profile '${e.profile}'`);
    // Each peer gets a namespace of its own: its own grants (listed and revocable as
    // `profile@export:ADDRESS#peer#N`, ADDRESS as bound), its own budget of bindings.
    let bound = formatAddress(e.listen);
    const namespaceFor = (peer: string): Namespace$Client => {
      const holder = `${profile.name}@export:${bound}#${peer}`;
      return serveNamespace(grantedNamespace(profile, this.captable, holder, `export:${bound}#${peer.split('.')[0]}`));
    };
    const limits = rpcLimits(this.#manifest);
    let exp: Exporter;
    let filter: ExportFilter | undefined;
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
      exp = await startExport({
        namespaceFor,
        root: e.root,
        readOnly: e.readOnly,
        listen: formatAddress(e.listen),
        tokens: e.auth.tokens,
        tlsSubjects: e.auth.tlsSubjects,
        anonymous: e.auth.loopback && isLoopback(e.listen),
        ...(filter !== undefined && { filter }),
        ...(e.tls !== undefined && { tls: await tlsOptions(e.tls) }),
        ...(this.#manifest.limits.maxConnections !== undefined && { maxConnections: this.#manifest.limits.maxConnections }),
        ...(limits !== undefined && { limits }),
        onPeer: (event, peer) => this.#log[event === 'admitted' ? 'info' : 'warn']({ export: formatAddress(e.listen), peer }, `export peer ${event}`),
      });
    } catch (err) {
      if (err instanceof NsError) throw new NsError(err.code, `${where}: ${err.message}`, { cause: err });
      throw err;
    }
    bound = exp.address;
    const open: OpenListener = {
      key: this.#exportKey(e, index),
      served: { protocol: 'export', address: exp.address, profile: e.profile },
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
    this.#listeners.set(open.key, open);
    return open;
  }

  /** Stops accepting, drains connections (at most `drainMs`), then releases everything. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const open = [...this.#listeners.values()];
      this.#listeners.clear();
      await Promise.all(open.map((l) => this.#drain(l)));
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

function rpcLimits(m: Manifest): Partial<RpcLimits> | undefined {
  const r = m.limits.rpc;
  const out: Partial<RpcLimits> = {};
  for (const k of ['maxMessageBytes', 'maxInFlightCalls', 'maxQuestions', 'maxExports', 'maxImports'] as const) {
    const v = r[k];
    if (v !== undefined) (out as Record<string, number>)[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

async function tlsOptions(t: NonNullable<Listener['tls']>): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean }> {
  const [cert, key] = await Promise.all([readFile(t.cert), readFile(t.key)]);
  if (t.ca === undefined) return { cert, key };
  return { cert, key, ca: await readFile(t.ca), requestCert: true, rejectUnauthorized: true };
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

/** Starts the process a manifest describes. Rejects (having started nothing) on failure. */
export async function startCapnsServer(options: CapnsServerOptions): Promise<CapnsServer> {
  const s = new CapnsServer(options);
  await s.start();
  return s;
}

