/**
 * A raw rpc.capnp peer for hostile-peer tests and fuzzing: it writes frames built with
 * capnp-es's generated rpc.capnp classes (independent of our hand-written envelope
 * encoder) or arbitrary bytes, and reads back whatever the server answers.
 */
import net from 'node:net';
import * as $ from 'capnp-es';
import { Message as RpcMessage } from 'capnp-es/capnp/rpc';
import { type Frame, FrameReader } from '../../src/rpc/index.js';
import { encodeFrame } from '../../src/rpc/frame.js';

export { RpcMessage };

/** Frames a message built by `build` (capnp-es accessors). */
export function buildFrame(build: (m: RpcMessage) => void): Uint8Array {
  const msg = new $.Message();
  build(msg.initRoot(RpcMessage));
  return new Uint8Array(msg.toArrayBuffer());
}

/** A params struct class of generated code, as pipelinedCall takes it. */
interface ParamsClass<T> {
  readonly _capnp: { readonly size: $.ObjectSize };
  new (segment: $.Struct["segment"], byteOffset: number): T;
}

/**
 * Builds into `o` a Call (question `questionId`) of `interfaceId`.`methodId` pipelined on
 * the bootstrap's answer (question 0): empty params, or a `Params` struct set by `fill`.
 */
export function pipelinedCall<T>(o: RpcMessage, questionId: number, interfaceId: bigint, methodId: number, Params?: ParamsClass<T>, fill?: (p: T) => void): void {
  const c = o._initCall();
  c.questionId = questionId;
  c.interfaceId = interfaceId;
  c.methodId = methodId;
  c._initTarget()._initPromisedAnswer().questionId = 0;
  const content = c._initParams().content;
  if (Params === undefined) return;
  $.utils.initStruct(Params._capnp.size, content);
  fill?.(new Params(content.segment, content.byteOffset));
}

/**
 * Builds into `o` the Return of a Bootstrap (question `questionId`): the peer's export 0,
 * as a fake server answers it.
 */
export function bootstrapReturn(o: RpcMessage, questionId: number): void {
  const r = o._initReturn();
  r.answerId = questionId;
  const pl = r._initResults();
  pl._initCapTable(1).get(0).senderHosted = 0;
  $.utils.setInterfacePointer(0, pl.content);
}

/**
 * A fake server on 127.0.0.1, port 0: `onFrame` is told each frame a connection sends,
 * with the socket to answer on. `close` cuts every connection and stops listening.
 */
export async function fakeServer(onFrame: (m: RpcMessage, sock: net.Socket) => void): Promise<{ address: string; close: () => Promise<void> }> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    socks.add(sock);
    const reader = new FrameReader({ maxMessageBytes: 1 << 20, maxSegments: 16 });
    sock.on('error', () => {});
    sock.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) onFrame(readFrame(f), sock);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const x of socks) x.destroy();
        server.close(() => r());
      }),
  };
}

/** Reads a received frame with capnp-es. */
export function readFrame(f: Frame): RpcMessage {
  const bytes = encodeFrame(f.segments.map((s) => new Uint8Array(s)));
  return new $.Message(bytes.buffer as ArrayBuffer, false).getRoot(RpcMessage);
}

export class RawPeer {
  readonly sock: net.Socket;
  readonly #reader = new FrameReader({ maxMessageBytes: 1 << 26, maxSegments: 512 });
  readonly #frames: Frame[] = [];
  #waiter: (() => void) | null = null;
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (c: Buffer) => {
      try {
        this.#frames.push(...this.#reader.push(c));
      } catch {
        sock.destroy();
      }
      this.#waiter?.();
    });
    sock.on('error', () => {});
    this.closedPromise = new Promise((r) =>
      sock.on('close', () => {
        this.closed = true;
        this.#waiter?.();
        r();
      }),
    );
  }

  static async connect(address: string): Promise<RawPeer> {
    const m = /^tcp!(.*)!(\d+)$/.exec(address);
    if (m === null) throw new Error(`raw peer wants tcp!HOST!PORT, got ${address}`);
    const sock = net.connect(Number(m[2]), m[1]);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    // Small frames one after another (a Finish, then the next Call): without this, Nagle
    // and the peer's delayed ACK add 40 ms to each.
    sock.setNoDelay(true);
    return new RawPeer(sock);
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.sock.write(bytes);
  }

  sendMsg(build: (m: RpcMessage) => void): void {
    this.send(buildFrame(build));
  }

  /** The next frame from the server, or null if the connection closed (or timeout). */
  async next(ms = 2000): Promise<RpcMessage | null> {
    const t0 = Date.now();
    while (this.#frames.length === 0) {
      if (this.closed || Date.now() - t0 > ms) return null;
      await new Promise<void>((r) => {
        this.#waiter = r;
        setTimeout(r, 20);
      });
      this.#waiter = null;
    }
    return readFrame(this.#frames.shift()!);
  }

  /** Frames received until the connection closes (or `ms` pass). */
  async drain(ms = 2000): Promise<RpcMessage[]> {
    const out: RpcMessage[] = [];
    for (;;) {
      const m = await this.next(ms);
      if (m === null) return out;
      out.push(m);
    }
  }

  close(): void {
    this.sock.destroy();
  }
}
