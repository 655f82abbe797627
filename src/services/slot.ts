/**
 * A slot: one stable capability in front of something that comes and goes — the
 * bootstrap of a `connect`ed server (one connection after another), a capability a
 * supervised program offers (one process after another), a posted capability (one
 * poster after another). Namespaces bind the slot's capability once; calls through it go
 * to whatever is in the slot at the time of the call:
 *
 * - `up`: delivered to the target.
 * - `starting`: the target is on its way (a first dial, a program starting): the call
 *   waits, at most `waitMs`, then fails `disconnected` ("not ready within ..."). At most
 *   `maxWaiting` calls wait at once; more fail `overloaded` at once. A bind never waits
 *   forever, and neither does a call.
 * - `down`: the call fails `disconnected` at once, with a message naming the slot and
 *   the reason (seed 003: a dead server is an error, never a hang).
 *
 * Calls pipelined on an answer follow the answer (they go where the call went).
 */
import type { Call, Client, Struct } from 'capnp-es';
import { BrokenAnswer, CapHandle, DeferredAnswer, RefHook, type Answer } from '../rpc/cap.js';
import { RpcError } from '../rpc/index.js';

/** The default of `SlotOptions.waitMs`. */
export const DEFAULT_SLOT_WAIT_MS = 10_000;
/** The default of `SlotOptions.maxWaiting`. */
export const DEFAULT_SLOT_MAX_WAITING = 1024;

/** Options of a Slot. */
export interface SlotOptions {
  /** How long a call waits while the slot is `starting` (default 10 s). */
  readonly waitMs?: number;
  /** Calls waiting at once while `starting`; more fail `overloaded` (default 1024). */
  readonly maxWaiting?: number;
  /**
   * Answers some calls itself, whatever the state (capns answers `Introspect` for the
   * capabilities whose schema it has): return an Answer, or undefined to let the call
   * through. Must not throw.
   */
  readonly intercept?: (call: Call<Struct, Struct>) => Answer<Struct> | undefined;
}

/** What a slot is doing. */
export type SlotState = 'starting' | 'up' | 'down' | 'closed';

interface Waiting {
  readonly call: Call<Struct, Struct>;
  readonly answer: DeferredAnswer;
  readonly timer: NodeJS.Timeout;
}

/**
 * One stable capability in front of a target that comes and goes. The slot owns the
 * target reference given to `up()` until it is replaced, taken down or closed.
 */
export class Slot {
  readonly name: string;
  readonly #waitMs: number;
  readonly #maxWaiting: number;
  readonly #intercept: SlotOptions['intercept'];
  #state: SlotState = 'starting';
  #target: Client | null = null;
  #reason: string;
  readonly #waiting = new Set<Waiting>();
  #stable: CapHandle | null;

  /** `name` appears in every error the slot answers ("connect 'far' (tcp!h!p)"). */
  constructor(name: string, options: SlotOptions = {}) {
    this.name = name;
    this.#waitMs = options.waitMs ?? DEFAULT_SLOT_WAIT_MS;
    this.#maxWaiting = options.maxWaiting ?? DEFAULT_SLOT_MAX_WAITING;
    this.#intercept = options.intercept;
    this.#reason = 'starting';
    this.#stable = new CapHandle(new SlotHook(this));
  }

  /** The state now. */
  get state(): SlotState {
    return this.#state;
  }

  /** Why the slot is down (or what it is waiting for); '' while up. */
  get reason(): string {
    return this.#state === 'up' ? '' : this.#reason;
  }

  /** Calls waiting now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * A new reference (the caller's) to the stable capability. Calls through it follow
   * the slot's state; they keep failing once the slot is closed.
   * @throws RpcError `disconnected` once the slot is closed.
   */
  capability(): Client {
    if (this.#stable === null) throw new RpcError('disconnected', `${this.name}: closed`);
    return this.#stable.dup();
  }

  /** The target now, if up (a view: the slot keeps ownership). */
  get target(): Client | null {
    return this.#target;
  }

  /** Takes ownership of `target` and delivers every waiting call to it. */
  up(target: Client): void {
    if (this.#state === 'closed') {
      target.close();
      return;
    }
    this.#dropTarget();
    this.#target = target;
    this.#state = 'up';
    this.#reason = '';
    for (const w of this.#takeWaiting()) w.answer.bind(target.call(w.call));
  }

  /** The target is on its way: calls wait (bounded) from now on. Releases the old target. */
  starting(what = 'starting'): void {
    if (this.#state === 'closed') return;
    this.#dropTarget();
    this.#state = 'starting';
    this.#reason = what;
  }

  /** The target is gone: calls fail fast with `reason`, the waiting ones too. */
  down(reason: string): void {
    if (this.#state === 'closed') return;
    this.#dropTarget();
    this.#state = 'down';
    this.#reason = reason;
    const err = this.#error();
    for (const w of this.#takeWaiting()) w.answer.bind(new BrokenAnswer(err));
  }

  /** Ends the slot: calls fail from now on; the target is released. Idempotent. */
  close(reason = 'closed'): void {
    if (this.#state === 'closed') return;
    this.down(reason);
    this.#state = 'closed';
    const s = this.#stable;
    this.#stable = null;
    s?.close();
  }

  #dropTarget(): void {
    const t = this.#target;
    this.#target = null;
    try {
      t?.close();
    } catch {
      // Disposers never throw.
    }
  }

  #error(): RpcError {
    return new RpcError('disconnected', `${this.name}: ${this.#reason}`);
  }

  /** Delivers one call through the stable capability (SlotHook). Never throws. */
  deliver(call: Call<Struct, Struct>): Answer<Struct> {
    const local = this.#intercept?.(call);
    if (local !== undefined) return local;
    switch (this.#state) {
      case 'up':
        return this.#target!.call(call);
      case 'starting':
        return this.#wait(call);
      case 'down':
      case 'closed':
        return new BrokenAnswer(this.#error());
    }
  }

  #wait(call: Call<Struct, Struct>): Answer<Struct> {
    if (this.#waiting.size >= this.#maxWaiting) {
      return new BrokenAnswer(new RpcError('overloaded', `${this.name}: ${this.#waiting.size} calls already wait for it (${this.#reason})`));
    }
    const answer = new DeferredAnswer();
    const w: Waiting = {
      call,
      answer,
      timer: setTimeout(() => {
        if (!this.#waiting.delete(w)) return;
        answer.bind(new BrokenAnswer(new RpcError('disconnected', `${this.name}: not ready within ${this.#waitMs} ms (${this.#reason})`)));
      }, this.#waitMs),
    };
    this.#waiting.add(w);
    return answer;
  }

  #takeWaiting(): Waiting[] {
    const all = [...this.#waiting];
    this.#waiting.clear();
    for (const w of all) clearTimeout(w.timer);
    return all;
  }
}

/** The hook behind a slot's stable capability: every call goes to `Slot.deliver`. */
class SlotHook extends RefHook {
  constructor(readonly slot: Slot) {
    super();
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    try {
      return this.slot.deliver(call);
    } catch (e) {
      return new BrokenAnswer(e instanceof RpcError ? e : new RpcError('failed', (e as Error).message));
    }
  }

  protected dispose(): void {
    // The slot lives on; its owner closes it.
  }
}
