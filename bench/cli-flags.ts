/**
 * How the `capns` command starts Node, read from bin/capns.js's first line
 * (`#!/usr/bin/env -S [NAME=VALUE ...] node FLAGS`), so that benchmarks which start the
 * compiled CLI directly (`node FLAGS dist-bench/src/cli/main.js ...`) run it as users do:
 * the same Node flags, and the same environment (the allocator settings of docs/serve.md,
 * "Memory").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Launch {
  env: Record<string, string>;
  flags: string[];
}

function launch(root: string): Launch {
  const first = readFileSync(join(root, 'bin', 'capns.js'), 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S ((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)node(.*)$/.exec(first);
  if (m === null) throw new Error(`bin/capns.js: unexpected first line ${JSON.stringify(first)}`);
  const env: Record<string, string> = {};
  for (const a of m[1]!.trim().split(/\s+/)) {
    if (a === '') continue;
    const eq = a.indexOf('=');
    env[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return { env, flags: m[2]!.trim().split(/\s+/).filter((f) => f !== '') };
}

/** The Node flags `capns` runs with. */
export function cliNodeFlags(root: string): string[] {
  return launch(root).flags;
}

/**
 * The environment variables `capns` sets for Node. A benchmark puts them in its own
 * process.env before starting anything, so every process it starts (ours, the floor, the
 * reference) runs with them: the comparison stays like for like.
 */
export function cliEnv(root: string): Record<string, string> {
  return launch(root).env;
}
