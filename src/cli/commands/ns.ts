/**
 * `capns ns`: your namespace on a running server as namespace(6) text (what /proc/N/ns
 * shows in Plan 9), after running --apply files in it; --resolve and --list ask there.
 * Like every client command it talks to the server (--server, CAPNS_SERVER, else the
 * default tcp!127.0.0.1!5640).
 *
 * `capns ns --offline` (and `--demo`, which implies it) is the offline namespace tool
 * instead: the same namespace core in this process, with stand-in capabilities
 * (ns-offline.ts). Each mode loads its code when it runs.
 */
import type { Command } from 'commander';
import type { NsCommandOptions } from './ns-offline.js';
import type { RemoteNsOptions } from './ns-remote.js';
import { printError, processIo, remoteCommand, USAGE_CODE, EXIT_USAGE } from './remote.js';

interface NsOptions extends NsCommandOptions, RemoteNsOptions {
  offline?: boolean;
}

/** Registers `capns ns` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('ns')
      .description('print your namespace on a running server as namespace(6) text, after running --apply files in it; or resolve and list paths in it')
      .option('--apply <file...>', "run namespace(6) text from FILE ('-' for stdin): bind, mount, unmount, clear")
      .option('--resolve <path...>', 'print what PATH resolves to: its mount point, union members and the rest to walk')
      .option('--list <path...>', 'print the union listing of directory PATH')
      .option('--offline', 'no server: build the namespace in this process, with stand-in capabilities')
      .option('--demo', "offline: start from the demo namespace (the seeds' /bin union, /tmp, /data, /svc/*); implies --offline")
      .option('--cap <label=interface...>', 'offline: a capability that mount lines may name: interface is FileServer, Namespace or a 0x id')
      .option('--sub <prefix>', 'offline: look through a view rooted at PREFIX (it cannot name anything outside)')
      .option('--ro', 'offline, with --sub: a read-only view'),
    'print one line of JSON ({profile, namespace}, or {resolve, list}); errors as one JSON line on stderr',
  )
    .addHelpText(
      'after',
      `
Namespace text (namespace(6)), one command per line; '#' starts a comment line:
  bind [-abcC] from to          make what FROM names now visible at TO too
  mount [-abcC] label to [spec] add the capability LABEL at TO (SPEC: a path inside it)
  unmount [label] to            remove LABEL's binding, or every binding, at TO
  clear                         start over from an empty namespace
  -a after, -b before (default: replace), -c create (MCREATE), -C cache (ignored)

Against a server, --apply runs the text in your connection's namespace, which ends with
the command: use it to see what lines would do (docs/cli.md).

With --offline (or --demo) no server is asked: the capabilities are stand-ins. A mount
line may name the demo's labels (with --demo), one given by --cap, or any other label,
which then stands for a FileServer. $home is /usr/glenda.

Examples:
  capns ns
  printf 'bind /svc/clock /n/clock\\n' | capns ns --apply - --list /n
  capns ns --demo
  capns ns --demo --resolve /bin/ls --list /bin
  capns ns --offline --apply my.ns --cap clock=0xc10c000000000001
  capns ns --demo --sub /usr/glenda --ro --list /`,
    )
    .action(async (opts: NsOptions) => {
      const io = processIo();
      const offline = opts.offline === true || opts.demo === true;
      const remoteOnly = (['server', 'token', 'tls', 'ca', 'cert', 'key'] as const).filter((f) => opts[f] !== undefined);
      const offlineOnly = (['cap', 'sub', 'ro'] as const).filter((f) => opts[f] !== undefined);
      const usage = (message: string): void => {
        printError(io, 'ns', opts.json === true, { message, code: USAGE_CODE, status: EXIT_USAGE });
        process.exitCode = EXIT_USAGE;
      };
      if (offline && remoteOnly.length > 0) return usage(`--${remoteOnly[0]} asks a server, --${opts.demo === true ? 'demo' : 'offline'} works without one: drop one of them`);
      if (!offline && offlineOnly.length > 0) return usage(`--${offlineOnly[0]} works on the offline namespace only: add --offline (or --demo)`);
      if (offline) {
        const { run } = await import('./ns-offline.js');
        process.exitCode = run(opts, io.out, io.err);
        return;
      }
      const { runRemote } = await import('./ns-remote.js');
      process.exitCode = await runRemote(opts, io);
    });
}
