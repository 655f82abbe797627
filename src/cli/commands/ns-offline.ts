/**
 * `capns ns --offline`: build a namespace with the namespace core, without a server, and
 * print it as namespace(6) text (what /proc/N/ns shows in Plan 9), or resolve and list
 * paths in it. Loaded by ns.ts when the command runs offline.
 *
 * The capabilities here are stand-ins that carry a label, an interface id and (in the
 * demo) a small fixed file tree, so unions can be listed and searched. Everything else —
 * union order, MCREATE, bind-time evaluation, typed resolve, namespace text and its
 * errors — is the real core (src/namespace).
 */
import { readFileSync } from 'node:fs';
import { NsError } from '../../errors.js';
import {
  FILE_SERVER_INTERFACE_ID,
  MountTable,
  NAMESPACE_INTERFACE_ID,
  formatInterfaceId,
  type Binding,
  type Member,
} from '../../namespace/index.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './remote.js';

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

/** The options of the offline tool. */
export interface NsCommandOptions {
  demo?: boolean;
  apply?: string[];
  cap?: string[];
  resolve?: string[];
  list?: string[];
  sub?: string;
  ro?: boolean;
  /** Print one line of JSON (`{namespace}`), errors as one JSON line on stderr. */
  json?: boolean;
}

function parseCap(spec: string): Member<DemoCap> {
  const eq = spec.indexOf('=');
  const label = eq < 0 ? spec : spec.slice(0, eq);
  const iface = eq < 0 ? 'FileServer' : spec.slice(eq + 1);
  let interfaceId: bigint;
  if (iface === 'FileServer') interfaceId = FILE_SERVER_INTERFACE_ID;
  else if (iface === 'Namespace') interfaceId = NAMESPACE_INTERFACE_ID;
  else if (/^0x[0-9a-fA-F]{1,16}$/.test(iface)) interfaceId = BigInt(iface);
  else throw new UsageError(`--cap ${spec}: interface must be FileServer, Namespace or a hex id like 0x1234`);
  return { cap: { tree: {} }, interfaceId, label };
}

/**
 * `capns ns --offline` itself: returns the exit status (0 ok, 1 namespace text or a path
 * that fails, 2 usage: a bad --cap, --ro without --sub, --json with --resolve or --list,
 * a file that cannot be read).
 */
export function run(opts: NsCommandOptions, out: (s: string) => void, err: (s: string) => void): number {
  let source = '';
  const fail = (message: string, code: string, status: number): number => {
    if (opts.json === true) err(JSON.stringify({ error: { command: 'ns', code, message, status } }) + '\n');
    else err(`capns ns: ${message}${code.startsWith('NS_ERR_') ? ` (${code})` : ''}\n`);
    return status;
  };
  try {
    const caps = opts.demo === true ? demoCaps() : new Map<string, Member<DemoCap>>();
    for (const c of opts.cap ?? []) {
      const m = parseCap(c);
      caps.set(m.label, m);
    }
    if (opts.ro === true && opts.sub === undefined) throw new UsageError('--ro needs --sub PREFIX');
    const queries = (opts.resolve?.length ?? 0) + (opts.list?.length ?? 0);
    if (opts.json === true && queries > 0) throw new UsageError('offline, --resolve and --list print text only: drop --json (or ask a server)');
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
      let text: string;
      try {
        text = readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read '${file}': ${(e as Error).message}`);
      }
      t.apply(text, { resolve, vars });
    }
    source = '';
    if (opts.sub !== undefined) t = t.sub(opts.sub, opts.ro === true);

    if (queries === 0) {
      const text = t.describe();
      if (opts.json === true) out(JSON.stringify({ namespace: text }) + '\n');
      else out(text === '' ? '# (empty namespace)\n' : text);
      return EXIT_OK;
    }
    for (const p of opts.resolve ?? []) out(showResolve(t, p));
    for (const p of opts.list ?? []) out(showList(t, p));
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) return fail(e.message, 'CLI_USAGE', EXIT_USAGE);
    if (!(e instanceof NsError)) throw e;
    // Namespace-text errors read "line L, column C: ..."; print them as compilers do.
    const at = /^line (\d+), column (\d+): /.exec(e.message);
    if (at && source !== '') return fail(`${source}:${at[1]}:${at[2]}: ${e.message.slice(at[0].length)}`, e.code, EXIT_FAILURE);
    return fail(e.message, e.code, EXIT_FAILURE);
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
