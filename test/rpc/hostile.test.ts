import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { Counter, Test, Test_DescribeEvolving$Params, Test_Echo$Params } from '../fixtures/rpc/gen/test.js';
import net from 'node:net';
import { FrameReader, connect, release, serve } from '../../src/rpc/index.js';
import { setup, until } from './harness.js';
import { RawPeer, RpcMessage, bootstrapReturn, buildFrame, fakeServer, readFrame } from './raw-peer.js';
import { CounterImpl, ServerState, serveTest } from './test-impl.js';

const TEST_ID = Test.Client.interfaceId;

/** Bootstrap q=0 and wait for its Return (export 0 = the bootstrap Test). */
async function bootstrapped(addr: string): Promise<RawPeer> {
  const p = await RawPeer.connect(addr);
  p.sendMsg((m) => { m._initBootstrap().questionId = 0; });
  const r = await p.next();
  assert.equal(r?.which(), RpcMessage.RETURN);
  return p;
}

function echoCall(m: RpcMessage, qid: number, text: string, target: { importedCap?: number; answer?: number } = { importedCap: 0 }): void {
  const c = m._initCall();
  c.questionId = qid;
  c.interfaceId = TEST_ID;
  c.methodId = 0;
  const t = c._initTarget();
  if (target.answer !== undefined) t._initPromisedAnswer().questionId = target.answer;
  else t.importedCap = target.importedCap ?? 0;
  const content = c._initParams().content;
  $.utils.initStruct(Test_Echo$Params._capnp.size, content);
  new Test_Echo$Params(content.segment, content.byteOffset).text = text;
}

async function stillServes(addr: string): Promise<void> {
  const c = await connect(addr);
  const t = c.bootstrap(Test);
  assert.equal((await t.echo((p) => { p.text = 'alive'; }).promise()).text, 'alive');
  release(t);
  await c.close();
}

function u32s(...xs: number[]): Uint8Array {
  const b = new Uint8Array(xs.length * 4);
  const dv = new DataView(b.buffer);
  xs.forEach((x, i) => dv.setUint32(i * 4, x, true));
  return b;
}

test('hostile: a frame claiming 2^28 segments is refused before allocating (Abort, close), server stays up', async (t) => {
  const s = await setup(t);
  const p = await RawPeer.connect(s.listener.address);
  p.send(u32s(0x0fffffff, 1));
  const msgs = await p.drain();
  assert.equal(msgs[0]?.which(), RpcMessage.ABORT);
  assert.match(msgs[0].abort.reason, /segments/);
  assert.ok(p.closed);
  await stillServes(s.listener.address);
});

test('hostile: a frame claiming a 4 GiB segment is refused by maxMessageBytes', async (t) => {
  const s = await setup(t);
  const p = await RawPeer.connect(s.listener.address);
  p.send(u32s(0, 0x1fffffff));
  const msgs = await p.drain();
  assert.equal(msgs[0]?.which(), RpcMessage.ABORT);
  assert.ok(p.closed);
  await stillServes(s.listener.address);
});

test('hostile: pointers out of bounds abort the connection, never crash', async (t) => {
  const s = await setup(t);
  const p = await RawPeer.connect(s.listener.address);
  // One segment of 2 words: root pointer to a struct far past the end.
  p.send(new Uint8Array([...u32s(0, 2), ...u32s(0x7fff0 << 2, 0x00010001), ...u32s(0, 0)]));
  const msgs = await p.drain();
  assert.equal(msgs[0]?.which(), RpcMessage.ABORT);
  await stillServes(s.listener.address);
});

test('hostile: an unknown message type gets Unimplemented echoing it; the connection stays', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  // Message union tag 40 (no such variant).
  p.send(new Uint8Array([...u32s(0, 2), ...u32s(0, 0x00000001), ...u32s(40, 0)]));
  const r = await p.next();
  assert.equal(r?.which(), RpcMessage.UNIMPLEMENTED);
  p.sendMsg((m) => echoCall(m, 1, 'after'));
  const ret = await p.next();
  assert.equal(ret?.which(), RpcMessage.RETURN);
  p.close();
});

test('hostile: Level 3 messages (Provide, Accept, Join) get Unimplemented', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  p.sendMsg((m) => { m._initProvide().questionId = 5; });
  p.sendMsg((m) => { m._initAccept().questionId = 6; });
  p.sendMsg((m) => { m._initJoin().questionId = 7; });
  for (let i = 0; i < 3; i++) assert.equal((await p.next())?.which(), RpcMessage.UNIMPLEMENTED);
  p.close();
});

test('hostile: a call pipelined on an unknown question gets an exception Return, the connection stays', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  p.sendMsg((m) => echoCall(m, 2, 'y', { answer: 77 }));
  const r2 = await p.next();
  assert.match(r2!.return.exception.reason, /unknown question/);
  p.sendMsg((m) => echoCall(m, 3, 'after'));
  assert.equal((await p.next())?.return.which(), 0, 'results');
  p.close();
});

test('hostile: Return for an unknown question aborts', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  p.sendMsg((m) => { m._initReturn().answerId = 4242; });
  const msgs = await p.drain();
  assert.equal(msgs[0]?.which(), RpcMessage.ABORT);
  assert.match(msgs[0].abort.reason, /unknown question/);
  await stillServes(s.listener.address);
});

test('a Finish for an unknown answer is ignored (rpc.capnp: a Finish after Return.noFinishNeeded is legal; C++ ignores them too)', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  p.sendMsg((m) => { m._initFinish().questionId = 99; });
  p.sendMsg((m) => echoCall(m, 1, 'after the stray Finish'));
  const r = await p.next();
  assert.equal(r?.which(), RpcMessage.RETURN);
  assert.equal(r.return.which(), 0, 'results');
  assert.ok(r.return.noFinishNeeded, 'results without capabilities need no Finish');
  // A Finish anyway (as a C++ 0.9 peer sends) is ignored too.
  p.sendMsg((m) => { m._initFinish().questionId = 1; });
  p.sendMsg((m) => echoCall(m, 1, 'id reused'));
  assert.equal((await p.next())?.return.which(), 0);
  p.close();
  await stillServes(s.listener.address);
  await until(() => s.state.liveCounters === 0, 'nothing leaked');
});

test('hostile: a duplicate question id aborts; Release of an unknown export aborts', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  p.sendMsg((m) => { m._initBootstrap().questionId = 0; });
  assert.equal((await p.drain())[0]?.which(), RpcMessage.ABORT);
  const p2 = await bootstrapped(s.listener.address);
  p2.sendMsg((m) => { const r = m._initRelease(); r.id = 55; r.referenceCount = 1; });
  assert.equal((await p2.drain())[0]?.which(), RpcMessage.ABORT);
  await stillServes(s.listener.address);
});

test('tail call from a peer: sendResultsTo.yourself answers resultsSentElsewhere', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  p.sendMsg((m) => {
    echoCall(m, 1, 'tail');
    m.call.sendResultsTo.yourself = true;
  });
  const r = await p.next();
  assert.equal(r?.which(), RpcMessage.RETURN);
  assert.equal(r.return.which(), 3, 'resultsSentElsewhere');
  // A call pipelined on the kept answer still reaches its results (none here: an error,
  // but a Return, not a hang).
  p.sendMsg((m) => { m._initFinish().questionId = 1; });
  p.sendMsg((m) => { m._initFinish().questionId = 0; });
  const rawSide = (): ReturnType<typeof s.serverConn> | undefined => [...s.listener.connections].find((c) => c !== s.serverConn());
  await until(() => rawSide()?.stats().answers === 0, 'both answers dropped after Finish');
  p.close();
});

test('tail call to a peer: Return.takeFromOtherQuestion resolves our question with the answer we kept', async (t) => {
  const state = new ServerState();
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const rawDone = new Promise<string>((resolve) => {
    server.on('connection', (sock) => {
      const reader = new FrameReader({ maxMessageBytes: 1 << 20, maxSegments: 16 });
      const send = (build: (m: RpcMessage) => void): void => void sock.write(buildFrame(build));
      sock.on('data', (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          const m = readFrame(f);
          if (m.which() === RpcMessage.BOOTSTRAP) {
            // Our bootstrap: the client's own Test is what we will tail-call into.
            send((o) => {
              const r = o._initReturn();
              r.answerId = m.bootstrap.questionId;
              const pl = r._initResults();
              pl._initCapTable(1).get(0).senderHosted = 0;
              $.utils.setInterfacePointer(0, pl.content);
            });
            send((o) => { o._initBootstrap().questionId = 0; });
          } else if (m.which() === RpcMessage.CALL) {
            // The client's call: answer it by a tail call into the client itself.
            const theirQ = m.call.questionId;
            send((o) => {
              echoCall(o, 1, 'via tail call');
              o.call.sendResultsTo.yourself = true;
            });
            send((o) => {
              const r = o._initReturn();
              r.answerId = theirQ;
              r.takeFromOtherQuestion = 1;
            });
          } else if (m.which() === RpcMessage.RETURN && m.return.answerId === 1) {
            resolve(m.return.which() === 3 ? 'resultsSentElsewhere' : `variant ${m.return.which()}`);
            send((o) => { o._initFinish().questionId = 1; });
          }
        }
      });
      sock.on('error', () => {});
    });
  });
  const conn = await connect(`127.0.0.1:${port}`, { bootstrap: () => serveTest(state) });
  const remote = conn.bootstrap(Test);
  const r = await remote.echo((p) => { p.text = 'ignored'; }).promise();
  assert.equal(r.text, 'via tail call');
  assert.equal(await rawDone, 'resultsSentElsewhere');
  release(remote);
  conn.destroy();
});

test('Abort from the peer closes the connection and releases what it held', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  p.sendMsg((m) => { const c = m._initCall(); c.questionId = 1; c.interfaceId = TEST_ID; c.methodId = 2; c._initTarget().importedCap = 0; const content = c._initParams().content; $.utils.initStruct(new $.ObjectSize(8, 0), content); });
  const r = await p.next();
  assert.equal(r?.which(), RpcMessage.RETURN);
  await until(() => s.state.liveCounters === 1, 'a counter exported to the raw peer');
  p.sendMsg((m) => { m._initAbort().reason = 'bye'; });
  await p.closedPromise;
  await until(() => s.state.liveCounters === 0, 'exports released on abort');
});

/**
 * A raw server that bootstraps to export 0 and answers every Call with an empty Return
 * whose releaseParamCaps is `release`; it records the Release messages it gets.
 */
async function rawReturningServer(release: boolean): Promise<{ address: string; close: () => Promise<void> }> {
  return fakeServer((m, sock) => {
    if (m.which() === RpcMessage.BOOTSTRAP) {
      sock.write(buildFrame((o) => bootstrapReturn(o, m.bootstrap.questionId)));
    } else if (m.which() === RpcMessage.CALL) {
      sock.write(
        buildFrame((o) => {
          const r = o._initReturn();
          r.answerId = m.call.questionId;
          r.releaseParamCaps = release;
          $.utils.initStruct(new $.ObjectSize(0, 0), r._initResults().content);
        }),
      );
    }
  });
}

test('releaseParamCaps=true on a Return releases the capabilities we sent in the params', async (t) => {
  const raw = await rawReturningServer(true);
  t.after(raw.close);
  const local = new ServerState();
  const conn = await connect(raw.address);
  t.after(() => conn.destroy());
  const remote = conn.bootstrap(Test);
  const c = serve(Counter, new CounterImpl(local, 0n));
  await remote.hold((p) => { p.cap = c; }).promise();
  assert.equal(conn.stats().exports, 0, 'the Return released our export');
  release(c);
  assert.equal(local.liveCounters, 0);
  release(remote);
});

test('releaseParamCaps=false keeps the exported params capability until the peer releases it', async (t) => {
  const raw = await rawReturningServer(false);
  t.after(raw.close);
  const local = new ServerState();
  const conn = await connect(raw.address);
  t.after(() => conn.destroy());
  const remote = conn.bootstrap(Test);
  const c = serve(Counter, new CounterImpl(local, 0n));
  await remote.hold((p) => { p.cap = c; }).promise();
  assert.equal(conn.stats().exports, 1, 'still exported: the peer may hold it');
  release(c);
  assert.equal(local.liveCounters, 1, 'kept alive by the export');
  conn.destroy();
  assert.equal(local.liveCounters, 0, 'released at disconnect');
  release(remote);
});

test('hostile: a list of 2^29-1 zero-sized elements in params costs a traversal-limit exception, not the heap (capnp-es patch)', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  p.sendMsg((m) => {
    const c = m._initCall();
    c.questionId = 1;
    c.interfaceId = TEST_ID;
    c.methodId = 16; // describeEvolving(value :Evolving): the server spreads value.e
    c._initTarget().importedCap = 0;
    const content = c._initParams().content;
    $.utils.initStruct(Test_DescribeEvolving$Params._capnp.size, content);
    const ev = new Test_DescribeEvolving$Params(content.segment, content.byteOffset)._initValue();
    // ev.e (pointer 2): a composite list whose tag claims 2^29-1 elements of no size.
    const seg = ev.segment;
    const at = $.utils.getPointerSection(ev).byteOffset + 2 * 8;
    const tag = seg.allocate(8);
    seg.setUint32(at, 1 | (((tag.byteOffset - at - 8) / 8) << 2));
    seg.setUint32(at + 4, 7);
    seg.setUint32(tag.byteOffset, ((2 ** 29 - 1) << 2) >>> 0);
    seg.setUint32(tag.byteOffset + 4, 0);
  });
  const r = await p.next(10_000);
  assert.equal(r?.which(), RpcMessage.RETURN);
  assert.equal(r.return.which(), 1, 'an exception');
  assert.match(r.return.exception.reason, /amplified or oversized list/);
  p.sendMsg((m) => { m._initFinish().questionId = 1; });
  p.sendMsg((m) => echoCall(m, 2, 'still here'));
  assert.equal((await p.next())?.which(), RpcMessage.RETURN);
  p.close();
  await stillServes(s.listener.address);
});

test('schema evolution: results from an older callee (a smaller struct) read absent fields as defaults', async (t) => {
  const raw = await rawReturningServer(false); // answers every call with an empty struct
  t.after(raw.close);
  const conn = await connect(raw.address);
  t.after(() => conn.destroy());
  const remote = conn.bootstrap(Test);
  const r = await remote.add((p) => { p.a = 1n; p.b = 2n; }).promise();
  assert.equal(r.sum, 0n);
  const e = await remote.echo((p) => { p.text = 'x'; }).promise();
  assert.equal(e.text, '');
  release(remote);
});

test('schema evolution: a served method reads the params of an older caller (a smaller struct, or none) as defaults', async (t) => {
  const s = await setup(t);
  const p = await bootstrapped(s.listener.address);
  const add = (qid: number, data: number, ptrs: number): void =>
    p.sendMsg((m) => {
      const c = m._initCall();
      c.questionId = qid;
      c.interfaceId = TEST_ID;
      c.methodId = 1; // add(a :Int64, b :Int64) -> (sum :Int64)
      c._initTarget().importedCap = 0;
      const content = c._initParams().content;
      if (data >= 0) {
        $.utils.initStruct(new $.ObjectSize(data, ptrs), content);
        if (data >= 8) new DataView(content.segment.buffer).setBigInt64($.utils.getContent(content).byteOffset, 40n, true);
      }
    });
  add(1, 8, 0); // only `a` (as an older schema with one field would write it)
  add(2, 0, 0); // an empty struct
  add(3, -1, 0); // no params at all (a null pointer)
  const sums = new Map<number, bigint>();
  for (let i = 0; i < 3; i++) {
    const r = (await p.next())!;
    assert.equal(r.return.which(), 0, r.return.which() === 1 ? r.return.exception.reason : '');
    const content = r.return.results.content;
    sums.set(r.return.answerId, new DataView(content.segment.buffer).getBigInt64($.utils.getContent(content).byteOffset, true));
  }
  assert.deepEqual([sums.get(1), sums.get(2), sums.get(3)], [40n, 0n, 0n]);
  p.close();
});
