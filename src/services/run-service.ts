/**
 * Writing a service in TypeScript: the server-side counterpart of the client library's
 * `connect()`. Implement the generated class of your interface, `serve()` it, and hand it
 * to `runService`:
 *
 * ```ts
 * const svc = await runService({ offers: { store: serve(KeyValue, new Store()) }, schema });
 * ```
 *
 * - Started by capns (`type: service`; CAPNS_SERVICE_FD is set): the program talks to
 *   capns over the connection it inherited as file descriptor 3, posts each offer under
 *   its name (capns then calls it ready), and gets its own namespace (`svc.namespace`, a
 *   CapnsClient: `resolve`, `call`, files...) — its only authority.
 * - Standalone (no CAPNS_SERVICE_FD, `listen` given): it listens on `listen` and serves
 *   its one offer as the bootstrap capability, for a manifest's `connect` (or any Cap'n
 *   Proto client).
 *
 * Either way each offer answers `Introspect` from `schema` (a compiled schema: `capns
 * schema compile`), so `capns call`, the HTTP gateway and the web page can call it
 * without being told its schema.
 */
import net from 'node:net';
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { CapnsClient } from '../client/capns-client.js';
import { NsError } from '../errors.js';
import { fromFailure } from '../failure.js';
import { ServiceHost, Srv, type Post$Client } from '../gen/services.js';
import { SchemaSet } from '../reflect/index.js';
import { dupClient, listen, release, RpcConnection, type RpcListener } from '../rpc/index.js';
import { described } from './described.js';

/** A capability to offer: a typed client (from `serve`), or a raw Client with its interface id. */
export type Offer = { readonly client: Client } | { readonly client: Client; readonly interfaceId: bigint };

/** Options of `runService`. */
export interface RunServiceOptions {
  /** Offer name (as the manifest's `offers` declares it) -> capability. Ownership is taken. */
  readonly offers: Readonly<Record<string, Offer>>;
  /** The compiled schema of the offers' interfaces (bytes of `capns schema compile`, or a SchemaSet): they answer Introspect from it. */
  readonly schema?: Uint8Array | SchemaSet;
  /** Standalone: where to listen when not started by capns (tcp!HOST!PORT, HOST:PORT, unix!PATH). */
  readonly listen?: string;
  /** The environment to read CAPNS_SERVICE_FD and CAPNS_SERVICE from (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A running service. */
export interface ServiceContext {
  /** `capns` when started by capns, `standalone` when listening on its own. */
  readonly mode: 'capns' | 'standalone';
  /** The service's own namespace (started by capns); null when standalone. */
  readonly namespace: CapnsClient | null;
  /** The listener's address (standalone). */
  readonly address: string | undefined;
  /** Resolves when capns closes the connection (started by capns) or `close()` ran. */
  readonly closed: Promise<void>;
  /** Withdraws the offers and closes the connection or listener. Idempotent. */
  close(): Promise<void>;
}

function interfaceIdOf(name: string, o: Offer): bigint {
  if ('interfaceId' in o) return o.interfaceId;
  const id = (o.constructor as { interfaceId?: unknown }).interfaceId;
  if (typeof id !== 'bigint') throw new NsError('NS_ERR_INVALID_ARGUMENT', `offer '${name}': give { client, interfaceId } for a capability that is not a generated client`);
  return id;
}

/**
 * Runs a service: under capns (CAPNS_SERVICE_FD set) or standalone (`listen`).
 * @throws NsError when neither applies, an offer's interface is unknown, or capns refuses
 *   an offer (not declared, another interface: the message says which).
 */
export async function runService(opts: RunServiceOptions): Promise<ServiceContext> {
  const env = opts.env ?? process.env;
  const schemas = opts.schema instanceof SchemaSet ? opts.schema : new SchemaSet();
  if (opts.schema instanceof Uint8Array) schemas.add(opts.schema, 'the service schema');
  const offers = Object.entries(opts.offers).map(([name, o]) => {
    const interfaceId = interfaceIdOf(name, o);
    // Described only when the schema has the interface: otherwise Introspect is left to
    // answer `unimplemented`, as for any capability.
    const client = schemas.bytesFor(interfaceId) === undefined ? o.client : described(o.client, interfaceId, schemas);
    return { name, interfaceId, client };
  });
  const fd = env['CAPNS_SERVICE_FD'];
  if (fd !== undefined && fd !== '') return underCapns(Number(fd), env['CAPNS_SERVICE'] ?? 'service', offers);
  if (opts.listen === undefined) {
    for (const o of offers) release(o.client);
    throw new NsError('NS_ERR_INVALID_ARGUMENT', 'not started by capns (CAPNS_SERVICE_FD is not set) and no address to listen on (`listen`)');
  }
  if (offers.length !== 1) {
    for (const o of offers) release(o.client);
    throw new NsError('NS_ERR_INVALID_ARGUMENT', `standalone, a service serves one capability as its bootstrap; this one offers ${offers.length}`);
  }
  return standalone(opts.listen, offers[0]!.client);
}

async function underCapns(fd: number, name: string, offers: Array<{ name: string; interfaceId: bigint; client: Client }>): Promise<ServiceContext> {
  if (!Number.isInteger(fd) || fd < 3) throw new NsError('NS_ERR_INVALID_ARGUMENT', `CAPNS_SERVICE_FD=${fd} is not a file descriptor capns passes`);
  const sock = new net.Socket({ fd, readable: true, writable: true });
  const conn = new RpcConnection(sock, { name: `service ${name}` });
  const host = conn.bootstrap(ServiceHost);
  const srv = new Srv.Client(host.client);
  const posts: Post$Client[] = [];
  let namespace: CapnsClient | null = null;
  try {
    for (const o of offers) {
      const r = (
        await srv
          .post((p) => {
            p.name = o.name;
            p.interfaceId = o.interfaceId;
            $.utils.setInterfacePointer(p.segment.message.addCap(o.client), p.cap);
          })
          .promise()
      ).result;
      if (r._isErr) throw fromFailure(r.err);
      posts.push(r.ok);
    }
    namespace = new CapnsClient(conn, host.namespace().getNs(), name);
  } catch (e) {
    for (const p of posts) release(p);
    for (const o of offers) release(o.client);
    release(host);
    conn.destroy();
    throw e;
  }
  // The board took its own references; ours go (and with them nothing: capns holds them).
  for (const o of offers) release(o.client);
  let closing: Promise<void> | null = null;
  const ns = namespace;
  return {
    mode: 'capns',
    namespace: ns,
    address: undefined,
    closed: conn.whenClosed(),
    close: () => {
      closing ??= (async () => {
        for (const p of posts) release(p);
        release(host);
        await ns.close();
      })();
      return closing;
    },
  };
}

async function standalone(address: string, client: Client): Promise<ServiceContext> {
  let listener: RpcListener;
  try {
    // Each connection's bootstrap is a new reference; ours is released at close.
    listener = await listen(address, { bootstrap: () => dupClient(client) });
  } catch (e) {
    release(client);
    throw e;
  }
  let closing: Promise<void> | null = null;
  let done: () => void = () => {};
  const closed = new Promise<void>((r) => (done = r));
  return {
    mode: 'standalone',
    namespace: null,
    address: listener.address,
    closed,
    close: () => {
      closing ??= (async () => {
        await listener.close();
        release(client);
        done();
      })();
      return closing;
    },
  };
}
