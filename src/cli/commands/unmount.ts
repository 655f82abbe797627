/**
 * `capns unmount [LABEL] PATH`: unmount(2) in your namespace on a running server, then
 * print the namespace. Changes only this command's connection's namespace.
 */
import type { Command } from 'commander';
import { FORK_NOTE, printNamespace } from './bind.js';
import { processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

/** Registers `capns unmount` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('unmount')
      .description('unmount(2): remove the member labelled LABEL at PATH (every member without LABEL), on a running server; prints the namespace')
      .argument('<label-or-path>', 'LABEL, when PATH follows; else the PATH')
      .argument('[path]', 'the mount point'),
  )
    .addHelpText('after', FORK_NOTE)
    .action(async (first: string, second: string | undefined, opts: RemoteOptions) => {
      const io = processIo();
      const [label, path] = second === undefined ? ['', first] : [first, second];
      process.exitCode = await withClient('unmount', opts, io, async (c) => {
        await c.unmount(path, label);
        await printNamespace(c, io, opts);
      });
    });
}
