/** What every route family is given, and the authentication hooks they share. */
import type { FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault, FastifyBaseLogger, RawRequestDefaultExpression, RawReplyDefaultExpression } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { NsError } from '../../errors.js';
import type { SchemaIndex } from '../../reflect/index.js';
import type { TokenAuth } from '../auth.js';
import type { AdminDeps, AdminProfile } from '../deps.js';
import type { AdminMetrics } from '../metrics.js';

/** The app, typed by zod schemas. */
export type ZApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

/** What the route families share: the deps, the metrics, the schema reflection. */
export interface RouteContext {
  readonly deps: AdminDeps;
  readonly metrics: AdminMetrics;
  readonly schema: SchemaIndex;
  /** The app's bearer-token authentication. */
  readonly auth: TokenAuth;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The profile the route's authentication hook picked (decorated in app.ts). */
    capnsProfile: AdminProfile | null;
  }
}

/** onRequest hook: the request must carry a profile's credentials (401 otherwise). */
export function requireProfile(ctx: RouteContext) {
  return async (request: FastifyRequest): Promise<void> => {
    request.capnsProfile = ctx.auth.authenticate(request.headers.authorization, ctx.deps.profiles(), ctx.deps.peerIsLoopback);
  };
}

/** onRequest hook: as requireProfile, and the profile must be an admin one (403 otherwise). */
export function requireAdmin(ctx: RouteContext) {
  return async (request: FastifyRequest): Promise<void> => {
    const p = ctx.auth.authenticate(request.headers.authorization, ctx.deps.profiles(), ctx.deps.peerIsLoopback);
    if (!p.admin) throw new NsError('NS_ERR_PERMISSION', `profile '${p.name}' may not administer: its namespace holds no CapTable capability`);
    request.capnsProfile = p;
  };
}

/** The profile the request's hook authenticated. */
export function profileOf(request: FastifyRequest): AdminProfile {
  const p = request.capnsProfile;
  if (p === null) throw new Error('route without an authentication hook');
  return p;
}

/** An interface id as JSON: 0x and 16 hex digits (64-bit ids do not fit a JSON number). */
export function hexId(id: bigint): string {
  return '0x' + id.toString(16).padStart(16, '0');
}

/**
 * A signal that aborts when the HTTP client goes away before its answer is complete
 * (its connection closes): what a route passes to a call that may wait (a hub channel's
 * read), so a client that vanishes leaves no read waiting behind it on the server.
 */
export function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  const gone = (): void => {
    if (!reply.raw.writableFinished) ac.abort(new NsError('NS_ERR_IO', 'the HTTP client went away'));
  };
  // 'close' of the response: it was sent whole, or its connection closed first.
  reply.raw.once('close', gone);
  if (request.raw.socket.destroyed) gone();
  return ac.signal;
}
