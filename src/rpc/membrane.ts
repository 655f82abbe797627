/**
 * Membranes: a wrapper around a capability that every call goes through, and that wraps
 * every capability coming back out of those calls in the same membrane (capnp
 * `membrane.h`). Revoking the membrane's policy therefore severs the capability and
 * everything derived from it — the Files walked from a FileServer, the Namespace forked
 * from a Namespace — at once, with no cooperation from the object behind it.
 *
 * Used by the capability table (grants that can be revoked live) and by the exporter
 * (one membrane per importing peer: read-only and filter rules apply all the way down).
 *
 * Capabilities going the other way (passed in params by the caller) are not wrapped: the
 * policy guards what the holder can reach, not what the object behind may call back.
 */
import type { Call, Client, Struct } from 'capnp-es';
import { BrokenAnswer, CapHandle, RefHook, type Answer, type PipelineOp } from './cap.js';
import { RpcError } from './failure.js';

/** What a membrane asks before each call through it. */
export interface MembranePolicy {
  /**
   * Called before each call (direct or pipelined) through the membrane, with the
   * interface and method called. Return an RpcError to fail the call with it instead of
   * delivering it; undefined lets it through. Must not throw.
   */
  check(interfaceId: bigint, methodId: number): RpcError | undefined;
}

/** Capability tables already wrapped (each results message is wrapped once). */
const wrapped = new WeakSet<object>();

function wrapCapTable(results: Struct, policy: MembranePolicy): void {
  const msg = results.segment.message;
  if (wrapped.has(msg)) return;
  wrapped.add(msg);
  const table = msg._capnp.capTable;
  if (table === undefined) return;
  for (let i = 0; i < table.length; i++) {
    const c = table[i];
    // The message owned `c`; it now owns the wrapper, which owns `c`.
    if (c !== undefined && c !== null) table[i] = new CapHandle(new MembraneHook(c, policy));
  }
}

/** An answer seen through a membrane: its capabilities come out wrapped. */
class MembraneAnswer implements Answer<Struct> {
  constructor(
    readonly inner: Answer<Struct>,
    readonly policy: MembranePolicy,
  ) {}

  async struct(): Promise<Struct> {
    const s = await this.inner.struct();
    wrapCapTable(s, this.policy);
    return s;
  }

  pipelineCall<P extends Struct, R extends Struct>(ops: PipelineOp[], call: Call<P, R>): Answer<R> {
    const err = this.policy.check(call.method.interfaceId, call.method.methodId);
    if (err !== undefined) return new BrokenAnswer(err) as unknown as Answer<R>;
    return new MembraneAnswer(this.inner.pipelineCall(ops, call), this.policy) as unknown as Answer<R>;
  }

  pipelineClose(ops: PipelineOp[]): void {
    this.inner.pipelineClose(ops);
  }
}

class MembraneHook extends RefHook {
  #inner: Client | null;

  constructor(
    inner: Client,
    readonly policy: MembranePolicy,
  ) {
    super();
    this.#inner = inner;
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    const inner = this.#inner;
    if (inner === null) return new BrokenAnswer(new RpcError('failed', 'capability was released'));
    const err = this.policy.check(call.method.interfaceId, call.method.methodId);
    if (err !== undefined) return new BrokenAnswer(err);
    return new MembraneAnswer(inner.call(call), this.policy);
  }

  protected dispose(): void {
    const inner = this.#inner;
    this.#inner = null;
    try {
      inner?.close();
    } catch {
      // Disposers never throw.
    }
  }
}

/**
 * Wraps `inner` in a membrane governed by `policy`. Takes ownership of `inner` (a
 * capnp-es Client reference: the `.client` of a typed client); returns a Client the
 * caller owns — wrap it in a typed class (`new X.Client(c)`) to call it. Releasing the
 * last reference releases `inner`.
 */
export function membrane(inner: Client, policy: MembranePolicy): Client {
  return new CapHandle(new MembraneHook(inner, policy));
}
