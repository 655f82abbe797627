/**
 * Test harness for the 9P bridge: a real MemFileServer behind a thin FileServer wrapper
 * that counts live Files (the leak check: every File the bridge got must be clunked) and
 * can hold reads at a gate (a slow backend that honours AbortSignal, as a remote file
 * server does), and a NinepServer on 127.0.0.1 port 0.
 */
import type { TestContext } from 'node:test';
import type {
  File,
  FileServer,
  OpenMode,
  StatChange,
} from '../../../src/fileserver/file-server.js';
import { newMemFileServer, type MemFileServer } from '../../../src/fileserver/mem-file-server.js';
import {
  NinepServer,
  type NinepAddress,
  type NinepServerOptions,
} from '../../../src/fileserver/9p/server.js';
import { NinepClient } from '../../support/ninep-client.js';
import type { Dialect } from '../../../src/fileserver/9p/constants.js';

/** A read held at the gate until released. */
export interface HeldRead {
  release: () => void;
}

/** Counts Files and optionally holds reads; everything else goes to the real server. */
export class TrackingFileServer implements FileServer {
  live = 0;
  calls = 0;
  /** wstat calls that change nothing: wstat(5)'s "commit to stable storage". */
  syncs = 0;
  /** When set, every read waits here first; resolve to let it go. */
  gate: ((signal: AbortSignal | undefined) => Promise<void>) | null = null;

  constructor(readonly inner: FileServer) {}

  async attach(
    aname: string,
  ): Promise<{ root: File; qid: { type: number; version: number; path: bigint } }> {
    this.calls++;
    const r = await this.inner.attach(aname);
    return { root: this.wrap(r.root), qid: r.qid };
  }

  wrap(file: File): File {
    this.live++;
    let closed = false;
    const close = (): void => {
      if (!closed) {
        closed = true;
        this.live--;
      }
    };
    const wrapped: File = {
      walk: async (names: readonly string[]) => {
        this.calls++;
        const r = await file.walk(names);
        return r.file === undefined ? r : { qids: r.qids, file: this.wrap(r.file) };
      },
      open: (mode: OpenMode) => (this.calls++, file.open(mode)),
      create: async (name: string, perm: number, mode: OpenMode) => {
        this.calls++;
        const r = await file.create(name, perm, mode);
        return { ...r, file: this.wrap(r.file) };
      },
      read: async (offset: bigint, count: number, signal?: AbortSignal) => {
        this.calls++;
        if (this.gate !== null) await this.gate(signal);
        return file.read(offset, count, signal);
      },
      write: (offset: bigint, data: Uint8Array, signal?: AbortSignal) => (
        this.calls++,
        file.write(offset, data, signal)
      ),
      readDir: (offset: number, count: number) => (this.calls++, file.readDir(offset, count)),
      stat: () => (this.calls++, file.stat()),
      wstat: (change: StatChange) => {
        this.calls++;
        if (Object.keys(change).length === 0) this.syncs++;
        return file.wstat(change);
      },
      remove: async () => {
        this.calls++;
        close();
        return file.remove();
      },
      clunk: async () => {
        close();
        return file.clunk();
      },
      [Symbol.asyncDispose]: () => wrapped.clunk(),
    };
    return wrapped;
  }
}

/**
 * A gate for reads: each read waits until released, or rejects with the signal's reason
 * when its request is flushed.
 */
export function readGate(fs: TrackingFileServer): {
  held: HeldRead[];
  waiting: () => Promise<void>;
} {
  const held: HeldRead[] = [];
  let notify: (() => void) | null = null;
  fs.gate = (signal) =>
    new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      held.push({
        release: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      });
      notify?.();
    });
  return {
    held,
    /** Resolves when one more read is held. */
    waiting: () => new Promise<void>((resolve) => (notify = resolve)),
  };
}

export interface Harness {
  mem: MemFileServer;
  fs: TrackingFileServer;
  server: NinepServer;
  address: NinepAddress;
  logs: string[];
  /** A client connected and versioned; closed after the test. */
  client(version?: Dialect, msize?: number): Promise<NinepClient>;
  /** Resolves once every connection is gone and every File is closed (the leak check). */
  settled(): Promise<void>;
}

/** A server over a fresh MemFileServer, closed (with a leak check) after the test. */
export async function startServer(
  t: TestContext,
  options: NinepServerOptions = {},
): Promise<Harness> {
  const mem = newMemFileServer();
  const fs = new TrackingFileServer(mem);
  const logs: string[] = [];
  const server = new NinepServer(fs, { log: (l) => logs.push(l), ...options });
  const address = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  const clients: NinepClient[] = [];
  const h: Harness = {
    mem,
    fs,
    server,
    address,
    logs,
    async client(version: Dialect = '9P2000.L', msize = 65536 + 24) {
      const c = await NinepClient.open(address, version, msize);
      clients.push(c);
      return c;
    },
    async settled() {
      for (let i = 0; i < 200 && (server.connections > 0 || fs.live > 0); i++)
        await new Promise((r) => setTimeout(r, 5));
    },
  };
  t.after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await h.settled();
    await server.close();
    if (fs.live !== 0) throw new Error(`leak: ${fs.live} Files still open after the test`);
  });
  return h;
}
