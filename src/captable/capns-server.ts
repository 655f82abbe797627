/**
 * The capability table process: everything `capns serve` runs, built from a Manifest.
 *
 *   manifest capabilities -> instances (ram, dir, demo, captable), one capability each
 *   manifest profiles     -> a MountTable per profile, built by its steps in order
 *   rpc listeners         -> each connection bootstraps a Gate: credentials in, a fork of
 *                            the profile's namespace out, every capability a fresh grant
 *   9p listeners          -> the namespace file tree of one profile, for 9P clients
 *
 * Constructed by `startCapnsServer` (which listens); the CLI is the only caller that
 * reads argv/env and installs signal handlers.
 */
import { mkdir } from 'node:fs/promises';
import type { Client } from 'capnp-es';
import type { Logger } from 'pino';
import { NsError } from '../errors.js';
import { NinepServer } from '../fileserver/9p/server.js';
import { newDirFileServer } from '../fileserver/dir-file-server.js';
import { RemoteFileServer, serveFileServer } from '../fileserver/file-server-rpc.js';
import type { FileServer } from '../fileserver/file-server.js';
import { MemFileServer } from '../fileserver/mem-file-server.js';
import { CapTable } from '../gen/captable.js';
import { Clock, Echo } from '../gen/demo.js';
import { File as FileIface, FileServer as FileServerIface } from '../gen/fileserver.js';
import { Gate, Namespace } from '../gen/namespace.js';
import { formatAddress, isLoopback } from '../manifest/address.js';
import type { Capability, Listener, Manifest, Profile } from '../manifest/types.js';
import type { InterfaceRef } from '../manifest/interfaces.js';
import { FILE_SERVER_INTERFACE_ID } from '../namespace/interfaces.js';
import { MountTable } from '../namespace/mount-table.js';
import { NamespaceFileServer } from '../namespace/namespace-file-server.js';
import { listen, release, type RpcLimits, type RpcListener } from '../rpc/index.js';
import { CapabilityTable, serveCapTable } from './capability-table.js';
import { newClock } from './demo-services.js';
import { grantedNamespace, serveGate, type GateProfile } from './gate.js';

/** Interface ids by schema name, from the generated code. */
const INTERFACE_IDS: ReadonlyMap<string, bigint> = new Map([
  ['FileServer', FileServerIface.Client.interfaceId],
  ['File', FileIface.Client.interfaceId],
  ['Namespace', Namespace.Client.interfaceId],
  ['Gate', Gate.Client.interfaceId],
  ['CapTable', CapTable.Client.interfaceId],
  ['Clock', Clock.Client.interfaceId],
  ['Echo', Echo.Client.interfaceId],
]);

/** The interface id an InterfaceRef names. @throws NsError for an unknown name. */
export function interfaceIdOf(ref: InterfaceRef): bigint {
  if (ref.id !== undefined) return ref.id;
  const id = ref.name === undefined ? undefined : INTERFACE_IDS.get(ref.name);
  if (id === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `unknown interface '${ref.name ?? '?'}'`);
  return id;
}

/** One capability instance: a reference the server holds for its whole life. */
interface Instance {
  readonly client: Client;
  readonly interfaceId: bigint;
  readonly close: () => Promise<void> | void;
}

/** What `capns serve` is listening on, for printing. */
export interface ServedAddress {
  readonly protocol: Listener['protocol'];
  readonly address: string;
  readonly profile?: string;
}

/** Options of the process. */
export interface CapnsServerOptions {
  readonly manifest: Manifest;
  readonly logger: Logger;
  /** How long close() waits for connections to drain before cutting them (default 5 s). */
  readonly drainMs?: number;
}

/** The running process. Built by `startCapnsServer`. */
export class CapnsServer {
  readonly captable = new CapabilityTable();
  readonly addresses: ServedAddress[] = [];
  readonly #manifest: Manifest;
  readonly #log: Logger;
  readonly #drainMs: number;
  readonly #instances = new Map<string, Instance>();
  readonly #profiles = new Map<string, GateProfile>();
  readonly #rpc: RpcListener[] = [];
  readonly #ninep: NinepServer[] = [];
  readonly #closers: (() => void)[] = [];
  #closing: Promise<void> | null = null;

  constructor(options: CapnsServerOptions) {
    this.#manifest = options.manifest;
    this.#log = options.logger;
    this.#drainMs = options.drainMs ?? 5000;
  }

  /** Instantiates capabilities, builds profiles, opens listeners. Undoes it all on failure. */
  async start(): Promise<void> {
    try {
      for (const c of this.#manifest.capabilities) this.#instances.set(c.name, await this.#instantiate(c));
      for (const p of this.#manifest.profiles) this.#profiles.set(p.name, this.#buildProfile(p));
      for (const l of this.#manifest.listeners) await this.#listen(l);
    } catch (e) {
      this.destroy();
      throw e;
    }
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
        const fs = await newDirFileServer(c.path, { readOnly: c.readOnly, syncWrites: c.syncWrites });
        const client = serveFileServer(fs).client;
        this.#log.info({ capability: c.name, path: c.path, readOnly: c.readOnly }, 'serving host directory');
        return { client, interfaceId: FILE_SERVER_INTERFACE_ID, close: () => client.close() };
      }
      case 'demo.clock': {
        const client = newClock().client;
        return { client, interfaceId: Clock.Client.interfaceId, close: () => client.close() };
      }
      case 'captable': {
        const client = serveCapTable(this.captable).client;
        return { client, interfaceId: CapTable.Client.interfaceId, close: () => client.close() };
      }
      case 'import':
        throw new NsError(
          'NS_ERR_INVALID_ARGUMENT',
          `${c.loc.file}:${c.loc.line}:${c.loc.column} capability '${c.name}': type import is not served yet (exportfs/import is issue 6)`,
        );
    }
  }

  #buildProfile(p: Profile): GateProfile {
    const table = new MountTable<Client>();
    for (const step of p.namespace) {
      const where = `${step.loc.file}:${step.loc.line}:${step.loc.column} profile '${p.name}'`;
      try {
        switch (step.op) {
          case 'mount': {
            const inst = this.#instances.get(step.capability);
            if (inst === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no capability '${step.capability}'`);
            if (step.require !== undefined) table.declare(step.at, interfaceIdOf(step.require));
            table.bind(
              step.at,
              { cap: inst.client, interfaceId: inst.interfaceId, label: step.capability },
              { position: step.position, create: step.create, spec: step.spec },
            );
            break;
          }
          case 'bind':
            if (step.require !== undefined) table.declare(step.at, interfaceIdOf(step.require));
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
    return { name: p.name, tokens: p.auth.tokens, loopback: p.auth.loopback, table };
  }

  /** The profiles a listener serves: its own, or every profile. */
  #profilesFor(l: Listener): GateProfile[] {
    const all = [...this.#profiles.values()];
    if (l.profile === undefined) return all;
    const p = this.#profiles.get(l.profile);
    // A listener bound to one profile serves it to whoever connects (manifest doc).
    return p === undefined ? [] : [{ ...p, loopback: true }];
  }

  async #listen(l: Listener): Promise<void> {
    const loopback = isLoopback(l.address) || l.profile !== undefined;
    switch (l.protocol) {
      case 'rpc':
        return this.#listenRpc(l, loopback);
      case '9p':
        return this.#listen9p(l, loopback);
      case 'http':
        // The HTTP admin API and web page are issue 7; until then the listener is
        // declared but not opened, and the log says so.
        this.#log.warn({ address: formatAddress(l.address) }, 'http listener not opened: the HTTP API is not implemented yet');
        return;
    }
  }

  async #listenRpc(l: Listener, peerIsLoopback: boolean): Promise<void> {
    const profiles = this.#profilesFor(l);
    const limits = rpcLimits(this.#manifest);
    let n = 0;
    const listener = await listen(formatAddress(l.address), {
      ...(limits !== undefined && { limits }),
      ...(l.tls !== undefined && { tls: await tlsOptions(l.tls) }),
      bootstrap: () => {
        const connection = `rpc#${++n}`;
        return serveGate({
          profiles,
          captable: this.captable,
          connection,
          peerIsLoopback,
          onAuthenticated: (profile, holder) => this.#log.info({ profile, holder }, 'authenticated'),
        });
      },
    });
    this.#rpc.push(listener);
    this.addresses.push({ protocol: 'rpc', address: listener.address, ...(l.profile !== undefined && { profile: l.profile }) });
  }

  async #listen9p(l: Listener, peerIsLoopback: boolean): Promise<void> {
    const profile = l.profile !== undefined ? this.#profiles.get(l.profile) : [...this.#profiles.values()].find((p) => p.loopback);
    if (profile === undefined || !(peerIsLoopback || l.profile !== undefined)) {
      throw new NsError(
        'NS_ERR_INVALID_ARGUMENT',
        `${l.loc.file}:${l.loc.line}:${l.loc.column} 9p listener: name a profile, or listen on loopback with a loopback profile`,
      );
    }
    const holder = `${profile.name}@9p:${formatAddress(l.address)}`;
    const table = grantedNamespace(profile, this.captable, holder);
    const fileServers = new Map<Client, RemoteFileServer>();
    const fs: FileServer = new NamespaceFileServer(table, {
      fileServer: (m) => {
        if (m.interfaceId !== FILE_SERVER_INTERFACE_ID) return undefined;
        let r = fileServers.get(m.cap);
        if (r === undefined) fileServers.set(m.cap, (r = new RemoteFileServer(new FileServerIface.Client(m.cap))));
        return r;
      },
    });
    const ninep = this.#manifest.limits['9p'];
    const server = new NinepServer(fs, {
      ...(ninep.maxMsize !== undefined && { maxMsize: ninep.maxMsize }),
      ...(ninep.maxFids !== undefined && { maxFids: ninep.maxFids }),
      ...(ninep.maxOutstanding !== undefined && { maxOutstanding: ninep.maxOutstanding }),
      ...(this.#manifest.limits.maxConnections !== undefined && { maxConnections: this.#manifest.limits.maxConnections }),
      log: (line) => this.#log.info({ protocol: '9p' }, line),
    });
    const bound = await server.listen(l.address.kind === 'unix' ? { kind: 'unix', path: l.address.path } : { kind: 'tcp', host: l.address.host, port: l.address.port });
    this.#ninep.push(server);
    this.#closers.push(() => {
      for (const r of fileServers.values()) r.close();
      for (const mp of table.mounts()) for (const b of mp.stack) release(b.member.cap);
      this.captable.forget(holder);
    });
    this.addresses.push({ protocol: '9p', address: bound.kind === 'unix' ? `unix!${bound.path}` : `tcp!${bound.host}!${bound.port}`, profile: profile.name });
  }

  /** Stops accepting, drains connections (at most `drainMs`), then releases everything. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const drain = Promise.allSettled([...this.#rpc.map((l) => l.close()), ...this.#ninep.map((s) => s.close())]);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.#drainMs)));
      if ((await Promise.race([drain, timeout])) === 'timeout') {
        this.#log.warn('connections did not drain in time; cutting them');
        this.destroy();
      }
      clearTimeout(timer);
      await this.#release();
    })();
    return this.#closing;
  }

  /** Cuts every connection at once and releases everything. Idempotent; never throws. */
  destroy(err?: Error): void {
    for (const l of this.#rpc) l.destroy(err);
    for (const s of this.#ninep) void s.destroy();
    void this.#release();
  }

  #released = false;

  async #release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    for (const c of this.#closers.splice(0)) {
      try {
        c();
      } catch (e) {
        this.#log.error({ err: e }, 'while releasing');
      }
    }
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
  const { readFile } = await import('node:fs/promises');
  const [cert, key] = await Promise.all([readFile(t.cert), readFile(t.key)]);
  if (t.ca === undefined) return { cert, key };
  return { cert, key, ca: await readFile(t.ca), requestCert: true, rejectUnauthorized: true };
}

/** Starts the process a manifest describes. Rejects (having started nothing) on failure. */
export async function startCapnsServer(options: CapnsServerOptions): Promise<CapnsServer> {
  const s = new CapnsServer(options);
  await s.start();
  return s;
}

