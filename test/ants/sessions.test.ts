/**
 * The sessions tree (issue 20 part 1; ANTS section IV, writable /proc/N/ns), against a
 * running `capns serve` in this process, over real RPC, 9P and HTTP connections.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { connect, type CapnsClient } from '../../src/client/index.js';
import { parseManifest } from '../../src/manifest/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';

const run = promisify(execFile);

const MANIFEST = `
version: 1
capabilities:
  files: { type: ram }
  other: { type: ram }
  clock: { type: demo.clock }
  proc: { type: sessions }
  userproc: { type: sessions, profiles: [user] }
  roproc: { type: sessions, readOnly: true }
profiles:
  admin:
    auth: { tokens: [adm] }
    namespace:
      - { mount: proc, at: /proc }
      - { mount: roproc, at: /roproc }
  helper:
    auth: { tokens: [hlp] }
    namespace:
      - { mount: userproc, at: /proc }
  user:
    auth: { tokens: [usr] }
    namespace:
      - { mount: files, at: /files, create: true }
      - { mount: other, at: /other }
      - { mount: clock, at: /svc/clock, require: Clock }
  ninep:
    auth: { tokens: [nine], loopback: true }
    namespace:
      - { mount: proc, at: /proc }
      - { mount: files, at: /files }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: 9p, address: "tcp!127.0.0.1!0", profile: ninep }
  - { protocol: http, address: "tcp!127.0.0.1!0" }
exports:
  - { profile: user, root: /, listen: "tcp!127.0.0.1!0", readOnly: true, auth: { tokens: [ro] } }
`;

interface World {
  server: CapnsServer;
  rpc: string;
  ninep: string;
  http: string;
  exported: string;
  client(token: string, address?: string): Promise<CapnsClient>;
}

async function world(t: TestContext): Promise<World> {
  const server = await startCapnsServer({ manifest: parseManifest(MANIFEST, { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  const clients: CapnsClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.close();
    await server.close();
  });
  const at = (p: string): string => server.addresses.find((a) => a.protocol === p)!.address;
  return {
    server,
    rpc: at('rpc'),
    ninep: at('9p'),
    http: at('http'),
    exported: at('export'),
    async client(token, address = at('rpc')) {
      const c = await connect(address, { token });
      clients.push(c);
      return c;
    },
  };
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** The session directory (under /proc) whose status names `holder`'s profile and peer kind. */
async function sessionOf(admin: CapnsClient, profile: string, kind: string, root = '/proc'): Promise<string> {
  for (const e of await admin.list(root)) {
    if (!/^\d+$/.test(e.name)) continue;
    const peer = text(await admin.readFile(`${root}/${e.name}/peer`));
    const p = text(await admin.readFile(`${root}/${e.name}/profile`)).trim();
    if (p === profile && peer.startsWith(`${kind} `)) return `${root}/${e.name}`;
  }
  throw new Error(`no ${kind} session of ${profile}`);
}

test('a write to a live session\'s ns is applied to it as if it had issued it: its next resolve sees it', async (t) => {
  const w = await world(t);
  const admin = await w.client('adm');
  const user = await w.client('usr');
  const dir = await sessionOf(admin, 'user', 'rpc');
  assert.equal(text(await admin.readFile(`${dir}/ns`)), await user.describe());
  await assert.rejects(user.lookup('/n/x'), /does not exist|not found/);
  await admin.writeFile(`${dir}/ns`, Buffer.from('mount files /n/x\nmount -a other /n/x\n'));
  const r = await user.lookup('/n/x');
  assert.equal(r.label, 'files');
  assert.deepEqual((await user.members('/n/x')).map((m) => m.label), ['files', 'other']);
  assert.match(text(await admin.readFile(`${dir}/ns`)), /^mount files \/n\/x\nmount -a other \/n\/x$/m);
});

test('a failing write changes nothing and names the line; 9P clients read the message in status', async (t) => {
  const w = await world(t);
  const admin = await w.client('adm');
  const user = await w.client('usr');
  const dir = await sessionOf(admin, 'user', 'rpc');
  const before = await user.describe();
  await assert.rejects(admin.writeFile(`${dir}/ns`, Buffer.from('mount files /ok\nmount nosuch /bad\n')), /line 2, column 7: no capability is labelled 'nosuch'/);
  assert.equal(await user.describe(), before);
  assert.match(text(await admin.readFile(`${dir}/status`)), /^lasterror line 2, column 7: no capability is labelled 'nosuch'$/m);
  // The profile's declarations hold: /svc/clock must hold a Clock.
  await assert.rejects(admin.writeFile(`${dir}/ns`, Buffer.from('mount files /svc/clock\n')), /'\/svc\/clock' is declared to hold a Clock/);
  // A label names only what the session itself holds: the administrator's capabilities are not its.
  await assert.rejects(admin.writeFile(`${dir}/ns`, Buffer.from('mount proc /n/proc\n')), /no capability is labelled 'proc'/);
  assert.equal(await user.describe(), before);
});

test('writes through an export peer\'s session meet its view: a read-only export refuses them', async (t) => {
  const w = await world(t);
  const admin = await w.client('adm');
  const peer = await w.client('ro', w.exported);
  const dir = await sessionOf(admin, 'user', 'export');
  assert.equal(text(await admin.readFile(`${dir}/ns`)), await peer.describe());
  await assert.rejects(admin.writeFile(`${dir}/ns`, Buffer.from('mount files /n/x\n')), /read-only|permission/);
  assert.doesNotMatch(await peer.describe(), /\/n\/x/);
});

test('who sees and rewrites which sessions is the capability\'s: none without it, one profile\'s, read-only', async (t) => {
  const w = await world(t);
  const admin = await w.client('adm');
  const helper = await w.client('hlp');
  const user = await w.client('usr');
  await assert.rejects(user.list('/proc'), /does not exist|not found/);
  const profilesSeen = async (c: CapnsClient, root: string) => {
    const out = new Set<string>();
    for (const e of await c.list(root)) if (/^\d+$/.test(e.name)) out.add(text(await c.readFile(`${root}/${e.name}/profile`)).trim());
    return [...out].sort();
  };
  assert.deepEqual(await profilesSeen(helper, '/proc'), ['user']);
  assert.deepEqual(await profilesSeen(admin, '/proc'), ['admin', 'helper', 'ninep', 'user']);
  assert.deepEqual((await helper.list('/proc/profiles')).map((e) => e.name), ['user']);
  const dir = await sessionOf(admin, 'user', 'rpc', '/roproc');
  assert.equal(text(await admin.readFile(`${dir}/ns`)), await user.describe());
  await assert.rejects(admin.writeFile(`${dir}/ns`, Buffer.from('mount files /n/x\n')), /read-only|permission/);
  await assert.rejects(admin.writeFile(`${dir}/ctl`, Buffer.from('hangup\n')), /read-only|permission/);
  // A sub of the tree is one session, and nothing above it.
  await admin.bind(dir.replace('/roproc', '/proc'), '/mine');
  assert.deepEqual((await admin.list('/mine')).map((e) => e.name).sort(), ['ctl', 'grants', 'ns', 'peer', 'profile', 'status']);
  await assert.rejects(admin.readFile('/mine/../profile/x'), /not found|does not exist/);
});

test('a session rerooted onto a profile gives every grant back when its connection ends (the staged binds keep no reference of their own)', async (t) => {
  const w = await world(t);
  const admin = await w.client('adm');
  const user = await w.client('usr');
  const dir = await sessionOf(admin, 'user', 'rpc');
  await admin.writeFile(`${dir}/ctl`, Buffer.from('reroot -k /files profile helper\n'));
  assert.ok((await user.list('/proc')).length >= 0);
  const held = (): number => w.server.captable.list('user@').length;
  assert.ok(held() > 0);
  await user.close();
  for (let k = 0; k < 100 && held() > 0; k++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(w.server.captable.list('user@').map((g) => g.label), [], 'grants of the rerooted session left in the table');
});

test('grants shows what a session holds with call counts; ctl revoke severs it, ctl hangup cuts it', async (t) => {
  const w = await world(t);
  const admin = await w.client('adm');
  const user = await w.client('usr');
  const dir = await sessionOf(admin, 'user', 'rpc');
  await user.call('/svc/clock', 'now', {});
  await user.call('/svc/clock', 'now', {});
  const grants = text(await admin.readFile(`${dir}/grants`));
  assert.match(grants, /^\d+ clock 0x[0-9a-f]{16} 2$/m, grants);
  assert.match(grants, /^\d+ files 0x[0-9a-f]{16} \d+$/m);
  await admin.writeFile(`${dir}/ctl`, Buffer.from('revoke\n'));
  await assert.rejects(user.call('/svc/clock', 'now', {}), /revoked/);
  assert.match(text(await admin.readFile(`${dir}/grants`)), /clock 0x[0-9a-f]{16} 2 revoked/);
  await assert.rejects(admin.writeFile(`${dir}/ctl`, Buffer.from('explode\n')), /unknown ctl message 'explode'/);
  await admin.writeFile(`${dir}/ctl`, Buffer.from('hangup\n'));
  await assert.rejects(user.describe(), /disconnect|closed|hung up/);
  // The session leaves the tree with its connection.
  for (let i = 0; i < 50 && (await admin.list('/proc')).some((e) => `/proc/${e.name}` === dir); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!(await admin.list('/proc')).some((e) => `/proc/${e.name}` === dir));
});

test('every kind of session is listed: RPC, 9P, HTTP, export peers', async (t) => {
  const w = await world(t);
  const admin = await w.client('adm');
  await w.client('ro', w.exported);
  const [host, port] = w.http.split('!').slice(1);
  const r = await fetch(`http://${host}:${port}/api/v1/ns/describe`, { headers: { authorization: 'Bearer usr' } });
  assert.equal(r.status, 200);
  const kinds = new Set<string>();
  for (const e of await admin.list('/proc')) if (/^\d+$/.test(e.name)) kinds.add(text(await admin.readFile(`/proc/${e.name}/peer`)).split(' ')[0]!);
  assert.deepEqual([...kinds].sort(), ['9p', 'export', 'http', 'rpc']);
  // The HTTP session's ns is the one its requests see; and the tree is usable over HTTP too.
  const dir = await sessionOf(admin, 'user', 'http');
  const put = await fetch(`http://${host}:${port}/api/v1/files?path=${encodeURIComponent(`${dir}/ns`)}`, {
    method: 'PUT',
    headers: { authorization: 'Bearer adm', 'content-type': 'text/plain' },
    body: 'mount files /n/web\n',
  });
  assert.equal(put.status, 200, await put.text());
  const d = await fetch(`http://${host}:${port}/api/v1/ns/describe`, { headers: { authorization: 'Bearer usr' } });
  assert.match(((await d.json()) as { text: string }).text, /^mount files \/n\/web$/m);
});

const diodcat = '/usr/sbin/diodcat';
test('9P: a real client (diodcat) reads a session\'s ns through a 9P listener; a 9P listener\'s own ns is writable', { skip: existsSync(diodcat) ? false : 'diod not installed' }, async (t) => {
  const w = await world(t);
  const admin = await w.client('adm');
  const user = await w.client('usr');
  const dir = await sessionOf(admin, 'user', 'rpc');
  const [, host, port] = w.ninep.split('!');
  const cat = await run(diodcat, ['-s', `${host}:${port}`, '-a', '/', '-t', '10', `${dir}/ns`]);
  assert.equal(cat.stdout, await user.describe());
  // The 9P listener's namespace is a session too: rewrite it, and 9P clients see the change.
  const nine = await sessionOf(admin, 'ninep', '9p');
  await admin.writeFile(`${nine}/ns`, Buffer.from('mount files /more\n'));
  const ls = await run('/usr/sbin/diodls', ['-s', `${host}:${port}`, '-a', '/', '-t', '10']);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['files', 'more', 'proc']);
  await assert.rejects(admin.writeFile(`${nine}/ctl`, Buffer.from('hangup\n')), /cannot be hung up alone/);
});
