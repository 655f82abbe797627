/** The exports of the process (admin profiles): list them, revoke one (docs/proxy.md). */
import { z } from 'zod';
import { NsError } from '../../errors.js';
import { requireAdmin, type RouteContext, type ZApp } from './context.js';

const exportInfo = z.object({
  address: z.string(),
  profile: z.string(),
  root: z.string(),
  readOnly: z.boolean(),
  filtered: z.boolean(),
  peers: z.number(),
  revoked: z.boolean(),
});

/** Registers /api/v1/exports* on `app` (admin profiles only). */
export function exportRoutes(app: ZApp, ctx: RouteContext): void {
  const onRequest = requireAdmin(ctx);
  const tags = ['exports'];
  const registry = () => {
    const r = ctx.deps.exports;
    if (r === undefined) throw new NsError('NS_ERR_NOT_FOUND', 'this process serves no exports');
    return r;
  };
  app.get(
    '/api/v1/exports',
    { onRequest, schema: { tags, description: 'The exports this process serves, with their peers', response: { 200: z.object({ exports: z.array(exportInfo) }) } } },
    async () => ({ exports: ctx.deps.exports?.list() ?? [] }),
  );
  app.post(
    '/api/v1/exports/revoke',
    {
      onRequest,
      schema: {
        tags,
        description: 'Revokes an export, named by its address: everything it handed out fails revoked at once; no peer gets in until a reload',
        body: z.object({ address: z.string().min(1), reason: z.string().max(200).default('revoked by an administrator') }).strict(),
        response: { 200: z.object({ ok: z.literal(true) }) },
      },
    },
    async (req) => {
      registry().revoke(req.body.address, req.body.reason);
      return { ok: true as const };
    },
  );
}
