/**
 * Namespace resolve cost (issue 2): `npm run bench -- namespace`.
 *
 * For 10, 1k and 100k mount points and a target mount point at depth 1, 2, 4, 8, 16 and
 * 32, the time of one `MountTable.resolve(path)` (path cleaning and validation included).
 * The filler mount points are siblings of the target's ancestors, spread evenly over its
 * levels, so every lookup step goes through a directory that the extra mounts make wide:
 * at depth 1, 100k mount points share the root directory. Printed: the median over
 * interleaved rounds (CPU time of this process, not wall time), and the ratio to 10
 * mounts at the same depth (flat = about 1).
 *
 * Then fork(): alone, and followed by the first bind in the fork (which pays the
 * copy-on-write of its path), at 10 and 100k mounts.
 *
 * Environment: NS_BENCH_ROUNDS (default 15), NS_BENCH_OPS (resolves per round, default 20000).
 */
import { FILE_SERVER_INTERFACE_ID, MountTable, type Member } from '../src/namespace/index.js';

const ROUNDS = Number(process.env['NS_BENCH_ROUNDS'] ?? 15);
const OPS = Number(process.env['NS_BENCH_OPS'] ?? 20000);
const SIZES = [10, 1_000, 100_000];
const DEPTHS = [1, 2, 4, 8, 16, 32];

const fs = (label: string): Member<null> => ({
  cap: null,
  interfaceId: FILE_SERVER_INTERFACE_ID,
  label,
});

interface Case {
  readonly mounts: number;
  readonly depth: number;
  readonly table: MountTable<null>;
  readonly path: string;
  readonly samples: number[];
}

/** `mounts` mount points: the target at depth `depth`, the rest siblings along its path. */
function build(mounts: number, depth: number): { table: MountTable<null>; path: string } {
  const t = new MountTable<null>();
  const chain = Array.from({ length: depth }, (_, i) => `level${i}`);
  const path = '/' + chain.join('/');
  t.bind(path, fs('target'));
  const fillers = mounts - 1;
  for (let j = 0; j < fillers; j++) {
    const level = j % depth;
    t.bind('/' + [...chain.slice(0, level), `f${j}`].join('/'), fs(`f${j}`));
  }
  let count = 0;
  for (const _ of t.mounts()) count++;
  if (count !== mounts) throw new Error(`built ${count} mounts, wanted ${mounts}`);
  return { table: t, path };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

let sink = 0;

/**
 * Nanoseconds of CPU time (user + system, this process) per call of `f`, over `n` calls.
 * CPU time rather than wall time: the machines are shared, and time spent waiting for a
 * core another process holds is not the namespace's cost.
 */
function time(n: number, f: () => void): number {
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) f();
  const d = process.cpuUsage(t0);
  return ((d.user + d.system) * 1000) / n;
}

const cases: Case[] = [];
const t0 = Date.now();
for (const mounts of SIZES) {
  for (const depth of DEPTHS) cases.push({ mounts, depth, ...build(mounts, depth), samples: [] });
}
console.log(
  `built ${cases.length} tables in ${Date.now() - t0} ms; ${ROUNDS} rounds of ${OPS} resolves each, interleaved`,
);

for (const c of cases) time(2000, () => (sink += c.table.resolve(c.path).rest.length)); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const c of cases)
    c.samples.push(time(OPS, () => (sink += c.table.resolve(c.path).rest.length + 1)));
}

const get = (mounts: number, depth: number): number =>
  median((cases.find((c) => c.mounts === mounts && c.depth === depth) as Case).samples);

console.log('\nresolve(path), ns of CPU time per call (median):');
console.log(
  ['depth', ...SIZES.map((s) => `${s} mounts`), '1k/10', '100k/10', '100k/1k']
    .map((h) => h.padStart(14))
    .join(''),
);
for (const depth of DEPTHS) {
  const [a, b, c] = SIZES.map((s) => get(s, depth)) as [number, number, number];
  console.log(
    [
      String(depth),
      a.toFixed(0),
      b.toFixed(0),
      c.toFixed(0),
      (b / a).toFixed(2),
      (c / a).toFixed(2),
      (c / b).toFixed(2),
    ]
      .map((x) => x.padStart(14))
      .join(''),
  );
}
console.log(
  '(at 10 mounts every directory on the path has at most 2 entries: the array form of PersistentMap)',
);

// fork(): O(1) sharing; the first bind in a fork copies the nodes on its path only.
const forkCases = [10, 100_000].map((mounts) => ({
  mounts,
  table: build(mounts, 8).table,
  alone: [] as number[],
  withBind: [] as number[],
}));
const FORKS = 2000;
for (let r = 0; r < ROUNDS; r++) {
  for (const c of forkCases) {
    c.alone.push(time(FORKS, () => (sink += c.table.fork().readOnly ? 1 : 0)));
    c.withBind.push(
      time(FORKS, () => {
        const f = c.table.fork();
        f.bind('/level0/level1/new', fs('new'));
        sink += f.readOnly ? 1 : 0;
      }),
    );
  }
}
console.log('\nfork() at depth-8 layout, ns of CPU time per call (median):');
console.log(['mounts', 'fork()', 'fork()+bind'].map((h) => h.padStart(14)).join(''));
for (const c of forkCases)
  console.log(
    [String(c.mounts), median(c.alone).toFixed(0), median(c.withBind).toFixed(0)]
      .map((x) => x.padStart(14))
      .join(''),
  );
const [small, big] = forkCases as [(typeof forkCases)[0], (typeof forkCases)[0]];
console.log(
  `ratio 100k/10: fork() ${(median(big.alone) / median(small.alone)).toFixed(2)}, fork()+bind ${(median(big.withBind) / median(small.withBind)).toFixed(2)}`,
);
if (sink === -1) console.log('unreachable');
