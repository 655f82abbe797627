/** The web page: plain HTML/JS/CSS from src/admin/web, read when asked (no build step). */
import { readFile } from 'node:fs/promises';
import { NsError } from '../../errors.js';
import type { RouteContext, ZApp } from './context.js';

/**
 * The page's files and their media types. A Map, not an object literal: `/ui/constructor`
 * looked `constructor` up on an object, found Object's, and read a file that is not
 * there (a 500). Only these names are served; every other name is a 404.
 */
const FILES: ReadonlyMap<string, string> = new Map([
  ['index.html', 'text/html; charset=utf-8'],
  ['app.mjs', 'text/javascript; charset=utf-8'],
  ['style.css', 'text/css; charset=utf-8'],
]);

/** Registers / and /ui/:file (open: the page asks for a token itself). */
export function webRoutes(app: ZApp, ctx: RouteContext): void {
  const root = ctx.deps.webRoot ?? new URL('../web/', import.meta.url);
  const load = async (name: string): Promise<{ type: string; text: string }> => {
    const type = FILES.get(name);
    if (type === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no file ${name}`);
    return { type, text: await readFile(new URL(name, root), 'utf8') };
  };
  app.get('/', { schema: { hide: true } }, async (_req, reply) => {
    const f = await load('index.html');
    return reply.type(f.type).header('cache-control', 'no-cache').send(f.text);
  });
  app.get<{ Params: { file: string } }>('/ui/:file', { schema: { hide: true } }, async (req, reply) => {
    const f = await load(req.params.file);
    return reply.type(f.type).header('cache-control', 'no-cache').send(f.text);
  });
}
