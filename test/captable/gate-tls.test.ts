import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Client } from 'capnp-es';
import { CapabilityTable } from '../../src/captable/capability-table.js';
import { newEcho } from '../../src/server/demo-services.js';
import { serveGate, type GateProfile } from '../../src/captable/gate.js';
import { Echo } from '../../src/gen/demo.js';
import { Gate } from '../../src/gen/namespace.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { connect, listen, release, subjectMatches } from '../../src/rpc/index.js';

interface Pki {
  ca: string;
  server: { key: string; cert: string };
  client: (cn: string, signedByCa: boolean) => { key: string; cert: string };
}

/** A CA, a server certificate for 127.0.0.1, and client certificates, made by openssl now. */
function makePki(): Pki | null {
  const dir = mkdtempSync(join(tmpdir(), 'capns-pki-'));
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    ssl('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=capns test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
    const issue = (name: string, subj: string, ext: string | null, signedByCa: boolean): { key: string; cert: string } => {
      if (signedByCa) {
        ssl('req', ...ec, '-subj', subj, '-keyout', `${name}.key`, '-out', `${name}.csr`);
        const args = ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', `${name}.pem`];
        if (ext !== null) {
          writeFileSync(join(dir, `${name}.ext`), ext);
          args.push('-extfile', `${name}.ext`);
        }
        ssl(...args);
      } else {
        ssl('req', '-x509', ...ec, '-days', '1', '-subj', subj, '-keyout', `${name}.key`, '-out', `${name}.pem`);
      }
      return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.pem`), 'utf8') };
    };
    const server = issue('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n', true);
    const ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
    let n = 0;
    return { ca, server, client: (cn, signed) => issue(`client${n++}`, `/CN=${cn}/O=example`, null, signed) };
  } catch {
    return null;
  }
}

test('subjectMatches: every attribute the manifest names must match the certificate', () => {
  const s = { CN: 'alice', O: 'example' };
  assert.ok(subjectMatches('CN=alice', s));
  assert.ok(subjectMatches('CN=alice, O=example', s));
  assert.ok(!subjectMatches('CN=alice,O=other', s));
  assert.ok(!subjectMatches('CN=bob', s));
  assert.ok(!subjectMatches('', s));
  assert.ok(!subjectMatches('alice', s));
});

test('mutual TLS: a verified client certificate selects its profile; an unverified one gets nothing', async (t) => {
  const pki = makePki();
  if (pki === null) {
    t.skip('openssl not available');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'capns-pki-run-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const echo = newEcho();
  const table = new MountTable<Client>();
  table.bind('/svc/echo', { cap: echo.client, interfaceId: Echo.Client.interfaceId, label: 'echo' });
  const profiles: GateProfile[] = [
    { name: 'alice', tokens: [], loopback: false, tlsSubjects: ['CN=alice'], table },
    { name: 'ops', tokens: ['ops-token'], loopback: false, tlsSubjects: ['CN=ops, O=example'], table },
  ];
  const listener = await listen('127.0.0.1:0', {
    tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
    bootstrap: (peer) => serveGate({ profiles, captable: new CapabilityTable(), connection: 'tls', peerIsLoopback: false, tlsSubject: peer.tlsSubject }),
  });
  t.after(async () => {
    await listener.close();
    release(echo);
  });
  const login = async (cert: { key: string; cert: string } | null, token = '') => {
    const conn = await connect(listener.address, { tls: { ca: pki.ca, ...(cert ?? {}) } });
    t.after(() => conn.close());
    const gate = conn.bootstrap(Gate);
    return (await gate.authenticate((p) => { p.token = token; }).promise()).result;
  };
  const alice = await login(pki.client('alice', true));
  assert.ok(alice._isOk, alice._isErr ? alice.err.message : '');
  assert.equal(alice.ok.profile, 'alice');
  const ops = await login(pki.client('ops', true));
  assert.equal(ops.ok.profile, 'ops');
  // A certificate the CA signed but no profile names: no credentials, no namespace.
  const bob = await login(pki.client('bob', true));
  assert.ok(bob._isErr);
  assert.match(bob.err.message, /credentials required/);
  // A token still works over TLS.
  assert.equal((await login(pki.client('bob', true), 'ops-token')).ok.profile, 'ops');
  // A certificate the CA did not sign fails the handshake: no connection at all.
  await assert.rejects(login(pki.client('alice', false)));
});
