/**
 * `capns cat PATH...`: write files of your namespace on a running server to stdout, in
 * order, each block as it arrives (a hub channel, which has no end, is followed until
 * it is removed or cat is stopped). Carries on past a file that fails (its error on
 * stderr) and exits 1 at the end.
 *
 * Stopping (docs/cli.md): SIGINT or SIGTERM cancels the read waiting on the server
 * (Finish: the server's reader slot is freed at once), closes the file and the
 * connection, and exits 130 or 143 (128 + the signal, as a shell reports a command the
 * signal killed); a second signal exits at once. When whoever reads stdout goes away
 * (EPIPE: `capns cat /n/hub/x | head -c 10`), cat stops the same way and exits 0, as
 * the reader has what it wanted.
 */
import { once } from 'node:events';
import type { Command } from 'commander';
import { EXIT_OK, eachPath, printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

/** Exit status after SIGINT / SIGTERM: 128 + the signal's number. */
const STOPPED_BY: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/** Registers `capns cat` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('cat')
      .description('write files of your namespace on a running server to stdout, as bytes, each block as it arrives (a hub channel is followed until it is removed or cat is interrupted)')
      .argument('<path...>', 'files to print, in order (a file that fails is reported and the others still printed)')
      .addHelpText(
        'after',
        '\nA file without an end (a hub channel) is printed as it is written, until it is removed; SIGINT or SIGTERM stop cat (status 130 or 143), and so does the end of the pipe it writes to (status 0).',
      ),
    'print one line [{"path", "base64"}] instead of the bytes, after every file has ended (errors as JSON lines on stderr)',
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    const stop = new AbortController();
    let stopStatus = EXIT_OK;
    const onSignal = (sig: 'SIGINT' | 'SIGTERM'): void => {
      if (stop.signal.aborted) process.exit(STOPPED_BY[sig]); // a second signal: at once
      stopStatus = STOPPED_BY[sig];
      stop.abort(new Error(`stopped by ${sig}`));
    };
    const onInt = (): void => onSignal('SIGINT');
    const onTerm = (): void => onSignal('SIGTERM');
    // EPIPE and the like: the reader of stdout is gone. Stop quietly (status 0).
    const onOutError = (): void => stop.abort(new Error('stdout closed'));
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.stdout.on('error', onOutError);
    try {
      const status = await withClient('cat', opts, io, async (c) => {
        const out: Array<{ path: string; base64: string }> = [];
        const { status } = await eachPath('cat', paths, c, io, opts, async (path) => {
          if (stop.signal.aborted) return;
          const parts: Uint8Array[] = [];
          try {
            for await (const block of await c.openRead(path, { signal: stop.signal })) {
              if (opts.json === true) {
                parts.push(block);
                continue;
              }
              // Backpressure: a slow pipe reader slows the reads, never fills memory.
              if (!process.stdout.write(block) && !stop.signal.aborted) await drained(stop.signal);
            }
          } catch (e) {
            if (stop.signal.aborted) return; // stopped: not the file's failure
            throw e;
          }
          if (opts.json === true) out.push({ path, base64: Buffer.concat(parts).toString('base64') });
        });
        if (stop.signal.aborted) return stopStatus;
        if (opts.json === true) printJson(io, out, true);
        return status;
      });
      process.exitCode = stop.signal.aborted ? stopStatus : status;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  });
}

/** Resolves when stdout drains, or when `signal` aborts (a pipe that closed never drains). */
async function drained(signal: AbortSignal): Promise<void> {
  try {
    await once(process.stdout, 'drain', { signal });
  } catch {
    // Aborted: the caller looks at the signal.
  }
}
