/**
 * Byte-stream transports for RpcConnection: TCP, unix sockets, TLS (node:net, node:tls).
 *
 * Addresses: `tcp!HOST!PORT`, `HOST:PORT`, `[v6]:PORT`, `unix!PATH` (Plan 9 dial
 * strings and the usual host:port). TLS is chosen by passing `tls` options.
 */
import { acceptWithOnread, dropAtAccept, withOnread } from '../accepted-reads.js';
import { formatAddress, parseAddress, type Address } from '../address.js';
import net from 'node:net';
import tls from 'node:tls';
import type { Client } from 'capnp-es';
import { type ConnectionPeer, DirectReads, RpcConnection, newSharedBuffers } from './connection.js';
import { RpcError } from './failure.js';
import { type RpcLimits, resolveLimits } from './limits.js';
import { type Tracer, makeTracer } from './trace.js';

/** A parsed address. */
/** An RPC address: the project's one address syntax (src/address.ts). */
export type RpcAddress = Address;
export { formatAddress, parseAddress };

/** Options shared by connect() and listen(). */
export interface TransportOptions {
  limits?: Partial<RpcLimits>;
  trace?: Tracer | null;
}

/** Options of connect(). */
export interface ConnectOptions extends TransportOptions {
  tls?: tls.ConnectionOptions;
  /** A capability to offer the server (if it bootstraps us). */
  bootstrap?: () => { client: Client } | Client;
  /**
   * Aborting it before the socket is up (TCP connect, and the TLS handshake with `tls`)
   * destroys the socket and rejects with the signal's reason: a deadline for a peer that
   * accepts and never answers the handshake.
   */
  signal?: AbortSignal;
}

/**
 * Dials `address` and returns an open connection. Rejects on connection failure, or with
 * `opts.signal`'s reason when it aborts first.
 */
export async function connect(address: string, opts: ConnectOptions = {}): Promise<RpcConnection> {
  const a = parseAddress(address);
  // Plain sockets read where the connection says (no allocation per read, large segments
  // read in place); node:tls has no `onread`.
  const reads = opts.tls === undefined ? new DirectReads() : undefined;
  const signal = opts.signal;
  signal?.throwIfAborted();
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    let s: net.Socket;
    const ready = opts.tls !== undefined ? 'secureConnect' : 'connect';
    if (opts.tls !== undefined) {
      // SNI carries host names only (RFC 6066): no servername for an IP address.
      const sni = a.kind === 'tcp' && net.isIP(a.host) === 0 ? { servername: a.host } : {};
      s =
        a.kind === 'unix'
          ? tls.connect({ ...opts.tls, path: a.path })
          : tls.connect({ ...sni, ...opts.tls, host: a.host, port: a.port });
    } else {
      const onread = reads?.onread;
      s =
        a.kind === 'unix'
          ? net.connect({ path: a.path, onread })
          : net.connect({ port: a.port, host: a.host, onread });
    }
    const onAbort = (): void => {
      // onErr stays: an error after destroy() must find a listener.
      s.destroy();
      const why: unknown = signal?.reason;
      reject(why instanceof Error ? why : new Error(`connect to ${address} aborted`));
    };
    const onErr = (e: Error): void => {
      signal?.removeEventListener('abort', onAbort);
      s.destroy();
      reject(e);
    };
    s.once('error', onErr);
    signal?.addEventListener('abort', onAbort, { once: true });
    s.once(ready, () => {
      s.off('error', onErr);
      signal?.removeEventListener('abort', onAbort);
      resolve(s);
    });
  });
  sock.setNoDelay(true);
  return new RpcConnection(sock, {
    limits: opts.limits,
    trace: opts.trace,
    bootstrap: opts.bootstrap,
    name: `client ${address}`,
    reads,
  });
}

/** Who is on the other end of an accepted connection. */
export interface Peer {
  /** The peer's address, e.g. 'tcp!127.0.0.1!51234' or 'unix!/run/capns.sock'. */
  readonly address: string;
  /** Whether the peer is on this machine (127.0.0.0/8, ::1, or a unix socket). */
  readonly loopback: boolean;
  /**
   * The subject of the client certificate the TLS handshake verified against the
   * listener's CA (e.g. { CN: 'alice', O: 'example' }); undefined without TLS, without a
   * client certificate, or when it did not verify.
   */
  readonly tlsSubject?: Readonly<Record<string, string>>;
  /**
   * Tells the connection the peer has authenticated (a gate calls it on success): on a
   * listener with `requireAuthentication`, this lifts the handshake deadline and the
   * pre-authentication frame limit. Idempotent; does nothing on other listeners.
   */
  authenticated(): void;
  /**
   * Tells the connection a request of the peer's was refused for a limit the peer is past
   * (a quota, too many failed attempts): it stops reading the peer for the listener's
   * `refusalPauseMs`, as it does when the peer passes one of its own limits, so that a
   * peer repeating a refused request gets one considered per pause.
   */
  overLimit(): void;
  /** Cuts the connection (the sessions tree's `hangup`). Idempotent. */
  hangup(reason: string): void;
  /** Resolves when the connection has closed, however it ended. */
  whenClosed(): Promise<void>;
  /**
   * Calls `x.end()` once when the connection ends, however it ended (at once if it has):
   * for what was given to the connection and must not outlive it (its namespaces:
   * NamespaceOwner). whenClosed() without its promise, reaction and closure, for what
   * every connection keeps.
   */
  atEnd(x: { end(): void }): void;
}

/**
 * Whether a manifest subject ("CN=alice" or "CN=alice, O=example") matches a verified
 * certificate's subject: every attribute it names must be there with the same value.
 */
export function subjectMatches(wanted: string, subject: Readonly<Record<string, string>>): boolean {
  const pairs = wanted
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (pairs.length === 0) return false;
  return pairs.every((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) return false;
    return subject[pair.slice(0, eq).trim()] === pair.slice(eq + 1).trim();
  });
}

/** Options of listen(). */
export interface ListenOptions extends TransportOptions {
  /**
   * Makes the capability a new connection's Bootstrap returns (called at most once per
   * connection, when the peer first asks), told who the peer is.
   */
  bootstrap: (peer: Peer) => { client: Client } | Client;
  tls?: tls.TlsOptions;
  /**
   * Connections start unauthenticated: until the bootstrap's `peer.authenticated()` is
   * called, frames are limited to `limits.maxPreAuthMessageBytes` and the connection is
   * aborted after `limits.handshakeTimeoutMs`. For a listener whose bootstrap is a gate.
   * Default false: every connection is trusted from the start.
   */
  requireAuthentication?: boolean;
  /** Called with each accepted connection. */
  onConnection?: (conn: RpcConnection) => void;
  /**
   * Asked as each connection is accepted, before anything is made for it: true closes it
   * at once (no socket, no connection, no `onConnection`). For a listener that already
   * knows it would refuse newcomers (accepted-reads.ts, `dropAtAccept`).
   */
  dropAtAccept?: () => boolean;
  /**
   * Told when the socket of a connection this listener accepted has closed (as the
   * connection's `socketClosed()` resolves): one function for the listener, where a
   * promise reaction per connection cost about 300 bytes of each idle one.
   */
  onSocketClosed?: (conn: RpcConnection) => void;
}

/** A listening RPC server. */
export class RpcListener {
  readonly #server: net.Server;
  readonly #conns = new Set<RpcConnection>();
  readonly #onSocketClosed: ((conn: RpcConnection) => void) | undefined;
  readonly address: string;

  constructor(server: net.Server, address: string, onSocketClosed?: (conn: RpcConnection) => void) {
    this.#server = server;
    this.address = address;
    this.#onSocketClosed = onSocketClosed;
  }

  /** Internal: tracks a connection until its socket closes (_remove). */
  _add(c: RpcConnection): void {
    this.#conns.add(c);
  }

  /** Internal: the socket of `c` has closed (told by its peer: no promise per connection). */
  _remove(c: RpcConnection): void {
    this.#conns.delete(c);
    this.#onSocketClosed?.(c);
  }

  /** Open connections. */
  get connections(): ReadonlySet<RpcConnection> {
    return this.#conns;
  }

  /** Stops accepting, drains every connection, resolves when all are closed. */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    // A connection already over may still hold its socket (abortLingerMs): destroy() lets it go.
    const draining: Promise<void>[] = [];
    for (const c of this.#conns) {
      if (c.closed) c.destroy();
      else draining.push(c.close());
    }
    await Promise.all(draining);
    await closed;
  }

  /** Stops accepting and destroys every connection at once. */
  destroy(err?: Error): void {
    this.#server.close();
    for (const c of this.#conns) c.destroy(err);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The Peer of an accepted connection. Its address is read (getpeername) when first asked
 * for, not at accept: most connections are never asked (the sessions tree shows it on
 * request), and the system call and the strings were a few percent of an accept. So
 * that it is still known after the connection ends, the connection has it read as it
 * shuts down (ConnectionPeer.connectionClosing), while the socket is still there. Methods, not
 * closures: three closures and their context per connection were most of a Peer.
 */
class AcceptedPeer implements Peer {
  /** The connection, once made (the peer exists before it: the bootstrap takes it). */
  conn: RpcConnection | null = null;
  /** The listener counting the connection. */
  listener: RpcListener | null = null;
  #sock: net.Socket | null;
  #address: string | null = null;
  #loopback = false;
  readonly tlsSubject?: Readonly<Record<string, string>>;

  constructor(sock: net.Socket, unix: boolean) {
    if (unix) {
      this.#sock = null;
      this.#address = 'unix!';
      this.#loopback = true;
      return;
    }
    this.#sock = sock;
    if (sock instanceof tls.TLSSocket && sock.authorized) {
      const subject: Record<string, string> = {};
      for (const [k, v] of Object.entries(sock.getPeerCertificate().subject ?? {})) {
        subject[k] = Array.isArray(v) ? v.join('+') : String(v);
      }
      this.tlsSubject = subject;
    }
  }

  get address(): string {
    this.#read();
    return this.#address!;
  }

  get loopback(): boolean {
    this.#read();
    return this.#loopback;
  }

  /** What atEnd() was given: usually one thing, or none. */
  #atEnd: { end(): void } | Array<{ end(): void }> | null = null;

  /**
   * ConnectionPeer: the connection is ending (calls fail from now on); the socket, still
   * there, is read now, and what atEnd() was given is ended (before the connection's
   * tables are emptied: what it releases of theirs is taken out of them as usual).
   */
  connectionClosing(): void {
    this.#read();
    const e = this.#atEnd;
    this.#atEnd = null;
    if (e === null) return;
    for (const x of Array.isArray(e) ? e : [e]) {
      try {
        x.end();
      } catch {
        // Disposers never throw (STYLE.md section 5).
      }
    }
  }

  atEnd(x: { end(): void }): void {
    // conn is null only while the connection is being made (a first chunk read in its
    // constructor may already authenticate): kept for its end, like any other.
    if (this.conn?.closed === true) {
      x.end();
      return;
    }
    const e = this.#atEnd;
    this.#atEnd = e === null ? x : Array.isArray(e) ? [...e, x] : [e, x];
  }

  /** ConnectionPeer: the listener stops counting the connection. */
  socketClosed(): void {
    if (this.conn !== null) this.listener?._remove(this.conn);
  }

  #read(): void {
    const sock = this.#sock;
    if (sock === null) return;
    this.#sock = null;
    // After a reset the socket is gone already: both undefined.
    const host = sock.remoteAddress ?? '';
    const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
    this.#loopback = v4.startsWith('127.') || v4 === '::1';
    this.#address = `tcp!${v4}!${sock.remotePort ?? 0}`;
  }

  authenticated(): void {
    this.conn?.authenticated();
  }

  overLimit(): void {
    this.conn?.overLimit();
  }

  hangup(reason: string): void {
    this.conn?.destroy(new RpcError('disconnected', reason));
  }

  whenClosed(): Promise<void> {
    return this.conn?.whenClosed() ?? Promise.resolve();
  }
}

/** Listens on `address` (port 0 picks one; see `.address`). */
export async function listen(address: string, opts: ListenOptions): Promise<RpcListener> {
  const a = parseAddress(address);
  let listener: RpcListener | null = null;
  // Once for the listener, not at each connection: the limits (checked now, so a bad
  // one fails listen() rather than every accept) and the NS_TRACE default.
  const limits = resolveLimits(opts.limits);
  const trace = opts.trace === undefined ? makeTracer() : opts.trace;
  const unix = a.kind === 'unix';
  const shared = newSharedBuffers();
  // One function for every connection: the connection passes its peer.
  const bootstrap = (peer: ConnectionPeer | undefined): { client: Client } | Client => opts.bootstrap(peer as AcceptedPeer);
  /** A connection for `sock`, which reads through `reads` when given. */
  const onSocket = (sock: net.Socket, reads: DirectReads | undefined): void => {
    sock.setNoDelay(true);
    const peer = new AcceptedPeer(sock, unix);
    const c = new RpcConnection(sock, {
      limits,
      trace,
      bootstrap,
      peer,
      shared,
      name: 'server',
      reads,
      requireAuthentication: opts.requireAuthentication,
    });
    peer.conn = c;
    peer.listener = listener;
    listener!._add(c);
    opts.onConnection?.(c);
  };
  /** A socket node:net made (TLS; or before acceptWithOnread took over, or where it cannot). */
  const onAccepted = (accepted: net.Socket): void => {
    // Plain sockets read where the connection says, as dialed ones do (accepted-reads.ts).
    if (opts.tls !== undefined) return onSocket(accepted, undefined);
    const reads = new DirectReads();
    const r = withOnread(accepted, reads.onread);
    onSocket(r.socket, r.usedOnread ? reads : undefined);
  };
  const server =
    opts.tls !== undefined
      ? tls.createServer(opts.tls, onAccepted)
      : net.createServer({ pauseOnConnect: true }, onAccepted);
  // A failing handshake or a reset socket must never take the process down.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (a.kind === 'unix') server.listen(a.path, done);
    else server.listen(a.port, a.host, done);
  });
  server.on('error', () => {});
  const bound = server.address();
  const actual: RpcAddress =
    a.kind === 'unix' || bound === null || typeof bound === 'string'
      ? a
      : { kind: 'tcp', host: a.host, port: bound.port };
  listener = new RpcListener(server, formatAddress(actual), opts.onSocketClosed);
  if (opts.tls === undefined) {
    // From now on plain sockets are made once, with `onread` (accepted-reads.ts).
    acceptWithOnread(server, (create) => {
      const reads = new DirectReads();
      onSocket(create(reads.onread), reads);
    });
  }
  if (opts.dropAtAccept !== undefined) dropAtAccept(server, opts.dropAtAccept);
  return listener;
}
