// withOnread: an accepted socket, re-made over its handle with `onread`, reads into the
// memory its owner chooses, and the server still counts it (close waits for it).
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { acceptWithOnread, dropAtAccept, withOnread } from '../src/accepted-reads.js';

test('an accepted socket reads through onread into the given buffer, and the server still counts it', async () => {
  const buf = new Uint8Array(4096);
  const got: number[] = [];
  let reads = 0;
  let used: boolean | undefined;
  const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
    const r = withOnread(accepted, {
      buffer: buf,
      callback: (n, b) => {
        assert.equal(b, buf);
        reads++;
        for (let i = 0; i < n; i++) got.push(b[i]!);
        if (got.length === 10_000) r.socket.end('done');
        return true;
      },
    });
    used = r.usedOnread;
    r.socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  // Half-open: the client keeps its side open after the server's 'done'.
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i & 0xff));
  client.write(payload);
  const reply = await new Promise<string>((resolve) => {
    let s = '';
    client.on('data', (d: Buffer) => (s += d.toString()));
    client.on('end', () => resolve(s));
  });
  assert.equal(used, true, 'this Node has the handle and server fields withOnread relies on');
  assert.equal(reply, 'done');
  assert.deepEqual(Buffer.from(got), payload);
  assert.ok(reads >= 3, 'reads were capped at the 4 KiB buffer given');
  assert.equal(await new Promise<number>((r) => server.getConnections((_e, n) => r(n))), 1);
  // close() waits for the adopted connection, which the client now ends.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  let done = false;
  void closed.then(() => (done = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(done, false, 'the server closed with a connection still open');
  client.end();
  await closed;
});

test('a socket that cannot be adopted (no handle) is returned as is, resumed', async () => {
  const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
    accepted.on('error', () => undefined);
    accepted.destroy();
    const r = withOnread(accepted, { buffer: new Uint8Array(16), callback: () => true });
    assert.equal(r.usedOnread, false);
    assert.equal(r.socket, accepted);
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => server.on('close', resolve));
  client.destroy();
});

test('acceptWithOnread: each accepted socket is made once, reading through its own onread, and the server counts it', async () => {
  const got = new Map<number, number[]>();
  let made = 0;
  let emitted = 0;
  const server = net.createServer({ pauseOnConnect: true }, () => emitted++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const installed = acceptWithOnread(server, (create) => {
    const id = made++;
    const bytes: number[] = [];
    got.set(id, bytes);
    const buf = new Uint8Array(1024);
    const socket = create({
      buffer: buf,
      callback: (n, b) => {
        assert.equal(b, buf);
        for (let i = 0; i < n; i++) bytes.push(b[i]!);
        if (bytes.length === 5000) socket.end('done');
        return true;
      },
    });
    socket.on('error', () => undefined);
  });
  assert.equal(installed, true, 'this Node has the handle and counters acceptWithOnread relies on');
  const { port } = server.address() as net.AddressInfo;
  const clients = [1, 2].map((k) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    c.write(Buffer.alloc(5000, k));
    return new Promise<[net.Socket, string]>((resolve) => {
      let s = '';
      c.on('data', (d: Buffer) => (s += d.toString()));
      c.on('end', () => resolve([c, s]));
    });
  });
  const done = await Promise.all(clients);
  assert.deepEqual(done.map(([, s]) => s), ['done', 'done']);
  assert.equal(made, 2);
  assert.equal(emitted, 0, "no socket was made by node:net's own onconnection");
  // Each socket read its own client's bytes through its own buffer.
  assert.deepEqual([...got.values()].map((b) => new Set(b).size), [1, 1]);
  assert.deepEqual(new Set([...got.values()].map((b) => b[0])), new Set([1, 2]));
  assert.equal(await new Promise<number>((r) => server.getConnections((_e, n) => r(n))), 2);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  let over = false;
  void closed.then(() => (over = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(over, false, 'the server closed with connections still open');
  for (const [c] of done) c.end();
  await closed;
});

test('dropAtAccept: while drop() says so, an accepted connection is closed before anything is made for it (no connection event, not counted), on a plain server and behind acceptWithOnread', async () => {
  for (const withOnreadToo of [false, true]) {
    let made = 0;
    let dropping = true;
    const server = net.createServer({ pauseOnConnect: true }, (s) => {
      made++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    if (withOnreadToo) {
      assert.equal(
        acceptWithOnread(server, (create) => {
          made++;
          create({ buffer: new Uint8Array(64), callback: () => true }).destroy();
        }),
        true,
      );
    }
    let asked = 0;
    assert.equal(dropAtAccept(server, () => (asked++, dropping)), true);
    const { port } = server.address() as net.AddressInfo;
    const connectAndWaitClose = (): Promise<void> =>
      new Promise((resolve) => {
        const c = net.connect({ port, host: '127.0.0.1' });
        c.on('error', () => undefined);
        c.on('close', () => resolve());
        c.resume();
      });
    for (let i = 0; i < 5; i++) await connectAndWaitClose();
    assert.equal(asked, 5);
    assert.equal(made, 0, 'a connection was made for a dropped socket');
    const count = await new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
    assert.equal(count, 0);
    // Once drop() says no, connections are made as before.
    dropping = false;
    await connectAndWaitClose();
    assert.equal(made, 1);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
