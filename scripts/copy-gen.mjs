#!/usr/bin/env node
// tsc does not copy the generated .js/.d.ts of src/gen; put them beside the build.
//   node scripts/copy-gen.mjs [DEST]   (default dist/gen)
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const from = join(root, 'src', 'gen');
const to = resolve(root, process.argv[2] ?? join('dist', 'gen'));
mkdirSync(to, { recursive: true });
for (const f of readdirSync(from)) {
  if (f.endsWith('.js') || f.endsWith('.d.ts')) cpSync(join(from, f), join(to, f));
}
