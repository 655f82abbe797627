/**
 * 9P servers for the v9fs VM tests: Debian's diod (the reference, 9P2000.L only) and
 * ours (`capns 9p`, or `capns serve` with a manifest), each started as a real process on
 * 127.0.0.1 with its own port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..', '..');

/** A 9P server process under test. */
export interface NinepServerProcess {
  port: number;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Kills the process and waits for it to exit. Never throws. */
  stop(): Promise<void>;
}

/** Path of an executable from the diod package (diod, diodcat, ...), or undefined. */
export function findDiod(name = 'diod'): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin']) {
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Reads one file from a 9P2000.L server with diod's diodcat (a second, independent
 * client). Throws with diodcat's message when it fails.
 */
export function diodcat(diodcatPath: string, port: number, aname: string, path: string): Buffer {
  const r = spawnSync(diodcatPath, ['-s', `127.0.0.1:${port}`, '-a', aname, '-t', '30', path], {
    maxBuffer: 256 << 20,
    timeout: 60_000,
  });
  if (r.status !== 0) {
    throw new Error(`diodcat ${path}: ${r.error?.message ?? r.stderr.toString().trim()}`);
  }
  return r.stdout;
}

/** A port that was free a moment ago (diod cannot report the port it bound). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res, rej) => {
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', res);
  });
  const addr = srv.address();
  await new Promise<void>((res) => srv.close(() => res()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

async function waitForListener(
  port: number,
  child: ChildProcess,
  out: () => string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${out()}`);
    const ok = await new Promise<boolean>((res) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`server did not listen on ${port}: ${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function wrap(child: ChildProcess, port: number, out: () => string): NinepServerProcess {
  return {
    port,
    output: out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((res) => child.once('exit', () => res()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function collect(child: ChildProcess): () => string {
  let text = '';
  const add = (b: Buffer): void => {
    if (text.length < 1 << 20) text += b.toString('utf8');
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

/**
 * Starts diod exporting `dir` without authentication on 127.0.0.1. Clients attach with
 * aname = `dir`.
 */
export async function startDiod(diod: string, dir: string): Promise<NinepServerProcess> {
  const port = await freePort();
  const child = spawn(diod, ['-f', '-n', '-l', `127.0.0.1:${port}`, '-e', dir, '-L', 'stderr'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = collect(child);
  try {
    await waitForListener(port, child, out);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return wrap(child, port, out);
}

/**
 * `capns` from this checkout's sources (through tsx), not bin/capns.js: that one prefers
 * dist/, which is only as new as the last build.
 */
const capnsCommand = ['--import', 'tsx', join(repoRoot, 'src', 'cli', 'main.ts')];

/**
 * Whether this checkout's `capns` has the `9p` subcommand (asks `capns 9p --help`; a
 * second or two through tsx).
 */
export function capnsHas9p(): boolean {
  const r = spawnSync(process.execPath, [...capnsCommand, '9p', '--help'], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return r.status === 0 && r.stdout.includes('--listen');
}

/**
 * Starts `capns 9p --listen 127.0.0.1:0` from the sources with the given serving
 * arguments (e.g. ['--ram'] or ['--dir', path]) and learns its port from the first
 * `127.0.0.1:PORT` or `tcp!127.0.0.1!PORT` it prints.
 */
export async function startCapns9p(serveArgs: string[]): Promise<NinepServerProcess> {
  const child = spawn(
    process.execPath,
    [...capnsCommand, '9p', '--listen', '127.0.0.1:0', ...serveArgs],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = collect(child);
  const port = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`capns 9p printed no port: ${out()}`)), 20_000);
    const look = (): void => {
      const m = /127\.0\.0\.1(?::|!)(\d+)/.exec(out());
      if (m !== null && Number(m[1]) !== 0) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`capns 9p exited (${code}) before listening: ${out()}`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  await waitForListener(port, child, out);
  return wrap(child, port, out);
}

/** A `capns serve` process: its 9P listener's port (as {@link NinepServerProcess}) and RPC address. */
export interface CapnsServeProcess extends NinepServerProcess {
  /** The RPC listener, `tcp!127.0.0.1!PORT`. */
  rpc: string;
}

/**
 * Starts `capns serve --manifest FILE` from the sources with `manifest` (written to a
 * temporary folder, removed by stop()). The manifest must have one rpc and one 9p
 * listener, on 127.0.0.1 port 0; their addresses come from the lines serve prints
 * (`rpc    tcp!127.0.0.1!P`, `9p     tcp!127.0.0.1!P  (profile NAME)`).
 */
export async function startCapnsServe(manifest: string): Promise<CapnsServeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'capns-vm-serve-'));
  const file = join(dir, 'manifest.yaml');
  writeFileSync(file, manifest);
  const child = spawn(
    process.execPath,
    [...capnsCommand, 'serve', '--manifest', file, '--log-level', 'warn'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = collect(child);
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  let addrs: { rpc: string; ninep: number };
  try {
    addrs = await new Promise<{ rpc: string; ninep: number }>((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`capns serve printed no addresses: ${out()}`)),
        30_000,
      );
      const look = (): void => {
        const rpc = /^rpc\s+(tcp!127\.0\.0\.1!\d+)/m.exec(out());
        const ninep = /^9p\s+tcp!127\.0\.0\.1!(\d+)/m.exec(out());
        if (rpc !== null && ninep !== null) {
          clearTimeout(timer);
          res({ rpc: rpc[1]!, ninep: Number(ninep[1]) });
        }
      };
      child.stdout?.on('data', look);
      child.stderr?.on('data', look);
      child.once('exit', (code) => {
        clearTimeout(timer);
        rej(new Error(`capns serve exited (${code}) before listening: ${out()}`));
      });
    });
    await waitForListener(addrs.ninep, child, out);
  } catch (err) {
    child.kill('SIGKILL');
    cleanup();
    throw err;
  }
  const w = wrap(child, addrs.ninep, out);
  return {
    ...w,
    rpc: addrs.rpc,
    stop: async () => {
      await w.stop();
      cleanup();
    },
  };
}
