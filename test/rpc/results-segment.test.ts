/**
 * Results that arrive as a segment of their own (how we send content over 16 KiB, e.g. a
 * 64 KiB read): Payload.content is then a far pointer into segment 1. The connection reads
 * such results at the far pointer's landing pad; these tests pin down that every way of
 * reaching them reads the same, older callees' smaller structs included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Test, Test_Add$Results } from '../fixtures/rpc/gen/test.js';
import { connect, encodeFrame, release, releaseResults } from '../../src/rpc/index.js';
import { Envelope } from '../../src/rpc/wire.js';
import { RpcMessage, bootstrapReturn, buildFrame, fakeServer } from './raw-peer.js';

type Layout = 'single-far' | 'double-far';

/**
 * A server answering Bootstrap with a capability and every call with results of
 * `dataWords` data words holding `value` in the first, sent as segment 1 of the frame
 * (single far pointer to a landing pad at its word 0) or behind a double far pointer
 * (landing pad in segment 2).
 */
async function segmentResultsServer(layout: Layout, dataWords: number, value: bigint): Promise<{ address: string; close: () => Promise<void> }> {
  return fakeServer((m, sock) => {
    if (m.which() === RpcMessage.BOOTSTRAP) {
      sock.write(buildFrame((o) => bootstrapReturn(o, m.bootstrap.questionId)));
    } else if (m.which() === RpcMessage.CALL) {
      const env = new Envelope();
      env.returnResults(m.call.questionId, true, []);
      const ptr = env.contentPtr;
      const body = new Uint8Array(8 * (1 + dataWords));
      const bdv = new DataView(body.buffer);
      if (layout === 'single-far') {
        // Word 0: the struct pointer (offset 0, right after it), as our sender writes it.
        bdv.setUint32(4, dataWords, true);
        if (dataWords > 0) bdv.setBigUint64(8, value, true);
        sock.write(encodeFrame([env.bytes().slice(), body]));
      } else {
        // Segment 1 holds the struct's data alone; segment 2 the double-far landing pad:
        // a far pointer to segment 1 word 0, then the tag (a struct pointer of offset 0).
        const data = body.subarray(8);
        if (dataWords > 0) new DataView(data.buffer, data.byteOffset).setBigUint64(0, value, true);
        const pad = new Uint8Array(16);
        const pdv = new DataView(pad.buffer);
        pdv.setUint32(0, 2, true);
        pdv.setUint32(4, 1, true);
        pdv.setUint32(12, dataWords, true);
        env.dv.setUint32(ptr * 8, 6, true); // double far, landing pad at word 0
        env.dv.setUint32(ptr * 8 + 4, 2, true); // of segment 2
        sock.write(encodeFrame([env.bytes().slice(), data.length > 0 ? data : new Uint8Array(8), pad]));
      }
    }
  });
}

for (const layout of ['single-far', 'double-far'] as const) {
  test(`results in a segment of their own (${layout}) read their fields, and an older callee's smaller struct reads as defaults`, async (t) => {
    const full = await segmentResultsServer(layout, 1, 42n);
    const old = await segmentResultsServer(layout, 0, 0n);
    t.after(full.close);
    t.after(old.close);
    for (const [srv, want] of [
      [full, 42n],
      [old, 0n],
    ] as const) {
      const conn = await connect(srv.address);
      t.after(() => conn.destroy());
      const remote = conn.bootstrap(Test);
      for (let i = 0; i < 3; i++) {
        const r = await remote.add((p) => { p.a = 1n; p.b = 2n; }).promise();
        assert.equal(r.sum, want);
        releaseResults(r);
      }
      release(remote);
    }
  });
}

test('a call\'s promise() resolves to its results class, a new object each time it is awaited, over the same results', async (t) => {
  const srv = await segmentResultsServer('single-far', 1, 7n);
  t.after(srv.close);
  const conn = await connect(srv.address);
  t.after(() => conn.destroy());
  const remote = conn.bootstrap(Test);
  const p = remote.add((x) => { x.a = 1n; x.b = 2n; });
  const [a, b] = await Promise.all([p.promise(), p.promise()]);
  const c = await p.promise();
  assert.ok(a instanceof Test_Add$Results && b instanceof Test_Add$Results && c instanceof Test_Add$Results);
  assert.notEqual(a, b);
  assert.notEqual(a, c);
  assert.deepEqual([a.sum, b.sum, c.sum], [7n, 7n, 7n]);
  assert.equal(a.segment, c.segment);
  release(remote);
});
