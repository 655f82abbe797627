/**
 * `capns serve [--manifest FILE]`: the capability table process. Without a manifest it
 * runs the embedded default (a ram tree at /tmp, a host folder at /data, a demo clock at
 * /svc/clock; loopback listeners). Prints where it listens on stdout, logs JSON lines
 * (pino) on stderr, drains and exits on SIGINT/SIGTERM.
 *
 * Exit status: 0 after a clean shutdown; 1 the manifest is invalid or a listener could
 * not be opened (nothing was started); 2 the manifest file could not be read.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { startCapnsServer, type CapnsServer } from '../../captable/capns-server.js';
import { NsError } from '../../errors.js';
import {
  checkManifest,
  defaultManifest,
  DEFAULT_DATA_DIR,
  formatDiagnostic,
  ManifestError,
  parseManifest,
  type Manifest,
} from '../../manifest/index.js';

interface ServeOptions {
  manifest?: string;
  data?: string;
  logLevel: string;
  drainMs: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Registers `capns serve` on `program`. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the capability table process: every client gets its own namespace, built from the manifest')
    .option('--manifest <file>', 'the manifest (YAML or JSON); without it, the embedded default')
    .option('--data <dir>', `host folder the default manifest serves at /data (default ${DEFAULT_DATA_DIR})`)
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--drain-ms <ms>', 'how long shutdown waits for connections to finish', '5000')
    .addHelpText(
      'after',
      '\nExit status: 0 clean shutdown, 1 invalid manifest or a listener failed (nothing started),\n2 the manifest file cannot be read. Manifest format: docs/manifest.md.',
    )
    .action(async (opts: ServeOptions) => {
      process.exitCode = await serve(opts);
    });
}

async function load(opts: ServeOptions): Promise<Manifest | number> {
  if (opts.manifest === undefined) return defaultManifest(opts.data !== undefined ? { dataDir: opts.data } : {});
  if (opts.data !== undefined) {
    process.stderr.write('capns serve: --data applies to the default manifest only; set dir paths in your manifest\n');
    return 1;
  }
  let text: string;
  try {
    text = await readFile(opts.manifest, 'utf8');
  } catch (e) {
    process.stderr.write(`capns serve: cannot read ${opts.manifest}: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    return parseManifest(text, { file: opts.manifest, env: process.env });
  } catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    process.stderr.write(e.message + '\n');
    return e.syntax ? 2 : 1;
  }
}

async function serve(opts: ServeOptions): Promise<number> {
  if (!LOG_LEVELS.includes(opts.logLevel)) {
    process.stderr.write(`capns serve: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
    return 1;
  }
  const drainMs = Number(opts.drainMs);
  if (!Number.isInteger(drainMs) || drainMs < 0) {
    process.stderr.write('capns serve: --drain-ms must be a whole number of milliseconds\n');
    return 1;
  }
  const manifest = await load(opts);
  if (typeof manifest === 'number') return manifest;
  const findings = checkManifest(manifest);
  for (const d of findings) process.stderr.write(formatDiagnostic(d) + '\n');
  if (findings.some((d) => d.severity === 'error')) return 1;

  const logger = pino({ level: opts.logLevel, base: { pid: process.pid } }, pino.destination(2));
  let server: CapnsServer;
  try {
    server = await startCapnsServer({ manifest, logger, drainMs });
  } catch (e) {
    const message = e instanceof NsError || (e as NodeJS.ErrnoException).code !== undefined ? (e as Error).message : String(e);
    process.stderr.write(`capns serve: not started: ${message}\n`);
    return 1;
  }
  for (const a of server.addresses) {
    process.stdout.write(`${a.protocol.padEnd(4)} ${a.address}${a.profile !== undefined ? `  (profile ${a.profile})` : ''}\n`);
  }
  for (const c of manifest.capabilities) {
    if (c.type === 'dir') process.stdout.write(`data ${resolve(c.path)}  (capability ${c.name})\n`);
  }
  logger.info({ addresses: server.addresses }, 'capns serve ready');

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: cutting connections');
        server.destroy();
        done(1);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down: draining connections');
      server.close().then(
        () => {
          logger.info('stopped');
          done(0);
        },
        (e: unknown) => {
          logger.error({ err: e }, 'shutdown failed');
          done(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
