/** /healthz (the process answers), /readyz (it serves), /metrics (Prometheus; admin profiles). */
import { z } from 'zod';
import { errorBody } from '../error-handler.js';
import { requireAdmin, type RouteContext, type ZApp } from './context.js';

/** Registers /healthz, /readyz and /metrics on `app`. */
export function healthRoutes(app: ZApp, ctx: RouteContext): void {
  const status = z.object({ status: z.string() });
  app.get('/healthz', { schema: { tags: ['health'], security: [], response: { 200: status } } }, async () => ({ status: 'ok' }));
  const error = z.object({ statusCode: z.number(), code: z.string(), error: z.string(), message: z.string() });
  app.get('/readyz', { schema: { tags: ['health'], security: [], response: { 200: status, 503: error } } }, async (_req, reply) => {
    if (ctx.deps.ready?.() === false) return reply.code(503).send(errorBody(503, 'NOT_READY', 'not ready'));
    return { status: 'ready' };
  });
  app.get('/metrics', { onRequest: requireAdmin(ctx), schema: { tags: ['health'], description: 'Prometheus text format' } }, async (_req, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });
}
