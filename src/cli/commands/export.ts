/**
 * `capns export --root /svc [--ro] [--filter FILE] --listen ADDR [--token T]...
 * [--manifest FILE] [--profile NAME]`: exportfs(4). Builds the namespace of one profile
 * of a manifest (the embedded default without --manifest; the profile named, or the
 * manifest's only profile, or its loopback profile) and serves the subtree at --root on
 * --listen behind the export's Gate, and nothing else: the manifest's own listeners and
 * exports are not opened. To re-export what another capns shows, put an `import`
 * capability in the manifest (see docs/proxy.md).
 *
 * Prints `export ADDRESS` on stdout when listening; drains and exits on SIGINT/SIGTERM.
 * Exit status: 0 clean shutdown; 1 the manifest or filter has errors, or the listener
 * failed; 2 usage (a missing or bad option, a file that cannot be read).
 */
import type { Command } from 'commander';
import type { ExportOpts } from './proxy-run.js';

/** Registers `capns export` on `program`. */
export function register(program: Command): void {
  program
    .command('export')
    .description(
      'exportfs: serve a subtree of a namespace to other capns (their `import`), behind a token or client certificates',
    )
    .requiredOption('--listen <addr>', 'where to listen: tcp!HOST!PORT, HOST:PORT or unix!PATH')
    .option('--root <path>', 'the subtree exported (nothing outside it can be named)', '/')
    .option(
      '--ro',
      'read-only: refuse every bind, unmount, create, write, remove, open for writing',
    )
    .option(
      '--filter <file>',
      'filter file: "+ RE" / "- RE" path patterns (exportfs -P), "allow|deny Interface[.method]"',
    )
    .option(
      '--token <token>',
      'a bearer token importers must present (repeatable; also CAPNS_EXPORT_TOKEN)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option(
      '--manifest <file>',
      'build the namespace from this manifest (default: the embedded one)',
    )
    .option(
      '--profile <name>',
      "whose namespace (default: the manifest's only, or loopback, profile)",
    )
    .option('--tls-cert <file>', 'serve TLS with this certificate')
    .option('--tls-key <file>', 'and this key')
    .option(
      '--tls-ca <file>',
      'require client certificates signed by this CA (mutual TLS; then no token is needed)',
    )
    .option('--log-format <format>', 'log lines as json or pretty (default $CAPNS_LOG_FORMAT, else pretty on a terminal, json otherwise)')
    .addHelpText(
      'after',
      '\nPrints "export ADDRESS" when listening. Exit status: 0 on SIGINT/SIGTERM; 1 the manifest or the\nfilter has errors, or the listener failed; 2 usage. Details: docs/proxy.md.',
    )
    .action(async (o: ExportOpts) => {
      process.exitCode = await (await import('./proxy-run.js')).exportCmd(o);
    });
}
