/**
 * A TCP relay for fault and latency injection between two hosts of a test (STYLE 7:
 * fault injection happens in the transport): delays every chunk by `delayMs` each way,
 * and `freeze()` stops forwarding without closing anything (a dead peer that sends no
 * FIN); `cut()` destroys every connection.
 */
import net from 'node:net';

export class Relay {
  readonly #server: net.Server;
  readonly #socks = new Set<net.Socket>();
  #frozen = false;
  address = '';

  private constructor(
    readonly target: { host: string; port: number },
    readonly delayMs: number,
  ) {
    this.#server = net.createServer((client) => this.#pair(client));
  }

  static async start(target: string, delayMs = 0): Promise<Relay> {
    const m = /^tcp!(.+)!(\d+)$/.exec(target) ?? /^(.+):(\d+)$/.exec(target);
    if (m === null) throw new Error(`relay: bad target ${target}`);
    const r = new Relay({ host: m[1]!, port: Number(m[2]) }, delayMs);
    await new Promise<void>((res) => r.#server.listen(0, '127.0.0.1', res));
    r.address = `tcp!127.0.0.1!${(r.#server.address() as net.AddressInfo).port}`;
    return r;
  }

  #pair(client: net.Socket): void {
    const upstream = net.connect(this.target.port, this.target.host);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      this.#socks.add(s);
      s.on('close', () => this.#socks.delete(s));
      s.on('error', () => {});
    }
    const pipe = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk) => {
        if (this.#frozen) return;
        if (this.delayMs === 0) to.write(chunk);
        else setTimeout(() => !this.#frozen && !to.destroyed && to.write(chunk), this.delayMs);
      });
      from.on('close', () => {
        if (!this.#frozen) setTimeout(() => to.destroy(), this.delayMs);
      });
    };
    pipe(client, upstream);
    pipe(upstream, client);
  }

  /** Stops forwarding in both directions; sockets stay open (no FIN, no RST). */
  freeze(): void {
    this.#frozen = true;
  }

  thaw(): void {
    this.#frozen = false;
  }

  /** Destroys every relayed connection (the relay keeps listening). */
  cut(): void {
    for (const s of this.#socks) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
