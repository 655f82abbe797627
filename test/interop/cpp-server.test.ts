// Interop (issue 3): OUR client (src/rpc) against the Cap'n Proto 0.9.2 C++ server
// (test/interop/cpp/server.c++, and the same built from old/test.capnp), over TCP. The
// scenarios mirror the C++ client's (test/interop/cpp/client.c++). Every test ends with
// our connection's tables back to where they started (conn.stats()), and the C++
// server's object count (liveObjects) back to its baseline where objects were made.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { connect, release, RpcError, withSignal } from '../../src/rpc/index.js';
import { Base, Counter, ErrorType, Test, type Counter$Client, type Test$Client } from '../fixtures/rpc/gen/test.js';
import { Test as OldTest } from '../fixtures/rpc/old/gen/test.js';
import { buildCppPeers, startCppServer, type CppPeers, type CppServer } from '../support/cpp-build.js';
import {
  TestState,
  checksum,
  describeEvolving,
  fillEvolving,
  fillPattern,
  newCallback,
  newCounter,
  newTest,
} from '../support/test-server.js';
import { EVOLUTION, RULES, pipelinedBeforeReturn } from './scenarios.js';

type Conn = Awaited<ReturnType<typeof connect>>;

let peers: CppPeers;
let server: CppServer;
let oldServer: CppServer;

before(async () => {
  peers = await buildCppPeers();
  [server, oldServer] = await Promise.all([startCppServer(peers.server), startCppServer(peers.serverOld)]);
});

after(async () => {
  await Promise.all([server?.close(), oldServer?.close()]);
});

/** A fresh connection to `to` and its bootstrap Test; both closed after the test. */
async function session(t: TestContext, to: CppServer = server, wire?: string[]) {
  const conn = await connect(to.address, wire === undefined ? {} : { trace: (line) => wire.push(line) });
  const test = conn.bootstrap(Test);
  t.after(async () => {
    release(test);
    await conn.close();
  });
  await ping(test); // the bootstrap has resolved: stats from here on are the baseline
  return { conn, test, baseline: conn.stats() };
}

async function ping(test: Test$Client, n = 1): Promise<void> {
  const r = await new Base.Client(test.client).ping((p) => {
    p.n = n;
  }).promise();
  assert.equal(r.n, n);
}

async function liveObjects(test: Test$Client): Promise<number> {
  return (await test.liveObjects().promise()).count;
}

/** Polls `cond` every 10 ms for at most 5 s (Release and Finish are one-way messages). */
async function eventually(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await sleep(10);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Our tables are back to `baseline` (after a round trip lets the last Finish/Release through). */
async function settled(conn: Conn, test: Test$Client, baseline: ReturnType<Conn['stats']>): Promise<void> {
  await eventually('conn.stats() back to baseline', async () => {
    await ping(test);
    return JSON.stringify(conn.stats()) === JSON.stringify(baseline);
  });
  assert.deepEqual(conn.stats(), baseline);
}

async function rejectsWith(p: Promise<unknown>, type: RpcError['type'], includes?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.type, type, `exception type (message: ${err.message})`);
    if (includes !== undefined) assert.ok(err.message.includes(includes), err.message);
    return true;
  });
}

describe('our client -> C++ server (Cap\'n Proto 0.9.2), over TCP', () => {
  test(`bootstrap: ${RULES['bootstrap']}`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    await ping(main, 7);
    // A method of an interface the object does not implement: unimplemented.
    await rejectsWith(new Counter.Client(main.client).get().promise(), 'unimplemented');
    await settled(conn, main, baseline);
  });

  test(`calls: ${RULES['calls']}`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    const e = await main.echo((p) => {
      p.text = 'hello, wörld';
    }).promise();
    assert.equal(e.text, 'hello, wörld');
    const a = await main.add((p) => {
      p.a = 40n;
      p.b = 2n;
    }).promise();
    assert.equal(a.sum, 42n);
    const m = await main.add((p) => {
      p.a = -(2n ** 63n) + 1n;
      p.b = -1n;
    }).promise();
    assert.equal(m.sum, -(2n ** 63n));
    await settled(conn, main, baseline);
  });

  test(`returned-capability + release: ${RULES['returned-capability']}; ${RULES['release']}`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    const base = await liveObjects(main);
    const counters: Counter$Client[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await main.newCounter((p) => {
        p.start = 5n;
      }).promise();
      counters.push(r.counter);
    }
    const v = await counters[0]!.increment((p) => {
      p.by = 2n;
    }).promise();
    assert.equal(v.value, 7n);
    assert.equal(await liveObjects(main), base + 3);
    assert.equal(conn.stats().imports, baseline.imports + 3);
    for (const c of counters) release(c);
    await eventually('liveObjects back to baseline', async () => (await liveObjects(main)) === base);
    await settled(conn, main, baseline);
  });

  test(`pipelining: ${RULES['pipelining']}`, async (t) => {
    const wire: string[] = [];
    const { conn, test: main, baseline } = await session(t, server, wire);
    const base = await liveObjects(main);
    const answer = main.newCounter((p) => {
      p.start = 10n;
    });
    const counter = answer.getCounter();
    const r1 = counter.increment((p) => {
      p.by = 1n;
    }).promise();
    const r2 = counter.increment((p) => {
      p.by = 2n;
    }).promise();
    const r3 = counter.get().promise();
    assert.equal((await r1).value, 11n);
    assert.equal((await r2).value, 13n);
    assert.equal((await r3).value, 13n);
    assert.equal(pipelinedBeforeReturn(wire, '>', 2), 3, "calls sent on newCounter's answer before it returned");
    await answer.promise();
    release(counter); // the same reference as the results' counter
    await eventually('liveObjects back to baseline', async () => (await liveObjects(main)) === base);
    await settled(conn, main, baseline);
  });

  test(`pipelining-pending: ${RULES['pipelining-pending']}`, async (t) => {
    const wire: string[] = [];
    const { conn, test: main, baseline } = await session(t, server, wire);
    const base = await liveObjects(main);
    const answer = main.slowCounter((p) => {
      p.ms = 300;
      p.start = 3n;
    });
    const counter = answer.getCounter();
    const rs = Array.from({ length: 50 }, () =>
      counter.increment((p) => {
        p.by = 1n;
      }).promise(),
    );
    const values = (await Promise.all(rs)).map((r) => r.value);
    assert.deepEqual(values, Array.from({ length: 50 }, (_, i) => BigInt(3 + i + 1)));
    assert.equal((await counter.get().promise()).value, 53n);
    assert.equal(pipelinedBeforeReturn(wire, '>', 7), 50, "calls sent on slowCounter's answer before it returned");
    await answer.promise();
    release(counter); // the same reference as the results' counter
    await eventually('liveObjects back to baseline', async () => (await liveObjects(main)) === base);
    await settled(conn, main, baseline);
  });

  test(`callback: ${RULES['callback']}`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    const mine = new TestState();
    const cb = newCallback(mine);
    const r = await main.callBack((p) => {
      p.cb = cb;
      p.value = 'x';
    }).promise();
    assert.equal(r.result, 'cb:x');
    assert.equal(mine.callbacks, 1);
    release(cb); // params stay the caller's
    await eventually('the C++ server to release our Callback', () => mine.liveCallbacks === 0);
    await settled(conn, main, baseline);
  });

  test(`hold-release: ${RULES['hold-release']}`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    const mine = new TestState();
    const counter = newCounter(mine, 100n);
    await main.hold((p) => {
      p.cap = counter;
    }).promise();
    release(counter);
    await ping(main);
    assert.equal(mine.liveCounters, 1, 'the C++ server holds our Counter');
    assert.equal(conn.stats().exports, baseline.exports + 1);
    const d = await main.dropHeld().promise();
    assert.equal(d.count, 1);
    await eventually("the C++ server's Release of our Counter", () => mine.liveCounters === 0);
    await settled(conn, main, baseline);
  });

  test(`exceptions: ${RULES['exceptions']}`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    const types = [
      [ErrorType.FAILED, 'failed'],
      [ErrorType.OVERLOADED, 'overloaded'],
      [ErrorType.DISCONNECTED, 'disconnected'],
      [ErrorType.UNIMPLEMENTED, 'unimplemented'],
    ] as const;
    for (const [code, name] of types) {
      await rejectsWith(
        main.fail((p) => {
          p.type = code;
          p.message = `boom-${name}`;
        }).promise(),
        name,
        `boom-${name}`,
      );
      await ping(main); // the connection goes on
    }
    await settled(conn, main, baseline);
  });

  test(`embargo: ${RULES['embargo']}`, async (t) => {
    const wire: string[] = [];
    const { conn, test: main, baseline } = await session(t, server, wire);
    const mine = new TestState();
    const counter = newCounter(mine, 0n);
    const answer = main.echoCap((p) => {
      p.cap = counter;
    });
    const cap = answer.getCap(); // resolves to our own Counter, through the C++ server
    const inc = () =>
      cap.increment((p) => {
        p.by = 1n;
      }).promise();
    const rs = [inc(), inc(), inc()];
    await answer.promise(); // resolved: later calls go straight to our Counter, embargoed
    rs.push(inc(), inc(), inc());
    const values = (await Promise.all(rs)).map((r) => r.value);
    assert.deepEqual(values, [1n, 2n, 3n, 4n, 5n, 6n]);
    // We embargoed the resolved capability and lifted it with a Disembargo round trip.
    assert.ok(wire.some((l) => / > disembargo .*senderLoopback/.test(l)), 'no senderLoopback sent');
    assert.ok(wire.some((l) => / < disembargo .*receiverLoopback/.test(l)), 'no receiverLoopback received');
    release(cap); // the same reference as the results' cap
    release(counter);
    await eventually('our Counter released by every holder', () => mine.liveCounters === 0);
    await settled(conn, main, baseline);
  });

  test(`tail-call: ${RULES['tail-call']}`, async (t) => {
    const wire: string[] = [];
    const { conn, test: main, baseline } = await session(t, server, wire);
    const tail = async (target: Test$Client, text: string): Promise<void> => {
      const r = await main.tailEcho((p) => {
        p.target = target;
        p.text = text;
      }).promise();
      assert.equal(r.text, text);
    };
    // The C++ server tail-calls itself...
    await tail(main, 'tail-bootstrap');
    const other = (await main.getTest().promise()).test;
    await tail(other, 'tail-getTest');
    release(other);
    // ...and a Test of ours: its Call to us carries sendResultsTo.yourself, and its Return
    // to our tailEcho question says takeFromOtherQuestion.
    const mine = newTest(new TestState());
    await tail(mine, 'tail-ours');
    release(mine);
    assert.ok(wire.some((l) => / < call .*sendResultsTo/.test(l)), 'no Call with sendResultsTo.yourself received');
    assert.ok(wire.some((l) => / < return .*takeFromOtherQuestion/.test(l)), 'no takeFromOtherQuestion received');
    assert.ok(wire.some((l) => / > return .*resultsSentElsewhere/.test(l)), 'no resultsSentElsewhere sent');
    await settled(conn, main, baseline);
  });

  test(`payload-16mib: ${RULES['payload-16mib']}`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    const size = 16 << 20;
    const expect = new Uint8Array(size);
    fillPattern(expect);
    const d = await main.data((p) => {
      p.size = size;
    }).promise();
    const got = d.data.toUint8Array();
    assert.equal(got.length, size);
    assert.ok(Buffer.from(got.buffer, got.byteOffset, got.length).equals(expect), 'data(16 MiB) content');
    const s = await main.sum((p) => {
      p._initData(size).copyBuffer(expect);
    }).promise();
    assert.equal(s.size, size);
    assert.equal(s.checksum, checksum(expect));
    await settled(conn, main, baseline);
  });

  test(`evolution: ${RULES['evolution']} (same schema both sides)`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    const got = await main.getEvolving().promise();
    const text = await main.describeEvolving((p) => fillEvolving(p._initValue())).promise();
    assert.equal(`get{${describeEvolving(got.value)}} describe{${text.text}}`, EVOLUTION.newNew);
    await settled(conn, main, baseline);
  });

  test('evolution: our newer client reads the older C++ server\'s struct as defaults; the old server ignores newer fields', async (t) => {
    const { conn, test: main, baseline } = await session(t, oldServer);
    const got = await main.getEvolving().promise();
    const text = await main.describeEvolving((p) => fillEvolving(p._initValue())).promise();
    assert.equal(`get{${describeEvolving(got.value)}} describe{${text.text}}`, EVOLUTION.newClientOldServer);
    // A method the older server lacks is unimplemented, and the connection goes on.
    await rejectsWith(main.getTest().promise(), 'unimplemented');
    await ping(main);
    await settled(conn, main, baseline);
  });

  test('evolution: our client built from the older schema reads the newer C++ server\'s struct', async (t) => {
    const conn = await connect(server.address);
    const old = conn.bootstrap(OldTest);
    t.after(async () => {
      release(old);
      await conn.close();
    });
    const got = await old.getEvolving().promise();
    const text = await old.describeEvolving((p) => {
      p._initValue().a = 1;
      p.value.b = 'one';
    }).promise();
    assert.equal(`get{a=${got.value.a} b=${got.value.b}} describe{${text.text}}`, EVOLUTION.oldClientNewServer);
  });

  test('the C++ server dying mid-call: pending calls and calls on its capabilities fail disconnected; tables empty', async (t) => {
    const doomed = await startCppServer(peers.server);
    t.after(() => doomed.close());
    const conn = await connect(doomed.address);
    const main = conn.bootstrap(Test);
    t.after(async () => {
      release(main);
      await conn.close();
    });
    const counter = (await main.newCounter((p) => {
      p.start = 1n;
    }).promise()).counter;
    const waiting = main.wait((p) => {
      p.ms = 60_000;
    }).promise();
    await ping(main);
    doomed.process.kill('SIGKILL');
    await rejectsWith(waiting, 'disconnected');
    await rejectsWith(counter.get().promise(), 'disconnected');
    await rejectsWith(main.echo().promise(), 'disconnected');
    release(counter);
    assert.deepEqual(conn.stats(), { questions: 0, answers: 0, imports: 0, exports: 0, embargoes: 0 });
  });

  test(`cancellation: ${RULES['cancellation']}`, async (t) => {
    const { conn, test: main, baseline } = await session(t);
    const base = (await main.cancelled().promise()).count;
    const ac = new AbortController();
    const waiting = withSignal(main, ac.signal)
      .wait((p) => {
        p.ms = 60_000;
      })
      .promise();
    await ping(main); // wait() has started on the server: calls on one object run in order
    ac.abort();
    await assert.rejects(waiting, (err: unknown) => err instanceof Error && err.name === 'AbortError');
    await eventually('the C++ server to count the cancelled wait()', async () => {
      return (await main.cancelled().promise()).count === base + 1;
    });
    await settled(conn, main, baseline);
  });
});
