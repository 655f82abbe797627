/**
 * The http listener against a browser on another origin (DNS rebinding): Host and Origin
 * must name the listener; static routes for any name; every 500 logged with its stack;
 * TLS listeners speak TLS. Real listen() and real HTTP clients.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { buildAdminApp, HostPolicy } from '../../src/admin/app.js';
import { CapabilityTable } from '../../src/captable/capability-table.js';
import { MANIFEST, startServer } from './harness.js';

/** A GET with headers fetch would not let us set (Host). */
function get(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a loopback listener answers Host localhost, 127.0.0.1 and [::1] at its own port, and refuses any other name (DNS rebinding)', async (t) => {
  const { base } = await startServer(t);
  const port = new URL(base).port;
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
    assert.equal((await get(base, '/api/v1/whoami', { host })).status, 200, host);
  }
  for (const host of [`evil.example:${port}`, 'evil.example', `localhost:${Number(port) + 1}`, `127.0.0.1`, `localhost.evil.example:${port}`, `10.0.0.1:${port}`]) {
    const r = await get(base, '/api/v1/whoami', { host });
    assert.equal(r.status, 403, host);
    const body = JSON.parse(r.body) as { code: string; message: string };
    assert.equal(body.code, 'NS_ERR_PERMISSION');
    assert.ok(body.message.includes(`Host '${host}' is not a name this listener serves`), body.message);
  }
  // Everything is behind the check, even a file write, a 404 and the page.
  for (const path of ['/', '/ui/app.mjs', '/api/v1/files?path=/tmp/x', '/no/such/route', '/healthz']) {
    assert.equal((await get(base, path, { host: `evil.example:${port}` })).status, 403, path);
  }
});

test('Origin, when present, must name the listener too; "null" and other schemes are refused', async (t) => {
  const { base } = await startServer(t);
  const port = new URL(base).port;
  const host = `127.0.0.1:${port}`;
  assert.equal((await get(base, '/api/v1/whoami', { host, origin: `http://localhost:${port}` })).status, 200);
  assert.equal((await get(base, '/api/v1/whoami', { host, origin: `http://127.0.0.1:${port}` })).status, 200);
  for (const origin of ['http://evil.example', `http://evil.example:${port}`, 'null', `file://localhost:${port}`, `http://localhost:${Number(port) + 1}`, 'not a url']) {
    const r = await get(base, '/api/v1/whoami', { host, origin });
    assert.equal(r.status, 403, origin);
    assert.match(r.body, /Origin '.*' is not one this listener serves/);
  }
  // A cross-origin write from a rebinding page: refused before it touches the tree.
  const put = await fetch(`${base}/api/v1/files?path=/tmp/pwned`, { method: 'PUT', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: 'x' });
  assert.equal(put.status, 403);
  assert.equal((await get(base, '/api/v1/files?path=/tmp/pwned', { host })).status, 404);
});

test('names listed in the listener hosts are served (NAME at any port, NAME:PORT at that one); hosts: ["*"] turns the check off', async (t) => {
  const listed = MANIFEST.replace('- { protocol: http, address: "tcp!127.0.0.1!0" }', '- { protocol: http, address: "tcp!127.0.0.1!0", hosts: [capns.lan, "proxy.lan:8443"] }');
  const { base } = await startServer(t, listed);
  assert.equal((await get(base, '/api/v1/whoami', { host: 'capns.lan:1234' })).status, 200);
  assert.equal((await get(base, '/api/v1/whoami', { host: 'capns.lan' })).status, 200);
  assert.equal((await get(base, '/api/v1/whoami', { host: 'proxy.lan:8443' })).status, 200);
  assert.equal((await get(base, '/api/v1/whoami', { host: 'proxy.lan:8444' })).status, 403);
  assert.equal((await get(base, '/api/v1/whoami', { host: 'capns.lan', origin: 'https://capns.lan' })).status, 200);
  const off = await startServer(t, MANIFEST.replace('- { protocol: http, address: "tcp!127.0.0.1!0" }', '- { protocol: http, address: "tcp!127.0.0.1!0", hosts: ["*"] }'));
  assert.equal((await get(off.base, '/api/v1/whoami', { host: 'evil.example', origin: 'http://evil.example' })).status, 200);
});

test('HostPolicy: a wildcard listener serves any IP literal at its port and names only when listed; a unix socket is not checked', () => {
  const wild = new HostPolicy({ bindHost: '0.0.0.0', loopback: false, tls: false, hosts: ['capns.lan'] });
  assert.equal(wild.check('192.168.1.20:5642', undefined, 5642), undefined);
  assert.equal(wild.check('[fe80::1]:5642', 'http://[fe80::1]:5642', 5642), undefined);
  assert.equal(wild.check('localhost:5642', undefined, 5642), undefined);
  assert.equal(wild.check('capns.lan:80', undefined, 5642), undefined);
  assert.match(wild.check('evil.example:5642', undefined, 5642) ?? '', /not a name this listener serves \(0\.0\.0\.0:5642, localhost:5642, any IP address:5642, capns\.lan\)/);
  assert.notEqual(wild.check('192.168.1.20:5643', undefined, 5642), undefined);
  const bound = new HostPolicy({ bindHost: '192.168.1.20', loopback: false, tls: true });
  assert.equal(bound.check('192.168.1.20', 'https://192.168.1.20', 443), undefined, 'a Host without a port implies 443 under TLS');
  assert.notEqual(bound.check('localhost:443', undefined, 443), undefined, 'localhost is not a name of a non-loopback listener');
  assert.notEqual(bound.check('192.168.1.21:443', undefined, 443), undefined);
  const unix = new HostPolicy({ loopback: true, tls: false });
  assert.equal(unix.off, true);
  assert.equal(unix.check('evil.example', 'http://evil.example', 0), undefined);
});

test('static routes are safe for any name: /ui/constructor and friends are 404, never 500', async (t) => {
  const { base } = await startServer(t);
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'isPrototypeOf', '__defineGetter__', '%2e%2e%2fapp.ts', 'index.html%00'];
  for (const name of names) {
    for (const path of [`/ui/${name}`, `/docs/static/${name}`, `/${name}`, `/api/v1/${name}`]) {
      const r = await fetch(base + path);
      // 404 mostly; @fastify/static answers a NUL in a name 403: a client error either way.
      assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
      await r.arrayBuffer();
    }
    // The same names where a route takes them as a value: client mistakes, never a 500.
    const call = await fetch(`${base}/api/v1/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/svc/clock', method: name }) });
    assert.ok(call.status >= 400 && call.status < 500, `call ${name}: ${call.status}`);
    const resolved = await fetch(`${base}/api/v1/ns/resolve?path=/${name}`);
    assert.ok(resolved.status >= 400 && resolved.status < 500, `resolve ${name}: ${resolved.status}`);
  }
  assert.equal((await fetch(`${base}/ui/app.mjs`)).status, 200);
});

test('a 500 answers an opaque body and is logged with its stack', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const app = buildAdminApp({
    loggerInstance: pino({ level: 'info' }, stream),
    profiles: () => [{ name: 'p', tokens: [], loopback: true, admin: false }],
    peerIsLoopback: true,
    // A bug behind a route: the session cannot be made.
    session: () => Promise.reject(new TypeError('cannot read properties of undefined (the bug)')),
    endSession: async () => undefined,
    sessionCount: () => 0,
    captable: new CapabilityTable(),
  });
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  assert.ok(a !== null && typeof a === 'object');
  const r = await fetch(`http://127.0.0.1:${a.port}/api/v1/ns/list?path=/`);
  assert.equal(r.status, 500);
  const body = (await r.json()) as { code: string; message: string };
  assert.deepEqual([body.code, body.message], ['INTERNAL', 'internal error']);
  const logged = lines.find((l) => l['msg'] === 'request failed');
  assert.ok(logged, JSON.stringify(lines));
  const err = logged['err'] as { message: string; stack: string };
  assert.match(err.message, /the bug/);
  assert.match(err.stack, /TypeError: cannot read properties of undefined \(the bug\)\n\s+at /);
  assert.equal(logged['level'], 50);
});

test('an http listener with tls speaks HTTPS (it served plain HTTP before), and checks Host as well', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-https-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', 'key.pem', '-out', 'cert.pem'], { cwd: dir, stdio: 'ignore' });
  const manifest = MANIFEST.replace('- { protocol: http, address: "tcp!127.0.0.1!0" }', `- { protocol: http, address: "tcp!127.0.0.1!0", tls: { cert: ${join(dir, 'cert.pem')}, key: ${join(dir, 'key.pem')} } }`);
  const { base } = await startServer(t, manifest);
  const port = new URL(base).port;
  const ca = readFileSync(join(dir, 'cert.pem'));
  const status = (host: string): Promise<number> =>
    new Promise((resolve, reject) => {
      // The certificate is checked against 127.0.0.1 whatever Host the request claims.
      const req = https.request({ host: '127.0.0.1', port, path: '/healthz', ca, headers: { host }, checkServerIdentity: (_name, cert) => tls.checkServerIdentity('127.0.0.1', cert) }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  assert.equal(await status(`127.0.0.1:${port}`), 200);
  assert.equal(await status(`evil.example:${port}`), 403);
  // Plain HTTP on a TLS port gets no answer from the API.
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
});
