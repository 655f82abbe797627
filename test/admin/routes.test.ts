/**
 * The HTTP API over a real listen() (capns serve's http listener, port 0) and fetch: one
 * test per route family, each asserting the behaviour a user relies on.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseManifest } from '../../src/manifest/parse.js';
import { ADMIN_TOKEN, GUEST_TOKEN, MANIFEST, api, startServer } from './harness.js';

test('namespace: union members in order, listing first-wins, bind/mount/unmount in the profile session only', async (t) => {
  const { base } = await startServer(t);
  const who = await api(base, 'GET', '/api/v1/whoami');
  assert.equal(who.status, 200);
  assert.equal(who.json.profile, 'admin');
  assert.equal(who.json.admin, true);
  assert.match(who.json.holder, /^admin@http:tcp!127\.0\.0\.1!\d+$/);

  const members = await api(base, 'GET', '/api/v1/ns/members?path=/tmp');
  assert.deepEqual(
    members.json.members.map((m: { label: string; interfaceName: string; create: boolean }) => [m.label, m.interfaceName, m.create]),
    [
      ['tmp', 'FileServer', true],
      ['cache', 'FileServer', false],
    ],
  );
  // A name in both members: the first member's wins, in the listing and in a read.
  assert.equal((await fetch(`${base}/api/v1/files?path=/tmp/both`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' }, body: 'from tmp' })).status, 200);
  for (const [path, body] of [
    ['/cache/both', 'from cache'],
    ['/cache/only-cache', 'c'],
  ] as const) {
    const r = await fetch(`${base}/api/v1/files?path=${path}`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/octet-stream' }, body });
    assert.equal(r.status, 200);
  }
  const listed = await api(base, 'GET', '/api/v1/ns/list?path=/tmp');
  assert.deepEqual(listed.json.entries.map((e: { name: string }) => e.name), ['both', 'only-cache']);
  const both = await fetch(`${base}/api/v1/files?path=/tmp/both`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(await both.text(), 'from tmp');

  const root = await api(base, 'GET', '/api/v1/ns/list?path=/');
  assert.deepEqual(root.json.entries.map((e: { name: string; kind: string }) => [e.name, e.kind]).sort(), [['cache', 'directory'], ['svc', 'directory'], ['tmp', 'directory']]);
  const resolved = await api(base, 'GET', '/api/v1/ns/resolve?path=/svc/clock');
  assert.deepEqual([resolved.json.interfaceName, resolved.json.label, resolved.json.rest, resolved.json.methods], ['Clock', 'clock', '', ['now']]);
  assert.match(resolved.json.interfaceId, /^0x[0-9a-f]{16}$/);

  assert.equal((await api(base, 'POST', '/api/v1/ns/bind', { body: { from: '/svc/clock', to: '/alias/clock' } })).status, 200);
  assert.equal((await api(base, 'POST', '/api/v1/ns/mount', { body: { label: 'clock', to: '/svc/again' } })).status, 200);
  assert.equal((await api(base, 'GET', '/api/v1/ns/resolve?path=/alias/clock')).json.interfaceName, 'Clock');
  assert.match((await api(base, 'GET', '/api/v1/ns/describe')).json.text, /\/svc\/again/);
  // The guest's session does not see the admin's binds.
  assert.equal((await api(base, 'GET', '/api/v1/ns/resolve?path=/alias/clock', { token: GUEST_TOKEN })).status, 404);
  assert.equal((await api(base, 'POST', '/api/v1/ns/unmount', { body: { path: '/alias/clock' } })).status, 200);
  const gone = await api(base, 'GET', '/api/v1/ns/resolve?path=/alias/clock');
  assert.equal(gone.status, 404);
  assert.equal(gone.json.code, 'NS_ERR_NOT_FOUND');
  // Mounting a label the profile does not hold is refused, never a 500.
  const notHeld = await api(base, 'POST', '/api/v1/ns/mount', { body: { label: 'nosuch', to: '/x' } });
  assert.ok(notHeld.status >= 400 && notHeld.status < 500, JSON.stringify(notHeld.json));
});

test('files: write, read, stat, mkdir, remove; missing is 404, conflicts are 409', async (t) => {
  const { base } = await startServer(t);
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
  assert.equal((await fetch(`${base}/api/v1/files?path=/tmp/big.bin`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: bytes })).status, 200);
  const back = await fetch(`${base}/api/v1/files?path=/tmp/big.bin`, { headers: auth });
  assert.equal(back.headers.get('content-type'), 'application/octet-stream');
  assert.deepEqual(new Uint8Array(await back.arrayBuffer()), bytes);
  const st = await api(base, 'GET', '/api/v1/files/stat?path=/tmp/big.bin');
  assert.deepEqual([st.json.name, st.json.length, st.json.directory], ['big.bin', '200000', false]);
  assert.equal((await api(base, 'POST', '/api/v1/files/mkdir', { body: { path: '/tmp/d' } })).status, 200);
  assert.equal((await api(base, 'POST', '/api/v1/files/mkdir', { body: { path: '/tmp/d' } })).json.code, 'NS_ERR_EXISTS');
  await fetch(`${base}/api/v1/files?path=/tmp/d/f`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: 'x' });
  const notEmpty = await api(base, 'DELETE', '/api/v1/files?path=/tmp/d');
  assert.deepEqual([notEmpty.status, notEmpty.json.code], [409, 'NS_ERR_NOT_EMPTY']);
  const isDir = await api(base, 'GET', '/api/v1/files?path=/tmp/d');
  assert.equal(isDir.status, 409);
  assert.equal((await api(base, 'DELETE', '/api/v1/files?path=/tmp/d/f')).status, 200);
  assert.equal((await api(base, 'DELETE', '/api/v1/files?path=/tmp/d')).status, 200);
  const missing = await api(base, 'GET', '/api/v1/files?path=/tmp/d');
  assert.deepEqual([missing.status, missing.json.code, Object.keys(missing.json).sort()], [404, 'NS_ERR_NOT_FOUND', ['code', 'error', 'message', 'statusCode']]);
});

test('gateway: Clock.now by reflection; unknown methods and bad params are 400; a revoked grant is 410 until the session is renewed', async (t) => {
  const { base } = await startServer(t);
  const now = await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'now' } });
  assert.equal(now.status, 200, JSON.stringify(now.json));
  assert.equal(now.json.interface, 'Clock');
  assert.ok(Math.abs(Number(now.json.results.unixMillis) - Date.now()) < 60_000);
  assert.equal(new Date(now.json.results.iso).getTime(), Number(now.json.results.unixMillis));
  const unknown = await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'later' } });
  assert.deepEqual([unknown.status, unknown.json.code], [400, 'NS_ERR_INVALID_ARGUMENT']);
  assert.match(unknown.json.message, /its methods: now/);
  const badParams = await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'now', params: { nope: 1 } } });
  assert.equal(badParams.status, 400, JSON.stringify(badParams.json));
  // A File method on a path inside a file tree.
  await fetch(`${base}/api/v1/files?path=/tmp/s`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' }, body: 'hello' });
  const stat = await api(base, 'POST', '/api/v1/call', { body: { path: '/tmp/s', method: 'stat' } });
  assert.equal(stat.status, 200, JSON.stringify(stat.json));
  assert.equal(stat.json.interface, 'File');

  const grants = (await api(base, 'GET', '/api/v1/captable')).json.grants as { id: string; label: string; holder: string; calls: string }[];
  const clock = grants.find((g) => g.label === 'clock' && g.holder.startsWith('admin@http:'));
  assert.ok(clock);
  assert.ok(BigInt(clock.calls) >= 1n);
  assert.equal((await api(base, 'POST', `/api/v1/captable/${clock.id}/revoke`)).status, 200);
  const revoked = await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'now' } });
  assert.deepEqual([revoked.status, revoked.json.code], [410, 'NS_ERR_REVOKED']);
  assert.match(revoked.json.message, /^grant \d+ of 'clock' to admin@http:.* was revoked$/);
  // A new session has fresh grants.
  assert.equal((await api(base, 'DELETE', '/api/v1/session')).status, 200);
  assert.equal((await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'now' } })).status, 200);
});

test('capability table and auth: admin lists and revokes; guest is 403; unknown tokens 401; no token on loopback is the loopback profile', async (t) => {
  const { base } = await startServer(t);
  // Sessions are made on a profile's first request that needs its namespace.
  await api(base, 'GET', '/api/v1/whoami', { token: GUEST_TOKEN });
  await api(base, 'GET', '/api/v1/whoami');
  const list = await api(base, 'GET', '/api/v1/captable');
  assert.equal(list.status, 200);
  const holders = new Set(list.json.grants.map((g: { holder: string }) => g.holder.split('@')[0]));
  assert.deepEqual([...holders].sort(), ['admin', 'guest']);
  const guestOnly = await api(base, 'GET', `/api/v1/captable?holder=${encodeURIComponent(list.json.grants.find((g: { holder: string }) => g.holder.startsWith('guest@')).holder)}`);
  assert.ok(guestOnly.json.grants.length > 0 && guestOnly.json.grants.every((g: { holder: string }) => g.holder.startsWith('guest@')));
  const forbidden = await api(base, 'GET', '/api/v1/captable', { token: GUEST_TOKEN });
  assert.deepEqual([forbidden.status, forbidden.json.code], [403, 'NS_ERR_PERMISSION']);
  const anonymous = await api(base, 'GET', '/api/v1/whoami', { token: null });
  assert.equal(anonymous.json.profile, 'guest');
  const wrong = await fetch(`${base}/api/v1/whoami`, { headers: { authorization: 'Bearer not-a-token' } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get('www-authenticate'), 'Bearer');
  assert.equal(((await wrong.json()) as { code: string }).code, 'NS_ERR_PERMISSION');
  const revokeGuest = await api(base, 'POST', '/api/v1/captable/revoke-holder', { body: { holder: 'guest@' } });
  assert.equal(revokeGuest.json.count, 1);
  assert.equal((await api(base, 'POST', '/api/v1/call', { token: GUEST_TOKEN, body: { path: '/svc/clock', method: 'now' } })).status, 410);
  assert.equal((await api(base, 'POST', '/api/v1/captable/999999/revoke')).status, 404);
  assert.equal((await api(base, 'POST', '/api/v1/captable/abc/revoke')).status, 400);
});

test('health, readiness, metrics, OpenAPI, docs and the web page are served; CORS is off', async (t) => {
  const { base } = await startServer(t);
  assert.deepEqual((await api(base, 'GET', '/healthz', { token: null })).json, { status: 'ok' });
  assert.deepEqual((await api(base, 'GET', '/readyz', { token: null })).json, { status: 'ready' });
  await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'now' } });
  await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'later' } });
  const m = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await m.text();
  assert.match(text, /^capns_gateway_calls_total\{interface="Clock",method="now"\} 1$/m);
  assert.match(text, /^capns_gateway_call_duration_seconds_count\{interface="Clock",method="now"\} 1$/m);
  assert.match(text, /^capns_grant_calls\{label="clock"\} [1-9]/m);
  assert.match(text, /^capns_grants\{label="clock",state="live"\} 1$/m);
  assert.match(text, /^capns_http_requests_total\{route="\/api\/v1\/call",method="POST",status="400"\} 1$/m);
  assert.match(text, /^capns_http_sessions 1$/m);
  assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${GUEST_TOKEN}` } })).status, 403);

  const doc = (await api(base, 'GET', '/openapi.json', { token: null })).json;
  assert.match(doc.openapi, /^3\./);
  for (const p of ['/api/v1/call', '/api/v1/ns/list', '/api/v1/captable', '/api/v1/files', '/healthz']) assert.ok(doc.paths[p], `no ${p} in OpenAPI`);
  assert.ok(doc.paths['/api/v1/ns/bind'].post.requestBody, 'bind documents its body');
  const docs = await fetch(`${base}/docs`, { redirect: 'follow' });
  assert.equal(docs.status, 200);
  assert.match(await docs.text(), /swagger/i);
  // Its assets come through @fastify/static (whose dependencies declare Node >= 22): they
  // must serve on the Node 20 we run on.
  const css = await fetch(`${base}/docs/static/swagger-ui.css`);
  assert.equal(css.status, 200);
  assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
  assert.ok((await css.text()).length > 1000, 'the stylesheet has its bytes');

  const page = await fetch(`${base}/`);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await page.text(), /<script type="module" src="\/ui\/app\.mjs">/);
  const script = await fetch(`${base}/ui/app.mjs`);
  assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.equal((await api(base, 'GET', '/ui/secret.txt', { token: null })).status, 404);

  const cors = await fetch(`${base}/api/v1/whoami`, { headers: { origin: 'http://evil.example', authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(cors.headers.get('access-control-allow-origin'), null);
  const preflight = await fetch(`${base}/api/v1/call`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
  assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  // A foreign Origin is refused outright (docs/http.md, DNS rebinding).
  assert.equal(preflight.status, 403);
});

test('sessions: DELETE /api/v1/session takes its grants out of the table; closing the listener leaves none', async (t) => {
  const { base, server } = await startServer(t);
  const holder = (await api(base, 'GET', '/api/v1/whoami')).json.holder as string;
  await api(base, 'GET', '/api/v1/whoami', { token: GUEST_TOKEN });
  assert.equal(server.captable.list(holder).length, 4);
  assert.equal((await api(base, 'DELETE', '/api/v1/session')).status, 200);
  assert.equal(server.captable.list(holder).length, 0);
  assert.ok(server.captable.size > 0, 'the guest session still holds its grants');
  // The next request makes a new session with fresh grants.
  await api(base, 'GET', '/api/v1/ns/list?path=/');
  assert.equal(server.captable.list(holder).length, 4);
  await server.close();
  assert.equal(server.captable.size, 0);
});

test('reload: the http listener stays open, new profiles get in, a session keeps its namespace until renewed', async (t) => {
  const { base, server } = await startServer(t);
  assert.equal((await api(base, 'GET', '/api/v1/ns/resolve?path=/svc/clock', { token: GUEST_TOKEN })).status, 200);
  const OPS = 'ops-token-0123456789abcdef';
  const next = MANIFEST.replace(
    `  guest:
    auth: { tokens: ["${GUEST_TOKEN}"], loopback: true }
    namespace:
      - { mount: clock, at: /svc/clock }`,
    `  guest:
    auth: { tokens: ["${GUEST_TOKEN}"], loopback: true }
    namespace:
      - { mount: tmp, at: /guest-tmp }
  ops:
    auth: { tokens: ["${OPS}"] }
    namespace:
      - { mount: clock, at: /ops/clock }`,
  );
  assert.notEqual(next, MANIFEST);
  const report = await server.reload(parseManifest(next, { file: 'next.yaml', env: {} }));
  assert.deepEqual(report.listenersClosed, []);
  assert.equal((await api(base, 'GET', '/api/v1/ns/resolve?path=/ops/clock', { token: OPS })).status, 200);
  // The guest's open session is its process group: it keeps the namespace it had.
  assert.equal((await api(base, 'GET', '/api/v1/ns/resolve?path=/svc/clock', { token: GUEST_TOKEN })).status, 200);
  await api(base, 'DELETE', '/api/v1/session', { token: GUEST_TOKEN });
  assert.equal((await api(base, 'GET', '/api/v1/ns/resolve?path=/svc/clock', { token: GUEST_TOKEN })).status, 404);
  assert.equal((await api(base, 'GET', '/api/v1/ns/resolve?path=/guest-tmp', { token: GUEST_TOKEN })).json.interfaceName, 'FileServer');
});

test('an http listener on a unix socket serves the loopback profile without a token', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-http-unix-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socket = join(dir, 'http.sock');
  const { server } = await startServer(t, MANIFEST.replace('- { protocol: http, address: "tcp!127.0.0.1!0" }', `- { protocol: http, address: "unix!${socket}" }`));
  assert.ok(server.addresses.some((a) => a.protocol === 'http' && a.address === `unix!${socket}`), JSON.stringify(server.addresses));
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: '/api/v1/whoami' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal((JSON.parse(body) as { profile: string }).profile, 'guest');
});
