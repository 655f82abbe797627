/**
 * cpns/addns/subns's core (src/namespace/ns-diff.ts): the difference of two namespaces
 * as the shortest list of namespace(6) operations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FILE_SERVER_INTERFACE_ID, MountTable, type Member } from '../../src/namespace/index.js';
import {
  addModels,
  diffNamespaces,
  diffStack,
  formatModel,
  formatOps,
  labelBases,
  modelOfTable,
  modelOfText,
  subtractModels,
  type NsBinding,
  type NsModel,
} from '../../src/namespace/ns-diff.js';

const LABELS = ['ram', 'data', 'clock', 'hub'];
const PATHS = ['/', '/a', '/a/b', '/bin', '/n/hub', '/tmp'];
const SPECS = ['', 'x', 'x/y'];

function members(): Map<string, Member<string>> {
  return new Map(LABELS.map((l) => [l, { cap: l, interfaceId: FILE_SERVER_INTERFACE_ID, label: l }]));
}

/** Builds a table from a model, by binding every stack in order. */
function tableOf(model: NsModel, ms: Map<string, Member<string>>): MountTable<string> {
  const t = new MountTable<string>();
  for (const [path, stack] of model) {
    for (const b of stack) t.bind(path, ms.get(b.label)!, { position: 'after', create: b.create, spec: b.spec });
  }
  return t;
}

/** Applies text to `t` as the Namespace server does: a label names its first binding, spec included. */
function applyAsServer(t: MountTable<string>, text: string, ms: Map<string, Member<string>>): void {
  const bases = labelBases(modelOfTable(t));
  t.apply(text, {
    resolve: (label) => {
      const m = ms.get(label);
      if (m === undefined) return undefined;
      return { member: m, spec: bases.get(label) ?? '' };
    },
  });
}

const binding = fc.record({
  label: fc.constantFrom(...LABELS),
  spec: fc.constantFrom(...SPECS),
  create: fc.boolean(),
});
const model = fc
  .dictionary(fc.constantFrom(...PATHS), fc.array(binding, { minLength: 1, maxLength: 4 }), { maxKeys: PATHS.length })
  .map((d) => new Map(Object.entries(d)) as NsModel);

test('applying diff(A, B) to A gives B exactly (property, labels named as the server names them)', () => {
  fc.assert(
    fc.property(model, model, (a, b) => {
      const ms = members();
      const t = tableOf(a, ms);
      // B may only use a label at a spec below what A names by it (the target's view).
      const bases = labelBases(a);
      const reachable = [...b.values()].flat().every((x) => {
        const base = bases.get(x.label) ?? '';
        return base === '' || x.spec === base || x.spec.startsWith(`${base}/`);
      });
      fc.pre(reachable);
      applyAsServer(t, formatOps(diffNamespaces(a, b)), ms);
      assert.equal(t.describe(), formatModel(b));
      assert.equal(t.describe(), tableOf(b, ms).describe());
    }),
    { numRuns: 400 },
  );
});

test('diff(A, A) is empty, and diff of a namespace from its own describe text is empty', () => {
  fc.assert(
    fc.property(model, (a) => {
      assert.deepEqual(diffNamespaces(a, a), []);
      const ms = members();
      assert.deepEqual(diffNamespaces(a, modelOfText(tableOf(a, ms).describe())), []);
    }),
  );
});

/** Every stack reachable from `a` in `n` operations (replace/before/after mounts, unmounts). */
function shortestByBfs(a: readonly NsBinding[], b: readonly NsBinding[], alphabet: readonly NsBinding[]): number {
  const k = (s: readonly NsBinding[]): string => s.map((x) => `${x.label}:${x.spec}:${x.create}`).join('|');
  const goal = k(b);
  let frontier: (readonly NsBinding[])[] = [a];
  const seen = new Set([k(a)]);
  for (let depth = 0; depth <= b.length + a.length + 1; depth++) {
    if (frontier.some((s) => k(s) === goal)) return depth;
    const next: (readonly NsBinding[])[] = [];
    const push = (s: readonly NsBinding[]): void => {
      if (s.length > 5 || seen.has(k(s))) return;
      seen.add(k(s));
      next.push(s);
    };
    for (const s of frontier) {
      push([]);
      for (const l of new Set(s.map((x) => x.label))) push(s.filter((x) => x.label !== l));
      for (const x of alphabet) {
        push([x]);
        push([x, ...s]);
        push([...s, x]);
      }
    }
    frontier = next;
  }
  return Infinity;
}

test('the operations for one mount point are as few as a breadth-first search finds (property)', () => {
  const small = fc.record({ label: fc.constantFrom('p', 'q', 'r'), spec: fc.constantFrom('', 's'), create: fc.constant(false) });
  const stack = fc.array(small, { maxLength: 3 });
  fc.assert(
    fc.property(stack, stack, (a, b) => {
      const alphabet = ['p', 'q', 'r'].flatMap((label) => ['', 's'].map((spec) => ({ label, spec, create: false })));
      assert.equal(diffStack('/x', a, b).length, shortestByBfs(a, b, alphabet));
    }),
    { numRuns: 300 },
  );
});

test('a run kept in the middle costs only what changes around it', () => {
  const x = (label: string): NsBinding => ({ label, spec: '', create: false });
  assert.equal(formatOps(diffStack('/bin', [x('a'), x('b')], [x('c'), x('a'), x('b'), x('d')])), 'mount -b c /bin\nmount -a d /bin\n');
  assert.equal(formatOps(diffStack('/bin', [x('a'), x('b'), x('c')], [x('a'), x('c')])), 'unmount b /bin\n');
  assert.equal(formatOps(diffStack('/bin', [x('a')], [])), 'unmount /bin\n');
  assert.equal(formatOps(diffStack('/bin', [], [x('a'), x('b')])), 'mount a /bin\nmount -a b /bin\n');
});

test('a label the target holds only below a path is mounted relative to it, and never above it', () => {
  const a = modelOfText('mount data /pub pub\n');
  const b = modelOfText('mount data /pub pub\nmount data /docs pub/docs\n');
  assert.equal(formatOps(diffNamespaces(a, b)), 'mount data /docs docs\n');
  const c = modelOfText('mount data /pub pub\nmount data /all\n');
  assert.throws(() => diffNamespaces(a, c), /holds 'data' only below 'pub'/);
});

test('addns adds what the model has (in its order around shared bindings); subns takes away what it has', () => {
  const a = modelOfText('mount rc /bin\nmount -a amd64 /bin\nmount ram /tmp\n');
  const b = modelOfText('mount home /bin\nmount -a rc /bin\nmount -a extra /bin\nmount hub /n/hub\n');
  assert.equal(formatModel(addModels(a, b)), 'mount home /bin\nmount -a rc /bin\nmount -a amd64 /bin\nmount -a extra /bin\nmount hub /n/hub\nmount ram /tmp\n');
  assert.equal(formatOps(diffNamespaces(a, addModels(a, b))), 'mount -b home /bin\nmount -a extra /bin\nmount hub /n/hub\n');
  assert.equal(formatModel(subtractModels(a, b)), 'mount amd64 /bin\nmount ram /tmp\n');
  assert.equal(formatOps(diffNamespaces(a, subtractModels(a, b))), 'unmount rc /bin\n');
});

test('text with bind lines is compared by what it builds, not line by line (ANTS section IV)', () => {
  // Two texts that differ line by line but build the same namespace.
  const a = modelOfText('mount data /data\nbind /data/pub /pub\n');
  const b = modelOfText('mount data /pub pub\nmount data /data\n');
  assert.deepEqual(diffNamespaces(a, b), []);
});
