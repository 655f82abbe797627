#!/usr/bin/env node
// npm run bench: builds dist/ (benchmarks measure compiled code; tsx's loader costs about
// 2x on capnp-es) and runs every bench/*.bench.js... from dist-bench, in name order.
//
//   npm run bench                 all benchmarks
//   npm run bench -- namespace    only those whose file name contains "namespace"
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const filter = process.argv[2] ?? '';
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench.json'], {
  cwd: root,
  stdio: 'inherit',
});
execFileSync(process.execPath, [join(root, 'scripts', 'copy-gen.mjs'), 'dist-bench/src/gen'], { cwd: root, stdio: 'inherit' });
const dir = join(root, 'dist-bench', 'bench');
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.js') && f.includes(filter))
  .sort();
if (benches.length === 0) {
  console.error(`run-bench: no benchmark matches "${filter}"`);
  process.exit(1);
}
let failed = false;
for (const b of benches) {
  console.log(`\n=== ${b}`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, b)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
