/**
 * Imports that never hang, say why they are down, and behave like directories: the
 * importer's deadlines, its refusal state, its status (`Import.status`), the per-call
 * deadline, the errors naming the hop that failed, the exporter's heartbeat of its
 * importers, and a mounted Namespace as a directory of the namespace it is mounted in.
 * Real sockets on 127.0.0.1, real exporters and importers, no mocks.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { Client } from 'capnp-es';
import { CapnsClient } from '../../src/client/index.js';
import { serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { DMDIR } from '../../src/fileserver/file-server.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { Clock, Echo, type Echo_Echo$Params, type Echo_Echo$Results } from '../../src/gen/demo.js';
import { Gate, Namespace, type Gate_Authenticate$Params, type Gate_Authenticate$Results, type Namespace$Server$Target, type Namespace_Resolve$Params, type Namespace_Resolve$Results } from '../../src/gen/namespace.js';
import { Import } from '../../src/gen/proxy.js';
import { FILE_SERVER_INTERFACE_ID, NAMESPACE_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { serveNamespace } from '../../src/namespace/namespace-server.js';
import { startExport, type ExportOptions } from '../../src/proxy/exporter.js';
import { importedNamespace, readImportStatus, resolvePipelined, startImport, type ImportOptions, type Importer } from '../../src/proxy/importer.js';
import { guardCalls, listen, release, RpcError, serve, withSignal, type CallContext } from '../../src/rpc/index.js';
import { Counter } from '../fixtures/rpc/gen/test.js';
import { newCounter, TestState } from '../support/test-server.js';
import { Relay } from './relay.js';

type T = { after: (fn: () => Promise<void> | void) => void };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A TCP server that accepts connections and never sends a byte. */
async function silentServer(t: T): Promise<{ address: string; open: () => number }> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    // Read (and drop) whatever comes, so that the peer's FIN is seen.
    s.resume();
    s.on('close', () => socks.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of socks) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { address: `tcp!127.0.0.1!${(server.address() as net.AddressInfo).port}`, open: () => socks.size };
}

/** A port nothing listens on (connections are refused). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Host A: /svc/counter, /svc/files (ram, create), /svc/slow (an Echo that answers only when cancelled). */
function hostA(slow?: { cancelled: boolean }) {
  const table = new MountTable<Client>();
  table.bind('/svc/counter', { cap: newCounter(new TestState(), 41n).client, interfaceId: Counter.Client.interfaceId, label: 'counter' });
  table.bind('/svc/files', { cap: serveFileServer(new MemFileServer()).client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'files' }, { create: true });
  const echo = serve(Echo, {
    async echo(p: Echo_Echo$Params, r: Echo_Echo$Results, ctx?: CallContext) {
      await new Promise<void>((res) => ctx?.signal.addEventListener('abort', () => res(), { once: true }));
      if (slow !== undefined) slow.cancelled = true;
      r.text = p.text;
    },
  });
  table.bind('/svc/slow', { cap: echo.client, interfaceId: Echo.Client.interfaceId, label: 'slow' });
  return serveNamespace(table);
}

async function exportA(t: T, opts: Partial<ExportOptions> = {}, slow?: { cancelled: boolean }) {
  const ns = hostA(slow);
  const exp = await startExport({ ns, root: '/svc', listen: '127.0.0.1:0', tokens: ['sesame'], ...opts });
  release(ns);
  t.after(() => exp.destroy());
  return exp;
}

function imported(t: T, opts: ImportOptions): Importer {
  const imp = startImport(opts);
  t.after(() => imp.close());
  return imp;
}

/** A namespace with `imp` at /n/a (create as asked) and a local counter, as a client library client. */
function namespaceWith(t: T, imp: Importer, create = true): CapnsClient {
  const table = new MountTable<Client>();
  table.bind('/n/a', { cap: imp.capability(), interfaceId: imp.interfaceId, label: 'a' }, { create });
  table.bind('/local/counter', { cap: newCounter(new TestState(), 0n).client, interfaceId: Counter.Client.interfaceId, label: 'local' });
  const c = CapnsClient.local(serveNamespace(table), 'test');
  t.after(() => c.close());
  return c;
}

test('an export that accepts and never answers costs one failed attempt, never a hang: connect, authenticate and resolve have deadlines', async (t) => {
  const silent = await silentServer(t);
  // Authenticate never answered.
  const imp = imported(t, { address: silent.address, name: 'far', authTimeoutMs: 100, backoffMinMs: 60_000 });
  // Calls made while the first attempt is under way fail at once, naming the import.
  const ns = importedNamespace(imp);
  await assert.rejects(ns.describe().promise(), (e: unknown) => e instanceof RpcError && e.type === 'disconnected' && /^import 'far' \(tcp!127\.0\.0\.1!\d+\) is not connected yet/.test(e.message));
  await imp.firstAttempt();
  const s = imp.status();
  assert.equal(s.state, 'retrying');
  assert.match(s.lastError, /^authenticate: no answer within 100 ms$/);
  assert.ok(s.nextAttemptAt > Date.now(), `next attempt at ${s.nextAttemptAt}`);
  await assert.rejects(ns.describe().promise(), (e: unknown) => e instanceof RpcError && e.type === 'disconnected' && /is down: authenticate: no answer within 100 ms \(for .*; next attempt in/.test(e.message));
  release(ns);
  // The abandoned connection is closed, not left open on the export.
  await until('the silent server to see the importer hang up', () => silent.open() === 0);

  // Closing an import whose attempt is under way lets go of the connection at once (not
  // at the deadline, a minute away).
  const closing = startImport({ address: silent.address, authTimeoutMs: 60_000 });
  await until('the attempt to connect', () => silent.open() === 1);
  await closing.close();
  assert.equal(closing.status().state, 'closed');
  await until('the socket to be closed', () => silent.open() === 0);

  // TLS: the handshake is never answered; connectTimeoutMs covers it.
  const tlsImp = imported(t, { address: silent.address, tls: { rejectUnauthorized: false }, connectTimeoutMs: 100, backoffMinMs: 60_000 });
  await tlsImp.firstAttempt();
  assert.match(tlsImp.status().lastError, /^no connection within 100 ms \(TCP and TLS handshake\)$/);
  await until('the TLS socket to be closed', () => silent.open() === 0);

  // A Gate that admits, and a Namespace that never answers resolve: resolveTimeoutMs.
  const listener = await listen('127.0.0.1:0', {
    bootstrap: () =>
      serve(Gate, {
        async authenticate(_p: Gate_Authenticate$Params, r: Gate_Authenticate$Results) {
          r._initResult()._initOk().ns = serve(Namespace, {
            async resolve(_q: Namespace_Resolve$Params, _r: Namespace_Resolve$Results, ctx?: CallContext) {
              await new Promise<void>((res) => ctx?.signal.addEventListener('abort', () => res(), { once: true }));
            },
          } as unknown as Namespace$Server$Target);
        },
      }),
  });
  t.after(() => listener.destroy());
  const resolveImp = imported(t, { address: listener.address, path: '/clock', interfaceId: Clock.Client.interfaceId, resolveTimeoutMs: 100, backoffMinMs: 60_000 });
  await resolveImp.firstAttempt();
  assert.match(resolveImp.status().lastError, /^resolve \/clock: no answer within 100 ms$/);
  await until('the connection to be closed', () => listener.connections.size === 0);
});

test('a refused token is a refusal: refused at once, not retried unless retryRefusedMs says so, and then only that often', async (t) => {
  const port = await deadPort();
  const refusals: number[] = [];
  const first = await exportA(t, { listen: `127.0.0.1:${port}`, onPeer: (e) => e === 'refused' && refusals.push(Date.now()) });
  const once = imported(t, { address: first.address, name: 'far', token: 'wrong', backoffMinMs: 5 });
  await once.firstAttempt();
  const s = once.status();
  assert.equal(s.state, 'refused');
  assert.equal(s.lastError, 'unknown token');
  assert.equal(s.nextAttemptAt, 0);
  await sleep(100);
  assert.equal(refusals.length, 1, 'a refusal without retryRefusedMs is never retried');
  // With retryRefusedMs, attempts continue at that pace (not the outage backoff's 5 ms).
  const slow = imported(t, { address: first.address, token: 'wrong', retryRefusedMs: 50, backoffMinMs: 5 });
  await until('three more refusals', () => refusals.length >= 4);
  for (let i = 2; i < refusals.length; i++) assert.ok(refusals[i]! - refusals[i - 1]! >= 45, `refusals ${refusals.join(',')} closer than retryRefusedMs`);
  assert.equal(slow.status().state, 'refused');
  // Between attempts, the next one is planned (0 only while one is under way).
  await until('a planned attempt', () => slow.status().nextAttemptAt > 0);
  // The export learns the token (here: comes back with it): the import gets in by itself.
  first.destroy();
  await exportA(t, { listen: `127.0.0.1:${port}`, tokens: ['wrong'] });
  await until('the import to connect', () => slow.connected);
  assert.equal(slow.status().state, 'connected');
  assert.equal(once.status().state, 'refused');
});

test('Import.status answers from the importer itself, through a namespace: retrying since when and why, connected, lost', async (t) => {
  const port = await deadPort();
  const imp = imported(t, { address: `tcp!127.0.0.1!${port}`, name: 'far', token: 'sesame', backoffMinMs: 20, backoffMaxMs: 40 });
  const c = namespaceWith(t, imp);
  await imp.firstAttempt();
  const down = await c.importStatus('/n/a');
  assert.ok(down !== undefined, 'an import has a status');
  assert.equal(down.name, 'far');
  assert.equal(down.address, `tcp!127.0.0.1!${port}`);
  assert.equal(down.path, '/');
  assert.equal(down.state, 'retrying');
  assert.match(down.lastError, /ECONNREFUSED/);
  // The next attempt is planned after the failure (or, 0, under way already).
  assert.ok(down.since > 0 && down.lastErrorAt >= down.since && (down.nextAttemptAt === 0 || down.nextAttemptAt > down.lastErrorAt), JSON.stringify(down));
  assert.equal(down.connections, 0);
  // Not an import: no status.
  assert.equal(await c.importStatus('/local/counter'), undefined);
  // The export comes up: connected.
  const exp = await exportA(t, { listen: `127.0.0.1:${port}` });
  await until('the import to connect', () => imp.connected);
  const up = await c.importStatus('/n/a');
  assert.equal(up?.state, 'connected');
  assert.equal(up?.connections, 1);
  assert.equal(up?.nextAttemptAt, 0);
  // Asked directly on the capability, pipelined on the resolve: the same answer.
  const any = await c.resolveAny('/n/a');
  const direct = new Import.Client(any.client);
  assert.equal(readImportStatus((await direct.status().promise()).status).state, 'connected');
  release(direct);
  // The export goes: retrying, since the loss, with the reason.
  const before = Date.now();
  exp.destroy();
  await until('the import to notice', () => !imp.connected);
  const lost = await c.importStatus('/n/a');
  assert.equal(lost?.state, 'retrying');
  assert.ok(lost.since >= before, `down since ${lost.since}, lost at ${before}`);
  assert.notEqual(lost.lastError, '');
});

test('a call through the import past callTimeoutMs fails overloaded, naming the import, and is cancelled at the export', async (t) => {
  const slow = { cancelled: false };
  const exp = await exportA(t, {}, slow);
  const imp = imported(t, { address: exp.address, name: 'far', token: 'sesame', callTimeoutMs: 100 });
  await imp.firstAttempt();
  const c = namespaceWith(t, imp);
  const echo = resolvePipelined(c.namespace, '/n/a/slow', Echo);
  await assert.rejects(
    echo.echo((p) => (p.text = 'hello?')).promise(),
    (e: unknown) => e instanceof RpcError && e.type === 'overloaded' && /^import 'far' \(tcp!\S+\): no answer within 100 ms/.test(e.message),
  );
  release(echo);
  // Finish reached the export: the call's signal fired there.
  await until('the export to see the call cancelled', () => slow.cancelled);
  // The connection is fine: the next call answers.
  const counter = resolvePipelined(c.namespace, '/n/a/counter', Counter);
  assert.equal((await counter.increment((p) => (p.by = 1n)).promise()).value, 42n);
  release(counter);
  assert.equal(imp.connections, 1);
});

test("failures name the hop: a lost connection names the import; an export's report about its own import passes unchanged", async (t) => {
  // A <- B (imports A as 'a', exports /n/a) <- C (imports B as 'b').
  const port = await deadPort();
  const a = await exportA(t, { listen: `127.0.0.1:${port}` });
  const bImp = imported(t, { address: a.address, name: 'a', token: 'sesame', backoffMinMs: 20, backoffMaxMs: 20 });
  await bImp.firstAttempt();
  const bTable = new MountTable<Client>();
  bTable.bind('/n/a', { cap: bImp.capability(), interfaceId: NAMESPACE_INTERFACE_ID, label: 'a' });
  const bNs = serveNamespace(bTable);
  const b = await startExport({ ns: bNs, root: '/n/a', listen: '127.0.0.1:0', tokens: ['sesame'] });
  release(bNs);
  t.after(() => b.destroy());
  const cImp = imported(t, { address: b.address, name: 'b', token: 'sesame', backoffMinMs: 60_000 });
  await cImp.firstAttempt();
  const c = namespaceWith(t, cImp);
  const counter = resolvePipelined(c.namespace, '/n/a/counter', Counter);
  assert.equal((await counter.get().promise()).value, 41n);
  release(counter);
  // A goes: B's import of it is down; C's link to B is fine, and C says what B says.
  a.destroy();
  await until("B's import to notice", () => !bImp.connected);
  const again = resolvePipelined(c.namespace, '/n/a/counter', Counter);
  await assert.rejects(again.get().promise(), (e: unknown) => e instanceof RpcError && e.type === 'disconnected' && /^import 'a' \(tcp!\S+\) is down: /.test(e.message));
  release(again);
  // A comes back; a call in flight when C's own link dies is named after C's import.
  await exportA(t, { listen: `127.0.0.1:${port}` });
  await until("B's import to reconnect", () => bImp.connected);
  const echo = resolvePipelined(c.namespace, '/n/a/slow', Echo);
  const pending = echo.echo((p) => (p.text = 'x')).promise();
  pending.catch(() => {});
  await sleep(50);
  b.destroy();
  await assert.rejects(pending, (e: unknown) => e instanceof RpcError && e.type === 'disconnected' && /^import 'b' \(tcp!\S+\) lost its connection: /.test(e.message));
  release(echo);
});

test('the exporter heartbeats its importers: one gone silent is cut and its slot given back; the other importers never notice', async (t) => {
  for (const heartbeat of [true, false]) {
    const exp = await exportA(t, { maxConnections: 2, ...(heartbeat ? { heartbeatMs: 50, heartbeatTimeoutMs: 1000 } : { heartbeatMs: 0 }) });
    // Generous timeouts on the good importer's side: only the silent one may be cut, even
    // on a loaded machine.
    const good = imported(t, { address: exp.address, token: 'sesame', heartbeatTimeoutMs: 10_000 });
    await good.firstAttempt();
    // The other importer sits behind a relay that will go silent; its own heartbeat is
    // slowed down so that only the exporter's can notice.
    const relay = await Relay.start(exp.address);
    t.after(() => relay.close());
    const quiet = imported(t, { address: relay.address, token: 'sesame', heartbeatMs: 60_000, heartbeatTimeoutMs: 60_000, backoffMinMs: 60_000 });
    await quiet.firstAttempt();
    assert.equal(exp.connections, 2);
    relay.freeze();
    const goodNs = importedNamespace(good);
    const counter = resolvePipelined(goodNs, '/counter', Counter);
    if (heartbeat) {
      // The good importer keeps calling while the silent one is found out.
      let calls = 0;
      while (exp.connections === 2) {
        await counter.increment((p) => (p.by = 1n)).promise();
        calls++;
        await sleep(10);
      }
      assert.ok(calls > 0, 'the good importer made calls meanwhile');
      // The slot is free: a third importer gets in.
      const third = imported(t, { address: exp.address, token: 'sesame' });
      await third.firstAttempt();
      assert.equal(third.connected, true);
      assert.equal(good.connections, 1, 'the good importer never lost its connection');
    } else {
      // Without the heartbeat, the silent importer's connection (and slot) stays.
      await sleep(600);
      assert.equal(exp.connections, 2);
    }
    await counter.get().promise();
    release(counter);
    release(goodNs);
    relay.thaw();
    exp.destroy();
  }
});

test('a mounted Namespace is a directory: listed, walked, stat-ed and created in (with -c) through the remote namespace', async (t) => {
  const exp = await exportA(t);
  const imp = imported(t, { address: exp.address, token: 'sesame' });
  await imp.firstAttempt();
  // The whole export at /n/a; its file server alone (a Namespace at a path) at /n/f,
  // with create; again at /n/ro without.
  const files = imported(t, { address: exp.address, token: 'sesame', path: '/files' });
  await files.firstAttempt();
  const c = namespaceWith(t, imp);
  const table = new MountTable<Client>();
  table.bind('/n/a', { cap: imp.capability(), interfaceId: NAMESPACE_INTERFACE_ID, label: 'a' });
  table.bind('/n/f', { cap: files.capability(), interfaceId: NAMESPACE_INTERFACE_ID, label: 'f' }, { create: true });
  table.bind('/n/ro', { cap: files.capability(), interfaceId: NAMESPACE_INTERFACE_ID, label: 'ro' });
  const local = CapnsClient.local(serveNamespace(table), 'test');
  t.after(() => local.close());

  // The mount point lists as the remote namespace's root, capabilities and all.
  const top = await c.list('/n/a');
  assert.deepEqual(top.map((e) => [e.name, e.kind]), [['counter', 'capability'], ['files', 'directory'], ['slow', 'capability']]);
  assert.equal(top[0]!.interfaceId, Counter.Client.interfaceId);
  // Its parent shows it as a directory; stat says so too.
  assert.deepEqual((await local.list('/n')).map((e) => [e.name, e.kind]), [['a', 'directory'], ['f', 'directory'], ['ro', 'directory']]);
  const st = await local.stat('/n/f');
  assert.ok((st.mode & DMDIR) !== 0, `mode ${st.mode.toString(8)}`);
  assert.equal(st.name, 'f');
  // Create at the mount point (bound with create), write, read back, list.
  await local.writeFile('/n/f/hello', new TextEncoder().encode('hi there'));
  assert.equal(new TextDecoder().decode(await local.readFile('/n/f/hello')), 'hi there');
  await local.mkdir('/n/f/d');
  assert.deepEqual((await local.list('/n/f')).map((e) => e.name).sort(), ['d', 'hello']);
  // The same directory through the whole export.
  assert.equal(new TextDecoder().decode(await local.readFile('/n/a/files/hello')), 'hi there');
  // Without create, the mount point refuses creates as Plan 9 does (no MCREATE member).
  await assert.rejects(local.writeFile('/n/ro/other', new Uint8Array(1)), /forbids creation: no member was bound with create/);
  // Below the mount point, it is the remote's directory: creates go there.
  await local.writeFile('/n/ro/d/inside', new TextEncoder().encode('x'));
  // A union of the import and a local file server lists both (merged here, first wins).
  table.bind('/n/f', { cap: serveFileServer(new MemFileServer()).client, interfaceId: FILE_SERVER_INTERFACE_ID, label: 'mem' }, { position: 'after', create: false });
  const union = CapnsClient.local(serveNamespace(table.fork()), 'test');
  t.after(() => union.close());
  assert.deepEqual((await union.list('/n/f')).map((e) => e.name).sort(), ['d', 'hello']);
});

test("the call guard's deadline fails the call with its error and cancels the callee; the caller's own cancellation still works; answered calls are untouched", async () => {
  const cancelled: string[] = [];
  const echo = serve(Echo, {
    async echo(p: Echo_Echo$Params, r: Echo_Echo$Results, ctx?: CallContext) {
      if (p.text.startsWith('wait')) {
        await new Promise<void>((res) => ctx?.signal.addEventListener('abort', () => res(), { once: true }));
        cancelled.push(p.text);
      }
      r.text = p.text;
    },
  });
  const guarded = new Echo.Client(guardCalls(echo.client, { timeoutMs: 80, timeoutError: (ms) => new RpcError('overloaded', `late by ${ms} ms`) }));
  // Answered in time: untouched, many times over (each leaves nothing behind).
  for (let i = 0; i < 100; i++) assert.equal((await guarded.echo((p) => (p.text = `hi${i}`)).promise()).text, `hi${i}`);
  // Not answered: fails with the guard's error; the callee sees the cancellation.
  await assert.rejects(guarded.echo((p) => (p.text = 'wait-1')).promise(), (e: unknown) => e instanceof RpcError && e.type === 'overloaded' && e.message === 'late by 80 ms');
  await until('the callee to be cancelled', () => cancelled.includes('wait-1'));
  // The caller cancels first: its cancellation reaches the callee through the guard at
  // once (without it, only the deadline would, and the call would fail with its error).
  const ac = new AbortController();
  const mine = withSignal(guarded, ac.signal).echo((p) => (p.text = 'wait-2')).promise();
  ac.abort();
  const outcome = await mine.then(
    (r) => r.text,
    (e: unknown) => e,
  );
  assert.ok(!(outcome instanceof RpcError && outcome.type === 'overloaded'), `the deadline answered a cancelled call: ${String(outcome)}`);
  assert.ok(cancelled.includes('wait-2'), 'the callee saw the cancellation');
  release(echo);
});
