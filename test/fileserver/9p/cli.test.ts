/**
 * `capns 9p` as a process: it prints the address it listens on, serves it, and exits
 * cleanly on SIGTERM and SIGINT.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MessageType, OREAD } from '../../../src/fileserver/9p/constants.js';
import { parseNinepAddress } from '../../../src/fileserver/9p/server.js';
import { decodeStats } from '../../../src/fileserver/9p/codec.js';
import { NinepClient } from '../../support/ninep-client.js';

const MAIN = new URL('../../../src/cli/main.ts', import.meta.url).pathname;

/** Starts `capns 9p ARGS`; resolves with the process and the address it printed. */
async function start(
  t: TestContext,
  args: string[],
): Promise<{ proc: ChildProcess; address: string; stderr: () => string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, '9p', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^9p\s+(\S+)/m.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.on('exit', (code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
  return { proc, address, stderr: () => stderr };
}

function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
}

test('capns 9p --ram prints its tcp address, serves a writable tree, and exits 0 on SIGTERM', async (t) => {
  const { proc, address } = await start(t, ['--listen', 'tcp!127.0.0.1!0', '--ram']);
  assert.match(address, /^tcp!127\.0\.0\.1!\d+$/);
  const c = await NinepClient.open(parseNinepAddress(address), '9P2000');
  const { fid } = await c.attach();
  const f = await c.walk(fid, []);
  await c.call(
    { type: MessageType.Tcreate, fid: f, name: 'x', perm: 0o644, mode: 2 },
    MessageType.Rcreate,
  );
  assert.equal(await c.write(f, 0n, Buffer.from('hi')), 2);
  await c.close();
  proc.kill('SIGTERM');
  assert.equal(await exited(proc), 0);
});

test('capns 9p --dir --ro --io pool serves a host directory read-only on a unix socket; SIGINT exits 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-9p-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'f.txt'), 'from the host\n');
  const sock = join(dir, 'sock');
  const { proc, address } = await start(t, [
    '--listen',
    `unix!${sock}`,
    '--dir',
    dir,
    '--ro',
    '--io',
    'pool',
  ]);
  assert.equal(address, `unix!${sock}`);
  const c = await NinepClient.open({ kind: 'unix', path: sock }, '9P2000.L');
  const { fid } = await c.attach();
  const f = await c.walk(fid, ['f.txt']);
  await c.open(f, OREAD);
  assert.equal(Buffer.from(await c.read(f, 0n, 100)).toString(), 'from the host\n');
  const w = await c.rpc({
    type: MessageType.Tlcreate,
    fid,
    name: 'new',
    flags: 1,
    mode: 0o644,
    gid: 0,
  });
  assert.equal(w.type === MessageType.Rlerror && w.ecode, 30, 'EROFS');
  await c.close();
  proc.kill('SIGINT');
  assert.equal(await exited(proc), 0);
});

test('capns 9p with both --ram and --dir, a bad address, a bad msize, --io without --dir, an unknown option or a bad --io exits 2 with a clear message', async () => {
  for (const [args, message] of [
    [['--listen', '127.0.0.1:0', '--ram', '--frob'], /unknown option '--frob'/],
    [['--listen', '127.0.0.1:0', '--dir', '/tmp', '--io', 'fast'], /argument 'fast' is invalid/],
    [['--listen', '127.0.0.1:0', '--ram', '--dir', '/tmp'], /--ram and --dir exclude each other/],
    [['--listen', 'nonsense', '--ram'], /expected tcp!HOST!PORT, HOST:PORT or unix!PATH/],
    [['--listen', '127.0.0.1:0', '--ram', '--msize', '12'], /--msize 12/],
    [['--listen', '127.0.0.1:0', '--ram', '--io', 'pool'], /--io goes with --dir/],
  ] as const) {
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, '9p', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    assert.equal(await exited(proc), 2);
    assert.match(stderr, message);
  }
});

test('capns 9p with neither --ram nor --dir serves the default namespace: mount points as directories, a capability as a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-9p-ns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { proc, address } = await start(t, [
    '--listen',
    'tcp!127.0.0.1!0',
    '--data-dir',
    join(dir, 'data'),
  ]);
  const c = await NinepClient.open(parseNinepAddress(address), '9P2000');
  const { fid } = await c.attach();
  const root = await c.walk(fid, []);
  await c.open(root, OREAD);
  const names = decodeStats(await c.read(root, 0n, 8000), false)
    .map((e) => e.name)
    .sort();
  assert.deepEqual(names, ['data', 'svc', 'tmp']);
  await c.clunk(root);
  const clock = await c.walk(fid, ['svc', 'clock']);
  await c.open(clock, OREAD);
  assert.match(
    Buffer.from(await c.read(clock, 0n, 200)).toString(),
    /^interface Clock 0x[0-9a-f]{16} \(demo\.capnp\)\n {2}now \(\) -> \(unixMillis :Int64, iso :Text\)\nlabel clock\n$/,
  );
  await c.clunk(clock);
  // /tmp takes creates (the default binds it with create).
  const tmp = await c.walk(fid, ['tmp']);
  await c.call(
    { type: MessageType.Tcreate, fid: tmp, name: 'x', perm: 0o644, mode: 2 },
    MessageType.Rcreate,
  );
  assert.equal(await c.write(tmp, 0n, Buffer.from('hi')), 2);
  await c.close();
  proc.kill('SIGTERM');
  assert.equal(await exited(proc), 0);
});

test('NS_TRACE=9p logs one line per message to stderr', async (t) => {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, '9p', '--listen', 'tcp!127.0.0.1!0', '--ram'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NS_TRACE: 'rpc,9p' },
    },
  );
  t.after(() => proc.kill('SIGKILL'));
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const address = await new Promise<string>((resolve) => {
    let out = '';
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^9p\s+(\S+)/m.exec(out);
      if (m) resolve(m[1]!);
    });
  });
  const c = await NinepClient.open(parseNinepAddress(address), '9P2000');
  await c.attach('', 'glenda');
  await c.close();
  for (let i = 0; i < 100 && !stderr.includes('Rattach'); i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.match(stderr, /<- Tversion tag 65535 msize \d+ version "9P2000"\n/);
  assert.match(stderr, /<- Tattach tag \d+ fid 1 afid 4294967295 uname "glenda" aname ""\n/);
  assert.match(stderr, /-> Rattach tag \d+ qid \{type 128 /);
});
