/** Files through the caller's namespace: read, write (create or truncate), stat, mkdir, remove. */
import { z } from 'zod';
import { NsError } from '../../errors.js';
import { profileOf, requireProfile, type RouteContext, type ZApp } from './context.js';

const pathQuery = z.object({ path: z.string().min(1).startsWith('/') });
const ok = z.object({ ok: z.literal(true) });

/** Registers /api/v1/files* on `app` (any profile; the session's namespace decides). */
export function fileRoutes(app: ZApp, ctx: RouteContext): void {
  const onRequest = requireProfile(ctx);
  const session = (req: Parameters<typeof profileOf>[0]) => ctx.deps.session(profileOf(req).name);
  const tags = ['files'];

  app.get('/api/v1/files', { onRequest, schema: { tags, description: 'The whole content of a file (application/octet-stream)', querystring: pathQuery } }, async (req, reply) => {
    const data = await (await session(req)).readFile(req.query.path);
    return reply.type('application/octet-stream').send(Buffer.from(data.buffer, data.byteOffset, data.length));
  });

  app.put(
    '/api/v1/files',
    {
      onRequest,
      schema: { tags, description: 'Writes the body (application/octet-stream or text/plain) as the whole file, creating it', querystring: pathQuery, response: { 200: ok } },
    },
    async (req) => {
      if (!Buffer.isBuffer(req.body)) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'body: send the bytes as application/octet-stream or text/plain');
      await (await session(req)).writeFile(req.query.path, req.body);
      return { ok: true as const };
    },
  );

  app.get(
    '/api/v1/files/stat',
    {
      onRequest,
      schema: {
        tags,
        querystring: pathQuery,
        response: { 200: z.object({ name: z.string(), length: z.string(), mode: z.number(), directory: z.boolean(), mtime: z.number(), uid: z.string(), gid: z.string() }) },
      },
    },
    async (req) => {
      const s = await (await session(req)).stat(req.query.path);
      return { name: s.name, length: s.length.toString(), mode: s.mode, directory: (s.mode & 0x80000000) !== 0, mtime: s.mtime, uid: s.uid, gid: s.gid };
    },
  );

  app.post('/api/v1/files/mkdir', { onRequest, schema: { tags, body: z.object({ path: z.string().startsWith('/') }).strict(), response: { 200: ok } } }, async (req) => {
    await (await session(req)).mkdir(req.body.path);
    return { ok: true as const };
  });

  app.delete('/api/v1/files', { onRequest, schema: { tags, description: 'Removes a file or an empty directory', querystring: pathQuery, response: { 200: ok } } }, async (req) => {
    await (await session(req)).remove(req.query.path);
    return { ok: true as const };
  });
}
