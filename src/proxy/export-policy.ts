/**
 * What an export lets an importing peer do: the membrane policy the exporter wraps around
 * everything it hands one peer (src/rpc/membrane.ts), so the rules hold for every
 * capability derived from the exported namespace, however deep, and compose with the
 * membranes already around them (a grant's, a read-only view's).
 *
 * - read-only: every change is refused (src/namespace/view-policy.ts says which methods
 *   change something: Namespace bind/bindPath/unmount/apply, File create/write/wstat/
 *   remove and open for writing, CapTable revoke/revokeHolder).
 * - a filter: path patterns as exportfs(4) -P (`+ RE` must match, `- RE` must not, on
 *   the path relative to the export root written `./a/b`), checked on every path a call
 *   names — Namespace resolve, list, members, walk, bind, sub, unmount, the lines of
 *   apply; FileServer attach; File walk (every prefix), create and rename — and on where
 *   a walk really ended (File.WalkResult.path: a symbolic link to a filtered name is
 *   refused as that name). bindPath, and apply's bind and mount lines, are refused: a
 *   second name for what is visible would reach filtered files by paths the patterns
 *   never see. Interface/method rules `allow|deny SPEC`, first match wins, default allow.
 * - revocation: the export's switch; revoked, every call fails `Failure.revoked`.
 *
 * Params are read through the schema's classes and bounded before they are iterated; a
 * path that does not parse is refused, never let through.
 */
import type { Struct } from 'capnp-es';
import { NsError } from '../errors.js';
import { CapTable } from '../gen/captable.js';
import { Clock, Echo } from '../gen/demo.js';
import { Hub } from '../gen/hub.js';
import { Import } from '../gen/proxy.js';
import { Introspect, Post, ServiceHost, Srv } from '../gen/services.js';
import {
  File,
  FileServer,
  FileServer_Attach$Params,
  FileServer_Attach$Results,
  File_Create$Params,
  File_Walk$Params,
  File_WalkResult,
  File_Walk$Results,
  File_Wstat$Params,
} from '../gen/fileserver.js';
import {
  Gate,
  Namespace,
  Namespace_Apply$Params,
  Namespace_Bind$Params,
  Namespace_List$Params,
  Namespace_Members$Params,
  Namespace_Resolve$Params,
  Namespace_Resolve$Results,
  Namespace_Sub$Params,
  Namespace_Unmount$Params,
  Namespace_Walk$Params,
} from '../gen/namespace.js';
import { parseNamespaceText } from '../namespace/ns-text.js';
import { cleanPath } from '../namespace/path.js';
import { mutation, paramsAs, readOnlyNeedsParams } from '../namespace/view-policy.js';
import type { RpcError } from '../rpc/index.js';
import type { MembranePolicy, Verdict } from '../rpc/membrane.js';

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
        ['Import', Import.Client],
        ['Hub', Hub.Client],
        ['Introspect', Introspect.Client],
        ['Srv', Srv.Client],
        ['Post', Post.Client],
        ['ServiceHost', ServiceHost.Client],
      ] as const
    ).map(([name, c]) => [
      name,
      { interfaceId: c.interfaceId, methods: c.methods as readonly MethodInfo[] },
    ]),
  );

const NS = Namespace.Client.interfaceId;
const FILE = File.Client.interfaceId;
const FILE_SERVER = FileServer.Client.interfaceId;

/** File methods by id. */
const enum FileMethod {
  walk = 0,
  create = 2,
  wstat = 7,
}

/** The most names one File.walk may carry (fileserver.capnp maxWalkNames). */
const MAX_WALK_NAMES = 16;

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

  /** The refusal calls get once revoked (`Failure.revoked`). */
  error(): NsError | undefined {
    return this.#reason === null ? undefined : new NsError('NS_ERR_REVOKED', this.#reason);
  }
}

const denied = (what: string): NsError => new NsError('NS_ERR_PERMISSION', what);

/**
 * Where a capability handed out by the export lies, for the path patterns:
 * - a Namespace whose root is `base` (an export path, cleaned, absolute);
 * - a File at `path`, whose server's attach root is `root` (a File reports where its
 *   walks end from that root);
 * - somewhere the export cannot tell (a capability resolve handed out): path-taking calls
 *   on it are refused, so nothing can be named through it that the filter did not see.
 */
type Place =
  | { readonly kind: 'namespace'; readonly base: string }
  | { readonly kind: 'file'; readonly root: string; readonly path: string }
  | { readonly kind: 'fileServer'; readonly root: string }
  /** A FileServer.attach's result: judged where the server says the attach ended (`root` is the name's place). */
  | { readonly kind: 'attached'; readonly serverRoot: string; readonly root: string }
  /** What resolve(path) returns, until its results say where the capability's root is. */
  | { readonly kind: 'resolved'; readonly path: string }
  | { readonly kind: 'unknown' };

/** `base` + the namespace path `p` (which must parse), cleaned. @throws NsError NS_ERR_INVALID_PATH. */
function under(base: string, p: string): string {
  const clean = cleanPath(p);
  if (base === '/') return clean;
  return clean === '/' ? base : `${base}${clean}`;
}

/** A relative path, cleaned ('' stays ''). */
function cleanRel(rel: string): string {
  return cleanPath(`/${rel}`).slice(1);
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The membrane policy of one importing peer (and, derived from it, of each thing it reaches). */
export class ExportPolicy implements MembranePolicy {
  readonly #readOnly: boolean;
  readonly #filter: ExportFilter;
  readonly #switches: readonly Revocation[];
  readonly #place: Place;
  /** Set only when the rules need arguments (read-only, path patterns): building params costs. */
  readonly checkParams: ((interfaceId: bigint, methodId: number, params: Struct) => Verdict) | undefined;
  /** With path patterns: the policy of the capabilities a call's results hold. */
  readonly resultsPolicy: ((interfaceId: bigint, methodId: number, params: Struct) => MembranePolicy) | undefined;
  /** With path patterns, for a File walked to: where the walk really ended. */
  readonly checkResults: ((interfaceId: bigint, methodId: number, results: Struct) => MembranePolicy | NsError | RpcError) | undefined;

  /** `switches`: revocations (the export's); any revoked refuses everything. */
  constructor(options: {
    readOnly: boolean;
    filter: ExportFilter;
    switches: readonly Revocation[];
    place?: Place;
  }) {
    this.#readOnly = options.readOnly;
    this.#filter = options.filter;
    this.#switches = options.switches;
    this.#place = options.place ?? { kind: 'namespace', base: '/' };
    const patterns = this.#hasPatterns();
    this.checkParams = this.#readOnly || patterns ? (i, m, p) => this.#checkParams(i, m, p) : undefined;
    this.resultsPolicy = patterns ? (i, m, p) => this.#resultsPolicy(i, m, p) : undefined;
    this.checkResults =
      patterns && (this.#place.kind === 'file' || this.#place.kind === 'resolved' || this.#place.kind === 'attached')
        ? (i, m, r) => this.#checkResults(i, m, r)
        : undefined;
  }

  #at(place: Place): ExportPolicy {
    return new ExportPolicy({ readOnly: this.#readOnly, filter: this.#filter, switches: this.#switches, place });
  }

  check(interfaceId: bigint, methodId: number): Verdict {
    for (const s of this.#switches) {
      const e = s.error();
      if (e !== undefined) return e;
    }
    for (const r of this.#filter.rules) {
      if (r.interfaceId !== undefined && r.interfaceId !== interfaceId) continue;
      if (r.methodId !== undefined && r.methodId !== methodId) continue;
      if (r.allow) break;
      return denied(`method ${methodId} of interface 0x${interfaceId.toString(16)} is filtered out by this export`);
    }
    if (this.#readOnly) {
      const m = mutation(interfaceId, methodId);
      if (m !== undefined) return denied(`${m}: this export is read-only`);
    }
    return undefined;
  }

  #checkParams(interfaceId: bigint, methodId: number, params: Struct): Verdict {
    if (this.#readOnly && readOnlyNeedsParams(interfaceId, methodId)) {
      const m = mutation(interfaceId, methodId, params);
      if (m !== undefined) return denied(`${m}: this export is read-only`);
    }
    if (!this.#hasPatterns()) return undefined;
    if (interfaceId === NS) return this.#checkNamespace(methodId, params);
    if (interfaceId === FILE) return this.#checkFile(methodId, params);
    if (interfaceId === FILE_SERVER) {
      // attach(aname): the tree below the server's root, which resolve's results placed.
      const place = this.#place;
      if (place.kind !== 'fileServer') return denied('FileServer.attach of a file server of unknown place, through a path-filtered export (use Namespace.walk)');
      return this.#allowedUnder(place.root, `/${paramsAs(FileServer_Attach$Params, params).aname}`);
    }
    return undefined;
  }

  /** Every path a Namespace method names, in export coordinates. */
  #checkNamespace(methodId: number, params: Struct): Verdict {
    const place = this.#place;
    if (place.kind !== 'namespace') {
      return methodId === (NsMethod.fork as number)
        ? undefined
        : denied('a namespace of unknown place, through a path-filtered export (reach it by its path instead)');
    }
    const paths: string[] = [];
    switch (methodId as NsMethod) {
      case NsMethod.resolve:
        paths.push(paramsAs(Namespace_Resolve$Params, params).path);
        break;
      case NsMethod.bind:
        paths.push(paramsAs(Namespace_Bind$Params, params).path);
        break;
      case NsMethod.bindPath:
        // bind(2) makes a second name for what is already visible: the files below it
        // would then be reached by paths the patterns never see. (bind of a capability
        // is fine: one handed out by this export carries its own policy, and one of the
        // peer's own is the peer's.)
        return denied('bindPath is not available through a path-filtered export (it would alias filtered names)');
      case NsMethod.unmount:
        paths.push(paramsAs(Namespace_Unmount$Params, params).path);
        break;
      case NsMethod.list:
        paths.push(paramsAs(Namespace_List$Params, params).path);
        break;
      case NsMethod.members:
        paths.push(paramsAs(Namespace_Members$Params, params).path);
        break;
      case NsMethod.walk:
        paths.push(paramsAs(Namespace_Walk$Params, params).path);
        break;
      case NsMethod.sub:
        paths.push(paramsAs(Namespace_Sub$Params, params).prefix);
        break;
      case NsMethod.apply: {
        let commands;
        try {
          commands = parseNamespaceText(paramsAs(Namespace_Apply$Params, params).text);
        } catch (e) {
          return e instanceof NsError ? e : denied('namespace text this export cannot read');
        }
        for (const c of commands) {
          if (c.op === 'clear') return denied('clear is not available through a path-filtered export');
          if (c.op !== 'unmount') {
            return denied(`${c.op} lines are not available through a path-filtered export (they alias what is visible)`);
          }
          paths.push(c.to.text);
        }
        break;
      }
      case NsMethod.describe:
        // The whole namespace at once, filtered names included.
        return denied('describe is not available through a path-filtered export');
      case NsMethod.fork:
        break;
    }
    for (const p of paths) {
      const e = this.#allowedUnder(place.base, p);
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /** File.walk (every prefix), create and rename, from the File's path. */
  #checkFile(methodId: number, params: Struct): Verdict {
    const place = this.#place;
    let names: string[];
    if (methodId === (FileMethod.walk as number)) {
      const list = paramsAs(File_Walk$Params, params).names;
      if (list.length > MAX_WALK_NAMES) return new NsError('NS_ERR_TOO_LARGE', `walk of ${list.length} names; at most ${MAX_WALK_NAMES}`);
      names = list.toArray();
    } else if (methodId === (FileMethod.create as number)) {
      names = [paramsAs(File_Create$Params, params).name];
    } else if (methodId === (FileMethod.wstat as number)) {
      const name = paramsAs(File_Wstat$Params, params).change.name;
      if (name === '') return undefined;
      if (place.kind !== 'file') return denied('a file of unknown path, through a path-filtered export');
      return this.#allowed(`${parentOf(place.path) === '/' ? '' : parentOf(place.path)}/${name}`);
    } else {
      return undefined;
    }
    if (place.kind !== 'file') return denied('a file of unknown path, through a path-filtered export');
    let at = place.path;
    for (const n of names) {
      // `..` at a file server's root stays there (walk(5)): lexical tracking would drift.
      if (n === '..' || n === '.') return denied('.. and . are not walked through a path-filtered export');
      if (n === '' || n.includes('/')) return new NsError('NS_ERR_INVALID_PATH', `invalid file name ${JSON.stringify(n.slice(0, 60))}`);
      at = `${at === '/' ? '' : at}/${n}`;
      const e = this.#allowed(at);
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /**
   * Path tracking: Namespace.walk(path) returns the File at base + path; sub(prefix) a
   * Namespace rooted at base + prefix; fork the same place; File.walk(names) the File at
   * its path + names, File.create(name) at its path + name. What resolve returns (and
   * anything else) lies somewhere the export cannot tell.
   */
  #resultsPolicy(interfaceId: bigint, methodId: number, params: Struct): MembranePolicy {
    const place = this.#place;
    if (interfaceId === NS && place.kind === 'namespace') {
      if (methodId === (NsMethod.walk as number)) {
        const path = under(place.base, paramsAs(Namespace_Walk$Params, params).path);
        return this.#at({ kind: 'file', root: place.base, path });
      }
      if (methodId === (NsMethod.sub as number)) {
        return this.#at({ kind: 'namespace', base: under(place.base, paramsAs(Namespace_Sub$Params, params).prefix) });
      }
      if (methodId === (NsMethod.fork as number)) return this;
      if (methodId === (NsMethod.resolve as number)) {
        return this.#at({ kind: 'resolved', path: under(place.base, paramsAs(Namespace_Resolve$Params, params).path) });
      }
      return this.#at({ kind: 'unknown' });
    }
    if (interfaceId === FILE_SERVER && place.kind === 'fileServer') {
      // The root File of the tree `aname` names below the server's root, until the
      // results say where the attach really ended (#checkResults).
      const root = under(place.root, `/${paramsAs(FileServer_Attach$Params, params).aname}`);
      return this.#at({ kind: 'attached', serverRoot: place.root, root });
    }
    if (interfaceId === FILE && place.kind === 'file') {
      if (methodId === (FileMethod.walk as number)) {
        const names = paramsAs(File_Walk$Params, params).names.toArray();
        return this.#at({ kind: 'file', root: place.root, path: cleanPath([place.path, ...names].join('/')) });
      }
      if (methodId === (FileMethod.create as number)) {
        return this.#at({ kind: 'file', root: place.root, path: cleanPath(`${place.path}/${paramsAs(File_Create$Params, params).name}`) });
      }
    }
    return this.#at({ kind: 'unknown' });
  }

  /**
   * A File's walk reports where it really ended (File.WalkResult.path, from its server's
   * attach root): judged too, and the File found is placed there.
   */
  #checkResults(interfaceId: bigint, methodId: number, results: Struct): MembranePolicy | NsError {
    const place = this.#place;
    if (place.kind === 'resolved') return this.#placeResolved(place.path, results);
    if (place.kind === 'attached') return this.#placeAttached(place, results);
    if (place.kind !== 'file') return this;
    let reported: string;
    if ((interfaceId === FILE && methodId === (FileMethod.walk as number)) || (interfaceId === NS && methodId === (NsMethod.walk as number))) {
      const r: File_WalkResult = paramsAs(File_Walk$Results, results).result;
      if (!r._isFile) return this;
      reported = r.path;
    } else {
      return this;
    }
    if (reported === '') return this;
    const real = this.#whereReported(place.root, reported, 'a walk');
    if (typeof real !== 'string') return real;
    return real === place.path ? this : this.#at({ kind: 'file', root: place.root, path: real });
  }

  /**
   * Where a server says a walk or an attach ended (`reported`, from `root`), in export
   * coordinates, if the patterns allow it there. @returns the refusal otherwise.
   */
  #whereReported(root: string, reported: string, what: string): string | NsError {
    let real: string;
    try {
      real = under(root, reported);
    } catch {
      return denied(`${what} that ended somewhere this export cannot read`);
    }
    return this.#allowed(real) ?? real;
  }

  /**
   * What FileServer.attach returned: its root File lies where the server says the attach
   * ended (AttachResult.path, from the server's root), which a link in the attach name
   * may put elsewhere than the name: judged there, as a walk's end is. A server that does
   * not say is believed only for its root.
   */
  #placeAttached(place: { readonly serverRoot: string; readonly root: string }, results: Struct): MembranePolicy | NsError {
    const r = paramsAs(FileServer_Attach$Results, results).result;
    if (!r._isOk) return this.#at({ kind: 'unknown' });
    const reported = r.ok.path;
    if (reported === '') {
      if (place.root === place.serverRoot) return this.#at({ kind: 'file', root: place.root, path: place.root });
      return denied('FileServer.attach below the root of a file server that does not say where an attach ends, through a path-filtered export (attach its root and walk)');
    }
    const real = this.#whereReported(place.serverRoot, reported, 'an attach');
    return typeof real === 'string' ? this.#at({ kind: 'file', root: real, path: real }) : real;
  }

  /**
   * What resolve(path) returned: `rest` is what is left of `path` below the capability's
   * own root (a view hands out a member confined to where it shows it), so a FileServer's
   * tree, or a Namespace's root, lies at `path` minus `rest`. Anything else has no path.
   */
  #placeResolved(path: string, results: Struct): MembranePolicy {
    const r = paramsAs(Namespace_Resolve$Results, results).result;
    if (!r._isOk) return this.#at({ kind: 'unknown' });
    const rest = r.ok.rest;
    const restNames = rest === '' ? 0 : rest.split('/').filter((n) => n !== '').length;
    const names = path === '/' ? [] : path.slice(1).split('/');
    if (restNames > names.length) return this.#at({ kind: 'unknown' });
    const root = `/${names.slice(0, names.length - restNames).join('/')}`;
    if (rest !== '' && names.slice(names.length - restNames).join('/') !== cleanRel(rest)) return this.#at({ kind: 'unknown' });
    if (r.ok.interfaceId === FILE_SERVER) return this.#at({ kind: 'fileServer', root });
    if (r.ok.interfaceId === NS && rest === '') return this.#at({ kind: 'namespace', base: root });
    return this.#at({ kind: 'unknown' });
  }

  #allowedUnder(base: string, p: string): NsError | undefined {
    let path: string;
    try {
      path = under(base, p);
    } catch (e) {
      // A path that does not parse is refused here, never let through unjudged.
      return e instanceof NsError ? e : new NsError('NS_ERR_INVALID_PATH', 'malformed path');
    }
    return this.#allowed(path);
  }

  #allowed(path: string): NsError | undefined {
    return this.pathAllowed(path) ? undefined : denied(`path ${path.slice(0, 60)} is not exported`);
  }

  #hasPatterns(): boolean {
    return this.#filter.include.length > 0 || this.#filter.exclude.length > 0;
  }

  /** exportfs -P on a cleaned export path: `/a/b` is tested as `./a/b` (the root as `.`). */
  pathAllowed(path: string): boolean {
    const rel = path === '/' ? '.' : `.${path}`;
    return this.#filter.include.every((re) => re.test(rel)) && !this.#filter.exclude.some((re) => re.test(rel));
  }
}
