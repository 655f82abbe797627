/**
 * What `capns export` and `capns import` run (export.ts and import.ts define the
 * commands and load this when one runs): a capns process built from a manifest profile,
 * serving an export or an import until a signal.
 */
import { readFile } from 'node:fs/promises';
import { NsError } from '../../errors.js';
import { defaultManifest, ManifestError, parseManifest, type Manifest } from '../../manifest/index.js';
import { parseAddress } from '../../manifest/address.js';
import { nameSchema } from '../../manifest/schema.js';
import type { Export, ImportCapability, Loc, MountStep, Profile } from '../../manifest/types.js';
import { parseExportFilter, type ExportFilter } from '../../proxy/export-policy.js';
import type { ImportEvent, ImportStatus } from '../../proxy/importer.js';
import { startCapnsServer, type CapnsServer } from '../../server/capns-server.js';
import { chooseLogFormat, makeLogger } from '../log.js';
import { bindOptions, type UnionFlags } from './bind.js';
import { listeningLine } from './listening.js';

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
    process.stderr.write(`capns ${cmd}: cannot read '${file}': ${(e as Error).message}\n`);
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
  /** --log-format (else CAPNS_LOG_FORMAT, else pretty on a terminal). */
  logFormat?: string;
  /**
   * Sees every import event; an exit status returned stops the process with it (after
   * draining), e.g. `capns import` when the export refuses the token.
   */
  watchImports?: (name: string, event: ImportEvent, status: ImportStatus) => number | undefined;
}

/** Runs `manifest` until SIGINT/SIGTERM, printing its addresses. Returns the exit status. */
export async function runUntilSignal(cmd: string, manifest: Manifest, options: RunOptions): Promise<number> {
  const format = chooseLogFormat(options.logFormat, process.env, process.stderr.isTTY);
  if (typeof format === 'object') {
    process.stderr.write(`capns ${cmd}: ${format.error}\n`);
    return 2;
  }
  const logger = await makeLogger(process.env['CAPNS_LOG_LEVEL'] ?? options.logLevel ?? 'warn', format);
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
  for (const a of running.addresses) process.stdout.write(listeningLine(a));
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

/** The options of `capns export`. */
export interface ExportOpts {
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
  logFormat?: string;
}

/** The options of `capns import`. */
export interface ImportOpts extends UnionFlags {
  listen: string;
  token?: string;
  manifest?: string;
  profile?: string;
  heartbeatMs: string;
  timeoutMs: string;
  callTimeoutMs?: string;
  retryRefusedMs?: string;
  logFormat?: string;
}

/** Prints a usage error of `capns CMD`; returns its status, 2. */
function usage(cmd: string, message: string): number {
  process.stderr.write(`capns ${cmd}: ${message}\n`);
  return 2;
}

/** `capns export`: returns the exit status. */
export async function exportCmd(o: ExportOpts): Promise<number> {
  const m = await loadManifest('export', o.manifest);
  if (typeof m === 'number') return m;
  const profile = pickProfile(m, o.profile);
  if (typeof profile === 'string') return usage('export', profile);
  let listen;
  try {
    listen = parseAddress(o.listen);
  } catch (e) {
    return usage('export', `--listen: ${(e as Error).message}`);
  }
  const tokens = [
    ...o.token,
    ...(process.env['CAPNS_EXPORT_TOKEN'] !== undefined ? [process.env['CAPNS_EXPORT_TOKEN']] : []),
  ];
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) return usage('export', '--tls-cert and --tls-key go together');
  const mutual = o.tlsCa !== undefined;
  if (tokens.length === 0 && !mutual) return usage('export', 'give --token (or CAPNS_EXPORT_TOKEN), or --tls-ca for client certificates');
  const filters = new Map<number, ExportFilter>();
  if (o.filter !== undefined) {
    let text: string;
    try {
      text = await readFile(o.filter, 'utf8');
    } catch (e) {
      return usage('export', `cannot read '${o.filter}': ${(e as Error).message}`);
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
    { exportFilters: filters, ...(o.logFormat !== undefined && { logFormat: o.logFormat }) },
  );
}

/** A whole number of milliseconds above 0 from `--flag`, or the message saying what is wrong. */
function millis(flag: string, v: string | undefined): number | undefined | string {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : `${flag} ${v}: expected a positive whole number of milliseconds`;
}

/** `capns import`: returns the exit status. */
export async function importCmd(args: string[], o: ImportOpts): Promise<number> {
  if (args.length < 2 || args.length > 3) return usage('import', `want ADDR [REMOTE_PATH] LOCAL_PATH, got ${args.length} argument${args.length === 1 ? '' : 's'}; see 'capns import --help'`);
  const [addr, remote, local] =
    args.length === 3 ? (args as [string, string, string]) : [args[0]!, '/', args[1]!];
  let union;
  let address;
  let listen;
  try {
    union = bindOptions(o);
    address = parseAddress(addr);
    listen = parseAddress(o.listen);
  } catch (e) {
    return usage('import', (e as Error).message);
  }
  const heartbeatMs = millis('--heartbeat-ms', o.heartbeatMs);
  const timeoutMs = millis('--timeout-ms', o.timeoutMs);
  const callTimeoutMs = millis('--call-timeout-ms', o.callTimeoutMs);
  const retryRefusedMs = millis('--retry-refused-ms', o.retryRefusedMs);
  for (const v of [heartbeatMs, timeoutMs, callTimeoutMs, retryRefusedMs]) {
    if (typeof v === 'string') return usage('import', v);
  }
  let m: Manifest;
  let profile: Profile;
  if (o.manifest !== undefined) {
    const loaded = await loadManifest('import', o.manifest);
    if (typeof loaded === 'number') return loaded;
    const p = pickProfile(loaded, o.profile);
    if (typeof p === 'string') return usage('import', p);
    m = loaded;
    profile = p;
  } else {
    profile = {
      name: 'import',
      auth: { tokens: [], tlsSubjects: [], loopback: true, loc: CLI_LOC },
      namespace: [],
      loc: CLI_LOC,
    };
    m = {
      version: 1,
      file: CLI_LOC.file,
      capabilities: [],
      profiles: [profile],
      listeners: [],
      exports: [],
      limits: { rpc: {}, '9p': {} },
    };
  }
  // Named after where it is mounted (/n/far -> far), as a manifest would name it: the
  // name its messages, logs and status use, and its label in the namespace.
  const base = local.split('/').filter((c) => c !== '').pop() ?? '';
  const name = nameSchema.safeParse(base).success && !m.capabilities.some((c) => c.name === base) ? base : 'import';
  const cap: ImportCapability = {
    name,
    type: 'import',
    address,
    path: remote,
    ...(o.token !== undefined && { token: o.token }),
    ...(process.env['CAPNS_IMPORT_TOKEN'] !== undefined &&
      o.token === undefined && { token: process.env['CAPNS_IMPORT_TOKEN'] }),
    interface: { name: 'Namespace' },
    ...(typeof timeoutMs === 'number' && { connectTimeoutMs: timeoutMs, authTimeoutMs: timeoutMs, resolveTimeoutMs: timeoutMs }),
    ...(typeof callTimeoutMs === 'number' && { callTimeoutMs }),
    ...(typeof retryRefusedMs === 'number' && { retryRefusedMs }),
    loc: CLI_LOC,
  };
  const step: MountStep = {
    op: 'mount',
    capability: cap.name,
    at: local,
    position: union.position ?? 'replace',
    create: union.create === true,
    spec: '',
    loc: CLI_LOC,
  };
  const withImport: Profile = { ...profile, namespace: [...profile.namespace, step] };
  return runUntilSignal(
    'import',
    {
      ...m,
      capabilities: [...m.capabilities.filter((c) => c.name !== cap.name), cap],
      profiles: m.profiles.map((p) => (p.name === profile.name ? withImport : p)),
      listeners: [{ protocol: 'rpc', address: listen, profile: profile.name, loc: CLI_LOC }],
      exports: [],
    },
    {
      ...(typeof heartbeatMs === 'number' && { heartbeatMs }),
      // The import's events are what this command is about: connected, reconnected, down.
      logLevel: 'info',
      ...(o.logFormat !== undefined && { logFormat: o.logFormat }),
      watchImports: (n, event, status) => {
        if (n !== cap.name || event !== 'refused' || status.nextAttemptAt > 0) return undefined;
        // A refused credential is a refusal, not an outage: say so and stop, unless told
        // to keep trying (--retry-refused-ms).
        process.stderr.write(`capns import: ${status.address} refused the credentials: ${status.lastError} (give the right --token, or --retry-refused-ms to keep trying)\n`);
        return 1;
      },
    },
  );
}

