/**
 * exportfs(4) for capabilities: a subtree of a namespace served on an RPC listener of its
 * own. The listener bootstraps a Gate; a peer that authenticates (bearer token compared
 * in constant time, or a TLS client certificate the listener verified) receives a
 * namespace of its own — as exportfs gives each connection its own name space: a fork of
 * the exported one, or a fresh one from `namespaceFor` — seen from the export's root and
 * wrapped in ONE membrane of its own (src/rpc/membrane.ts), so the export's rules —
 * read-only, the filter — hold for every capability derived from it, and revoking the
 * export severs all of them at once. One peer's binds are seen by no other peer and go
 * with it.
 *
 *   namespace --fork--> peer's namespace --sub(root, readOnly)--> view
 *                                         --membrane(peer policy)--> what the peer holds
 *
 * Limits: connections per export (`maxConnections`, the newest is cut), in-flight calls
 * per peer (`limits.maxInFlightCalls`, RpcLimits: every connection is one peer), failed
 * authentications per connection (`maxFailures`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type tls from 'node:tls';
import { NsError } from '../errors.js';
import { setFailure } from '../failure.js';
import {
  Gate,
  Namespace,
  type Gate$Server$Target,
  type Gate_Authenticate$Params,
  type Gate_Authenticate$Results,
  type Namespace$Client,
} from '../gen/namespace.js';
import { Import } from '../gen/proxy.js';
import {
  listen,
  release,
  retain,
  RpcError,
  serve,
  subjectMatches,
  type Peer,
  type RpcConnection,
  type RpcLimits,
  type RpcListener,
} from '../rpc/index.js';
import { membrane } from '../rpc/membrane.js';
import { NamespaceOwner, type NamespaceOwnerOptions } from '../namespace/namespace-server.js';
import { heartbeat } from './heartbeat.js';
import { ExportPolicy, NO_FILTER, Revocation, type ExportFilter } from './export-policy.js';

/** Options of one export. */
export interface ExportOptions {
  /**
   * The namespace to export from: each peer gets a fork of it. Not owned: the exporter
   * takes its own reference; the caller may release `ns` once `startExport` resolved.
   * (The forks share `ns`'s budget of bindings, and a fork ends only when released: one a
   * peer bound into itself lives until the export closes. Give `namespaceFor` to budget
   * each peer and end its namespaces with its connection.)
   */
  readonly ns?: Namespace$Client;
  /**
   * Instead of `ns`: makes a namespace of `peer`'s own (the exporter owns what it returns
   * and releases it with the peer). `owner` is the peer's connection's: give it to
   * serveNamespace, so that every namespace of the connection shares one budget, counts
   * against `namespaces.maxNamespaces`, and ends with the connection. Called once at start
   * (peer "start", no owner) to check the root.
   * @throws NsError to refuse the peer (e.g. NS_ERR_BUSY: the capability table is full).
   */
  readonly namespaceFor?: (peer: string, owner?: NamespaceOwner) => Namespace$Client;
  /** With `namespaceFor`: the limits of each connection's NamespaceOwner (maxNamespaces, maxBinds). */
  readonly namespaces?: Omit<NamespaceOwnerOptions, 'refused'>;
  /** The subtree exported (default '/'). Nothing outside it can be named. */
  readonly root?: string;
  readonly readOnly?: boolean;
  readonly filter?: ExportFilter;
  /** Where to listen: tcp!H!P, H:P, unix!PATH. */
  readonly listen: string;
  /** Bearer tokens that may import. */
  readonly tokens?: readonly string[];
  /**
   * Server TLS. With `requestCert` and `rejectUnauthorized` (mutual TLS) every connection
   * that completes the handshake is authenticated by its certificate: it may present "".
   */
  readonly tls?: tls.TlsOptions;
  /**
   * With mutual TLS: the client certificate subjects admitted without a token ("CN=alice"
   * or "CN=alice, O=example": every attribute named must match). Absent: any certificate
   * the CA signed.
   */
  readonly tlsSubjects?: readonly string[];
  /** Let a peer presenting no token in (only for loopback or unix listeners; default false). */
  readonly anonymous?: boolean;
  /** Connections at once (default 64). */
  readonly maxConnections?: number;
  /** Per-connection (= per-peer) RPC limits, e.g. maxInFlightCalls. */
  readonly limits?: Partial<RpcLimits>;
  /** Failed authentications before a connection's Gate refuses everything (default 5). */
  readonly maxFailures?: number;
  /**
   * How often each peer is probed (default 1 s; 0 turns it off): a connection whose
   * peer answers nothing at all within `heartbeatTimeoutMs` (default 5 s) is cut, so
   * a vanished importer gives its slot back (src/proxy/heartbeat.ts).
   */
  readonly heartbeatMs?: number;
  readonly heartbeatTimeoutMs?: number;
  /** Told of each peer admitted or refused (for logs). */
  readonly onPeer?: (event: 'admitted' | 'refused' | 'over-limit', peer: string) => void;
  /**
   * Each connection `maxConnections` let in, before anything is read from it (capns serve
   * counts it against its process-wide budget, and may destroy it).
   */
  readonly onConnection?: (conn: RpcConnection) => void;
  /** Closes an accepted connection before anything is made for it when true (ListenOptions.dropAtAccept). */
  readonly dropAtAccept?: () => boolean;
  /** Told when an accepted connection's socket has closed (ListenOptions.onSocketClosed), whether or not it was let in. */
  readonly onSocketClosed?: (conn: RpcConnection) => void;
  /**
   * Told of each namespace handed to a peer (the sessions tree): `ns` is what the peer
   * holds (the view, in the export's membrane), lent for the call: dupClient it to keep
   * it. `peer` is the connection's, to hang up and to learn when it ends.
   */
  readonly onSession?: (session: string, ns: Namespace$Client, peer: Pick<Peer, 'address' | 'hangup' | 'whenClosed'>) => void;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A running export. Built by `startExport`. */
export class Exporter {
  readonly #listener: RpcListener;
  readonly #source: Namespace$Client | undefined;
  readonly #revocation: Revocation;
  #closed = false;

  /** @internal */
  constructor(listener: RpcListener, source: Namespace$Client | undefined, revocation: Revocation) {
    this.#listener = listener;
    this.#source = source;
    this.#revocation = revocation;
  }

  /** Whether `revoke()` (or close) was called. */
  get revoked(): boolean {
    return this.#revocation.revoked;
  }

  /** The address listened on (port 0 resolved). */
  get address(): string {
    return this.#listener.address;
  }

  /** Peers connected now. */
  get connections(): number {
    return this.#listener.connections.size;
  }

  /**
   * Severs every capability this export ever handed out, at once: each call through any
   * of them (or anything derived) fails with `Failure.revoked` (an exception "revoked: ..."
   * for methods without a result union); new authentications are refused. Connections stay
   * open until `close()`/`destroy()`.
   */
  revoke(reason = 'export revoked'): void {
    this.#revocation.revoke(reason);
  }

  /** Revokes, stops accepting, drains the connections. Idempotent. */
  async close(): Promise<void> {
    this.revoke('export closed');
    await this.#listener.close();
    this.#releaseView();
  }

  /** Revokes and cuts every connection at once. Idempotent; never throws. */
  destroy(err?: Error): void {
    this.revoke('export closed');
    this.#listener.destroy(err);
    this.#releaseView();
  }

  #releaseView(): void {
    if (this.#closed) return;
    this.#closed = true;
    release(this.#source);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Where each peer's namespace comes from: a fresh one, or a fork of the exported one. */
type PeerNamespace = (peer: string, owner?: NamespaceOwner) => Promise<Namespace$Client>;

/** The export's view for one peer: its namespace seen from the root, read-only if the export is. */
async function peerView(base: Namespace$Client, root: string, readOnly: boolean): Promise<Namespace$Client> {
  try {
    const r = (
      await base
        .sub((p) => {
          p.prefix = root;
          p.readOnly = readOnly;
        })
        .promise()
    ).result;
    if (r._isErr) throw new NsError('NS_ERR_NOT_FOUND', `export root ${root}: ${r.err.message}`);
    return r.ns;
  } finally {
    // The view keeps its namespace alive; this reference is done with.
    release(base);
  }
}

class ExportGate implements Gate$Server$Target {
  #failures = 0;
  #sessions = 0;
  /** The namespaces this connection is given: made at its first authenticate. */
  #owner: NamespaceOwner | null = null;

  constructor(
    readonly namespaceFor: PeerNamespace,
    readonly root: string,
    readonly readOnly: boolean,
    readonly policy: ExportPolicy,
    readonly tokens: readonly Buffer[],
    readonly tokenless: boolean,
    readonly maxFailures: number,
    readonly peer: string,
    readonly exportSwitch: Revocation,
    readonly onPeer: ExportOptions['onPeer'],
    /** The connection's peer: tells it the peer authenticated (lifts the handshake limits). */
    readonly who: Peer,
    readonly onSession: ExportOptions['onSession'],
    readonly namespaces: ExportOptions['namespaces'],
  ) {}

  #namespaces(): NamespaceOwner {
    if (this.#owner !== null) return this.#owner;
    const owner = new NamespaceOwner(this.peer, { ...this.namespaces, refused: this.who });
    this.who.atEnd(owner);
    return (this.#owner = owner);
  }

  #match(token: string): boolean {
    if (token === '') return this.tokenless;
    const d = digest(token);
    let ok = false;
    // Compare against every token in constant time, whatever matched first.
    for (const t of this.tokens) if (timingSafeEqual(t, d)) ok = true;
    return ok;
  }

  async authenticate(
    params: Gate_Authenticate$Params,
    results: Gate_Authenticate$Results,
  ): Promise<void> {
    const res = results._initResult();
    try {
      if (this.exportSwitch.revoked)
        throw new NsError('NS_ERR_PERMISSION', 'this export is closed');
      if (this.#failures >= this.maxFailures) {
        this.who.overLimit();
        throw new NsError('NS_ERR_PERMISSION', 'too many failed attempts on this connection');
      }
      if (!this.#match(params.token)) {
        this.#failures++;
        this.onPeer?.('refused', this.peer);
        throw new NsError(
          'NS_ERR_PERMISSION',
          params.token === '' ? 'credentials required' : 'unknown token',
        );
      }
      // A namespace of this peer's own (exportfs: a name space per connection), seen from
      // the export's root; every authentication on the connection gets another.
      const session = `${this.peer}${this.#sessions++ === 0 ? '' : `.${this.#sessions}`}`;
      const view = await peerView(await this.namespaceFor(session, this.#namespaces()), this.root, this.readOnly);
      // One membrane per peer: every namespace this peer authenticates to shares it.
      const held = new Namespace.Client(membrane(view.client, this.policy));
      this.onSession?.(session, held, this.who);
      const ok = res._initOk();
      ok.ns = held;
      ok.profile = 'export';
      this.who.authenticated();
      this.onPeer?.('admitted', this.peer);
    } catch (e) {
      // Over a quota of the connection's (grants, namespaces): the same again would be
      // refused the same way, so the peer is read again after a pause (as at a Gate).
      if (e instanceof NsError && e.code === 'NS_ERR_BUSY') this.who.overLimit();
      setFailure(res._initErr(), e);
    }
  }
}

/** Defaults of `ExportOptions.heartbeatMs` and `heartbeatTimeoutMs`. */
export const EXPORT_HEARTBEAT_MS = 1000;
export const EXPORT_HEARTBEAT_TIMEOUT_MS = 5000;

/**
 * Heartbeats an importer: the importer serves no bootstrap of its own, so asking for it
 * (and for `Import.status` on it, pipelined) gets an exception back at once from a live
 * peer — any answer proves it alive — and nothing from a vanished one.
 */
function probePeer(conn: RpcConnection, periodMs: number, timeoutMs: number): void {
  heartbeat(conn, {
    periodMs,
    timeoutMs,
    probe: () => {
      const peer = conn.bootstrap(Import);
      return peer
        .status()
        .promise()
        .finally(() => release(peer));
    },
    dead: () => new RpcError('disconnected', `importer gave no answer to a heartbeat within ${timeoutMs} ms`),
  });
}

/**
 * Starts an export: checks that the root can be viewed, and listens. Each peer that
 * authenticates gets a namespace of its own (see ExportOptions.ns, namespaceFor).
 * @throws NsError when the root cannot be viewed (not found, malformed); the listen
 * error (address in use...) otherwise. Nothing is left open on failure.
 */
export async function startExport(options: ExportOptions): Promise<Exporter> {
  const root = options.root ?? '/';
  const readOnly = options.readOnly ?? false;
  const source = options.ns === undefined ? undefined : retain(options.ns);
  const make = options.namespaceFor;
  const namespaceFor: PeerNamespace = async (peer, owner) => {
    if (make !== undefined) return make(peer, owner);
    if (source === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'an export needs ns or namespaceFor');
    return (await source.fork().promise()).ns;
  };
  try {
    release(await peerView(await namespaceFor('start'), root, readOnly));
  } catch (e) {
    release(source);
    throw e;
  }
  const revocation = new Revocation();
  const tokens = (options.tokens ?? []).map(digest);
  const mutualTls =
    options.tls !== undefined &&
    options.tls.requestCert === true &&
    options.tls.rejectUnauthorized !== false;
  const maxConnections = options.maxConnections ?? 64;
  const heartbeatMs = options.heartbeatMs ?? EXPORT_HEARTBEAT_MS;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? EXPORT_HEARTBEAT_TIMEOUT_MS;
  let n = 0;
  let listener: RpcListener;
  try {
    listener = await listen(options.listen, {
      ...(options.limits !== undefined && { limits: options.limits }),
      requireAuthentication: true,
      ...(options.tls !== undefined && { tls: options.tls }),
      ...(options.dropAtAccept !== undefined && { dropAtAccept: options.dropAtAccept }),
      ...(options.onSocketClosed !== undefined && { onSocketClosed: options.onSocketClosed }),
      bootstrap: (who) => {
        const peer = `peer#${++n}`;
        // A verified certificate admits without a token if its subject is one allowed.
        const subjects = options.tlsSubjects;
        const certified =
          mutualTls &&
          who.tlsSubject !== undefined &&
          (subjects === undefined ||
            subjects.length === 0 ||
            subjects.some((s) => subjectMatches(s, who.tlsSubject!)));
        // One policy (one membrane) per connection, i.e. per peer.
        const policy = new ExportPolicy({
          readOnly,
          filter: options.filter ?? NO_FILTER,
          switches: [revocation],
        });
        return serve(
          Gate,
          new ExportGate(
            namespaceFor,
            root,
            readOnly,
            policy,
            tokens,
            certified || options.anonymous === true,
            options.maxFailures ?? 5,
            peer,
            revocation,
            options.onPeer,
            who,
            options.onSession,
            options.namespaces,
          ),
        );
      },
      onConnection: (conn) => {
        if (listener.connections.size > maxConnections) {
          options.onPeer?.('over-limit', `connection ${listener.connections.size}`);
          conn.destroy(
            new NsError('NS_ERR_BUSY', `export is at its limit of ${maxConnections} connections`),
          );
          return;
        }
        options.onConnection?.(conn);
        if (heartbeatMs > 0 && !conn.closed) probePeer(conn, heartbeatMs, heartbeatTimeoutMs);
      },
    });
  } catch (e) {
    release(source);
    throw e;
  }
  return new Exporter(listener, source, revocation);
}
