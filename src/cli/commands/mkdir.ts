/** `capns mkdir PATH...`: create directories in your namespace on a running server. */
import type { Command } from 'commander';
import { printJson, processIo, remoteCommand, UsageError, withClient, type RemoteOptions } from './remote.js';

interface MkdirOptions extends RemoteOptions {
  mode?: string;
}

/** Registers `capns mkdir` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('mkdir')
      .description('create directories in your namespace on a running server (their parents must exist)')
      .argument('<path...>', 'directories to create, in order (stops at the first failure)')
      .option('--mode <octal>', 'permissions', '755'),
  ).action(async (paths: string[], opts: MkdirOptions) => {
    const io = processIo();
    process.exitCode = await withClient('mkdir', opts, io, async (c) => {
      if (!/^[0-7]{1,4}$/.test(opts.mode ?? '755')) throw new UsageError(`--mode ${opts.mode}: expected octal permissions like 755`);
      for (const p of paths) await c.mkdir(p, { perm: parseInt(opts.mode ?? '755', 8) });
      if (opts.json === true) printJson(io, { created: paths }, true);
    });
  });
}
