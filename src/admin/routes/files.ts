/** Files through the caller's namespace: read, write (create or truncate), stat, mkdir, remove. */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { NsError } from '../../errors.js';
import { clientGone, profileOf, requireProfile, type RouteContext, type ZApp } from './context.js';

const pathQuery = z.object({ path: z.string().min(1).startsWith('/') });
const readQuery = pathQuery.extend({
  max: z.coerce.number().int().positive().optional().describe('send at most this many bytes, then end the response (a bound on a read without an end)'),
});
const ok = z.object({ ok: z.literal(true) });
/** Bytes a streamed file body buffers ahead of the socket. */
const STREAM_HIGH_WATER = 64 * 1024;

/** Registers /api/v1/files* on `app` (any profile; the session's namespace decides). */
export function fileRoutes(app: ZApp, ctx: RouteContext): void {
  const onRequest = requireProfile(ctx);
  const session = (req: Parameters<typeof profileOf>[0]) => ctx.deps.session(profileOf(req).name);
  const tags = ['files'];

  app.get(
    '/api/v1/files',
    {
      onRequest,
      schema: {
        tags,
        description:
          'The content of a file (application/octet-stream), sent as it is read: a file without an end (a hub channel) streams until it is removed, `max` bytes have gone, or the client goes away (its read on the server is then cancelled)',
        querystring: readQuery,
      },
    },
    async (req, reply) => {
      const signal = clientGone(req, reply);
      const max = req.query.max;
      const reader = await (await session(req)).openRead(req.query.path, { signal });
      // Whatever stage the response is at (even before its body was first pulled, when
      // destroying the body would not run its finally), a client gone closes the file.
      signal.addEventListener('abort', () => void reader.close(), { once: true });
      if (signal.aborted) await reader.close();
      const blocks = reader[Symbol.asyncIterator]();
      // The first block before the headers: a failure to read at all (a directory, a
      // refusal) still gets its status and JSON body. A channel's first read waits for
      // its first write.
      const first = await blocks.next();
      if (first.done === true) return reply.type('application/octet-stream').send(Buffer.alloc(0));
      async function* body(): AsyncGenerator<Uint8Array, void, undefined> {
        let sent = 0;
        try {
          for (let r: IteratorResult<Uint8Array, void> = first; r.done !== true; r = await blocks.next()) {
            const block = max !== undefined && sent + r.value.length > max ? r.value.subarray(0, max - sent) : r.value;
            sent += block.length;
            yield block;
            if (max !== undefined && sent >= max) return;
          }
        } catch (e) {
          if (signal.aborted) return; // the client is gone: nobody to tell
          throw e; // after the headers: the response is cut short (fastify destroys it)
        } finally {
          await blocks.return?.(); // closes the file (cancelling a read that waits)
        }
      }
      // Pulled as the socket drains: at most about one block waits in memory per response.
      return reply.type('application/octet-stream').send(Readable.from(body(), { objectMode: false, highWaterMark: STREAM_HIGH_WATER }));
    },
  );

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
