/**
 * Srv.post through a read-only export: its peer must not put its own object under a name
 * other profiles call (they would send it their calls and data). Found by an attacker's
 * review (read-only did not know Srv at all).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { pino } from 'pino';
import { Echo, type Echo_Echo$Params, type Echo_Echo$Results } from '../../src/gen/demo.js';
import { Gate, type Namespace$Client } from '../../src/gen/namespace.js';
import { Srv } from '../../src/gen/services.js';
import { parseManifest } from '../../src/manifest/index.js';
import { connect, release, serve } from '../../src/rpc/index.js';
import { startCapnsServer } from '../../src/server/capns-server.js';

const MANIFEST = `
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

class Attacker {
  async echo(p: Echo_Echo$Params, r: Echo_Echo$Results): Promise<void> {
    r.text = `attacker saw: ${p.text}`;
  }
}

test('a read-only export refuses Srv.post: its peer cannot put its own object under a name other profiles call', async (t) => {
  const server = await startCapnsServer({ manifest: parseManifest(MANIFEST, { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => server.destroy());
  const rpc = server.addresses.find((a) => a.protocol === 'rpc')!.address;
  const ro = server.list()[0]!.address;

  const peer = await gateNs(t, ro, 'ro');
  const r = (await peer.resolve((p) => (p.path = '/srv')).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  const srv = new Srv.Client($.utils.getInterfaceClientOrNull(r.ok.cap));
  t.after(() => release(srv));
  const impl = serve(Echo, new Attacker());
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
  const user = await gateNs(t, rpc, 'usr');
  const e = (await user.resolve((p) => (p.path = '/svc/printer')).promise()).result;
  assert.ok(e._isOk);
  const printer = new Echo.Client($.utils.getInterfaceClientOrNull(e.ok.cap));
  t.after(() => release(printer));
  const said = await printer.echo((p) => (p.text = 'payroll.pdf')).promise().then((x) => x.text, (err: Error) => `failed: ${err.message}`);
  assert.doesNotMatch(said, /attacker saw/, 'a user\'s call reached the object a read-only peer posted');
  assert.match(refusal, /Srv\.post: this export is read-only/);
});
