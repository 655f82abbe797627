/**
 * `type: srv`: Plan 9's /srv, typed. A profile holding the board posts a capability
 * under a name while running; profiles whose manifest mounts BOARD/NAME see it; the post
 * lasts while its Post does (the poster's connection ending takes it down), and is a
 * grant in the capability table that can be revoked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { Echo, type Echo_Echo$Params, type Echo_Echo$Results } from '../../src/gen/demo.js';
import { Srv, type Post$Client } from '../../src/gen/services.js';
import { fromFailure } from '../../src/failure.js';
import { NsError } from '../../src/errors.js';
import { release, RpcError, serve } from '../../src/rpc/index.js';
import { newClock } from '../../src/server/demo-services.js';
import { clientOf, serveManifest, until } from './harness.js';
import type { CapnsClient } from '../../src/client/index.js';

const MANIFEST = `
version: 1
capabilities:
  board: { type: srv, names: { printer: Echo, anything: null } }
profiles:
  poster:
    auth: { tokens: [poster-token-0123456789] }
    namespace:
      - { mount: board, at: /srv }
  user:
    auth: { loopback: true }
    namespace:
      - { mount: board/printer, at: /svc/printer }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;

class Named {
  constructor(readonly name: string) {}
  async echo(p: Echo_Echo$Params, r: Echo_Echo$Results): Promise<void> {
    r.text = `${this.name}: ${p.text}`;
  }
}

/** Posts `cap` as `name` through the poster's /srv; the Post, or the NsError. */
async function post(poster: CapnsClient, name: string, cap: { client: $.Client }, interfaceId: bigint): Promise<Post$Client> {
  using srv = await poster.resolve('/srv', Srv);
  const r = (
    await srv
      .post((p) => {
        p.name = name;
        p.interfaceId = interfaceId;
        $.utils.setInterfacePointer(p.segment.message.addCap(cap.client), p.cap);
      })
      .promise()
  ).result;
  if (r._isErr) throw fromFailure(r.err);
  return r.ok;
}

async function echo(c: CapnsClient, text: string): Promise<string> {
  using e = await c.resolve('/svc/printer', Echo);
  return (await e.echo((p) => (p.text = text)).promise()).text;
}

async function rpcFailure(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RpcError, String(e));
    return e;
  }
  assert.fail('expected a failure');
}

test('srv: nothing posted fails fast; a post is seen by the profile that mounts the name; the poster going takes it down (calls fail fast); a new post works again', async (t) => {
  const s = await serveManifest(t, MANIFEST);
  const user = await clientOf(t, s);
  const before = await rpcFailure(echo(user, 'x'));
  assert.equal(before.type, 'disconnected');
  assert.equal(before.message, "board 'board': 'printer': nothing posted under it");

  const poster = await clientOf(t, s, 'poster-token-0123456789');
  using impl = serve(Echo, new Named('first'));
  const lease = await post(poster, 'printer', impl, Echo.Client.interfaceId);
  assert.equal(await echo(user, 'hello'), 'first: hello');
  await poster.close();
  release(lease);
  await until(async () => (await rpcFailure(echo(user, 'x')).catch(() => undefined))?.message === "board 'board': 'printer': its post was removed", 5000, 'the post is gone with its poster');

  const again = await clientOf(t, s, 'poster-token-0123456789');
  using impl2 = serve(Echo, new Named('second'));
  const lease2 = await post(again, 'printer', impl2, Echo.Client.interfaceId);
  assert.equal(await echo(user, 'again'), 'second: again');
  // Post.remove takes it down at once.
  await lease2.remove().promise();
  assert.equal((await rpcFailure(echo(user, 'x'))).type, 'disconnected');
  release(lease2);
});

test('srv: a name posted already is refused (exists), an undeclared name (notFound), another interface (interfaceMismatch); list shows the names', async (t) => {
  const s = await serveManifest(t, MANIFEST);
  const poster = await clientOf(t, s, 'poster-token-0123456789');
  using impl = serve(Echo, new Named('one'));
  const lease = await post(poster, 'printer', impl, Echo.Client.interfaceId);
  t.after(() => release(lease));
  const code = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof NsError, String(e));
      return `${e.code} ${e.message}`;
    }
  };
  assert.match(await code(post(poster, 'printer', impl, Echo.Client.interfaceId)), /^NS_ERR_EXISTS 'printer' is posted already on board 'board'$/);
  assert.match(await code(post(poster, 'scanner', impl, Echo.Client.interfaceId)), /^NS_ERR_NOT_FOUND board 'board' declares no name 'scanner' \(its names: printer, anything\)$/);
  using clock = newClock();
  await post(poster, 'anything', clock, 0x1234n).then(release);
  const r = await poster.resolveAny('/srv');
  const srv = new Srv.Client(r.client);
  const entries = (await srv.list().promise()).entries.map((e) => [e.name, e.posted]);
  assert.deepEqual(entries, [
    ['printer', true],
    ['anything', false],
  ]);
  release(srv);
});

test('srv: a post is a grant in the capability table; revoking it fails calls with revoked', async (t) => {
  const s = await serveManifest(t, MANIFEST);
  const poster = await clientOf(t, s, 'poster-token-0123456789');
  using impl = serve(Echo, new Named('p'));
  const lease = await post(poster, 'printer', impl, Echo.Client.interfaceId);
  t.after(() => release(lease));
  const user = await clientOf(t, s);
  assert.equal(await echo(user, 'x'), 'p: x');
  const grant = s.captable.list('board@srv').find((g) => g.label === 'board/printer');
  assert.ok(grant !== undefined);
  s.captable.revoke(grant.id);
  const e = await rpcFailure(echo(user, 'y'));
  assert.match(e.message, /^revoked: grant \d+ of 'board\/printer' to board@srv/);
});

test('srv: posting needs the board: a profile that only mounts a name cannot post through it', async (t) => {
  const s = await serveManifest(t, MANIFEST);
  const user = await clientOf(t, s);
  await assert.rejects(user.resolve('/srv', Srv), /not found|no such|does not exist/i);
  // The name's capability is an Echo slot, not a board: Srv calls on it fail.
  const r = await user.resolveAny('/svc/printer');
  const srv = new Srv.Client(r.client);
  await assert.rejects(srv.list().promise(), RpcError);
  release(srv);
});
