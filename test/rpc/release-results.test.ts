/**
 * releaseResults: received results give their memory back for the next results of the
 * same size; released results cannot be read any more; giving them back twice never
 * makes two messages share memory.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Message, type Struct } from 'capnp-es';
import { releaseResults, serve } from '../../src/rpc/index.js';
import { Test, Test_Data$Results } from '../fixtures/rpc/gen/test.js';
import { checksum, fillPattern } from '../support/test-server.js';
import { setup } from './harness.js';
import { ServerState, TestImpl } from './test-impl.js';

function pattern(size: number): Uint8Array {
  const out = new Uint8Array(size);
  fillPattern(out);
  return out;
}

/** The memory of each segment of a received message. */
function buffers(r: Struct): ArrayBuffer[] {
  return [...(r.segment.message._capnp.arena as unknown as { buffers: ArrayBuffer[] }).buffers];
}

test('released results lend their memory to the next results of that size, and cannot be read after', async (t) => {
  const s = await setup(t);
  const size = 65536;
  const r1 = await s.test.data((p) => { p.size = size; }).promise();
  assert.equal(checksum(r1.data.toUint8Array()), checksum(pattern(size)));
  const big1 = buffers(r1).find((b) => b.byteLength >= size)!;
  releaseResults(r1);
  assert.throws(() => r1.data.length, 'released results were still readable');
  const r2 = await s.test.data((p) => { p.size = size; }).promise();
  assert.ok(buffers(r2).includes(big1), 'the next results did not reuse the released memory');
  assert.equal(checksum(r2.data.toUint8Array()), checksum(pattern(size)));
  releaseResults(r2);
});

test('results released twice are pooled once: two later results never share memory', async (t) => {
  const s = await setup(t);
  const size = 65536;
  const r1 = await s.test.data((p) => { p.size = size; }).promise();
  releaseResults(r1);
  releaseResults(r1);
  const [a, b] = await Promise.all([0, 1].map(() => s.test.data((p) => { p.size = size; }).promise()));
  const shared = buffers(a!).filter((x) => x.byteLength > 0 && buffers(b!).includes(x));
  assert.deepEqual(shared, [], 'two live results were given the same memory');
  assert.equal(checksum(a!.data.toUint8Array()), checksum(pattern(size)));
  assert.equal(checksum(b!.data.toUint8Array()), checksum(pattern(size)));
});

test('a message made by hand is never pooled: later frames do not land in its memory', async (t) => {
  const s = await setup(t);
  // A framed message of two segments of 65552 bytes each, the size of data(65536)'s
  // content segment; capnp-es reads it into a multi-segment arena, as our frames are.
  const seg = 65552;
  const bytes = new Uint8Array(16 + 2 * seg);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, 1, true);
  dv.setUint32(4, seg / 8, true);
  dv.setUint32(8, seg / 8, true);
  const root = new Message(bytes.buffer, false).getRoot(Test_Data$Results);
  const hand = buffers(root);
  assert.ok(hand.some((b) => b.byteLength === seg));
  releaseResults(root);
  const got = await Promise.all([0, 1, 2].map(() => s.test.data((p) => { p.size = 65536; }).promise()));
  for (const r of got) for (const b of buffers(r)) assert.ok(!hand.includes(b), 'a frame was read into memory the caller made');
});

test('results of a local call are left alone', async () => {
  const state = new ServerState();
  using local = serve(Test, new TestImpl(state));
  const r = await local.data((p) => { p.size = 100; }).promise();
  releaseResults(r);
  assert.equal(r.data.length, 100);
});
