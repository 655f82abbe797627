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
 * Exit status: 0 clean shutdown; 1 bad arguments, manifest or filter, or the listener
 * failed; 2 a file could not be read.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { pino } from 'pino';
import { startCapnsServer, type CapnsServer } from '../../server/capns-server.js';
import { NsError } from '../../errors.js';
import {
  defaultManifest,
  ManifestError,
  parseManifest,
  type Manifest,
} from '../../manifest/index.js';
import { parseAddress } from '../../manifest/address.js';
import type { Export, Loc, Profile } from '../../manifest/types.js';
import { parseExportFilter, type ExportFilter } from '../../proxy/export-policy.js';
import type { ImportEvent, ImportStatus } from '../../proxy/importer.js';

/** A position for things the command line made. */
export const CLI_LOC: Loc = { file: '(command line)', line: 1, column: 1, path: '' };

/** Loads --manifest (or the embedded default); a number is an exit status (message printed). */
export async function loadManifest(
  cmd: string,
  file: string | undefined,
): Promise<Manifest | number> {
  if (file === undefined) return defaultManifest();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    process.stderr.write(`capns ${cmd}: cannot read ${file}: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    return parseManifest(text, { file, env: process.env });
  } catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    process.stderr.write(e.message + '\n');
    return e.syntax ? 2 : 1;
  }
}

/** The profile to use: the one named, the only one, or the loopback one. */
export function pickProfile(m: Manifest, name: string | undefined): Profile | string {
  if (name !== undefined)
    return m.profiles.find((p) => p.name === name) ?? `no profile '${name}' in ${m.file}`;
  if (m.profiles.length === 1) return m.profiles[0]!;
  return (
    m.profiles.find((p) => p.auth.loopback) ??
    `${m.file} has several profiles: name one with --profile`
  );
}

/** What `runUntilSignal` may be given besides the manifest. */
export interface RunOptions {
  exportFilters?: ReadonlyMap<number, ExportFilter>;
  heartbeatMs?: number;
  /** The log level without CAPNS_LOG_LEVEL (default warn). */
  logLevel?: string;
  /**
   * Sees every import event; an exit status returned stops the process with it (after
   * draining), e.g. `capns import` when the export refuses the token.
   */
  watchImports?: (name: string, event: ImportEvent, status: ImportStatus) => number | undefined;
}

/** Runs `manifest` until SIGINT/SIGTERM, printing its addresses. Returns the exit status. */
export async function runUntilSignal(cmd: string, manifest: Manifest, options: RunOptions): Promise<number> {
  const logger = pino(
    { level: process.env['CAPNS_LOG_LEVEL'] ?? options.logLevel ?? 'warn', base: { pid: process.pid } },
    pino.destination(2),
  );
  let server: CapnsServer | undefined;
  let stopWith: ((code: number) => void) | undefined;
  let early: number | undefined;
  const watch = options.watchImports;
  try {
    server = await startCapnsServer({
      manifest,
      logger,
      drainMs: 1000,
      ...(options.exportFilters !== undefined && { exportFilters: options.exportFilters }),
      ...(options.heartbeatMs !== undefined && { importHeartbeatMs: options.heartbeatMs }),
      ...(watch !== undefined && {
        onImportEvent: (name: string, event: ImportEvent, status: ImportStatus) => {
          const code = watch(name, event, status);
          if (code === undefined) return;
          // Before the listeners are up, the start finishes first.
          if (stopWith === undefined) early ??= code;
          else stopWith(code);
        },
      }),
    });
  } catch (e) {
    const message =
      e instanceof NsError || (e as NodeJS.ErrnoException).code !== undefined
        ? (e as Error).message
        : String(e);
    process.stderr.write(`capns ${cmd}: not started: ${message}\n`);
    return 1;
  }
  const running = server;
  for (const a of running.addresses) process.stdout.write(`${a.protocol} ${a.address}\n`);
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (code: number): void => {
      if (stopping) return;
      stopping = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      running.close().then(
        () => done(code),
        () => done(1),
      );
    };
    const onSignal = (): void => stop(0);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    stopWith = stop;
    if (early !== undefined) stop(early);
  });
}

interface ExportOpts {
  root: string;
  ro?: boolean;
  filter?: string;
  listen: string;
  token: string[];
  manifest?: string;
  profile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

async function exportCmd(o: ExportOpts): Promise<number> {
  const m = await loadManifest('export', o.manifest);
  if (typeof m === 'number') return m;
  const profile = pickProfile(m, o.profile);
  if (typeof profile === 'string') {
    process.stderr.write(`capns export: ${profile}\n`);
    return 1;
  }
  let listen;
  try {
    listen = parseAddress(o.listen);
  } catch (e) {
    process.stderr.write(`capns export: --listen: ${(e as Error).message}\n`);
    return 1;
  }
  const tokens = [
    ...o.token,
    ...(process.env['CAPNS_EXPORT_TOKEN'] !== undefined ? [process.env['CAPNS_EXPORT_TOKEN']] : []),
  ];
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) {
    process.stderr.write('capns export: --tls-cert and --tls-key go together\n');
    return 1;
  }
  const mutual = o.tlsCa !== undefined;
  if (tokens.length === 0 && !mutual) {
    process.stderr.write(
      'capns export: give --token (or CAPNS_EXPORT_TOKEN), or --tls-ca for client certificates\n',
    );
    return 1;
  }
  const filters = new Map<number, ExportFilter>();
  if (o.filter !== undefined) {
    let text: string;
    try {
      text = await readFile(o.filter, 'utf8');
    } catch (e) {
      process.stderr.write(`capns export: cannot read ${o.filter}: ${(e as Error).message}\n`);
      return 2;
    }
    try {
      filters.set(0, parseExportFilter(text, o.filter));
    } catch (e) {
      process.stderr.write(`capns export: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const exp: Export = {
    profile: profile.name,
    root: o.root,
    readOnly: o.ro === true,
    listen,
    auth: { tokens, tlsSubjects: [], loopback: false, loc: CLI_LOC },
    ...(o.tlsCert !== undefined &&
      o.tlsKey !== undefined && {
        tls: { cert: o.tlsCert, key: o.tlsKey, ...(o.tlsCa !== undefined && { ca: o.tlsCa }) },
      }),
    loc: CLI_LOC,
  };
  return runUntilSignal(
    'export',
    { ...m, listeners: [], exports: [exp] },
    { exportFilters: filters },
  );
}

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
    .addHelpText('after', '\nPrints "export ADDRESS" when listening. Details: docs/proxy.md.')
    .action(async (o: ExportOpts) => {
      process.exitCode = await exportCmd(o);
    });
}
