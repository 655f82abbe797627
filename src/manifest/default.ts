/**
 * The manifest `capns serve` runs when given none: useful at once, on loopback only.
 *
 *   /tmp        a fresh in-memory file tree (creates go there)
 *   /data       a host directory (./capns-data unless told otherwise; created if missing)
 *   /svc/clock  the demo clock
 *
 * One profile, `local`, that loopback clients get without credentials, and the three
 * listeners on 127.0.0.1: RPC 5640, 9P 5641, HTTP 5642.
 */
import { parseManifest } from './parse.js';
import type { Manifest } from './types.js';
import { DEFAULT_DATA_DIR, DEFAULT_MANIFEST_FILE, DEFAULT_PORTS } from './default-ports.js';

export { DEFAULT_DATA_DIR, DEFAULT_MANIFEST_FILE, DEFAULT_PORTS } from './default-ports.js';

/** Options of the default manifest. */
export interface DefaultManifestOptions {
  /** Host folder served at /data (default ./capns-data, relative to the current directory). */
  readonly dataDir?: string;
  /** Listener ports (0 = any free port, for tests). */
  readonly ports?: Partial<Readonly<Record<keyof typeof DEFAULT_PORTS, number>>>;
}

/** The default manifest's YAML text (what `capns manifest show` prints, normalized). */
export function defaultManifestText(options: DefaultManifestOptions = {}): string {
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  // A JSON string is a YAML double-quoted scalar: any folder name is quoted safely.
  // '$' is doubled so that it is not read as a ${VAR} reference.
  const dataDir = JSON.stringify(options.dataDir ?? DEFAULT_DATA_DIR).replace(/\$/g, '$$$$');
  return `# The manifest capns serve runs without --manifest. Loopback only.
version: 1
capabilities:
  tmp:   { type: ram }
  data:  { type: dir, path: ${dataDir}, create: true }
  clock: { type: demo.clock }
profiles:
  local:
    # Any client on this machine, without a token: only on loopback listeners.
    auth: { loopback: true }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: data, at: /data, create: true, require: FileServer }
      - { mount: clock, at: /svc/clock, require: Clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!${ports.rpc}" }
  - { protocol: 9p, address: "tcp!127.0.0.1!${ports['9p']}" }
  - { protocol: http, address: "tcp!127.0.0.1!${ports.http}" }
`;
}

/**
 * The default manifest, parsed. Relative `dataDir`s stay relative (to the current
 * directory of whoever serves it).
 * @throws ManifestError only for a `dataDir` or port that is not valid.
 */
export function defaultManifest(options: DefaultManifestOptions = {}): Manifest {
  return parseManifest(defaultManifestText(options), {
    file: DEFAULT_MANIFEST_FILE,
    env: {},
    baseDir: '.',
  });
}
