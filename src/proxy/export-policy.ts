/**
 * What an export lets an importing peer do: the membrane policy the exporter wraps around
 * everything it hands one peer (src/rpc/membrane.ts), so the rules hold for every
 * capability derived from the exported namespace, however deep.
 *
 * - read-only: every mutating method is refused (Namespace bind/bindPath/unmount/apply,
 *   sub without readOnly; File write/create/wstat/remove, open for writing, truncating or
 *   remove-on-close; CapTable revoke/revokeHolder).
 * - a filter: path patterns as exportfs(4) -P (`+ RE` must match, `- RE` must not, on
 *   the path relative to the export root written `./a/b`), checked on every Namespace
 *   method's path argument; interface/method rules `allow|deny SPEC`, first match wins,
 *   default allow.
 * - revocation: the export's switch and the peer's own; either refuses every call.
 */
import type { Struct } from 'capnp-es';
import { NsError } from '../errors.js';
import { CapTable } from '../gen/captable.js';
import { OpenMode_Access } from '../gen/common.js';
import { Clock, Echo } from '../gen/demo.js';
import {
  File,
  FileServer,
  File_Create$Params,
  File_Open$Params,
  File_Walk$Params,
} from '../gen/fileserver.js';
import {
  Gate,
  Namespace,
  Namespace_Bind$Params,
  Namespace_BindPath$Params,
  Namespace_Sub$Params,
} from '../gen/namespace.js';
import { cleanPath } from '../namespace/path.js';
import { RpcError } from '../rpc/index.js';
import type { MembranePolicy } from '../rpc/membrane.js';

interface MethodInfo {
  readonly interfaceId: bigint;
  readonly methodId: number;
  readonly methodName: string;
}

/** The interfaces the filter can name, by schema name. */
const INTERFACES: ReadonlyMap<string, { interfaceId: bigint; methods: readonly MethodInfo[] }> =
  new Map(
    (
      [
        ['Namespace', Namespace.Client],
        ['Gate', Gate.Client],
        ['FileServer', FileServer.Client],
        ['File', File.Client],
        ['CapTable', CapTable.Client],
        ['Clock', Clock.Client],
        ['Echo', Echo.Client],
      ] as const
    ).map(([name, c]) => [
      name,
      { interfaceId: c.interfaceId, methods: c.methods as readonly MethodInfo[] },
    ]),
  );

const NS = Namespace.Client.interfaceId;
const FILE = File.Client.interfaceId;
const CAPTABLE = CapTable.Client.interfaceId;
const FILE_SERVER = FileServer.Client.interfaceId;

/** File methods by id. */
const enum FileMethod {
  walk = 0,
  create = 2,
}

/** Namespace methods by id. */
const enum NsMethod {
  resolve = 0,
  bind = 1,
  bindPath = 2,
  unmount = 3,
  list = 4,
  members = 5,
  walk = 6,
  sub = 7,
  fork = 8,
  describe = 9,
  apply = 10,
}

/** Mutating methods refused outright under read-only (arguments aside). */
const MUTATING = new Set<string>([
  `${NS}.${NsMethod.bind}`,
  `${NS}.${NsMethod.bindPath}`,
  `${NS}.${NsMethod.unmount}`,
  `${NS}.${NsMethod.apply}`,
  `${FILE}.2`, // create
  `${FILE}.4`, // write
  `${FILE}.7`, // wstat
  `${FILE}.8`, // remove
  `${CAPTABLE}.1`, // revoke
  `${CAPTABLE}.2`, // revokeHolder
]);

/** One interface/method rule. `methodId` undefined: every method; `interfaceId` undefined: every interface. */
export interface MethodRule {
  readonly allow: boolean;
  readonly interfaceId?: bigint;
  readonly methodId?: number;
}

/** A parsed filter file. */
export interface ExportFilter {
  /** exportfs -P: `+` patterns must all match, `-` patterns must not. */
  readonly include: readonly RegExp[];
  readonly exclude: readonly RegExp[];
  /** First match wins; no match allows. */
  readonly rules: readonly MethodRule[];
}

/** The empty filter: everything allowed. */
export const NO_FILTER: ExportFilter = { include: [], exclude: [], rules: [] };

function parseSpec(spec: string, where: string): Omit<MethodRule, 'allow'> {
  if (spec === '*') return {};
  const dot = spec.indexOf('.');
  const iface = dot < 0 ? spec : spec.slice(0, dot);
  const method = dot < 0 ? undefined : spec.slice(dot + 1);
  let interfaceId: bigint;
  let methods: readonly MethodInfo[] = [];
  if (/^0x[0-9a-f]+$/i.test(iface)) {
    interfaceId = BigInt(iface);
  } else {
    const known = INTERFACES.get(iface);
    if (known === undefined) {
      throw new NsError(
        'NS_ERR_INVALID_ARGUMENT',
        `${where}: unknown interface '${iface}' (known: ${[...INTERFACES.keys()].join(', ')}, or 0x<id>)`,
      );
    }
    interfaceId = known.interfaceId;
    methods = known.methods;
  }
  if (method === undefined) return { interfaceId };
  if (/^\d+$/.test(method)) return { interfaceId, methodId: Number(method) };
  const m = methods.find((x) => x.methodName === method);
  if (m === undefined)
    throw new NsError(
      'NS_ERR_INVALID_ARGUMENT',
      `${where}: interface '${iface}' has no method '${method}'`,
    );
  return { interfaceId, methodId: m.methodId };
}

/**
 * Parses a filter file: one rule a line, `#` comments.
 *   `+ REGEX` / `- REGEX`   path patterns (exportfs -P), on paths written `./a/b`
 *   `allow SPEC` / `deny SPEC`   SPEC = `*`, `Interface`, `Interface.method`, `0xID[.N]`
 * @throws NsError NS_ERR_INVALID_ARGUMENT naming the line.
 */
export function parseExportFilter(text: string, file = 'filter'): ExportFilter {
  const include: RegExp[] = [];
  const exclude: RegExp[] = [];
  const rules: MethodRule[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${i + 1}`;
    const m = /^(\+|-|allow|deny)\s+(.+)$/.exec(line);
    if (m === null)
      throw new NsError(
        'NS_ERR_INVALID_ARGUMENT',
        `${where}: want '+ REGEX', '- REGEX', 'allow SPEC' or 'deny SPEC'`,
      );
    const [, op, arg] = m as unknown as [string, string, string];
    if (op === '+' || op === '-') {
      let re: RegExp;
      try {
        re = new RegExp(arg);
      } catch (e) {
        throw new NsError(
          'NS_ERR_INVALID_ARGUMENT',
          `${where}: bad pattern: ${(e as Error).message}`,
        );
      }
      (op === '+' ? include : exclude).push(re);
    } else {
      rules.push({ allow: op === 'allow', ...parseSpec(arg, where) });
    }
  });
  return { include, exclude, rules };
}

/** A revocation switch shared by everything one export handed out. */
export class Revocation {
  #reason: string | null = null;

  get revoked(): boolean {
    return this.#reason !== null;
  }

  revoke(reason: string): void {
    this.#reason ??= reason;
  }

  /** The error calls fail with once revoked. */
  error(): RpcError | undefined {
    return this.#reason === null ? undefined : new RpcError('failed', `revoked: ${this.#reason}`);
  }
}

/** Views `s` (params received as a struct of no particular type) as `Cls`. */
function view<S extends Struct>(
  Cls: new (segment: Struct['segment'], byteOffset: number, depthLimit?: number) => S,
  s: Struct,
): S {
  return new Cls(s.segment, s.byteOffset, s._capnp.depthLimit);
}

const denied = (what: string): RpcError => new RpcError('failed', `permission denied: ${what}`);

/** The membrane policy of one importing peer. */
export class ExportPolicy implements MembranePolicy {
  readonly #readOnly: boolean;
  readonly #filter: ExportFilter;
  readonly #switches: readonly Revocation[];
  /** Set only when the rules need arguments (read-only, path patterns): building params costs. */
  readonly checkParams:
    ((interfaceId: bigint, methodId: number, params: Struct) => RpcError | undefined) | undefined;

  /** With path patterns: the policy of the capabilities a call's results hold. */
  readonly resultsPolicy:
    ((interfaceId: bigint, methodId: number, params: Struct) => MembranePolicy) | undefined;
  /**
   * With path patterns, for a File: its path in the export (cleaned, absolute), known
   * because it was reached by Namespace.walk and File.walk/create from there. Undefined
   * for every other capability.
   */
  readonly #path: string | undefined;

  /** `switches`: revocations (the export's); any revoked refuses everything. */
  constructor(options: {
    readOnly: boolean;
    filter: ExportFilter;
    switches: readonly Revocation[];
    path?: string;
  }) {
    this.#readOnly = options.readOnly;
    this.#filter = options.filter;
    this.#switches = options.switches;
    this.#path = options.path;
    this.checkParams =
      this.#readOnly || this.#hasPatterns() ? (i, m, p) => this.#checkParams(i, m, p) : undefined;
    this.resultsPolicy = this.#hasPatterns()
      ? (i, m, p) => this.#resultsPolicy(i, m, p)
      : undefined;
  }

  #at(path: string): ExportPolicy {
    return new ExportPolicy({
      readOnly: this.#readOnly,
      filter: this.#filter,
      switches: this.#switches,
      path,
    });
  }

  /**
   * Path tracking into file trees: Namespace.walk(path) returns the File at `path`;
   * File.walk(names) the File at its path + names; File.create(name) at its path + name.
   */
  #resultsPolicy(interfaceId: bigint, methodId: number, params: Struct): MembranePolicy {
    if (interfaceId === NS && methodId === (NsMethod.walk as number)) {
      return this.#at(cleanPath(view(Namespace_Bind$Params, params).path));
    }
    if (interfaceId === FILE && this.#path !== undefined) {
      if (methodId === (FileMethod.walk as number)) {
        const names = view(File_Walk$Params, params).names.toArray();
        return this.#at(cleanPath([this.#path, ...names].join('/')));
      }
      if (methodId === (FileMethod.create as number)) {
        return this.#at(cleanPath(`${this.#path}/${view(File_Create$Params, params).name}`));
      }
    }
    return this;
  }

  /**
   * Path patterns on file trees: walks and creates are checked name by name (every
   * prefix, as exportfs checks each path it walks); a File of unknown path (a FileServer
   * attached directly) cannot be used: reach files with Namespace.walk instead.
   */
  #checkFilePath(interfaceId: bigint, methodId: number, params: Struct): RpcError | undefined {
    if (interfaceId === FILE_SERVER) {
      return denied(
        'FileServer.attach is not available through a path-filtered export (use Namespace.walk)',
      );
    }
    const walk = methodId === (FileMethod.walk as number);
    if (interfaceId !== FILE || (!walk && methodId !== (FileMethod.create as number)))
      return undefined;
    if (this.#path === undefined)
      return denied('a file of unknown path, through a path-filtered export');
    const names = walk
      ? view(File_Walk$Params, params).names.toArray()
      : [view(File_Create$Params, params).name];
    let at = this.#path;
    for (const n of names) {
      // `..` at a file server's root stays there (walk(5)): lexical tracking would drift.
      if (n === '..' || n === '.')
        return denied('.. and . are not walked through a path-filtered export');
      at = `${at === '/' ? '' : at}/${n}`;
      if (!this.pathAllowed(at)) return denied(`path ${at.slice(0, 60)} is not exported`);
    }
    return undefined;
  }

  check(interfaceId: bigint, methodId: number): RpcError | undefined {
    for (const s of this.#switches) {
      const e = s.error();
      if (e !== undefined) return e;
    }
    for (const r of this.#filter.rules) {
      if (r.interfaceId !== undefined && r.interfaceId !== interfaceId) continue;
      if (r.methodId !== undefined && r.methodId !== methodId) continue;
      if (r.allow) break;
      return denied(
        `method ${methodId} of interface 0x${interfaceId.toString(16)} is filtered out by this export`,
      );
    }
    if (this.#readOnly && MUTATING.has(`${interfaceId}.${methodId}`))
      return denied('this export is read-only');
    return undefined;
  }

  #checkParams(interfaceId: bigint, methodId: number, params: Struct): RpcError | undefined {
    if (this.#hasPatterns()) {
      const e = this.#checkFilePath(interfaceId, methodId, params);
      if (e !== undefined) return e;
    }
    if (interfaceId === FILE) {
      if (!this.#readOnly) return undefined;
      if (methodId === 1) {
        const mode = view(File_Open$Params, params).mode;
        if (
          mode.access === OpenMode_Access.WRITE ||
          mode.access === OpenMode_Access.READ_WRITE ||
          mode.truncate ||
          mode.removeOnClose
        ) {
          return denied('this export is read-only (open for writing)');
        }
      }
      return undefined;
    }
    if (interfaceId !== NS) return undefined;
    if (methodId === (NsMethod.sub as number)) {
      const p = view(Namespace_Sub$Params, params);
      if (this.#readOnly && !p.readOnly)
        return denied('this export is read-only (sub must be readOnly)');
      // A sub view's paths are relative to its own root: the patterns would not apply.
      if (this.#hasPatterns())
        return denied('sub views are not available through a path-filtered export');
      return undefined;
    }
    if (!this.#hasPatterns()) return undefined;
    const paths: string[] = [];
    switch (methodId as NsMethod) {
      case NsMethod.resolve:
      case NsMethod.unmount:
      case NsMethod.list:
      case NsMethod.members:
      case NsMethod.walk:
        paths.push(view(Namespace_Bind$Params, params).path);
        break;
      case NsMethod.bind:
        paths.push(view(Namespace_Bind$Params, params).path);
        break;
      case NsMethod.bindPath: {
        const p = params as Namespace_BindPath$Params;
        paths.push(p.from, p.to);
        break;
      }
      case NsMethod.describe:
      case NsMethod.apply:
        // The whole namespace at once: a path filter cannot vet it.
        return denied('describe and apply are not available through a path-filtered export');
      case NsMethod.fork:
      case NsMethod.sub:
        break;
    }
    for (const p of paths)
      if (!this.pathAllowed(p)) return denied(`path ${p.slice(0, 60)} is not exported`);
    return undefined;
  }

  #hasPatterns(): boolean {
    return this.#filter.include.length > 0 || this.#filter.exclude.length > 0;
  }

  /** exportfs -P on a namespace path: `/a/b` is tested as `./a/b` (the root as `.`). */
  pathAllowed(path: string): boolean {
    let clean: string;
    try {
      clean = cleanPath(path);
    } catch {
      // Malformed: let the namespace refuse it with its own message.
      return true;
    }
    const rel = clean === '/' ? '.' : `.${clean}`;
    return (
      this.#filter.include.every((re) => re.test(rel)) &&
      !this.#filter.exclude.some((re) => re.test(rel))
    );
  }
}
