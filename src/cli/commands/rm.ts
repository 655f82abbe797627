/** `capns rm PATH...`: remove files and empty directories of your namespace on a running server. */
import type { Command } from 'commander';
import { printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

/** Registers `capns rm` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('rm')
      .description('remove files and empty directories of your namespace on a running server')
      .argument('<path...>', 'what to remove, in order (stops at the first failure)'),
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    process.exitCode = await withClient('rm', opts, io, async (c) => {
      for (const p of paths) await c.remove(p);
      if (opts.json === true) printJson(io, { removed: paths }, true);
    });
  });
}
