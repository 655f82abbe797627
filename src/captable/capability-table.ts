/**
 * The capability table: every capability capns has granted, to whom, how much it is
 * used, and revocation.
 *
 * A grant is a membrane (src/rpc/membrane.ts) around the granted capability, so revoking
 * it severs the holder's reference and everything the holder obtained through it (the
 * Files walked from a FileServer, the caps a service returned): the holder's next call
 * through any of them fails at once with `Failure.revoked` in its result (or, for a method
 * without a result union, an exception "revoked: …"). A grant stays listed for as long as
 * anything derived from it is held, after its namespace is gone too, so revoke and
 * revokeHolder reach everything a holder still has.
 */
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import { setFailure } from '../failure.js';
import {
  CapTable as CapTableIface,
  type CapTable$Client,
  type CapTable$Server$Target,
  type CapTable_Exports$Params,
  type CapTable_Exports$Results,
  type CapTable_List$Params,
  type CapTable_List$Results,
  type CapTable_Revoke$Params,
  type CapTable_Revoke$Results,
  type CapTable_RevokeExport$Params,
  type CapTable_RevokeExport$Results,
  type CapTable_RevokeHolder$Params,
  type CapTable_RevokeHolder$Results,
} from '../gen/captable.js';
import { RpcError, serve } from '../rpc/index.js';
import { membrane, type MembraneLifetime, type MembranePolicy } from '../rpc/membrane.js';

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
  /**
   * The connection the holder speaks over (e.g. "rpc#3"): one connection's grants, across
   * all the namespaces it authenticated for, count against `maxGrantsPerConnection`.
   * Default: the holder.
   */
  readonly connection?: string;
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

/**
 * One grant: the policy of the membrane around the granted capability, shared by every
 * capability derived through it. It stays in the table while anything it let out lives
 * (its lifetime), so revocation reaches all of it.
 */
class Grant implements MembranePolicy, MembraneLifetime {
  // Numbers, not BigInts, inside: a BigInt is an object (24 bytes each, per grant), and
  // `calls++` on one made a new one for every call through the grant. They are BigInts
  // only where the table lists them (info()); 2^53 is beyond reach of either.
  calls = 0;
  revoked = false;
  #live = 0;
  // The request's fields, not the request: the caller's object (one per grant, several
  // grants per connection) need not be kept.
  readonly interfaceId: bigint;
  readonly label: string;
  readonly holder: string;
  readonly connection: string;

  constructor(
    readonly id: number,
    request: GrantRequest,
    readonly table: CapabilityTable,
    readonly record: (interfaceId: bigint, methodId: number, error: RpcError | undefined, seconds: number) => void,
  ) {
    this.interfaceId = request.interfaceId;
    this.label = request.label;
    this.holder = request.holder;
    this.connection = request.connection ?? request.holder;
  }

  get lifetime(): MembraneLifetime {
    return this;
  }

  opened(): void {
    this.#live++;
  }

  closed(): void {
    if (--this.#live === 0) this.table.remove(this);
  }

  settled(interfaceId: bigint, methodId: number, error: RpcError | undefined, seconds: number): void {
    this.record(interfaceId, methodId, error, seconds);
  }

  check(): NsError | undefined {
    if (this.revoked) return new NsError('NS_ERR_REVOKED', `grant ${this.id} of '${this.label}' to ${this.holder} was revoked`);
    this.calls++;
    return undefined;
  }

  info(): GrantInfo {
    return { id: BigInt(this.id), interfaceId: this.interfaceId, label: this.label, holder: this.holder, calls: BigInt(this.calls), revoked: this.revoked };
  }
}

/** Limits of the table, each with a safe default. */
export interface CapabilityTableOptions {
  /** Grants held at once across all holders (NS_ERR_BUSY beyond). Default 1,000,000. */
  readonly maxGrants?: number;
  /**
   * Grants held at once by one connection, across every namespace it authenticated for
   * (NS_ERR_BUSY beyond): no connection can fill the table. Default 4096.
   */
  readonly maxGrantsPerConnection?: number;
  /** Told each time a grant leaves the table (capns serve counts departures: src/server/reclaim.ts). */
  readonly onRemoved?: () => void;
}

/** The defaults of CapabilityTableOptions. */
export const DEFAULT_MAX_GRANTS = 1_000_000;
export const DEFAULT_MAX_GRANTS_PER_CONNECTION = 4096;

/**
 * The table of grants, indexed by holder and by connection so that what one holder or
 * connection costs (teardown, revokeHolder) is proportional to what it holds, never to
 * the table's size. Synchronous and single-threaded: every method is atomic.
 */
export class CapabilityTable {
  readonly #grants = new Map<number, Grant>();
  readonly #byHolder = new Map<string, Set<Grant>>();
  readonly #byConnection = new Map<string, number>();
  readonly #maxGrants: number;
  readonly #maxPerConnection: number;
  readonly #onRemoved: (() => void) | undefined;
  /** By interface id, then method id; #methodList holds the same in first-call order. */
  readonly #methods = new Map<bigint, Map<number, MethodStats>>();
  readonly #methodList: MethodStats[] = [];
  #nextId = 1;

  /** Records one settled call (the grants' membranes report here). */
  readonly #record = (interfaceId: bigint, methodId: number, error: RpcError | undefined, seconds: number): void => {
    // Keyed by the ids themselves: a `${interfaceId}.${methodId}` key cost a BigInt to
    // string conversion and a string hash per call.
    let byMethod = this.#methods.get(interfaceId);
    if (byMethod === undefined) this.#methods.set(interfaceId, (byMethod = new Map()));
    let m = byMethod.get(methodId);
    if (m === undefined) {
      byMethod.set(methodId, (m = { interfaceId, methodId, calls: 0, seconds: 0, errors: new Map() }));
      this.#methodList.push(m);
    }
    m.calls++;
    m.seconds += seconds;
    if (error !== undefined) {
      const type = error.message.startsWith('revoked:') ? 'revoked' : error.type;
      m.errors.set(type, (m.errors.get(type) ?? 0) + 1);
    }
  };

  /** Calls through every grant so far, by method (totals: they only grow). */
  methodStats(): readonly MethodStats[] {
    return [...this.#methodList];
  }

  constructor(options: CapabilityTableOptions = {}) {
    this.#maxGrants = options.maxGrants ?? DEFAULT_MAX_GRANTS;
    this.#maxPerConnection = options.maxGrantsPerConnection ?? DEFAULT_MAX_GRANTS_PER_CONNECTION;
    this.#onRemoved = options.onRemoved;
  }

  /**
   * Grants `cap` to `request.holder`: returns a new capability (a Client the caller owns)
   * that forwards to `cap` until revoked, counting calls. Takes ownership of `cap`
   * (pass a reference of your own: `retain`ed or freshly made). The grant stays in the
   * table until every capability derived through it is released.
   * @throws NsError NS_ERR_BUSY when the table, or the connection's share of it, is full
   *   (`cap` is released).
   */
  grant(cap: Client, request: GrantRequest): Client {
    const connection = request.connection ?? request.holder;
    const refused = this.#refusal(connection, 1);
    if (refused !== undefined) {
      cap.close();
      throw refused;
    }
    const held = this.#byConnection.get(connection) ?? 0;
    const g = new Grant(this.#nextId++, request, this, this.#record);
    this.#grants.set(g.id, g);
    let set = this.#byHolder.get(request.holder);
    if (set === undefined) this.#byHolder.set(request.holder, (set = new Set()));
    set.add(g);
    this.#byConnection.set(connection, held + 1);
    return membrane(cap, g);
  }

  /**
   * Throws the refusal `grant` would give when `connection` asks for `n` more grants, so a
   * caller about to make several can refuse before building anything.
   * @throws NsError NS_ERR_BUSY
   */
  checkRoom(connection: string, n: number): void {
    const refused = this.#refusal(connection, n);
    if (refused !== undefined) throw refused;
  }

  #refusal(connection: string, n: number): NsError | undefined {
    const held = this.#byConnection.get(connection) ?? 0;
    if (held + n > this.#maxPerConnection)
      return NsError.refusal('NS_ERR_BUSY', `connection ${connection} holds ${held} grants, its limit (maxGrantsPerConnection)`);
    if (this.#grants.size + n > this.#maxGrants)
      return NsError.refusal('NS_ERR_BUSY', `the capability table is full (${this.#maxGrants} grants)`);
    return undefined;
  }

  /** @internal A grant whose last derived capability is gone leaves the table. */
  remove(g: Grant): void {
    if (!this.#grants.delete(g.id)) return;
    const set = this.#byHolder.get(g.holder);
    set?.delete(g);
    if (set?.size === 0) this.#byHolder.delete(g.holder);
    const n = (this.#byConnection.get(g.connection) ?? 1) - 1;
    if (n <= 0) this.#byConnection.delete(g.connection);
    else this.#byConnection.set(g.connection, n);
    this.#onRemoved?.();
  }

  /** Grants, all of them or one holder's (a holder name or a `profile@` prefix), in grant order. */
  list(holder = ''): GrantInfo[] {
    const out: GrantInfo[] = [];
    for (const g of this.#matching(holder)) out.push(g.info());
    return holder === '' || holder.endsWith('@') ? out.sort((a, b) => (a.id < b.id ? -1 : 1)) : out;
  }

  *#matching(holder: string): Generator<Grant> {
    if (holder === '') {
      yield* this.#grants.values();
    } else if (holder.endsWith('@')) {
      for (const [h, set] of this.#byHolder) if (h.startsWith(holder)) yield* set;
    } else {
      const set = this.#byHolder.get(holder);
      if (set !== undefined) yield* set;
    }
  }

  /** Revokes one grant. @throws NsError NS_ERR_NOT_FOUND for an unknown id. */
  revoke(id: bigint): void {
    const g = id <= BigInt(Number.MAX_SAFE_INTEGER) ? this.#grants.get(Number(id)) : undefined;
    if (g === undefined) throw new NsError('NS_ERR_NOT_FOUND', `no grant ${id}`);
    g.revoked = true;
  }

  /**
   * Revokes every grant of one holder (a holder name, or a prefix ending in `@` for every
   * holder of a profile); returns how many ("" revokes nothing). Costs what that holder
   * holds.
   */
  revokeHolder(holder: string): number {
    // "" lists every holder, but revokes none: emptying the table takes naming what goes.
    if (holder === '') return 0;
    let n = 0;
    for (const g of this.#matching(holder)) {
      if (!g.revoked) {
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
      if (!g.revoked && g.label === label) {
        g.revoked = true;
        n++;
      }
    }
    return n;
  }

  /** Grants in the table (live ones: something derived from each is still held). */
  get size(): number {
    return this.#grants.size;
  }

  /** Grants one connection holds now. */
  heldBy(connection: string): number {
    return this.#byConnection.get(connection) ?? 0;
  }
}

/** An export as the administrator sees it (CapTable.exports). A plain value. */
export interface ExportInfo {
  /** As bound, e.g. "tcp!127.0.0.1!5821". */
  readonly address: string;
  readonly profile: string;
  readonly root: string;
  readonly readOnly: boolean;
  readonly filtered: boolean;
  /** Connections open now. */
  readonly peers: number;
  readonly revoked: boolean;
}

/** The exports of the process, for the administrator (the composition root implements it). */
export interface ExportRegistry {
  list(): ExportInfo[];
  /** @throws NsError NS_ERR_NOT_FOUND when no export listens on `address`. */
  revoke(address: string, reason: string): void;
}

class CapTableTarget implements CapTable$Server$Target {
  constructor(
    readonly table: CapabilityTable,
    readonly exportRegistry: ExportRegistry | undefined,
  ) {}

  async exports(_params: CapTable_Exports$Params, results: CapTable_Exports$Results): Promise<void> {
    const all = this.exportRegistry?.list() ?? [];
    const list = results._initExports(all.length);
    all.forEach((x, i) => {
      const e = list.get(i);
      e.address = x.address;
      e.profile = x.profile;
      e.root = x.root;
      e.readOnly = x.readOnly;
      e.filtered = x.filtered;
      e.peers = x.peers;
      e.revoked = x.revoked;
    });
  }

  async revokeExport(params: CapTable_RevokeExport$Params, results: CapTable_RevokeExport$Results): Promise<void> {
    const res = results._initResult();
    try {
      if (this.exportRegistry === undefined) throw new NsError('NS_ERR_NOT_FOUND', 'this process serves no exports');
      this.exportRegistry.revoke(params.address, params.reason === '' ? 'revoked by an administrator' : params.reason);
      res.ok = true;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

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

/**
 * Serves `table` as the CapTable admin capability, with the process's exports when given.
 * The caller owns the client.
 */
export function serveCapTable(table: CapabilityTable, exports?: ExportRegistry): CapTable$Client & Disposable {
  return serve(CapTableIface, new CapTableTarget(table, exports));
}
