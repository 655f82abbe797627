/**
 * `capns serve [--manifest FILE]`: the capability table process. Without a manifest it
 * runs the embedded default (a ram tree at /tmp, a host folder at /data, a demo clock at
 * /svc/clock; loopback listeners). Prints where it listens on stdout, logs JSON lines
 * (pino) on stderr, drains and exits on SIGINT/SIGTERM.
 *
 * Exit status: 0 after a clean shutdown; 1 the manifest is invalid or a listener could
 * not be opened (nothing was started); 2 the manifest file could not be read.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { startCapnsServer, type CapnsServer } from '../../server/capns-server.js';
import { NsError } from '../../errors.js';
import { checkManifest, DEFAULT_DATA_DIR, formatDiagnostic, type Manifest } from '../../manifest/index.js';
import { loadManifest } from './manifest.js';

interface ServeOptions {
  manifest?: string;
  data?: string;
  logLevel: string;
  drainMs: string;
  pidfile?: string;
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
    .option('--pidfile <file>', 'write the process id here (for `capns reload --pidfile`); removed at exit')
    .addHelpText(
      'after',
      '\nSIGHUP (or `capns reload`) re-reads the manifest and applies it differentially.\nExit status: 0 clean shutdown, 1 invalid manifest or a listener failed (nothing started),\n2 the manifest file cannot be read. Manifest format: docs/manifest.md.',
    )
    .action(async (opts: ServeOptions) => {
      process.exitCode = await serve(opts);
    });
  program
    .command('reload')
    .description('make a running `capns serve` re-read its manifest (sends it SIGHUP)')
    .option('--pid <pid>', 'the process id of capns serve')
    .option('--pidfile <file>', 'the file capns serve --pidfile wrote')
    .action(async (opts: { pid?: string; pidfile?: string }) => {
      process.exitCode = await reload(opts);
    });
}

async function reload(opts: { pid?: string; pidfile?: string }): Promise<number> {
  let text = opts.pid;
  if (text === undefined && opts.pidfile !== undefined) {
    try {
      text = (await readFile(opts.pidfile, 'utf8')).trim();
    } catch (e) {
      process.stderr.write(`capns reload: cannot read ${opts.pidfile}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  if (text === undefined) {
    process.stderr.write('capns reload: give --pid PID or --pidfile FILE\n');
    return 2;
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) {
    process.stderr.write(`capns reload: '${text}' is not a process id\n`);
    return 2;
  }
  try {
    process.kill(pid, 'SIGHUP');
  } catch (e) {
    process.stderr.write(`capns reload: cannot signal process ${pid}: ${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

/** The manifest to serve, or the exit status after saying why there is none. */
async function load(opts: ServeOptions): Promise<Manifest | number> {
  if (opts.manifest !== undefined && opts.data !== undefined) {
    process.stderr.write('capns serve: --data applies to the default manifest only; set dir paths in your manifest\n');
    return 1;
  }
  const loaded = await loadManifest(opts.manifest, { env: process.env, ...(opts.data !== undefined && { dataDir: opts.data }) });
  if ('manifest' in loaded) return loaded.manifest;
  process.stderr.write(`${loaded.diagnostics.length > 0 ? loaded.message : `capns serve: ${loaded.message}`}\n`);
  return loaded.status;
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
    // Supervised services find their commands on capns's own PATH (and get nothing else
    // of its environment: docs/services.md).
    server = await startCapnsServer({ manifest, logger, drainMs, serviceEnv: { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin' } });
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
  if (opts.pidfile !== undefined) await writeFile(opts.pidfile, `${process.pid}\n`);
  logger.info({ addresses: server.addresses }, 'capns serve ready');

  // SIGHUP: re-read the manifest; a bad one is logged and the running one kept.
  let reloading = Promise.resolve();
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      if (opts.manifest === undefined) {
        logger.info('SIGHUP: the embedded default manifest does not change; nothing to reload');
        return;
      }
      const next = await load(opts);
      if (typeof next === 'number') {
        logger.error('reload refused: the manifest has errors (above); still running the previous one');
        return;
      }
      const problems = checkManifest(next).filter((d) => d.severity === 'error');
      if (problems.length > 0) {
        logger.error({ problems: problems.map(formatDiagnostic) }, 'reload refused; still running the previous manifest');
        return;
      }
      try {
        const report = await server.reload(next);
        logger.info({ report }, 'manifest reloaded');
      } catch (e) {
        logger.error({ err: e }, 'reload refused; still running the previous manifest');
      }
    });
  };
  process.on('SIGHUP', onHup);

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
        async () => {
          if (opts.pidfile !== undefined) await rm(opts.pidfile, { force: true });
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
