/**
 * A served call answered by a tail call to a local capability: the callee builds its
 * results where the served call's own results would have been built (the connection's
 * pool of messages), and the served call's unused results go back there. Before, each
 * such call built its results in a new message grown to size: a 64 KiB read through
 * Namespace.walk's File allocated and copied 64 KiB per call (BENCHMARKS.md, walkfile).
 * ctx.forward, the same call passed on, builds no params either.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from 'capnp-es';
import { connect, listen, release, serve, type CallContext } from '../../src/rpc/index.js';
import { Test, type Test$Client, type Test_Data$Params, type Test_Data$Results, type Test$Server$Target } from '../fixtures/rpc/gen/test.js';
import { fillPattern } from '../support/test-server.js';
import { until } from './harness.js';
import { ServerState, TestImpl } from './test-impl.js';

/** The back end: answers data(size) with the pattern, and notes the message it built in. */
class Back {
  readonly messages: Message[] = [];
  data(params: Test_Data$Params, results: Test_Data$Results): void {
    const out = results._initData(params.size).toUint8Array();
    fillPattern(out);
    // Each call's own bytes: a reused message must never show an earlier call's tail.
    if (params.size > 0) out[0] = params.size & 0xff;
    this.messages.push(results.segment.message);
  }
}

/** The front end: answers data() by a tail call to the back end. */
class Front {
  constructor(readonly back: Test$Client) {}
  data(params: Test_Data$Params, _results: Test_Data$Results, ctx: CallContext): Promise<void> {
    const size = params.size;
    return ctx.tailCall(this.back, (b) => b.data((p) => (p.size = size)));
  }
}

type T = { after(f: () => Promise<void> | void): void };

/** A client of `front`, served as the bootstrap Test of a listener on 127.0.0.1; all let go after the test. */
async function clientOf(t: T, front: object): Promise<Test$Client> {
  const l = await listen('127.0.0.1:0', { bootstrap: () => serve(Test, front as unknown as Test$Server$Target) });
  const conn = await connect(l.address);
  const client = conn.bootstrap(Test);
  t.after(async () => {
    release(client);
    await conn.close();
    await l.close();
  });
  return client;
}

/** data(size)'s answer from `client`: the pattern, its first byte the size (Back's). */
async function assertData(client: Test$Client, size: number): Promise<void> {
  const got = (await client.data((p) => (p.size = size)).promise()).data.toUint8Array();
  const want = new Uint8Array(size);
  fillPattern(want);
  if (size > 0) want[0] = size & 0xff;
  assert.deepEqual(got, want, `data(${size}) answered other bytes`);
}

async function serveFront(t: T): Promise<{ client: Test$Client; back: Back }> {
  const back = new Back();
  const backCap = serve(Test, back as unknown as Test$Server$Target);
  t.after(() => release(backCap));
  return { client: await clientOf(t, new Front(backCap)), back };
}

test('a tail call to a local capability builds its results in the connection pool: sequential calls reuse a few messages', async (t) => {
  const { client, back } = await serveFront(t);
  const sizes = [65536, 100, 65536, 8, 70000, 65536, 0, 65536, 4096, 65536, 65536, 3, 65536, 65536, 65536, 65536, 65536, 65536, 65536, 65536];
  for (const size of sizes) await assertData(client, size);
  assert.equal(back.messages.length, sizes.length);
  // One message per call before: 20 distinct. With the pool, the served call's unused
  // results and the callee's are taken and given back call after call.
  const distinct = new Set(back.messages).size;
  assert.ok(distinct <= 3, `${distinct} distinct results messages for ${sizes.length} sequential calls`);
});

test("a served call's own results, unused after a tail call, release what the method put in them", async (t) => {
  const state = new ServerState();
  const back = serve(Test, new TestImpl(state));
  // Served as a Test; told when its last reference goes.
  const extra = { closed: false, close(): void { this.closed = true; } };
  const front = {
    getTest(_p: unknown, results: { test: Test$Client }, ctx: CallContext): Promise<void> {
      // A capability put in the results before answering by a tail call: nobody gets it.
      results.test = serve(Test, extra as unknown as Test$Server$Target);
      return ctx.tailCall(back, (b) => b.getTest());
    },
  };
  const l = await listen('127.0.0.1:0', { bootstrap: () => serve(Test, front as unknown as Test$Server$Target) });
  const conn = await connect(l.address);
  t.after(async () => {
    await conn.close();
    await l.close();
  });
  const client = conn.bootstrap(Test);
  const r = await client.getTest().promise();
  // The answer is the back end's Test, which answers as a Test does.
  const d = await r.test.data((q) => (q.size = 7)).promise();
  assert.equal(d.data.length, 7);
  release(r.test);
  release(client);
  release(back);
  await until(() => extra.closed, 'the capability in the unused results released');
});

test('a method that fails after its tail call is answered by the tail call, and what it put in its results is released', async (t) => {
  const state = new ServerState();
  const back = serve(Test, new TestImpl(state));
  const extra = { closed: false, close(): void { this.closed = true; } };
  const front = {
    async getTest(_p: unknown, results: { test: Test$Client }, ctx: CallContext): Promise<void> {
      results.test = serve(Test, extra as unknown as Test$Server$Target);
      await ctx.tailCall(back, (b) => b.getTest());
      // The call's answer is the tail call's already: this failure reaches nobody.
      throw new Error('failed after the tail call');
    },
  };
  const l = await listen('127.0.0.1:0', { bootstrap: () => serve(Test, front as unknown as Test$Server$Target) });
  const conn = await connect(l.address);
  t.after(async () => {
    await conn.close();
    await l.close();
  });
  const client = conn.bootstrap(Test);
  const r = await client.getTest().promise();
  const d = await r.test.data((q) => (q.size = 5)).promise();
  assert.equal(d.data.length, 5, "the tail call's Test answered");
  release(r.test);
  release(client);
  release(back);
  await until(() => extra.closed, 'the capability in the unused results released');
});

/** Answers data() by passing the call on as it is (ctx.forward), noting the params message it was given. */
class Forwarder {
  readonly params: Message[] = [];
  constructor(readonly back: Test$Client) {}
  data(params: Test_Data$Params, _results: Test_Data$Results, ctx: CallContext): Promise<void> {
    this.params.push(params.segment.message);
    return ctx.forward(this.back);
  }
}

/** As Back, noting the params message each call was read from. */
class ParamsBack extends Back {
  readonly params: Message[] = [];
  override data(params: Test_Data$Params, results: Test_Data$Results): void {
    this.params.push(params.segment.message);
    super.data(params, results);
  }
}

async function serveForwarder(t: T, back: Test$Client): Promise<{ client: Test$Client; front: Forwarder }> {
  const front = new Forwarder(back);
  return { client: await clientOf(t, front), front };
}

test('ctx.forward passes the call on as it is: a local target reads the caller\'s own params, and answers the caller', async (t) => {
  const back = new ParamsBack();
  const backCap = serve(Test, back as unknown as Test$Server$Target);
  t.after(() => release(backCap));
  const { client, front } = await serveForwarder(t, backCap);
  for (const size of [65536, 7, 0, 65536]) await assertData(client, size);
  assert.equal(back.params.length, 4);
  // No params of the forwarder's making: the back end read the very message the call arrived in.
  back.params.forEach((m, i) => assert.equal(m, front.params[i], `call ${i}: the target read params of another message`));
});

test('ctx.forward to a capability on another connection sends the caller\'s params, and its results answer the caller', async (t) => {
  const back = new ParamsBack();
  const { client } = await serveForwarder(t, await clientOf(t, back));
  for (const size of [65536, 100, 65536]) await assertData(client, size);
  assert.equal(back.params.length, 3);
});

test('ctx.forward answers a call once: a tail call after it, or a second forward, throws', async (t) => {
  const backCap = serve(Test, new Back() as unknown as Test$Server$Target);
  t.after(() => release(backCap));
  const errors: string[] = [];
  const front = {
    data(_p: Test_Data$Params, _r: Test_Data$Results, ctx: CallContext): Promise<void> {
      const answered = ctx.forward(backCap);
      for (const again of [() => ctx.forward(backCap), () => ctx.tailCall(backCap, (b) => b.data((p) => (p.size = 1)))]) {
        try {
          void again();
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
      return answered;
    },
  };
  await assertData(await clientOf(t, front), 5);
  assert.equal(errors.length, 2, 'both second answers refused');
  assert.match(errors[0]!, /answered by a tail call already/);
  assert.match(errors[1]!, /answered by a tail call already/);
});
