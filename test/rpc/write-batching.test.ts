/**
 * Output batching (src/rpc/connection.ts): what the connection sends while it handles the
 * frames of one read, and what their calls send one promise hop later, go out in one
 * write. A client that bootstraps and calls in one write (a Gate's Bootstrap and
 * authenticate) gets both replies in one.
 */
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { Test, Test_Echo$Params, Test_Echo$Results } from '../fixtures/rpc/gen/test.js';
import { FrameReader, RpcConnection } from '../../src/rpc/index.js';
import { RpcMessage, bootstrapReturn, buildFrame, pipelinedCall, readFrame } from './raw-peer.js';
import { ServerState, serveTest } from './test-impl.js';

/** The far end of a connection's stream: records each write the connection makes. */
class RecordingStream extends Duplex {
  readonly writes: Buffer[][] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writes.push([chunk]);
    cb();
  }
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.writes.push(chunks.map((c) => c.chunk));
    cb();
  }
}

test('a Bootstrap and a call on it, arriving in one read, are answered in one write', async (t) => {
  const stream = new RecordingStream();
  const state = new ServerState();
  const conn = new RpcConnection(stream, { bootstrap: () => serveTest(state), trace: null });
  t.after(() => conn.destroy());
  const bootstrap = buildFrame((m) => {
    m._initBootstrap().questionId = 0;
  });
  const call = buildFrame((m) => pipelinedCall(m, 1, Test.Client.interfaceId, 0, Test_Echo$Params, (p) => (p.text = 'one write')));
  stream.push(Buffer.concat([bootstrap, call]));
  await new Promise((r) => setImmediate(r));
  assert.equal(stream.writes.length, 1, `the replies took ${stream.writes.length} writes`);
  const reader = new FrameReader({ maxMessageBytes: 1 << 20, maxSegments: 16 });
  const frames = reader.push(Buffer.concat(stream.writes[0]!)).map(readFrame);
  assert.deepEqual(
    frames.map((m) => (m.which() === RpcMessage.RETURN ? m.return.answerId : -1)),
    [0, 1],
    'both Returns, in order',
  );
  const results = frames[1]!.return.results.content;
  assert.equal(new Test_Echo$Results(results.segment, results.byteOffset).text, 'one write');
});

/** The messages of each write `stream` recorded, by kind. */
function writtenKinds(stream: RecordingStream): string[][] {
  const names: Record<number, string> = { [RpcMessage.BOOTSTRAP]: 'bootstrap', [RpcMessage.FINISH]: 'finish', [RpcMessage.RELEASE]: 'release', [RpcMessage.CALL]: 'call' };
  return stream.writes.map((w) => {
    const reader = new FrameReader({ maxMessageBytes: 1 << 20, maxSegments: 16 });
    return reader.push(Buffer.concat(w)).map((f) => names[readFrame(f).which()] ?? `message ${readFrame(f).which()}`);
  });
}

test('a Finish asks for no write of its own: it goes out with the next message, or at the end of the turn', async (t) => {
  const stream = new RecordingStream();
  const conn = new RpcConnection(stream, { trace: null });
  t.after(() => conn.destroy());
  // The bootstrap answered with a capability: its Return wants a Finish.
  const gate = conn.bootstrap(Test);
  await new Promise((r) => setImmediate(r));
  // The Return is handled as it is pushed; a promise hop later (after the flush of what
  // the Return's handling sent), in the same turn, the client lets the capability go:
  // the Finish waited, and leaves with the Release in one write.
  stream.push(buildFrame((m) => bootstrapReturn(m, 0)));
  await Promise.resolve();
  gate.client.close();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writtenKinds(stream), [['bootstrap'], ['finish', 'release']]);

  // With nothing after it, a Finish still leaves by the end of the turn.
  const stream2 = new RecordingStream();
  const conn2 = new RpcConnection(stream2, { trace: null });
  t.after(() => conn2.destroy());
  const held = conn2.bootstrap(Test);
  t.after(() => held.client.close());
  await new Promise((r) => setImmediate(r));
  stream2.push(buildFrame((m) => bootstrapReturn(m, 0)));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writtenKinds(stream2), [['bootstrap'], ['finish']]);
});
