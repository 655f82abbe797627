/** What every route family is given, and the authentication hooks they share. */
import type { FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault, FastifyBaseLogger, RawRequestDefaultExpression, RawReplyDefaultExpression } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Socket } from 'node:net';
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
  /** Signals of the HTTP connections (connectionGone). */
  readonly connections: ConnectionSignals;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The profile the route's authentication hook picked (decorated in app.ts). */
    capnsProfile: AdminProfile | null;
  }
}

/** An onRequest hook in fastify's callback form (an async one costs a promise per request). */
type OnRequest = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void;

/** onRequest hook: the request must carry a profile's credentials (401 otherwise). */
export function requireProfile(ctx: RouteContext): OnRequest {
  return (request, _reply, done) => {
    try {
      request.capnsProfile = ctx.auth.authenticate(request.headers.authorization, ctx.deps.profiles(), ctx.deps.peerIsLoopback);
    } catch (e) {
      done(e as Error);
      return;
    }
    done();
  };
}

/** onRequest hook: as requireProfile, and the profile must be an admin one (403 otherwise). */
export function requireAdmin(ctx: RouteContext): OnRequest {
  return (request, _reply, done) => {
    try {
      const p = ctx.auth.authenticate(request.headers.authorization, ctx.deps.profiles(), ctx.deps.peerIsLoopback);
      if (!p.admin) throw new NsError('NS_ERR_PERMISSION', `profile '${p.name}' may not administer: its namespace holds no CapTable capability`);
      request.capnsProfile = p;
    } catch (e) {
      done(e as Error);
      return;
    }
    done();
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

/**
 * One AbortSignal per HTTP connection, aborted when it closes: what connectionGone hands
 * out. HTTP/1.1 answers a connection's requests one after the other, so a request whose
 * answer is not complete when its connection closes is the one in flight, and its client
 * went away; one signal serves every request of the connection, made once instead of an
 * AbortController and a listener per request.
 */
export class ConnectionSignals {
  readonly #signals = new WeakMap<Socket, AbortSignal>();

  /** The signal of `socket`'s connection. */
  of(socket: Socket): AbortSignal {
    let signal = this.#signals.get(socket);
    if (signal === undefined) {
      const ac = new AbortController();
      signal = ac.signal;
      this.#signals.set(socket, signal);
      if (socket.destroyed) ac.abort(new NsError('NS_ERR_IO', 'the HTTP client went away'));
      else socket.once('close', () => ac.abort(new NsError('NS_ERR_IO', 'the HTTP client went away')));
    }
    return signal;
  }
}

/**
 * As clientGone, for a use that adds no listener of its own to the signal beyond the
 * request's life (a call: the RPC layer removes its listener when the call settles):
 * the connection's signal, which aborts when the connection closes.
 */
export function connectionGone(ctx: RouteContext, request: FastifyRequest): AbortSignal {
  return ctx.connections.of(request.raw.socket);
}
