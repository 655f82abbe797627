/**
 * `capns cpns`, `addns`, `subns` between live sessions of a real `capns serve` process,
 * and re-rooting a live session (issue 20 parts 2 and 4; ANTS cpns and rerootwin).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, type CapnsClient } from '../../src/client/index.js';
import { root, startServe, tsx } from '../client/serve-process.js';

const MANIFEST = () => `
version: 1
capabilities:
  files: { type: ram }
  other: { type: ram }
  hub: { type: ram }
  clock: { type: demo.clock }
  proc: { type: sessions }
profiles:
  admin:
    auth: { tokens: [adm] }
    namespace:
      - { mount: proc, at: /proc }
  alice:
    auth: { tokens: [ali] }
    namespace:
      - { mount: files, at: /bin, create: true }
      - { mount: other, at: /bin, position: after }
      - { mount: clock, at: /svc/clock }
      - { mount: hub, at: /n/hub }
  bob:
    auth: { tokens: [bob] }
    namespace:
      - { mount: other, at: /bin }
      - { mount: files, at: /tmp }
      - { mount: clock, at: /svc/clock }
      - { mount: hub, at: /n/hub }
  remote:
    auth: { tokens: [rem] }
    namespace:
      - { mount: other, at: / }
      - { mount: clock, at: /svc/time }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;

function capns(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'src/cli/main.ts'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', CAPNS_SERVER: '', CAPNS_TOKEN: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin);
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

async function sessionId(admin: CapnsClient, profile: string): Promise<string> {
  for (const e of await admin.list('/proc')) {
    if (!/^\d+$/.test(e.name)) continue;
    if (Buffer.from(await admin.readFile(`/proc/${e.name}/profile`)).toString().trim() === profile) return e.name;
  }
  throw new Error(`no session of ${profile}`);
}

test('capns cpns between two live sessions: -n prints the shortest list, then applying it makes one describe as the other', async (t) => {
  const s = await startServe(t, MANIFEST);
  const admin = await connect(s.rpc, { token: 'adm' });
  const alice = await connect(s.rpc, { token: 'ali' });
  const bob = await connect(s.rpc, { token: 'bob' });
  t.after(async () => {
    for (const c of [admin, alice, bob]) await c.close();
  });
  const a = await sessionId(admin, 'alice');
  const b = await sessionId(admin, 'bob');
  const dry = await capns(['cpns', '-n', '--server', s.rpc, '--token', 'adm', a, `/proc/${b}`]);
  assert.equal(dry.code, 0, dry.stderr);
  // /bin: bob has [other]; alice [files -c, other]: one `mount -bc files /bin`. /tmp goes, nothing else changes.
  assert.equal(dry.stdout, 'mount -bc files /bin\nunmount /tmp\n');
  assert.notEqual(await bob.describe(), await alice.describe());
  const wet = await capns(['cpns', '--server', s.rpc, '--token', 'adm', '--json', a, b]);
  assert.equal(wet.code, 0, wet.stderr);
  assert.deepEqual(JSON.parse(wet.stdout), { from: `/proc/${a}`, to: `/proc/${b}`, operations: ['mount -bc files /bin', 'unmount /tmp'], applied: true });
  assert.equal(await bob.describe(), await alice.describe());
  // Nothing left to do.
  assert.equal((await capns(['cpns', '-n', '--server', s.rpc, '--token', 'adm', a, b])).stdout, '');
});

test('capns addns and subns; a model naming what the target does not hold fails naming the line, changing nothing', async (t) => {
  const s = await startServe(t, MANIFEST);
  const admin = await connect(s.rpc, { token: 'adm' });
  const bob = await connect(s.rpc, { token: 'bob' });
  t.after(async () => {
    for (const c of [admin, bob]) await c.close();
  });
  const b = await sessionId(admin, 'bob');
  const add = await capns(['addns', '--server', s.rpc, '--token', 'adm', 'file:-', b], 'mount files /bin\nmount -a other /bin\nmount hub /n/extra\n');
  assert.equal(add.code, 0, add.stderr);
  assert.equal(add.stdout, 'mount -b files /bin\nmount hub /n/extra\n');
  assert.deepEqual((await bob.members('/bin')).map((m) => m.label), ['files', 'other']);
  const sub = await capns(['subns', '--server', s.rpc, '--token', 'adm', 'file:-', b], 'mount hub /n/extra\nmount other /bin\n');
  assert.equal(sub.code, 0, sub.stderr);
  assert.equal(sub.stdout, 'unmount other /bin\nunmount /n/extra\n');
  assert.deepEqual((await bob.members('/bin')).map((m) => m.label), ['files']);
  const before = await bob.describe();
  const bad = await capns(['cpns', '--server', s.rpc, '--token', 'adm', 'file:-', b], 'mount files /bin\nmount proc /proc\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /line \d+, column \d+: no capability is labelled 'proc'/);
  assert.equal(await bob.describe(), before);
  const profile = await capns(['cpns', '-n', '--server', s.rpc, '--token', 'adm', 'profile:bob', b]);
  assert.equal(profile.code, 0, profile.stderr);
  assert.equal(profile.stdout, 'mount other /bin\n');
  assert.equal((await capns(['cpns', '--server', s.rpc, '--token', 'adm', b, 'profile:bob'])).code, 2);
});

test('reroot: the root becomes a profile\'s namespace in one step, the paths kept stay; through ctl and the CLI', async (t) => {
  const s = await startServe(t, MANIFEST);
  const admin = await connect(s.rpc, { token: 'adm' });
  const alice = await connect(s.rpc, { token: 'ali' });
  t.after(async () => {
    for (const c of [admin, alice]) await c.close();
  });
  const a = await sessionId(admin, 'alice');
  // A device of its own, below a mount (kept by binding it onto itself first).
  await alice.mkdir('/bin/dev');
  await alice.writeFile('/bin/dev/cons', Buffer.from('console'));
  const r = await capns(['reroot', '--server', s.rpc, '--token', 'adm', a, '--profile', 'remote', '-k', '/n/hub', '-k', '/bin/dev']);
  assert.equal(r.code, 0, r.stderr);
  const ns = await alice.describe();
  assert.equal(r.stdout, ns);
  // The new root: remote's namespace (granted to alice's session), kept paths as they were.
  assert.equal(ns, 'mount other /\nmount files /bin/dev dev\nmount -a other /bin/dev dev\nmount hub /n/hub\nmount clock /svc/time\n');
  assert.equal(Buffer.from(await alice.readFile('/bin/dev/cons')).toString(), 'console');
  await alice.call('/svc/time', 'now', {});
  // Its new grants are the session's: they show in grants, with their calls.
  assert.match(Buffer.from(await admin.readFile(`/proc/${a}/grants`)).toString(), /clock 0x[0-9a-f]{16} 1$/m);
});

test('reroot onto a capability the session holds, and onto ns text; a failing reroot changes nothing', async (t) => {
  const s = await startServe(t, MANIFEST);
  const admin = await connect(s.rpc, { token: 'adm' });
  const bob = await connect(s.rpc, { token: 'bob' });
  t.after(async () => {
    for (const c of [admin, bob]) await c.close();
  });
  const b = await sessionId(admin, 'bob');
  const before = await bob.describe();
  await assert.rejects(admin.writeFile(`/proc/${b}/ctl`, Buffer.from('reroot -k /n/hub ns\nmount nosuch /\n')), /no capability is labelled 'nosuch'/);
  await assert.rejects(admin.writeFile(`/proc/${b}/ctl`, Buffer.from('reroot -k / profile alice\n')), /keeping '\/' would keep everything/);
  await assert.rejects(admin.writeFile(`/proc/${b}/ctl`, Buffer.from('reroot profile nobody\n')), /no profile 'nobody'/);
  assert.equal(await bob.describe(), before);
  await admin.writeFile(`/proc/${b}/ctl`, Buffer.from('reroot -k /svc -k /n/hub mount files\n'));
  assert.equal(await bob.describe(), 'mount files /\nmount hub /n/hub\nmount clock /svc/clock\n');
  await admin.writeFile(`/proc/${b}/ctl`, Buffer.from('reroot -k /svc ns\nmount hub /\nmount -a files /\n'));
  assert.equal(await bob.describe(), 'mount hub /\nmount -a files /\nmount clock /svc/clock\n');
});
