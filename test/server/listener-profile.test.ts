/**
 * A listener naming `profile: P` (issue 20 part 5, seed 001): it serves P's namespace and
 * nothing else, at an address of its own; only P's credentials get in there, P's
 * `loopback` applies as P says (and only on a loopback address), a P without auth is
 * given to whoever reaches the address. One rule for rpc, 9P and http; a reload treats a
 * changed profile binding like any listener change. Real listeners, real clients.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { parseAddress } from '../../src/address.js';
import { decodeDirents } from '../../src/fileserver/9p/codec.js';
import { MessageType, NOFID } from '../../src/fileserver/9p/constants.js';
import { Gate } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { connect, release } from '../../src/rpc/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { NinepClient } from '../support/ninep-client.js';

const ALICE = 'alice-0123456789abcdef';
const BOB = 'bob-0123456789abcdef';

function manifest(listeners: string, aliceTokens = ALICE): string {
  return `version: 1
capabilities:
  a: { type: ram }
  b: { type: ram }
profiles:
  alice: { auth: { tokens: ["${aliceTokens}"] }, namespace: [ { mount: a, at: /a } ] }
  bob: { auth: { tokens: ["${BOB}"] }, namespace: [ { mount: b, at: /b } ] }
  open: { namespace: [ { mount: b, at: /open } ] }
  local: { auth: { loopback: true }, namespace: [ { mount: a, at: /local } ] }
listeners:
${listeners}`;
}

const parse = (text: string) => parseManifest(text, { file: 'listener-profile.yaml', env: {} });

async function start(t: TestContext, text: string): Promise<CapnsServer> {
  const server = await startCapnsServer({ manifest: parse(text), logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => server.close());
  return server;
}

function addressOf(server: CapnsServer, protocol: string, profile?: string): string {
  const a = server.addresses.find((x) => x.protocol === protocol && x.profile === profile);
  assert.ok(a, `no ${protocol} of ${profile ?? 'no profile'} in ${JSON.stringify(server.addresses)}`);
  return a.address;
}

/** Authenticates with `token`: the profile and its root listing, or the refusal's message. */
async function rpcAs(address: string, token: string): Promise<{ profile: string; names: string[] } | { refused: string }> {
  const conn = await connect(address);
  try {
    const gate = conn.bootstrap(Gate);
    const r = (await gate.authenticate((p) => (p.token = token)).promise()).result;
    release(gate);
    if (!r._isOk) return { refused: r.err.message };
    const listed = (await r.ok.ns.list((p) => (p.path = '/')).promise()).result;
    const out = { profile: r.ok.profile, names: listed.entries.map((e) => e.name) };
    release(r.ok.ns);
    return out;
  } finally {
    await conn.close();
  }
}

/** Attaches over 9P (after Tauth with `token` when given): the root's names, or the Rerror text. */
async function ninepAs(t: TestContext, address: string, token?: string): Promise<string[] | { refused: string }> {
  const c = await NinepClient.open(parseAddress(address), '9P2000.L', 8192);
  t.after(() => c.close());
  let afid = NOFID;
  if (token !== undefined) {
    afid = c.fid();
    const a = await c.rpc({ type: MessageType.Tauth, afid, uname: 'u', aname: '', n_uname: 1000 });
    if (a.type === MessageType.Rlerror || a.type === MessageType.Rerror) return { refused: `Tauth: ${JSON.stringify(a)}` };
    await c.call({ type: MessageType.Twrite, fid: afid, offset: 0n, data: Buffer.from(token) }, MessageType.Rwrite);
  }
  const fid = c.fid();
  const r = await c.rpc({ type: MessageType.Tattach, fid, afid, uname: 'u', aname: '', n_uname: 1000 });
  if (r.type !== MessageType.Rattach) return { refused: r.type === MessageType.Rlerror ? `errno ${r.ecode}` : JSON.stringify(r) };
  const d = await c.walk(fid, []);
  await c.open(d, 0);
  const dir = await c.call({ type: MessageType.Treaddir, fid: d, offset: 0n, count: 4096 }, MessageType.Rreaddir);
  await c.clunk(d);
  await c.clunk(fid);
  return decodeDirents(dir.data)
    .map((e) => e.name)
    .filter((n) => n !== '.' && n !== '..')
    .sort();
}

const ECONNREFUSED = 111; // Eauth over 9P2000.L ('authentication failed')
const ENOENT = 2; // Tauth where no authentication is asked ('No such file or directory')

test('an rpc listener naming a profile serves only it: its token gets in, another profile\'s token and no token are refused; a profile without auth is anyone\'s there', async (t) => {
  const server = await start(
    t,
    manifest(`  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: rpc, address: "tcp!127.0.0.1!0", profile: alice }
  - { protocol: rpc, address: "tcp!127.0.0.1!0", profile: open }
  - { protocol: rpc, address: "tcp!127.0.0.1!0", profile: local }
`),
  );
  const general = addressOf(server, 'rpc');
  const alice = addressOf(server, 'rpc', 'alice');
  // The general listener: credentials pick the profile; none on loopback: the loopback one.
  assert.deepEqual(await rpcAs(general, BOB), { profile: 'bob', names: ['b'] });
  assert.deepEqual(await rpcAs(general, ''), { profile: 'local', names: ['local'] });
  // alice's own address: only alice's credentials; the loopback profile is not alice.
  assert.deepEqual(await rpcAs(alice, ALICE), { profile: 'alice', names: ['a'] });
  assert.deepEqual(await rpcAs(alice, BOB), { refused: 'unknown token' });
  assert.deepEqual(await rpcAs(alice, ''), { refused: 'credentials required' });
  // A profile without auth: anyone who reaches its address, with no credentials.
  const open = addressOf(server, 'rpc', 'open');
  assert.deepEqual(await rpcAs(open, ''), { profile: 'open', names: ['open'] });
  assert.deepEqual(await rpcAs(open, ALICE), { refused: 'unknown token' });
  // A loopback profile on its own loopback address: its loopback rule, as the profile says.
  assert.deepEqual(await rpcAs(addressOf(server, 'rpc', 'local'), ''), { profile: 'local', names: ['local'] });
});

test('a 9P listener naming a profile with tokens asks one of them (Tauth) before Tattach; one without auth asks nothing', async (t) => {
  const server = await start(
    t,
    manifest(`  - { protocol: 9p, address: "tcp!127.0.0.1!0", profile: alice }
  - { protocol: 9p, address: "tcp!127.0.0.1!0", profile: open }
`),
  );
  const alice = addressOf(server, '9p', 'alice');
  assert.deepEqual(await ninepAs(t, alice), { refused: `errno ${ECONNREFUSED}` });
  assert.deepEqual(await ninepAs(t, alice, BOB), { refused: `errno ${ECONNREFUSED}` });
  assert.deepEqual(await ninepAs(t, alice, ALICE), ['a']);
  const open = addressOf(server, '9p', 'open');
  assert.deepEqual(await ninepAs(t, open), ['open']);
  const tauth = await ninepAs(t, open, 'anything');
  assert.ok(!Array.isArray(tauth) && tauth.refused.includes(`"ecode":${ENOENT}`), JSON.stringify(tauth));
});

test('an http listener naming a profile answers only its bearer token: another profile\'s is 401, as is none', async (t) => {
  const server = await start(t, manifest(`  - { protocol: http, address: "tcp!127.0.0.1!0", profile: alice }\n`));
  const [, host, port] = addressOf(server, 'http', 'alice').split('!');
  const whoami = async (token?: string): Promise<[number, unknown]> => {
    const r = await fetch(`http://${host}:${port}/api/v1/whoami`, {
      ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }),
    });
    return [r.status, await r.json()];
  };
  const [status, body] = await whoami(ALICE);
  assert.equal(status, 200);
  assert.equal((body as { profile: string }).profile, 'alice');
  assert.equal((await whoami(BOB))[0], 401);
  assert.equal((await whoami())[0], 401);
});

test('reload: a listener whose profile binding changed is replaced like any changed listener; a profile\'s new tokens apply to its 9P listener\'s next attach without reopening it', async (t) => {
  const text = (rpcProfile: string, aliceToken: string): string =>
    manifest(
      `  - { protocol: rpc, address: "tcp!127.0.0.1!0", profile: ${rpcProfile} }
  - { protocol: 9p, address: "tcp!127.0.0.1!0", profile: alice }
`,
      aliceToken,
    );
  const server = await start(t, text('alice', ALICE));
  const ninep = addressOf(server, '9p', 'alice');
  const before = addressOf(server, 'rpc', 'alice');
  const report = await server.reload(parse(text('bob', ALICE)));
  assert.deepEqual(report.refused, []);
  assert.deepEqual([report.listenersOpened.length, report.listenersClosed], [1, [before]]);
  const after = addressOf(server, 'rpc', 'bob');
  assert.deepEqual(await rpcAs(after, BOB), { profile: 'bob', names: ['b'] });
  assert.deepEqual(await rpcAs(after, ALICE), { refused: 'unknown token' });

  const renewed = 'alice-renewed-0123456789';
  const second = await server.reload(parse(text('bob', renewed)));
  assert.deepEqual([second.listenersOpened, second.listenersClosed], [[], []]);
  assert.equal(addressOf(server, '9p', 'alice'), ninep);
  assert.deepEqual(await ninepAs(t, ninep, ALICE), { refused: `errno ${ECONNREFUSED}` });
  assert.deepEqual(await ninepAs(t, ninep, renewed), ['a']);
});

test('a listener naming a profile the manifest does not define is refused by the parser, naming it', () => {
  assert.throws(
    () => parse(manifest(`  - { protocol: rpc, address: "tcp!127.0.0.1!0", profile: carol }\n`)),
    /listeners\[0\]\.profile.*unknown profile "carol"|unknown profile "carol"/,
  );
});
