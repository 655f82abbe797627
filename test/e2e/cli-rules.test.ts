/**
 * The rules every `capns` command follows (docs/cli.md, "Output and exit status"), each
 * checked on real processes against a real `capns serve`: usage errors exit 2 with one
 * line and a pointer to --help; commands with several paths carry on past a failing one;
 * --json errors are one JSON line on stderr; a wrong port says what answered; the
 * default ports move by flag or environment, a busy port says how; logs are JSON or
 * readable by flag; `ns` and `captable` talk to the server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { defaultManifestText } from '../../src/manifest/default.js';
import { root, startServe, tsx } from '../client/serve-process.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `capns ARGS` from the sources, with `input` on stdin. */
function capns(args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'src/cli/main.ts'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: opts.cwd ?? root,
    env: { ...process.env, NODE_OPTIONS: '', CAPNS_SERVER: '', CAPNS_TOKEN: '', CAPNS_RPC_PORT: '', CAPNS_LOG_FORMAT: '', ...opts.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

/** A listener on 127.0.0.1:0 that answers whatever it gets with `reply`, for the wrong-port checks. */
async function answering(t: TestContext, reply: Buffer): Promise<number> {
  const server = net.createServer((s) => {
    s.once('data', () => s.end(reply));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

test('usage errors exit 2 with one line naming the problem and pointing to --help, for every command; --json makes it one JSON line', async () => {
  const [lss, lsBogus, serveBogus, exportNoListen, checkBogus, json] = await Promise.all([
    capns(['lss']),
    capns(['ls', '--bogus']),
    capns(['serve', '--bogus']),
    capns(['export', '--root', '/svc']),
    capns(['manifest', 'check', '--bogus']),
    capns(['ls', '--bogus', '--json']),
  ]);
  assert.deepEqual(
    [lss, lsBogus, serveBogus, exportNoListen, checkBogus].map((r) => [r.code, r.stdout, r.stderr.split('\n').length]),
    Array(5).fill([2, '', 2]),
    'one line on stderr, nothing on stdout, status 2',
  );
  assert.equal(lss.stderr, "capns: unknown command 'lss' (Did you mean ls?); see 'capns --help'\n");
  assert.equal(lsBogus.stderr, "capns ls: unknown option '--bogus'; see 'capns ls --help'\n");
  assert.equal(serveBogus.stderr, "capns serve: unknown option '--bogus'; see 'capns serve --help'\n");
  assert.match(exportNoListen.stderr, /^capns export: required option '--listen <addr>' not specified; see 'capns export --help'\n$/);
  assert.equal(checkBogus.stderr, "capns manifest check: unknown option '--bogus'; see 'capns manifest check --help'\n");
  assert.equal(json.code, 2);
  assert.deepEqual(JSON.parse(json.stderr), { error: { command: 'ls', code: 'CLI_USAGE', message: "unknown option '--bogus'", status: 2 } });
});

test('ls, cat, stat and rm with several paths carry on past a failing one and exit 1 at the end; ls -l; mkdir -p', async (t) => {
  const s = await startServe(t);
  const srv = ['--server', s.rpc];
  const put = await capns(['put', '/tmp/a.txt', ...srv], { input: 'aaa\n' });
  assert.equal(put.code, 0, put.stderr);
  const mk = await capns(['mkdir', '-p', '/tmp/x/y/z', '/tmp/x/y', ...srv]);
  assert.equal(mk.code, 0, mk.stderr);
  const [ls, cat, stat, lsLong, lsJson] = await Promise.all([
    capns(['ls', '/tmp/nope', '/tmp/x/y', ...srv]),
    capns(['cat', '/tmp/nope', '/tmp/a.txt', ...srv]),
    capns(['stat', '/tmp/a.txt', '/tmp/nope', ...srv]),
    capns(['ls', '-l', '/tmp', ...srv]),
    capns(['ls', '/tmp/nope', '/tmp', '--json', ...srv]),
  ]);
  assert.deepEqual([ls.code, ls.stdout, ls.stderr], [1, '/tmp/x/y:\nz/\n', "capns ls: '/tmp/nope' does not exist (NS_ERR_NOT_FOUND)\n"]);
  assert.deepEqual([cat.code, cat.stdout, cat.stderr], [1, 'aaa\n', "capns cat: '/tmp/nope' does not exist (NS_ERR_NOT_FOUND)\n"]);
  assert.equal(stat.code, 1);
  assert.match(stat.stdout, /a\.txt/);
  assert.equal(stat.stderr, "capns stat: '/tmp/nope' does not exist (NS_ERR_NOT_FOUND)\n");
  assert.equal(lsLong.code, 0, lsLong.stderr);
  const lines = lsLong.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2, lsLong.stdout);
  assert.match(lines[0]!, /^-rw-r--r-- \S+ \S+ 4 \d{4}-\d\d-\d\d \d\d:\d\d a\.txt$/);
  assert.match(lines[1]!, /^drwxr-xr-x \S+ \S+ 0 \d{4}-\d\d-\d\d \d\d:\d\d x\/$/);
  // --json: the listing that worked on stdout, the error as one JSON line on stderr.
  assert.equal(lsJson.code, 1);
  assert.deepEqual(JSON.parse(lsJson.stderr), {
    error: { command: 'ls', code: 'NS_ERR_NOT_FOUND', message: "'/tmp/nope' does not exist", status: 1, path: '/tmp/nope' },
  });
  const rows = JSON.parse(lsJson.stdout) as Array<{ path: string; entries: Array<{ name: string }> }>;
  assert.deepEqual(rows.map((r) => [r.path, r.entries.map((e) => e.name).sort()]), [['/tmp', ['a.txt', 'x']]]);

  const [rmSome, mkdirNoParents] = await Promise.all([
    capns(['rm', '/tmp/nope', '/tmp/x/y/z', '/tmp/x/y', ...srv]),
    capns(['mkdir', '/tmp/p/q', ...srv]),
  ]);
  // rm works in order: the missing path is reported, z goes, then y (empty by then).
  assert.deepEqual([rmSome.code, rmSome.stderr], [1, "capns rm: '/tmp/nope' does not exist (NS_ERR_NOT_FOUND)\n"]);
  assert.equal(mkdirNoParents.code, 1);
  assert.match(mkdirNoParents.stderr, /^capns mkdir: '\/tmp\/p\/q'.*\(NS_ERR_NOT_FOUND\)\n$/);
  const mkdirOnFile = await capns(['mkdir', '-p', '/tmp/a.txt/b', '/tmp/x/y/w', ...srv]);
  const rmNotEmpty = await capns(['rm', '/tmp/x', ...srv]);
  assert.deepEqual([mkdirOnFile.code, mkdirOnFile.stderr], [1, "capns mkdir: '/tmp/a.txt' is not a directory (NS_ERR_NOT_DIR)\n"]);
  assert.deepEqual([rmNotEmpty.code, rmNotEmpty.stderr], [1, "capns rm: '/tmp/x' is not empty (NS_ERR_NOT_EMPTY)\n"]);
  const after = await capns(['ls', '/tmp', '/tmp/x/y', ...srv]);
  assert.deepEqual([after.code, after.stdout], [0, '/tmp:\na.txt\nx/\n/tmp/x/y:\nw/\n']);
});

test('manifest check --json prints one line, and a file it cannot read is one JSON error line on stderr with status 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-check-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'm.yaml'), defaultManifestText({ dataDir: join(dir, 'data') }));
  const [ok, missing] = await Promise.all([
    capns(['manifest', 'check', join(dir, 'm.yaml'), '--json']),
    capns(['manifest', 'check', join(dir, 'none.yaml'), '--json']),
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.split('\n').length, 2, 'one line and its newline');
  assert.equal((JSON.parse(ok.stdout) as { errors: number }).errors, 0);
  assert.deepEqual([missing.code, missing.stdout], [2, '']);
  const e = (JSON.parse(missing.stderr) as { error: { command: string; status: number; message: string } }).error;
  assert.deepEqual([e.command, e.status], ['manifest check', 2]);
  assert.match(e.message, /^cannot read '.*none\.yaml': no such file$/);
});

test('a command pointed at an HTTP or 9P listener says what answered instead of a frame error', async (t) => {
  const http = await answering(t, Buffer.from('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n'));
  // Rversion: size[4] type=101 tag=NOTAG msize[4] version[s]
  const rversion = Buffer.from([19, 0, 0, 0, 101, 0xff, 0xff, 0, 0x20, 0, 0, 6, 0, ...Buffer.from('9P2000')]);
  const ninep = await answering(t, rversion);
  const [h, n] = await Promise.all([capns(['ls', '--server', `tcp!127.0.0.1!${http}`]), capns(['ls', '--server', `127.0.0.1:${ninep}`, '--json'])]);
  assert.equal(h.code, 3);
  assert.match(h.stderr, new RegExp(`^capns ls: tcp!127\\.0\\.0\\.1!${http} is an HTTP server, not a capns RPC listener`));
  assert.doesNotMatch(h.stderr, /segments/);
  assert.equal(n.code, 3);
  const e = (JSON.parse(n.stderr) as { error: { message: string; code: string } }).error;
  assert.equal(e.code, 'RPC_DISCONNECTED');
  assert.match(e.message, /is a 9P server, not a capns RPC listener/);
});

test('capns ns talks to the server; the example of docs/cli.md works as written', async (t) => {
  const s = await startServe(t);
  const doc = await readFile(join(root, 'docs/cli.md'), 'utf8');
  const line = /^(printf .* \| capns ns .*)$/m.exec(doc)?.[1];
  assert.ok(line !== undefined, 'docs/cli.md has the ns example');
  const m = /^printf '(.*)' \| capns (.*)$/.exec(line);
  assert.ok(m !== null, line);
  const input = m[1]!.replaceAll('\\n', '\n');
  const r = await capns(m[2]!.split(' '), { input, env: { CAPNS_SERVER: s.rpc } });
  assert.equal(r.code, 0, r.stderr);
  // --list /n shows the clock bound there; --resolve /data shows the tmp tree after data.
  assert.match(r.stdout, /^\/n:\n {2}clock\tClock \(clock\)$/m);
  assert.match(r.stdout, /^\/data\n(?: .*\n)* {2}2\. tmp \[FileServer\]$/m);
  // Offline flags without --offline are a usage error that says what to add.
  const sub = await capns(['ns', '--sub', '/x'], { env: { CAPNS_SERVER: s.rpc } });
  assert.deepEqual([sub.code, sub.stderr], [2, 'capns ns: --sub works on the offline namespace only: add --offline (or --demo)\n']);
});

test('capns captable ls and revoke work through the CapTable of an administrator\'s namespace; without one, a message that says so', async (t) => {
  const s = await startServe(t, (dir) =>
    defaultManifestText({ dataDir: join(dir, 'data'), ports: { rpc: 0, '9p': 0, http: 0 } })
      .replace(/\n {2}- \{ protocol: 9p.*\n/, '\n')
      .replace(/ {2}- \{ protocol: http.*\n/, '')
      .replace('capabilities:\n', 'capabilities:\n  table: { type: captable }\n')
      .replace('profiles:\n', 'profiles:\n  admin:\n    auth: { tokens: [root-secret] }\n    namespace:\n      - { mount: table, at: /adm/captable }\n      - { mount: clock, at: /svc/clock }\n'),
  );
  const admin = ['--server', s.rpc, '--token', 'root-secret'];
  const none = await capns(['captable', 'ls', '--server', s.rpc]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^capns captable ls: your namespace \(profile 'local'\) holds no CapTable/);
  const ls = await capns(['captable', 'ls', '--json', ...admin]);
  assert.equal(ls.code, 0, ls.stderr);
  const grants = JSON.parse(ls.stdout) as Array<{ id: string; label: string; interface: string; interfaceId: string; holder: string; revoked: boolean }>;
  const clock = grants.find((g) => g.label === 'clock' && g.holder.startsWith('admin@'));
  assert.ok(clock !== undefined, ls.stdout);
  assert.equal(clock.interface, 'Clock');
  assert.match(clock.interfaceId, /^0x[0-9a-f]{16}$/);
  const [revoke, bad, text] = await Promise.all([
    capns(['captable', 'revoke', clock.id, '999999', ...admin]),
    capns(['captable', 'revoke', 'x1', ...admin]),
    capns(['captable', 'ls', ...admin]),
  ]);
  // The grant belonged to the ls connection, gone by now: revoking it still succeeds or
  // says it is gone; the unknown id is reported and the status is 1.
  assert.equal(revoke.code, 1);
  assert.match(revoke.stderr, /^capns captable revoke: no grant 999999 in the table \(NS_ERR_NOT_FOUND\)\n$/m);
  assert.deepEqual([bad.code, bad.stderr], [2, "capns captable revoke: 'x1' is not a grant id (a decimal number, as capns captable ls prints it)\n"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^ID +LABEL +INTERFACE +HOLDER +CALLS +STATE\n/);
  assert.match(text.stdout, /clock +Clock +admin@/);
});

test('capns serve: default ports move by flag or environment; a busy port names the listener and how to move it; nothing is left on disk', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-ports-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  t.after(() => busy.close());
  const port = (busy.address() as net.AddressInfo).port;
  const [byFlag, byEnv, badPort] = await Promise.all([
    capns(['serve', '--rpc-port', String(port), '--9p-port', '0', '--http-port', '0'], { cwd: dir }),
    capns(['serve', '--rpc-port', '0'], { cwd: dir, env: { CAPNS_9P_PORT: String(port) } }),
    capns(['serve', '--http-port', '70000'], { cwd: dir }),
  ]);
  assert.equal(byFlag.code, 1);
  assert.equal(
    byFlag.stderr.trim().split('\n').at(-1),
    `capns serve: not started: tcp!127.0.0.1!${port} (the rpc listener) is in use by another program (another capns serve?): move it with --rpc-port PORT or CAPNS_RPC_PORT=PORT (0 picks a free port), or stop that program`,
  );
  assert.equal(byEnv.code, 1);
  assert.match(byEnv.stderr, new RegExp(`tcp!127\\.0\\.0\\.1!${port} \\(the 9p listener\\) is in use .*--9p-port PORT or CAPNS_9P_PORT=PORT`));
  assert.deepEqual([badPort.code, badPort.stderr], [2, 'capns serve: --http-port 70000: expected a port number, 0 to 65535 (0 picks a free one)\n']);
  assert.equal(existsSync(join(dir, 'capns-data')), false, 'the data folder of a start that failed is not left behind');
  assert.equal(byFlag.stdout, '', 'no listening line when nothing listens');
});

test('capns serve logs JSON lines by default when stderr is not a terminal, readable lines with --log-format pretty', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-logs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const run = async (format: string[]): Promise<string> => {
    const child = spawn(process.execPath, ['--import', tsx, join(root, 'src/cli/main.ts'), 'serve', '--rpc-port', '0', '--9p-port', '0', '--http-port', '0', ...format], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', CAPNS_LOG_FORMAT: '' },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise((r) => child.on('exit', r));
    await new Promise<void>((ready) => child.stderr.on('data', () => err.includes('capns serve ready') && ready()));
    child.kill('SIGTERM');
    await exited;
    return err;
  };
  const [json, pretty] = await Promise.all([run([]), run(['--log-format', 'pretty'])]);
  const ready = json.split('\n').find((l) => l.includes('capns serve ready'))!;
  assert.equal((JSON.parse(ready) as { msg: string; level: number }).level, 30);
  assert.match(pretty, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}capns serve ready addresses=\[/m);
  assert.doesNotMatch(pretty, /^\{/m, 'no JSON line in the pretty form');
});
