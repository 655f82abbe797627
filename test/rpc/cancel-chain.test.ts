/**
 * Cancellation propagates through capns (issue 17): when a caller drops a call (a Finish
 * before the Return, or its connection ends), every call made on its behalf is cancelled
 * too and a Finish goes onward. Three real processes' worth of connections, in one:
 *
 *   client --conn--> A --conn--> B
 *
 * A serves capabilities that reach B's Test through each local hop a call can take in
 * capns: a membrane (with a params check, which rebuilds the call), a forwarder (what
 * the importer uses), a tail call, and a server method calling on with
 * `withSignal(x, ctx.signal)`. B's `wait` counts the calls whose ctx.signal aborted.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Client } from 'capnp-es';
import {
  Base,
  Test,
  type Test$Client,
  type Test$Server$Target,
  type Test_Wait$Params,
  type Test_Wait$Results,
} from '../fixtures/rpc/gen/test.js';
import { forwarder, membrane, type MembranePolicy } from '../../src/rpc/membrane.js';
import {
  type CallContext,
  type RpcConnection,
  RpcError,
  connect,
  listen,
  release,
  serve,
  withSignal,
} from '../../src/rpc/index.js';
import { until } from './harness.js';
import { ServerState, TestImpl } from './test-impl.js';

/** Lets every call through, looking at its params (so the membrane builds them). */
const LOOKING: MembranePolicy = {
  check: () => undefined,
  checkParams: () => undefined,
};

/** A signal that never aborts: a view made with it must not hide the caller's. */
const NEVER = new AbortController().signal;

type RelayHop = 'withSignal' | 'tailCall' | 'tailCall of a withSignal view' | 'withSignal inside tailCall' | 'withSignal of a withSignal view';

/** On A: a Test whose wait() calls B's wait() on the caller's behalf. */
class Relay extends TestImpl implements Test$Server$Target {
  constructor(
    state: ServerState,
    readonly b: Test$Client,
    readonly how: RelayHop,
  ) {
    super(state);
  }
  override async wait(params: Test_Wait$Params, _results: Test_Wait$Results, ctx?: CallContext): Promise<void> {
    const ms = params.ms;
    const set = (p: Test_Wait$Params): void => { p.ms = ms; };
    switch (this.how) {
      case 'tailCall':
        return ctx!.tailCall(this.b, (b) => b.wait(set));
      case 'tailCall of a withSignal view':
        return ctx!.tailCall(withSignal(this.b, NEVER), (b) => b.wait(set));
      case 'withSignal inside tailCall':
        return ctx!.tailCall(this.b, (b) => withSignal(b, NEVER).wait(set));
      case 'withSignal of a withSignal view':
        await withSignal(withSignal(this.b, NEVER), ctx!.signal).wait(set).promise();
        return;
      case 'withSignal':
        await withSignal(this.b, ctx!.signal).wait(set).promise();
        return;
    }
  }
}

type Hop = 'membrane+forwarder' | RelayHop;

interface Chain {
  /** B's Test state: `cancelled` counts waits whose signal aborted. */
  stateB: ServerState;
  /** Trace lines of A's connection to B. */
  aToB: string[];
  /** The server side of B (the connection A made). */
  bConns: RpcConnection[];
  address: string;
}

async function chain(t: TestContext, hop: Hop): Promise<Chain> {
  const stateB = new ServerState();
  const bConns: RpcConnection[] = [];
  const b = await listen('127.0.0.1:0', {
    bootstrap: () => serve(Test, new TestImpl(stateB), { extends: [Base] }),
    onConnection: (c) => bConns.push(c),
  });
  const aToB: string[] = [];
  const toB = await connect(b.address, { trace: (line) => aToB.push(line) });
  const bTest = toB.bootstrap(Test);
  const a = await listen('127.0.0.1:0', {
    bootstrap: () => {
      if (hop === 'membrane+forwarder') {
        // What an import does: a stable forwarder in front of the connection's client,
        // seen through a membrane (a grant, an export's policy).
        const fwd: Client = forwarder(() => bTest.client);
        return new Test.Client(membrane(fwd, LOOKING));
      }
      return serve(Test, new Relay(new ServerState(), bTest, hop), { extends: [Base] });
    },
  });
  t.after(async () => {
    a.destroy();
    release(bTest);
    toB.destroy();
    b.destroy();
  });
  return { stateB, aToB, bConns, address: a.address };
}

/** The id of the question A sent B for wait(): the last call in A's trace. */
function waitQuestion(lines: readonly string[]): number {
  const calls = lines.filter((l) => /> call q=\d+ .*\.13$/.test(l));
  const last = calls[calls.length - 1];
  assert.ok(last !== undefined, `A called B's wait: ${lines.join(' | ')}`);
  return Number(/q=(\d+)/.exec(last)![1]);
}

const HOPS: readonly Hop[] = [
  'membrane+forwarder',
  'withSignal',
  'tailCall',
  'tailCall of a withSignal view',
  'withSignal inside tailCall',
  'withSignal of a withSignal view',
];

for (const hop of HOPS) {
  test(`cancellation through ${hop}: the client's Finish reaches B (its ctx.signal aborts) and A sends Finish`, async (t) => {
    const c = await chain(t, hop);
    const conn = await connect(c.address);
    t.after(() => conn.destroy());
    const aTest = conn.bootstrap(Test);
    const ac = new AbortController();
    const call = withSignal(aTest, ac.signal).wait((p) => { p.ms = 30_000; }).promise();
    await until(() => c.bConns[0]?.stats().answers === 1, 'B is serving the wait');
    ac.abort();
    await assert.rejects(call, (e: unknown) => e instanceof RpcError && e.name === 'AbortError');
    await until(() => c.stateB.cancelled === 1, "B's method saw its signal abort");
    const q = waitQuestion(c.aToB);
    assert.ok(c.aToB.some((l) => l.includes(`> finish q=${q} releaseResultCaps`)), `A sent Finish for q=${q}`);
    await until(() => c.bConns[0]!.stats().answers === 0, "B's answer is gone");
    release(aTest);
  });

  test(`cancellation through ${hop}: the client's disconnect reaches B too`, async (t) => {
    const c = await chain(t, hop);
    const conn = await connect(c.address);
    const aTest = conn.bootstrap(Test);
    const call = aTest.wait((p) => { p.ms = 30_000; }).promise();
    call.catch(() => {});
    await until(() => c.bConns[0]?.stats().answers === 1, 'B is serving the wait');
    conn.destroy();
    await until(() => c.stateB.cancelled === 1, "B's method saw its signal abort");
    const q = waitQuestion(c.aToB);
    assert.ok(c.aToB.some((l) => l.includes(`> finish q=${q}`)), `A sent Finish for q=${q}`);
    release(aTest);
  });
}
