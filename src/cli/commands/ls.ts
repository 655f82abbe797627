/**
 * `capns ls [PATH...]`: the union listing of directories in your namespace on a running
 * server (first member wins for a name, as lookup does).
 */
import type { Command } from 'commander';
import type { NamespaceEntry } from '../../client/index.js';
import { hexId, printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

/** Registers `capns ls` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('ls')
      .description('list directories of your namespace on a running server (union listings)')
      .argument('[path...]', 'directories to list', ['/']),
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    process.exitCode = await withClient('ls', opts, io, async (c) => {
      const all: Array<{ path: string; entries: NamespaceEntry[] }> = [];
      for (const path of paths) all.push({ path, entries: await c.list(path) });
      if (opts.json === true) {
        const rows = all.map(({ path, entries }) => ({
          path,
          entries: entries.map((e) => ({
            name: e.name,
            kind: e.kind,
            ...(e.interfaceId !== 0n ? { interfaceId: hexId(e.interfaceId), interface: c.schema.interfaceName(e.interfaceId) } : {}),
            ...(e.label !== '' ? { label: e.label } : {}),
            qid: { type: e.qid.type, version: e.qid.version, path: e.qid.path.toString() },
          })),
        }));
        printJson(io, paths.length === 1 ? rows[0]!.entries : rows, true);
        return;
      }
      for (const { path, entries } of all) {
        if (paths.length > 1) io.out(`${path}:\n`);
        for (const e of entries) {
          if (e.kind === 'capability') io.out(`${e.name}\t${c.schema.interfaceName(e.interfaceId)} (${e.label})\n`);
          else io.out(e.kind === 'directory' ? `${e.name}/\n` : `${e.name}\n`);
        }
      }
    });
  });
}
