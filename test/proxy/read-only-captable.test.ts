/**
 * CapTable.revokeExport severs every capability an export handed out: a change, refused
 * through a read-only export and a read-only sub as revoke and revokeHolder are. Found by
 * an attacker's review (read-only named only revoke and revokeHolder of CapTable).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { pino } from 'pino';
import { CapTable } from '../../src/gen/captable.js';
import { Failure_Code } from '../../src/gen/common.js';
import { Gate, type Namespace$Client } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/index.js';
import { connect, release } from '../../src/rpc/index.js';
import { startCapnsServer } from '../../src/server/capns-server.js';

const MANIFEST = `
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
exports:
  - { profile: admin, root: /adm, readOnly: true, listen: "tcp!127.0.0.1!0", auth: { tokens: [ro] } }
  - { profile: user, root: /files, listen: "tcp!127.0.0.1!0", auth: { tokens: [tx] } }
`;

type T = { after: (fn: () => Promise<void> | void) => void };

async function gateNs(t: T, address: string, token: string): Promise<Namespace$Client> {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => (p.token = token)).promise()).result;
  release(gate);
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  const ns = r.ok.ns;
  t.after(async () => {
    release(ns);
    await conn.close();
  });
  return ns;
}

async function captableAt(ns: Namespace$Client, path: string) {
  const r = (await ns.resolve((p) => (p.path = path)).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  return new CapTable.Client($.utils.getInterfaceClientOrNull(r.ok.cap));
}

async function start(t: T) {
  const server = await startCapnsServer({ manifest: parseManifest(MANIFEST, { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => server.destroy());
  const rpc = server.addresses.find((a) => a.protocol === 'rpc')!.address;
  const exports = server.list();
  const ro = exports.find((e) => e.profile === 'admin')!.address;
  const user = exports.find((e) => e.profile === 'user')!.address;
  return { server, rpc, ro, user };
}

test('a read-only export of a CapTable refuses revokeExport, as it refuses revoke and revokeHolder', async (t) => {
  const { server, ro, user } = await start(t);
  const ns = await gateNs(t, ro, 'ro');
  const table = await captableAt(ns, '/captable');
  t.after(() => release(table));
  // revoke and revokeHolder are refused...
  const r1 = (await table.revoke((p) => (p.id = 1n)).promise()).result;
  assert.ok(r1._isErr && r1.err.code === Failure_Code.PERMISSION_DENIED, 'revoke refused');
  // ...revokeExport must be too: severing another profile's export is a change.
  const r = (await table.revokeExport((p) => { p.address = user; p.reason = 'by a read-only peer'; }).promise()).result;
  assert.equal(server.list().find((e) => e.address === user)!.revoked, false, 'the user export was revoked through a read-only export');
  assert.ok(r._isErr, 'revokeExport refused');
  assert.equal(r.err.code, Failure_Code.PERMISSION_DENIED);
});

test('a read-only sub of a namespace holding a CapTable refuses revokeExport', async (t) => {
  const { server, rpc, user } = await start(t);
  const full = await gateNs(t, rpc, 'adm');
  const sub = (await full.sub((p) => { p.prefix = '/adm'; p.readOnly = true; }).promise()).result.ns;
  t.after(() => release(sub));
  const table = await captableAt(sub, '/captable');
  t.after(() => release(table));
  const r = (await table.revokeExport((p) => { p.address = user; p.reason = 'through a read-only sub'; }).promise()).result;
  assert.equal(server.list().find((e) => e.address === user)!.revoked, false, 'the user export was revoked through a read-only sub');
  assert.ok(r._isErr, 'revokeExport refused');
});
