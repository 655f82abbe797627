/**
 * The example key-value service: KeyValue (kv.capnp) in memory, written with capns's
 * service library. Run by capns (examples/kv/manifest.yaml: `type: service`), or on its
 * own for a manifest's `connect`:
 *
 *   node --import tsx examples/kv/kv-service.ts --listen tcp!127.0.0.1!7001
 *
 * KV_MAX_KEYS (default 10000) bounds the store: a put beyond it answers `full`. In your
 * own project, import from 'capns' instead of '../../src/index.js'.
 */
import { readFileSync } from 'node:fs';
import { runService, serve } from '../../src/index.js';
import {
  KeyValue,
  type KeyValue$Server$Target,
  type KeyValue_Delete$Params,
  type KeyValue_Delete$Results,
  type KeyValue_Get$Params,
  type KeyValue_Get$Results,
  type KeyValue_List$Params,
  type KeyValue_List$Results,
  type KeyValue_Put$Params,
  type KeyValue_Put$Results,
} from './gen/kv.js';

const maxKeys = Number(process.env['KV_MAX_KEYS'] ?? 10_000);

class Store implements KeyValue$Server$Target {
  readonly #map = new Map<string, string>();

  async get(p: KeyValue_Get$Params, r: KeyValue_Get$Results): Promise<void> {
    const v = this.#map.get(p.key);
    r.found = v !== undefined;
    r.value = v ?? '';
  }

  async put(p: KeyValue_Put$Params, r: KeyValue_Put$Results): Promise<void> {
    const res = r._initResult();
    if (!this.#map.has(p.key) && this.#map.size >= maxKeys) {
      res.full = this.#map.size;
      return;
    }
    this.#map.set(p.key, p.value);
    res.ok = this.#map.size;
  }

  async delete(p: KeyValue_Delete$Params, r: KeyValue_Delete$Results): Promise<void> {
    r.existed = this.#map.delete(p.key);
  }

  async list(p: KeyValue_List$Params, r: KeyValue_List$Results): Promise<void> {
    const keys = [...this.#map.keys()].filter((k) => k.startsWith(p.prefix)).sort();
    const out = r._initEntries(keys.length);
    keys.forEach((k, i) => {
      out.get(i).key = k;
      out.get(i).value = this.#map.get(k)!;
    });
  }
}

const i = process.argv.indexOf('--listen');
const svc = await runService({
  offers: { store: serve(KeyValue, new Store()) },
  // The compiled schema (capns schema compile kv.capnp): the store answers Introspect
  // with it, so capns call and the HTTP gateway need no schema of their own.
  schema: readFileSync(new URL('./kv.capnp.bin', import.meta.url)),
  ...(i >= 0 && { listen: process.argv[i + 1]! }),
});
if (svc.mode === 'standalone') console.log(`kv: listening on ${svc.address}`);
else console.log('kv: offered store');
await svc.closed;
