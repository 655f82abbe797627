import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { Clock } from '../../src/gen/demo.js';
import { Gate, type Namespace$Client } from '../../src/gen/namespace.js';
import { resolvePipelined } from '../../src/proxy/importer.js';
import { connect, release, RpcError } from '../../src/rpc/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
type T = { after: (fn: () => Promise<void> | void) => void };

/** Runs `capns ARGS` until it prints a line starting with `want`; returns the address on it, and its stderr so far. */
async function start(t: T, args: string[], want: string): Promise<{ address: string; proc: ChildProcess; err: () => string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void proc.kill('SIGKILL'));
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const address = await new Promise<string>((ok, fail) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = new RegExp(`^${want}\\s+(\\S+)`, 'm').exec(out);
      if (m !== null) ok(m[1]!);
    });
    proc.once('exit', (code) => fail(new Error(`capns ${args[0]} exited ${code}: ${err}`)));
  });
  return { address, proc, err: () => err };
}

/** Calls the clock at `path` until the import behind it is up (it connects in the background). */
async function clockUp(ns: Namespace$Client, path: string): Promise<bigint> {
  for (let i = 0; ; i++) {
    const clock = resolvePipelined(ns, path, Clock);
    try {
      return (await clock.now().promise()).unixMillis;
    } catch (e) {
      if (!(e instanceof RpcError && e.type === 'disconnected') || i > 500) throw e;
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      release(clock);
    }
  }
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function run(args: string[], input?: string): Promise<{ code: number | null; out: string; err: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  if (input !== undefined) proc.stdin!.end(input);
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  return { code, out, err };
}

test('capns export --ro and capns import: a clock reached through them, writes refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-proxy-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = join(dir, 'a.yaml');
  writeFileSync(manifest, 'version: 1\ncapabilities: { clock: { type: demo.clock }, tmp: { type: ram } }\nprofiles:\n  svc:\n    namespace:\n      - { mount: clock, at: /svc/clock }\n      - { mount: tmp, at: /svc/tmp, create: true }\n');
  const exp = await start(t, ['export', '--manifest', manifest, '--root', '/svc', '--ro', '--listen', 'tcp!127.0.0.1!0', '--token', 'sesame'], 'export');
  const imp = await start(t, ['import', exp.address, '/', '/n/a', '--token', 'sesame', '--listen', `unix!${join(dir, 'ns.sock')}`], 'rpc');
  const conn = await connect(imp.address);
  t.after(() => conn.close());
  const gate = conn.bootstrap(Gate);
  const auth = (await gate.authenticate((p) => (p.token = '')).promise()).result;
  release(gate);
  assert.ok(auth._isOk);
  const ns = auth.ok.ns;
  t.after(() => release(ns));
  assert.ok((await clockUp(ns, '/n/a/clock')) > 0n);
  // The export is read-only: capns mkdir through the import is refused.
  const mk = await run(['mkdir', '--server', imp.address, '/n/a/tmp/x']);
  assert.equal(mk.code, 1);
  assert.match(mk.err, /read-only/);
  // The exporter goes away: calls fail disconnected; the import's own namespace answers.
  exp.proc.kill('SIGKILL');
  await assert.rejects(resolvePipelined(ns, '/n/a/clock', Clock).now().promise(), (e: unknown) => e instanceof RpcError && e.type === 'disconnected');
  assert.equal((await ns.members((p) => (p.path = '/n/a')).promise()).result.members.length, 1);
});

test('capns export refuses to start without credentials; capns import with a wrong token says so and exits 1 at once', async (t) => {
  const noCreds = await run(['export', '--root', '/', '--listen', 'tcp!127.0.0.1!0']);
  assert.equal(noCreds.code, 2, 'a missing credential option is a usage error');
  assert.match(noCreds.err, /--token/);
  const dir = mkdtempSync(join(tmpdir(), 'capns-proxy-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = join(dir, 'a.yaml');
  writeFileSync(manifest, 'version: 1\ncapabilities: { clock: { type: demo.clock } }\nprofiles:\n  svc: { namespace: [ { mount: clock, at: /svc/clock } ] }\n');
  const exp = await start(t, ['export', '--manifest', manifest, '--root', '/svc', '--listen', 'tcp!127.0.0.1!0', '--token', 'right'], 'export');
  // A refusal is not an outage: the command says so and stops, instead of retrying forever.
  const refused = await run(['import', exp.address, '/n/a', '--token', 'wrong', '--listen', 'tcp!127.0.0.1!0']);
  assert.equal(refused.code, 1);
  assert.match(refused.err, new RegExp(`capns import: ${exp.address.replaceAll('!', '\\!')} refused the credentials: unknown token`));
  // Told to keep trying, it runs; calls through the import say it was refused, and why.
  const imp = await start(t, ['import', exp.address, '/n/a', '--token', 'wrong', '--retry-refused-ms', '60000', '--listen', 'tcp!127.0.0.1!0'], 'rpc');
  const conn = await connect(imp.address);
  t.after(() => conn.close());
  const gate = conn.bootstrap(Gate);
  const ns = (await gate.authenticate((p) => (p.token = '')).promise()).result.ok.ns;
  release(gate);
  t.after(() => release(ns));
  for (;;) {
    try {
      await resolvePipelined(ns, '/n/a/clock', Clock).now().promise();
      assert.fail('a refused import answered');
    } catch (e) {
      assert.ok(e instanceof RpcError, String(e));
      if (e.type === 'disconnected' && /not connected yet/.test(e.message)) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      assert.equal(e.type, 'failed');
      assert.match(e.message, /^import 'a' \(tcp!.*\): permission denied: the export refused the credentials \(unknown token\); next attempt in/);
      break;
    }
  }
  // And capns ls shows the state.
  const ls = await run(['ls', '--server', imp.address, '/n']);
  assert.equal(ls.code, 0, ls.err);
  assert.match(ls.out, /^a\/\timport of tcp!\S+ \/: refused: unknown token; next attempt in /m);
});

test('capns import: the mount point is a directory for ls, stat and put; ls and stat show the state; an outage names the import, not the server; it logs reconnected', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-proxy-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = join(dir, 'a.yaml');
  writeFileSync(manifest, 'version: 1\ncapabilities: { clock: { type: demo.clock }, tmp: { type: ram } }\nprofiles:\n  svc:\n    namespace:\n      - { mount: clock, at: /svc/clock }\n      - { mount: tmp, at: /svc/tmp, create: true }\n');
  const listen = `tcp!127.0.0.1!${await freePort()}`;
  const exportArgs = ['export', '--manifest', manifest, '--root', '/svc', '--listen', listen, '--token', 'sesame'];
  let exp = await start(t, exportArgs, 'export');
  const imp = await start(t, ['import', exp.address, '/', '/n/a', '--token', 'sesame', '--listen', 'tcp!127.0.0.1!0'], 'rpc');
  const server = ['--server', imp.address];
  for (let i = 0; !/\timport of .*: connected for /.test((await run(['ls', ...server, '/n'])).out); i++) {
    assert.ok(i < 500, 'the import never connected');
    await new Promise((r) => setTimeout(r, 20));
  }
  const ls = await run(['ls', ...server, '/n/a']);
  assert.equal(ls.code, 0, ls.err);
  assert.equal(ls.out, 'clock\tClock (clock)\ntmp/\n');
  const put = await run(['put', ...server, '/n/a/tmp/hello'], 'hello through the import');
  assert.equal(put.code, 0, put.err);
  assert.equal((await run(['cat', ...server, '/n/a/tmp/hello'])).out, 'hello through the import');
  const stat = await run(['stat', ...server, '/n/a']);
  assert.equal(stat.code, 0, stat.err);
  assert.match(stat.out, new RegExp(`^/n/a\\td[-rwx]{9} .*\\timport of ${listen.replaceAll('!', '\\!')} /: connected for `));
  const json = JSON.parse((await run(['stat', '--json', ...server, '/n/a'])).out) as { kind: string; import: { state: string; connections: number } };
  assert.equal(json.kind, 'directory');
  assert.equal(json.import.state, 'connected');
  // The exporter goes: the importer is still up, and says which import is down and why.
  exp.proc.kill('SIGKILL');
  for (let i = 0; ; i++) {
    const down = await run(['ls', ...server, '/n/a']);
    if (down.code === 0) {
      assert.ok(i < 500, 'the outage was never reported');
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    assert.equal(down.code, 1, down.err);
    assert.match(down.err, /^capns ls: import 'a' \(tcp!127\.0\.0\.1!\d+\) (is down|lost its connection): /);
    assert.doesNotMatch(down.err, /lost the connection to/);
    break;
  }
  assert.match((await run(['ls', ...server, '/n'])).out, /^a\/\timport of \S+ \/: down for .*; (next attempt in|an attempt is under way)/m);
  // It comes back, and capns import says so.
  exp = await start(t, exportArgs, 'export');
  for (let i = 0; !/"msg":"import reconnected"/.test(imp.err()); i++) {
    assert.ok(i < 500, `no reconnected line: ${imp.err()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(imp.err(), /"msg":"import lost its connection"/);
});
