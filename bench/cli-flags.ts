/**
 * The Node flags the `capns` command runs with, read from bin/capns.js's `#!/usr/bin/env
 * -S node FLAGS` line, so that benchmarks which start the compiled CLI directly
 * (`node FLAGS dist-bench/src/cli/main.js ...`) run it as users do.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function cliNodeFlags(root: string): string[] {
  const first = readFileSync(join(root, 'bin', 'capns.js'), 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  if (m === null) throw new Error(`bin/capns.js: unexpected first line ${JSON.stringify(first)}`);
  return m[1]!.trim().split(/\s+/).filter((f) => f !== '');
}
