/**
 * Network addresses as capns writes them: Plan 9 dial strings (`tcp!HOST!PORT`,
 * `unix!PATH`) and the `HOST:PORT` form everyone else uses (`[::1]:5640` for IPv6).
 * Pure (like errors.ts, it imports nothing of the project but errors): the manifest, the
 * CLI, the RPC transport and the 9P listener share this one parser.
 */
import { isIP } from 'node:net';
import { NsError } from './errors.js';

/** A parsed address. `host` is a name or an IP literal (IPv6 without brackets). */
export type Address =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/** The longest unix socket path Linux accepts (sun_path is 108 bytes, NUL included). */
export const MAX_UNIX_PATH_BYTES = 107;

const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function bad(text: string, why: string): NsError {
  return new NsError('NS_ERR_INVALID_ARGUMENT', `address ${JSON.stringify(text)}: ${why}`);
}

function checkHost(text: string, host: string): string {
  if (host === '' || host === '*') return '0.0.0.0';
  if (isIP(host) !== 0) return host;
  if (host.length > 253 || !host.split('.').every((l) => HOST_LABEL.test(l))) {
    throw bad(text, `bad host ${JSON.stringify(host)} (expected a host name or an IP address)`);
  }
  if (/^[0-9.]+$/.test(host)) throw bad(text, `bad IPv4 address ${JSON.stringify(host)}`);
  return host;
}

function checkPort(text: string, port: string): number {
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw bad(text, `bad port ${JSON.stringify(port)} (expected a number 0..65535)`);
  }
  return Number(port);
}

const FORMS = 'expected tcp!HOST!PORT, HOST:PORT or unix!PATH';

/**
 * Parses `tcp!HOST!PORT`, `HOST:PORT`, `[IPV6]:PORT` or `unix!PATH`. An empty host or
 * `*` means every IPv4 interface (`0.0.0.0`); port 0 asks the system for a free port.
 * @throws NsError NS_ERR_INVALID_ARGUMENT naming the address and the problem.
 */
export function parseAddress(text: string): Address {
  if (typeof text !== 'string')
    throw new NsError('NS_ERR_INVALID_ARGUMENT', 'address is not a string');
  if (text.includes('\0')) throw bad(text, 'contains NUL');
  const bang = text.split('!');
  if (bang.length > 1) {
    if (bang[0] === 'unix') {
      const path = bang.slice(1).join('!');
      if (path === '') throw bad(text, 'empty unix socket path');
      if (Buffer.byteLength(path) > MAX_UNIX_PATH_BYTES)
        throw bad(text, `unix socket path longer than ${MAX_UNIX_PATH_BYTES} bytes`);
      return { kind: 'unix', path };
    }
    if (bang[0] === 'tcp' && bang.length === 3) {
      return {
        kind: 'tcp',
        host: checkHost(text, bang[1] as string),
        port: checkPort(text, bang[2] as string),
      };
    }
    if (bang[0] !== 'tcp') throw bad(text, `unknown network ${JSON.stringify(bang[0])}; ${FORMS}`);
    throw bad(text, FORMS);
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(text);
  if (m === null) throw bad(text, FORMS);
  const v6 = m[1];
  if (v6 !== undefined && isIP(v6) !== 6) throw bad(text, `bad IPv6 address ${JSON.stringify(v6)}`);
  return {
    kind: 'tcp',
    host: checkHost(text, v6 ?? m[2] ?? ''),
    port: checkPort(text, m[3] as string),
  };
}

/** The address as a dial string: `tcp!HOST!PORT` or `unix!PATH`. */
export function formatAddress(a: Address): string {
  return a.kind === 'unix' ? `unix!${a.path}` : `tcp!${a.host}!${a.port}`;
}

/**
 * Whether only this machine can reach the address: a unix socket, `localhost`, an IPv4
 * address in 127.0.0.0/8, or `::1`.
 */
export function isLoopback(a: Address): boolean {
  if (a.kind === 'unix') return true;
  const h = a.host.toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** Whether a socket bound to `wild` also takes connections for `host` (`::` is dual-stack on Linux). */
function covers(wild: string, host: string): boolean {
  if (wild === '::') return true;
  return wild === '0.0.0.0' && isIP(host) !== 6;
}

/**
 * Whether two listeners on these addresses would fight for the same socket: the same
 * unix path, or the same TCP port on the same host or where either host is a wildcard.
 * Port 0 (any free port) never conflicts.
 */
export function addressesConflict(a: Address, b: Address): boolean {
  if (a.kind === 'unix') return b.kind === 'unix' && a.path === b.path;
  if (b.kind === 'unix') return false;
  if (a.port === 0 || b.port !== a.port) return false;
  const ha = a.host.toLowerCase();
  const hb = b.host.toLowerCase();
  return ha === hb || covers(ha, hb) || covers(hb, ha);
}
