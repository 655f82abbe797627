/**
 * Calls pipelined on a call that its server answers by a tail call to another peer go on
 * to that peer in the same write as the tail call (as C++'s tailCall redirects the
 * pipeline at once). They used to wait until the method's promise settled, a few promise
 * reactions after the tail call was written: a second write, which on a loaded machine
 * could reach the next hop after that hop had answered the tail call already (the call
 * was then not pipelined there: test/grid's pipelining check failed that way).
 *
 *   client --> front (answers newCounter by a tail call) --> back (the Test server)
 *
 * The front's connection to the back runs over a transport that logs each write it is
 * given (one per flush of the connection), so which messages went out together is
 * known exactly, not guessed from when the bytes arrived.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { FrameReader, RpcConnection, connect, listen, release, serve, type CallContext } from '../../src/rpc/index.js';
import { Test, type Test$Client, type Test_NewCounter$Params, type Test_NewCounter$Results, type Test$Server$Target } from '../fixtures/rpc/gen/test.js';
import { readFrame } from './raw-peer.js';
import { ServerState, serveTest } from './test-impl.js';

/** A Duplex over a socket that keeps what each write (each flush of the connection) carried. */
class WriteLog extends Duplex {
  readonly writes: Buffer[] = [];

  constructor(readonly sock: net.Socket) {
    super();
    sock.on('data', (c: Buffer) => this.push(c));
    sock.on('end', () => this.push(null));
    sock.on('error', (e) => this.destroy(e));
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.writes.push(chunk);
    this.sock.write(chunk, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (e?: Error | null) => void): void {
    const all = Buffer.concat(chunks.map((c) => c.chunk));
    this.writes.push(all);
    this.sock.write(all, cb);
  }

  override _final(cb: () => void): void {
    this.sock.end(cb);
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    this.sock.destroy();
    cb(err);
  }

  /** Each write as the list of its messages: `call <method>` for calls, else the message kind. */
  messages(): string[][] {
    return this.writes.map((w) => {
      const reader = new FrameReader({ maxMessageBytes: 1 << 26, maxSegments: 512 });
      return reader.push(w).map((f) => {
        const m = readFrame(f);
        const which = m.which();
        if (which === 2) {
          const c = m.call;
          return `call ${c.methodId}${c.target.which() === 1 ? ' pipelined' : ''}`;
        }
        return `message ${which}`;
      });
    });
  }
}

const NEW_COUNTER = 2;
const INCREMENT = 0;

/** The front: answers newCounter by a tail call to the back's Test (after an await when `later`). */
function front(back: Test$Client, later: boolean): Test$Server$Target {
  return {
    newCounter(params: Test_NewCounter$Params, _results: Test_NewCounter$Results, ctx: CallContext): Promise<void> | void {
      const start = params.start;
      const tail = (): Promise<void> => ctx.tailCall(back, (b) => b.newCounter((p) => (p.start = start)));
      if (!later) return tail();
      // As Namespace.resolve does: the tail call is made after the method awaited something.
      return Promise.resolve().then(tail);
    },
  } as unknown as Test$Server$Target;
}

async function chain(t: TestContext, later: boolean): Promise<{ client: Test$Client; log: WriteLog }> {
  const state = new ServerState();
  const backListener = await listen('127.0.0.1:0', { bootstrap: () => serveTest(state) });
  const port = Number(/!(\d+)$/.exec(backListener.address)![1]);
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  sock.setNoDelay(true);
  const log = new WriteLog(sock);
  const toBack = new RpcConnection(log, { name: 'front-to-back' });
  const back = toBack.bootstrap(Test);
  const frontListener = await listen('127.0.0.1:0', { bootstrap: () => serve(Test, front(back, later)) });
  const conn = await connect(frontListener.address);
  const client = conn.bootstrap(Test);
  t.after(async () => {
    release(client);
    await conn.close();
    await frontListener.close();
    release(back);
    await toBack.close();
    await backListener.close();
  });
  // The bootstrap of the back goes out (and is answered) before the calls looked at.
  await back.liveObjects().promise();
  return { client, log };
}

for (const later of [false, true]) {
  const when = later ? 'after an await' : 'at once';
  test(`a call pipelined on a call answered by a tail call (made ${when}) goes to the callee in the same write as the tail call`, async (t) => {
    const { client, log } = await chain(t, later);
    const from = log.writes.length;
    const r = client.newCounter((p) => (p.start = 40n));
    const counter = r.getCounter();
    const v = await counter.increment((p) => (p.by = 2n)).promise();
    assert.equal(v.value, 42n, 'the pipelined call reached the counter the tail call made');
    release(counter);
    const writes = log.messages().slice(from);
    const withTail = writes.findIndex((w) => w.includes(`call ${NEW_COUNTER}`));
    assert.ok(withTail >= 0, `the tail call went to the back: ${JSON.stringify(writes)}`);
    assert.ok(
      writes[withTail]!.includes(`call ${INCREMENT} pipelined`),
      `the pipelined call went out in a write of its own, after the tail call's: ${JSON.stringify(writes)}`,
    );
  });
}
