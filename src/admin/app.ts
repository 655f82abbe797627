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
import Fastify, { type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { SchemaIndex } from '../reflect/index.js';
import type { AdminDeps } from './deps.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { AdminMetrics } from './metrics.js';
import { captableRoutes } from './routes/captable.js';
import { exportRoutes } from './routes/exports.js';
import { callRoutes } from './routes/call.js';
import { fileRoutes } from './routes/files.js';
import { healthRoutes } from './routes/health.js';
import { namespaceRoutes } from './routes/namespace.js';
import { webRoutes } from './routes/web.js';
import type { RouteContext } from './routes/context.js';

export type { AdminDeps, AdminProfile, AdminSession } from './deps.js';
export { AdminMetrics } from './metrics.js';

/**
 * Builds the app over `deps`. The caller owns the result: `listen()` it or `inject()`,
 * and `close()` it (which does not touch `deps`).
 */
export function buildAdminApp(deps: AdminDeps): FastifyInstance {
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: deps.bodyLimit ?? 16 << 20 });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.decorateRequest('capnsProfile', null);
  // Files travel as raw bytes.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(['application/octet-stream', 'text/plain'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const metrics = new AdminMetrics(deps);
  const ctx: RouteContext = { deps, metrics, schema: deps.schema ?? new SchemaIndex() };
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route, method: request.method }, reply.elapsedTime / 1000);
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
