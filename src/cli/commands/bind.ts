/**
 * `capns bind [-a|-b] [-c] FROM TO`: bind(2) in your namespace on a running server, then
 * print the namespace it made.
 *
 * Per-connection namespaces are forks: like Plan 9's bind, which changes only the
 * process group's namespace, this changes only this command's connection's namespace,
 * and the change ends with the command. Put lasting binds in the manifest's profile, or
 * keep a connection open with the client library.
 */
import type { Command } from 'commander';
import type { BindOptions, CapnsClient } from '../../client/index.js';
import { printJson, processIo, remoteCommand, UsageError, withClient, type Io, type RemoteOptions } from './remote.js';

/** -a, -b and -c, as bind(1) spells them. */
export interface UnionFlags {
  after?: boolean;
  before?: boolean;
  create?: boolean;
}

/** The union flags as BindOptions. @throws UsageError for -a with -b. */
export function bindOptions(f: UnionFlags): BindOptions {
  if (f.after === true && f.before === true) throw new UsageError('-a and -b cannot be used together');
  return { position: f.after === true ? 'after' : f.before === true ? 'before' : 'replace', create: f.create === true };
}

/** Adds -a, -b and -c. */
export function unionFlags(cmd: Command): Command {
  return cmd
    .option('-a, --after', 'add after the members already there (searched last)')
    .option('-b, --before', 'add before the members already there (searched first)')
    .option('-c, --create', 'creates in the union go to this member (MCREATE)');
}

/** The note every namespace-changing command's help carries. */
export const FORK_NOTE = `
Your namespace on the server is your connection's own (a fork of your profile's): as
Plan 9's bind changes only the process group's namespace, this changes only this
command's connection, and the change ends when the command does. The command prints the
namespace it made. For lasting changes, bind in the manifest's profile, or keep one
connection with the client library (docs/client.md).`;

/** Prints the namespace after a change. */
export async function printNamespace(c: CapnsClient, io: Io, opts: RemoteOptions): Promise<void> {
  const text = await c.describe();
  if (opts.json === true) printJson(io, { namespace: text }, true);
  else io.out(text);
}

/** Registers `capns bind` on `program`. */
export function register(program: Command): void {
  remoteCommand(
      unionFlags(
        program
          .command('bind')
          .description('bind(2): make what FROM names visible at TO as well, in your namespace on a running server; prints the namespace')
          .argument('<from>', 'a path of your namespace (evaluated now)')
          .argument('<to>', 'where it appears'),
      ),
    )
      .addHelpText('after', FORK_NOTE)
      .action(async (from: string, to: string, opts: RemoteOptions & UnionFlags) => {
        const io = processIo();
        process.exitCode = await withClient('bind', opts, io, async (c) => {
          await c.bind(from, to, bindOptions(opts));
          await printNamespace(c, io, opts);
        });
      });
}
