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
import { parseAddress } from '../../manifest/address.js';
import { nameSchema } from '../../manifest/schema.js';
import type { ImportCapability, Manifest, MountStep, Profile } from '../../manifest/types.js';
import { bindOptions, unionFlags, type UnionFlags } from './bind.js';
import { CLI_LOC, loadManifest, pickProfile, runUntilSignal } from './export.js';

interface ImportOpts extends UnionFlags {
  listen: string;
  token?: string;
  manifest?: string;
  profile?: string;
  heartbeatMs: string;
  timeoutMs: string;
  callTimeoutMs?: string;
  retryRefusedMs?: string;
}

/** A whole number of milliseconds above 0 from `--flag`, or the message saying what is wrong. */
function millis(flag: string, v: string | undefined): number | undefined | string {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : `${flag} ${v}: expected a positive whole number of milliseconds`;
}

async function importCmd(args: string[], o: ImportOpts): Promise<number> {
  if (args.length < 2 || args.length > 3) {
    process.stderr.write('capns import: want ADDR [REMOTE_PATH] LOCAL_PATH\n');
    return 1;
  }
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
    process.stderr.write(`capns import: ${(e as Error).message}\n`);
    return 1;
  }
  const heartbeatMs = millis('--heartbeat-ms', o.heartbeatMs);
  const timeoutMs = millis('--timeout-ms', o.timeoutMs);
  const callTimeoutMs = millis('--call-timeout-ms', o.callTimeoutMs);
  const retryRefusedMs = millis('--retry-refused-ms', o.retryRefusedMs);
  for (const v of [heartbeatMs, timeoutMs, callTimeoutMs, retryRefusedMs]) {
    if (typeof v === 'string') {
      process.stderr.write(`capns import: ${v}\n`);
      return 1;
    }
  }
  let m: Manifest;
  let profile: Profile;
  if (o.manifest !== undefined) {
    const loaded = await loadManifest('import', o.manifest);
    if (typeof loaded === 'number') return loaded;
    const p = pickProfile(loaded, o.profile);
    if (typeof p === 'string') {
      process.stderr.write(`capns import: ${p}\n`);
      return 1;
    }
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
      ),
  )
    .addHelpText(
      'after',
      '\nPrints "rpc ADDRESS" when listening, then logs the import\'s state changes on stderr\n' +
        '(connected, reconnected, down and why). Starts even when the export is down: calls\n' +
        'through the import fail `disconnected`, naming it, until it is up. `capns ls` and\n' +
        '`capns stat` show its state. Exit status: 0 on SIGINT/SIGTERM; 1 bad arguments, or\n' +
        'the export refused the token. Details: docs/proxy.md.',
    )
    .action(async (args: string[], o: ImportOpts) => {
      process.exitCode = await importCmd(args, o);
    });
}
