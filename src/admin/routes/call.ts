/**
 * The JSON gateway: any schema method of the capability at a path, with JSON params and
 * results, by the same reflection as `capns call` (src/reflect, CapnsClient.call;
 * docs/cli.md has the JSON form).
 */
import { z } from 'zod';
import { NsError } from '../../errors.js';
import { classify } from '../error-handler.js';
import { connectionGone, profileOf, requireProfile, type RouteContext, type ZApp } from './context.js';

/** Registers POST /api/v1/call on `app` (any profile). */
export function callRoutes(app: ZApp, ctx: RouteContext): void {
  const onRequest = requireProfile(ctx);
  app.post(
    '/api/v1/call',
    {
      onRequest,
      // The answer is built here in exactly the documented shape, and `results` is any
      // JSON: zod's encoding pass (a copy of the object checked against the schema) adds
      // nothing but cost on every call. The response schema stays for the OpenAPI document.
      serializerCompiler: () => (data) => JSON.stringify(data),
      schema: {
        tags: ['gateway'],
        description:
          'Calls `method` of the capability at `path` (a File inside a file tree) with JSON params. 64-bit integers are strings; Data is base64; {"capability": "/path"} passes a capability of your namespace.',
        body: z.object({ path: z.string().startsWith('/'), method: z.string().min(1), params: z.unknown().optional() }).strict(),
        response: { 200: z.object({ interface: z.string(), method: z.string(), results: z.unknown() }) },
      },
    },
    async (req) => {
      const signal = connectionGone(ctx, req);
      const s = await ctx.deps.session(profileOf(req).name);
      const { path, method } = req.body;
      // Resolved once: the interface names the metrics and the answer, and an unknown
      // method is refused before anything is sent.
      const target = await s.callTarget(path);
      try {
        if (!target.methods.includes(method)) {
          throw new NsError('NS_ERR_INVALID_ARGUMENT', `${target.interfaceName} has no method ${JSON.stringify(method)}; its methods: ${target.methods.join(', ')}`);
        }
        const stats = ctx.metrics.gatewayCalls.at(target.interfaceName, method);
        stats.calls++;
        const t0 = performance.now();
        try {
          // A call that waits (a hub read) is cancelled when the client goes away.
          const results = await target.call(method, req.body.params ?? null, { signal });
          return { interface: target.interfaceName, method, results };
        } catch (e) {
          stats.failed(classify(e).kind);
          throw e;
        } finally {
          stats.seconds.observe((performance.now() - t0) / 1000);
        }
      } finally {
        target.close();
      }
    },
  );
}
