/**
 * The HTTP admin API, JSON gateway and web page of `capns serve` (docs/http.md), built
 * by a function and never listening on its own: `capns serve` listens
 * (src/server/capns-server.ts), tests `listen()` on port 0 or `inject()`.
 *
 *   /api/v1/...   namespace, files, calls, capability table, exports (Bearer token -> profile)
 *   /metrics      Prometheus (admin profiles)
 *   /healthz /readyz /openapi.json /docs /     open
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { SchemaIndex } from '../reflect/index.js';
import { RateLimitedLog } from '../rate-limited-log.js';
import { TokenAuth } from './auth.js';
import type { AdminDeps, HttpTimeouts } from './deps.js';
import { errorBody, errorHandler, notFoundHandler } from './error-handler.js';
import { AdminMetrics } from './metrics.js';
import { captableRoutes } from './routes/captable.js';
import { exportRoutes } from './routes/exports.js';
import { callRoutes } from './routes/call.js';
import { fileRoutes } from './routes/files.js';
import { healthRoutes } from './routes/health.js';
import { namespaceRoutes } from './routes/namespace.js';
import { webRoutes } from './routes/web.js';
import { ConnectionSignals, type RouteContext } from './routes/context.js';

export type { AdminDeps, AdminProfile, AdminSession, HttpTimeouts } from './deps.js';
export { HostPolicy, type HostPolicyOptions } from './host-check.js';

/** Connection timeouts when the deps give none (docs/http.md). */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { headersTimeoutMs: 10_000, requestTimeoutMs: 120_000, keepAliveTimeoutMs: 5_000 };
export { AdminMetrics } from './metrics.js';

/**
 * Builds the app over `deps`. The caller owns the result: `listen()` it or `inject()`,
 * and `close()` it (which does not touch `deps`).
 */
export function buildAdminApp(deps: AdminDeps): FastifyInstance {
  const timeouts: HttpTimeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...deps.timeouts };
  // node:http refuses a headers timeout above the request timeout.
  const headersTimeout = Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs);
  // Node checks these timeouts every connectionsCheckingInterval (30 s by default): a
  // silent socket would live up to 30 s past its deadline.
  const serverOptions = { headersTimeout, connectionsCheckingInterval: Math.min(1000, headersTimeout) };
  const logging = deps.loggerInstance !== undefined ? { loggerInstance: deps.loggerInstance } : { logger: deps.logger ?? false };
  const app = Fastify({
    ...logging,
    // Requests are counted (capns_http_requests_total), not logged one line each.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit ?? 16 << 20,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    ...(deps.https !== undefined ? { https: { ...deps.https, ...serverOptions } } : { http: serverOptions }),
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.decorateRequest('capnsProfile', null);
  // Files travel as raw bytes.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(['application/octet-stream', 'text/plain'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // DNS rebinding (host-check.ts): before anything else, even a 404, reads a request.
  const policy = deps.hostPolicy;
  if (policy !== undefined && !policy.off) {
    const refusals = new RateLimitedLog((line) => app.log.warn(line));
    // A callback hook (an async one costs a promise per request): one that answers does
    // not call `done`, and the request goes no further.
    app.addHook('onRequest', (request, reply, done) => {
      const why = policy.check(request.headers.host, request.headers.origin, request.socket.localPort ?? 0);
      if (why === undefined) {
        done();
        return;
      }
      refusals.note('host', `refused a request: ${why}`);
      void reply.code(403).type('application/json').send(errorBody(403, 'NS_ERR_PERMISSION', why));
    });
  }
  const metrics = new AdminMetrics(deps);
  const ctx: RouteContext = { deps, metrics, schema: deps.schema ?? new SchemaIndex(), auth: new TokenAuth(), connections: new ConnectionSignals() };
  // A callback hook: an async one costs a promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    metrics.requests.at(request.routeOptions.url ?? 'unmatched', request.method).answered(reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  void app.register(fastifySwagger, {
    openapi: {
      info: { title: 'capns', description: 'Capability namespace service: HTTP admin API and JSON gateway (docs/http.md)', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  void app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  void app.register(async (api) => {
    healthRoutes(api, ctx);
    namespaceRoutes(api, ctx);
    fileRoutes(api, ctx);
    callRoutes(api, ctx);
    captableRoutes(api, ctx);
    exportRoutes(api, ctx);
    webRoutes(api, ctx);
    api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  });
  return app;
}
