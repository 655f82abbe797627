/**
 * `capns import ADDR [REMOTE_PATH] LOCAL_PATH [-a|-b] [-c] --listen ADDR2 [--token T]
 * [--manifest FILE] [--profile NAME]`: import(4). Namespaces live in a capns process, so
 * the command runs one: the profile's namespace (an empty one without --manifest) with
 * the export at ADDR (its REMOTE_PATH, default '/') mounted at LOCAL_PATH in union
 * position (-b before, -a after, default replace; -c for creates), served to clients on
 * --listen (loopback: no token needed). The import survives the exporter's restarts:
 * calls fail `disconnected` meanwhile and it reconnects by itself.
 *
 * Prints `rpc ADDRESS` when listening; exits on SIGINT/SIGTERM.
 */
import type { Command } from 'commander';
import { parseAddress } from '../../manifest/address.js';
import type { ImportCapability, Manifest, MountStep, Profile } from '../../manifest/types.js';
import { bindOptions, unionFlags, type UnionFlags } from './bind.js';
import { CLI_LOC, loadManifest, pickProfile, runUntilSignal } from './export.js';

interface ImportOpts extends UnionFlags {
  listen: string;
  token?: string;
  manifest?: string;
  profile?: string;
  heartbeatMs: string;
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
  const heartbeatMs = Number(o.heartbeatMs);
  if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
    process.stderr.write('capns import: --heartbeat-ms must be a positive whole number\n');
    return 1;
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
  const cap: ImportCapability = {
    name: 'import',
    type: 'import',
    address,
    path: remote,
    ...(o.token !== undefined && { token: o.token }),
    ...(process.env['CAPNS_IMPORT_TOKEN'] !== undefined &&
      o.token === undefined && { token: process.env['CAPNS_IMPORT_TOKEN'] }),
    interface: { name: 'Namespace' },
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
    { heartbeatMs },
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
        'how often the export is checked alive (a dead one fails calls within 2x this)',
        '250',
      ),
  )
    .addHelpText('after', '\nPrints "rpc ADDRESS" when listening. Details: docs/proxy.md.')
    .action(async (args: string[], o: ImportOpts) => {
      process.exitCode = await importCmd(args, o);
    });
}
