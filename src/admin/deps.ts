/**
 * What the admin app is given (STYLE.md section 2: instances arrive as options; admin
 * imports only types from the rest of the project, besides errors and reflection).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { CapabilityTable, ExportRegistry } from '../captable/capability-table.js';
import type { CapnsClient } from '../client/capns-client.js';
import type { HostPolicy } from './host-check.js';
import type { SchemaIndex } from '../reflect/index.js';

/** A profile as the HTTP app authenticates it. */
export interface AdminProfile {
  readonly name: string;
  /** Bearer tokens that select it (compared in constant time). */
  readonly tokens: readonly string[];
  /** Whether a request presenting no token gets it (only when the listener is loopback). */
  readonly loopback: boolean;
  /**
   * Whether it may use the admin routes (capability table, metrics): its namespace holds
   * a CapTable capability, so it could do the same over Cap'n Proto.
   */
  readonly admin: boolean;
}

/**
 * A profile's namespace over HTTP: what `CapnsClient` offers, on a namespace served in
 * process. Shared by every request with that profile's credentials.
 */
export type AdminSession = Pick<
  CapnsClient,
  'list' | 'members' | 'lookup' | 'methodsAt' | 'call' | 'callTarget' | 'readFile' | 'openRead' | 'writeFile' | 'mkdir' | 'remove' | 'stat' | 'bind' | 'mountLabel' | 'unmount' | 'describe' | 'importStatus'
> & { readonly holder: string };

/** The instances the app works on. */
export interface AdminDeps {
  /** The profiles, read at each request (a reload changes them). */
  profiles(): readonly AdminProfile[];
  /** Whether the listener is on loopback: enables token-less `loopback` profiles. */
  readonly peerIsLoopback: boolean;
  /**
   * The session of `profile`: created on first use, its capabilities granted to its
   * holder name; the same one afterwards, until `endSession`.
   */
  session(profile: string): Promise<AdminSession>;
  /** Drops `profile`'s session (its grants leave the table); the next request makes a new one. */
  endSession(profile: string): Promise<void>;
  /** Sessions open now (for metrics). */
  sessionCount(): number;
  /**
   * Connections per listener and 9P fids of the whole process, read at each scrape (for
   * metrics). Absent: those gauges are not exported.
   */
  stats?(): {
    readonly listeners: readonly { readonly protocol: string; readonly address: string; readonly connections: number }[];
    readonly fids: number;
    readonly namespaces: number;
  };
  readonly captable: Pick<CapabilityTable, 'list' | 'revoke' | 'revokeHolder' | 'methodStats'>;
  /** The process's exports, for the admin routes. Absent: none are served. */
  readonly exports?: ExportRegistry;
  /** Ready to serve (readiness probe). Default: always. */
  ready?(): boolean;
  /** Where the web page's files are (default: src/admin/web next to this module). */
  readonly webRoot?: URL;
  /** fastify's logger option (default false); ignored when `loggerInstance` is given. */
  readonly logger?: boolean | object;
  /**
   * Where the app logs (a pino logger): every 500 with its stack, refused Hosts at a
   * bounded rate. Requests themselves are not logged (`capns_http_requests_total` counts them).
   */
  readonly loggerInstance?: FastifyBaseLogger;
  /** Request bodies larger than this are refused with 413 (default 16 MiB). */
  readonly bodyLimit?: number;
  /**
   * The schemas that name interfaces in listings and metrics (default: capns's own); the
   * server passes its own and the manifest's (docs/services.md).
   */
  readonly schema?: SchemaIndex;
  /** The Host and Origin a request may carry (host-check.ts). Default: any. */
  readonly hostPolicy?: HostPolicy;
  /** Serve HTTPS with these (node:https server options). Default: plain HTTP. */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer; readonly ca?: Buffer; readonly requestCert?: boolean; readonly rejectUnauthorized?: boolean };
  /** Connection timeouts (defaults: DEFAULT_HTTP_TIMEOUTS in app.ts). */
  readonly timeouts?: Partial<HttpTimeouts>;
}

/** How long an HTTP connection may take over each part of its life. */
export interface HttpTimeouts {
  /** To send a request's headers, counted from the connection's start or the end of its previous request. */
  readonly headersTimeoutMs: number;
  /** To send a whole request, headers and body. */
  readonly requestTimeoutMs: number;
  /** For a kept-alive connection to start its next request. */
  readonly keepAliveTimeoutMs: number;
}
