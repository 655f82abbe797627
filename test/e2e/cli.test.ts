/**
 * The `capns` commands that work against a running server, each run as a real process
 * against a real `capns serve`: output, --json, and exit status (0 ok, 1 expected
 * failure, 2 usage, 3 unreachable). Independent commands run concurrently to keep the
 * test short (each is a node process).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { File } from '../../src/gen/fileserver.js';
import { root, startServe, tsx } from '../client/serve-process.js';

const FILE_ID = '0x' + File.Client.interfaceId.toString(16).padStart(16, '0');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `capns ARGS` from the sources, with `input` on stdin. */
function capns(args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<Run> {
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'src/cli/main.ts'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', CAPNS_SERVER: '', CAPNS_TOKEN: '', ...opts.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

test('capns ls/put/cat/stat/mkdir/rm against a running server, with --json and exit statuses', async (t) => {
  const s = await startServe(t);
  const srv = ['--server', s.rpc];
  await writeFile(join(s.dir, 'local.txt'), 'from a local file\n');
  const [ls, lsJson, put, putFrom, mkdir, catMissing] = await Promise.all([
    capns(['ls', ...srv]),
    capns(['ls', '/svc', '--json'], { env: { CAPNS_SERVER: s.rpc } }),
    capns(['put', '/tmp/hello.txt', ...srv], { input: 'hello, capns\n' }),
    capns(['put', '/data/copy.txt', '--from', join(s.dir, 'local.txt'), ...srv]),
    capns(['mkdir', '/tmp/d', '/tmp/e', ...srv]),
    capns(['cat', '/tmp/nope', ...srv]),
  ]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal(ls.stdout, 'data/\nsvc/\ntmp/\n');
  assert.equal(lsJson.code, 0, lsJson.stderr);
  assert.deepEqual(JSON.parse(lsJson.stdout), [{ name: 'clock', kind: 'capability', interfaceId: '0xf9fe98c2ac1f6b3c', interface: 'Clock', label: 'clock', qid: JSON.parse(lsJson.stdout)[0].qid }]);
  assert.equal(put.code, 0, put.stderr);
  assert.equal(putFrom.code, 0, putFrom.stderr);
  assert.equal(mkdir.code, 0, mkdir.stderr);
  // Not found: exit 1, the message names the path.
  assert.equal(catMissing.code, 1);
  assert.equal(catMissing.stderr, "capns cat: '/tmp/nope' does not exist (NS_ERR_NOT_FOUND)\n");

  const [cat, catJson, stat, statCap, lsTmp, mkdirAgain] = await Promise.all([
    capns(['cat', '/tmp/hello.txt', '/data/copy.txt', ...srv]),
    capns(['cat', '/tmp/hello.txt', '--json', ...srv]),
    capns(['stat', '/tmp/hello.txt', '--json', ...srv]),
    capns(['stat', '/svc/clock', ...srv]),
    capns(['ls', '/tmp', ...srv]),
    capns(['mkdir', '/tmp/d', ...srv]),
  ]);
  assert.equal(cat.stdout, 'hello, capns\nfrom a local file\n');
  assert.deepEqual(JSON.parse(catJson.stdout), [{ path: '/tmp/hello.txt', base64: Buffer.from('hello, capns\n').toString('base64') }]);
  const st = JSON.parse(stat.stdout) as Record<string, unknown>;
  assert.deepEqual([st['kind'], st['name'], st['length'], st['mode']], ['file', 'hello.txt', '13', '0644']);
  assert.match(statCap.stdout, /^\/svc\/clock\tcapability Clock 0xf9fe98c2ac1f6b3c label clock\n$/);
  assert.equal(lsTmp.stdout.split('\n').filter((l) => l !== '').sort().join(' '), 'd/ e/ hello.txt');
  assert.equal(mkdirAgain.code, 1);
  assert.match(mkdirAgain.stderr, /NS_ERR_EXISTS/);

  const rm = await capns(['rm', '/tmp/hello.txt', '/tmp/e', ...srv]);
  assert.equal(rm.code, 0, rm.stderr);
  const lsAfter = await capns(['ls', '/tmp', ...srv]);
  assert.equal(lsAfter.stdout, 'd/\n');
});

test('capns bind/mount/unmount change only their connection and print it; capns ns shows the server namespace', async (t) => {
  const s = await startServe(t);
  const srv = ['--server', s.rpc];
  const [bind, mount, unmount, ns, nsQuery, nsApply, nsDemo, bothAB] = await Promise.all([
    capns(['bind', '/svc/clock', '/n/clock', ...srv]),
    capns(['mount', '-a', '-c', 'tmp', '/data', ...srv]),
    capns(['unmount', 'clock', '/svc/clock', '--json', ...srv]),
    capns(['ns'], { env: { CAPNS_SERVER: s.rpc } }),
    capns(['ns', '--resolve', '/svc/clock', '--list', '/svc', ...srv]),
    capns(['ns', '--apply', '-', ...srv], { input: 'bind /tmp /n/t\n' }),
    capns(['ns', '--demo'], { env: { CAPNS_SERVER: s.rpc } }),
    capns(['bind', '-a', '-b', '/tmp', '/x', ...srv]),
  ]);
  assert.equal(bind.code, 0, bind.stderr);
  assert.match(bind.stdout, /^mount clock \/n\/clock$/m);
  assert.match(mount.stdout, /^mount -c data \/data\nmount -ac tmp \/data$/m);
  assert.equal(unmount.code, 0, unmount.stderr);
  assert.doesNotMatch(JSON.parse(unmount.stdout).namespace, /clock/);
  // Each command had its own connection: the server's namespace for a new one is the profile's.
  assert.equal(ns.code, 0, ns.stderr);
  assert.equal(ns.stdout, 'mount -c data /data\nmount clock /svc/clock\nmount -c tmp /tmp\n');
  assert.match(nsQuery.stdout, /^\/svc\/clock\n {2}Clock 0xf9fe98c2ac1f6b3c label clock\n {2}1\. clock \[Clock\]\n\/svc:\n {2}clock\tClock \(clock\)\n$/);
  assert.match(nsApply.stdout, /^mount tmp \/n\/t$/m);
  // --demo stays the offline demo even with CAPNS_SERVER set.
  assert.equal(nsDemo.code, 0, nsDemo.stderr);
  assert.match(nsDemo.stdout, /^mount 386 \/386$/m);
  assert.equal(bothAB.code, 2);
  assert.match(bothAB.stderr, /-a and -b cannot be used together/);
});

test('capns call by schema reflection: Clock.now, a FileServer method, a File in a tree; bad JSON, unknown method, failures', async (t) => {
  const s = await startServe(t);
  const srv = ['--server', s.rpc];
  await capns(['put', '/tmp/notes.txt', ...srv], { input: 'some notes' });
  const [now, attach, read, badJson, unknown, listing, badParam, failure] = await Promise.all([
    capns(['call', '/svc/clock', 'now', ...srv]),
    capns(['call', '/tmp', 'attach', '{"aname": ""}', '--json', ...srv]),
    capns(['call', '/tmp/notes.txt', 'stat', ...srv]),
    capns(['call', '/svc/clock', 'now', '{nope', ...srv]),
    capns(['call', '/svc/clock', 'tick', ...srv]),
    capns(['call', '/tmp/notes.txt', ...srv]),
    capns(['call', '/tmp/notes.txt', 'read', '{"offset": -1, "count": 3}', ...srv]),
    capns(['call', '/tmp/notes.txt', 'read', '{"offset": 0, "count": 3}', ...srv]),
  ]);
  assert.equal(now.code, 0, now.stderr);
  const n = JSON.parse(now.stdout) as { unixMillis: string; iso: string };
  assert.ok(Math.abs(Number(n.unixMillis) - Date.now()) < 60_000);
  assert.equal(new Date(n.iso).getTime(), Number(n.unixMillis));
  assert.equal(attach.code, 0, attach.stderr);
  const a = JSON.parse(attach.stdout) as { result: { ok: { root: unknown; qid: { type: number } } } };
  assert.deepEqual(a.result.ok.root, { capability: { interfaceId: FILE_ID, interface: 'File' } });
  assert.equal(a.result.ok.qid.type, 0x80);
  const st = JSON.parse(read.stdout) as { result: { stat: { name: string; length: string } } };
  assert.deepEqual([st.result.stat.name, st.result.stat.length], ['notes.txt', '10']);
  assert.equal(badJson.code, 2);
  assert.match(badJson.stderr, /params are not JSON/);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Clock has no method "tick"; its methods: now/);
  assert.equal(listing.code, 0);
  assert.match(listing.stdout, /^\/tmp\/notes\.txt: File 0x[0-9a-f]{16}\n/);
  assert.match(listing.stdout, /^ {2}read \(offset :UInt64, count :UInt32\) -> \(result :File\.ReadResult\)$/m);
  assert.equal(badParam.code, 2);
  assert.match(badParam.stderr, /params\.offset: expected a uint64/);
  // A Failure in the results: printed, and exit 1.
  assert.equal(failure.code, 1);
  assert.deepEqual(JSON.parse(failure.stdout), { result: { err: { code: 'notOpen', message: JSON.parse(failure.stdout).result.err.message } } });
});

test('capns commands: unreachable or silent server exits 3, bad usage 2, --help 0', async (t) => {
  const silent = net.createServer((sock) => sock.on('error', () => {}).resume());
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => silent.close(() => r())));
  const [unreachable, mute, badAddr, missingArg, badOpt, helpLs, helpCall] = await Promise.all([
    capns(['ls', '--server', 'tcp!127.0.0.1!1']),
    capns(['ls', '--server', `tcp!127.0.0.1!${(silent.address() as net.AddressInfo).port}`, '--timeout', '500']),
    capns(['ls', '--server', 'not an address']),
    capns(['cat']),
    capns(['ls', '--bogus']),
    capns(['ls', '--help']),
    capns(['call', '--help']),
  ]);
  assert.equal(unreachable.code, 3);
  assert.match(unreachable.stderr, /cannot connect to tcp!127\.0\.0\.1!1/);
  assert.equal(mute.code, 3);
  assert.match(mute.stderr, /no answer from .* within 500 ms/);
  assert.equal(badAddr.code, 2);
  assert.equal(missingArg.code, 2);
  assert.equal(badOpt.code, 2);
  assert.equal(helpLs.code, 0);
  assert.match(helpLs.stdout, /Usage: capns ls/);
  assert.equal(helpCall.code, 0);
  assert.match(helpCall.stdout, /Usage: capns call \[options\] <path> \[method\] \[json\]/);
});

test('every remote command has --help with --server, --token, --json and the exit statuses', async () => {
  // In process (the same register() functions main.ts calls): one process per command
  // would only measure node's start-up.
  const program = new Command().exitOverride();
  const cmds = ['ls', 'cat', 'put', 'stat', 'rm', 'mkdir', 'bind', 'mount', 'unmount', 'call'];
  for (const c of [...cmds, 'ns']) ((await import(`../../src/cli/commands/${c}.js`)) as { register(p: Command): void }).register(program);
  for (const name of cmds) {
    const cmd = program.commands.find((c) => c.name() === name);
    assert.ok(cmd, name);
    let help = '';
    cmd.configureOutput({ writeOut: (s) => (help += s) });
    cmd.outputHelp();
    for (const want of ['--server <addr>', '--token <token>', '--json', '--ca <file>', 'Exit status: 0 done, 1 expected failure']) assert.ok(help.includes(want), `${name} --help lacks ${want}`);
  }
  const ns = program.commands.find((c) => c.name() === 'ns')!;
  assert.ok(ns.helpInformation().includes('--server <addr>'));
});

test('capns with a token: the profile it selects; a wrong token exits 1', async (t) => {
  const s = await startServe(t);
  const [alice, wrong] = await Promise.all([
    capns(['ls', '--server', s.rpc], { env: { CAPNS_TOKEN: 'alice-secret' } }),
    capns(['ls', '--server', s.rpc, '--token', 'wrong']),
  ]);
  assert.equal(alice.code, 0, alice.stderr);
  assert.equal(alice.stdout, 'svc/\ntmp/\n');
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /unknown token \(NS_ERR_PERMISSION\)/);
});

test('capns over TLS: --ca trusts the server; plain TCP or an untrusted certificate exits 3', async (t) => {
  let certFile = '';
  const s = await startServe(t, (dir) => {
    certFile = join(dir, 'c.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'k.pem'), '-out', certFile], { stdio: 'ignore' });
    return `version: 1
capabilities:
  clock: { type: demo.clock }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: clock, at: /svc/clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0", tls: { cert: ${JSON.stringify(certFile)}, key: ${JSON.stringify(join(dir, 'k.pem'))} } }
`;
  });
  const [ok, ns, plain, untrusted, badCa] = await Promise.all([
    capns(['stat', '/svc/clock', '--server', s.rpc, '--ca', certFile]),
    capns(['ns', '--server', s.rpc, '--ca', certFile]),
    capns(['ls', '--server', s.rpc]),
    capns(['ls', '--server', s.rpc, '--tls']),
    capns(['ls', '--server', s.rpc, '--ca', join(s.dir, 'missing.pem')]),
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^\/svc\/clock\tcapability Clock /);
  assert.equal(ns.stdout, 'mount clock /svc/clock\n');
  assert.equal(plain.code, 3, plain.stderr);
  assert.equal(untrusted.code, 3, untrusted.stderr);
  assert.match(untrusted.stderr, /cannot connect.*certificate/i);
  assert.equal(badCa.code, 2);
  assert.match(badCa.stderr, /--ca: cannot read/);
});
