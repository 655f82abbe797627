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
 * This module is loaded by every command, so it imports nothing heavy: the client
 * library (the RPC stack, capnp-es, the generated schema code) is loaded by
 * `withClient` when a command runs, not when `capns` starts (docs/cli.md, start-up).
 *
 * Not a command itself (no `register`).
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import type { Command } from 'commander';
import type { CapnsClient } from '../../client/index.js';
import { NsError } from '../../errors.js';
import { DEFAULT_PORTS } from '../../manifest/default-ports.js';
import { RpcError } from '../../rpc/failure.js';

/** The default server: the default manifest's RPC listener. */
export const DEFAULT_SERVER = `tcp!127.0.0.1!${DEFAULT_PORTS.rpc}`;

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

/** The `code` of a usage error in --json output (the others are NS_ERR_* and RPC_*). */
export const USAGE_CODE = 'CLI_USAGE';

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
 * The server a command talks to without --server: `CAPNS_SERVER`, else the default
 * manifest's RPC listener on the port `CAPNS_RPC_PORT` moves it to (as `capns serve`
 * reads it), else tcp!127.0.0.1!5640.
 */
export function defaultServer(env: NodeJS.ProcessEnv): string {
  const server = env['CAPNS_SERVER'] ?? '';
  if (server !== '') return server;
  const port = env['CAPNS_RPC_PORT'] ?? '';
  return port !== '' ? `tcp!127.0.0.1!${port}` : DEFAULT_SERVER;
}

/** Adds --server, --token, --json, the TLS options and --timeout, and the exit-status help text. */
export function remoteCommand(cmd: Command, jsonHelp = 'print the result as one line of JSON (errors too, on stderr)'): Command {
  return cmd
    .option('--server <addr>', `the capns serve RPC address: tcp!HOST!PORT, HOST:PORT or unix!PATH (default $CAPNS_SERVER, else ${DEFAULT_SERVER} or the port $CAPNS_RPC_PORT)`)
    .option('--token <token>', 'the bearer token that selects your profile (default $CAPNS_TOKEN; loopback clients of the default manifest need none)')
    .option('--json', jsonHelp)
    .option('--tls', 'connect with TLS, trusting the system CAs (implied by --ca and --cert)')
    .option('--ca <file>', 'with TLS: trust this CA certificate (PEM) for the server')
    .option('--cert <file>', 'with TLS: present this client certificate (PEM; needs --key)')
    .option('--key <file>', "with TLS: the client certificate's private key (PEM)")
    .option('--timeout <ms>', 'how long connecting and authenticating may take', '30000')
    .addHelpText('after', '\nExit status: 0 done, 1 expected failure (not found, permission, ...), 2 usage, 3 server unreachable or connection lost.');
}

/** The TLS options the flags ask for, or undefined for plain TCP. @throws UsageError */
export function tlsOptions(opts: RemoteOptions): tls.ConnectionOptions | undefined {
  if (opts.tls !== true && opts.ca === undefined && opts.cert === undefined && opts.key === undefined) return undefined;
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new UsageError('--cert and --key go together');
  const read = (flag: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new UsageError(`${flag}: cannot read '${file}': ${(e as Error).message}`);
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
 * exit status, printing any error as `capns NAME: message` (with --json, as one JSON
 * line on stderr).
 */
export async function withClient(name: string, opts: RemoteOptions, io: Io, fn: (c: CapnsClient) => Promise<number | void>): Promise<number> {
  const server = opts.server ?? defaultServer(io.env);
  const token = opts.token ?? io.env['CAPNS_TOKEN'] ?? '';
  let client: CapnsClient | undefined;
  try {
    const tls = tlsOptions(opts);
    const timeoutMs = Number(opts.timeout ?? 30000);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout ${opts.timeout}: expected a positive number of milliseconds`);
    // Loaded here, not at start-up: `capns ls --help` and a usage error need none of it.
    const { connect } = await import('../../client/index.js');
    try {
      client = await connect(server, { token, timeoutMs, ...(tls !== undefined && { tls }) });
    } catch (e) {
      if (e instanceof NsError && e.code === 'NS_ERR_INVALID_ARGUMENT') throw new UsageError(`--server: ${e.message}`);
      throw e;
    }
    return (await fn(client)) ?? EXIT_OK;
  } catch (e) {
    return report(name, server, e, io, opts.json === true, connectionUp(client));
  } finally {
    await client?.close();
  }
}

/**
 * Whether the client's own connection to the server is still up. A `disconnected`
 * failure while it is up was reported by the server about something behind it (an
 * import that is down): it must not blame the server.
 */
function connectionUp(client: CapnsClient | undefined): boolean {
  return client !== undefined && (client.connection === null || !client.connection.closed);
}

/** One error as the CLI prints it. */
export interface CliError {
  readonly message: string;
  /** NS_ERR_* (expected conditions), RPC_* (exception types), CLI_USAGE. */
  readonly code: string;
  readonly status: number;
  /** The path it is about, for commands that take several. */
  readonly path?: string;
}

/**
 * Prints one error: `capns NAME: message (CODE)` for expected conditions, `capns NAME:
 * message` otherwise; with `json`, one line `{"error": {command, code, message, status,
 * path?}}`. Both on stderr.
 */
export function printError(io: Io, name: string, json: boolean, e: CliError): void {
  if (json) {
    io.err(JSON.stringify({ error: { command: name, code: e.code, message: e.message, status: e.status, ...(e.path !== undefined && { path: e.path }) } }) + '\n');
    return;
  }
  const code = e.code.startsWith('NS_ERR_') ? ` (${e.code})` : '';
  io.err(`capns ${name}: ${e.message}${code}\n`);
}

/**
 * What `e` is as the CLI reports it, or undefined for what is not ours to explain (a
 * bug: rethrown). `connectionUp`: the connection to `server` was still up when `e` came;
 * a `disconnected` failure is then the server's report about a hop behind it (an import
 * that is down, whose message names it), with status 1 — not "lost the connection to
 * `server`" with status 3.
 */
export function classify(server: string, e: unknown, connectionUp = false): CliError | undefined {
  if (e instanceof UsageError) return { message: e.message, code: USAGE_CODE, status: EXIT_USAGE };
  if (e instanceof NsError) return { message: e.message, code: e.code, status: EXIT_FAILURE };
  if (e instanceof RpcError) {
    const code = `RPC_${e.type.toUpperCase()}`;
    if (e.type === 'disconnected' && connectionUp) return { message: e.message, code, status: EXIT_FAILURE };
    if (e.type === 'disconnected') {
      // The client library's own messages name the server already ("cannot connect to
      // ...", "no answer from ...", "... is an HTTP server, not ...").
      const own = e.message.startsWith('cannot connect') || e.message.startsWith('no answer') || e.message.startsWith(server);
      const hint = own && e.message.startsWith(`${server} is a TLS server`) ? ' (connect with --tls, or --ca FILE)' : '';
      return { message: own ? `${e.message}${hint}` : `lost the connection to ${server}: ${e.message}`, code, status: EXIT_UNREACHABLE };
    }
    return { message: `the server failed the call (${e.type}): ${e.message}`, code, status: EXIT_FAILURE };
  }
  return undefined;
}

/** Prints `e` and returns its exit status. Rethrows what is not ours to explain (bugs). */
export function report(name: string, server: string, e: unknown, io: Io, json = false, connectionUp = false): number {
  const c = classify(server, e, connectionUp);
  if (c === undefined) throw e;
  printError(io, name, json, c);
  return c.status;
}

/**
 * Runs `fn` for each path in order, carrying on past a path that fails as Unix and Plan 9
 * tools do: its error is printed (naming it) and the result is 1 at the end. A usage
 * error or a lost connection stops at once (thrown to `withClient`). Returns the
 * results, undefined where a path failed, and the errors by path.
 */
export async function eachPath<T>(
  name: string,
  paths: readonly string[],
  c: CapnsClient,
  io: Io,
  opts: RemoteOptions,
  fn: (path: string) => Promise<T>,
): Promise<{ results: Array<T | undefined>; errors: Map<number, CliError>; status: number }> {
  const results: Array<T | undefined> = [];
  const errors = new Map<number, CliError>();
  for (const [i, path] of paths.entries()) {
    try {
      results.push(await fn(path));
    } catch (e) {
      const up = connectionUp(c);
      const what = classify(opts.server ?? defaultServer(io.env), e, up);
      if (what === undefined || what.status === EXIT_USAGE || what.status === EXIT_UNREACHABLE) throw e;
      const withPath = { ...what, path };
      printError(io, name, opts.json === true, withPath);
      errors.set(i, withPath);
      results.push(undefined);
    }
  }
  return { results, errors, status: errors.size > 0 ? EXIT_FAILURE : EXIT_OK };
}

/**
 * Prints a JSON value: one line with `compact` (--json), else indented. 64-bit integers
 * (bigints) print as decimal strings; interface ids are formatted by the caller (`hexId`).
 */
export function printJson(io: Io, v: unknown, compact: boolean): void {
  io.out(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), compact ? undefined : 2) + '\n');
}

/** An interface id as capns prints it everywhere: `0x` and 16 hex digits. */
export function hexId(id: bigint): string {
  return '0x' + id.toString(16).padStart(16, '0');
}
