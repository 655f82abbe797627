/**
 * Which Host (and Origin) an http listener answers to: the defence against DNS
 * rebinding. A page on another origin can make a browser send requests to 127.0.0.1 by
 * pointing its own name there; the browser then believes the responses are the page's
 * own, and the tokenless loopback profile would read and write files for it. Such
 * requests carry the attacker's name in Host (and in Origin), never one of ours, so a
 * listener refuses every Host it does not serve:
 *
 * - a loopback listener serves `localhost`, `127.0.0.1` and `[::1]`;
 * - every listener serves the address literal it is bound to, and one bound to a wildcard
 *   (`0.0.0.0`, `::`) serves any IP literal (an IP literal cannot be rebound: a page whose
 *   origin is an IP address is that address's page);
 * with the port the connection came in on (the scheme's port when Host names none);
 * - and the names the manifest lists in the listener's `hosts`: `NAME` (any port) or
 *   `NAME:PORT`; `*` turns the check off (behind a proxy that rewrites Host).
 *
 * A unix-socket listener is not checked: no browser reaches one. Pure: no I/O.
 */
import { isIP } from 'node:net';

/** How one http listener is reached. */
export interface HostPolicyOptions {
  /** The host part of the listen address (`127.0.0.1`, `::`, `localhost`); absent for a unix socket. */
  readonly bindHost?: string;
  /** Whether the listen address is loopback. */
  readonly loopback: boolean;
  /** Whether it speaks TLS (the port a Host without one implies is then 443). */
  readonly tls: boolean;
  /** Extra names from the manifest, lower case: `NAME`, `NAME:PORT`, `*`. */
  readonly hosts?: readonly string[];
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** `host[:port]` split; IPv6 literals keep their brackets. Undefined when malformed. */
function splitHost(text: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text.trim().toLowerCase());
  if (m === null) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65535) return undefined;
  // A trailing dot names the same host (`localhost.`): DNS's absolute form.
  const name = m[1]!.endsWith('.') ? m[1]!.slice(0, -1) : m[1]!;
  return { name, port };
}

function isIpLiteral(name: string): boolean {
  return name.startsWith('[') ? isIP(name.slice(1, -1)) === 6 : isIP(name) === 4;
}

/** The Host and Origin rules of one http listener. */
export class HostPolicy {
  readonly #off: boolean;
  readonly #own: ReadonlySet<string>;
  readonly #anyIp: boolean;
  readonly #tls: boolean;
  /** Manifest names: the name, and the one port allowed (undefined: any). */
  readonly #extra: readonly { name: string; port: number | undefined }[];

  constructor(options: HostPolicyOptions) {
    const hosts = options.hosts ?? [];
    this.#off = options.bindHost === undefined || hosts.includes('*');
    this.#tls = options.tls;
    const own = new Set<string>();
    const bind = options.bindHost?.toLowerCase();
    if (bind !== undefined) own.add(isIP(bind) === 6 ? `[${bind}]` : bind);
    if (options.loopback) for (const n of LOOPBACK_NAMES) own.add(n);
    this.#anyIp = bind === '0.0.0.0' || bind === '::';
    if (this.#anyIp) own.add('localhost');
    this.#own = own;
    this.#extra = hosts.filter((h) => h !== '*').flatMap((h) => splitHost(h) ?? []);
  }

  /** Whether every Host is accepted (unix socket, or `hosts: ['*']`). */
  get off(): boolean {
    return this.#off;
  }

  /** What the listener answers to, for messages: `localhost:5642, 127.0.0.1:5642, ...`. */
  describe(localPort: number): string {
    const names = [...this.#own].map((n) => `${n}:${localPort}`);
    if (this.#anyIp) names.push(`any IP address:${localPort}`);
    for (const e of this.#extra) names.push(e.port === undefined ? e.name : `${e.name}:${e.port}`);
    return names.join(', ');
  }

  #allowed(text: string, defaultPort: number, localPort: number): boolean {
    const h = splitHost(text);
    if (h === undefined) return false;
    const port = h.port ?? defaultPort;
    for (const e of this.#extra) if (e.name === h.name && (e.port === undefined || e.port === port)) return true;
    if (port !== localPort) return false;
    return this.#own.has(h.name) || (this.#anyIp && isIpLiteral(h.name));
  }

  /**
   * Why a request with these headers, arrived on `localPort`, is refused; undefined when
   * it is served. A request without Host (HTTP/1.0) passes: browsers always send one.
   */
  check(host: string | undefined, origin: string | undefined, localPort: number): string | undefined {
    if (this.#off) return undefined;
    if (host !== undefined && !this.#allowed(host, this.#tls ? 443 : 80, localPort)) {
      return `Host '${host}' is not a name this listener serves (${this.describe(localPort)}); list it in the listener's hosts (docs/http.md)`;
    }
    if (origin === undefined) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    const ok =
      url !== undefined &&
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      this.#allowed(url.host, url.protocol === 'https:' ? 443 : 80, localPort);
    if (!ok) return `Origin '${origin}' is not one this listener serves (${this.describe(localPort)}); list its host in the listener's hosts (docs/http.md)`;
    return undefined;
  }
}
