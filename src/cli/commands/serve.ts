/**
 * `capns serve [--manifest FILE]`: the capability table process. Without a manifest it
 * runs the embedded default (a ram tree at /tmp, a host folder at /data, a demo clock at
 * /svc/clock; loopback listeners on ports 5640-5642, which --rpc-port, --9p-port,
 * --http-port or CAPNS_RPC_PORT, CAPNS_9P_PORT, CAPNS_HTTP_PORT move). Prints where it
 * listens on stdout, logs on stderr (readable lines on a terminal, JSON lines otherwise),
 * drains and exits on SIGINT/SIGTERM.
 *
 * Nothing is left on disk by a start that fails: a host folder the manifest asks to
 * create (the default's ./capns-data) is removed again if a listener cannot be opened.
 *
 * Exit status: 0 after a clean shutdown; 1 the manifest is invalid or a listener could
 * not be opened (nothing was started); 2 usage, or the manifest file could not be read.
 */
import { readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { CapnsServer } from '../../server/capns-server.js';
import type { Manifest } from '../../manifest/index.js';
import { DEFAULT_DATA_DIR, DEFAULT_PORTS } from '../../manifest/default-ports.js';
import { chooseLogFormat, LOG_LEVELS, makeLogger } from '../log.js';
import { listeningLine } from './listening.js';
import { formatOutcome, outcomeOf, readStatus, removeStatus, statusPath, writeStatus, type ReloadOutcome, type ReloadStatus } from '../reload-status.js';

interface ServeOptions {
  manifest?: string;
  dataDir?: string;
  rpcPort?: string;
  '9pPort'?: string;
  httpPort?: string;
  logLevel: string;
  logFormat?: string;
  drainMs: string;
  pidfile?: string;
}

/** The default manifest's listeners: their flag and environment variable. */
const PORT_SETTINGS = [
  { key: 'rpc', flag: '--rpc-port', option: 'rpcPort', env: 'CAPNS_RPC_PORT' },
  { key: '9p', flag: '--9p-port', option: '9pPort', env: 'CAPNS_9P_PORT' },
  { key: 'http', flag: '--http-port', option: 'httpPort', env: 'CAPNS_HTTP_PORT' },
] as const;

/** Registers `capns serve` on `program`. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the capability table process: every client gets its own namespace, built from the manifest')
    .option('--manifest <file>', 'the manifest (YAML or JSON); without it, the embedded default')
    .option('--data-dir <dir>', `the default manifest: the host folder served at /data (default ${DEFAULT_DATA_DIR}; created if missing)`)
    .option('--rpc-port <port>', `the default manifest: the RPC listener's port on 127.0.0.1 (default $CAPNS_RPC_PORT, else ${DEFAULT_PORTS.rpc}; 0 picks a free one)`)
    .option('--9p-port <port>', `the default manifest: the 9P listener's port (default $CAPNS_9P_PORT, else ${DEFAULT_PORTS['9p']})`)
    .option('--http-port <port>', `the default manifest: the HTTP listener's port, API and web page (default $CAPNS_HTTP_PORT, else ${DEFAULT_PORTS.http})`)
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--log-format <format>', 'log lines as json or pretty (default $CAPNS_LOG_FORMAT, else pretty on a terminal, json otherwise)')
    .option('--drain-ms <ms>', 'how long shutdown waits for connections to finish', '5000')
    .option('--pidfile <file>', 'write the process id here, and each reload\'s outcome to FILE.reload.json (for `capns reload --pidfile`); both removed at exit')
    .addHelpText(
      'after',
      `
Prints one line per listener on stdout when it is up ("rpc    tcp!127.0.0.1!5640"); the
client commands find the RPC one through --server or CAPNS_SERVER (CAPNS_RPC_PORT moves
both). SIGHUP (or \`capns reload\`) re-reads the manifest and applies it differentially;
the outcome is logged (and written next to --pidfile).
Exit status: 0 clean shutdown, 1 invalid manifest or a listener failed (nothing started),
2 usage or the manifest file cannot be read. Manifest format: docs/manifest.md.`,
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

function usage(message: string): number {
  process.stderr.write(`capns serve: ${message}\n`);
  return 2;
}

/** The ports the flags and environment give the default manifest, or a usage message. */
function defaultPorts(opts: ServeOptions): { ports: Partial<Record<'rpc' | '9p' | 'http', number>> } | { error: string } {
  const ports: Partial<Record<'rpc' | '9p' | 'http', number>> = {};
  for (const p of PORT_SETTINGS) {
    const flag = opts[p.option];
    const text = flag ?? (process.env[p.env] !== '' ? process.env[p.env] : undefined);
    if (text === undefined) continue;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n > 65535) return { error: `${flag !== undefined ? p.flag : p.env} ${text}: expected a port number, 0 to 65535 (0 picks a free one)` };
    ports[p.key] = n;
  }
  return { ports };
}

/** The manifest to serve, or the exit status after saying why there is none. */
async function load(opts: ServeOptions): Promise<Manifest | number> {
  const { loadManifest } = await import('./manifest-load.js');
  if (opts.manifest === undefined) {
    const chosen = defaultPorts(opts);
    if ('error' in chosen) return usage(chosen.error);
    const { defaultManifest, ManifestError } = await import('../../manifest/index.js');
    try {
      return defaultManifest({ ports: chosen.ports, ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }) });
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      return usage(`--data-dir: ${e.message}`);
    }
  }
  const loaded = await loadManifest(opts.manifest, { env: process.env });
  if ('manifest' in loaded) return loaded.manifest;
  process.stderr.write(`${loaded.diagnostics.length > 0 ? loaded.message : `capns serve: ${loaded.message}`}\n`);
  return loaded.status;
}

/** Re-reads the manifest file and applies it: what came of it. Never throws. */
async function reloadFrom(file: string | undefined, server: CapnsServer): Promise<ReloadOutcome> {
  if (file === undefined) {
    return { outcome: 'unchanged', message: 'the embedded default manifest does not change', problems: [], report: null };
  }
  const [{ loadManifest }, { checkManifest, formatDiagnostic }] = await Promise.all([import('./manifest-load.js'), import('../../manifest/index.js')]);
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

/**
 * The folders a start would create for `dir` capabilities with `create: true`, deepest
 * first (to remove them again if the start fails; nothing else is written before the
 * listeners are up).
 */
async function foldersToCreate(m: Manifest): Promise<string[]> {
  const missing: string[] = [];
  for (const c of m.capabilities) {
    if (c.type !== 'dir' || !c.create) continue;
    const chain: string[] = [];
    for (let d = resolve(c.path); ; d = dirname(d)) {
      try {
        await stat(d);
        break;
      } catch {
        chain.push(d);
        if (dirname(d) === d) break;
      }
    }
    missing.push(...chain);
  }
  return missing;
}

/** Removes the folders a failed start made (only if still empty: never anyone's files). */
async function removeFolders(folders: readonly string[]): Promise<void> {
  for (const d of folders) await rmdir(d).catch(() => undefined);
}

/**
 * Why the server did not start, for people: a listener whose address is taken says which
 * and how to move it; anything else as it is.
 */
function notStarted(e: unknown, manifest: Manifest, usingDefault: boolean, addresses: (a: Manifest['listeners'][number]['address']) => string): string {
  const err = e as NodeJS.ErrnoException & { port?: number; address?: string };
  const message = err instanceof Error ? err.message : String(e);
  if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') return message;
  const listener = manifest.listeners.find((l) => l.address.kind === 'tcp' && (l.address.port === err.port || message.endsWith(`:${l.address.port}`)));
  const at = listener !== undefined ? `${addresses(listener.address)} (the ${listener.protocol} listener)` : message;
  const setting = listener !== undefined ? PORT_SETTINGS.find((p) => p.key === listener.protocol) : undefined;
  const move =
    usingDefault && setting !== undefined
      ? `move it with ${setting.flag} PORT or ${setting.env}=PORT (0 picks a free port)`
      : `change its address in ${manifest.file}`;
  if (err.code === 'EACCES') return `${at}: permission denied (ports below 1024 need privileges); ${move}`;
  return `${at} is in use by another program (another capns serve?): ${move}, or stop that program`;
}

async function serve(opts: ServeOptions): Promise<number> {
  if (!(LOG_LEVELS as readonly string[]).includes(opts.logLevel)) return usage(`--log-level ${opts.logLevel}: expected one of ${LOG_LEVELS.join(', ')}`);
  const format = chooseLogFormat(opts.logFormat, process.env, process.stderr.isTTY);
  if (typeof format === 'object') return usage(format.error);
  const drainMs = Number(opts.drainMs);
  if (!/^\d+$/.test(opts.drainMs)) return usage(`--drain-ms ${opts.drainMs}: expected a whole number of milliseconds`);
  if (opts.manifest !== undefined) {
    const flag = opts.dataDir !== undefined ? '--data-dir' : PORT_SETTINGS.find((p) => opts[p.option] !== undefined)?.flag;
    if (flag !== undefined) return usage(`${flag} applies to the default manifest only; set it in ${opts.manifest}`);
  }
  const manifest = await load(opts);
  if (typeof manifest === 'number') return manifest;
  const [{ checkManifest, formatAddress, formatDiagnostic }, { startCapnsServer }, { NsError }] = await Promise.all([
    import('../../manifest/index.js'),
    import('../../server/capns-server.js'),
    import('../../errors.js'),
  ]);
  const findings = checkManifest(manifest);
  for (const d of findings) process.stderr.write(formatDiagnostic(d) + '\n');
  if (findings.some((d) => d.severity === 'error')) return 1;

  const logger: Logger = await makeLogger(opts.logLevel, format);
  const created = await foldersToCreate(manifest);
  let server: CapnsServer;
  try {
    // Supervised services find their commands on capns's own PATH (and get nothing else
    // of its environment: docs/services.md).
    server = await startCapnsServer({ manifest, logger, drainMs, serviceEnv: { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin' } });
  } catch (e) {
    await removeFolders(created);
    if (!(e instanceof NsError) && (e as NodeJS.ErrnoException).code === undefined) throw e;
    process.stderr.write(`capns serve: not started: ${notStarted(e, manifest, opts.manifest === undefined, formatAddress)}\n`);
    return 1;
  }
  for (const a of server.addresses) process.stdout.write(listeningLine(a));
  for (const c of manifest.capabilities) {
    if (c.type === 'dir') process.stdout.write(`data   ${resolve(c.path)}  (capability ${c.name})\n`);
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
