import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PersistentMap } from '../../src/namespace/index.js';

type MapOp = { set: string; value: number } | { del: string };

const keyArb = fc.oneof(
  fc.constantFrom('a', 'b', 'c', 'Aa', 'BB'),
  fc.string({ maxLength: 3 }),
  fc.nat(5000).map(String),
);
const opArb: fc.Arbitrary<MapOp> = fc.oneof(
  fc.record({ set: keyArb, value: fc.integer() }),
  fc.record({ del: keyArb }),
);

test('PersistentMap behaves as a Map, and every earlier version stays as it was (property)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
      let m = PersistentMap.empty<number>();
      const ref = new Map<string, number>();
      const versions: [PersistentMap<number>, Map<string, number>][] = [];
      for (const op of ops) {
        if ('set' in op) {
          m = m.set(op.set, op.value);
          ref.set(op.set, op.value);
        } else {
          m = m.delete(op.del);
          ref.delete(op.del);
        }
        versions.push([m, new Map(ref)]);
      }
      for (const [pm, want] of versions) {
        assert.equal(pm.size, want.size);
        assert.deepEqual(new Map(pm.entries()), want);
        // forEach visits exactly the same entries, each once.
        const visited: [string, number][] = [];
        pm.forEach((v, k) => visited.push([k, v]));
        assert.equal(visited.length, want.size);
        assert.deepEqual(new Map(visited), want);
        for (const [k, v] of want) assert.equal(pm.get(k), v);
      }
    }),
    { numRuns: 200 },
  );
});

test('every version stays right while versions share, extend and rebuild their index (property)', () => {
  // Wide maps answer lookups from a shared native index plus an overlay of later changes,
  // and rebuild the index when the overlay grows or after enough lookups without one.
  // Interleave changes on random versions with many lookups so every path is taken.
  const wide = Array.from({ length: 200 }, (_, i) => `w${i}`);
  const step = fc.record({
    key: fc.constantFrom(...wide),
    del: fc.boolean(),
    value: fc.integer(),
    from: fc.nat(),
    probes: fc.array(fc.tuple(fc.nat(), fc.constantFrom(...wide)), { minLength: 1, maxLength: 60 }),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
      let base = PersistentMap.empty<number>();
      const seed = new Map<string, number>();
      wide.slice(0, 150).forEach((k, i) => {
        base = base.set(k, i);
        seed.set(k, i);
      });
      const versions: [PersistentMap<number>, Map<string, number>][] = [[base, seed]];
      for (const s of steps) {
        // Branch from any earlier version: forks diverge as well as advance.
        const [pm, ref] = versions[s.from % versions.length] as [
          PersistentMap<number>,
          Map<string, number>,
        ];
        const next = new Map(ref);
        let m: PersistentMap<number>;
        if (s.del) {
          m = pm.delete(s.key);
          next.delete(s.key);
        } else {
          m = pm.set(s.key, s.value);
          next.set(s.key, s.value);
        }
        versions.push([m, next]);
        for (const [v, k] of s.probes) {
          const [pv, rv] = versions[v % versions.length] as [
            PersistentMap<number>,
            Map<string, number>,
          ];
          for (let i = 0; i < 3; i++) assert.equal(pv.get(k), rv.get(k));
        }
      }
      for (const [pm, want] of versions) {
        assert.equal(pm.size, want.size);
        for (const k of wide) assert.equal(pm.get(k), want.get(k));
      }
    }),
    { numRuns: 100 },
  );
});

test('PersistentMap holds 100k keys and deletes them all back to empty', () => {
  let m = PersistentMap.empty<number>();
  for (let i = 0; i < 100_000; i++) m = m.set(`k${i}`, i);
  assert.equal(m.size, 100_000);
  const half = m;
  for (let i = 0; i < 100_000; i += 2) m = m.delete(`k${i}`);
  assert.equal(m.size, 50_000);
  assert.equal(m.get('k2'), undefined);
  assert.equal(m.get('k3'), 3);
  assert.equal(half.get('k2'), 2);
  for (let i = 1; i < 100_000; i += 2) m = m.delete(`k${i}`);
  assert.equal(m.size, 0);
  assert.deepEqual([...m.entries()], []);
  assert.equal(m.delete('nothing'), m);
});

test('PersistentMap keeps keys whose 32-bit hashes collide apart', () => {
  // Found by search: these pairs have equal hashes (FNV-1a + murmur3 finalizer).
  const pairs: [string, string][] = [
    ['n512789', 'n749192'],
    ['n512788', 'n749193'],
  ];
  for (const [a, b] of pairs) {
    // Enough other keys that the map is a trie, not the small array form.
    let m = PersistentMap.empty<string>();
    const others = Array.from({ length: 20 }, (_, i) => `other${i}`);
    for (const o of others) m = m.set(o, o);
    m = m.set(a, 'A').set(b, 'B');
    assert.equal(m.get(a), 'A');
    assert.equal(m.get(b), 'B');
    assert.equal(m.size, 22);
    m = m.set(b, 'B2');
    assert.equal(m.get(b), 'B2');
    assert.equal(m.size, 22);
    const without = m.delete(a);
    assert.equal(without.get(a), undefined);
    assert.equal(without.get(b), 'B2');
    assert.equal(without.size, 21);
    assert.equal(m.get(a), 'A');
    assert.deepEqual(new Map(without.delete(b).entries()), new Map(others.map((o) => [o, o])));
  }
});

test('mapValues() keeps every key, maps every value once, and later changes to either version stay apart (property)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 300 }), fc.array(opArb, { maxLength: 40 }), (ops, after) => {
      let m = PersistentMap.empty<number>();
      for (const op of ops) m = 'set' in op ? m.set(op.set, op.value) : m.delete(op.del);
      const before = new Map(m.entries());
      let calls = 0;
      let d = m.mapValues((v) => {
        calls++;
        return `v${v}`;
      });
      assert.equal(calls, m.size);
      assert.equal(d.size, m.size);
      const want = new Map([...before].map(([k, v]) => [k, `v${v}`]));
      assert.deepEqual(new Map(d.entries()), want);
      for (const [k, v] of want) assert.equal(d.get(k), v);
      // The mapped map is a map like any other: it changes on its own.
      for (const op of after) {
        if ('set' in op) {
          d = d.set(op.set, `w${op.value}`);
          want.set(op.set, `w${op.value}`);
        } else {
          d = d.delete(op.del);
          want.delete(op.del);
        }
      }
      assert.deepEqual(new Map(d.entries()), want);
      for (const [k, v] of want) assert.equal(d.get(k), v);
      assert.deepEqual(new Map(m.entries()), before);
    }),
    { numRuns: 200 },
  );
});

test('mapValues() keeps keys whose hashes collide apart', () => {
  let m = PersistentMap.empty<string>();
  for (let i = 0; i < 20; i++) m = m.set(`other${i}`, `o${i}`);
  m = m.set('n512789', 'A').set('n749192', 'B');
  const d = m.mapValues((v) => v.toLowerCase());
  assert.equal(d.get('n512789'), 'a');
  assert.equal(d.get('n749192'), 'b');
  assert.equal(d.delete('n512789').get('n749192'), 'b');
  assert.equal(d.size, 22);
});
