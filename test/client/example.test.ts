/**
 * examples/clock-client.ts, run as a real process against a real `capns serve`: it gets
 * a typed Clock from its namespace, calls it, and writes and reads a file there.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '../../src/index.js';
import { root, startServe, tsx } from './serve-process.js';

function runExample(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'examples/clock-client.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', CAPNS_TOKEN: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

test('examples/clock-client.ts resolves /svc/clock as a typed Clock, calls it, and writes a file in its namespace', async (t) => {
  const s = await startServe(t);
  // One after the other: both write /tmp/clock-client.txt, and a profile that shares
  // the same ram tree could read back the other's line if they overlapped.
  const local = await runExample([s.rpc]);
  const alice = await runExample([s.rpc], { CAPNS_TOKEN: 'alice-secret' });
  assert.equal(local.code, 0, local.stderr);
  const m = /^profile local: \/svc\/clock says (\S+) \((\d+) ms\)\n\/tmp\/clock-client\.txt: last seen at (\S+)\n$/.exec(local.stdout);
  assert.ok(m, local.stdout);
  assert.equal(new Date(m[1]!).getTime(), Number(m[2]));
  assert.equal(m[3], m[1]);
  assert.ok(Math.abs(Number(m[2]) - Date.now()) < 60_000);
  assert.match(alice.stdout, /^profile alice: /);
  // The file is really in the server's /tmp (the local profile's ram tree).
  await using ns = await connect(s.rpc);
  assert.match(new TextDecoder().decode(await ns.readFile('/tmp/clock-client.txt')), /^last seen at /);
});

test('examples/clock-client.ts reports an unreachable server and a refused token', async (t) => {
  const s = await startServe(t);
  const [down, refused] = await Promise.all([runExample(['tcp!127.0.0.1!1']), runExample([s.rpc], { CAPNS_TOKEN: 'nope' })]);
  assert.equal(down.code, 3);
  assert.match(down.stderr, /^clock-client: cannot connect to tcp!127\.0\.0\.1!1/);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /unknown token/);
});

test("the package's exports map 'capns' to dist/index.js, the build of src/index.ts", () => {
  assert.equal(import.meta.resolve('capns'), new URL('../../dist/index.js', import.meta.url).href);
});
