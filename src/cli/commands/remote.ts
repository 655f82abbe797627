/**
 * What the commands that work against a running `capns serve` share: the --server,
 * --token and --json options (with CAPNS_SERVER and CAPNS_TOKEN), connecting, output,
 * and the exit status (docs/cli.md):
 *
 *   0  done
 *   1  an expected failure (not found, permission, exists, ...) or a call the server
 *      failed (an import behind it that is down, too); the message is printed
 *   2  usage: bad arguments, options, JSON, or an unknown method
 *   3  the server cannot be reached, or the connection was lost
 *
 * Not a command itself (no `register`).
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import type { Command } from 'commander';
import { CapnsClient, connect } from '../../client/index.js';
import { NsError } from '../../errors.js';
import { DEFAULT_PORTS } from '../../manifest/default.js';
import { RpcError } from '../../rpc/index.js';

/** The default server: the default manifest's RPC listener. */
export const DEFAULT_SERVER = `tcp!127.0.0.1!${DEFAULT_PORTS.rpc}`;

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

/** Options every remote command has. */
export interface RemoteOptions {
  server?: string;
  token?: string;
  json?: boolean;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  timeout?: string;
}

/** A usage error found by a command (bad JSON, conflicting flags): exit status 2. */
export class UsageError extends Error {
  override get name(): string {
    return 'UsageError';
  }
}

/** Where a command writes; the composition root passes the process's streams. */
export interface Io {
  readonly out: (s: string | Uint8Array) => void;
  readonly err: (s: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/** The process's streams and environment. */
export function processIo(): Io {
  return { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env };
}

/**
 * Adds --server, --token and --json, the exit-status help text, and makes commander's
 * own usage errors exit with 2 (it uses 1).
 */
export function remoteCommand(cmd: Command, jsonHelp = 'print the result as JSON'): Command {
  return cmd
    .option('--server <addr>', `the capns serve RPC address: tcp!HOST!PORT, HOST:PORT or unix!PATH (default $CAPNS_SERVER, else ${DEFAULT_SERVER})`)
    .option('--token <token>', 'the bearer token that selects your profile (default $CAPNS_TOKEN; loopback clients of the default manifest need none)')
    .option('--json', jsonHelp)
    .option('--tls', 'connect with TLS, trusting the system CAs (implied by --ca and --cert)')
    .option('--ca <file>', 'with TLS: trust this CA certificate (PEM) for the server')
    .option('--cert <file>', 'with TLS: present this client certificate (PEM; needs --key)')
    .option('--key <file>', 'with TLS: the client certificate\'s private key (PEM)')
    .option('--timeout <ms>', 'how long connecting and authenticating may take', '30000')
    .addHelpText('after', '\nExit status: 0 done, 1 expected failure (not found, permission, ...), 2 usage, 3 server unreachable or connection lost.')
    .exitOverride(exitUsage);
}

/** For `Command.exitOverride`: commander's own usage errors exit 2 (it uses 1); --help and --version 0. */
export function exitUsage(e: { exitCode: number }): never {
  process.exit(e.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
}

/** Whether the user asked for a server (an option or CAPNS_SERVER): `capns ns` uses this. */
export function wantsServer(opts: RemoteOptions, env: NodeJS.ProcessEnv): boolean {
  return opts.server !== undefined || opts.token !== undefined || (env['CAPNS_SERVER'] ?? '') !== '';
}

/** The TLS options the flags ask for, or undefined for plain TCP. @throws UsageError */
export function tlsOptions(opts: RemoteOptions): tls.ConnectionOptions | undefined {
  if (opts.tls !== true && opts.ca === undefined && opts.cert === undefined && opts.key === undefined) return undefined;
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new UsageError('--cert and --key go together');
  const read = (flag: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new UsageError(`${flag}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  return {
    ...(opts.ca !== undefined && { ca: read('--ca', opts.ca) }),
    ...(opts.cert !== undefined && { cert: read('--cert', opts.cert) }),
    ...(opts.key !== undefined && { key: read('--key', opts.key) }),
  };
}

/**
 * Connects as the options say, runs `fn` with the client, closes it, and returns the
 * exit status, printing any error as `capns NAME: message`.
 */
export async function withClient(name: string, opts: RemoteOptions, io: Io, fn: (c: CapnsClient) => Promise<number | void>): Promise<number> {
  const server = opts.server ?? (io.env['CAPNS_SERVER'] || DEFAULT_SERVER);
  const token = opts.token ?? io.env['CAPNS_TOKEN'] ?? '';
  let client: CapnsClient | undefined;
  try {
    try {
      const tls = tlsOptions(opts);
      const timeoutMs = Number(opts.timeout ?? 30000);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout ${opts.timeout}: expected a positive number of milliseconds`);
      client = await connect(server, { token, timeoutMs, ...(tls !== undefined && { tls }) });
    } catch (e) {
      if (e instanceof NsError && e.code === 'NS_ERR_INVALID_ARGUMENT') throw new UsageError(`--server: ${e.message}`);
      throw e;
    }
    return (await fn(client)) ?? EXIT_OK;
  } catch (e) {
    // A `disconnected` failure while our own connection is up was reported by the server
    // about something behind it (an import that is down): it must not blame the server.
    const up = client?.connection === null || client?.connection.closed === false;
    return report(name, server, e, io, up);
  } finally {
    await client?.close();
  }
}

/**
 * Prints `e` and returns its exit status. Rethrows what is not ours to explain (bugs).
 * `connectionUp`: the connection to `server` was still up when `e` came; a `disconnected`
 * failure is then the server's report about a hop behind it (an import that is down,
 * whose message names it), printed as it is with status 1 — not "lost the connection to
 * `server`" with status 3.
 */
export function report(name: string, server: string, e: unknown, io: Io, connectionUp = false): number {
  if (e instanceof UsageError) {
    io.err(`capns ${name}: ${e.message}\n`);
    return EXIT_USAGE;
  }
  if (e instanceof NsError) {
    io.err(`capns ${name}: ${e.message} (${e.code})\n`);
    return EXIT_FAILURE;
  }
  if (e instanceof RpcError) {
    if (e.type === 'disconnected' && connectionUp) {
      io.err(`capns ${name}: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    if (e.type === 'disconnected') {
      const what = e.message.startsWith('cannot connect') ? e.message : `lost the connection to ${server}: ${e.message}`;
      io.err(`capns ${name}: ${what}\n`);
      return EXIT_UNREACHABLE;
    }
    io.err(`capns ${name}: the server failed the call (${e.type}): ${e.message}\n`);
    return EXIT_FAILURE;
  }
  throw e;
}

/** Prints a JSON value (one line with --json, else indented). */
export function printJson(io: Io, v: unknown, compact: boolean): void {
  io.out(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), compact ? undefined : 2) + '\n');
}

/** An interface id as capns prints it. */
export function hexId(id: bigint): string {
  return '0x' + id.toString(16).padStart(16, '0');
}
