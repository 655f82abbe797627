/**
 * import(4) for capabilities: dial an export, authenticate through its Gate, and present
 * the remote Namespace (or the capability at a path in it) as ONE stable local capability
 * that can be bound into a namespace like any other member.
 *
 * The stable capability is a forwarder (src/rpc/membrane.ts): each call goes to the
 * current connection's capability. When the connection dies, calls fail `disconnected`
 * at once and the importer reconnects with exponential backoff, re-authenticates and
 * re-resolves the path; capabilities obtained through the old connection stay broken
 * (`disconnected`), new calls through the stable capability work again by themselves.
 *
 * A peer that dies without a FIN (power loss, a cut cable) is noticed by a heartbeat: a
 * cheap call (`Namespace.members("/")`) every `heartbeatMs`; no answer of any kind within
 * `heartbeatTimeoutMs` destroys the connection, failing every call in flight through it
 * `disconnected` (seed 003: a dead server is an error, never a hang).
 */
import type tls from 'node:tls';
import type { Client } from 'capnp-es';
import * as $ from 'capnp-es';
import { NsError } from '../errors.js';
import { Gate, Namespace, type Namespace$Client } from '../gen/namespace.js';
import { NAMESPACE_INTERFACE_ID } from '../namespace/interfaces.js';
import {
  connect,
  release,
  retain,
  RpcError,
  type RpcConnection,
  type RpcLimits,
} from '../rpc/index.js';
import { forwarder } from '../rpc/membrane.js';
import type { Tracer } from '../rpc/trace.js';

/** Options of one import. */
export interface ImportOptions {
  /** The export's address: tcp!H!P, H:P, unix!PATH. */
  readonly address: string;
  readonly token?: string;
  /** Client TLS (ca to verify the export; cert+key for mutual TLS). */
  readonly tls?: tls.ConnectionOptions;
  /** The path in the exported namespace this import is (default '/': the namespace itself). */
  readonly path?: string;
  /** The interface expected at `path` (default Namespace). */
  readonly interfaceId?: bigint;
  /** Heartbeat period (default 250 ms). */
  readonly heartbeatMs?: number;
  /** No answer to a heartbeat within this: the connection is declared dead (default 500 ms). */
  readonly heartbeatTimeoutMs?: number;
  /** First reconnect delay (default 100 ms), doubled after each failure up to `backoffMaxMs` (default 5 s). */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  readonly limits?: Partial<RpcLimits>;
  /** Per-message trace of the connection (tests count messages with it). */
  readonly trace?: Tracer | null;
  /** Told of every state change (for logs). */
  readonly onState?: (state: 'connected' | 'disconnected' | 'failed', detail: string) => void;
}

/** One live connection to the export. */
interface Link {
  readonly conn: RpcConnection;
  readonly ns: Namespace$Client;
  /** What the import is: `ns` itself, or the capability at the path. */
  readonly target: Client;
}

/** A running import. Built by `startImport`. */
export class Importer {
  readonly #o: ImportOptions;
  #link: Link | null = null;
  #lastError: RpcError;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #backoff: number;
  #stable: Client | null;
  #firstAttempt: Promise<void>;
  #connections = 0;

  /** @internal */
  constructor(options: ImportOptions) {
    this.#o = options;
    this.#backoff = options.backoffMinMs ?? 100;
    this.#lastError = new RpcError('disconnected', `import ${options.address}: not connected yet`);
    this.#stable = forwarder(() => this.#link?.target ?? this.#lastError);
    this.#firstAttempt = this.#attempt();
  }

  /** The interface id of the imported capability. */
  get interfaceId(): bigint {
    return this.#o.interfaceId ?? NAMESPACE_INTERFACE_ID;
  }

  /** Whether a connection is up now. */
  get connected(): boolean {
    return this.#link !== null;
  }

  /** How many times a connection was established (1 after the first). */
  get connections(): number {
    return this.#connections;
  }

  /** The current connection, if any (for stats and tests). */
  get connection(): RpcConnection | null {
    return this.#link?.conn ?? null;
  }

  /**
   * A new reference (the caller's) to the stable capability: bind it into a namespace.
   * Calls fail `disconnected` while no connection is up.
   */
  capability(): Client {
    if (this.#stable === null) throw new NsError('NS_ERR_REVOKED', 'import closed');
    return retain(new AnyCap(this.#stable)).client;
  }

  /** Resolves after the first connection attempt, successful or not (never rejects). */
  firstAttempt(): Promise<void> {
    return this.#firstAttempt;
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    let conn: RpcConnection | null = null;
    try {
      conn = await connect(this.#o.address, {
        ...(this.#o.tls !== undefined && { tls: this.#o.tls }),
        ...(this.#o.limits !== undefined && { limits: this.#o.limits }),
        ...(this.#o.trace !== undefined && { trace: this.#o.trace }),
      });
      const gate = conn.bootstrap(Gate);
      let auth;
      try {
        auth = (await gate.authenticate((p) => (p.token = this.#o.token ?? '')).promise()).result;
      } finally {
        release(gate);
      }
      if (auth._isErr) throw new NsError('NS_ERR_PERMISSION', auth.err.message);
      const ns = auth.ok.ns;
      let target: Client = ns.client;
      const path = this.#o.path ?? '/';
      if (this.interfaceId === NAMESPACE_INTERFACE_ID && path !== '/') {
        // A Namespace at a path: the export's view rooted there (a mount point, a
        // synthetic directory, or an imported Namespace member all work the same).
        const r = (
          await ns
            .sub((p) => {
              p.prefix = path;
              p.readOnly = false;
            })
            .promise()
        ).result;
        if (r._isErr) {
          release(ns);
          throw new NsError('NS_ERR_NOT_FOUND', `${path}: ${r.err.message}`);
        }
        target = r.ns.client;
      } else if (this.interfaceId !== NAMESPACE_INTERFACE_ID) {
        const r = (
          await ns
            .resolve((p) => {
              p.path = path;
              p.expectedInterface = this.interfaceId;
            })
            .promise()
        ).result;
        if (r._isErr) {
          release(ns);
          throw new NsError('NS_ERR_NOT_FOUND', `${path}: ${r.err.message}`);
        }
        const cap = $.utils.getInterfaceClientOrNull(r.ok.cap);
        if (cap === null) throw new NsError('NS_ERR_NOT_FOUND', `${path}: null capability`);
        target = cap;
      }
      if (this.#closed) {
        release(ns);
        if (target !== ns.client) target.close();
        await conn.close();
        return;
      }
      const link: Link = { conn, ns, target };
      this.#link = link;
      this.#connections++;
      this.#backoff = this.#o.backoffMinMs ?? 100;
      this.#o.onState?.('connected', this.#o.address);
      void conn.whenClosed().then(() => this.#lost(link));
      this.#beat(link);
    } catch (e) {
      conn?.destroy();
      const msg = e instanceof Error ? e.message : String(e);
      this.#lastError = new RpcError('disconnected', `import ${this.#o.address}: ${msg}`);
      this.#o.onState?.('failed', msg);
      this.#schedule();
    }
  }

  /** Heartbeat: any answer (even an exception) proves the peer alive. */
  #beat(link: Link): void {
    const period = this.#o.heartbeatMs ?? 250;
    const timeout = this.#o.heartbeatTimeoutMs ?? 500;
    this.#heartbeat = setTimeout(() => {
      if (this.#link !== link) return;
      let answered = false;
      const deadline = setTimeout(() => {
        if (!answered)
          link.conn.destroy(
            new RpcError(
              'disconnected',
              `import ${this.#o.address}: no heartbeat answer in ${timeout} ms`,
            ),
          );
      }, timeout);
      link.ns
        .members((p) => (p.path = '/'))
        .promise()
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          answered = true;
          clearTimeout(deadline);
          if (this.#link === link) this.#beat(link);
        });
    }, period);
  }

  #lost(link: Link): void {
    if (this.#link !== link) return;
    this.#link = null;
    clearTimeout(this.#heartbeat);
    const why = link.conn.error?.message ?? 'connection closed';
    this.#lastError = new RpcError('disconnected', `import ${this.#o.address}: ${why}`);
    this.#o.onState?.('disconnected', why);
    if (link.target !== link.ns.client) link.target.close();
    release(link.ns);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.#o.backoffMaxMs ?? 5000);
    this.#timer = setTimeout(() => void this.#attempt(), delay);
  }

  /** Stops reconnecting, closes the connection; the stable capability fails from now on. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lastError = new RpcError('disconnected', `import ${this.#o.address}: closed`);
    clearTimeout(this.#timer);
    clearTimeout(this.#heartbeat);
    const link = this.#link;
    this.#link = null;
    const stable = this.#stable;
    this.#stable = null;
    stable?.close();
    if (link !== null) {
      if (link.target !== link.ns.client) link.target.close();
      release(link.ns);
      await link.conn.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

class AnyCap {
  constructor(readonly client: Client) {}
}

/** Starts an import; connects in the background (see `firstAttempt()`). Never throws. */
export function startImport(options: ImportOptions): Importer {
  return new Importer(options);
}

/** The imported Namespace as a typed client (the caller owns it). */
export function importedNamespace(imp: Importer): Namespace$Client {
  return new Namespace.Client(imp.capability());
}

/**
 * `ns.resolve(path)` and, pipelined on its answer, the capability it names, as a Client
 * of `Iface` usable at once: calls made on it travel with the resolve, so resolving a
 * remote path and calling the result costs one round trip. A failed resolve fails the
 * calls. The caller owns the returned client.
 */
export function resolvePipelined<C>(
  ns: Namespace$Client,
  path: string,
  Iface: { readonly Client: (new (client: Client) => C) & { readonly interfaceId: bigint } },
): C {
  const answer = ns.resolve((p) => {
    p.path = path;
    p.expectedInterface = Iface.Client.interfaceId;
  });
  // Results.result (pointer 0) -> ResolveResult.ok.cap (pointer 0).
  return new Iface.Client(
    answer.pipeline
      .getPipeline(Namespace.ResolveResult, 0)
      .getPipeline(Namespace.ResolveResult, 0)
      .client(),
  );
}
