/**
 * The gateway keeps what it resolved (a session's call targets, each profile's token
 * digests) between requests; whatever changes the answer — a bind or unmount in the
 * session's namespace, a revocation, a reload — is seen by the very next request. Real
 * server, real listen() and fetch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifest } from '../../src/manifest/parse.js';
import { GUEST_TOKEN, MANIFEST, api, startServer } from './harness.js';

const call = (base: string, path: string, method: string, token?: string | null) =>
  api(base, 'POST', '/api/v1/call', { body: { path, method }, ...(token !== undefined && { token }) });

test('gateway: a bind or unmount after a call is seen by the next call to the same path', async (t) => {
  const { base } = await startServer(t);
  assert.equal((await api(base, 'POST', '/api/v1/ns/mount', { body: { label: 'clock', to: '/svc/t' } })).status, 200);
  for (let i = 0; i < 2; i++) {
    const r = await call(base, '/svc/t', 'now');
    assert.deepEqual([r.status, r.json.interface], [200, 'Clock'], JSON.stringify(r.json));
  }
  // Replaced by a file server: the path now names a FileServer, which has no `now`.
  assert.equal((await api(base, 'POST', '/api/v1/ns/bind', { body: { from: '/cache', to: '/svc/t' } })).status, 200);
  const replaced = await call(base, '/svc/t', 'now');
  assert.deepEqual([replaced.status, replaced.json.code], [400, 'NS_ERR_INVALID_ARGUMENT'], JSON.stringify(replaced.json));
  assert.match(replaced.json.message, /^FileServer has no method "now"/);
  // Gone: not found.
  assert.equal((await api(base, 'POST', '/api/v1/ns/unmount', { body: { path: '/svc/t' } })).status, 200);
  const gone = await call(base, '/svc/t', 'now');
  assert.deepEqual([gone.status, gone.json.code], [404, 'NS_ERR_NOT_FOUND'], JSON.stringify(gone.json));
  // Back again.
  assert.equal((await api(base, 'POST', '/api/v1/ns/mount', { body: { label: 'clock', to: '/svc/t' } })).status, 200);
  assert.equal((await call(base, '/svc/t', 'now')).json.interface, 'Clock');
});

test('gateway: a call target kept by a session is let go with the binding: the unmounted grant leaves the table', async (t) => {
  const { base, server } = await startServer(t);
  assert.equal((await api(base, 'POST', '/api/v1/ns/bind', { body: { from: '/cache', to: '/kept' } })).status, 200);
  const holder = (await api(base, 'GET', '/api/v1/whoami')).json.holder as string;
  const calls = (await call(base, '/kept', 'attach')).status;
  assert.equal(calls, 200);
  const before = server.captable.list(holder).length;
  // /cache is still bound elsewhere: its grant stays. Unmount both; the grant goes.
  assert.equal((await api(base, 'POST', '/api/v1/ns/unmount', { body: { path: '/kept' } })).status, 200);
  assert.equal((await api(base, 'POST', '/api/v1/ns/unmount', { body: { path: '/cache' } })).status, 200);
  assert.equal((await api(base, 'POST', '/api/v1/ns/unmount', { body: { path: '/tmp', label: 'cache' } })).status, 200);
  assert.equal(server.captable.list(holder).length, before - 1);
  assert.equal(server.captable.list(holder).filter((g) => g.label === 'cache').length, 0);
});

test('gateway: a revocation after a kept call is seen by the next call (410), and a new session calls again', async (t) => {
  const { base } = await startServer(t);
  for (let i = 0; i < 2; i++) assert.equal((await call(base, '/svc/clock', 'now', GUEST_TOKEN)).status, 200);
  const grants = (await api(base, 'GET', '/api/v1/captable')).json.grants as { id: string; label: string; holder: string }[];
  const g = grants.find((x) => x.label === 'clock' && x.holder.startsWith('guest@http:'));
  assert.ok(g);
  assert.equal((await api(base, 'POST', `/api/v1/captable/${g.id}/revoke`)).status, 200);
  const revoked = await call(base, '/svc/clock', 'now', GUEST_TOKEN);
  assert.deepEqual([revoked.status, revoked.json.code], [410, 'NS_ERR_REVOKED'], JSON.stringify(revoked.json));
  assert.equal((await api(base, 'DELETE', '/api/v1/session', { token: GUEST_TOKEN })).status, 200);
  assert.equal((await call(base, '/svc/clock', 'now', GUEST_TOKEN)).status, 200);
});

test('gateway: a reload after a kept call is seen by the next call: a removed capability is revoked, a changed token refused', async (t) => {
  const { base, server } = await startServer(t);
  assert.equal((await call(base, '/svc/clock', 'now', GUEST_TOKEN)).status, 200);
  assert.equal((await call(base, '/svc/clock', 'now')).status, 200);
  const NEW_GUEST = 'guest-token-2-0123456789abcdef';
  // The clock leaves the manifest (its grants are revoked live); the guest's token changes.
  const next = MANIFEST.replace('  clock: { type: demo.clock }\n', '')
    .replace('      - { mount: clock, at: /svc/clock, require: Clock }\n', '')
    .replace(`    auth: { tokens: ["${GUEST_TOKEN}"], loopback: true }
    namespace:
      - { mount: clock, at: /svc/clock }`, `    auth: { tokens: ["${NEW_GUEST}"], loopback: true }
    namespace:
      - { mount: tmp, at: /tmp }`);
  assert.doesNotMatch(next, /clock/);
  await server.reload(parseManifest(next, { file: 'next.yaml', env: {} }));
  // The admin session keeps its namespace (a running process keeps its name space), whose
  // clock is revoked.
  const after = await call(base, '/svc/clock', 'now');
  assert.deepEqual([after.status, after.json.code], [410, 'NS_ERR_REVOKED'], JSON.stringify(after.json));
  // The guest's old token is refused at once; the new one is its profile.
  assert.equal((await call(base, '/svc/clock', 'now', GUEST_TOKEN)).status, 401);
  assert.equal((await api(base, 'GET', '/api/v1/whoami', { token: NEW_GUEST })).json.profile, 'guest');
});
