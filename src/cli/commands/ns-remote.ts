/**
 * `capns ns` against a running server: prints your namespace there as namespace(6) text
 * (describe(), like /proc/N/ns), after running --apply files in it, and answers --resolve
 * and --list there. Not a command of its own: ns.ts calls `runRemote` when it runs.
 */
import { readFileSync } from 'node:fs';
import type { CapnsClient } from '../../client/index.js';
import { EXIT_USAGE, hexId, printError, printJson, USAGE_CODE, withClient, type Io, type RemoteOptions } from './remote.js';

/** The options of `capns ns` that work against a server. */
export interface RemoteNsOptions extends RemoteOptions {
  apply?: string[];
  resolve?: string[];
  list?: string[];
}

async function showResolve(c: CapnsClient, path: string): Promise<Record<string, unknown>> {
  const r = await c.lookup(path);
  let members: Awaited<ReturnType<CapnsClient['members']>> = [];
  if (r.rest === '') members = await c.members(path);
  return {
    path,
    interfaceId: hexId(r.interfaceId),
    interface: r.interfaceName,
    label: r.label,
    rest: r.rest,
    members: members.map((m) => ({ label: m.label, interfaceId: hexId(m.interfaceId), interface: c.schema.interfaceName(m.interfaceId), create: m.create })),
  };
}

/** Runs `capns ns` against the server; returns the exit status. */
export async function runRemote(opts: RemoteNsOptions, io: Io): Promise<number> {
  // Files are read before connecting: a file that is not there is a usage error, not a
  // reason to reach the server.
  const texts: string[] = [];
  for (const file of opts.apply ?? []) {
    try {
      texts.push(readFileSync(file === '-' ? 0 : file, 'utf8'));
    } catch (e) {
      printError(io, 'ns', opts.json === true, { message: `cannot read '${file}': ${(e as Error).message}`, code: USAGE_CODE, status: EXIT_USAGE });
      return EXIT_USAGE;
    }
  }
  return withClient('ns', opts, io, async (c) => {
    for (const text of texts) await c.apply(text);
    const resolves = [];
    for (const p of opts.resolve ?? []) resolves.push(await showResolve(c, p));
    const lists: Array<{ path: string; entries: Awaited<ReturnType<CapnsClient['list']>> }> = [];
    for (const p of opts.list ?? []) lists.push({ path: p, entries: await c.list(p) });
    if (resolves.length + lists.length === 0) {
      const text = await c.describe();
      if (opts.json === true) printJson(io, { profile: c.profile, namespace: text }, true);
      else io.out(text === '' ? '# (empty namespace)\n' : text);
      return;
    }
    if (opts.json === true) {
      const entry = (e: (typeof lists)[number]['entries'][number]): Record<string, unknown> => ({
        name: e.name,
        kind: e.kind,
        ...(e.interfaceId !== 0n ? { interfaceId: hexId(e.interfaceId), interface: c.schema.interfaceName(e.interfaceId) } : {}),
        ...(e.label !== '' ? { label: e.label } : {}),
      });
      printJson(io, { resolve: resolves, list: lists.map((l) => ({ path: l.path, entries: l.entries.map(entry) })) }, true);
      return;
    }
    for (const r of resolves) {
      io.out(`${String(r['path'])}\n  ${String(r['interface'])} ${String(r['interfaceId'])} label ${String(r['label'])}${r['rest'] === '' ? '' : `, rest ${String(r['rest'])}`}\n`);
      (r['members'] as Array<{ label: string; interface: string; create: boolean }>).forEach((m, i) => io.out(`  ${i + 1}. ${m.label} [${m.interface}]${m.create ? ' create' : ''}\n`));
    }
    for (const l of lists) {
      io.out(`${l.path}:\n`);
      for (const e of l.entries) io.out(`  ${e.name}${e.kind === 'directory' ? '/' : ''}${e.kind === 'capability' ? `\t${c.schema.interfaceName(e.interfaceId)} (${e.label})` : ''}\n`);
    }
  });
}
