/**
 * `capns ls [PATH...]`: the union listing of directories in your namespace on a running
 * server (first member wins for a name, as lookup does). An entry that is an import
 * (`capns import`, a manifest `type: import`) shows its state: connected, or down since
 * when and why.
 */
import type { Command } from 'commander';
import { formatImportStatus, importStatusJson, type CapnsClient, type ImportStatus, type NamespaceEntry } from '../../client/index.js';
import { hexId, printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/**
 * The import status of each entry bound at its name (mount points: only they can be
 * imports), asked concurrently; undefined for the rest. A status that cannot be had (the
 * entry went away meanwhile) is left out rather than failing the listing.
 */
export async function importStatuses(c: CapnsClient, dir: string, entries: readonly NamespaceEntry[]): Promise<Array<ImportStatus | undefined>> {
  return Promise.all(entries.map((e) => (e.interfaceId === 0n ? Promise.resolve(undefined) : c.importStatus(join(dir, e.name)).catch(() => undefined))));
}

/** Registers `capns ls` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('ls')
      .description('list directories of your namespace on a running server (union listings; imports show their state)')
      .argument('[path...]', 'directories to list', ['/']),
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    process.exitCode = await withClient('ls', opts, io, async (c) => {
      const all: Array<{ path: string; entries: NamespaceEntry[]; imports: Array<ImportStatus | undefined> }> = [];
      for (const path of paths) {
        const entries = await c.list(path);
        all.push({ path, entries, imports: await importStatuses(c, path, entries) });
      }
      if (opts.json === true) {
        const rows = all.map(({ path, entries, imports }) => ({
          path,
          entries: entries.map((e, i) => ({
            name: e.name,
            kind: e.kind,
            ...(e.interfaceId !== 0n ? { interfaceId: hexId(e.interfaceId), interface: c.schema.interfaceName(e.interfaceId) } : {}),
            ...(e.label !== '' ? { label: e.label } : {}),
            qid: { type: e.qid.type, version: e.qid.version, path: e.qid.path.toString() },
            ...(imports[i] !== undefined ? { import: importStatusJson(imports[i]) } : {}),
          })),
        }));
        printJson(io, paths.length === 1 ? rows[0]!.entries : rows, true);
        return;
      }
      const now = Date.now();
      for (const { path, entries, imports } of all) {
        if (paths.length > 1) io.out(`${path}:\n`);
        entries.forEach((e, i) => {
          const imp = imports[i];
          const state = imp === undefined ? '' : `\t${formatImportStatus(imp, now)}`;
          if (e.kind === 'capability') io.out(`${e.name}\t${c.schema.interfaceName(e.interfaceId)} (${e.label})${state}\n`);
          else io.out(`${e.kind === 'directory' ? `${e.name}/` : e.name}${state}\n`);
        });
      }
    });
  });
}
