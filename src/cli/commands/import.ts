/**
 * `capns import ADDR [REMOTE_PATH] LOCAL_PATH [-a|-b] [-c] --listen ADDR2 [--token T]
 * [--manifest FILE] [--profile NAME]`: import(4). Namespaces live in a capns process, so
 * the command runs one: the profile's namespace (an empty one without --manifest) with
 * the export at ADDR (its REMOTE_PATH, default '/') mounted at LOCAL_PATH in union
 * position (-b before, -a after, default replace; -c for creates), served to clients on
 * --listen (loopback: no token needed). The import survives the exporter's restarts:
 * calls fail `disconnected` meanwhile, naming it, and it reconnects by itself; a refused
 * token ends the command with status 1 unless --retry-refused-ms says to keep trying.
 *
 * Prints `rpc ADDRESS` when listening, logs the import's state changes on stderr;
 * exits on SIGINT/SIGTERM.
 */
import type { Command } from 'commander';
import { unionFlags } from './bind.js';
import type { ImportOpts } from './proxy-run.js';

/** Registers `capns import` on `program`. */
export function register(program: Command): void {
  unionFlags(
    program
      .command('import')
      .description(
        'import: mount another capns export in a namespace served here (in union position, as bind)',
      )
      .argument('<args...>', 'ADDR [REMOTE_PATH] LOCAL_PATH')
      .requiredOption(
        '--listen <addr>',
        'where clients reach the namespace: tcp!HOST!PORT, HOST:PORT or unix!PATH',
      )
      .option('--token <token>', 'the export token (also CAPNS_IMPORT_TOKEN)')
      .option('--manifest <file>', 'start from this manifest profile (default: an empty namespace)')
      .option('--profile <name>', 'the profile to add the import to')
      .option(
        '--heartbeat-ms <ms>',
        'how often the export is checked alive (a dead one fails calls within 3x this)',
        '250',
      )
      .option(
        '--timeout-ms <ms>',
        'deadline of each step of a connection attempt: TCP and TLS, authenticate, resolve',
        '5000',
      )
      .option('--call-timeout-ms <ms>', 'fail (overloaded) and cancel a call through the import not answered within this (default: none)')
      .option(
        '--retry-refused-ms <ms>',
        'when the export refuses the token, keep running and try again this often (default: exit 1 at once)',
      )
      .option('--log-format <format>', 'log lines as json or pretty (default $CAPNS_LOG_FORMAT, else pretty on a terminal, json otherwise)'),
  )
    .addHelpText(
      'after',
      '\nPrints "rpc ADDRESS" when listening, then logs the import\'s state changes on stderr\n' +
        '(connected, reconnected, down and why). Starts even when the export is down: calls\n' +
        'through the import fail `disconnected`, naming it, until it is up. `capns ls` and\n' +
        '`capns stat` show its state. Exit status: 0 on SIGINT/SIGTERM; 1 the export refused the\n' +
        'token, or the listener failed; 2 usage. Details: docs/proxy.md.',
    )
    .action(async (args: string[], o: ImportOpts) => {
      process.exitCode = await (await import('./proxy-run.js')).importCmd(args, o);
    });
}
