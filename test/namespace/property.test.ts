// Property tests: random operation sequences run on MountTable and on a deliberately
// simple reference model (a flat map from cleaned path to union stack, searched by brute
// force) must agree on every lookup and listing; describe() then apply() on a clean
// namespace must rebuild the same namespace; forks must stay independent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NsError } from '../../src/errors.js';
import {
  FILE_SERVER_INTERFACE_ID,
  MountTable,
  type Binding,
  type Member,
  type Position,
} from '../../src/namespace/index.js';

const LEAF = 0x0123456789abcdefn;
const LABELS = ['A', 'B', 'C', 'L'] as const;
type Label = (typeof LABELS)[number];
const MEMBERS = new Map<string, Member<string>>(
  LABELS.map((l) => [
    l,
    { cap: `cap-${l}`, interfaceId: l === 'L' ? LEAF : FILE_SERVER_INTERFACE_ID, label: l },
  ]),
);
const member = (l: string): Member<string> => MEMBERS.get(l) as Member<string>;

/** The directory contents every member "has": fixed, with names that collide on purpose. */
function content(label: string, dir: string): string[] | undefined {
  if (label === 'B' && dir.includes('c')) return undefined;
  const depth = dir === '' ? 0 : dir.split('/').length;
  return label === 'C' ? ['z', `c${depth}`, 'a'] : ['a', `${label.toLowerCase()}${depth}`, 'z'];
}

// ---- the reference model -------------------------------------------------------------

interface MB {
  readonly label: string;
  readonly spec: string;
  readonly create: boolean;
}

class ModelError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

function modelClean(path: string): string[] {
  const out: string[] = [];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return out;
}

const key = (comps: readonly string[]): string => '/' + comps.join('/');
const join = (a: string, b: string): string => [a, b].filter((x) => x !== '').join('/');
const isFs = (label: string): boolean => label !== 'L';

class Model {
  mounts = new Map<string, MB[]>();

  lookup(path: string): { mountPoint: string | undefined; stack: MB[]; rest: string } {
    const comps = modelClean(path);
    for (let k = comps.length; k >= 0; k--) {
      const stack = this.mounts.get(key(comps.slice(0, k)));
      if (stack)
        return { mountPoint: key(comps.slice(0, k)), stack, rest: comps.slice(k).join('/') };
    }
    const here = key(comps);
    const below = [...this.mounts.keys()].some((m) =>
      m.startsWith(here === '/' ? '/' : here + '/'),
    );
    if (comps.length > 0 && !below) throw new ModelError('NS_ERR_NOT_FOUND');
    return { mountPoint: undefined, stack: [], rest: '' };
  }

  resolve(path: string): { label: string; spec: string; rest: string; mountPoint: string } {
    const l = this.lookup(path);
    if (l.mountPoint === undefined) throw new ModelError('NS_ERR_NOT_FOUND');
    const cands = l.rest === '' ? l.stack : l.stack.filter((b) => isFs(b.label));
    const first = cands[0];
    if (first === undefined) throw new ModelError('NS_ERR_NOT_DIR');
    return { label: first.label, spec: first.spec, rest: l.rest, mountPoint: l.mountPoint };
  }

  /** MCREATE: where a new file `path` goes, as [kind, labels in order, rest]. */
  createTarget(path: string): [string, string[], string] {
    const comps = modelClean(path);
    if (comps.length === 0) throw new ModelError('NS_ERR_EXISTS');
    const here = key(comps);
    if ([...this.mounts.keys()].some((m) => m === here || m.startsWith(here + '/')))
      throw new ModelError('NS_ERR_EXISTS');
    const parent = this.lookup(key(comps.slice(0, -1)));
    if (parent.mountPoint === undefined) throw new ModelError('NS_ERR_PERMISSION');
    const fs = parent.stack.filter((b) => isFs(b.label));
    if (fs.length === 0) throw new ModelError('NS_ERR_NOT_DIR');
    const name = comps[comps.length - 1] as string;
    if (parent.rest === '') {
      const c = fs.find((b) => b.create);
      if (c === undefined) throw new ModelError('NS_ERR_PERMISSION');
      return ['member', [c.label], name];
    }
    return ['walk', fs.map((b) => b.label), join(parent.rest, name)];
  }

  list(path: string): string[] {
    const l = this.lookup(path);
    const here = key(modelClean(path));
    const children = new Set<string>();
    for (const m of this.mounts.keys()) {
      const base = here === '/' ? '/' : here + '/';
      if (m.startsWith(base) && m !== here)
        children.add(m.slice(base.length).split('/')[0] as string);
    }
    const fs = l.stack.filter((b) => isFs(b.label));
    if (l.mountPoint !== undefined && fs.length === 0 && children.size === 0)
      throw new ModelError('NS_ERR_NOT_DIR');
    const names = [...children].sort();
    for (const b of fs) {
      const entries = content(b.label, join(b.spec, l.rest));
      if (entries === undefined) continue;
      for (const e of entries) if (!names.includes(e)) names.push(e);
      if (l.rest !== '') break;
    }
    return names;
  }

  place(path: string, added: MB[], position: Position): void {
    const k = key(modelClean(path));
    const old = this.mounts.get(k) ?? [];
    const stack =
      position === 'replace'
        ? added
        : position === 'before'
          ? [...added, ...old]
          : [...old, ...added];
    if (stack.length === 0) this.mounts.delete(k);
    else this.mounts.set(k, stack);
  }
}

// ---- operations ----------------------------------------------------------------------

type Op =
  | { op: 'bind'; path: string; label: Label; position: Position; create: boolean; spec: string }
  | { op: 'bindPath'; from: string; to: string; position: Position; create: boolean }
  | { op: 'unmount'; path: string; label: Label | undefined }
  | { op: 'clear' };

const rawPath = fc
  .array(fc.constantFrom('a', 'b', 'c', 'a', 'b', '..', '.', ''), { maxLength: 4 })
  .map((p) => '/' + p.join('/'));
const position = fc.constantFrom<Position>('replace', 'before', 'after');
const label = fc.constantFrom(...LABELS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('bind' as const),
      path: rawPath,
      label,
      position,
      create: fc.boolean(),
      spec: fc.constantFrom('', '', 'a', 'b/c'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('bindPath' as const),
      from: rawPath,
      to: rawPath,
      position,
      create: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('unmount' as const),
      path: rawPath,
      label: fc.option(label, { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

function runOnTable(t: MountTable<string>, o: Op): void {
  switch (o.op) {
    case 'bind':
      return t.bind(o.path, member(o.label), {
        position: o.position,
        create: o.create,
        spec: o.spec,
      });
    case 'bindPath':
      return t.bindPath(o.from, o.to, { position: o.position, create: o.create });
    case 'unmount':
      return t.unmount(o.path, o.label);
    case 'clear':
      return t.clear();
  }
}

function runOnModel(m: Model, o: Op): void {
  switch (o.op) {
    case 'bind':
      if (o.spec !== '' && !isFs(o.label)) throw new ModelError('NS_ERR_NOT_DIR');
      return m.place(o.path, [{ label: o.label, spec: o.spec, create: o.create }], o.position);
    case 'bindPath': {
      const l = m.lookup(o.from);
      if (l.mountPoint === undefined) throw new ModelError('NS_ERR_NOT_FOUND');
      const copied =
        l.rest === ''
          ? l.stack
          : l.stack.filter((b) => isFs(b.label)).map((b) => ({ ...b, spec: join(b.spec, l.rest) }));
      if (copied.length === 0) throw new ModelError('NS_ERR_NOT_DIR');
      return m.place(
        o.to,
        copied.map((b) => ({ ...b, create: o.create })),
        o.position,
      );
    }
    case 'unmount': {
      const k = key(modelClean(o.path));
      const stack = m.mounts.get(k);
      if (!stack) throw new ModelError('NS_ERR_NOT_FOUND');
      const left = o.label === undefined ? [] : stack.filter((b) => b.label !== o.label);
      if (left.length === stack.length) throw new ModelError('NS_ERR_NOT_FOUND');
      if (left.length === 0) m.mounts.delete(k);
      else m.mounts.set(k, left);
      return;
    }
    case 'clear':
      m.mounts.clear();
  }
}

/** The outcome of `f` as comparable data: its value, or the error code it threw. */
function outcome<T>(f: () => T): T | { error: string } {
  try {
    return f();
  } catch (e) {
    if (e instanceof NsError || e instanceof ModelError) return { error: e.code };
    throw e;
  }
}

const UNIVERSE: string[] = [];
for (const a of ['', 'a', 'b', 'c']) {
  for (const b of a === '' ? [''] : ['', 'a', 'b', 'c']) {
    for (const c of b === '' ? [''] : ['', 'a', 'b', 'c'])
      UNIVERSE.push('/' + [a, b, c].filter((x) => x !== '').join('/'));
  }
}

function tableResolve(
  t: MountTable<string>,
  p: string,
): { label: string; spec: string; rest: string; mountPoint: string } {
  const r = t.resolve(p);
  return {
    label: r.binding.member.label,
    spec: r.binding.spec,
    rest: r.rest,
    mountPoint: r.mountPoint,
  };
}

function tableCreate(t: MountTable<string>, p: string): [string, string[], string] {
  const c = t.createTarget(p);
  return c.kind === 'member'
    ? ['member', [c.binding.member.label], c.rest]
    : ['walk', c.bindings.map((b) => b.member.label), c.rest];
}

function tableList(t: MountTable<string>, p: string): string[] {
  return t
    .listUnion(p, (b: Binding<string>, dir) =>
      content(b.member.label, dir)?.map((name) => ({ name })),
    )
    .map((e) => e.name);
}

function agree(t: MountTable<string>, m: Model, context: string): void {
  for (const p of UNIVERSE) {
    assert.deepEqual(
      outcome(() => tableResolve(t, p)),
      outcome(() => m.resolve(p)),
      `resolve ${p} after ${context}`,
    );
    assert.deepEqual(
      outcome(() => tableList(t, p)),
      outcome(() => m.list(p)),
      `list ${p} after ${context}`,
    );
    assert.deepEqual(
      outcome(() => tableCreate(t, p)),
      outcome(() => m.createTarget(p)),
      `createTarget ${p} after ${context}`,
    );
  }
  const mounts = [...t.mounts()].map((mp) => [
    mp.path,
    mp.stack.map((b) => [b.member.label, b.spec, b.create]),
  ]);
  const cmp = (x: string, y: string): number => {
    const a = modelClean(x);
    const b = modelClean(y);
    for (let i = 0; i < Math.min(a.length, b.length); i++)
      if (a[i] !== b[i]) return (a[i] as string) < (b[i] as string) ? -1 : 1;
    return a.length - b.length;
  };
  const want = [...m.mounts.entries()]
    .sort((x, y) => cmp(x[0], y[0]))
    .map(([k, s]) => [k, s.map((b) => [b.label, b.spec, b.create])]);
  assert.deepEqual(mounts, want, `mount points after ${context}`);
}

function observe(t: MountTable<string>): unknown {
  return UNIVERSE.map((p) => [outcome(() => tableResolve(t, p)), outcome(() => tableList(t, p))]);
}

test('random operation sequences: MountTable and the reference model agree on every lookup, listing and create target', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
      const t = new MountTable<string>();
      const m = new Model();
      ops.forEach((o, i) => {
        const a = outcome(() => runOnTable(t, o));
        const b = outcome(() => runOnModel(m, o));
        assert.deepEqual(a, b, `op ${i} ${JSON.stringify(o)}`);
        agree(t, m, `op ${i} ${JSON.stringify(o)}`);
      });
    }),
    { numRuns: 100 },
  );
});

test('describe() then apply() on a clean namespace reproduces the namespace (property)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
      const t = new MountTable<string>();
      for (const o of ops) outcome(() => runOnTable(t, o));
      const text = t.describe();
      const u = new MountTable<string>();
      u.apply(text, { resolve: (l) => MEMBERS.get(l) });
      assert.equal(u.describe(), text);
      assert.deepEqual(observe(u), observe(t));
    }),
    { numRuns: 150 },
  );
});

test('mapCaps() gives what describe() then apply() with a resolver gives, each member mapped once, in mount order (property)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), fc.array(opArb, { maxLength: 10 }), (ops, after) => {
      const t = new MountTable<string>();
      for (const o of ops) outcome(() => runOnTable(t, o));
      const asked: string[] = [];
      const u = t.mapCaps((m) => {
        asked.push(m.label);
        return `granted-${m.cap}`;
      });
      // The reference: the namespace's text run on a clean namespace, each label resolved
      // to its mapped member (the Gate's way before mapCaps).
      const w = new MountTable<string>();
      w.apply(t.describe(), { resolve: (l) => ({ ...member(l), cap: `granted-${member(l).cap}` }) });
      assert.equal(u.describe(), w.describe());
      assert.deepEqual(observe(u), observe(w));
      const order = [...new Set([...t.mounts()].flatMap((mp) => mp.stack.map((b) => b.member.label)))];
      assert.deepEqual(asked, order, 'one call per member, in the order of mounts()');
      u.forEachBinding((b) => assert.equal(b.member.cap, `granted-cap-${b.member.label}`));
      // An independent namespace: changing it leaves the original as it was.
      const seen = observe(t);
      for (const o of after) outcome(() => runOnTable(u, o));
      assert.deepEqual(observe(t), seen);
    }),
    { numRuns: 150 },
  );
});

test('a fork and its original are independent both ways (property)', () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 15 }),
      fc.array(opArb, { maxLength: 15 }),
      fc.array(opArb, { maxLength: 15 }),
      (setup, onFork, onOriginal) => {
        const t = new MountTable<string>();
        for (const o of setup) outcome(() => runOnTable(t, o));
        const f = t.fork();
        const seen = observe(t);
        for (const o of onFork) outcome(() => runOnTable(f, o));
        assert.deepEqual(observe(t), seen);
        const forkSeen = observe(f);
        for (const o of onOriginal) outcome(() => runOnTable(t, o));
        assert.deepEqual(observe(f), forkSeen);
      },
    ),
    { numRuns: 100 },
  );
});

test('a sub view answers as the namespace does for the same place below its prefix (property)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 20 }), fc.constantFrom(...UNIVERSE), (ops, prefix) => {
      const t = new MountTable<string>();
      for (const o of ops) outcome(() => runOnTable(t, o));
      const v: MountTable<string> | { error: string } = outcome(() => t.sub(prefix));
      if (!(v instanceof MountTable)) return;
      // The view's text rebuilds, on a clean namespace, what a fork of the view holds.
      const u = new MountTable<string>();
      u.apply(v.describe(), { resolve: (l) => MEMBERS.get(l) });
      assert.equal(u.describe(), v.fork().describe());
      assert.deepEqual(observe(u), observe(v.fork()));
      for (const p of UNIVERSE) {
        const full = prefix === '/' ? p : p === '/' ? prefix : prefix + p;
        const reach = (tt: MountTable<string>, q: string): string[] | { error: string } =>
          outcome(() => {
            const r = tt.resolve(q);
            return r.bindings.map((b) => `${b.member.label}:${join(b.spec, r.rest)}`);
          });
        assert.deepEqual(reach(v, p), reach(t, full), `${p} in sub(${prefix})`);
        const list = (tt: MountTable<string>, q: string): string[] | { error: string } =>
          outcome(() => tableList(tt, q));
        assert.deepEqual(list(v, p), list(t, full), `list ${p} in sub(${prefix})`);
      }
    }),
    { numRuns: 100 },
  );
});
