/**
 * Test support: a real `capns serve` process from the sources, on port 0, with a
 * manifest written to a temporary folder. Used by the client library, CLI and example
 * tests.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { defaultManifestText } from '../../src/manifest/default.js';

export const root = resolve(import.meta.dirname, '..', '..');
/** tsx's loader, as a URL `node --import` accepts. */
export const tsx = import.meta.resolve('tsx');

/** A running server. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** The RPC listener's address (tcp!127.0.0.1!PORT). */
  readonly rpc: string;
  /** The temporary folder (the manifest, the /data folder of the default). */
  readonly dir: string;
  /** What it has printed so far, stdout then stderr (its log is on stderr). */
  readonly output: () => string;
}

export interface ServeOptions {
  /** Node flags before the script (as bin/capns.js's first line gives them, e.g. --expose-gc). */
  readonly nodeFlags?: readonly string[];
  /** --log-level (default warn). */
  readonly logLevel?: string;
}

/**
 * A manifest: the default one (ram /tmp, host /data, /svc/clock; loopback without a
 * token) on port 0, plus a `token` profile with the same namespace and an echo-less
 * admin view, unless `text` is given.
 */
export function testManifest(dir: string): string {
  return defaultManifestText({ dataDir: join(dir, 'data'), ports: { rpc: 0, '9p': 0, http: 0 } })
    .replace(/\n {2}- \{ protocol: 9p.*\n/, '\n')
    .replace(/ {2}- \{ protocol: http.*\n/, '')
    .replace(
      'profiles:\n',
      `profiles:
  alice:
    auth: { tokens: [alice-secret] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: clock, at: /svc/clock }
`,
    );
}

/** Starts `capns serve` with `manifest` (default: testManifest) and stops it in t.after(). */
export async function startServe(t: TestContext, manifest?: (dir: string) => string, options: ServeOptions = {}): Promise<ServeProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'capns-client-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'm.yaml'), (manifest ?? testManifest)(dir));
  const args = [...(options.nodeFlags ?? []), '--import', tsx, join(root, 'src/cli/main.ts'), 'serve', '--manifest', join(dir, 'm.yaml'), '--log-level', options.logLevel ?? 'warn'];
  const child = spawn(process.execPath, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const rpc = await new Promise<string | undefined>((ready) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^rpc\s+(\S+)/m.exec(out);
      if (m !== null) ready(m[1]);
    });
    void exited.then(() => ready(undefined));
  });
  assert.ok(rpc !== undefined, `capns serve did not start: ${out}\n${err}`);
  return { child, rpc, dir, output: () => out + err };
}
