/**
 * A `capns serve` to attack (issue 16, docs/security.md): a host directory whose files say
 * where they lie, served at /data, and views of it that each promise something:
 *
 *   DIR/pub/a.txt            "PUBLIC a"
 *   DIR/pub/dir/b.txt        "PUBLIC b"
 *   DIR/pub/hidden/h.txt     "FILTERED h"      the filtered exports exclude ./hidden
 *   DIR/pub/hiddenlink -> hidden              a link to a filtered name (not itself filtered)
 *   DIR/pub/uplink -> ../secret               a link out of pub (inside the dir server)
 *   DIR/secret/s.txt         "SECRET s"        above every view's root
 *
 * Profile `user` (token tu) has /data (the directory, create, declared `require:
 * FileServer`), /u (a union of two ram trees, u1 then u2, u2 bound with create), /u1 (u1
 * alone, with create: to put files in the first member) and /svc/clock (a Clock,
 * declared `require: Clock`).
 * Exports, all rooted at /data/pub (token tx): `ro` read-only and filtered, `rw` writable,
 * `rwf` writable and filtered. The rpc listener serves the profile itself.
 *
 * Reading "SECRET" through any view is a breach of its root; reading "FILTERED" through a
 * filtered view, of its filter; a change anywhere through a read-only view, or outside pub
 * through any, shows in the hashes.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseManifest } from '../../src/manifest/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';

export const SECRET = 'SECRET';
export const FILTERED = 'FILTERED';

/** What each starting view promises, as the property test models it. */
export interface ViewModel {
  /** Changes are refused everywhere. */
  readonly readOnly: boolean;
  /** ./hidden (and whatever a link leads into it) is never read or changed. */
  readonly filtered: boolean;
}

export interface World {
  readonly dir: string;
  readonly server: CapnsServer;
  /** tcp!127.0.0.1!PORT of the rpc listener (token tu). */
  readonly rpc: string;
  /** Export addresses (token tx), by name. */
  readonly exports: { readonly ro: string; readonly rw: string; readonly rwf: string };
  /** Puts the host tree back as it started. */
  reset(): void;
  /** A hash of the host tree below `rel` ('' for all of it), links and modes included. */
  hash(rel?: string): string;
  close(): Promise<void>;
}

/** Builds DIR's tree (removing what is there). */
function populate(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
  mkdirSync(join(dir, 'pub', 'dir'), { recursive: true });
  mkdirSync(join(dir, 'pub', 'hidden'), { recursive: true });
  mkdirSync(join(dir, 'secret'), { recursive: true });
  writeFileSync(join(dir, 'pub', 'a.txt'), 'PUBLIC a');
  writeFileSync(join(dir, 'pub', 'dir', 'b.txt'), 'PUBLIC b');
  writeFileSync(join(dir, 'pub', 'hidden', 'h.txt'), `${FILTERED} h`);
  writeFileSync(join(dir, 'secret', 's.txt'), `${SECRET} s`);
  symlinkSync('hidden', join(dir, 'pub', 'hiddenlink'));
  symlinkSync('../secret', join(dir, 'pub', 'uplink'));
}

function hashTree(root: string, rel: string, h: ReturnType<typeof createHash>): void {
  const p = join(root, rel);
  let st;
  try {
    st = lstatSync(p);
  } catch {
    h.update(`${rel}:absent\n`);
    return;
  }
  h.update(`${rel}:${st.mode}:`);
  if (st.isSymbolicLink()) h.update(`link:${readlinkSync(p)}\n`);
  else if (st.isDirectory()) {
    h.update('dir\n');
    for (const name of readdirSync(p).sort()) hashTree(root, rel === '' ? name : `${rel}/${name}`, h);
  } else h.update(`file:${readFileSync(p).toString('base64')}\n`);
}

/** The filter of the filtered exports (exportfs -P form). */
export const FILTER = '- ^\\./hidden(/|$)\n';

export async function startWorld(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'capns-authority-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  populate(data);
  const filter = join(dir, 'hidden.filter');
  writeFileSync(filter, FILTER);
  const yaml = `
version: 1
capabilities:
  data: { type: dir, path: "${data}" }
  u1: { type: ram }
  u2: { type: ram }
  clock: { type: demo.clock }
profiles:
  user:
    auth: { tokens: [tu] }
    namespace:
      - { mount: data, at: /data, create: true, require: FileServer }
      - { mount: u1, at: /u }
      - { mount: u2, at: /u, position: after, create: true }
      - { mount: u1, at: /u1, create: true }
      - { mount: clock, at: /svc/clock, require: Clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
exports:
  - { profile: user, root: /data/pub, readOnly: true, filter: "${filter}", listen: "tcp!127.0.0.1!0", auth: { tokens: [tx] } }
  - { profile: user, root: /data/pub, listen: "tcp!127.0.0.1!0", auth: { tokens: [tx] } }
  - { profile: user, root: /data/pub, filter: "${filter}", listen: "tcp!127.0.0.1!0", auth: { tokens: [tx] } }
`;
  const manifest = parseManifest(yaml, { file: 'authority.yaml', env: {} });
  const server = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
  const exportsList = server.addresses.filter((a) => a.protocol === 'export').map((a) => a.address);
  const [ro, rw, rwf] = exportsList as [string, string, string];
  return {
    dir: data,
    server,
    rpc: server.addresses.find((a) => a.protocol === 'rpc')!.address,
    exports: { ro, rw, rwf },
    reset: () => populate(data),
    hash(rel = '') {
      const h = createHash('sha256');
      hashTree(data, rel, h);
      return h.digest('hex');
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
