/**
 * The demo services the embedded default manifest binds (schema/demo.capnp): small,
 * typed capabilities to resolve and call on a fresh `capns serve`.
 */
import {
  Clock,
  Echo,
  type Clock$Client,
  type Clock$Server$Target,
  type Clock_Now$Params,
  type Clock_Now$Results,
  type Echo$Client,
  type Echo$Server$Target,
  type Echo_Echo$Params,
  type Echo_Echo$Results,
} from '../gen/demo.js';
import { serve } from '../rpc/index.js';

class ClockImpl implements Clock$Server$Target {
  readonly #time: () => number;

  constructor(time: () => number) {
    this.#time = time;
  }

  async now(_p: Clock_Now$Params, r: Clock_Now$Results): Promise<void> {
    const ms = this.#time();
    r.unixMillis = BigInt(ms);
    r.iso = new Date(ms).toISOString();
  }
}

class EchoImpl implements Echo$Server$Target {
  async echo(p: Echo_Echo$Params, r: Echo_Echo$Results): Promise<void> {
    r.text = p.text;
  }
}

/** Serves a Clock reading `now` (default Date.now). The caller owns the client. */
export function newClock(now: () => number = Date.now): Clock$Client & Disposable {
  return serve(Clock, new ClockImpl(now));
}

/** Serves an Echo. The caller owns the client. */
export function newEcho(): Echo$Client & Disposable {
  return serve(Echo, new EchoImpl());
}
