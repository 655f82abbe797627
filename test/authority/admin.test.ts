// Revoking an export from outside the process (issue 16): `capns exports` and `capns
// exports revoke` through the CapTable of an administrator's namespace, and the HTTP
// routes /api/v1/exports. A peer's capabilities are severed at once, results of results
// included; a namespace without a CapTable cannot do it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { pino } from 'pino';
import { Failure_Code, OpenMode_Access } from '../../src/gen/common.js';
import { FileServer } from '../../src/gen/fileserver.js';
import { Gate } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/index.js';
import { connect, release } from '../../src/rpc/index.js';
import { startCapnsServer } from '../../src/server/capns-server.js';
import { root, startServe, tsx } from '../client/serve-process.js';

const MANIFEST = (http = false) => `
version: 1
capabilities:
  files: { type: ram }
  table: { type: captable }
profiles:
  admin:
    auth: { tokens: [adm] }
    namespace:
      - { mount: table, at: /adm/captable }
  user:
    auth: { tokens: [usr] }
    namespace:
      - { mount: files, at: /files, create: true }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
${http ? '  - { protocol: http, address: "tcp!127.0.0.1!0" }\n' : ''}exports:
  - { profile: user, root: /files, listen: "tcp!127.0.0.1!0", auth: { tokens: [tx] } }
`;

function capns(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'src/cli/main.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', CAPNS_SERVER: '', CAPNS_TOKEN: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

/** A peer of the export at `address` holding a File it created (derived: resolve -> attach -> create). */
async function peerWithFile(address: string) {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const a = (await gate.authenticate((p) => (p.token = 'tx')).promise()).result;
  release(gate);
  assert.ok(a._isOk, a._isErr ? a.err.message : '');
  const r = (await a.ok.ns.resolve((p) => (p.path = '/')).promise()).result;
  const fs = new FileServer.Client($.utils.getInterfaceClientOrNull(r.ok.cap));
  const root = (await fs.attach((p) => (p.aname = '')).promise()).result.ok.root;
  const made = (await root.create((p) => { p.name = 'f'; p.perm = 0o644; p._initMode().access = OpenMode_Access.READ_WRITE; }).promise()).result;
  assert.ok(made._isOk);
  const file = made.ok.file;
  const write = async () => (await file.write((p) => { p.offset = 0n; p._initData(1).set(0, 0x41); }).promise()).result;
  return {
    conn,
    write,
    async close() {
      release(file); release(root); release(fs); release(a.ok.ns);
      await conn.close();
    },
  };
}

test('capns exports lists the exports; capns exports revoke severs every capability a peer derived, at once', async (t) => {
  const s = await startServe(t, () => MANIFEST());
  const exportAddress = async (): Promise<string> => {
    const l = await capns(['exports', '--server', s.rpc, '--token', 'adm', '--json']);
    assert.equal(l.code, 0, l.stderr);
    const list = JSON.parse(l.stdout) as { address: string; profile: string; root: string; peers: number; revoked: boolean }[];
    assert.equal(list.length, 1);
    assert.deepEqual([list[0]!.profile, list[0]!.root, list[0]!.revoked], ['user', '/files', false]);
    return list[0]!.address;
  };
  const address = await exportAddress();
  const peer = await peerWithFile(address);
  t.after(() => peer.close());
  assert.ok((await peer.write())._isCount);
  const human = await capns(['exports', '--server', s.rpc, '--token', 'adm']);
  assert.match(human.stdout, new RegExp(`^${address.replaceAll('!', '\\!')}\\tuser:/files\\twritable\\t1 peer\\n$`));
  const rev = await capns(['exports', 'revoke', address, '--reason', 'maintenance', '--server', s.rpc, '--token', 'adm']);
  assert.equal(rev.code, 0, rev.stderr);
  assert.equal(rev.stdout, `revoked ${address}\n`);
  const w = await peer.write();
  assert.ok(w._isErr);
  assert.equal(w.err.code, Failure_Code.REVOKED);
  assert.match(w.err.message, /maintenance/);
  // An unknown address: exit 1, naming the exports there are.
  const none = await capns(['exports', 'revoke', 'tcp!127.0.0.1!1', '--server', s.rpc, '--token', 'adm']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no export listens on tcp!127\.0\.0\.1!1 \(exports: tcp!127\.0\.0\.1!\d+\).*NS_ERR_NOT_FOUND/);
  // A namespace without a CapTable cannot.
  const user = await capns(['exports', 'revoke', address, '--server', s.rpc, '--token', 'usr']);
  assert.equal(user.code, 1);
  assert.match(user.stderr, /holds no CapTable/);
});

test('HTTP: GET /api/v1/exports and POST /api/v1/exports/revoke, for administrators only', async (t) => {
  const server = await startCapnsServer({ manifest: parseManifest(MANIFEST(true), { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => server.destroy());
  const http = server.addresses.find((a) => a.protocol === 'http')!.address.split('!');
  const base = `http://${http[1]}:${http[2]}`;
  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const list = await api('GET', '/api/v1/exports', 'adm');
  assert.equal(list.status, 200);
  const [e] = list.json['exports'] as { address: string; revoked: boolean }[];
  assert.ok(e !== undefined && !e.revoked);
  const peer = await peerWithFile(e.address);
  t.after(() => peer.close());
  assert.equal((await api('POST', '/api/v1/exports/revoke', 'usr', { address: e.address })).status, 403);
  assert.equal((await api('POST', '/api/v1/exports/revoke', 'adm', { address: 'tcp!127.0.0.1!1' })).status, 404);
  assert.deepEqual(await api('POST', '/api/v1/exports/revoke', 'adm', { address: e.address }), { status: 200, json: { ok: true } });
  assert.equal(((await api('GET', '/api/v1/exports', 'adm')).json['exports'] as { revoked: boolean }[])[0]!.revoked, true);
  assert.equal((await peer.write()).err.code, Failure_Code.REVOKED);
});

test('HTTP: a profile\'s declared interfaces hold in its session namespace (a Clock cannot be bound where a FileServer is required)', async (t) => {
  const manifest = `
version: 1
capabilities:
  files: { type: ram }
  clock: { type: demo.clock }
profiles:
  user:
    auth: { tokens: [usr] }
    namespace:
      - { mount: files, at: /files, create: true, require: FileServer }
      - { mount: clock, at: /svc/clock }
listeners:
  - { protocol: http, address: "tcp!127.0.0.1!0" }
`;
  const server = await startCapnsServer({ manifest: parseManifest(manifest, { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => server.destroy());
  const http = server.addresses.find((a) => a.protocol === 'http')!.address.split('!');
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`http://${http[1]}:${http[2]}${path}`, { method: 'POST', headers: { authorization: 'Bearer usr', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const bind = await post('/api/v1/ns/bind', { from: '/svc/clock', to: '/files' });
  assert.equal(bind.status, 409, JSON.stringify(bind.json));
  assert.equal(bind.json['code'], 'NS_ERR_INTERFACE_MISMATCH');
  const mount = await post('/api/v1/ns/mount', { label: 'clock', to: '/files', position: 'before' });
  assert.equal(mount.json['code'], 'NS_ERR_INTERFACE_MISMATCH');
});
