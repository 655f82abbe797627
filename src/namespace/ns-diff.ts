/**
 * Structural differences between namespaces: ANTS's cpns, addns and subns, made to
 * understand what a namespace is. Pure and synchronous.
 *
 * ANTS's scripts compare /proc/N/ns files line by line, and its paper calls them naive
 * because later binds depend on earlier ones. Here a namespace is compared as what it
 * is: mount points, each with its union stack in order, each binding a label (the
 * capability), a spec (a path inside it) and the create flag. That form has no
 * dependencies left: `describe()` prints every binding as a `mount` of a label, never as
 * a `bind` of a path, so each mount point can be rebuilt on its own, and the shortest
 * list of operations is the sum of the shortest list for each mount point.
 *
 * For one mount point, going from stack A to stack B, the operations are namespace(6)'s:
 * `mount` (replace: the stack becomes [x]), `mount -b` (push front), `mount -a` (push
 * back), `unmount label` (every binding of that label goes) and `unmount` (all of it).
 * A shortest list either starts with a replace (B.length operations: the replace and the
 * appends), or keeps a contiguous run B[i..j) of A's bindings: it unmounts every label of
 * A that the run does not hold (A filtered to the run's labels must then be exactly the
 * run), then pushes B[0..i) to the front and B[j..] to the back — |removed| + i +
 * (B.length - j) operations. Anything else (adding a binding and removing it again, a
 * replace after other operations) is longer. `diffNamespaces` tries every run; on a tie,
 * keeping wins over replacing (what is kept is never let go, even for a moment).
 */
import { NsError } from '../errors.js';
import { FILE_SERVER_INTERFACE_ID } from './interfaces.js';
import { MountTable, type Member } from './mount-table.js';
import { formatFlags, quoteWord, type ParseOptions, type Position } from './ns-text.js';
import { parseSpec } from './path.js';

/** One binding of a union stack, as namespace text names it. */
export interface NsBinding {
  readonly label: string;
  /** Path inside the capability, cleaned and relative ('' for its root). */
  readonly spec: string;
  readonly create: boolean;
}

/** A namespace's structure: each mount point's union stack, in search order. */
export type NsModel = ReadonlyMap<string, readonly NsBinding[]>;

/** One operation of a difference, as a namespace(6) line says it. */
export type NsOp =
  | {
      readonly op: 'mount';
      readonly position: Position;
      readonly create: boolean;
      readonly label: string;
      readonly path: string;
      /** As written in the line: relative to what the target names by `label` (see `bases`). */
      readonly spec: string;
    }
  | { readonly op: 'unmount'; readonly path: string; readonly label?: string };

/** The structure of a table: its mount points and their stacks (labels, specs, create). */
export function modelOfTable(table: MountTable<unknown>): NsModel {
  const out = new Map<string, NsBinding[]>();
  for (const mp of table.mounts()) {
    out.set(
      mp.path,
      mp.stack.map((b) => ({ label: b.member.label, spec: b.spec, create: b.create })),
    );
  }
  return out;
}

/**
 * The structure namespace text builds on an empty namespace. Labels stand for
 * capabilities, one each; every label is taken for a container (a capability with names
 * below it), so `bind` lines below a mount point are evaluated as in a file tree. The
 * text `describe()` prints rebuilds the namespace it came from exactly.
 * @throws NsError NS_ERR_PARSE (with line and column), and what a line's bind or unmount
 *   throws (naming its line).
 */
export function modelOfText(text: string, options: ParseOptions = {}): NsModel {
  const table = new MountTable<string>();
  const members = new Map<string, Member<string>>();
  table.apply(text, {
    ...options,
    resolve: (label) => {
      let m = members.get(label);
      if (m === undefined) members.set(label, (m = { cap: label, interfaceId: FILE_SERVER_INTERFACE_ID, label }));
      return m;
    },
  });
  return modelOfTable(table);
}

/**
 * What a `mount` line's label names in a namespace that `apply`s it: the first binding of
 * the label in mount order (as the Namespace server resolves labels), whose spec the
 * line's own spec is taken below. Labels the namespace does not hold are not in the map.
 */
export function labelBases(model: NsModel): Map<string, string> {
  const out = new Map<string, string>();
  for (const path of sortedPaths(model.keys())) {
    for (const b of model.get(path) ?? []) if (!out.has(b.label)) out.set(b.label, b.spec);
  }
  return out;
}

function key(b: NsBinding): string {
  return `${b.label}\u0000${b.spec}\u0000${b.create ? 1 : 0}`;
}

function sameStack(a: readonly NsBinding[], b: readonly NsBinding[]): boolean {
  return a.length === b.length && a.every((x, i) => key(x) === key(b[i] as NsBinding));
}

/** Paths in the order namespace text lists them: parents first, siblings by name. */
function sortedPaths(paths: Iterable<string>): string[] {
  const split = (p: string): string[] => (p === '/' ? [] : p.slice(1).split('/'));
  return [...paths].sort((x, y) => {
    const a = split(x);
    const b = split(y);
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const s = a[i] as string;
      const t = b[i] as string;
      if (s !== t) return s < t ? -1 : 1;
    }
    return a.length - b.length;
  });
}

/** The spec a line must give for `spec` when its label names the capability below `base`. */
function relativeSpec(label: string, spec: string, base: string | undefined, path: string): string {
  if (base === undefined || base === '') return spec;
  if (spec === base) return '';
  if (spec.startsWith(`${base}/`)) return spec.slice(base.length + 1);
  throw new NsError(
    'NS_ERR_PERMISSION',
    `cannot mount '${label}' at '${path}' with spec '${spec}': the target holds '${label}' only below '${base}'`,
  );
}

/**
 * The shortest list of operations that turns stack `a` at `path` into stack `b` (see the
 * module comment), with mount specs made relative to `bases`.
 */
export function diffStack(
  path: string,
  a: readonly NsBinding[],
  b: readonly NsBinding[],
  bases: ReadonlyMap<string, string> = new Map(),
): NsOp[] {
  if (sameStack(a, b)) return [];
  if (b.length === 0) return [{ op: 'unmount', path }];
  const mount = (x: NsBinding, position: Position): NsOp => ({
    op: 'mount',
    position,
    create: x.create,
    label: x.label,
    path,
    spec: relativeSpec(x.label, x.spec, bases.get(x.label), path),
  });
  // Replace first, then append the rest.
  let best: { cost: number; i: number; j: number; removed: string[] } | undefined;
  const aLabels: string[] = [];
  for (const x of a) if (!aLabels.includes(x.label)) aLabels.push(x.label);
  if (a.length > 0) {
    for (let i = 0; i <= b.length; i++) {
      for (let j = i; j <= b.length; j++) {
        // Keep A's bindings of the run's labels: they must be the run, exactly.
        const run = b.slice(i, j);
        const keep = new Set(run.map((x) => x.label));
        if ([...keep].some((l) => !aLabels.includes(l))) continue;
        if (!sameStack(a.filter((x) => keep.has(x.label)), run)) continue;
        const removed = aLabels.filter((l) => !keep.has(l));
        if (run.length === 0 && removed.length === aLabels.length) continue; // a replace does it in fewer
        const cost = removed.length + i + (b.length - j);
        if (best === undefined || cost < best.cost) best = { cost, i, j, removed };
      }
    }
  }
  if (best === undefined || best.cost > b.length) {
    return b.map((x, k) => mount(x, k === 0 ? 'replace' : 'after'));
  }
  const ops: NsOp[] = best.removed.map((label) => ({ op: 'unmount', path, label }));
  for (let k = best.i - 1; k >= 0; k--) ops.push(mount(b[k] as NsBinding, 'before'));
  for (let k = best.j; k < b.length; k++) ops.push(mount(b[k] as NsBinding, 'after'));
  return ops;
}

/** Options of `diffNamespaces`. */
export interface DiffOptions {
  /**
   * What the namespace the operations are applied to names by each label (the spec of
   * its first binding: `labelBases`). Default: `labelBases(a)`, right when the
   * operations go to the namespace `a` was read from.
   */
  readonly bases?: ReadonlyMap<string, string>;
}

/**
 * cpns: the shortest ordered list of operations that turns `a` into `b`, mount point by
 * mount point (parents first). Applying `formatOps(diffNamespaces(a, b))` to the
 * namespace `a` describes gives one that `b` describes.
 * @throws NsError NS_ERR_PERMISSION when `b` shows a label at a spec the target cannot
 *   name (it holds that capability only below another path).
 */
export function diffNamespaces(a: NsModel, b: NsModel, options: DiffOptions = {}): NsOp[] {
  const bases = options.bases ?? labelBases(a);
  const ops: NsOp[] = [];
  for (const path of sortedPaths(new Set([...a.keys(), ...b.keys()]))) {
    ops.push(...diffStack(path, a.get(path) ?? [], b.get(path) ?? [], bases));
  }
  return ops;
}

/**
 * addns: `a` with what `b` has and `a` lacks. At a mount point both have, the bindings
 * of `b` that `a` lacks go before `a`'s when `b` lists them before every binding the two
 * share, after them otherwise; mount points only `b` has come whole.
 */
export function addModels(a: NsModel, b: NsModel): NsModel {
  const out = new Map(a);
  for (const [path, bs] of b) {
    const as = a.get(path) ?? [];
    const have = new Set(as.map(key));
    const firstShared = bs.findIndex((x) => have.has(key(x)));
    const missing = (x: NsBinding): boolean => !have.has(key(x));
    const front = firstShared < 0 ? [] : bs.slice(0, firstShared).filter(missing);
    const back = (firstShared < 0 ? bs : bs.slice(firstShared)).filter(missing);
    if (front.length + back.length > 0) out.set(path, [...front, ...as, ...back]);
  }
  return out;
}

/** subns: `a` without the bindings `b` has at the same mount points (label, spec, create). */
export function subtractModels(a: NsModel, b: NsModel): NsModel {
  const out = new Map<string, readonly NsBinding[]>();
  for (const [path, as] of a) {
    const drop = new Set((b.get(path) ?? []).map(key));
    const left = as.filter((x) => !drop.has(key(x)));
    if (left.length > 0) out.set(path, left);
  }
  return out;
}

/** The operations as namespace(6) lines, one each, ending in a newline ('' for none). */
export function formatOps(ops: readonly NsOp[]): string {
  const lines = ops.map((o) => {
    if (o.op === 'unmount') {
      return ['unmount', ...(o.label !== undefined ? [quoteWord(o.label)] : []), quoteWord(o.path)].join(' ');
    }
    const flags = formatFlags(o.position, o.create);
    const words = ['mount', ...(flags ? [flags] : []), quoteWord(o.label), quoteWord(o.path)];
    if (o.spec !== '') words.push(quoteWord(parseSpec(o.spec).join('/')));
    return words.join(' ');
  });
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** A model as `describe()` would print it. */
export function formatModel(model: NsModel): string {
  const ops: NsOp[] = [];
  for (const path of sortedPaths(model.keys())) {
    (model.get(path) ?? []).forEach((b, i) =>
      ops.push({ op: 'mount', position: i === 0 ? 'replace' : 'after', create: b.create, label: b.label, path, spec: b.spec }),
    );
  }
  return formatOps(ops);
}
