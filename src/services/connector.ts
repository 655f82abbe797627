/**
 * `connect`: any Cap'n Proto server's bootstrap capability as one stable capability —
 * the C++ reference's EzRpcServer, a capnp-es or capns program, another language's.
 *
 * The connector dials the address (tcp, unix, TLS), asks for the peer's bootstrap
 * capability and checks its interface against the declared one when the peer can say
 * (`Introspect.interfaceId`; a peer that answers `unimplemented` is taken at its word —
 * the Cap'n Proto wire never says what a capability implements). The capability goes
 * into a Slot (src/services/slot.ts), which namespaces bind once:
 *
 * - during the first attempt calls wait for it (at most `timeoutMs` for the dial and the
 *   check together, never longer);
 * - while the server is down calls fail `disconnected` at once, naming the capability and
 *   the reason;
 * - the connector redials with exponential backoff (`backoffMinMs` doubling up to
 *   `backoffMaxMs`) and calls work again by themselves once it is back; capabilities
 *   obtained through the old connection stay broken.
 *
 * A peer that stops answering without closing the connection is noticed by a heartbeat:
 * every `heartbeatMs` one `Introspect.interfaceId` call, whose answer of any kind (an
 * `unimplemented` exception included) proves the peer alive; none within
 * `heartbeatTimeoutMs` cuts the connection.
 */
import type tls from 'node:tls';
import type { Client } from 'capnp-es';
import { Introspect } from '../gen/services.js';
import { connect, release, RpcError, type RpcConnection, type RpcLimits } from '../rpc/index.js';
import { Slot } from './slot.js';
import type { Answer } from '../rpc/cap.js';
import type { Call, Struct } from 'capnp-es';

/** Defaults of ConnectorOptions. */
export const CONNECT_DEFAULTS = {
  timeoutMs: 5000,
  backoffMinMs: 100,
  backoffMaxMs: 5000,
  heartbeatMs: 1000,
  heartbeatTimeoutMs: 2000,
} as const;

/** Options of one connect capability. */
export interface ConnectorOptions {
  /** The capability's name (in the manifest): every error names it. */
  readonly name: string;
  /** `tcp!HOST!PORT`, `HOST:PORT`, `[V6]:PORT`, `unix!PATH`. */
  readonly address: string;
  /** The declared interface. */
  readonly interfaceId: bigint;
  /** Its name, for messages ("KeyValue"). */
  readonly interfaceName?: string;
  /** Client TLS options (ca, cert, key, servername): dial with TLS. */
  readonly tls?: tls.ConnectionOptions;
  readonly limits?: Partial<RpcLimits>;
  /** The dial and the interface check together (default 5 s); also how long the first calls wait. */
  readonly timeoutMs?: number;
  /** First redial delay (default 100 ms), doubled after each failure up to `backoffMaxMs` (default 5 s). */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** Heartbeat period (default 1 s; 0: none). */
  readonly heartbeatMs?: number;
  /** No answer to a heartbeat within this: the connection is cut (default 2 s). */
  readonly heartbeatTimeoutMs?: number;
  /**
   * Decides whether the interface the peer says it implements will do: undefined to
   * accept, or the reason to refuse. Default: the same id as declared. (capns passes
   * one that also accepts interfaces extending the declared one, from their schemas.)
   */
  readonly accept?: (offered: bigint, peer: Client) => Promise<string | undefined>;
  /** Answers some calls locally (see SlotOptions.intercept). */
  readonly intercept?: (call: Call<Struct, Struct>) => Answer<Struct> | undefined;
  /** Told of every state change, for logs. */
  readonly onState?: (state: 'connected' | 'disconnected' | 'failed', detail: string) => void;
}

/** What `status()` reports. */
export interface ConnectorStatus {
  readonly state: 'connecting' | 'up' | 'down' | 'closed';
  /** Why it is down ('' while up). */
  readonly reason: string;
  /** Connections made so far. */
  readonly connections: number;
  /** Whether the peer confirmed its interface (Introspect), or it was taken on trust. */
  readonly verified: boolean;
}

/** One live connection. */
interface Link {
  readonly conn: RpcConnection;
  readonly verified: boolean;
}

/** A running connect capability. Built by `startConnector`. */
export class Connector {
  readonly #o: ConnectorOptions;
  readonly #slot: Slot;
  readonly #label: string;
  #link: Link | null = null;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #backoff: number;
  #connections = 0;
  #firstAttempt: Promise<void>;

  /** @internal use startConnector */
  constructor(options: ConnectorOptions) {
    this.#o = options;
    this.#label = `connect '${options.name}' (${options.address})`;
    this.#backoff = options.backoffMinMs ?? CONNECT_DEFAULTS.backoffMinMs;
    this.#slot = new Slot(this.#label, {
      waitMs: options.timeoutMs ?? CONNECT_DEFAULTS.timeoutMs,
      ...(options.intercept !== undefined && { intercept: options.intercept }),
    });
    this.#slot.starting(`connecting to ${options.address}`);
    this.#firstAttempt = this.#attempt();
  }

  /** The declared interface. */
  get interfaceId(): bigint {
    return this.#o.interfaceId;
  }

  /** The current connection, if any (for stats and tests). */
  get connection(): RpcConnection | null {
    return this.#link?.conn ?? null;
  }

  /** State, reason, counts. */
  status(): ConnectorStatus {
    const s = this.#slot.state;
    return {
      state: s === 'starting' ? 'connecting' : s,
      reason: this.#slot.reason,
      connections: this.#connections,
      verified: this.#link?.verified ?? false,
    };
  }

  /**
   * A new reference (the caller's) to the stable capability: bind it into namespaces.
   * @throws RpcError `disconnected` once the connector is closed.
   */
  capability(): Client {
    return this.#slot.capability();
  }

  /** Resolves after the first attempt, successful or not (never rejects). */
  firstAttempt(): Promise<void> {
    return this.#firstAttempt;
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    const timeoutMs = this.#o.timeoutMs ?? CONNECT_DEFAULTS.timeoutMs;
    let conn: RpcConnection | null = null;
    let timer: NodeJS.Timeout | undefined;
    // The dial and the check share one deadline: a peer that accepts and never answers
    // is a failure like one that refuses.
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    expired.catch(() => {});
    try {
      const dial = connect(this.#o.address, {
        ...(this.#o.tls !== undefined && { tls: this.#o.tls }),
        ...(this.#o.limits !== undefined && { limits: this.#o.limits }),
      });
      try {
        conn = await Promise.race([dial, expired]);
      } catch (e) {
        dial.then((c) => c.destroy(), () => {});
        throw e;
      }
      const boot = conn.bootstrap(Introspect);
      let verified = false;
      let offered: bigint | undefined;
      try {
        offered = (await Promise.race([boot.interfaceId().promise(), expired])).id;
        verified = true;
      } catch (e) {
        // `unimplemented`: the peer cannot say; take the declared interface at its word.
        if (!(e instanceof RpcError && e.type === 'unimplemented')) {
          release(boot);
          throw e;
        }
      }
      if (offered !== undefined && offered !== this.#o.interfaceId) {
        const accept = this.#o.accept ?? defaultAccept(this.#o);
        const refused = await Promise.race([accept(offered, boot.client), expired]);
        if (refused !== undefined) {
          release(boot);
          throw new Error(refused);
        }
      }
      if (this.#closed) {
        release(boot);
        await conn.close();
        return;
      }
      const link: Link = { conn, verified };
      this.#link = link;
      this.#connections++;
      this.#backoff = this.#o.backoffMinMs ?? CONNECT_DEFAULTS.backoffMinMs;
      this.#slot.up(boot.client);
      this.#o.onState?.('connected', verified ? 'interface confirmed by the peer' : 'the peer does not implement Introspect: interface taken on trust');
      void conn.whenClosed().then(() => this.#lost(link));
      this.#beat(link);
    } catch (e) {
      conn?.destroy();
      const msg = e instanceof Error ? e.message : String(e);
      this.#slot.down(msg);
      this.#o.onState?.('failed', msg);
      this.#schedule();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Heartbeat: any answer (even an exception) proves the peer alive. */
  #beat(link: Link): void {
    const period = this.#o.heartbeatMs ?? CONNECT_DEFAULTS.heartbeatMs;
    if (period <= 0) return;
    const timeout = this.#o.heartbeatTimeoutMs ?? CONNECT_DEFAULTS.heartbeatTimeoutMs;
    this.#heartbeat = setTimeout(() => {
      if (this.#link !== link) return;
      const target = this.#slot.target;
      if (target === null) return;
      let answered = false;
      const deadline = setTimeout(() => {
        if (!answered) link.conn.destroy(new RpcError('disconnected', `${this.#label}: no heartbeat answer in ${timeout} ms`));
      }, timeout);
      new Introspect.Client(target)
        .interfaceId()
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
    this.#slot.down(`connection lost: ${why}`);
    this.#o.onState?.('disconnected', why);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.#o.backoffMaxMs ?? CONNECT_DEFAULTS.backoffMaxMs);
    this.#timer = setTimeout(() => void this.#attempt(), delay);
  }

  /** Stops redialing and closes the connection; calls fail from now on. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#heartbeat);
    const link = this.#link;
    this.#link = null;
    this.#slot.close('closed');
    if (link !== null) await link.conn.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function defaultAccept(o: ConnectorOptions): (offered: bigint) => Promise<string | undefined> {
  return async (offered) => `the server offers interface ${hex(offered)}, not the declared ${o.interfaceName ?? hex(o.interfaceId)} (${hex(o.interfaceId)})`;
}

function hex(id: bigint): string {
  return `0x${id.toString(16).padStart(16, '0')}`;
}

/** Starts a connect capability; dials in the background (see `firstAttempt()`). Never throws. */
export function startConnector(options: ConnectorOptions): Connector {
  return new Connector(options);
}
