/**
 * A `sessions` capability limited with `profiles:` reroots sessions only onto those
 * profiles. It showed only their sessions and texts, yet its `ctl` rerooted them onto any
 * profile: a helper scoped to `user` gave a user session admin's whole namespace (its
 * unrestricted sessions tree included), and a profile allowed to manage its own sessions
 * rerooted its own session onto admin. Found by an attacker's review.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { connect, type CapnsClient } from '../../src/client/index.js';
import { parseManifest } from '../../src/manifest/index.js';
import { startCapnsServer } from '../../src/server/capns-server.js';

const MANIFEST = `
version: 1
capabilities:
  files: { type: ram }
  proc: { type: sessions }
  userproc: { type: sessions, profiles: [user] }
  selfproc: { type: sessions, profiles: [self] }
profiles:
  admin:
    auth: { tokens: [adm] }
    namespace:
      - { mount: proc, at: /proc }
  helper:
    auth: { tokens: [hlp] }
    namespace:
      - { mount: userproc, at: /proc }
  user:
    auth: { tokens: [usr] }
    namespace:
      - { mount: files, at: /files, create: true }
  self:
    auth: { tokens: [slf] }
    namespace:
      - { mount: selfproc, at: /myproc }
      - { mount: files, at: /files, create: true }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;

async function world(t: TestContext): Promise<(token: string) => Promise<CapnsClient>> {
  const server = await startCapnsServer({ manifest: parseManifest(MANIFEST, { file: 'm.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 100 });
  const clients: CapnsClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.close();
    await server.close();
  });
  const rpc = server.addresses.find((a) => a.protocol === 'rpc')!.address;
  return async (token) => {
    const c = await connect(rpc, { token });
    clients.push(c);
    return c;
  };
}

/** The one session directory under `dir` (a sessions tree that shows one session). */
async function sessionDir(c: CapnsClient, dir: string): Promise<string> {
  const ids = (await c.list(dir)).map((e) => e.name).filter((n) => /^\d+$/.test(n));
  assert.equal(ids.length, 1, `sessions under ${dir}: ${ids.join(' ')}`);
  return `${dir}/${ids[0]}`;
}

const write = (c: CapnsClient, path: string, line: string): Promise<string> =>
  c.writeFile(path, Buffer.from(line)).then(
    () => 'applied',
    (e: Error) => `refused: ${e.message}`,
  );

test('a sessions capability limited to profile user cannot reroot a user session onto profile admin; onto user it can', async (t) => {
  const as = await world(t);
  const helper = await as('hlp');
  const user = await as('usr');
  assert.deepEqual((await helper.list('/proc/profiles')).map((e) => e.name), ['user']);
  const dir = await sessionDir(helper, '/proc');
  assert.match(await write(helper, `${dir}/ctl`, 'reroot -k /files profile admin\n'), /^refused: .*limited to the profiles user; it cannot reroot onto 'admin'/);
  await assert.rejects(user.list('/proc'), /does not exist|not found/, "the user session holds admin's /proc");
  // Onto a profile of its scope, as before.
  assert.equal(await write(helper, `${dir}/ctl`, 'reroot profile user\n'), 'applied');
  assert.deepEqual((await user.list('/')).map((e) => e.name), ['files']);
});

test('a profile that may manage its own sessions cannot reroot them onto profile admin', async (t) => {
  const as = await world(t);
  const me = await as('slf');
  const dir = await sessionDir(me, '/myproc');
  assert.match(await write(me, `${dir}/ctl`, 'reroot -k /myproc profile admin\n'), /^refused: .*cannot reroot onto 'admin'/);
  await assert.rejects(me.list('/proc'), /does not exist|not found/, "the session holds admin's /proc");
});
