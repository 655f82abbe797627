import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NsError } from '../../src/errors.js';
import { DMDIR, type File } from '../../src/fileserver/file-server.js';
import { RemoteFile, RemoteFileServer, serveFile, serveFileServer } from '../../src/fileserver/file-server-rpc.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { File as FileIface, FileServer } from '../../src/gen/fileserver.js';
import { connect, listen, liveLocalObjects } from '../../src/rpc/index.js';
import { abortControllersMadeBy } from '../support/abort-count.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A MemFileServer served over TCP on 127.0.0.1, and a RemoteFileServer using it. */
async function remoteRamfs(t: { after: (fn: () => Promise<void> | void) => void }) {
  const mem = new MemFileServer();
  const listener = await listen('127.0.0.1:0', { bootstrap: () => serveFileServer(mem) });
  const conn = await connect(listener.address);
  const remote = new RemoteFileServer(conn.bootstrap(FileServer));
  t.after(async () => {
    remote.close();
    await conn.close();
    await listener.close();
  });
  return { mem, remote, conn };
}

function isNsError(code: string) {
  return (e: unknown) => e instanceof NsError && e.code === code;
}

test('a FileServer served over RPC does create, write, read, readDir, stat, wstat and remove', async (t) => {
  const baseline = liveLocalObjects();
  const { remote, mem } = await remoteRamfs(t);
  const { root } = await remote.attach('');
  const dir = await root.create('docs', DMDIR | 0o755, { access: 'read' });
  await dir.file.clunk();
  const w = await root.walk(['docs']);
  assert.ok(w.file);
  assert.equal(w.qids.length, 1);
  const f = await w.file.create('a.txt', 0o644, { access: 'readWrite' });
  assert.equal(await f.file.write(0n, enc.encode('hello, world')), 12);
  assert.equal(dec.decode(await f.file.read(7n, 100)), 'world');
  const st = await f.file.stat();
  assert.equal(st.name, 'a.txt');
  assert.equal(st.length, 12n);
  await f.file.wstat({ name: 'b.txt', length: 5n });
  await f.file.clunk();
  await w.file.open({ access: 'read' });
  const entries = await w.file.readDir(0, 10);
  assert.deepEqual(
    entries.map((e) => [e.name, e.length]),
    [['b.txt', 5n]],
  );
  await w.file.clunk();

  // The bytes really are in the server's tree.
  const local = await mem.attach('');
  const lw = await local.root.walk(['docs', 'b.txt']);
  assert.ok(lw.file);
  await lw.file.open({ access: 'read' });
  assert.equal(dec.decode(await lw.file.read(0n, 100)), 'hello');
  await lw.file.clunk();
  await local.root.clunk();

  const gone = await root.walk(['docs', 'b.txt']);
  assert.ok(gone.file);
  await gone.file.remove();
  const again = await root.walk(['docs', 'b.txt']);
  assert.equal(again.qids.length, 1);
  assert.ok(again.error instanceof NsError);
  assert.equal(again.error.code, 'NS_ERR_NOT_FOUND');
  await root.clunk();
  // Every File capability handed out was released: only the FileServer itself is left.
  await waitFor(() => liveLocalObjects() === baseline + 1);
});

test('expected failures cross the wire as NsErrors with their codes', async (t) => {
  const { remote } = await remoteRamfs(t);
  const { root } = await remote.attach('');
  const c = await root.create('x', 0o644, { access: 'write' });
  await c.file.clunk();
  await assert.rejects(root.create('x', 0o644, { access: 'write' }), isNsError('NS_ERR_EXISTS'));
  const w = await root.walk(['x']);
  assert.ok(w.file);
  await assert.rejects(w.file.read(0n, 10), isNsError('NS_ERR_NOT_OPEN'));
  const deeper = await w.file.walk(['y']);
  assert.equal(deeper.error?.code, 'NS_ERR_NOT_DIR');
  await w.file.clunk();
  await assert.rejects(w.file.stat(), isNsError('NS_ERR_INVALID_ARGUMENT'));
  await assert.rejects(remote.attach('no/such/tree'), isNsError('NS_ERR_NOT_FOUND'));
  await root.clunk();
});

test('releasing a File capability clunks the File behind it (ORCLOSE runs)', async (t) => {
  const { remote, mem } = await remoteRamfs(t);
  const { root } = await remote.attach('');
  const c = await root.create('tmp', 0o644, { access: 'write', removeOnClose: true });
  await c.file.clunk();
  const local = await mem.attach('');
  const w = await local.root.walk(['tmp']);
  assert.equal(w.error?.code, 'NS_ERR_NOT_FOUND');
  await local.root.clunk();
  await root.clunk();
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached');
}

test('a read of a File that never waits (File.waits false) is given no signal, and a ram file\'s reads over RPC make no AbortController; one that may wait is given the call\'s', async (t) => {
  // What a served File's read is given, for each kind.
  const seen: Array<AbortSignal | undefined> = [];
  const recording = (waits: boolean | undefined): File =>
    ({
      ...(waits === undefined ? {} : { waits }),
      read(_offset: bigint, _count: number, signal?: AbortSignal) {
        seen.push(signal);
        return Promise.resolve(new Uint8Array(1));
      },
      clunk: () => Promise.resolve(),
    }) as unknown as File;
  for (const waits of [undefined, true, false]) {
    const listener = await listen('127.0.0.1:0', { bootstrap: () => serveFile(recording(waits)) });
    const conn = await connect(listener.address);
    const file = new RemoteFile(conn.bootstrap(FileIface));
    await file.read(0n, 1);
    await file.clunk();
    await conn.close();
    await listener.close();
  }
  assert.ok(seen[0] instanceof AbortSignal, 'a File that says nothing may wait: its read gets the signal');
  assert.ok(seen[1] instanceof AbortSignal, 'waits: true gets the signal');
  assert.equal(seen[2], undefined, 'waits: false gets none');

  // A ram file, read 20 times over a connection: no AbortController made for it anywhere.
  const { remote } = await remoteRamfs(t);
  const { root } = await remote.attach('');
  const f = await root.create('f', 0o644, { access: 'readWrite' });
  await f.file.write(0n, new Uint8Array(65536).fill(7));
  const made = await abortControllersMadeBy(async () => {
    for (let i = 0; i < 20; i++) assert.equal((await f.file.read(0n, 65536)).length, 65536);
  });
  assert.equal(made, 0, `${made} AbortControllers made for 20 reads of a ram file`);
  await f.file.clunk();
});
