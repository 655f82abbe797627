/**
 * Test harness for ours<->ours RPC tests: a real listener on 127.0.0.1 port 0 (or a unix
 * socket, or TLS) serving TestImpl, a client connection, and leak checks in t.after().
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type tls from 'node:tls';
import { Test, type Test$Client } from '../fixtures/rpc/gen/test.js';
import { type RpcConnection, type RpcLimits, type RpcListener, connect, listen, release } from '../../src/rpc/index.js';
import { ServerState, serveTest } from './test-impl.js';

export interface Setup {
  state: ServerState;
  listener: RpcListener;
  conn: RpcConnection;
  test: Test$Client & Disposable;
  /** The server side of `conn` (once it is accepted). */
  serverConn(): RpcConnection;
}

export interface SetupOptions {
  transport?: 'tcp' | 'unix' | 'tls';
  tls?: { server: tls.TlsOptions; client: tls.ConnectionOptions };
  serverLimits?: Partial<RpcLimits>;
  clientLimits?: Partial<RpcLimits>;
  /** Skip the leak check (tests that break the connection on purpose). */
  noLeakCheck?: boolean;
}

/** Waits until `f()` is true (polling; for effects that cross the wire, like Release). */
export async function until(f: () => boolean, what: string, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function setup(t: TestContext, opts: SetupOptions = {}): Promise<Setup> {
  const state = new ServerState();
  let addr = '127.0.0.1:0';
  let dir: string | null = null;
  if (opts.transport === 'unix') {
    dir = mkdtempSync(join(tmpdir(), 'capns-rpc-'));
    addr = `unix!${join(dir, 'sock')}`;
  }
  const serverConns: RpcConnection[] = [];
  const listener = await listen(addr, {
    bootstrap: () => serveTest(state),
    ...(opts.tls ? { tls: opts.tls.server } : {}),
    ...(opts.serverLimits ? { limits: opts.serverLimits } : {}),
    onConnection: (c) => serverConns.push(c),
  });
  const conn = await connect(listener.address, {
    ...(opts.tls ? { tls: opts.tls.client } : {}),
    ...(opts.clientLimits ? { limits: opts.clientLimits } : {}),
  });
  const test = conn.bootstrap(Test);
  t.after(async () => {
    release(test);
    if (!opts.noLeakCheck && !conn.closed) {
      // Leak check: after releasing everything, both sides' tables are back to empty
      // and no Counter is alive on the server.
      await until(() => {
        const s = serverConns[0]?.stats();
        const c = conn.stats();
        return c.questions === 0 && c.imports === 0 && c.exports === 0 && c.embargoes === 0 &&
          s !== undefined && s.exports === 0 && s.imports === 0 && s.answers === 0 && s.questions === 0;
      }, 'tables back to baseline').catch((e: unknown) => {
        throw new Error(`${(e as Error).message}: client ${JSON.stringify(conn.stats())} server ${JSON.stringify(serverConns[0]?.stats())}`);
      });
      await until(() => state.liveCounters === 0, 'server Counters disposed');
    }
    await conn.close();
    await listener.close();
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  });
  return {
    state,
    listener,
    conn,
    test,
    serverConn: () => {
      const c = serverConns[0];
      assert.ok(c, 'server connection accepted');
      return c;
    },
  };
}
