/**
 * `capns serve` end to end: a real process from the sources, real clients over TCP
 * (our RPC client and our 9P test client), the embedded default and a manifest of our own.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { utils } from 'capnp-es';
import { Failure_Code } from '../../src/gen/common.js';
import { Clock } from '../../src/gen/demo.js';
import { Gate, type Namespace$Client } from '../../src/gen/namespace.js';
import { FILE_SERVER_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { connect, release } from '../../src/rpc/index.js';
import { RemoteFileServer } from '../../src/fileserver/file-server-rpc.js';
import { FileServer } from '../../src/gen/fileserver.js';

const root = resolve(import.meta.dirname, '..', '..');
const enc = new TextEncoder();

interface Served {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts `capns serve ARGS` and waits until it printed `want` address lines (or exited). */
async function startServe(args: string[], cwd: string, want: number): Promise<Served> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const lines: string[] = [];
  await new Promise<void>((ready) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      lines.splice(0, lines.length, ...out.split('\n').filter((l) => l !== ''));
      if (lines.length >= want) ready();
    });
    void exit.then(() => ready());
  });
  return { child, lines, stderr: () => err, exit };
}

function addressOf(lines: string[], protocol: string): string {
  const line = lines.find((l) => l.startsWith(protocol + ' '));
  assert.ok(line, `no ${protocol} line in ${JSON.stringify(lines)}`);
  return line.split(/\s+/)[1] as string;
}

async function login(address: string, token: string): Promise<{ ns: Namespace$Client; close: () => Promise<void> }> {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => { p.token = token; }).promise()).result;
  if (r._isErr) {
    await conn.close();
    throw new Error(`authenticate: ${r.err.message}`);
  }
  const ns = r.ok.ns;
  return { ns, close: async () => { release(ns); release(gate); await conn.close(); } };
}

async function stop(s: Served): Promise<number | null> {
  s.child.kill('SIGTERM');
  return s.exit;
}

test('capns serve with the embedded default: /tmp, /data and /svc/clock for a loopback client, clean SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Port 0 for every default listener is not a CLI option; use a manifest equal to the
  // default but on port 0 (the default's fixed ports may be taken on a shared machine).
  const { defaultManifestText } = await import('../../src/manifest/default.js');
  await writeFile(join(dir, 'm.yaml'), defaultManifestText({ dataDir: join(dir, 'data'), ports: { rpc: 0, '9p': 0, http: 0 } }));
  const s = await startServe(['--manifest', join(dir, 'm.yaml')], dir, 3);
  t.after(() => s.child.kill('SIGKILL'));
  const rpc = addressOf(s.lines, 'rpc');
  assert.match(addressOf(s.lines, '9p'), /^tcp!127\.0\.0\.1!\d+$/);
  const { ns, close } = await login(rpc, '');
  // The clock answers through its grant.
  const r = (await ns.resolve((p) => { p.path = '/svc/clock'; p.expectedInterface = Clock.Client.interfaceId; }).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  const clock = new Clock.Client(utils.getInterfaceClientOrNull(r.ok.cap));
  const now = await clock.now().promise();
  assert.ok(Math.abs(Number(now.unixMillis) - Date.now()) < 60_000);
  release(clock);
  // A file written through /data lands in the host folder.
  const d = (await ns.resolve((p) => { p.path = '/data'; p.expectedInterface = FILE_SERVER_INTERFACE_ID; }).promise()).result;
  const fs = new RemoteFileServer(new FileServer.Client(utils.getInterfaceClientOrNull(d.ok.cap)));
  const { root: dataRoot } = await fs.attach('');
  const c = await dataRoot.create('hello.txt', 0o644, { access: 'write' });
  await c.file.write(0n, enc.encode('written through capns'));
  await c.file.clunk();
  await dataRoot.clunk();
  fs.close();
  assert.equal(await readFile(join(dir, 'data', 'hello.txt'), 'utf8'), 'written through capns');
  // The namespace lists what the default binds.
  const listed = (await ns.list((p) => { p.path = '/'; }).promise()).result;
  assert.deepEqual(listed.entries.map((e) => e.name).sort(), ['data', 'svc', 'tmp']);
  await close();
  assert.equal(await stop(s), 0);
  assert.match(s.stderr(), /capns serve ready/);
});

test('capns serve with a manifest of three profiles: tokens pick namespaces, unions overlap in order, clients are isolated', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'm.yaml'),
    `version: 1
capabilities:
  cache: { type: ram }
  store: { type: ram }
  clock: { type: demo.clock }
  admin: { type: captable }
profiles:
  alice:
    auth: { tokens: [alice-token] }
    namespace:
      - { mount: store, at: /data, create: true }
      - { mount: cache, at: /data, position: before }
      - { mount: clock, at: /svc/clock }
  bob:
    auth: { tokens: [bob-token] }
    namespace:
      - { mount: store, at: /data }
  root:
    auth: { tokens: [root-token] }
    namespace:
      - { mount: admin, at: /dev/captable }
      - { mount: store, at: /n/store }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: http, address: "tcp!127.0.0.1!0" }
`,
  );
  const s = await startServe(['--manifest', join(dir, 'm.yaml')], dir, 2);
  t.after(() => s.child.kill('SIGKILL'));
  const rpc = addressOf(s.lines, 'rpc');
  const alice = await login(rpc, 'alice-token');
  const bob = await login(rpc, 'bob-token');
  // alice's /data is [cache, store]: the cache is searched first.
  const members = (await alice.ns.members((p) => { p.path = '/data'; }).promise()).result;
  assert.deepEqual(members.members.map((m) => [m.label, m.create]), [['cache', false], ['store', true]]);
  // bob has no clock; alice does.
  assert.equal((await bob.ns.resolve((p) => { p.path = '/svc/clock'; }).promise()).result.err.code, Failure_Code.NOT_FOUND);
  assert.ok((await alice.ns.resolve((p) => { p.path = '/svc/clock'; }).promise()).result._isOk);
  // A bind by alice is not seen by bob, nor by another alice connection.
  const alice2 = await login(rpc, 'alice-token');
  assert.ok((await alice.ns.bindPath((p) => { p.from = '/svc/clock'; p.to = '/mine'; }).promise()).result._isOk);
  assert.equal((await alice2.ns.resolve((p) => { p.path = '/mine'; }).promise()).result.err.code, Failure_Code.NOT_FOUND);
  // A call through alice's clock grant, then metrics (admin only: root holds the
  // CapTable): the open RPC connections, and the call by interface and method.
  const cr = (await alice.ns.resolve((p) => { p.path = '/svc/clock'; }).promise()).result;
  const aliceClock = new Clock.Client(utils.getInterfaceClientOrNull(cr.ok.cap));
  assert.ok((await aliceClock.now().promise()).unixMillis > 0n);
  release(aliceClock);
  const http = addressOf(s.lines, 'http').split('!');
  const metrics = await fetch(`http://${http[1]}:${http[2]}/metrics`, { headers: { authorization: 'Bearer root-token' } });
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  const m = /^capns_connections\{protocol="rpc",address="[^"]+"\} (\d+)$/m.exec(text);
  assert.ok(m !== null, 'capns_connections for the rpc listener');
  assert.equal(Number(m[1]), 3);
  assert.match(text, /^capns_rpc_calls_total\{interface="Clock",method="now"\} 1$/m);
  // Three namespaces, one per authenticate; none once their connections have ended.
  const namespaces = async (): Promise<number> => {
    const r = await fetch(`http://${http[1]}:${http[2]}/metrics`, { headers: { authorization: 'Bearer root-token' } });
    const n = /^capns_namespaces (\d+)$/m.exec(await r.text());
    assert.ok(n !== null, 'capns_namespaces');
    return Number(n[1]);
  };
  assert.equal(await namespaces(), 3);
  // No credentials, no namespace.
  await assert.rejects(login(rpc, ''), /credentials required/);
  await assert.rejects(login(rpc, 'nope'), /unknown token/);
  for (const c of [alice, alice2, bob]) await c.close();
  let left = await namespaces();
  for (let k = 0; k < 50 && left > 0; k++) {
    await new Promise((r) => setTimeout(r, 20));
    left = await namespaces();
  }
  assert.equal(left, 0, 'namespaces left after their connections ended');
  assert.equal(await stop(s), 0);
});

test('capns serve refuses a bad manifest, names file:line:column, and starts nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'bad.yaml'), 'version: 1\ncapabilities:\n  tmp: { type: ramm }\nprofiles: {}\nlisteners: []\n');
  const s = await startServe(['--manifest', join(dir, 'bad.yaml')], dir, 1);
  assert.equal(await s.exit, 1);
  assert.equal(s.lines.length, 0);
  assert.match(s.stderr(), /bad\.yaml:3:\d+/);
  const missing = await startServe(['--manifest', join(dir, 'none.yaml')], dir, 1);
  assert.equal(await missing.exit, 2);
  assert.match(missing.stderr(), /cannot read/);
});

/** Waits until the child's stderr matches `re` (or fails after ~10 s). */
async function waitForLog(s: Served, re: RegExp, from = 0): Promise<void> {
  for (let i = 0; i < 400 && !re.test(s.stderr().slice(from)); i++) await new Promise((r) => setTimeout(r, 25));
  assert.match(s.stderr().slice(from), re);
}

/** Runs `capns reload --pidfile PIDFILE`: its exit status and what it printed. */
async function reloadServe(pidfile: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'reload', '--pidfile', pidfile, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { code, stdout, stderr };
}

test('reload applies the manifest differentially: removed capabilities are revoked live, open namespaces keep the rest, new connections see the new profile', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const manifest = (aliceSteps: string, extraCaps: string, bobToken = 'bob-token') => `version: 1
capabilities:
  tmp: { type: ram }
${extraCaps}profiles:
  alice:
    auth: { tokens: [alice-token] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
${aliceSteps}  bob:
    auth: { tokens: [${bobToken}] }
    namespace:
      - { mount: tmp, at: /tmp }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;
  const file = join(dir, 'm.yaml');
  const pidfile = join(dir, 'capns.pid');
  await writeFile(file, manifest('      - { mount: clock, at: /svc/clock }\n', '  clock: { type: demo.clock }\n'));
  const s = await startServe(['--manifest', file, '--pidfile', pidfile], dir, 1);
  t.after(() => s.child.kill('SIGKILL'));
  const rpc = addressOf(s.lines, 'rpc');
  const alice1 = await login(rpc, 'alice-token');
  const bob1 = await login(rpc, 'bob-token');
  const r = (await alice1.ns.resolve((p) => { p.path = '/svc/clock'; }).promise()).result;
  const clock = new Clock.Client(utils.getInterfaceClientOrNull(r.ok.cap));
  assert.ok((await clock.now().promise()).unixMillis > 0n);

  // v2: the clock leaves the manifest; alice gets a new ram tree at /more.
  await writeFile(file, manifest('      - { mount: more, at: /more }\n', '  more: { type: ram }\n'));
  let mark = s.stderr().length;
  const v2 = await reloadServe(pidfile);
  assert.equal(v2.code, 0, v2.stderr);
  // capns reload prints what the reload did.
  assert.match(v2.stdout, /^capns reload: manifest reloaded \(process \d+\)\n {2}capabilities added: more\n {2}capabilities removed: clock\n {2}profiles changed: alice\n {2}grants revoked: 1\n$/);
  await waitForLog(s, /manifest reloaded/, mark);
  await assert.rejects(clock.now().promise(), /revoked/);
  release(clock);
  // alice1's namespace is otherwise as it was: /tmp still there, /more not added.
  assert.ok((await alice1.ns.resolve((p) => { p.path = '/tmp'; }).promise()).result._isOk);
  assert.equal((await alice1.ns.resolve((p) => { p.path = '/more'; }).promise()).result.err.code, Failure_Code.NOT_FOUND);
  // A new alice connection gets the new profile.
  const alice2 = await login(rpc, 'alice-token');
  assert.ok((await alice2.ns.resolve((p) => { p.path = '/more'; }).promise()).result._isOk);
  assert.equal((await alice2.ns.resolve((p) => { p.path = '/svc/clock'; }).promise()).result.err.code, Failure_Code.NOT_FOUND);
  // bob's profile did not change and his namespace works as before.
  assert.ok((await bob1.ns.resolve((p) => { p.path = '/tmp'; }).promise()).result._isOk);

  // v2b: bob's token is replaced. Grants made to holders of the old one are revoked live;
  // the old token no longer opens the gate, the new one does.
  await writeFile(file, manifest('      - { mount: more, at: /more }\n', '  more: { type: ram }\n', 'bob-token-2'));
  mark = s.stderr().length;
  assert.equal((await reloadServe(pidfile)).code, 0);
  await waitForLog(s, /manifest reloaded/, mark);
  const tmpR = (await bob1.ns.resolve((p) => { p.path = '/tmp'; }).promise()).result;
  const bobFs = new RemoteFileServer(new FileServer.Client(utils.getInterfaceClientOrNull(tmpR.ok.cap)));
  await assert.rejects(bobFs.attach(''), /revoked/);
  bobFs.close();
  await assert.rejects(login(rpc, 'bob-token'), /unknown token/);
  const bob2 = await login(rpc, 'bob-token-2');
  await bob2.close();

  // v3 is broken: the reload is refused and the server keeps serving v2.
  await writeFile(file, 'version: 1\ncapabilities: { x: { type: nope } }\n');
  mark = s.stderr().length;
  const v3 = await reloadServe(pidfile);
  // Refused: capns reload says why, and exits 1.
  assert.equal(v3.code, 1);
  assert.match(v3.stderr, /^capns reload: reload refused \(process \d+\): still running the previous manifest\n {2}\S*m\.yaml:2:\d+ capabilities\.x\.type: expected one of /);
  await waitForLog(s, /reload refused/, mark);
  assert.ok((await alice2.ns.resolve((p) => { p.path = '/more'; }).promise()).result._isOk);
  for (const c of [alice1, alice2, bob1]) await c.close();
  assert.equal(await stop(s), 0);
});

test('capns reload reports a listener it could not open (exit 1, the reason, the listener kept); kill -HUP gets the same outcome logged and written; --pid only signals', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  t.after(() => busy.close());
  const busyPort = (busy.address() as net.AddressInfo).port;
  const manifest = (rpc: string) => `version: 1
capabilities:
  tmp: { type: ram }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
listeners:
  - { protocol: rpc, address: "${rpc}" }
`;
  const file = join(dir, 'm.yaml');
  const pidfile = join(dir, 'capns.pid');
  await writeFile(file, manifest('tcp!127.0.0.1!0'));
  const s = await startServe(['--manifest', file, '--pidfile', pidfile], dir, 1);
  t.after(() => s.child.kill('SIGKILL'));
  const rpc = addressOf(s.lines, 'rpc');
  await writeFile(file, manifest(`tcp!127.0.0.1!${busyPort}`));
  const r = await reloadServe(pidfile);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^capns reload: manifest reloaded, but 1 listener was refused \(the previous one is kept\) \(process \d+\)\n/);
  assert.match(r.stderr, new RegExp(`\\n {2}refused: rpc tcp!127\\.0\\.0\\.1!${busyPort}: .*EADDRINUSE.*\\n {4}kept instead: ${rpc.replaceAll('.', '\\.')}\\n$`));
  // The kept listener serves.
  const { close } = await login(rpc, '');
  await close();
  // --json: one line, the same outcome.
  const j = await reloadServe(pidfile, '--json');
  assert.equal(j.code, 1);
  const status = JSON.parse(j.stderr) as { outcome: string; seq: number; report: { refused: { listener: string; kept: string[] }[] } };
  assert.deepEqual([status.outcome, status.seq, status.report.refused[0]?.kept], ['partial', 2, [rpc]]);
  // kill -HUP: nobody waits, but the outcome is logged (a warning) and in the status file.
  const mark = s.stderr().length;
  s.child.kill('SIGHUP');
  await waitForLog(s, /"level":40.*"outcome":"partial".*manifest reloaded, but 1 listener was refused/, mark);
  for (let i = 0; i < 100 && !(await readFile(`${pidfile}.reload.json`, 'utf8')).includes('"seq":3'); i++) await new Promise((res) => setTimeout(res, 20));
  assert.match(await readFile(`${pidfile}.reload.json`, 'utf8'), /"seq":3/);
  // --pid: the signal only, and a pointer to where the outcome is.
  const pid = (await readFile(pidfile, 'utf8')).trim();
  const byPid = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'reload', '--pid', pid], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  byPid.stderr.on('data', (d: Buffer) => (err += d.toString()));
  assert.equal(await new Promise((res) => byPid.on('exit', res)), 0);
  assert.match(err, /sent SIGHUP to process \d+; the outcome is in its log/);
  assert.equal(await stop(s), 0);
  // The pidfile and the status file go with the process.
  await assert.rejects(readFile(`${pidfile}.reload.json`), /ENOENT/);
});
