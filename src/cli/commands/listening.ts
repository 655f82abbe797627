/**
 * The one form of the "listening on" lines that `capns serve`, `capns 9p`, `capns export`
 * and `capns import` print on stdout when they are up, one per listener:
 *
 *   rpc    tcp!127.0.0.1!5640
 *   9p     tcp!127.0.0.1!5641  (profile local)
 *   http   tcp!127.0.0.1!5642  (http://127.0.0.1:5642/)
 *   export tcp!127.0.0.1!5643
 *
 * The protocol, the address as `--server`/`--listen` take it, and in parentheses what
 * else helps: the profile the listener serves, the web page's URL.
 */

/** A listener as the lines show it. */
export interface ListeningOn {
  readonly protocol: string;
  readonly address: string;
  readonly profile?: string;
}

/** The URL of an http listener at `address` (tcp!HOST!PORT), or undefined (a unix socket). */
export function httpUrl(address: string): string | undefined {
  const m = /^tcp!(.+)!(\d+)$/.exec(address);
  if (m === null) return undefined;
  const host = m[1]!.includes(':') ? `[${m[1]}]` : m[1]!;
  return `http://${host}:${m[2]}/`;
}

/** One line, with its newline. */
export function listeningLine(l: ListeningOn): string {
  const notes = [
    ...(l.profile !== undefined ? [`profile ${l.profile}`] : []),
    ...(l.protocol === 'http' && httpUrl(l.address) !== undefined ? [httpUrl(l.address)!] : []),
  ];
  return `${l.protocol.padEnd(6)} ${l.address}${notes.length > 0 ? `  (${notes.join(', ')})` : ''}\n`;
}
