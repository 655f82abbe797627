/**
 * `capns ls [-l] [PATH...]`: the union listing of directories in your namespace on a
 * running server (first member wins for a name, as lookup does). An entry that is an
 * import (`capns import`, a manifest `type: import`) shows its state: connected, or down
 * since when and why. With -l, each entry's 9P stat too (mode, owner, group, length,
 * modification time), as ls -l prints it. Carries on past a path that fails and exits 1
 * at the end.
 */
import type { Command } from 'commander';
import type { CapnsClient, ImportStatus, NamespaceEntry } from '../../client/index.js';
import type { Stat } from '../../fileserver/file-server.js';
import { eachPath, hexId, printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';
import { modeString, statJson } from './stat.js';

interface LsOptions extends RemoteOptions {
  long?: boolean;
}

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

interface Listed {
  readonly path: string;
  readonly entries: NamespaceEntry[];
  readonly imports: Array<ImportStatus | undefined>;
  /** With -l: each entry's stat, undefined where it could not be had (an import that is down). */
  readonly stats?: Array<Stat | undefined>;
}

async function listOne(c: CapnsClient, path: string, long: boolean): Promise<Listed> {
  const entries = await c.list(path);
  const [imports, stats] = await Promise.all([
    importStatuses(c, path, entries),
    long ? Promise.all(entries.map((e) => c.stat(join(path, e.name)).catch(() => undefined))) : undefined,
  ]);
  return { path, entries, imports, ...(stats !== undefined && { stats }) };
}

/** `drwxr-xr-x glenda glenda     0 2026-01-05 10:00 ` with columns as wide as the widest. */
function longColumns(stats: ReadonlyArray<Stat | undefined>): string[] {
  const cols = stats.map((s) =>
    s === undefined
      ? ['?', '?', '?', '?', '?']
      : [modeString(s.mode), s.uid, s.gid, s.length.toString(), new Date(s.mtime * 1000).toISOString().slice(0, 16).replace('T', ' ')],
  );
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(0, ...cols.map((c) => c[i]!.length)));
  return cols.map((c) => c.map((x, i) => (i === 3 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join(' ') + ' ');
}

/** Registers `capns ls` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('ls')
      .description('list directories of your namespace on a running server (union listings; imports show their state)')
      .argument('[path...]', 'directories to list (a path that fails is reported and the others still listed)', ['/'])
      .option('-l, --long', 'with the mode, owner, group, length and modification time of each entry'),
  ).action(async (paths: string[], opts: LsOptions) => {
    const io = processIo();
    process.exitCode = await withClient('ls', opts, io, async (c) => {
      const { formatImportStatus, importStatusJson } = await import('../../client/index.js');
      const long = opts.long === true;
      const { results, status } = await eachPath('ls', paths, c, io, opts, (p) => listOne(c, p, long));
      const all = results.filter((l): l is Listed => l !== undefined);
      if (opts.json === true) {
        const rows = all.map(({ path, entries, imports, stats }) => ({
          path,
          entries: entries.map((e, i) => ({
            name: e.name,
            kind: e.kind,
            ...(e.interfaceId !== 0n ? { interfaceId: hexId(e.interfaceId), interface: c.schema.interfaceName(e.interfaceId) } : {}),
            ...(e.label !== '' ? { label: e.label } : {}),
            qid: { type: e.qid.type, version: e.qid.version, path: e.qid.path.toString() },
            ...(stats?.[i] !== undefined ? { stat: statJson(stats[i]) } : {}),
            ...(imports[i] !== undefined ? { import: importStatusJson(imports[i]) } : {}),
          })),
        }));
        if (paths.length > 1) printJson(io, rows, true);
        else if (rows[0] !== undefined) printJson(io, rows[0].entries, true);
        return status;
      }
      const now = Date.now();
      for (const { path, entries, imports, stats } of all) {
        if (paths.length > 1) io.out(`${path}:\n`);
        const prefix = stats !== undefined ? longColumns(stats) : [];
        entries.forEach((e, i) => {
          const imp = imports[i];
          const state = imp === undefined ? '' : `\t${formatImportStatus(imp, now)}`;
          const name = e.kind === 'capability' ? `${e.name}\t${c.schema.interfaceName(e.interfaceId)} (${e.label})` : e.kind === 'directory' ? `${e.name}/` : e.name;
          io.out(`${prefix[i] ?? ''}${name}${state}\n`);
        });
      }
      return status;
    });
  });
}
