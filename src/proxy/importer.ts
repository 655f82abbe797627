/**
 * import(4) for capabilities: dial an export, authenticate through its Gate, and present
 * the remote Namespace (or the capability at a path in it) as ONE stable local capability
 * that can be bound into a namespace like any other member.
 *
 * The stable capability is a forwarder (src/rpc/membrane.ts): each call goes to the
 * current connection's capability. When the connection dies, calls fail `disconnected`
 * at once, naming the import and why it is down, and the importer reconnects with
 * exponential backoff, re-authenticates and re-resolves the path; capabilities obtained
 * through the old connection stay broken (`disconnected`), new calls through the stable
 * capability work again by themselves. Calls of the `Import` interface
 * (schema/proxy.capnp) are answered by the importer itself: its status.
 *
 * Nothing waits for an import. `startImport` returns at once and connects in the
 * background; every step of an attempt has a deadline (`connectTimeoutMs` for TCP and
 * TLS, `authTimeoutMs` for the Gate's answer, `resolveTimeoutMs` for the path's), so an
 * export that accepts and never answers costs one failed attempt, not a hang. A call
 * through the import may have a deadline of its own (`callTimeoutMs`, off by default).
 *
 * A refused credential is a refusal, not an outage: the import goes to `refused` at once,
 * calls fail `failed` with "permission denied", and it tries again only every
 * `retryRefusedMs` (never, by default) — retrying a wrong token fast helps nobody.
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
import {
  Import,
  type ImportStatus_State,
  type Import$Server$Target,
  type Import_Status$Params,
  type Import_Status$Results,
} from '../gen/proxy.js';
import { NAMESPACE_INTERFACE_ID } from '../namespace/interfaces.js';
import {
  connect,
  guardCalls,
  release,
  retain,
  RpcError,
  serve,
  type RpcConnection,
  type RpcLimits,
} from '../rpc/index.js';
import { forwarder } from '../rpc/membrane.js';
import type { Tracer } from '../rpc/trace.js';
import { heartbeat } from './heartbeat.js';
import { formatDuration as duration, STATE_WIRE, type ImportState, type ImportStatus } from './import-status.js';

export { formatImportStatus, importStateOf, readImportStatus, type ImportState, type ImportStatus } from './import-status.js';

/** The interface id of `Import` (schema/proxy.capnp). */
export const IMPORT_INTERFACE_ID: bigint = Import.Client.interfaceId;

/** Defaults of the import's deadlines and timers, in milliseconds. */
export const IMPORT_DEFAULTS = {
  connectTimeoutMs: 5000,
  authTimeoutMs: 5000,
  resolveTimeoutMs: 5000,
  heartbeatMs: 250,
  heartbeatTimeoutMs: 500,
  backoffMinMs: 100,
  backoffMaxMs: 5000,
} as const;

/** Options of one import. */
export interface ImportOptions {
  /** The export's address: tcp!H!P, H:P, unix!PATH. */
  readonly address: string;
  /** What messages and the status call it (a manifest capability name, a mount path). */
  readonly name?: string;
  readonly token?: string;
  /** Client TLS (ca to verify the export; cert+key for mutual TLS). */
  readonly tls?: tls.ConnectionOptions;
  /** The path in the exported namespace this import is (default '/': the namespace itself). */
  readonly path?: string;
  /** The interface expected at `path` (default Namespace). */
  readonly interfaceId?: bigint;
  /** TCP connect and TLS handshake together (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** The Gate's answer to authenticate (default 5 s). */
  readonly authTimeoutMs?: number;
  /** The answer to resolving `path` (default 5 s). */
  readonly resolveTimeoutMs?: number;
  /**
   * Each call through the import fails `overloaded` (and is cancelled) without an answer
   * within this (default: no deadline; the heartbeat still catches a dead export).
   */
  readonly callTimeoutMs?: number;
  /**
   * After the export refuses the credentials, try again after this long (default 0:
   * never; the import stays `refused` until it is restarted or reloaded).
   */
  readonly retryRefusedMs?: number;
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
  /** Told of every change (for logs), with the status after it. Must not throw. */
  readonly onEvent?: (event: ImportEvent, status: ImportStatus) => void;
}

/**
 * What happened: the first connection, a later one, a connection lost, an attempt that
 * failed, a refusal of the credentials, the end.
 */
export type ImportEvent = 'connected' | 'reconnected' | 'lost' | 'failed' | 'refused' | 'closed';

/** One live connection to the export. */
interface Link {
  readonly conn: RpcConnection;
  readonly ns: Namespace$Client;
  /** What the import is: `ns` itself, or the capability at the path. */
  readonly target: Client;
  /** `target` behind the per-call deadline and the errors that name this import. */
  readonly view: Client;
}

/** The export said no to the credentials. */
class Refusal extends Error {}

/** A running import. Built by `startImport`. */
export class Importer {
  readonly #o: ImportOptions;
  readonly #who: string;
  #link: Link | null = null;
  #closed = false;
  /** Aborted by close(): ends an attempt under way at once. */
  readonly #closing = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #backoff: number;
  #stable: Client | null;
  /** Answers `Import.status`; released when the last reference to the stable capability goes. */
  #statusCap: Client | null;
  #firstAttempt: Promise<void>;
  /** The latest attempt (settled, or under way): close() waits for it to let go of its socket. */
  #current: Promise<void>;
  #state: ImportState = 'connecting';
  #since = Date.now();
  #lastError = '';
  #lastErrorAt = 0;
  #nextAttemptAt = 0;
  #connections = 0;

  /** @internal */
  constructor(options: ImportOptions) {
    this.#o = options;
    this.#who = options.name !== undefined && options.name !== '' ? `import '${options.name}' (${options.address})` : `import of ${options.address}`;
    this.#backoff = options.backoffMinMs ?? IMPORT_DEFAULTS.backoffMinMs;
    const target: Import$Server$Target = {
      status: async (_p: Import_Status$Params, r: Import_Status$Results): Promise<void> => {
        const s = this.status();
        const w = r._initStatus();
        w.name = s.name;
        w.address = s.address;
        w.path = s.path;
        w.state = STATE_WIRE[s.state] as ImportStatus_State;
        w.since = BigInt(s.since);
        w.lastError = s.lastError;
        w.lastErrorAt = BigInt(s.lastErrorAt);
        w.connections = s.connections;
        w.nextAttemptAt = BigInt(s.nextAttemptAt);
      },
    };
    this.#statusCap = serve(Import, target).client;
    this.#stable = forwarder(
      (interfaceId) => {
        if (interfaceId === IMPORT_INTERFACE_ID && this.#statusCap !== null) return this.#statusCap;
        return this.#link?.view ?? this.#callError();
      },
      () => {
        // The last reference is gone: nobody can ask for the status any more.
        this.#statusCap?.close();
        this.#statusCap = null;
      },
    );
    this.#firstAttempt = this.#current = this.#attempt();
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

  /** Where the import is now, since when, and why (what `Import.status` answers). */
  status(): ImportStatus {
    return {
      name: this.#o.name ?? '',
      address: this.#o.address,
      path: this.#o.path ?? '/',
      state: this.#state,
      since: this.#since,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      connections: this.#connections,
      nextAttemptAt: this.#nextAttemptAt,
    };
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

  /** What a call fails with while no connection is up: the import, its state, why. */
  #callError(): RpcError {
    const now = Date.now();
    const next = this.#nextAttemptAt > 0 ? `next attempt in ${duration(this.#nextAttemptAt - now)}` : 'an attempt is under way';
    switch (this.#state) {
      case 'connecting':
        return new RpcError('disconnected', `${this.#who} is not connected yet (connecting for ${duration(now - this.#since)})`);
      case 'connected':
      case 'retrying':
        return new RpcError('disconnected', `${this.#who} is down: ${this.#lastError} (for ${duration(now - this.#since)}; ${next})`);
      case 'refused':
        return new RpcError(
          'failed',
          `${this.#who}: permission denied: the export refused the credentials (${this.#lastError}); ${this.#nextAttemptAt > 0 ? next : 'not retrying: fix the token, then reload or restart'}`,
        );
      case 'closed':
        return new RpcError('disconnected', `${this.#who} is closed`);
    }
  }

  #enter(state: ImportState): void {
    if (this.#state !== state) {
      this.#state = state;
      this.#since = Date.now();
    }
  }

  #emit(event: ImportEvent): void {
    try {
      this.#o.onEvent?.(event, this.status());
    } catch {
      // A logger must not break the import.
    }
  }

  /**
   * Races `p` against a deadline, and against `close()` (an attempt under way must not
   * keep a connection open after the import is closed); the caller destroys the
   * connection on failure.
   */
  async #within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let onClose: (() => void) | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${duration(ms)}`)), ms);
      onClose = () => reject(new Error('closed'));
      this.#closing.signal.addEventListener('abort', onClose, { once: true });
    });
    try {
      return await Promise.race([p, expired]);
    } finally {
      clearTimeout(timer);
      if (onClose !== undefined) this.#closing.signal.removeEventListener('abort', onClose);
    }
  }

  async #dial(): Promise<RpcConnection> {
    const ms = this.#o.connectTimeoutMs ?? IMPORT_DEFAULTS.connectTimeoutMs;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`no connection within ${duration(ms)}${this.#o.tls !== undefined ? ' (TCP and TLS handshake)' : ''}`)), ms);
    const onClose = (): void => ac.abort(new Error('closed'));
    this.#closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      return await connect(this.#o.address, {
        signal: ac.signal,
        ...(this.#o.tls !== undefined && { tls: this.#o.tls }),
        ...(this.#o.limits !== undefined && { limits: this.#o.limits }),
        ...(this.#o.trace !== undefined && { trace: this.#o.trace }),
      });
    } finally {
      clearTimeout(timer);
      this.#closing.signal.removeEventListener('abort', onClose);
    }
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    this.#nextAttemptAt = 0;
    let conn: RpcConnection | null = null;
    let ns: Namespace$Client | null = null;
    let target: Client | null = null;
    try {
      conn = await this.#dial();
      const gate = conn.bootstrap(Gate);
      let auth;
      try {
        const answer = gate.authenticate((p) => (p.token = this.#o.token ?? '')).promise();
        auth = (await this.#within(answer, this.#o.authTimeoutMs ?? IMPORT_DEFAULTS.authTimeoutMs, 'authenticate')).result;
      } finally {
        release(gate);
      }
      if (auth._isErr) throw new Refusal(auth.err.message);
      ns = auth.ok.ns;
      target = ns.client;
      const path = this.#o.path ?? '/';
      const resolveMs = this.#o.resolveTimeoutMs ?? IMPORT_DEFAULTS.resolveTimeoutMs;
      if (this.interfaceId === NAMESPACE_INTERFACE_ID && path !== '/') {
        // A Namespace at a path: the export's view rooted there (a mount point, a
        // synthetic directory, or an imported Namespace member all work the same).
        const answer = ns
          .sub((p) => {
            p.prefix = path;
            p.readOnly = false;
          })
          .promise();
        const r = (await this.#within(answer, resolveMs, `resolve ${path}`)).result;
        if (r._isErr) throw new Error(`${path}: ${r.err.message}`);
        target = r.ns.client;
      } else if (this.interfaceId !== NAMESPACE_INTERFACE_ID) {
        const answer = ns
          .resolve((p) => {
            p.path = path;
            p.expectedInterface = this.interfaceId;
          })
          .promise();
        const r = (await this.#within(answer, resolveMs, `resolve ${path}`)).result;
        if (r._isErr) throw new Error(`${path}: ${r.err.message}`);
        const cap = $.utils.getInterfaceClientOrNull(r.ok.cap);
        if (cap === null) throw new Error(`${path}: the export answered no capability`);
        target = cap;
      }
      if (this.#closed) throw new Error('closed');
      this.#up(conn, ns, target);
    } catch (e) {
      if (target !== null && ns !== null && target !== ns.client) target.close();
      if (ns !== null) release(ns);
      conn?.destroy();
      if (this.#closed) return;
      const msg = e instanceof Error ? e.message : String(e);
      this.#lastError = msg;
      this.#lastErrorAt = Date.now();
      if (e instanceof Refusal) {
        this.#enter('refused');
        const retry = this.#o.retryRefusedMs ?? 0;
        if (retry > 0) this.#schedule(retry);
        this.#emit('refused');
      } else {
        this.#enter('retrying');
        this.#schedule(this.#nextBackoff());
        this.#emit('failed');
      }
    }
  }

  #up(conn: RpcConnection, ns: Namespace$Client, target: Client): void {
    const link: Link = {
      conn,
      ns,
      target,
      view: guardCalls(target, {
        ...(this.#o.callTimeoutMs !== undefined && { timeoutMs: this.#o.callTimeoutMs }),
        timeoutError: (ms) => new RpcError('overloaded', `${this.#who}: no answer within ${duration(ms)} (the import's call deadline)`),
        // A failure of the connection itself names this import; what the export reports
        // about the hops behind it (its own imports) passes unchanged.
        mapError: (e) => (e.type === 'disconnected' && conn.closed ? new RpcError('disconnected', `${this.#who} lost its connection: ${e.message}`, { cause: e }) : e),
      }),
    };
    this.#link = link;
    this.#connections++;
    this.#backoff = this.#o.backoffMinMs ?? IMPORT_DEFAULTS.backoffMinMs;
    this.#enter('connected');
    this.#emit(this.#connections === 1 ? 'connected' : 'reconnected');
    void conn.whenClosed().then(() => this.#lost(link));
    const timeout = this.#o.heartbeatTimeoutMs ?? IMPORT_DEFAULTS.heartbeatTimeoutMs;
    heartbeat(conn, {
      periodMs: this.#o.heartbeatMs ?? IMPORT_DEFAULTS.heartbeatMs,
      timeoutMs: timeout,
      probe: () => link.ns.members((p) => (p.path = '/')).promise(),
      dead: () => new RpcError('disconnected', `no answer to a heartbeat within ${duration(timeout)}`),
    });
  }

  #lost(link: Link): void {
    if (this.#link !== link) return;
    this.#link = null;
    if (link.target !== link.ns.client) link.target.close();
    release(link.ns);
    if (this.#closed) return;
    this.#lastError = link.conn.error?.message ?? 'connection closed';
    this.#lastErrorAt = Date.now();
    this.#enter('retrying');
    this.#schedule(this.#nextBackoff());
    this.#emit('lost');
  }

  #nextBackoff(): number {
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.#o.backoffMaxMs ?? IMPORT_DEFAULTS.backoffMaxMs);
    return delay;
  }

  #schedule(delay: number): void {
    if (this.#closed) return;
    this.#nextAttemptAt = Date.now() + delay;
    this.#timer = setTimeout(() => void (this.#current = this.#attempt()), delay);
  }

  /** Stops reconnecting, closes the connection; the stable capability fails from now on. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#nextAttemptAt = 0;
    this.#enter('closed');
    clearTimeout(this.#timer);
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
    await this.#current;
    this.#emit('closed');
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
