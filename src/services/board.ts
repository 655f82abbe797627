/**
 * A board of posted capabilities — Plan 9's /srv (srv(3)), typed: a capability is posted
 * under a name and lasts as long as its `Post` does (ORCLOSE: the poster's connection
 * ending releases the Post, and takes the entry down). Each name the manifest declares
 * has a Slot from the start, which profiles bind; calls through it go to whatever is
 * posted there, and fail `disconnected` at once while nothing is ("nothing posted under
 * 'printer' (board 'srv')"), until someone posts again.
 *
 * Used twice: a `srv` capability (posting at run time, by whoever holds the board), and
 * the offers of a supervised `service` (the program posts its capabilities on the
 * ServiceHost it receives; the service is ready once every declared offer is posted).
 */
import * as $ from 'capnp-es';
import type { Call, Client, Struct } from 'capnp-es';
import { NsError } from '../errors.js';
import { setFailure } from '../failure.js';
import {
  Post,
  Srv,
  type Post$Client,
  type Post$Server$Target,
  type Post_Remove$Params,
  type Post_Remove$Results,
  type Srv$Server$Target,
  type Srv_List$Params,
  type Srv_List$Results,
  type Srv_Post$Params,
  type Srv_Post$Results,
} from '../gen/services.js';
import { dupClient, serve } from '../rpc/index.js';
import type { Answer } from '../rpc/cap.js';
import { Slot, type SlotOptions } from './slot.js';

/** A name the manifest declares on a board. */
export interface DeclaredName {
  /** The interface posts under it must have (or extend); undefined: any. */
  readonly interfaceId?: bigint;
  readonly interfaceName?: string;
  /** Answers some calls itself (Introspect from the manifest's schema). */
  readonly intercept?: (call: Call<Struct, Struct>) => Answer<Struct> | undefined;
}

/** Options of a Board. */
export interface BoardOptions {
  /** Names errors: "board 'srv'", "service 'kv'". */
  readonly label: string;
  /** The names the manifest declares (each gets a slot at once). */
  readonly names: ReadonlyMap<string, DeclaredName>;
  /** Whether names the manifest does not declare may be posted (default false). */
  readonly open?: boolean;
  /** Entries posted at once, declared ones included (default 256). */
  readonly maxEntries?: number;
  /** How declared slots wait and queue (SlotOptions; default: they never wait, they are down until posted). */
  readonly slot?: Omit<SlotOptions, 'intercept'>;
  /** Slots start `starting` (calls wait for a post) rather than down (default false). */
  readonly startWaiting?: boolean;
  /**
   * Whether a capability of interface `posted` will do under a name declared with
   * `declared`: undefined, or the reason to refuse. Default: the same id.
   */
  readonly accept?: (posted: bigint, declared: bigint) => string | undefined;
  /**
   * Wraps a posted capability before it goes into the slot (capns: a revocable grant in
   * the capability table). Takes ownership of `cap`; returns the Client to keep.
   */
  readonly wrap?: (cap: Client, name: string, interfaceId: bigint) => Client;
  /** Told when a name is posted or taken down (readiness, logs). */
  readonly onChange?: (name: string, posted: boolean, why: string) => void;
}

/** The default of BoardOptions.maxEntries. */
export const DEFAULT_BOARD_MAX_ENTRIES = 256;

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

interface Entry {
  readonly slot: Slot;
  readonly declared: DeclaredName | undefined;
  /** The post now under the name (null: nothing). */
  post: object | null;
  interfaceId: bigint;
}

/** A board of posted capabilities. */
export class Board {
  readonly #o: BoardOptions;
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  constructor(options: BoardOptions) {
    this.#o = options;
    for (const [name, d] of options.names) this.#entries.set(name, this.#newEntry(name, d));
  }

  #newEntry(name: string, d: DeclaredName | undefined): Entry {
    const slot = new Slot(`${this.#o.label}: '${name}'`, { ...this.#o.slot, ...(d?.intercept !== undefined && { intercept: d.intercept }) });
    if (this.#o.startWaiting === true) slot.starting('not offered yet');
    else slot.down('nothing posted under it');
    return { slot, declared: d, post: null, interfaceId: d?.interfaceId ?? 0n };
  }

  /**
   * A new reference (the caller's) to the stable capability of a declared name.
   * @throws NsError NS_ERR_NOT_FOUND for a name the board does not declare.
   */
  capability(name: string): Client {
    const e = this.#entries.get(name);
    if (e === undefined || e.declared === undefined) throw new NsError('NS_ERR_NOT_FOUND', `${this.#o.label} declares no name '${name}'`);
    return e.slot.capability();
  }

  /** Whether every declared name is posted now. */
  get complete(): boolean {
    for (const e of this.#entries.values()) if (e.declared !== undefined && e.post === null) return false;
    return true;
  }

  /** Declared names not posted now. */
  missing(): string[] {
    return [...this.#entries].filter(([, e]) => e.declared !== undefined && e.post === null).map(([n]) => n);
  }

  /** What `Srv.list` answers: every declared or posted name. */
  entries(): Array<{ name: string; interfaceId: bigint; posted: boolean }> {
    return [...this.#entries].map(([name, e]) => ({ name, interfaceId: e.interfaceId, posted: e.post !== null }));
  }

  /**
   * Posts `cap` (a view: the board keeps its own reference) under `name`. Returns the
   * Post capability (the caller's): the entry lasts while it does.
   * @throws NsError: invalid name, not declared (on a closed board), exists,
   *   interface mismatch, busy (full), revoked (the board is closed).
   */
  post(name: string, cap: Client, interfaceId: bigint): Post$Client {
    if (this.#closed) throw new NsError('NS_ERR_REVOKED', `${this.#o.label} is closed`);
    if (!NAME.test(name)) throw new NsError('NS_ERR_INVALID_ARGUMENT', `'${name}' is not a name: a letter or _, then up to 63 letters, digits, _, . or -`);
    let e = this.#entries.get(name);
    if (e === undefined) {
      if (this.#o.open !== true) {
        const names = [...this.#o.names.keys()];
        throw new NsError('NS_ERR_NOT_FOUND', `${this.#o.label} declares no name '${name}'${names.length === 0 ? '' : ` (its names: ${names.join(', ')})`}`);
      }
      if (this.#entries.size >= (this.#o.maxEntries ?? DEFAULT_BOARD_MAX_ENTRIES)) throw new NsError('NS_ERR_BUSY', `${this.#o.label} is full (${this.#entries.size} names)`);
      e = this.#newEntry(name, undefined);
      this.#entries.set(name, e);
    }
    if (e.post !== null) throw new NsError('NS_ERR_EXISTS', `'${name}' is posted already on ${this.#o.label}`);
    const declared = e.declared?.interfaceId;
    if (declared !== undefined) {
      const accept = this.#o.accept ?? ((p: bigint, d: bigint) => (p === d ? undefined : `0x${p.toString(16)} is not the declared 0x${d.toString(16)}`));
      const why = accept(interfaceId, declared);
      if (why !== undefined) throw new NsError('NS_ERR_INTERFACE_MISMATCH', `'${name}' on ${this.#o.label} must be a ${e.declared?.interfaceName ?? `0x${declared.toString(16)}`}: ${why}`);
    }
    const token = {};
    const entry = e;
    entry.post = token;
    entry.interfaceId = interfaceId;
    const own = dupClient(cap);
    entry.slot.up(this.#o.wrap === undefined ? own : this.#o.wrap(own, name, interfaceId));
    this.#o.onChange?.(name, true, 'posted');
    return serve(Post, new PostTarget(() => this.#withdraw(name, token, 'its post was removed')));
  }

  /** Takes `name` down if `token` is still what is posted there. */
  #withdraw(name: string, token: object, why: string): void {
    const e = this.#entries.get(name);
    if (e === undefined || e.post !== token) return;
    e.post = null;
    if (e.declared === undefined) {
      this.#entries.delete(name);
      e.slot.close(why);
    } else {
      e.interfaceId = e.declared.interfaceId ?? 0n;
      e.slot.down(why);
    }
    this.#o.onChange?.(name, false, why);
  }

  /**
   * Takes every entry down with `why` (the poster is gone: "service 'kv' exited with
   * status 1"); later posts are accepted again. With `waiting`, declared slots wait for
   * the next post instead of failing (a service restarting).
   */
  reset(why: string, waiting = false): void {
    for (const [name, e] of [...this.#entries]) {
      const had = e.post !== null;
      e.post = null;
      if (e.declared === undefined) {
        this.#entries.delete(name);
        e.slot.close(why);
      } else {
        e.interfaceId = e.declared.interfaceId ?? 0n;
        if (waiting) e.slot.starting(why);
        else e.slot.down(why);
      }
      if (had) this.#o.onChange?.(name, false, why);
    }
  }

  /** Ends the board: every slot closes; calls fail from now on. Idempotent. */
  close(why = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const e of this.#entries.values()) e.slot.close(`${why}`);
  }

  /** A Srv capability posting on this board (the caller owns it). */
  serveSrv(): Client {
    return serve(Srv, new SrvTarget(this)).client;
  }
}

class PostTarget implements Post$Server$Target {
  #withdraw: (() => void) | null;

  constructor(withdraw: () => void) {
    this.#withdraw = withdraw;
  }

  async remove(_p: Post_Remove$Params, _r: Post_Remove$Results): Promise<void> {
    this.close();
  }

  /** The last reference is gone (rpc/server.ts calls close on dispose): ORCLOSE. */
  close(): void {
    const w = this.#withdraw;
    this.#withdraw = null;
    w?.();
  }
}

/** Srv as served over RPC: posts on a board. */
export class SrvTarget implements Srv$Server$Target {
  constructor(readonly board: Board) {}

  async post(p: Srv_Post$Params, r: Srv_Post$Results): Promise<void> {
    const res = r._initResult();
    try {
      const cap = $.utils.getInterfaceClientOrNull(p.cap);
      if (cap === null) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'post of a null capability');
      res.ok = this.board.post(p.name, cap, p.interfaceId);
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async list(_p: Srv_List$Params, r: Srv_List$Results): Promise<void> {
    const all = this.board.entries();
    const list = r._initEntries(all.length);
    all.forEach((e, i) => {
      const x = list.get(i);
      x.name = e.name;
      x.interfaceId = e.interfaceId;
      x.posted = e.posted;
    });
  }
}
