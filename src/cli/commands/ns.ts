/**
 * `capns ns`: build a namespace with the namespace core and print it as namespace(6)
 * text (what /proc/N/ns shows in Plan 9), or resolve and list paths in it.
 *
 * It works offline, without a server: the capabilities here are stand-ins that carry a
 * label, an interface id and (in the demo) a small fixed file tree, so unions can be
 * listed and searched. Everything else — union order, MCREATE, bind-time evaluation,
 * typed resolve, namespace text and its errors — is the real core (src/namespace).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { NsError } from '../../errors.js';
import {
  FILE_SERVER_INTERFACE_ID,
  MountTable,
  NAMESPACE_INTERFACE_ID,
  formatInterfaceId,
  type Binding,
  type Member,
} from '../../namespace/index.js';
import { runRemote, type RemoteNsOptions } from './ns-remote.js';
import { processIo, wantsServer } from './remote.js';

/** A stand-in capability: a directory path (relative, '' = root) -> the names in it. */
interface DemoCap {
  readonly tree: Readonly<Record<string, readonly string[]>>;
}

/** Interface ids of the demo's leaf services (made up: no schema defines them yet). */
const CLOCK_INTERFACE_ID = 0xc10c000000000001n;
const ECHO_INTERFACE_ID = 0xec40000000000001n;

const INTERFACE_NAMES = new Map<bigint, string>([
  [FILE_SERVER_INTERFACE_ID, 'FileServer'],
  [NAMESPACE_INTERFACE_ID, 'Namespace'],
  [CLOCK_INTERFACE_ID, 'Clock (demo)'],
  [ECHO_INTERFACE_ID, 'Echo (demo)'],
]);

function interfaceName(id: bigint): string {
  return INTERFACE_NAMES.get(id) ?? formatInterfaceId(id);
}

function fileServer(label: string, tree: DemoCap['tree'] = {}): Member<DemoCap> {
  return { cap: { tree }, interfaceId: FILE_SERVER_INTERFACE_ID, label };
}

/** The capabilities of the demo, by label. */
function demoCaps(): Map<string, Member<DemoCap>> {
  const caps: Member<DemoCap>[] = [
    fileServer('ram', { '': ['scratch'] }),
    fileServer('host', { '': ['photos', 'notes.txt'], photos: ['cat.jpg'] }),
    fileServer('rc', { '': ['bin', 'lib'], bin: ['cat', 'termrc', 'cpurc'], lib: ['rcmain'] }),
    fileServer('386', { '': ['bin', 'lib'], bin: ['ls', 'cat', 'rc'] }),
    fileServer('home', {
      '': ['bin', 'lib'],
      bin: ['386', 'rc'],
      'bin/386': ['ls', 'mytool'],
      lib: ['profile'],
    }),
    { cap: { tree: {} }, interfaceId: CLOCK_INTERFACE_ID, label: 'clock' },
    { cap: { tree: {} }, interfaceId: ECHO_INTERFACE_ID, label: 'echo' },
  ];
  return new Map(caps.map((c) => [c.label, c]));
}

/** The demo namespace, written as namespace(6) text (the seeds' /bin is its core). */
const DEMO_TEXT = `# capns demo namespace (namespace(6) syntax)
mount -c ram /tmp
mount host /data
mount rc /rc
mount 386 /386
mount -c home $home
bind -a /rc/bin /bin
bind -a /386/bin /bin
bind -b $home/bin/386 /bin
mount clock /svc/clock
mount echo /svc/echo
`;

interface NsCommandOptions {
  demo?: boolean;
  apply?: string[];
  cap?: string[];
  resolve?: string[];
  list?: string[];
  sub?: string;
  ro?: boolean;
}

/** Registers `capns ns` on `program`. */
export function register(program: Command): void {
  program
    .command('ns')
    .description(
      'build a namespace and print it as namespace(6) text, or resolve and list paths in it',
    )
    .option('--demo', "start from the demo namespace (the seeds' /bin union, /tmp, /data, /svc/*)")
    .option(
      '--apply <file...>',
      "run namespace(6) text from FILE ('-' for stdin): bind, mount, unmount, clear",
    )
    .option(
      '--cap <label=interface...>',
      'a capability that mount lines may name: interface is FileServer, Namespace or a 0x id',
    )
    .option(
      '--resolve <path...>',
      'print what PATH resolves to: its mount point, union members and the rest to walk',
    )
    .option('--list <path...>', 'print the union listing of directory PATH')
    .option(
      '--sub <prefix>',
      'look through a view rooted at PREFIX (it cannot name anything outside)',
    )
    .option('--ro', 'with --sub: a read-only view')
    .addHelpText(
      'after',
      `
Namespace text (namespace(6)), one command per line; '#' starts a comment line:
  bind [-abcC] from to          make what FROM names now visible at TO too
  mount [-abcC] label to [spec] add the capability LABEL at TO (SPEC: a path inside it)
  unmount [label] to            remove LABEL's binding, or every binding, at TO
  clear                         start over from an empty namespace
  -a after, -b before (default: replace), -c create (MCREATE), -C cache (ignored)

With --server, --token or CAPNS_SERVER set (and no --demo), it shows your namespace on
that running capns serve: --apply runs the text there (in your connection's namespace
only, which ends with the command), --resolve and --list ask there.

Otherwise this command works offline, without a server, so its capabilities are stand-ins: a
mount line may name the demo's labels (with --demo), one given by --cap, or any other
label, which then stands for a FileServer. $home is /usr/glenda.

Examples:
  capns ns --demo
  capns ns --demo --resolve /bin/ls --list /bin
  capns ns --apply my.ns --cap clock=0xc10c000000000001
  capns ns --demo --sub /usr/glenda --ro --list /`,
    )
    .option(
      '--server <addr>',
      'print (after --apply, or --resolve/--list in) your namespace on this running capns serve instead (default $CAPNS_SERVER)',
    )
    .option(
      '--token <token>',
      'with a server: the token that selects your profile (default $CAPNS_TOKEN)',
    )
    .option('--json', 'with a server: print JSON')
    .option('--tls', 'with a server: connect with TLS (see capns ls --help for --ca, --cert, --key)')
    .option('--ca <file>', 'with a server: trust this CA certificate (PEM)')
    .option('--cert <file>', 'with a server: client certificate (PEM)')
    .option('--key <file>', "with a server: the client certificate's key (PEM)")
    .action(async (opts: NsCommandOptions & RemoteNsOptions) => {
      // With a server (--server, --token or CAPNS_SERVER), and not the offline demo.
      if (opts.demo !== true && (wantsServer(opts, process.env) || opts.tls === true || opts.ca !== undefined)) {
        process.exitCode = await runRemote(opts, processIo());
        return;
      }
      process.exitCode = run(
        opts,
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    });
}

function parseCap(spec: string): Member<DemoCap> {
  const eq = spec.indexOf('=');
  const label = eq < 0 ? spec : spec.slice(0, eq);
  const iface = eq < 0 ? 'FileServer' : spec.slice(eq + 1);
  let interfaceId: bigint;
  if (iface === 'FileServer') interfaceId = FILE_SERVER_INTERFACE_ID;
  else if (iface === 'Namespace') interfaceId = NAMESPACE_INTERFACE_ID;
  else if (/^0x[0-9a-fA-F]{1,16}$/.test(iface)) interfaceId = BigInt(iface);
  else
    throw new NsError(
      'NS_ERR_INVALID_ARGUMENT',
      `--cap ${spec}: interface must be FileServer, Namespace or a hex id like 0x1234`,
    );
  return { cap: { tree: {} }, interfaceId, label };
}

/** `capns ns` itself: returns the exit status (0 ok, 1 bad input). */
export function run(
  opts: NsCommandOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  let source = '';
  try {
    const caps = opts.demo === true ? demoCaps() : new Map<string, Member<DemoCap>>();
    for (const c of opts.cap ?? []) {
      const m = parseCap(c);
      caps.set(m.label, m);
    }
    const resolve = (label: string): Member<DemoCap> => {
      let m = caps.get(label);
      if (m === undefined) {
        m = fileServer(label);
        caps.set(label, m);
      }
      return m;
    };
    const vars = { home: '/usr/glenda' };
    let t = new MountTable<DemoCap>();
    if (opts.demo === true) {
      source = 'demo';
      t.apply(DEMO_TEXT, { resolve, vars });
      t.declare('/svc/clock', CLOCK_INTERFACE_ID);
    }
    for (const file of opts.apply ?? []) {
      source = file === '-' ? '<stdin>' : file;
      const text = readFileSync(file === '-' ? 0 : file, 'utf8');
      t.apply(text, { resolve, vars });
    }
    source = '';
    if (opts.sub !== undefined) t = t.sub(opts.sub, opts.ro === true);
    else if (opts.ro === true)
      throw new NsError('NS_ERR_INVALID_ARGUMENT', '--ro needs --sub PREFIX');

    const queries = (opts.resolve?.length ?? 0) + (opts.list?.length ?? 0);
    if (queries === 0) {
      const text = t.describe();
      out(text === '' ? '# (empty namespace)\n' : text);
      return 0;
    }
    for (const p of opts.resolve ?? []) out(showResolve(t, p));
    for (const p of opts.list ?? []) out(showList(t, p));
    return 0;
  } catch (e) {
    if (!(e instanceof NsError)) {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('E')) {
        err(`capns ns: ${source}: ${(e as Error).message}\n`);
        return 1;
      }
      throw e;
    }
    // Namespace-text errors read "line L, column C: ..."; print them as compilers do.
    const at = /^line (\d+), column (\d+): /.exec(e.message);
    if (at && source !== '')
      err(`capns ns: ${source}:${at[1]}:${at[2]}: ${e.message.slice(at[0].length)} (${e.code})\n`);
    else err(`capns ns: ${e.message} (${e.code})\n`);
    return 1;
  }
}

function showBinding(b: Binding<DemoCap>): string {
  const flags = b.create ? ' create' : '';
  return `${b.member.label} [${interfaceName(b.member.interfaceId)}]${b.spec === '' ? '' : ` at ${b.spec}`}${flags}`;
}

/** Whether the stand-in capability has `path` (a directory, or a name in one). */
function has(b: Binding<DemoCap>, path: string): boolean {
  const tree = b.member.cap.tree;
  if (path === '' || tree[path] !== undefined) return true;
  const i = path.lastIndexOf('/');
  return tree[i < 0 ? '' : path.slice(0, i)]?.includes(path.slice(i + 1)) ?? false;
}

const join = (a: string, b: string): string => (a === '' ? b : b === '' ? a : `${a}/${b}`);

function showResolve(t: MountTable<DemoCap>, path: string): string {
  const r = t.resolve(path);
  const lines = [
    `${r.path}`,
    `  mount point ${r.mountPoint}${r.rest === '' ? '' : `, rest ${r.rest}`}`,
  ];
  r.bindings.forEach((b, i) => lines.push(`  ${i + 1}. ${showBinding(b)}`));
  if (r.rest !== '') {
    // Plan 9: the first member that has the first name of the rest takes the whole rest.
    const first = r.rest.split('/')[0] as string;
    const holder = r.bindings.find((b) => has(b, join(b.spec, first)));
    const found = holder && has(holder, join(holder.spec, r.rest));
    lines.push(
      found
        ? `  found in ${holder.member.label} as ${join(holder.spec, r.rest)}`
        : `  not found in any member`,
    );
  }
  return lines.join('\n') + '\n';
}

function showList(t: MountTable<DemoCap>, path: string): string {
  const l = t.list(path);
  const from = new Map<string, string>();
  const entries = t.listUnion(path, (b, dir) => {
    const names = b.member.cap.tree[dir];
    if (names === undefined) return undefined;
    return names.map((name) => {
      if (!from.has(name)) from.set(name, b.member.label);
      return { name };
    });
  });
  const lines = [`${l.path}:`];
  for (const e of entries) {
    const child = l.children.find((c) => c.name === e.name);
    if (child) {
      const what = child.binding
        ? `mount point: ${showBinding(child.binding)}`
        : 'directory of mount points';
      lines.push(`  ${e.name}${child.kind === 'directory' ? '/' : ''}\t${what}`);
    } else {
      lines.push(`  ${e.name}\tfrom ${from.get(e.name) ?? '?'}`);
    }
  }
  return lines.join('\n') + '\n';
}
