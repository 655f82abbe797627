/**
 * Memory given back after a burst (src/server/reclaim.ts), in a real `capns serve`
 * started with `--expose-gc` as bin/capns.js starts it: a connection that authenticated
 * hundreds of times (over a thousand grants) hangs up, and once a second has passed
 * without another departure the server runs one full collection and logs it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Gate } from '../../src/gen/namespace.js';
import { connect, release } from '../../src/rpc/index.js';

const root = resolve(import.meta.dirname, '..', '..');

const MANIFEST = `version: 1
capabilities:
  tmp: { type: ram }
  clock: { type: demo.clock }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: clock, at: /svc/clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;

interface Serve {
  address: string;
  log: () => string;
}

async function serve(t: TestContext, nodeFlags: string[]): Promise<Serve> {
  const dir = await mkdtemp(join(tmpdir(), 'capns-reclaim-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'm.yaml'), MANIFEST);
  const child = spawn(process.execPath, [...nodeFlags, '--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '--manifest', join(dir, 'm.yaml'), '--log-level', 'info'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const address = await new Promise<string>((ok, fail) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^rpc\s+(\S+)/m.exec(out);
      if (m !== null) ok(m[1]!);
    });
    void exited.then(() => fail(new Error(`capns serve exited: ${err}`)));
  });
  return { address, log: () => out + err };
}

/** Authenticates `n` times on one connection (each a namespace of two grants), then hangs up. */
async function burst(address: string, n: number): Promise<void> {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const results = await Promise.all(Array.from({ length: n }, () => gate.authenticate((p) => { p.token = ''; }).promise()));
  for (const r of results) assert.ok(r.result._isOk, r.result._isErr ? r.result.err.message : '');
  release(gate);
  conn.destroy();
}

async function waitFor(what: () => RegExpExecArray | null, ms: number): Promise<RegExpExecArray | null> {
  const end = Date.now() + ms;
  for (;;) {
    const m = what();
    if (m !== null || Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const RECLAIMED = /memory reclaimed after (\d+) departures: full collection \d+ ms, resident ([\d.]+) -> ([\d.]+) MiB/;

test('bin/capns.js starts Node with --expose-gc, which the reclaimer needs', () => {
  const first = readFileSync(join(root, 'bin', 'capns.js'), 'utf8').split('\n', 1)[0]!;
  assert.match(first, /\snode\s.*--expose-gc\b/);
});

test('capns serve: after a burst of departures (a connection with 1,200 grants hangs up), one full collection runs once they stop, and is logged', async (t) => {
  const s = await serve(t, ['--expose-gc']);
  await burst(s.address, 600);
  const m = await waitFor(() => RECLAIMED.exec(s.log()), 15_000);
  assert.ok(m !== null, `no reclaim line in the log:\n${s.log().slice(-2000)}`);
  assert.ok(Number(m[1]) >= 1000, `departures ${m[1]}`);
  // Only one: the burst is over, and nothing more departed.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(s.log().match(new RegExp(RECLAIMED.source, 'g'))?.length, 1);
});

test('capns serve: fewer departures than the threshold (a few hundred grants) run no collection', async (t) => {
  const s = await serve(t, ['--expose-gc']);
  await burst(s.address, 100);
  assert.equal(await waitFor(() => RECLAIMED.exec(s.log()), 2500), null);
});
