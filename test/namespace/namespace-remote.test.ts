import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utils, type Client } from 'capnp-es';
import { serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { Failure_Code } from '../../src/gen/common.js';
import { Namespace } from '../../src/gen/namespace.js';
import { FILE_SERVER_INTERFACE_ID, NAMESPACE_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { serveNamespace } from '../../src/namespace/namespace-server.js';
import { connect, dupClient, listen, release } from '../../src/rpc/index.js';
import { Counter } from '../fixtures/rpc/gen/test.js';
import { newCounter, TestState } from '../support/test-server.js';

/**
 * A serves /svc/counter and /tmp; B binds A's Namespace (over TCP) at /remote; the client
 * talks to B only.
 */
async function setup(t: { after: (fn: () => Promise<void> | void) => void }) {
  const state = new TestState();
  const a = await listen('127.0.0.1:0', {
    bootstrap: () => {
      const table = new MountTable<Client>();
      table.bind('/svc/counter', { cap: newCounter(state, 41n).client, interfaceId: Counter.Client.interfaceId, label: 'counter' });
      table.bind('/tmp', { cap: serveFileServer(new MemFileServer()).client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'tmp' }, { create: true });
      return serveNamespace(table);
    },
  });
  const toA = await connect(a.address);
  const remote = toA.bootstrap(Namespace);
  const b = await listen('127.0.0.1:0', {
    bootstrap: () => {
      const table = new MountTable<Client>();
      table.bind('/remote', { cap: dupClient(remote.client), interfaceId: NAMESPACE_INTERFACE_ID, label: 'a' });
      table.bind('/local', { cap: serveFileServer(new MemFileServer()).client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'local' });
      return serveNamespace(table);
    },
  });
  const client = await connect(b.address);
  const ns = client.bootstrap(Namespace);
  t.after(async () => {
    release(ns);
    await client.close();
    await b.close();
    release(remote);
    await toA.close();
    await a.close();
  });
  return { ns, state };
}


test('resolve continues inside an imported Namespace member and the result can be called', async (t) => {
  const { ns } = await setup(t);
  const r = (await ns.resolve((p) => { p.path = '/remote/svc/counter'; p.expectedInterface = Counter.Client.interfaceId; }).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  assert.equal(r.ok.label, 'counter');
  assert.equal(r.ok.interfaceId, Counter.Client.interfaceId);
  const counter = new Counter.Client(utils.getInterfaceClientOrNull(r.ok.cap));
  assert.equal((await counter.increment((p) => { p.by = 1n; }).promise()).value, 42n);
  release(counter);
});

test('failures inside the imported namespace come back as they are', async (t) => {
  const { ns } = await setup(t);
  const missing = (await ns.resolve((p) => { p.path = '/remote/svc/nothing'; }).promise()).result;
  assert.equal(missing.err.code, Failure_Code.NOT_FOUND);
  const wrong = (await ns.resolve((p) => { p.path = '/remote/svc/counter'; p.expectedInterface = FILE_SERVER_INTERFACE_ID; }).promise()).result;
  assert.equal(wrong.err.code, Failure_Code.INTERFACE_MISMATCH);
});

test('list and walk continue inside an imported Namespace member', async (t) => {
  const { ns } = await setup(t);
  const l = (await ns.list((p) => { p.path = '/remote/svc'; }).promise()).result;
  assert.deepEqual(l.entries.map((e) => e.name), ['counter']);
  const w = (await ns.walk((p) => { p.path = '/remote/tmp'; }).promise()).result;
  assert.ok(w._isFile);
  const c = (await w.file.create((p) => { p.name = 'made-remotely'; p.perm = 0o644; p._initMode().access = 1; }).promise()).result;
  assert.ok(c._isOk, c._isErr ? c.err.message : '');
  release(c.ok.file);
  release(w.file);
  const again = (await ns.list((p) => { p.path = '/remote/tmp'; }).promise()).result;
  assert.deepEqual(again.entries.map((e) => e.name), ['made-remotely']);
  // The mount point itself is still the Namespace capability.
  const at = (await ns.resolve((p) => { p.path = '/remote'; }).promise()).result;
  assert.equal(at.ok.interfaceId, NAMESPACE_INTERFACE_ID);
});
