/**
 * `capns cat PATH...`: write files of your namespace on a running server to stdout, in
 * order. Carries on past a file that fails (its error on stderr) and exits 1 at the end.
 */
import type { Command } from 'commander';
import { eachPath, printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

/** Registers `capns cat` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('cat')
      .description('write files of your namespace on a running server to stdout, as bytes')
      .argument('<path...>', 'files to print, in order (a file that fails is reported and the others still printed)'),
    'print one line [{"path", "base64"}] instead of the bytes (errors as JSON lines on stderr)',
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    process.exitCode = await withClient('cat', opts, io, async (c) => {
      const out: Array<{ path: string; base64: string }> = [];
      const { status } = await eachPath('cat', paths, c, io, opts, async (path) => {
        const bytes = await c.readFile(path);
        if (opts.json === true) out.push({ path, base64: Buffer.from(bytes).toString('base64') });
        else io.out(bytes);
      });
      if (opts.json === true) printJson(io, out, true);
      return status;
    });
  });
}
