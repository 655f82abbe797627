/**
 * The example of a service calling another: Tally (kv.capnp) keeps its counts in the
 * KeyValue store it finds in its own namespace at /svc/kv — the only authority capns gave
 * it (examples/kv/manifest.yaml mounts the kv service's store there for it).
 */
import { readFileSync } from 'node:fs';
import { runService, serve } from '../../src/index.js';
import { KeyValue, Tally, type KeyValue$Client, type Tally$Server$Target, type Tally_Bump$Params, type Tally_Bump$Results } from './gen/kv.js';

class Counts implements Tally$Server$Target {
  constructor(readonly kv: Promise<KeyValue$Client>) {}

  async bump(p: Tally_Bump$Params, r: Tally_Bump$Results): Promise<void> {
    const kv = await this.kv;
    const key = `tally/${p.name}`;
    const before = (await kv.get((q) => (q.key = key)).promise()).value;
    const count = BigInt(before === '' ? 0 : before) + 1n;
    const put = (
      await kv
        .put((q) => {
          q.key = key;
          q.value = count.toString();
        })
        .promise()
    ).result;
    if (put._isFull) throw new Error(`the store is full (${put.full} keys)`);
    r.count = count;
  }
}

let store: (kv: KeyValue$Client) => void = () => {};
const kv = new Promise<KeyValue$Client>((r) => (store = r));
const svc = await runService({
  offers: { tally: serve(Tally, new Counts(kv)) },
  schema: readFileSync(new URL('./kv.capnp.bin', import.meta.url)),
});
store(await svc.namespace!.resolve('/svc/kv', KeyValue));
console.log('tally: offered tally, using /svc/kv');
await svc.closed;
