import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utils, type Client } from 'capnp-es';
import { CapabilityTable, serveCapTable } from '../../src/captable/capability-table.js';
import { newEcho } from '../../src/server/demo-services.js';
import { serveGate, type GateProfile } from '../../src/captable/gate.js';
import { serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { Failure_Code } from '../../src/gen/common.js';
import { Echo } from '../../src/gen/demo.js';
import { Gate, type Namespace$Client } from '../../src/gen/namespace.js';
import { FILE_SERVER_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { connect, listen, release, RpcError } from '../../src/rpc/index.js';

/** A server with profiles alice (token) and guest (loopback, no token) over TCP. */
async function setup(t: { after: (fn: () => Promise<void> | void) => void }) {
  const captable = new CapabilityTable();
  const echo = newEcho();
  const tmp = serveFileServer(new MemFileServer());
  const alice = new MountTable<Client>();
  alice.bind('/svc/echo', { cap: echo.client, interfaceId: Echo.Client.interfaceId, label: 'echo' });
  alice.bind('/tmp', { cap: tmp.client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'tmp' }, { create: true });
  const guest = new MountTable<Client>();
  guest.bind('/svc/echo', { cap: echo.client, interfaceId: Echo.Client.interfaceId, label: 'echo' });
  const profiles: GateProfile[] = [
    { name: 'alice', tokens: ['alice-secret'], loopback: false, table: alice },
    { name: 'guest', tokens: [], loopback: true, table: guest },
  ];
  let n = 0;
  const listener = await listen('127.0.0.1:0', {
    bootstrap: () => serveGate({ profiles, captable, connection: `rpc#${++n}`, peerIsLoopback: true }),
  });
  const conns: Awaited<ReturnType<typeof connect>>[] = [];
  t.after(async () => {
    for (const c of conns) await c.close();
    await listener.close();
    release(echo);
    release(tmp);
  });
  const login = async (token: string) => {
    const conn = await connect(listener.address);
    conns.push(conn);
    const gate = conn.bootstrap(Gate);
    const r = (await gate.authenticate((p) => { p.token = token; }).promise()).result;
    return { conn, gate, r };
  };
  return { captable, login };
}

async function callEcho(ns: Namespace$Client, text: string): Promise<string> {
  const r = (await ns.resolve((p) => { p.path = '/svc/echo'; p.expectedInterface = Echo.Client.interfaceId; }).promise()).result;
  if (r._isErr) throw new Error(r.err.message);
  const client = utils.getInterfaceClientOrNull(r.ok.cap);
  assert.ok(client);
  const echo = new Echo.Client(client);
  return (await echo.echo((p) => { p.text = text; }).promise()).text;
}

test('a token selects its profile; a wrong token gets permission denied and nothing else', async (t) => {
  const { login } = await setup(t);
  const ok = await login('alice-secret');
  assert.ok(ok.r._isOk);
  assert.equal(ok.r.ok.profile, 'alice');
  assert.equal(await callEcho(ok.r.ok.ns, 'hi'), 'hi');
  const bad = await login('wrong');
  assert.ok(bad.r._isErr);
  assert.equal(bad.r.err.code, Failure_Code.PERMISSION_DENIED);
});

test('a loopback peer without a token gets the loopback profile', async (t) => {
  const { login } = await setup(t);
  const g = await login('');
  assert.equal(g.r.ok.profile, 'guest');
  const tmp = (await g.r.ok.ns.resolve((p) => { p.path = '/tmp'; }).promise()).result;
  assert.equal(tmp.err.code, Failure_Code.NOT_FOUND, 'guest does not see alice\'s /tmp');
});

test("two clients of one profile are isolated: one's binds never show in the other's namespace", async (t) => {
  const { login } = await setup(t);
  const a = (await login('alice-secret')).r.ok.ns;
  const b = (await login('alice-secret')).r.ok.ns;
  const bound = (await a.bindPath((p) => { p.from = '/svc/echo'; p.to = '/mine/echo'; }).promise()).result;
  assert.ok(bound._isOk);
  assert.ok((await a.resolve((p) => { p.path = '/mine/echo'; }).promise()).result._isOk);
  assert.equal((await b.resolve((p) => { p.path = '/mine/echo'; }).promise()).result.err.code, Failure_Code.NOT_FOUND);
});

test('the capability table lists grants with call counts; revoking one fails its next call with revoked', async (t) => {
  const { login, captable } = await setup(t);
  const { r } = await login('alice-secret');
  const ns = r.ok.ns;
  assert.equal(await callEcho(ns, 'one'), 'one');
  assert.equal(await callEcho(ns, 'two'), 'two');
  const admin = serveCapTable(captable);
  t.after(() => release(admin));
  const entries = (await admin.list((p) => { p.holder = ''; }).promise()).entries;
  const echoGrant = entries.find((e) => e.label === 'echo' && e.holder.startsWith('alice@'));
  assert.ok(echoGrant);
  assert.equal(echoGrant.calls, 2n);
  assert.equal(echoGrant.interfaceId, Echo.Client.interfaceId);
  // Keep a reference obtained before the revocation: it must fail too.
  const res = (await ns.resolve((p) => { p.path = '/svc/echo'; }).promise()).result;
  const held = new Echo.Client(utils.getInterfaceClientOrNull(res.ok.cap));
  const rv = (await admin.revoke((p) => { p.id = echoGrant.id; }).promise()).result;
  assert.ok(rv._isOk);
  await assert.rejects(held.echo((p) => { p.text = 'x'; }).promise(), (e: unknown) => e instanceof RpcError && /^revoked:/.test(e.message));
  await assert.rejects(callEcho(ns, 'three'), (e: unknown) => e instanceof RpcError && /revoked/.test(e.message));
  assert.ok((await admin.list((p) => { p.holder = ''; }).promise()).entries.find((e) => e.id === echoGrant.id)?.revoked);
  const unknown = (await admin.revoke((p) => { p.id = 999999n; }).promise()).result;
  assert.equal(unknown.err.code, Failure_Code.NOT_FOUND);
});

test('revokeHolder with a profile prefix revokes every grant of that profile', async (t) => {
  const { login, captable } = await setup(t);
  const a = (await login('alice-secret')).r.ok.ns;
  const g = (await login('')).r.ok.ns;
  const n = captable.revokeHolder('alice@');
  assert.equal(n, 2); // echo and tmp
  await assert.rejects(callEcho(a, 'x'), /revoked/);
  assert.equal(await callEcho(g, 'still fine'), 'still fine');
});

test('after too many failures the gate refuses even a right token', async (t) => {
  const { login } = await setup(t);
  const { gate } = await login('nope');
  for (let i = 0; i < 4; i++) await gate.authenticate((p) => { p.token = 'nope'; }).promise();
  const r = (await gate.authenticate((p) => { p.token = 'alice-secret'; }).promise()).result;
  assert.equal(r.err.code, Failure_Code.PERMISSION_DENIED);
  assert.match(r.err.message, /too many/);
});

test("a client's grants leave the table when its connection ends", async (t) => {
  const { login, captable } = await setup(t);
  const a = await login('alice-secret');
  assert.ok(a.r._isOk);
  const holder = captable.list().find((g) => g.holder.startsWith('alice@'))?.holder;
  assert.ok(holder !== undefined);
  assert.equal(captable.list(holder).length, 2);
  await a.conn.close();
  for (let i = 0; i < 200 && captable.list(holder).length > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(captable.list(holder).length, 0);
});

test('one connection cannot fill the capability table: authenticating again and again stops at maxGrantsPerConnection, others still get in, and its grants go with it', async (t) => {
  const captable = new CapabilityTable({ maxGrantsPerConnection: 10 });
  const echo = newEcho();
  const profile = new MountTable<Client>();
  profile.bind('/svc/echo', { cap: echo.client, interfaceId: Echo.Client.interfaceId, label: 'echo' });
  profile.bind('/svc/echo2', { cap: echo.client, interfaceId: Echo.Client.interfaceId, label: 'echo2' });
  let n = 0;
  const listener = await listen('127.0.0.1:0', {
    bootstrap: () => serveGate({ profiles: [{ name: 'p', tokens: ['k'], loopback: false, table: profile }], captable, connection: `rpc#${++n}`, peerIsLoopback: true }),
  });
  t.after(async () => {
    await listener.close();
    release(echo);
  });
  const flood = await connect(listener.address);
  const gate = flood.bootstrap(Gate);
  const held: Namespace$Client[] = [];
  let refused: { code: number; message: string } | undefined;
  for (let i = 0; i < 20 && refused === undefined; i++) {
    const r = (await gate.authenticate((p) => { p.token = 'k'; }).promise()).result;
    if (r._isOk) held.push(r.ok.ns);
    else refused = { code: r.err.code, message: r.err.message };
  }
  // Two grants a namespace, ten a connection: the sixth authentication is refused.
  assert.equal(held.length, 5);
  assert.deepEqual([refused?.code, /rpc#1 holds 10 grants.*maxGrantsPerConnection/.test(refused?.message ?? '')], [Failure_Code.BUSY, true]);
  assert.equal(captable.heldBy('rpc#1'), 10);
  // Another connection is not affected.
  const other = await connect(listener.address);
  const r = (await other.bootstrap(Gate).authenticate((p) => { p.token = 'k'; }).promise()).result;
  assert.ok(r._isOk);
  assert.equal(await callEcho(r.ok.ns, 'still here'), 'still here');
  // The flood hangs up: its grants leave the table, at the cost of what it held.
  await flood.close();
  for (let i = 0; i < 100 && captable.heldBy('rpc#1') > 0; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(captable.heldBy('rpc#1'), 0);
  assert.equal(captable.size, 2);
  release(r.ok.ns);
  await other.close();
});
