/**
 * The caller's namespace: list (union members' entries in order), members of a union,
 * resolve, describe, bind/mount/unmount, and ending the session.
 */
import { z } from 'zod';
import { importStatusJson } from '../../proxy/import-status.js';
import { profileOf, hexId, requireProfile, type RouteContext, type ZApp } from './context.js';

const position = z.enum(['replace', 'before', 'after']).default('replace');
const pathQuery = z.object({ path: z.string().min(1).startsWith('/') });
const ok = z.object({ ok: z.literal(true) });
/** An import's state (ImportStatusJson, src/proxy/import-status.ts). */
const importStatus = z
  .object({
    name: z.string(),
    address: z.string(),
    path: z.string(),
    state: z.enum(['connecting', 'connected', 'retrying', 'refused', 'closed']),
    since: z.string(),
    lastError: z.string(),
    lastErrorAt: z.string().nullable(),
    connections: z.number(),
    nextAttemptAt: z.string().nullable(),
  })
  .describe('present when the entry is an import: up or not, since when, the last error');

/** Registers /api/v1/whoami, /api/v1/ns/* and /api/v1/session on `app` (any profile). */
export function namespaceRoutes(app: ZApp, ctx: RouteContext): void {
  const onRequest = requireProfile(ctx);
  const session = (req: Parameters<typeof profileOf>[0]) => ctx.deps.session(profileOf(req).name);
  const tags = ['namespace'];

  app.get(
    '/api/v1/whoami',
    { onRequest, schema: { tags, response: { 200: z.object({ profile: z.string(), holder: z.string(), admin: z.boolean() }) } } },
    async (req) => {
      const p = profileOf(req);
      return { profile: p.name, holder: (await ctx.deps.session(p.name)).holder, admin: p.admin };
    },
  );

  app.get(
    '/api/v1/ns/list',
    {
      onRequest,
      schema: {
        tags,
        description: 'The union listing of a directory: members in order, de-duplicated by name, first wins',
        querystring: pathQuery,
        response: {
          200: z.object({
            path: z.string(),
            entries: z.array(
              z.object({
                name: z.string(),
                kind: z.enum(['directory', 'file', 'capability']),
                interfaceId: z.string(),
                interfaceName: z.string(),
                label: z.string(),
                import: importStatus.optional(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const s = await session(req);
      const dir = req.query.path;
      const entries = await s.list(dir);
      // Mount points (entries bound at their name) may be imports: ask each, at once.
      const imports = await Promise.all(
        entries.map((e) => (e.interfaceId === 0n ? Promise.resolve(undefined) : s.importStatus(dir.endsWith('/') ? `${dir}${e.name}` : `${dir}/${e.name}`).catch(() => undefined))),
      );
      return {
        path: dir,
        entries: entries.map((e, i) => {
          const imp = imports[i];
          return {
            name: e.name,
            kind: e.kind,
            interfaceId: hexId(e.interfaceId),
            interfaceName: e.interfaceId === 0n ? '' : ctx.schema.interfaceName(e.interfaceId),
            label: e.label,
            ...(imp !== undefined && { import: importStatusJson(imp) }),
          };
        }),
      };
    },
  );

  app.get(
    '/api/v1/ns/members',
    {
      onRequest,
      schema: {
        tags,
        description: 'The union stack at a mount point, in search order',
        querystring: pathQuery,
        response: {
          200: z.object({ path: z.string(), members: z.array(z.object({ interfaceId: z.string(), interfaceName: z.string(), label: z.string(), create: z.boolean() })) }),
        },
      },
    },
    async (req) => {
      const members = await (await session(req)).members(req.query.path);
      return {
        path: req.query.path,
        members: members.map((m) => ({ interfaceId: hexId(m.interfaceId), interfaceName: ctx.schema.interfaceName(m.interfaceId), label: m.label, create: m.create })),
      };
    },
  );

  app.get(
    '/api/v1/ns/resolve',
    {
      onRequest,
      schema: {
        tags,
        description: 'What a path resolves to, and the methods a call there can use',
        querystring: pathQuery,
        response: {
          200: z.object({
            path: z.string(),
            interfaceId: z.string(),
            interfaceName: z.string(),
            label: z.string(),
            rest: z.string(),
            methods: z.array(z.string()),
            import: importStatus.optional(),
          }),
        },
      },
    },
    async (req) => {
      const s = await session(req);
      const r = await s.lookup(req.query.path);
      const m = r.rest === '' ? await s.methodsAt(req.query.path) : { methods: [] };
      const imp = r.rest === '' ? await s.importStatus(req.query.path).catch(() => undefined) : undefined;
      return {
        path: req.query.path,
        interfaceId: hexId(r.interfaceId),
        interfaceName: r.interfaceName,
        label: r.label,
        rest: r.rest,
        methods: m.methods,
        ...(imp !== undefined && { import: importStatusJson(imp) }),
      };
    },
  );

  app.get('/api/v1/ns/describe', { onRequest, schema: { tags, description: 'The namespace as namespace(6) text', response: { 200: z.object({ text: z.string() }) } } }, async (req) => ({
    text: await (await session(req)).describe(),
  }));

  app.post(
    '/api/v1/ns/bind',
    {
      onRequest,
      schema: {
        tags,
        description: 'bind(2): make what `from` names visible at `to` too (evaluated now)',
        body: z.object({ from: z.string().startsWith('/'), to: z.string().startsWith('/'), position, create: z.boolean().default(false) }).strict(),
        response: { 200: ok },
      },
    },
    async (req) => {
      await (await session(req)).bind(req.body.from, req.body.to, { position: req.body.position, create: req.body.create });
      return { ok: true as const };
    },
  );

  app.post(
    '/api/v1/ns/mount',
    {
      onRequest,
      schema: {
        tags,
        description: 'mount(2): add a capability this profile holds (by label) to the union at `to`',
        body: z.object({ label: z.string().min(1), to: z.string().startsWith('/'), position, create: z.boolean().default(false) }).strict(),
        response: { 200: ok },
      },
    },
    async (req) => {
      await (await session(req)).mountLabel(req.body.label, req.body.to, { position: req.body.position, create: req.body.create });
      return { ok: true as const };
    },
  );

  app.post(
    '/api/v1/ns/unmount',
    {
      onRequest,
      schema: {
        tags,
        description: 'unmount(2): remove the member labelled `label` at `path`, or every member',
        body: z.object({ path: z.string().startsWith('/'), label: z.string().default('') }).strict(),
        response: { 200: ok },
      },
    },
    async (req) => {
      await (await session(req)).unmount(req.body.path, req.body.label);
      return { ok: true as const };
    },
  );

  app.delete('/api/v1/session', { onRequest, schema: { tags, description: "Drops this profile's HTTP session: its grants leave the table, binds are forgotten", response: { 200: ok } } }, async (req) => {
    await ctx.deps.endSession(profileOf(req).name);
    return { ok: true as const };
  });
}
