#!/usr/bin/env node
// tsc copies no assets: put the generated schema code (src/gen/*.{js,d.ts}) and the web
// page (src/admin/web) beside a build.
//   node scripts/copy-gen.mjs [GENDEST]   (default dist/gen; the web page goes to
//                                          GENDEST/../admin/web, as in src/)
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const from = join(root, 'src', 'gen');
const to = resolve(root, process.argv[2] ?? join('dist', 'gen'));
mkdirSync(to, { recursive: true });
for (const f of readdirSync(from)) {
  if (f.endsWith('.js') || f.endsWith('.d.ts')) cpSync(join(from, f), join(to, f));
}
cpSync(join(root, 'src', 'admin', 'web'), join(dirname(to), 'admin', 'web'), { recursive: true });
