/** The capability table (admin profiles): list grants with their call counts, revoke. */
import { z } from 'zod';
import { hexId, requireAdmin, type RouteContext, type ZApp } from './context.js';

const grant = z.object({
  id: z.string(),
  interfaceId: z.string(),
  interfaceName: z.string(),
  label: z.string(),
  holder: z.string(),
  calls: z.string().describe('decimal: a 64-bit count'),
  revoked: z.boolean(),
});

/** Registers /api/v1/captable* on `app` (admin profiles only). */
export function captableRoutes(app: ZApp, ctx: RouteContext): void {
  const onRequest = requireAdmin(ctx);
  const tags = ['captable'];
  app.get(
    '/api/v1/captable',
    { onRequest, schema: { tags, description: 'Every grant, or one holder\'s ("alice@rpc#3")', querystring: z.object({ holder: z.string().default('') }), response: { 200: z.object({ grants: z.array(grant) }) } } },
    async (req) => ({
      grants: ctx.deps.captable.list(req.query.holder).map((g) => ({
        id: g.id.toString(),
        interfaceId: hexId(g.interfaceId),
        interfaceName: ctx.schema.interfaceName(g.interfaceId),
        label: g.label,
        holder: g.holder,
        calls: g.calls.toString(),
        revoked: g.revoked,
      })),
    }),
  );
  app.post(
    '/api/v1/captable/:id/revoke',
    { onRequest, schema: { tags, description: "Revokes one grant: the holder's next call through it fails", params: z.object({ id: z.string().regex(/^[1-9][0-9]{0,18}$/, 'a grant id (decimal)') }), response: { 200: z.object({ ok: z.literal(true) }) } } },
    async (req) => {
      ctx.deps.captable.revoke(BigInt(req.params.id));
      return { ok: true as const };
    },
  );
  app.post(
    '/api/v1/captable/revoke-holder',
    { onRequest, schema: { tags, description: 'Revokes every grant of a holder, or of every holder of a profile ("alice@")', body: z.object({ holder: z.string().min(1) }).strict(), response: { 200: z.object({ count: z.number() }) } } },
    async (req) => ({ count: ctx.deps.captable.revokeHolder(req.body.holder) }),
  );
}
