/**
 * `service`: a program capns starts and supervises, with its own namespace and no
 * ambient authority.
 *
 * The program gets one connection, inherited as file descriptor 3 (a socketpair: no
 * port, no token, nothing else to dial), and on it capns's `ServiceHost` as the
 * bootstrap capability: `namespace()` is its own namespace (the manifest's profile for
 * it, or an empty one), and `post(name, cap, interfaceId)` offers its capabilities under
 * the names the manifest declares in `offers`. Its environment is exactly the
 * manifest's `env`, PATH, and CAPNS_SERVICE (its name) and CAPNS_SERVICE_FD (3).
 *
 * - Ready: once every declared offer is posted. Until then calls to the offers wait (at
 *   most `readyTimeoutMs`); a program that has not offered everything by then is
 *   stopped and counts as a failed start.
 * - Restart (systemd's words): `no`, `on-failure` (default: a non-zero exit, a signal, a
 *   failed start), `always`; exit status 125 means "do not restart me" (s6). Delays start
 *   at `backoffMinMs` and double up to `backoffMaxMs`, back to the minimum once a start
 *   stayed ready for a second. More than `startLimit.burst` starts within
 *   `startLimit.intervalMs` and the service is `failed`: not restarted until a reload.
 * - While it is not running (crashed, backing off, failed), calls to its offers fail
 *   `disconnected` at once, naming the service and why ("service 'kv' exited with status
 *   1"); while it (re)starts they wait (bounded).
 * - stdout and stderr go to capns's log, line by line, under the service's name.
 * - Stop: SIGTERM to its process group, SIGKILL after `stopTimeoutMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import {
  ServiceHost,
  Srv,
  type ServiceHost$Server$Target,
  type ServiceHost_Namespace$Params,
  type ServiceHost_Namespace$Results,
} from '../gen/services.js';
import type { Namespace$Client } from '../gen/namespace.js';
import { NamespaceOwner, type NamespaceOwnerOptions } from '../namespace/namespace-server.js';
import { RpcConnection, serve } from '../rpc/index.js';
import { Board, SrvTarget, type DeclaredName } from './board.js';

/** Restart policies. */
export type RestartPolicy = 'no' | 'on-failure' | 'always';

/** Defaults of ServiceOptions. */
export const SERVICE_DEFAULTS = {
  restart: 'on-failure' as RestartPolicy,
  readyTimeoutMs: 10_000,
  stopTimeoutMs: 5_000,
  backoffMinMs: 100,
  backoffMaxMs: 5_000,
  startLimitBurst: 5,
  startLimitIntervalMs: 10_000,
  /** A log line longer than this is cut (a program cannot make capns buffer without end). */
  maxLogLineBytes: 8192,
};

/** The exit status with which a program asks not to be restarted (s6). */
export const EXIT_DO_NOT_RESTART = 125;

/** Where a service's lines and events go. */
export interface ServiceLog {
  /** One line the program wrote. */
  output(stream: 'stdout' | 'stderr', line: string): void;
  /** Something happened to the service (started, ready, exited, failed, ...). */
  event(level: 'info' | 'warn' | 'error', what: string, detail: Record<string, unknown>): void;
}

/** Options of one supervised service. */
export interface ServiceOptions {
  /** The capability's name in the manifest. */
  readonly name: string;
  readonly command: string;
  readonly args?: readonly string[];
  /** The whole environment of the program (capns adds CAPNS_SERVICE and CAPNS_SERVICE_FD). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Offer name -> what it must be. */
  readonly offers: ReadonlyMap<string, DeclaredName>;
  /** Whether an offered interface will do for a declared one (see BoardOptions.accept). */
  readonly accept?: (posted: bigint, declared: bigint) => string | undefined;
  /**
   * A namespace for the program (each `ServiceHost.namespace` call of a run; the caller's
   * to build, the service's to release). `owner` is the run's: give it to serveNamespace,
   * so that the run's namespaces are bounded together and end with the run's connection.
   */
  readonly namespace: (owner: NamespaceOwner) => Namespace$Client;
  /**
   * The limits of a run's namespaces (the manifest's maxBinds and
   * maxNamespacesPerConnection, as an rpc connection has them), read at each start so
   * that a reload's apply to the next run. Default: NamespaceOwner's defaults.
   */
  readonly namespaceLimits?: () => Omit<NamespaceOwnerOptions, 'refused'>;
  readonly restart?: RestartPolicy;
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  readonly startLimit?: { readonly burst: number; readonly intervalMs: number };
  /** How calls to the offers wait while it starts (default: readyTimeoutMs; at most 1024 calls). */
  readonly maxWaiting?: number;
  readonly log: ServiceLog;
}

/** What a service is doing. */
export type ServiceState = 'starting' | 'ready' | 'backoff' | 'exited' | 'failed' | 'stopped';

/** What `status()` reports. */
export interface ServiceStatus {
  readonly name: string;
  readonly state: ServiceState;
  readonly pid: number | undefined;
  /** Starts so far (the first included). */
  readonly starts: number;
  /** Why it is not ready ('' when it is). */
  readonly reason: string;
  /** Declared offers not posted now. */
  readonly missing: readonly string[];
}

/** One run of the program. */
interface Run {
  readonly child: ChildProcess;
  readonly conn: RpcConnection | null;
  readonly started: number;
  readyAt: number | undefined;
  readyTimer: NodeJS.Timeout | undefined;
  /** Set when capns ended the run (a failed start, a stop): the exit is not the program's fault. */
  ended: string | undefined;
  exited: Promise<void>;
}

/** A supervised program. Built by `startService`. */
export class ServiceProcess {
  readonly #o: ServiceOptions;
  readonly #board: Board;
  #state: ServiceState = 'starting';
  #reason = 'not started yet';
  #run: Run | null = null;
  #starts: number[] = [];
  #startCount = 0;
  #backoff: number;
  #timer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | null = null;

  /** @internal use startService */
  constructor(options: ServiceOptions) {
    this.#o = options;
    this.#backoff = options.backoffMinMs ?? SERVICE_DEFAULTS.backoffMinMs;
    this.#board = new Board({
      label: `service '${options.name}'`,
      names: options.offers,
      startWaiting: true,
      slot: {
        waitMs: options.readyTimeoutMs ?? SERVICE_DEFAULTS.readyTimeoutMs,
        ...(options.maxWaiting !== undefined && { maxWaiting: options.maxWaiting }),
      },
      ...(options.accept !== undefined && { accept: options.accept }),
      onChange: (name, posted) => {
        if (posted && this.#board.complete) this.#ready();
        else if (!posted && this.#stopping === null && this.#run !== null) this.#o.log.event('info', 'service withdrew an offer', { service: this.#o.name, offer: name });
      },
    });
  }

  /** The service's name. */
  get name(): string {
    return this.#o.name;
  }

  /**
   * A new reference (the caller's) to the stable capability of offer `name`: bind it.
   * @throws NsError NS_ERR_NOT_FOUND for an offer the manifest does not declare.
   */
  offer(name: string): Client {
    return this.#board.capability(name);
  }

  /** State, pid, starts, reason. */
  status(): ServiceStatus {
    return {
      name: this.#o.name,
      state: this.#state,
      pid: this.#run?.child.pid,
      starts: this.#startCount,
      reason: this.#state === 'ready' ? '' : this.#reason,
      missing: this.#board.missing(),
    };
  }

  /** Starts the program (once; later starts are the supervisor's). */
  start(): void {
    if (this.#run !== null || this.#stopping !== null) return;
    this.#spawn();
  }

  #spawn(): void {
    const o = this.#o;
    const now = Date.now();
    const limit = o.startLimit ?? { burst: SERVICE_DEFAULTS.startLimitBurst, intervalMs: SERVICE_DEFAULTS.startLimitIntervalMs };
    this.#starts = this.#starts.filter((t) => now - t < limit.intervalMs);
    if (this.#starts.length >= limit.burst) {
      this.#fail(`started ${this.#starts.length} times within ${limit.intervalMs} ms; not restarted until the manifest is reloaded (last: ${this.#reason})`);
      return;
    }
    this.#starts.push(now);
    this.#startCount++;
    this.#state = 'starting';
    this.#reason = 'starting';
    this.#board.reset(`service '${o.name}' is starting`, true);
    let child: ChildProcess;
    try {
      child = spawn(o.command, [...(o.args ?? [])], {
        ...(o.cwd !== undefined && { cwd: o.cwd }),
        env: { ...o.env, CAPNS_SERVICE: o.name, CAPNS_SERVICE_FD: '3' },
        // fd 3: a socketpair, the program's one connection (to capns).
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        // Its own process group: a stop reaches what it started too.
        detached: true,
      });
    } catch (e) {
      this.#exited(null, `cannot start: ${(e as Error).message}`);
      return;
    }
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        this.#exited(run, code !== null ? `exited with status ${code}` : `killed by ${signal ?? 'a signal'}`, code ?? undefined);
      });
      child.once('error', (e) => {
        // Spawning failed (no such command, not executable): no 'exit' follows.
        if (child.pid === undefined) {
          resolve();
          this.#exited(run, `cannot start ${o.command}: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
        }
      });
    });
    const sock = child.stdio[3] as net.Socket | null;
    // The namespaces of this run: they end with its connection.
    const owner = new NamespaceOwner(`service ${o.name}#${this.#startCount}`, o.namespaceLimits?.());
    const conn =
      sock === null
        ? null
        : new RpcConnection(sock, {
            name: `service ${o.name}`,
            bootstrap: () => serve(ServiceHost, new HostTarget(this.#board, () => o.namespace(owner)), { extends: [Srv] }),
          });
    void conn?.whenClosed().then(() => owner.end());
    const run: Run = { child, conn, started: now, readyAt: undefined, readyTimer: undefined, ended: undefined, exited };
    this.#run = run;
    for (const [stream, s] of [['stdout', child.stdout], ['stderr', child.stderr]] as const) if (s !== null) lines(s, (l) => o.log.output(stream, l));
    const readyMs = o.readyTimeoutMs ?? SERVICE_DEFAULTS.readyTimeoutMs;
    run.readyTimer = setTimeout(() => {
      if (this.#run !== run || run.readyAt !== undefined) return;
      this.#endRun(run, `did not offer ${this.#board.missing().join(', ')} within ${readyMs} ms`);
    }, readyMs);
    if (child.pid !== undefined) o.log.event('info', 'service started', { service: o.name, pid: child.pid, command: o.command });
  }

  #ready(): void {
    const run = this.#run;
    if (run === null || run.readyAt !== undefined) return;
    run.readyAt = Date.now();
    clearTimeout(run.readyTimer);
    this.#state = 'ready';
    this.#reason = '';
    this.#o.log.event('info', 'service ready', { service: this.#o.name, pid: run.child.pid, offers: [...this.#o.offers.keys()] });
  }

  /** Ends a run capns gave up on (a failed start): SIGTERM, then SIGKILL. */
  #endRun(run: Run, why: string): void {
    run.ended = why;
    this.#o.log.event('error', 'service failed to start', { service: this.#o.name, pid: run.child.pid, reason: why });
    void this.#kill(run);
  }

  async #kill(run: Run): Promise<void> {
    const pid = run.child.pid;
    if (pid === undefined || run.child.exitCode !== null || run.child.signalCode !== null) return;
    signalGroup(pid, 'SIGTERM');
    const stopMs = this.#o.stopTimeoutMs ?? SERVICE_DEFAULTS.stopTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), stopMs)));
    if ((await Promise.race([run.exited.then(() => 'done' as const), late])) === 'late') {
      this.#o.log.event('warn', 'service did not stop on SIGTERM; killing it', { service: this.#o.name, pid, stopTimeoutMs: stopMs });
      signalGroup(pid, 'SIGKILL');
      await run.exited;
    }
    clearTimeout(timer);
  }

  /** The run ended (the process exited, or never started). */
  #exited(run: Run | null, how: string, code?: number): void {
    if (run !== null && this.#run !== run) return;
    this.#run = null;
    if (run !== null) clearTimeout(run.readyTimer);
    run?.conn?.destroy();
    const o = this.#o;
    const why = run?.ended !== undefined ? `${run.ended} (then ${how})` : how;
    this.#reason = `service '${o.name}' ${why}`;
    if (this.#stopping !== null) {
      this.#state = 'stopped';
      this.#board.reset(`service '${o.name}' stopped`);
      return;
    }
    const failed = run?.ended !== undefined || code !== 0;
    const wasReady = run?.readyAt !== undefined;
    o.log.event(failed ? 'error' : 'info', failed ? 'service failed' : 'service exited', { service: o.name, pid: run?.child.pid, reason: why });
    if (code === EXIT_DO_NOT_RESTART) {
      this.#fail(`${why}: the program asked not to be restarted`);
      return;
    }
    const restart = o.restart ?? SERVICE_DEFAULTS.restart;
    if (restart === 'no' || (restart === 'on-failure' && !failed)) {
      this.#state = 'exited';
      this.#board.reset(this.#reason);
      return;
    }
    // s6: a run that stayed ready for over a second earns a fresh, short delay.
    if (wasReady && Date.now() - (run?.readyAt ?? 0) > 1000) this.#backoff = o.backoffMinMs ?? SERVICE_DEFAULTS.backoffMinMs;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, o.backoffMaxMs ?? SERVICE_DEFAULTS.backoffMaxMs);
    this.#state = 'backoff';
    this.#board.reset(`${this.#reason}; restarting in ${delay} ms`);
    this.#timer = setTimeout(() => this.#spawn(), delay);
  }

  #fail(why: string): void {
    this.#state = 'failed';
    this.#reason = `service '${this.#o.name}' failed: ${why}`;
    this.#board.reset(this.#reason);
    this.#o.log.event('error', 'service failed', { service: this.#o.name, reason: why });
  }

  /**
   * Stops the program (SIGTERM, then SIGKILL after stopTimeoutMs) and ends the offers:
   * calls fail from now on. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearTimeout(this.#timer);
      const run = this.#run;
      if (run !== null) await this.#kill(run);
      this.#state = 'stopped';
      this.#board.close(`service '${this.#o.name}' stopped`);
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Sends `signal` to the process group of `pid` (the program and what it started). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone already.
    }
  }
}

/** Calls `f` with each line of `s` (cut at maxLogLineBytes). */
function lines(s: NodeJS.ReadableStream, f: (line: string) => void): void {
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      f(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    if (buf.length > SERVICE_DEFAULTS.maxLogLineBytes) {
      f(buf.slice(0, SERVICE_DEFAULTS.maxLogLineBytes) + ' [cut]');
      buf = '';
    }
  });
  s.on('end', () => {
    if (buf !== '') f(buf);
  });
  s.on('error', () => {});
}

/** ServiceHost for one run: the program's namespace, and posting on its board. */
class HostTarget extends SrvTarget implements ServiceHost$Server$Target {
  readonly #namespace: () => Namespace$Client;

  constructor(board: Board, namespace: () => Namespace$Client) {
    super(board);
    this.#namespace = namespace;
  }

  async namespace(_p: ServiceHost_Namespace$Params, r: ServiceHost_Namespace$Results): Promise<void> {
    r.ns = this.#namespace();
  }
}

/** Starts a supervised service. @throws NsError for options that cannot work (no offers). */
export function startService(options: ServiceOptions): ServiceProcess {
  if (options.offers.size === 0) throw new NsError('NS_ERR_INVALID_ARGUMENT', `service '${options.name}' offers nothing`);
  const s = new ServiceProcess(options);
  s.start();
  return s;
}
