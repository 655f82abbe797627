/**
 * A service for the supervisor's tests, written with the service library: offers an Echo
 * under `echo` (and, with --clock, a Clock under `clock` that reads its own namespace's
 * /svc/clock). What it does wrong on purpose is chosen by flags:
 *
 *   --exit CODE           exit with CODE at once, before offering
 *   --exit-after-calls N  exit with status 1 after answering N echo calls
 *   --no-offer            start, never offer (and stay up)
 *   --wrong               offer a Clock under `echo`
 *   --ignore-term         ignore SIGTERM
 *   --long-line           print one 100 KB line to stdout
 *   --self-bind           bind its namespace into itself at /self (a reference cycle)
 *   --binds N             bind its /svc/clock N more times (/b0, /b1, ...), stopping at the
 *                         first refusal; prints how many took and the refusal
 *
 * At start it prints its environment's names and its namespace's root listing, so the
 * tests can see what it was given.
 */
import { Clock, Echo, type Clock$Client, type Echo_Echo$Params, type Echo_Echo$Results } from '../../../src/gen/demo.js';
import { Namespace } from '../../../src/gen/namespace.js';
import { serve } from '../../../src/rpc/index.js';
import { runService } from '../../../src/services/index.js';
import { newClock } from '../../../src/server/demo-services.js';

const args = process.argv.slice(2);
const flag = (f: string): boolean => args.includes(f);
const value = (f: string): string | undefined => {
  const i = args.indexOf(f);
  return i < 0 ? undefined : args[i + 1];
};

if (value('--exit') !== undefined) process.exit(Number(value('--exit')));
if (flag('--ignore-term')) process.on('SIGTERM', () => console.log('SIGTERM ignored'));
if (flag('--long-line')) console.log('x'.repeat(100_000));
console.log(`env: ${Object.keys(process.env).sort().join(' ')}`);
console.error('a line on stderr');

const exitAfter = value('--exit-after-calls');
let calls = 0;

class EchoImpl {
  async echo(p: Echo_Echo$Params, r: Echo_Echo$Results): Promise<void> {
    r.text = `${p.text} (pid ${process.pid})`;
    if (exitAfter !== undefined && ++calls >= Number(exitAfter)) setTimeout(() => process.exit(1), 10);
  }
}

if (flag('--no-offer')) {
  setInterval(() => {}, 1 << 30);
} else {
  const offers: Record<string, { client: unknown }> = {
    echo: flag('--wrong') ? newClock() : serve(Echo, new EchoImpl()),
  };
  let setOwn: (c: Clock$Client) => void = () => {};
  const own = new Promise<Clock$Client>((r) => (setOwn = r));
  if (flag('--clock')) {
    // A Clock whose time comes from the service's own namespace (its only authority).
    offers['clock'] = serve(Clock, {
      async now(_p: unknown, r: { unixMillis: bigint; iso: string }) {
        const t = await (await own).now().promise();
        r.unixMillis = t.unixMillis;
        r.iso = `via the service's namespace: ${t.iso}`;
      },
    });
  }
  try {
    const svc = await runService({ offers: offers as never });
    const ns = svc.namespace!;
    console.log(`namespace: ${(await ns.list('/')).map((e) => e.name).join(' ')}`);
    if (flag('--clock')) setOwn(await ns.resolve('/svc/clock', Clock));
    if (flag('--self-bind')) {
      await ns.mount('/self', ns.namespace, { interfaceId: Namespace.Client.interfaceId, create: true });
      console.log(`self-bound: ${(await ns.list('/')).map((e) => e.name).join(' ')}`);
    }
    const binds = value('--binds');
    if (binds !== undefined) {
      using clock = await ns.resolve('/svc/clock', Clock);
      let took = 0;
      let refusal = 'none';
      for (; took < Number(binds); took++) {
        try {
          await ns.mount(`/b${took}`, clock, { interfaceId: Clock.Client.interfaceId, create: true });
        } catch (e) {
          refusal = (e as Error).message;
          break;
        }
      }
      console.log(`binds: ${took}, refused: ${refusal}`);
    }
    await svc.closed;
  } catch (e) {
    console.error(`runService: ${(e as Error).message}`);
    process.exit(1);
  }
}
