/**
 * bin/capns.js, the `capns` command, as a real process: it runs, and on a Node that
 * cannot require() ES modules (which the HTTP side's libraries need) it says so and exits
 * 1 before anything else fails on it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const repo = join(import.meta.dirname, '..');
const bin = join(repo, 'bin', 'capns.js');

function node(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: repo, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({
        status: err === null ? 0 : typeof err.code === 'number' ? err.code : null,
        stdout,
        stderr,
      }),
    );
  });
}

test('capns --version prints the package version', async () => {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
    version: string;
  };
  const r = await node([bin, '--version']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('capns on a Node without require(esm) refuses to start, saying why', async () => {
  // The flag turns off what Node 20.19+ and 22.12+ do by default: what an older Node is.
  const r = await node(['--no-experimental-require-module', bin, '--version']);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^capns: needs a Node that can require\(\) ES modules \(20\.19\+ or 22\.12\+\); this is v\d+/,
  );
});
