/**
 * The capability table: every capability capns has granted, to whom, how much it is
 * used, and revocation.
 *
 * A grant is a membrane (src/rpc/membrane.ts) around the granted capability, so revoking
 * it severs the holder's reference and everything the holder obtained through it (the
 * Files walked from a FileServer, the caps a service returned): the holder's next call
 * through any of them fails at once with an exception of type failed, "revoked: …".
 */
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import { setFailure } from '../failure.js';
import {
  CapTable as CapTableIface,
  type CapTable$Client,
  type CapTable$Server$Target,
  type CapTable_List$Params,
  type CapTable_List$Results,
  type CapTable_Revoke$Params,
  type CapTable_Revoke$Results,
  type CapTable_RevokeHolder$Params,
  type CapTable_RevokeHolder$Results,
} from '../gen/captable.js';
import { RpcError, serve } from '../rpc/index.js';
import { membrane, type MembranePolicy } from '../rpc/membrane.js';

/** One grant, as the table lists it. A plain value. */
export interface GrantInfo {
  readonly id: bigint;
  readonly interfaceId: bigint;
  readonly label: string;
  /** Who holds it: profile and connection, e.g. "alice@rpc#3". */
  readonly holder: string;
  readonly calls: bigint;
  readonly revoked: boolean;
}

/** What a grant needs to know about the capability it wraps. */
export interface GrantRequest {
  readonly interfaceId: bigint;
  readonly label: string;
  readonly holder: string;
}

/** Calls through grants to one method, process-wide: what `/metrics` exports. */
export interface MethodStats {
  readonly interfaceId: bigint;
  readonly methodId: number;
  calls: number;
  /** Seconds the settled calls took, in all. */
  seconds: number;
  /** Failed calls by exception type (`revoked` for calls refused by a revoked grant). */
  readonly errors: Map<string, number>;
}

class Grant implements MembranePolicy {
  calls = 0n;
  revoked = false;

  constructor(
    readonly id: bigint,
    readonly request: GrantRequest,
    readonly record: (interfaceId: bigint, methodId: number, error: RpcError | undefined, seconds: number) => void,
  ) {}

  settled(interfaceId: bigint, methodId: number, error: RpcError | undefined, seconds: number): void {
    this.record(interfaceId, methodId, error, seconds);
  }

  check(): RpcError | undefined {
    if (this.revoked) return new RpcError('failed', `revoked: grant ${this.id} of '${this.request.label}' to ${this.request.holder}`);
    this.calls++;
    return undefined;
  }

  info(): GrantInfo {
    const { interfaceId, label, holder } = this.request;
    return { id: this.id, interfaceId, label, holder, calls: this.calls, revoked: this.revoked };
  }
}

/** Limits of the table, each with a safe default. */
export interface CapabilityTableOptions {
  /** Grants held at once across all holders (NS_ERR_BUSY beyond). Default 1,000,000. */
  readonly maxGrants?: number;
}

/**
 * The table of grants. Synchronous and single-threaded: every method is atomic.
 */
export class CapabilityTable {
  readonly #grants = new Map<bigint, Grant>();
  readonly #maxGrants: number;
  readonly #methods = new Map<string, MethodStats>();
  #nextId = 1n;

  /** Records one settled call (the grants' membranes report here). */
  readonly #record = (interfaceId: bigint, methodId: number, error: RpcError | undefined, seconds: number): void => {
    const key = `${interfaceId}.${methodId}`;
    let m = this.#methods.get(key);
    if (m === undefined) this.#methods.set(key, (m = { interfaceId, methodId, calls: 0, seconds: 0, errors: new Map() }));
    m.calls++;
    m.seconds += seconds;
    if (error !== undefined) {
      const type = error.message.startsWith('revoked:') ? 'revoked' : error.type;
      m.errors.set(type, (m.errors.get(type) ?? 0) + 1);
    }
  };

  /** Calls through every grant so far, by method (totals: they only grow). */
  methodStats(): readonly MethodStats[] {
    return [...this.#methods.values()];
  }

  constructor(options: CapabilityTableOptions = {}) {
    this.#maxGrants = options.maxGrants ?? 1_000_000;
  }

  /**
   * Grants `cap` to `request.holder`: returns a new capability (a Client the caller owns)
   * that forwards to `cap` until revoked, counting calls. Takes ownership of `cap`
   * (pass a reference of your own: `retain`ed or freshly made).
   * @throws NsError NS_ERR_BUSY when the table is full.
   */
  grant(cap: Client, request: GrantRequest): Client {
    if (this.#grants.size >= this.#maxGrants) {
      cap.close();
      throw new NsError('NS_ERR_BUSY', `the capability table is full (${this.#maxGrants} grants)`);
    }
    const g = new Grant(this.#nextId++, request, this.#record);
    this.#grants.set(g.id, g);
    return membrane(cap, g);
  }

  /** Grants, all of them or one holder's, in grant order. */
  list(holder = ''): GrantInfo[] {
    const out: GrantInfo[] = [];
    for (const g of this.#grants.values()) if (holder === '' || g.request.holder === holder) out.push(g.info());
    return out;
  }

  /** Revokes one grant. @throws NsError NS_ERR_NOT_FOUND for an unknown id. */
  revoke(id: bigint): void {
    const g = this.#grants.get(id);
    if (g === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no grant ${id}`);
    g.revoked = true;
  }

  /** Revokes every grant of one holder (a holder name or a `profile@` prefix); returns how many. */
  revokeHolder(holder: string): number {
    let n = 0;
    for (const g of this.#grants.values()) {
      if (!g.revoked && matchesHolder(g.request.holder, holder)) {
        g.revoked = true;
        n++;
      }
    }
    return n;
  }

  /** Revokes the grants of `label` (a capability removed from the manifest); returns how many. */
  revokeLabel(label: string): number {
    let n = 0;
    for (const g of this.#grants.values()) {
      if (!g.revoked && g.request.label === label) {
        g.revoked = true;
        n++;
      }
    }
    return n;
  }

  /** Drops a holder's grants from the table (its connection is gone). */
  forget(holder: string): void {
    for (const [id, g] of this.#grants) if (g.request.holder === holder) this.#grants.delete(id);
  }

  get size(): number {
    return this.#grants.size;
  }
}

/** "alice@rpc#3" matches "alice@rpc#3" and "alice@" (every connection of profile alice). */
function matchesHolder(holder: string, pattern: string): boolean {
  return pattern.endsWith('@') ? holder.startsWith(pattern) : holder === pattern;
}

class CapTableTarget implements CapTable$Server$Target {
  constructor(readonly table: CapabilityTable) {}

  async list(params: CapTable_List$Params, results: CapTable_List$Results): Promise<void> {
    const grants = this.table.list(params.holder);
    const list = results._initEntries(grants.length);
    grants.forEach((g, i) => {
      const e = list.get(i);
      e.id = g.id;
      e.interfaceId = g.interfaceId;
      e.label = g.label;
      e.holder = g.holder;
      e.calls = g.calls;
      e.revoked = g.revoked;
    });
  }

  async revoke(params: CapTable_Revoke$Params, results: CapTable_Revoke$Results): Promise<void> {
    const res = results._initResult();
    try {
      this.table.revoke(params.id);
      res.ok = true;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async revokeHolder(params: CapTable_RevokeHolder$Params, results: CapTable_RevokeHolder$Results): Promise<void> {
    results.count = this.table.revokeHolder(params.holder);
  }
}

/** Serves `table` as the CapTable admin capability. The caller owns the client. */
export function serveCapTable(table: CapabilityTable): CapTable$Client & Disposable {
  return serve(CapTableIface, new CapTableTarget(table));
}
