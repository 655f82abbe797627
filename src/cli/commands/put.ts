/** `capns put PATH`: write stdin (or --from FILE) as the content of a file in your namespace. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { printJson, processIo, remoteCommand, UsageError, withClient, type RemoteOptions } from './remote.js';

interface PutOptions extends RemoteOptions {
  from?: string;
  mode?: string;
}

async function readStdin(): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Registers `capns put` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('put')
      .description('write stdin (or --from FILE) as the whole content of a file in your namespace; creates it if needed')
      .argument('<path>', 'the file to write (its directory must exist)')
      .option('--from <file>', 'read the content from this local file instead of stdin')
      .option('--mode <octal>', 'permissions of a new file', '644'),
  ).action(async (path: string, opts: PutOptions) => {
    const io = processIo();
    process.exitCode = await withClient('put', opts, io, async (c) => {
      if (!/^[0-7]{1,4}$/.test(opts.mode ?? '644')) throw new UsageError(`--mode ${opts.mode}: expected octal permissions like 644`);
      let data: Uint8Array;
      try {
        data = opts.from !== undefined ? await readFile(opts.from) : await readStdin();
      } catch (e) {
        throw new UsageError(`cannot read ${opts.from ?? 'stdin'}: ${(e as Error).message}`);
      }
      await c.writeFile(path, data, { perm: parseInt(opts.mode ?? '644', 8) });
      if (opts.json === true) printJson(io, { path, bytes: data.length }, true);
    });
  });
}
