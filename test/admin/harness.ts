/**
 * A real capns server (CapnsServer from a manifest) with an HTTP listener on 127.0.0.1
 * port 0 and an RPC one, for the admin tests. Closed in t.after().
 */
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { parseManifest } from '../../src/manifest/parse.js';

export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const GUEST_TOKEN = 'guest-token-0123456789abcdef';

/**
 * Two profiles: admin (a union at /tmp of two ram servers, tmp then cache, cache also
 * alone at /cache, the clock, the captable) and guest (the clock; loopback).
 */
export const MANIFEST = `version: 1
capabilities:
  tmp:   { type: ram }
  cache: { type: ram }
  clock: { type: demo.clock }
  table: { type: captable }
profiles:
  admin:
    auth: { tokens: ["${ADMIN_TOKEN}"] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: cache, at: /tmp, position: after }
      - { mount: cache, at: /cache, create: true }
      - { mount: clock, at: /svc/clock, require: Clock }
      - { mount: table, at: /svc/captable }
  guest:
    auth: { tokens: ["${GUEST_TOKEN}"], loopback: true }
    namespace:
      - { mount: clock, at: /svc/clock }
listeners:
  - { protocol: http, address: "tcp!127.0.0.1!0" }
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;

export interface Running {
  readonly server: CapnsServer;
  /** http://127.0.0.1:PORT */
  readonly base: string;
  /** tcp!127.0.0.1!PORT */
  readonly rpc: string;
}

/** Starts the server of `manifest`; stops it when the test ends. */
export async function startServer(t: TestContext, manifest = MANIFEST): Promise<Running> {
  const server = await startCapnsServer({ manifest: parseManifest(manifest, { file: 'test.yaml', env: {} }), logger: pino({ level: 'silent' }), drainMs: 1000 });
  t.after(() => server.close());
  const http = server.addresses.find((a) => a.protocol === 'http');
  const rpc = server.addresses.find((a) => a.protocol === 'rpc');
  if (http === undefined || rpc === undefined) throw new Error(`listeners: ${JSON.stringify(server.addresses)}`);
  const [, host, port] = http.address.split('!');
  return { server, base: `http://${host}:${port}`, rpc: rpc.address };
}

/** fetch with the admin token and a JSON body, returning status and parsed JSON. */
// Tests read fields of many response shapes; a type per route would add nothing.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function api(base: string, method: string, path: string, opts: { token?: string | null; body?: unknown } = {}): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? ADMIN_TOKEN : opts.token;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }) });
  const text = await r.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: r.status, json };
}
