/**
 * Manifest text -> Manifest. Pure: the caller reads the file and passes the environment.
 *
 * One pass collects every problem before giving up, so a user fixes a manifest in one
 * round: YAML syntax and duplicate keys (yaml), `${VAR}`s that are not set, the shape
 * (zod, schema.ts), then cross-references and `ns:` text (here, on the raw document, so
 * that they are found even when zod also complained). Each problem is placed with the
 * yaml library's node ranges: file:line:column plus the field path.
 */
import { dirname, isAbsolute, join, normalize as normalizeHostPath } from 'node:path';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
} from 'yaml';
import type { z } from 'zod';
import { completeInterfaceRef, isInterfaceName, KNOWN_INTERFACES, parseInterfaceRef, type InterfaceRef } from './interfaces.js';
import { ManifestError, type Diagnostic, type DiagnosticCode } from './manifest-error.js';
import { parseNsLines, type NsProblem, type NsWord } from './ns-lines.js';
import { checkNamespacePath, checkSpec } from './paths.js';
import {
  describeValue,
  manifestSchema,
  nameSchema,
  type IssueParams,
  type RawAuth,
  type RawManifest,
  type RawStep,
} from './schema.js';
import { suggest } from './suggest.js';
import type {
  Auth,
  Capability,
  ClientTls,
  Export,
  Limits,
  Listener,
  Loc,
  Manifest,
  Profile,
  ServerTls,
  Step,
} from './types.js';

/** Options of `parseManifest`. */
export interface ParseOptions {
  /** The file name used in messages and `loc`s (default "manifest"). */
  readonly file?: string;
  /** Values for `${NAME}` references. Pass `process.env` from the CLI; default none. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Folder that relative host paths are relative to (default: the folder of `file`). */
  readonly baseDir?: string;
}

type Seg = string | number;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A field path as people write it: `profiles.alice.namespace[1].at`, `limits["9p"]`. */
export function formatPath(path: readonly Seg[]): string {
  let out = '';
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (PLAIN_KEY.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Source positions of one parsed document. */
class Source {
  constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: Document.Parsed,
    readonly lines: LineCounter,
  ) {}

  /**
   * The node at `path`, or the deepest node on the way there; `key` asks for the key of
   * the last map entry instead of its value.
   */
  node(path: readonly Seg[], key = false): { node: Node | undefined; found: boolean } {
    let node: unknown = this.doc.contents;
    for (let i = 0; i < path.length; i++) {
      if (isAlias(node)) node = node.resolve(this.doc);
      const seg = path[i];
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find(
          (p) =>
            isPair(p) && (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg),
        );
        if (pair === undefined) return { node: node, found: false };
        if ((key && i === path.length - 1) || pair.value === null)
          return { node: pair.key as Node, found: i === path.length - 1 };
        next = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
        if (next === undefined) return { node: node, found: false };
      } else {
        return { node: node as Node | undefined, found: false };
      }
      node = next;
    }
    return { node: node as Node | undefined, found: true };
  }

  at(offset: number, path: readonly Seg[]): Loc {
    const p = this.lines.linePos(offset);
    return { file: this.file, line: p.line, column: p.col, path: formatPath(path) };
  }

  /** Where `path` was written (its key when `key`). */
  loc(path: readonly Seg[], key = false): Loc {
    const n = this.node(path, key).node;
    return this.at(n?.range?.[0] ?? 0, path);
  }

  /**
   * The source offset of character (`line`, `column`), both 1-based, of the string value
   * at `path`. Exact for literal block scalars (`|`) and one-line scalars; otherwise the
   * scalar's start.
   */
  offsetInString(path: readonly Seg[], line: number, column: number): number {
    const { node, found } = this.node(path);
    const start = node?.range?.[0] ?? 0;
    if (!found || !isScalar(node) || node.range === undefined || node.range === null) return start;
    const src = this.text.slice(node.range[0], node.range[1]);
    const type = node.type;
    if (type === 'BLOCK_LITERAL') {
      const header = src.indexOf('\n');
      if (header < 0) return start;
      const body = src.slice(header + 1).split('\n');
      const indent = Math.min(
        ...body.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length),
      );
      let off = start + header + 1;
      for (let i = 0; i < line - 1 && i < body.length; i++) off += (body[i] as string).length + 1;
      return off + (Number.isFinite(indent) ? indent : 0) + column - 1;
    }
    if (line === 1 && !src.includes('\n')) {
      const quoted = type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE';
      return start + (quoted ? 1 : 0) + column - 1;
    }
    return start;
  }
}

/** Collects diagnostics; all are errors here. */
class Problems {
  readonly list: Diagnostic[] = [];
  constructor(
    private readonly src: Source | undefined,
    private readonly file: string,
  ) {}

  add(code: DiagnosticCode, loc: Loc, message: string): void {
    this.list.push({
      severity: 'error',
      code,
      file: loc.file,
      line: loc.line,
      column: loc.column,
      path: loc.path,
      message,
    });
  }

  at(code: DiagnosticCode, path: readonly Seg[], message: string, key = false): void {
    const loc = this.src?.loc(path, key) ?? {
      file: this.file,
      line: 1,
      column: 1,
      path: formatPath(path),
    };
    this.add(code, loc, message);
  }
}

// ---- ${VAR} ------------------------------------------------------------------------

const VAR_REF = /\$(\$|\{([^}]*)\}?)/g;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Expands `${NAME}` (and `$$` to `$`) in every string value (not keys) of `value`. */
function expandEnv(
  value: unknown,
  path: Seg[],
  env: Readonly<Record<string, string | undefined>>,
  src: Source,
  problems: Problems,
  failed: Set<string>,
  used: Map<string, [name: string, value: string][]>,
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('$')) return value;
    return value.replace(
      VAR_REF,
      (whole: string, what: string, name: string | undefined, index: number) => {
        if (what === '$') return '$';
        const before = value.slice(0, index);
        const line = before.split('\n').length;
        const column = index - before.lastIndexOf('\n');
        const loc = src.at(src.offsetInString(path, line, column), path);
        if (!whole.endsWith('}')) {
          failed.add(formatPath(path));
          problems.add('invalid-value', loc, 'unterminated "${" (write "$$" for a literal "$")');
        } else if (name === undefined || !VAR_NAME.test(name)) {
          failed.add(formatPath(path));
          problems.add(
            'invalid-value',
            loc,
            `bad variable name in "${whole}" (expected \${NAME}, NAME made of letters, digits and _)`,
          );
        } else {
          const v = Object.hasOwn(env, name) ? env[name] : undefined;
          if (v !== undefined) {
            const key = formatPath(path);
            used.set(key, [...(used.get(key) ?? []), [name, v]]);
            return v;
          }
          failed.add(formatPath(path));
          problems.add('env-unset', loc, `environment variable ${name} is not set`);
        }
        return '';
      },
    );
  }
  if (Array.isArray(value))
    return value.map((v, i) => expandEnv(v, [...path, i], env, src, problems, failed, used));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // zod passes over a key named __proto__ in silence: refuse it here. defineProperty
      // keeps it a key like any other meanwhile, not a prototype.
      if (k === '__proto__')
        problems.at('invalid-value', [...path, k], 'the name __proto__ is reserved', true);
      Object.defineProperty(out, k, {
        value: expandEnv(v, [...path, k], env, src, problems, failed, used),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

// ---- zod issues --------------------------------------------------------------------

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const s of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[s];
  }
  return v;
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a map',
  record: 'a map',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

function addZodIssue(issue: z.core.$ZodIssue, raw: unknown, problems: Problems): void {
  const path = issue.path.filter((s): s is Seg => typeof s === 'string' || typeof s === 'number');
  const input = valueAt(raw, path);
  const params = (issue as { params?: Partial<IssueParams> }).params;
  // A token written in the wrong shape is still a secret: name its type, not its value.
  const secret = path.some((s) => s === 'token' || s === 'tokens');
  const shown = (v: unknown): string =>
    secret && v !== null && typeof v !== 'object' ? `a ${typeof v}` : describeValue(v);
  if (input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) {
    const field = path[path.length - 1];
    const what = typeof field === 'string' ? `missing required field "${field}"` : 'missing value';
    problems.at('missing-field', path, what);
    return;
  }
  switch (issue.code) {
    case 'unrecognized_keys': {
      const lines = issue.message.split('\n');
      issue.keys.forEach((k, i) =>
        problems.at('unknown-field', [...path, k], lines[i] ?? `unknown field "${k}"`, true),
      );
      return;
    }
    case 'invalid_type': {
      problems.at(
        'invalid-value',
        path,
        `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${shown(input)}`,
      );
      return;
    }
    case 'invalid_value': {
      if (issue.message.startsWith('expected')) {
        problems.at('invalid-value', path, issue.message);
        return;
      }
      const values = issue.values.map((v) => String(v));
      const near = typeof input === 'string' ? suggest(input, values) : undefined;
      const list = values.length === 1 ? `${values[0]}` : `one of ${values.join(', ')}`;
      problems.at(
        'invalid-value',
        path,
        `expected ${list}${near === undefined ? '' : ` (did you mean "${near}"?)`}, got ${shown(input)}`,
      );
      return;
    }
    case 'invalid_key': {
      const inner = issue.issues[0]?.message ?? 'invalid name';
      problems.at(
        'invalid-value',
        path,
        `bad name "${String(path[path.length - 1])}": ${inner}`,
        true,
      );
      return;
    }
    case 'custom':
      problems.at(params?.diag ?? 'invalid-value', path, issue.message);
      return;
    default:
      problems.at('invalid-value', path, issue.message);
  }
}

// ---- cross-references and ns text --------------------------------------------------

function keysOf(v: unknown): string[] {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.keys(v) : [];
}

function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function field(v: unknown, k: string): unknown {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)[k]
    : undefined;
}

function unknownName(
  kind: 'capability' | 'profile',
  name: string,
  known: readonly string[],
): string {
  const near = suggest(name, known);
  const hint =
    near !== undefined
      ? ` (did you mean "${near}"?)`
      : known.length === 0
        ? ` (no ${kind === 'capability' ? 'capabilities' : 'profiles'} are defined)`
        : '';
  return `unknown ${kind} "${name}"${hint}`;
}

/** The fields of a raw capability that name an interface: [field path below it, value]. */
function interfaceFields(c: unknown): Array<[Seg[], unknown]> {
  const out: Array<[Seg[], unknown]> = [];
  const iface = field(c, 'interface');
  if (iface !== undefined) out.push([['interface'], iface]);
  for (const k of ['offers', 'names']) {
    const m = field(c, k);
    for (const n of keysOf(m)) out.push([[k, n], field(m, n)]);
  }
  return out;
}

/**
 * What is wrong with a mount of `ref` (`NAME`, or `NAME/PART` for a service's offer or
 * a board's name), on the raw document; undefined when nothing is.
 */
function mountProblem(ref: string, raw: unknown, caps: readonly string[]): string | undefined {
  const [base, part, extra] = ref.split('/') as [string, string | undefined, string | undefined];
  if (extra !== undefined || !nameSchema.safeParse(base).success || (part !== undefined && !nameSchema.safeParse(part).success)) return undefined; // zod says it
  if (!caps.includes(base)) return unknownName('capability', base, caps);
  const c = field(field(raw, 'capabilities'), base);
  const type = field(c, 'type');
  const parts = type === 'service' ? keysOf(field(c, 'offers')) : type === 'srv' ? keysOf(field(c, 'names')) : [];
  const what = type === 'service' ? 'offer' : 'name';
  if (part === undefined) {
    if (type === 'service' && parts.length !== 1)
      return `service ${base} offers ${parts.length === 0 ? 'nothing' : parts.join(', ')}: mount one of ${parts.map((x) => `${base}/${x}`).join(', ') || 'them'}`;
    return undefined;
  }
  if (type !== 'service' && type !== 'srv') return `${base} is a ${typeof type === 'string' ? type : 'capability'}, which has no parts: mount ${base}`;
  if (!parts.includes(part)) {
    const near = suggest(part, parts);
    return `${type} ${base} has no ${what} "${part}"${near === undefined ? '' : ` (did you mean "${near}"?)`}${parts.length === 0 ? '' : `; its ${what}s: ${parts.join(', ')}`}`;
  }
  return undefined;
}

/**
 * References on the raw document (tolerant of anything zod already refused), and the
 * parsed `ns:` lines, kept for normalization.
 */
function checkReferences(
  raw: unknown,
  src: Source,
  problems: Problems,
): Map<string, ReturnType<typeof parseNsLines>> {
  const caps = keysOf(field(raw, 'capabilities'));
  const profiles = keysOf(field(raw, 'profiles'));
  const nsLines = new Map<string, ReturnType<typeof parseNsLines>>();
  const isName = (v: unknown): v is string => nameSchema.safeParse(v).success;
  const rawProfiles = field(raw, 'profiles');
  for (const p of profiles) {
    listOf(field(field(rawProfiles, p), 'namespace')).forEach((st, i) => {
      const path: Seg[] = ['profiles', p, 'namespace', i];
      const mount = field(st, 'mount');
      if (typeof mount === 'string') {
        const bad = mountProblem(mount, raw, caps);
        if (bad !== undefined) problems.at('unknown-capability', [...path, 'mount'], bad);
      }
      const text = field(st, 'ns');
      if (typeof text !== 'string') return;
      const nsPath = [...path, 'ns'];
      const place = (line: number, column: number) =>
        src.at(src.offsetInString(nsPath, line, column), nsPath);
      const errs: NsProblem[] = [];
      const lines = parseNsLines(text, errs);
      for (const e of errs) problems.add('bad-ns', place(e.line, e.column), e.message);
      const checkWord = (w: NsWord | undefined, check: typeof checkNamespacePath) => {
        if (w === undefined) return;
        const r = check(w.text);
        if (!r.ok) problems.add('bad-path', place(w.line, w.column), r.message);
      };
      for (const l of lines) {
        if (l.op === 'mount') {
          const bad = mountProblem(l.capability.text, raw, caps);
          if (bad !== undefined) problems.add('unknown-capability', place(l.capability.line, l.capability.column), bad);
          checkWord(l.spec, checkSpec);
        }
        if (l.op === 'bind') checkWord(l.from, checkNamespacePath);
        checkWord(l.to, checkNamespacePath);
      }
      nsLines.set(formatPath(nsPath), lines);
    });
  }
  // Interfaces of the user's own: only with schemas to find them in.
  if (listOf(field(raw, 'schemas')).length === 0) {
    const userName = (v: unknown): v is string => typeof v === 'string' && typeof parseInterfaceRef(v) === 'string' && isInterfaceName(v);
    const known = KNOWN_INTERFACES.map((k) => k.name);
    const refuse = (v: string, path: Seg[]): void => {
      const near = suggest(v, known);
      problems.at(
        'invalid-value',
        path,
        `unknown interface "${v}"${near === undefined ? '' : ` (did you mean "${near}"?)`}: expected one of ${known.join(', ')}, or an id such as 0x9f045841e9732f3b; an interface of your own needs the schema that defines it in \`schemas\` (docs/services.md)`,
      );
    };
    for (const c of caps) for (const [k, v] of interfaceFields(field(field(raw, 'capabilities'), c))) if (userName(v)) refuse(v, ['capabilities', c, ...k]);
    for (const p of profiles) {
      listOf(field(field(rawProfiles, p), 'namespace')).forEach((st, i) => {
        const r = field(st, 'require');
        if (userName(r)) refuse(r, ['profiles', p, 'namespace', i, 'require']);
      });
    }
  }
  for (const c of caps) {
    const profile = field(field(field(raw, 'capabilities'), c), 'profile');
    if (field(field(field(raw, 'capabilities'), c), 'type') === 'service' && isName(profile) && !profiles.includes(profile))
      problems.at('unknown-profile', ['capabilities', c, 'profile'], unknownName('profile', profile, profiles));
  }
  const refs: [string, unknown][] = [
    ...listOf(field(raw, 'listeners')).map((l, i): [string, unknown] => [`listeners\0${i}`, l]),
    ...listOf(field(raw, 'exports')).map((e, i): [string, unknown] => [`exports\0${i}`, e]),
  ];
  for (const [where, item] of refs) {
    const [list, i] = where.split('\0') as [string, string];
    const profile = field(item, 'profile');
    if (isName(profile) && !profiles.includes(profile))
      problems.at(
        'unknown-profile',
        [list, Number(i), 'profile'],
        unknownName('profile', profile, profiles),
      );
  }
  return nsLines;
}

// ---- normalization -----------------------------------------------------------------

function normalize(
  m: RawManifest,
  src: Source,
  nsLines: Map<string, ReturnType<typeof parseNsLines>>,
  baseDir: string,
): Manifest {
  // Host paths are normalized ('//', '.', '..', a trailing '/'), so that equal folders compare equal.
  const host = (p: string): string =>
    normalizeHostPath(isAbsolute(p) ? p : join(baseDir, p)).replace(/(.)\/+$/, '$1');
  const serverTls = (
    t: { cert: string; key: string; ca?: string | undefined } | undefined,
  ): ServerTls | undefined =>
    t === undefined
      ? undefined
      : { cert: host(t.cert), key: host(t.key), ...(t.ca !== undefined && { ca: host(t.ca) }) };
  const auth = (a: RawAuth | undefined, path: Seg[]): Auth => ({
    tokens: a?.tokens ?? [],
    tlsSubjects: a?.tls?.subject ?? [],
    loopback: a?.loopback ?? false,
    loc: a === undefined ? undefined : src.loc(path),
  });

  const clientTls = (
    t: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined; serverName?: string | undefined } | undefined,
  ): ClientTls | undefined =>
    t === undefined
      ? undefined
      : {
          ...(t.ca !== undefined && { ca: host(t.ca) }),
          ...(t.cert !== undefined && { cert: host(t.cert) }),
          ...(t.key !== undefined && { key: host(t.key) }),
          ...(t.serverName !== undefined && { serverName: t.serverName }),
        };

  const capabilities = Object.entries(m.capabilities).map(([name, c]): Capability => {
    const loc = src.loc(['capabilities', name], true);
    switch (c.type) {
      case 'ram':
        return {
          name,
          type: 'ram',
          loc,
          ...(c.maxBytes !== undefined && { maxBytes: c.maxBytes }),
          ...(c.maxFiles !== undefined && { maxFiles: c.maxFiles }),
          ...(c.maxFileSize !== undefined && { maxFileSize: c.maxFileSize }),
        };
      case 'dir':
        return {
          name,
          type: 'dir',
          loc,
          path: host(c.path),
          readOnly: c.readOnly,
          create: c.create,
          syncWrites: c.syncWrites,
          io: c.io,
        };
      case 'import': {
        const tls = clientTls(c.tls);
        const iface: InterfaceRef = c.interface ?? completeInterfaceRef({ name: 'Namespace' });
        return {
          name,
          type: 'import',
          loc,
          address: c.address,
          path: c.path,
          interface: iface,
          ...(c.token !== undefined && { token: c.token }),
          ...(tls !== undefined && { tls }),
          ...(c.connectTimeoutMs !== undefined && { connectTimeoutMs: c.connectTimeoutMs }),
          ...(c.authTimeoutMs !== undefined && { authTimeoutMs: c.authTimeoutMs }),
          ...(c.resolveTimeoutMs !== undefined && { resolveTimeoutMs: c.resolveTimeoutMs }),
          ...(c.callTimeoutMs !== undefined && { callTimeoutMs: c.callTimeoutMs }),
          ...(c.retryRefusedMs !== undefined && { retryRefusedMs: c.retryRefusedMs }),
          ...(c.heartbeatMs !== undefined && { heartbeatMs: c.heartbeatMs }),
          ...(c.heartbeatTimeoutMs !== undefined && { heartbeatTimeoutMs: c.heartbeatTimeoutMs }),
        };
      }
      case 'captable':
        return { name, type: 'captable', loc };
      case 'hub':
        return {
          name,
          type: 'hub',
          loc,
          channels: c.channels,
          ...(c.backlogBytes !== undefined && { backlogBytes: c.backlogBytes }),
          ...(c.maxChannels !== undefined && { maxChannels: c.maxChannels }),
          ...(c.maxWriteBytes !== undefined && { maxWriteBytes: c.maxWriteBytes }),
          ...(c.maxWaiting !== undefined && { maxWaiting: c.maxWaiting }),
        };
      case 'hubfs':
        return { name, type: 'hubfs', loc, hub: c.hub };
      case 'sessions':
        return { name, type: 'sessions', loc, readOnly: c.readOnly, ...(c.profiles !== undefined && { profiles: c.profiles }) };
      case 'demo.clock':
        return { name, type: 'demo.clock', loc };
      case 'service':
        return {
          name,
          type: 'service',
          loc,
          // A bare name is looked up on PATH; one with a '/' is a host path.
          command: c.command.includes('/') ? host(c.command) : c.command,
          args: c.args,
          env: c.env,
          cwd: host(c.cwd ?? '.'),
          ...(c.profile !== undefined && { profile: c.profile }),
          offers: Object.entries(c.offers).map(([offer, iface]) => ({ name: offer, interface: iface })),
          restart: c.restart,
          ...(c.readyTimeoutMs !== undefined && { readyTimeoutMs: c.readyTimeoutMs }),
          ...(c.stopTimeoutMs !== undefined && { stopTimeoutMs: c.stopTimeoutMs }),
          ...(c.backoffMaxMs !== undefined && { backoffMaxMs: c.backoffMaxMs }),
          ...(c.startLimit !== undefined && { startLimit: c.startLimit }),
        };
      case 'srv':
        return {
          name,
          type: 'srv',
          loc,
          names: Object.entries(c.names).map(([n, iface]) => (iface === null ? { name: n } : { name: n, interface: iface })),
        };
      case 'connect': {
        const tls = clientTls(c.tls);
        return {
          name,
          type: 'connect',
          loc,
          address: c.address,
          interface: c.interface,
          ...(tls !== undefined && { tls }),
          ...(c.timeoutMs !== undefined && { timeoutMs: c.timeoutMs }),
          ...(c.heartbeatMs !== undefined && { heartbeatMs: c.heartbeatMs }),
          ...(c.backoffMaxMs !== undefined && { backoffMaxMs: c.backoffMaxMs }),
        };
      }
    }
  });

  const step = (s: RawStep, path: Seg[]): Step[] => {
    const loc = src.loc(path);
    if ('mount' in s) {
      return [
        {
          op: 'mount',
          capability: s.mount,
          at: s.at,
          position: s.position,
          create: s.create,
          spec: s.spec,
          ...(s.require !== undefined && { require: s.require }),
          loc,
        },
      ];
    }
    if ('bind' in s) {
      return [
        {
          op: 'bind',
          from: s.bind,
          at: s.at,
          position: s.position,
          create: s.create,
          ...(s.require !== undefined && { require: s.require }),
          loc,
        },
      ];
    }
    if ('unmount' in s)
      return [
        { op: 'unmount', at: s.unmount, ...(s.member !== undefined && { member: s.member }), loc },
      ];
    const nsPath = [...path, 'ns'];
    const lines = nsLines.get(formatPath(nsPath)) ?? [];
    const clean = (w: NsWord): string => {
      const r = checkNamespacePath(w.text);
      return r.ok ? r.value : w.text;
    };
    return lines.map((l): Step => {
      const at = src.offsetInString(nsPath, l.at.line, l.at.column);
      const lineLoc = { ...src.at(at, nsPath), path: `${formatPath(nsPath)}:${l.at.line}` };
      switch (l.op) {
        case 'mount': {
          // Only reached when every word checked out (checkReferences), so these hold.
          const spec = l.spec === undefined ? undefined : checkSpec(l.spec.text);
          return {
            op: 'mount',
            capability: l.capability.text,
            at: clean(l.to),
            position: l.position,
            create: l.create,
            spec: spec?.ok === true ? spec.value : '',
            loc: lineLoc,
          };
        }
        case 'bind':
          return {
            op: 'bind',
            from: clean(l.from),
            at: clean(l.to),
            position: l.position,
            create: l.create,
            loc: lineLoc,
          };
        case 'unmount':
          return {
            op: 'unmount',
            at: clean(l.to),
            ...(l.member !== undefined && { member: l.member.text }),
            loc: lineLoc,
          };
      }
    });
  };

  const profiles = Object.entries(m.profiles).map(([name, p]): Profile => ({
    name,
    auth: auth(p.auth, ['profiles', name, 'auth']),
    namespace: p.namespace.flatMap((s, i) => step(s, ['profiles', name, 'namespace', i])),
    loc: src.loc(['profiles', name], true),
  }));

  const listeners = m.listeners.map((l, i): Listener => {
    const tls = 'tls' in l ? serverTls(l.tls) : undefined;
    return {
      protocol: l.protocol,
      address: l.address,
      ...(tls !== undefined && { tls }),
      ...(l.profile !== undefined && { profile: l.profile }),
      ...('hosts' in l && l.hosts !== undefined && { hosts: l.hosts }),
      loc: src.loc(['listeners', i]),
    };
  });

  const exports = m.exports.map((e, i): Export => {
    const tls = serverTls(e.tls);
    const own = profiles.find((p) => p.name === e.profile);
    return {
      profile: e.profile,
      root: e.root,
      readOnly: e.readOnly,
      ...(e.filter !== undefined && { filter: host(e.filter) }),
      listen: e.listen,
      auth:
        e.auth !== undefined
          ? auth(e.auth, ['exports', i, 'auth'])
          : (own?.auth ?? auth(undefined, [])),
      ...(tls !== undefined && { tls }),
      ...(e.heartbeatMs !== undefined && { heartbeatMs: e.heartbeatMs }),
      ...(e.heartbeatTimeoutMs !== undefined && { heartbeatTimeoutMs: e.heartbeatTimeoutMs }),
      loc: src.loc(['exports', i]),
    };
  });

  const defined = <T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
      [K in keyof T]?: Exclude<T[K], undefined>;
    };
  const limits: Limits = {
    ...(m.limits.maxConnections !== undefined && { maxConnections: m.limits.maxConnections }),
    ...(m.limits.maxGrants !== undefined && { maxGrants: m.limits.maxGrants }),
    ...(m.limits.maxGrantsPerConnection !== undefined && { maxGrantsPerConnection: m.limits.maxGrantsPerConnection }),
    ...(m.limits.maxNamespacesPerConnection !== undefined && { maxNamespacesPerConnection: m.limits.maxNamespacesPerConnection }),
    ...(m.limits.maxBinds !== undefined && { maxBinds: m.limits.maxBinds }),
    ...(m.limits.maxConnectionsTotal !== undefined && { maxConnectionsTotal: m.limits.maxConnectionsTotal }),
    ...(m.limits.evictAfterMs !== undefined && { evictAfterMs: m.limits.evictAfterMs }),
    rpc: defined(m.limits.rpc),
    '9p': defined(m.limits['9p']),
    http: defined(m.limits.http),
  };

  const schemas = m.schemas.map((f, i) => ({ path: host(f), loc: src.loc(['schemas', i]) }));

  return { version: 1, file: src.file, ...(schemas.length > 0 && { schemas }), capabilities, profiles, listeners, exports, limits };
}

// ---- entry point -------------------------------------------------------------------

/**
 * Parses and validates a manifest (YAML 1.2, so JSON too).
 * @throws ManifestError (an NsError with code NS_ERR_PARSE) listing every problem found,
 *   each with file:line:column and field path.
 */
export function parseManifest(text: string, options: ParseOptions = {}): Manifest {
  const file = options.file ?? 'manifest';
  const env = options.env ?? {};
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    version: '1.2',
  });
  const src = new Source(file, text, doc, lines);
  const problems = new Problems(src, file);

  let fatal = false;
  for (const e of [...doc.errors, ...doc.warnings]) {
    const offset = e.pos[0];
    const first = e.message.split('\n')[0] ?? e.message;
    if (e.code === 'DUPLICATE_KEY') {
      const path = pathAt(doc, offset);
      const key = path[path.length - 1];
      const what = typeof key === 'string' ? `"${key}" is given twice in this map` : first;
      problems.add('duplicate-key', src.at(offset, path), `duplicate key: ${what}`);
    } else {
      fatal = true;
      problems.add('syntax', src.at(offset, []), `YAML: ${first}`);
    }
  }
  if (fatal) throw new ManifestError(problems.list);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    problems.add('syntax', src.at(0, []), `YAML: ${(err as Error).message}`);
    throw new ManifestError(problems.list);
  }
  if (raw === null || raw === undefined) {
    problems.add('missing-field', src.at(0, []), 'empty manifest (it needs at least "version: 1")');
    throw new ManifestError(problems.list);
  }

  // A value whose ${VAR} failed is reported once, for the variable: what zod would say
  // about the half-expanded string is noise.
  const envFailed = new Set<string>();
  const envUsed = new Map<string, [string, string][]>();
  const expanded = expandEnv(raw, [], env, src, problems, envFailed, envUsed);
  const parsed = manifestSchema.safeParse(expanded);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (!envFailed.has(formatPath(issue.path.filter((s): s is Seg => typeof s !== 'symbol'))))
        addZodIssue(issue, expanded, problems);
    }
  }
  const nsLines = checkReferences(expanded, src, problems);
  if (problems.list.length > 0 || !parsed.success)
    throw new ManifestError(dedupe(problems.list).map((d) => redact(d, envUsed)));
  return normalize(parsed.data, src, nsLines, options.baseDir ?? dirname(file));
}

/**
 * A message about a value that came from `${NAME}` shows `${NAME}`, never the value:
 * variables carry secrets, and messages end up in logs.
 */
function redact(d: Diagnostic, used: ReadonlyMap<string, readonly [string, string][]>): Diagnostic {
  let message = d.message;
  for (const [name, value] of used.get(d.path) ?? []) {
    if (value.length >= 3) message = message.split(value).join(`\${${name}}`);
  }
  return message === d.message ? d : { ...d, message };
}

/** The same message at the same place once (zod and the reference pass may both see a bad path). */
function dedupe(list: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const k = `${d.line}:${d.column}:${d.path}:${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The field path of the deepest node whose key or value contains `offset`. */
function pathAt(doc: Document.Parsed, offset: number): Seg[] {
  const path: Seg[] = [];
  let node: unknown = doc.contents;
  const inside = (n: unknown): boolean => {
    const r = (n as Node | null)?.range;
    return r !== undefined && r !== null && r[0] <= offset && offset < Math.max(r[1], r[0] + 1);
  };
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => inside(p.key) || inside(p.value));
      if (pair === undefined) return path;
      path.push(isScalar(pair.key) ? String(pair.key.value) : String(pair.key));
      if (inside(pair.key)) return path;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((n) => inside(n));
      if (i < 0) return path;
      path.push(i);
      node = node.items[i];
    } else {
      return path;
    }
  }
}
