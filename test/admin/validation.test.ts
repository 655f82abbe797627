/**
 * Validation and error-shape matrices over inject() (STYLE section 7): every client
 * mistake gets a 4xx with {statusCode, code, error, message}, never a 500. The app is
 * built over real components: a capability table, a MountTable holding a real Clock and
 * a MemFileServer, a namespace served in process.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import type { Client } from 'capnp-es';
import { buildAdminApp, type AdminDeps, type AdminSession } from '../../src/admin/app.js';
import { STATUS_OF } from '../../src/admin/error-handler.js';
import { CapabilityTable } from '../../src/captable/capability-table.js';
import { newClock } from '../../src/server/demo-services.js';
import { grantedNamespace, type GateProfile } from '../../src/captable/gate.js';
import { CapnsClient } from '../../src/client/capns-client.js';
import { NS_ERROR_CODES } from '../../src/errors.js';
import { serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { Clock } from '../../src/gen/demo.js';
import { FILE_SERVER_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { serveNamespace } from '../../src/namespace/namespace-server.js';
import type { RpcConnection } from '../../src/rpc/index.js';

const TOKEN = 'validation-token-0123456789';

function buildApp(t: TestContext, opts: { peerIsLoopback: boolean }) {
  const clock = newClock();
  const fs = serveFileServer(new MemFileServer());
  const table = new MountTable<Client>();
  table.bind('/svc/clock', { cap: clock.client, interfaceId: Clock.Client.interfaceId, label: 'clock' });
  table.bind('/tmp', { cap: fs.client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'tmp' }, { create: true });
  const profile: GateProfile = { name: 'p', tokens: [TOKEN], loopback: true, table };
  const captable = new CapabilityTable();
  const sessions = new Map<string, CapnsClient & AdminSession>();
  const deps: AdminDeps = {
    profiles: () => [{ name: 'p', tokens: [TOKEN], loopback: true, admin: true }],
    peerIsLoopback: opts.peerIsLoopback,
    session: async (name) => {
      let s = sessions.get(name);
      if (s === undefined) {
        const holder = `${name}@test`;
        const ns = serveNamespace(grantedNamespace(profile, captable, holder));
        s = Object.assign(new CapnsClient({ close: async () => {} } as unknown as RpcConnection, ns, name), { holder });
        sessions.set(name, s);
      }
      return s;
    },
    endSession: async () => {},
    sessionCount: () => sessions.size,
    captable,
  };
  const app = buildAdminApp(deps);
  t.after(async () => {
    await app.close();
    for (const s of sessions.values()) await s.close();
    clock.client.close();
    fs.client.close();
  });
  return app;
}

const auth = { authorization: `Bearer ${TOKEN}` };

test('the HTTP column of docs/errors.md is what the error handler sends, for every NsError code', async () => {
  const text = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map<string, number>();
  for (const m of text.matchAll(/^\| `(NS_ERR_[A-Z_]+)` \|[^|]*\|[^|]*\| (\d{3}) \|/gm)) documented.set(m[1]!, Number(m[2]));
  assert.deepEqual(Object.fromEntries(documented), { ...STATUS_OF });
});

test('every NsError code has an HTTP status, and none is a 5xx but NS_ERR_IO', () => {
  for (const code of NS_ERROR_CODES) {
    const status = STATUS_OF[code];
    assert.ok(status >= 400 && status < 600, code);
    assert.equal(status >= 500, code === 'NS_ERR_IO', code);
  }
});

test('zod failures are 400 naming the field path; other client mistakes keep their 4xx; none is a 500', async (t) => {
  const app = buildApp(t, { peerIsLoopback: true });
  const cases: Array<{ name: string; method: 'GET' | 'POST' | 'PUT'; url: string; body?: string; type?: string; status: number; message?: RegExp }> = [
    { name: 'missing path', method: 'GET', url: '/api/v1/ns/list', status: 400, message: /querystring\.path/ },
    { name: 'relative path', method: 'GET', url: '/api/v1/ns/list?path=tmp', status: 400, message: /querystring\.path: .*"\/"/ },
    { name: 'bad position', method: 'POST', url: '/api/v1/ns/bind', body: '{"from":"/tmp","to":"/x","position":"sideways"}', status: 400, message: /body\.position/ },
    { name: 'wrong type', method: 'POST', url: '/api/v1/ns/bind', body: '{"from":"/tmp","to":"/x","create":"yes"}', status: 400, message: /body\.create/ },
    { name: 'unknown field', method: 'POST', url: '/api/v1/ns/unmount', body: '{"path":"/tmp","lable":"x"}', status: 400, message: /lable/ },
    { name: 'missing method', method: 'POST', url: '/api/v1/call', body: '{"path":"/svc/clock"}', status: 400, message: /body\.method/ },
    { name: 'malformed JSON', method: 'POST', url: '/api/v1/call', body: '{"path":', status: 400 },
    { name: 'wrong media type', method: 'POST', url: '/api/v1/call', body: '<x/>', type: 'application/xml', status: 415 },
    { name: 'bad grant id', method: 'POST', url: '/api/v1/captable/-1/revoke', status: 400, message: /params\.id/ },
    { name: 'grant id too large', method: 'POST', url: '/api/v1/captable/99999999999999999999/revoke', status: 400 },
    { name: 'unknown grant', method: 'POST', url: '/api/v1/captable/42/revoke', status: 404 },
    { name: 'file not found', method: 'GET', url: '/api/v1/files?path=/tmp/none', status: 404 },
    { name: 'not a directory', method: 'GET', url: '/api/v1/ns/list?path=/svc/clock', status: 409 },
    { name: 'JSON body for a file', method: 'PUT', url: '/api/v1/files?path=/tmp/j', body: '{"a":1}', status: 400, message: /octet-stream/ },
    { name: 'path with NUL', method: 'GET', url: '/api/v1/ns/resolve?path=/tmp/a%00b', status: 400 },
    { name: 'bad params for the method', method: 'POST', url: '/api/v1/call', body: '{"path":"/svc/clock","method":"now","params":[1]}', status: 400 },
    { name: 'unknown route', method: 'GET', url: '/api/v2/nothing', status: 404 },
  ];
  for (const c of cases) {
    const r = await app.inject({
      method: c.method,
      url: c.url,
      headers: { ...auth, ...(c.body !== undefined && { 'content-type': c.type ?? 'application/json' }) },
      ...(c.body !== undefined && { payload: c.body }),
    });
    const body = r.json<{ statusCode: number; code: string; error: string; message: string }>();
    assert.equal(r.statusCode, c.status, `${c.name}: ${r.body}`);
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], c.name);
    assert.equal(body.statusCode, c.status, c.name);
    assert.ok(body.code.length > 0, c.name);
    if (c.message) assert.match(body.message, c.message, c.name);
  }
});

test('a body over bodyLimit is 413; an Authorization header that is not Bearer is 401', async (t) => {
  const app = buildApp(t, { peerIsLoopback: true });
  const big = await app.inject({ method: 'PUT', url: '/api/v1/files?path=/tmp/big', headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: Buffer.alloc((16 << 20) + 1) });
  assert.equal(big.statusCode, 413);
  const basic = await app.inject({ method: 'GET', url: '/api/v1/whoami', headers: { authorization: 'Basic dXNlcjpwYXNz' } });
  assert.deepEqual([basic.statusCode, basic.json<{ code: string }>().code], [401, 'NS_ERR_PERMISSION']);
  assert.match(basic.json<{ message: string }>().message, /Bearer/);
});

test('loopback profiles need a token on a listener that is not loopback', async (t) => {
  const app = buildApp(t, { peerIsLoopback: false });
  const none = await app.inject({ method: 'GET', url: '/api/v1/whoami' });
  assert.equal(none.statusCode, 401);
  assert.match(none.json<{ message: string }>().message, /credentials required/);
  const withToken = await app.inject({ method: 'GET', url: '/api/v1/whoami', headers: auth });
  assert.equal(withToken.statusCode, 200);
  // Open routes stay open.
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});
