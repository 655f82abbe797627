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
import { formatOutcome, outcomeOf, readStatus, removeStatus, statusPath, writeStatus, type ReloadOutcome, type ReloadStatus } from '../reload-status.js';

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
    .option('--pidfile <file>', 'write the process id here, and each reload\'s outcome to FILE.reload.json (for `capns reload --pidfile`); both removed at exit')
    .addHelpText(
      'after',
      '\nSIGHUP (or `capns reload`) re-reads the manifest and applies it differentially; the outcome is\nlogged (and written next to --pidfile).\nExit status: 0 clean shutdown, 1 invalid manifest or a listener failed (nothing started),\n2 the manifest file cannot be read. Manifest format: docs/manifest.md.',
    )
    .action(async (opts: ServeOptions) => {
      process.exitCode = await serve(opts);
    });
  program
    .command('reload')
    .description('make a running `capns serve` re-read its manifest (sends it SIGHUP), and print what the reload did')
    .option('--pidfile <file>', 'the file capns serve --pidfile wrote: wait for the outcome and print it')
    .option('--pid <pid>', 'the process id of capns serve: only send the signal (the outcome is in its log)')
    .option('--timeout-ms <ms>', 'how long to wait for the outcome', '60000')
    .option('--json', 'print the outcome as one JSON line')
    .addHelpText(
      'after',
      '\nExit status: 0 the reload was applied (or there was nothing to reload); 1 it was refused, or\napplied with some listeners refused, or no outcome came in time; 2 usage (no --pid/--pidfile,\nan unreadable pidfile).',
    )
    .action(async (opts: ReloadOptions) => {
      process.exitCode = await reload(opts);
    });
}

interface ReloadOptions {
  pid?: string;
  pidfile?: string;
  timeoutMs: string;
  json?: boolean;
}

async function reload(opts: ReloadOptions): Promise<number> {
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
    process.stderr.write('capns reload: give --pidfile FILE (or --pid PID to only send the signal)\n');
    return 2;
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) {
    process.stderr.write(`capns reload: '${text}' is not a process id\n`);
    return 2;
  }
  const timeoutMs = Number(opts.timeoutMs);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
    process.stderr.write('capns reload: --timeout-ms must be a whole number of milliseconds\n');
    return 2;
  }
  // The outcome to wait for is the first one numbered after what the file says now.
  const pidfile = opts.pid === undefined ? opts.pidfile : undefined;
  const before = pidfile !== undefined ? await readStatus(pidfile) : undefined;
  const seq = before !== undefined && before.pid === pid ? before.seq : 0;
  try {
    process.kill(pid, 'SIGHUP');
  } catch (e) {
    process.stderr.write(`capns reload: cannot signal process ${pid}: ${(e as Error).message}\n`);
    return 1;
  }
  if (pidfile === undefined) {
    process.stderr.write(`capns reload: sent SIGHUP to process ${pid}; the outcome is in its log (with --pidfile, capns reload waits for it and prints it)\n`);
    return 0;
  }
  const deadline = Date.now() + timeoutMs;
  let status: ReloadStatus | undefined;
  for (;;) {
    status = await readStatus(pidfile);
    if (status !== undefined && status.pid === pid && status.seq > seq) break;
    if (Date.now() >= deadline) {
      process.stderr.write(
        `capns reload: sent SIGHUP to process ${pid}, but no outcome appeared in ${statusPath(pidfile)} within ${timeoutMs} ms; see the server's log\n`,
      );
      return 1;
    }
    try {
      process.kill(pid, 0);
    } catch {
      process.stderr.write(`capns reload: process ${pid} exited before reporting the reload\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const ok = status.outcome === 'applied' || status.outcome === 'unchanged';
  if (opts.json === true) (ok ? process.stdout : process.stderr).write(JSON.stringify(status) + '\n');
  else (ok ? process.stdout : process.stderr).write(`capns reload: ${formatOutcome(status)}\n`);
  return ok ? 0 : 1;
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

/** Re-reads the manifest file and applies it: what came of it. Never throws. */
async function reloadFrom(file: string | undefined, server: CapnsServer): Promise<ReloadOutcome> {
  if (file === undefined) {
    return { outcome: 'unchanged', message: 'the embedded default manifest does not change', problems: [], report: null };
  }
  const loaded = await loadManifest(file, { env: process.env });
  if (!('manifest' in loaded)) {
    return { outcome: 'refused', message: 'the manifest has errors', problems: [loaded.message], report: null };
  }
  const problems = checkManifest(loaded.manifest).filter((d) => d.severity === 'error');
  if (problems.length > 0) return { outcome: 'refused', message: 'the manifest has errors', problems: problems.map(formatDiagnostic), report: null };
  try {
    return outcomeOf(await server.reload(loaded.manifest));
  } catch (e) {
    return { outcome: 'refused', message: 'the manifest could not be applied', problems: [e instanceof Error ? e.message : String(e)], report: null };
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

  // SIGHUP: re-read the manifest; a bad one is logged and the running one kept. Reloads
  // run one at a time; each outcome is logged and, with --pidfile, written for
  // `capns reload` to print.
  let reloading = Promise.resolve();
  let reloads = 0;
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      const outcome = await reloadFrom(opts.manifest, server);
      const fields = { outcome: outcome.outcome, ...(outcome.report !== null && { report: outcome.report }), ...(outcome.problems.length > 0 && { problems: outcome.problems }) };
      const line = formatOutcome(outcome).split('\n')[0]!;
      if (outcome.outcome === 'refused') logger.error(fields, line);
      else if (outcome.outcome === 'partial') logger.warn(fields, line);
      else logger.info(fields, line);
      if (opts.pidfile !== undefined) {
        const status: ReloadStatus = { ...outcome, pid: process.pid, seq: ++reloads, at: new Date().toISOString() };
        await writeStatus(opts.pidfile, status).catch((e: unknown) => logger.error({ err: e }, `cannot write ${statusPath(opts.pidfile!)}`));
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
          if (opts.pidfile !== undefined) {
            await rm(opts.pidfile, { force: true });
            await removeStatus(opts.pidfile);
          }
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
