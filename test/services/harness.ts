/**
 * Test support for services: a `capns serve` in this process from a manifest text, and a
 * client's namespace on it (real sockets on 127.0.0.1, port 0).
 */
import assert from 'node:assert/strict';
import { pino, type Logger } from 'pino';
import type { TestContext } from 'node:test';
import { connect as connectClient, type CapnsClient } from '../../src/client/index.js';
import { parseManifest } from '../../src/manifest/index.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';

/** Log lines a server wrote, as objects (for tests that check what it logs). */
export class LogLines {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly logger: Logger;
  constructor() {
    this.logger = pino(
      { level: 'debug' },
      {
        write: (s: string) => {
          for (const l of s.split('\n')) if (l !== '') this.lines.push(JSON.parse(l) as Record<string, unknown>);
        },
      },
    );
  }
  /** Lines whose `msg` matches. */
  find(msg: RegExp): Array<Record<string, unknown>> {
    return this.lines.filter((l) => typeof l['msg'] === 'string' && msg.test(l['msg']));
  }
}

/** Starts a server from `yaml` (base folder `baseDir` for host paths); destroyed after the test. */
export async function serveManifest(t: TestContext, yaml: string, opts: { baseDir?: string; log?: LogLines } = {}): Promise<CapnsServer> {
  const manifest = parseManifest(yaml, { file: 'm.yaml', env: {}, ...(opts.baseDir !== undefined && { baseDir: opts.baseDir }) });
  const s = await startCapnsServer({ manifest, logger: opts.log?.logger ?? pino({ level: 'silent' }), drainMs: 100 });
  t.after(() => s.close());
  return s;
}

/** The RPC listener's address. */
export function rpcAddress(s: CapnsServer): string {
  const a = s.addresses.find((x) => x.protocol === 'rpc');
  assert.ok(a !== undefined, 'the manifest has no rpc listener');
  return a.address;
}

/** A client of `s` (loopback profile unless `token`), closed after the test. */
export async function clientOf(t: TestContext, s: CapnsServer, token?: string): Promise<CapnsClient> {
  const c = await connectClient(rpcAddress(s), token === undefined ? {} : { token });
  t.after(() => c.close());
  return c;
}

/** Waits until `f()` is true (polling every 20 ms), or fails after `ms`. */
export async function until(f: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) assert.fail(`${what}: not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
