/**
 * Read-only refuses the changes of every capns interface, not only those of a hand-kept
 * list: CapTable.revokeExport (it severs everything another profile's export handed out)
 * through a read-only export and a read-only sub, and Srv.post through a read-only export
 * (its peer would put its own object under a name other profiles call, and receive their
 * calls and data). Both passed until an attacker's review found them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { pino } from 'pino';
import { CapTable } from '../../src/gen/captable.js';
import { Failure_Code } from '../../src/gen/common.js';
import { Echo, type Echo_Echo$Params, type Echo_Echo$Results } from '../../src/gen/demo.js';
import { Srv } from '../../src/gen/services.js';
import { parseManifest } from '../../src/manifest/index.js';
import { release, serve } from '../../src/rpc/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { capAt, gateNs, type T } from '../support/peer.js';

async function serveText(t: T, text: string): Promise<CapnsServer> {
  const server = await startCapnsServer({ manifest: parseManifest(text, { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => server.destroy());
  return server;
}

const ADMIN = `
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

async function adminWorld(t: T) {
  const server = await serveText(t, ADMIN);
  const exports = server.list();
  return {
    server,
    rpc: server.addresses.find((a) => a.protocol === 'rpc')!.address,
    ro: exports.find((e) => e.profile === 'admin')!.address,
    user: exports.find((e) => e.profile === 'user')!.address,
  };
}

test('a read-only export of a CapTable refuses revokeExport, as it refuses revoke and revokeHolder', async (t) => {
  const { server, ro, user } = await adminWorld(t);
  const { ns } = await gateNs(t, ro, 'ro');
  const table = new CapTable.Client(await capAt(t, ns, '/captable'));
  const r1 = (await table.revoke((p) => (p.id = 1n)).promise()).result;
  assert.ok(r1._isErr && r1.err.code === Failure_Code.PERMISSION_DENIED, 'revoke refused');
  const r = (await table.revokeExport((p) => { p.address = user; p.reason = 'by a read-only peer'; }).promise()).result;
  assert.equal(server.list().find((e) => e.address === user)!.revoked, false, 'the user export was revoked through a read-only export');
  assert.ok(r._isErr, 'revokeExport refused');
  assert.equal(r.err.code, Failure_Code.PERMISSION_DENIED);
});

test('a read-only sub of a namespace holding a CapTable refuses revokeExport', async (t) => {
  const { server, rpc, user } = await adminWorld(t);
  const { ns: full } = await gateNs(t, rpc, 'adm');
  const sub = (await full.sub((p) => { p.prefix = '/adm'; p.readOnly = true; }).promise()).result.ns;
  t.after(() => release(sub));
  const table = new CapTable.Client(await capAt(t, sub, '/captable'));
  const r = (await table.revokeExport((p) => { p.address = user; p.reason = 'through a read-only sub'; }).promise()).result;
  assert.equal(server.list().find((e) => e.address === user)!.revoked, false, 'the user export was revoked through a read-only sub');
  assert.ok(r._isErr, 'revokeExport refused');
});

test('a read-only export refuses Srv.post: its peer cannot put its own object under a name other profiles call', async (t) => {
  const server = await serveText(t, `
version: 1
capabilities:
  board: { type: srv, names: { printer: Echo } }
profiles:
  poster:
    auth: { tokens: [poster-token] }
    namespace:
      - { mount: board, at: /srv }
  user:
    auth: { tokens: [usr] }
    namespace:
      - { mount: board/printer, at: /svc/printer }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
exports:
  - { profile: poster, root: /, readOnly: true, listen: "tcp!127.0.0.1!0", auth: { tokens: [ro] } }
`);
  const { ns: peer } = await gateNs(t, server.list()[0]!.address, 'ro');
  const srv = new Srv.Client(await capAt(t, peer, '/srv'));
  const impl = serve(Echo, {
    async echo(p: Echo_Echo$Params, r: Echo_Echo$Results): Promise<void> {
      r.text = `attacker saw: ${p.text}`;
    },
  });
  // Refused as an exception (PostResult has no place for it) or in the result: either way, nothing posted.
  let refusal = '';
  try {
    const posted = (await srv.post((p) => {
      p.name = 'printer';
      p.interfaceId = Echo.Client.interfaceId;
      $.utils.setInterfacePointer(p.segment.message.addCap(impl.client), p.cap);
    }).promise()).result;
    if (posted._isOk) t.after(() => release(posted.ok));
    else refusal = posted.err.message;
  } catch (e) {
    refusal = (e as Error).message;
  }
  // What a user of /svc/printer now reaches.
  const { ns: user } = await gateNs(t, server.addresses.find((a) => a.protocol === 'rpc')!.address, 'usr');
  const printer = new Echo.Client(await capAt(t, user, '/svc/printer'));
  const said = await printer.echo((p) => (p.text = 'payroll.pdf')).promise().then((x) => x.text, (err: Error) => `failed: ${err.message}`);
  assert.doesNotMatch(said, /attacker saw/, "a user's call reached the object a read-only peer posted");
  assert.match(refusal, /Srv\.post: this export is read-only/);
});
