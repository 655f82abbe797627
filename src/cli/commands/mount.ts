/**
 * `capns mount [-a|-b] [-c] LABEL TO`: mount(2) a capability your namespace already holds
 * (named by its label, as `capns ns` prints it) at TO, then print the namespace. Changes
 * only this command's connection's namespace (see `capns bind --help`).
 */
import type { Command } from 'commander';
import { bindOptions, FORK_NOTE, printNamespace, unionFlags, type UnionFlags } from './bind.js';
import { processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

/** Registers `capns mount` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    unionFlags(
      program
        .command('mount')
        .description('mount(2): add the capability labelled LABEL in your namespace at TO, on a running server; prints the namespace')
        .argument('<label>', 'the label of a capability already in your namespace (see `capns ns`)')
        .argument('<to>', 'where it appears'),
    ),
  )
    .addHelpText('after', FORK_NOTE)
    .action(async (label: string, to: string, opts: RemoteOptions & UnionFlags) => {
      const io = processIo();
      process.exitCode = await withClient('mount', opts, io, async (c) => {
        await c.mountLabel(label, to, bindOptions(opts));
        await printNamespace(c, io, opts);
      });
    });
}
