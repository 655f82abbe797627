/**
 * `capns rm PATH...`: remove files and empty directories of your namespace on a running
 * server. Carries on past a path that fails and exits 1 at the end.
 */
import type { Command } from 'commander';
import { eachPath, printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

/** Registers `capns rm` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('rm')
      .description('remove files and empty directories of your namespace on a running server')
      .argument('<path...>', 'what to remove, in order (a path that fails is reported and the others still removed)'),
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    process.exitCode = await withClient('rm', opts, io, async (c) => {
      const { results, status } = await eachPath('rm', paths, c, io, opts, async (p) => {
        await c.remove(p);
        return p;
      });
      if (opts.json === true) printJson(io, { removed: results.filter((p) => p !== undefined) }, true);
      return status;
    });
  });
}
