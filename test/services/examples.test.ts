/**
 * The examples, run as a user would: real `capns serve` and `capns call` processes.
 *
 * - examples/kv: the key-value service spawned by its manifest and called from the CLI,
 *   over HTTP and from another service (tally); the same program standalone, bound with
 *   `connect`, described by itself; its compiled schema is what `capns schema compile`
 *   writes.
 * - examples/cpp-calc: a C++ EzRpcServer with its own schema bound through `connect` and
 *   called with `capns call`.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const KV = join(root, 'examples', 'kv');
const CALC = join(root, 'examples', 'cpp-calc');
const TSX = import.meta.resolve('tsx');
const ENV = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir(), NODE_OPTIONS: '' };

/** `capns ARGS` from the sources; resolves with its status and output. */
function capns(args: string[], cwd = root): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', TSX, join(root, 'src/cli/main.ts'), ...args], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => done({ status, stdout, stderr }));
  });
}

async function call(rpc: string, ...args: string[]): Promise<unknown> {
  const r = await capns(['call', '--server', rpc, '--json', ...args]);
  assert.equal(r.status, 0, `capns call ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `capns serve` on a manifest (listeners on port 0), stopped after the test. */
async function serve(t: TestContext, manifestText: string): Promise<{ rpc: string; http: string | undefined; stderr: () => string }> {
  const dir = await mkdtemp(join(tmpdir(), 'capns-example-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'm.yaml'), manifestText);
  const child = spawn(process.execPath, ['--import', TSX, join(root, 'src/cli/main.ts'), 'serve', '--manifest', join(dir, 'm.yaml')], { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.on('exit', r));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((ready) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/^rpc\s/m.test(out) && (!manifestText.includes('protocol: http') || /^http\s/m.test(out))) ready();
    });
    void exited.then(() => ready());
  });
  const rpc = /^rpc\s+(\S+)/m.exec(out)?.[1];
  assert.ok(rpc !== undefined, `capns serve did not start: ${out}${err}`);
  const http = /^http\s+tcp!(.*)!(\d+)/m.exec(out);
  return { rpc, http: http === null ? undefined : `http://${http[1]}:${http[2]}`, stderr: () => err };
}

/** The example manifest with its listeners on port 0 and its paths absolute (it is written elsewhere). */
function kvManifest(): string {
  return readFileSync(join(KV, 'manifest.yaml'), 'utf8')
    .replace('tcp!127.0.0.1!5640', 'tcp!127.0.0.1!0')
    .replace('tcp!127.0.0.1!5642', 'tcp!127.0.0.1!0')
    .replace('./kv.capnp.bin', join(KV, 'kv.capnp.bin'))
    .replaceAll('    type: service\n', `    type: service\n    cwd: ${KV}\n`);
}

test('examples/kv: the key-value service spawned by its manifest, called from the CLI, over HTTP, and from another service (tally) through its own namespace', async (t) => {
  const s = await serve(t, kvManifest());
  assert.deepEqual(await call(s.rpc, '/svc/kv', 'put', '{"key": "greeting", "value": "hello"}'), { result: { ok: 1 } });
  assert.deepEqual(await call(s.rpc, '/svc/kv', 'get', '{"key": "greeting"}'), { value: 'hello', found: true });
  assert.deepEqual(await call(s.rpc, '/svc/tally', 'bump', '{"name": "visits"}'), { count: '1' });
  assert.deepEqual(await call(s.rpc, '/svc/tally', 'bump', '{"name": "visits"}'), { count: '2' });
  // What tally stored went into the same store, through tally's namespace.
  const r = await fetch(`${s.http!}/api/v1/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/svc/kv', method: 'list', params: { prefix: '' } }) });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), {
    interface: 'KeyValue',
    method: 'list',
    results: {
      entries: [
        { key: 'greeting', value: 'hello' },
        { key: 'tally/visits', value: '2' },
      ],
    },
  });
  const methods = await capns(['call', '--server', s.rpc, '/svc/kv']);
  assert.match(methods.stdout, /^\/svc\/kv: KeyValue 0x[0-9a-f]{16}\n {2}get \(key :Text\) -> \(value :Text, found :Bool\)\n/);
  assert.match(s.stderr(), /"service":"kv","stream":"stdout".*"msg":"kv: offered store"/);
});

test('examples/kv: kv.capnp.bin is what `capns schema compile kv.capnp` writes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-example-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const r = await capns(['schema', 'compile', 'kv.capnp', '-o', join(dir, 'kv.bin')], KV);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(await readFile(join(dir, 'kv.bin')), await readFile(join(KV, 'kv.capnp.bin')));
});

test('examples/kv: the same program standalone (--listen), bound with connect and no schema in the manifest: it describes itself', async (t) => {
  const child = spawn(process.execPath, ['--import', TSX, join(KV, 'kv-service.ts'), '--listen', 'tcp!127.0.0.1!0'], { cwd: KV, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.on('exit', r));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const line = await new Promise<string>((res) => createInterface({ input: child.stdout }).once('line', res));
  const address = /^kv: listening on (\S+)$/.exec(line)?.[1];
  assert.ok(address !== undefined, line);
  const s = await serve(
    t,
    `version: 1
capabilities:
  kv: { type: connect, address: "${address}", interface: "0x807cf0dad4a81c5b" }
profiles:
  local:
    auth: { loopback: true }
    namespace: [{ mount: kv, at: /svc/kv }]
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`,
  );
  assert.deepEqual(await call(s.rpc, '/svc/kv', 'put', '{"key": "k", "value": "v"}'), { result: { ok: 1 } });
  assert.deepEqual(await call(s.rpc, '/svc/kv', 'delete', '{"key": "k"}'), { existed: true });
});

/** Builds examples/cpp-calc/calc-server once per source version (in the OS temp folder). */
async function buildCalc(): Promise<string> {
  const h = createHash('sha256');
  for (const f of ['calc.capnp', 'calc-server.c++']) h.update(readFileSync(join(CALC, f)));
  const dir = join(tmpdir(), `capns-calc-${h.digest('hex').slice(0, 16)}`);
  const bin = join(dir, 'calc-server');
  if (existsSync(bin)) return bin;
  const tmp = `${dir}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await run('capnp', ['compile', `-oc++:${tmp}`, `--src-prefix=${CALC}`, join(CALC, 'calc.capnp')]);
  const pc = (await run('pkg-config', ['--cflags', '--libs', 'capnp-rpc'])).stdout.trim().split(/\s+/);
  await run('g++', ['-std=c++17', '-O2', `-I${tmp}`, join(CALC, 'calc-server.c++'), join(tmp, 'calc.capnp.c++'), ...pc, '-o', join(tmp, 'calc-server')], { maxBuffer: 16 << 20 });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process built it first
  }
  return bin;
}

test('examples/cpp-calc: a C++ EzRpcServer with its own schema, bound through connect, called with capns call', { timeout: 180_000 }, async (t) => {
  const bin = await buildCalc();
  const server: ChildProcess = spawn(bin, ['127.0.0.1:0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => {
    server.stdin?.end();
    server.kill();
  });
  const port = Number(await new Promise<string>((res) => createInterface({ input: server.stdout! }).once('line', res)));
  const manifest = readFileSync(join(CALC, 'manifest.yaml'), 'utf8')
    .replace('tcp!127.0.0.1!7010', `tcp!127.0.0.1!${port}`)
    .replace('tcp!127.0.0.1!5640', 'tcp!127.0.0.1!0')
    .replace('./calc.capnp', join(CALC, 'calc.capnp'));
  const s = await serve(t, manifest);
  assert.deepEqual(await call(s.rpc, '/svc/calc', 'add', '{"a": 2, "b": 40}'), { value: 42 });
  assert.deepEqual(await call(s.rpc, '/svc/calc', 'stats', '{"values": [1, 2, 3, 10]}'), { summary: { count: 4, mean: 4, min: 1, max: 10 } });
  const methods = await capns(['call', '--server', s.rpc, '/svc/calc']);
  assert.match(methods.stdout, /^\/svc\/calc: Calculator 0x[0-9a-f]{16}\n {2}add \(a :Float64, b :Float64\) -> \(value :Float64\)\n/);
  server.stdin?.end();
  await new Promise((r) => server.once('exit', r));
  const down = await capns(['call', '--server', s.rpc, '/svc/calc', 'add', '{"a": 1, "b": 1}']);
  // Down behind the server, which is up: status 1, the message names what is down.
  assert.equal(down.status, 1, down.stderr);
  assert.match(down.stderr, /^capns call: connect 'calc' \(tcp!127\.0\.0\.1!\d+\): /);
});
