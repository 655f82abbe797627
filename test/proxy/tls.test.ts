import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Client } from 'capnp-es';
import { MountTable } from '../../src/namespace/mount-table.js';
import { serveNamespace } from '../../src/namespace/namespace-server.js';
import { startExport } from '../../src/proxy/exporter.js';
import { importedNamespace, resolvePipelined, startImport } from '../../src/proxy/importer.js';
import { release } from '../../src/rpc/index.js';
import { Counter } from '../fixtures/rpc/gen/test.js';
import { newCounter, TestState } from '../support/test-server.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and a self-signed rogue. */
function pki(dir: string) {
  const f = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  run('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=test-ca', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, cn] of [['server', 'localhost'], ['client', 'importer']] as const) {
    run('req', ...ec, '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    run('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-out', f(`${name}.pem`), ...(name === 'server' ? ['-extfile', f('server.ext')] : []));
  }
  run('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=rogue', '-keyout', f('rogue.key'), '-out', f('rogue.pem'));
  const r = (n: string) => readFileSync(f(n));
  return { ca: r('ca.pem'), server: { cert: r('server.pem'), key: r('server.key') }, client: { cert: r('client.pem'), key: r('client.key') }, rogue: { cert: r('rogue.pem'), key: r('rogue.key') } };
}

test('mutual TLS: a client certificate from the CA gets in without a token; none, or a rogue one, gets nothing', { skip: hasOpenssl() ? false : 'needs openssl' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = pki(dir);
  const table = new MountTable<Client>();
  table.bind('/svc/counter', { cap: newCounter(new TestState(), 1n).client, interfaceId: Counter.Client.interfaceId, label: 'counter' });
  const ns = serveNamespace(table);
  const exp = await startExport({ ns, root: '/svc', listen: '127.0.0.1:0', tls: { ...p.server, ca: p.ca, requestCert: true, rejectUnauthorized: true } });
  release(ns);
  t.after(() => exp.destroy());

  const good = startImport({ address: exp.address, tls: { ca: p.ca, ...p.client } });
  t.after(() => good.close());
  await good.firstAttempt();
  assert.equal(good.connected, true);
  const remote = importedNamespace(good);
  const c = resolvePipelined(remote, '/counter', Counter);
  assert.equal((await c.get().promise()).value, 1n);
  release(c);
  release(remote);

  for (const tls of [{ ca: p.ca }, { ca: p.ca, ...p.rogue }]) {
    const bad = startImport({ address: exp.address, tls, backoffMinMs: 60_000 });
    t.after(() => bad.close());
    await bad.firstAttempt();
    assert.equal(bad.connected, false);
    const n = importedNamespace(bad);
    await assert.rejects(n.describe().promise(), (e: unknown) => e instanceof Error && /disconnected|import/.test(String(e)));
    release(n);
  }
});

test('mutual TLS with tlsSubjects: only a certificate whose subject matches gets in without a token', { skip: hasOpenssl() ? false : 'needs openssl' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = pki(dir); // its client certificate is CN=importer
  const table = new MountTable<Client>();
  table.bind('/svc/counter', { cap: newCounter(new TestState(), 1n).client, interfaceId: Counter.Client.interfaceId, label: 'counter' });
  const ns = serveNamespace(table);
  const tls = { ...p.server, ca: p.ca, requestCert: true, rejectUnauthorized: true };
  const allowed = await startExport({ ns, root: '/svc', listen: '127.0.0.1:0', tls, tlsSubjects: ['CN=importer'] });
  const others = await startExport({ ns, root: '/svc', listen: '127.0.0.1:0', tls, tlsSubjects: ['CN=someone-else'] });
  release(ns);
  t.after(() => {
    allowed.destroy();
    others.destroy();
  });
  const yes = startImport({ address: allowed.address, tls: { ca: p.ca, ...p.client } });
  t.after(() => yes.close());
  await yes.firstAttempt();
  assert.equal(yes.connected, true);
  const no = startImport({ address: others.address, tls: { ca: p.ca, ...p.client }, backoffMinMs: 60_000 });
  t.after(() => no.close());
  await no.firstAttempt();
  assert.equal(no.connected, false, 'a CA-signed certificate whose subject is not listed gets nothing');
});
