#!/usr/bin/env node
// npm test: every test/**/*.test.ts through node:test with tsx. Node 20 expands no globs
// and `tsx --test` alone finds no .ts files, so the list is built here. A run in which no
// test executed is a failure, never a pass.
//
//   npm test                      all tests
//   npm test -- test/namespace    only files under the given paths
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const args = process.argv.slice(2);
const roots = args.length > 0 ? args.map((a) => resolve(a)) : [join(root, 'test')];
const files = roots
  .flatMap((r) => (statSync(r).isDirectory() ? collect(r, []) : [relative(root, r)]))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no *.test.ts files found under', roots.join(', '));
  process.exit(1);
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } },
);
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on('close', (code, signal) => {
  const ran = /^ℹ tests (\d+)/m.exec(tail);
  if (code === 0 && (!ran || Number(ran[1]) === 0)) {
    console.error('run-tests: no test executed; failing the run');
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
