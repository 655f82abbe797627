/**
 * Our implementation of test.capnp's Test/Counter (shared by the RPC tests, the fuzzer,
 * and usable by interop tests and benchmarks): each method exercises one protocol
 * feature, as the schema's comments say.
 */
import type { Struct } from 'capnp-es';
import {
  Base,
  type Base$Server$Target,
  Counter,
  type Counter$Client,
  type Counter$Server$Target,
  ErrorType,
  Test,
  type Test$Server$Target,
} from '../fixtures/rpc/gen/test.js';
import type * as T from '../fixtures/rpc/gen/test.js';
import { type CallContext, RpcError, type RpcErrorType, release, retain, serve } from '../../src/rpc/index.js';

/** Shared counters of one server (per test): live Counters, cancelled waits. */
export class ServerState {
  liveCounters = 0;
  cancelled = 0;
  held: Counter$Client[] = [];
}

export class CounterImpl implements Counter$Server$Target {
  #value: bigint;
  #disposed = false;
  constructor(
    readonly state: ServerState,
    start: bigint,
  ) {
    this.#value = start;
    state.liveCounters++;
  }
  async increment(p: T.Counter_Increment$Params, r: T.Counter_Increment$Results): Promise<void> {
    this.#value += p.by;
    r.value = this.#value;
  }
  async get(_p: T.Counter_Get$Params, r: T.Counter_Get$Results): Promise<void> {
    r.value = this.#value;
  }
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.state.liveCounters--;
  }
}

/** A new Counter capability (owned by the caller). */
export function newCounter(state: ServerState, start: bigint): Counter$Client {
  return serve(Counter, new CounterImpl(state, start));
}

const TYPES: RpcErrorType[] = ['failed', 'overloaded', 'disconnected', 'unimplemented'];

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

export class TestImpl implements Test$Server$Target, Base$Server$Target {
  constructor(readonly state: ServerState) {}

  async ping(p: T.Base_Ping$Params, r: T.Base_Ping$Results): Promise<void> {
    r.n = p.n;
  }
  async echo(p: T.Test_Echo$Params, r: T.Test_Echo$Results): Promise<void> {
    r.text = p.text;
  }
  async add(p: T.Test_Add$Params, r: T.Test_Add$Results): Promise<void> {
    r.sum = p.a + p.b;
  }
  async newCounter(p: T.Test_NewCounter$Params, r: T.Test_NewCounter$Results): Promise<void> {
    r.counter = newCounter(this.state, p.start);
  }
  async callBack(p: T.Test_CallBack$Params, r: T.Test_CallBack$Results): Promise<void> {
    const res = await p.cb.call((q) => {
      q.value = p.value;
    }).promise();
    r.result = res.result;
  }
  async hold(p: T.Test_Hold$Params): Promise<void> {
    // Params are released when the call returns: keep our own reference.
    this.state.held.push(retain(p.cap));
  }
  async dropHeld(_p: T.Test_DropHeld$Params, r: T.Test_DropHeld$Results): Promise<void> {
    r.count = this.state.held.length;
    for (const c of this.state.held) release(c);
    this.state.held = [];
  }
  async fail(p: T.Test_Fail$Params): Promise<void> {
    throw new RpcError(TYPES[p.type] ?? 'failed', p.message);
  }
  async slowCounter(p: T.Test_SlowCounter$Params, r: T.Test_SlowCounter$Results, ctx?: CallContext): Promise<void> {
    await sleep(p.ms, ctx?.signal);
    r.counter = newCounter(this.state, p.start);
  }
  async echoCap(p: T.Test_EchoCap$Params, r: T.Test_EchoCap$Results): Promise<void> {
    r.cap = p.cap;
  }
  async tailEcho(p: T.Test_TailEcho$Params, r: T.Test_TailEcho$Results, ctx?: CallContext): Promise<void> {
    const text = p.text;
    if (ctx !== undefined) {
      // A real tail call: the caller gets target.echo's results straight from target.
      return ctx.tailCall(p.target, (t) => t.echo((q) => { q.text = text; }));
    }
    const res = await p.target.echo((q) => { q.text = text; }).promise();
    r.text = res.text;
  }
  async data(p: T.Test_Data$Params, r: T.Test_Data$Results): Promise<void> {
    // A test server still guards its own allocations against hostile sizes (fuzzing).
    if (p.size > 64 * 1024 * 1024) throw new RpcError('failed', 'size too large');
    const d = r._initData(p.size);
    const u = d.toUint8Array();
    for (let i = 0; i < u.length; i++) u[i] = i & 0xff;
  }
  async sum(p: T.Test_Sum$Params, r: T.Test_Sum$Results): Promise<void> {
    const u = p.data.toUint8Array();
    let c = 0;
    for (let i = 0; i < u.length; i++) c = (c + u[i]!) >>> 0;
    r.size = u.length;
    r.checksum = c;
  }
  async liveObjects(_p: T.Test_LiveObjects$Params, r: T.Test_LiveObjects$Results): Promise<void> {
    r.count = this.state.liveCounters;
  }
  async wait(p: T.Test_Wait$Params, _r: T.Test_Wait$Results, ctx?: CallContext): Promise<void> {
    try {
      await sleep(p.ms, ctx?.signal);
    } catch (e) {
      this.state.cancelled++;
      throw e;
    }
  }
  async cancelled(_p: T.Test_Cancelled$Params, r: T.Test_Cancelled$Results): Promise<void> {
    r.count = this.state.cancelled;
  }
  async getEvolving(_p: T.Test_GetEvolving$Params, r: T.Test_GetEvolving$Results): Promise<void> {
    const v = r._initValue();
    v.a = 1;
    v.b = 'one';
    v.c = 3n;
    v.d = 'three';
  }
  async describeEvolving(p: T.Test_DescribeEvolving$Params, r: T.Test_DescribeEvolving$Results): Promise<void> {
    const v = p.value;
    r.text = `a=${v.a} b=${v.b} c=${v.c} d=${v.d}`;
  }
  async getTest(_p: T.Test_GetTest$Params, r: T.Test_GetTest$Results): Promise<void> {
    r.test = serveTest(this.state);
  }
}

/** A Test capability over `state` (Base methods included). */
export function serveTest(state: ServerState): T.Test$Client & Disposable {
  return serve(Test, new TestImpl(state), { extends: [Base] });
}

export type { Struct };
export { ErrorType };
