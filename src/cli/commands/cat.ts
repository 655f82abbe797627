/** `capns cat PATH...`: write files of your namespace on a running server to stdout. */
import type { Command } from 'commander';
import { printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

/** Registers `capns cat` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('cat')
      .description('write files of your namespace on a running server to stdout, as bytes')
      .argument('<path...>', 'files to print, in order'),
    'print [{"path", "base64"}] instead of the bytes',
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    process.exitCode = await withClient('cat', opts, io, async (c) => {
      const out: Array<{ path: string; base64: string }> = [];
      for (const path of paths) {
        const bytes = await c.readFile(path);
        if (opts.json === true) out.push({ path, base64: Buffer.from(bytes).toString('base64') });
        else io.out(bytes);
      }
      if (opts.json === true) printJson(io, out, true);
    });
  });
}
