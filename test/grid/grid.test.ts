/**
 * Three hosts in network namespaces this test creates (ip netns, veth pairs):
 *
 *   A (10.N.1.1) --veth-- (10.N.1.2) B (10.N.2.1) --veth-- (10.N.2.2) C
 *
 * A exports /svc (a clock); B imports A at /n/a and re-exports /n/a; C imports B at /n/b
 * and serves its namespace on a unix socket (the file system is shared, so this test,
 * in the root network namespace, reaches C there). C cannot reach A's network at all:
 * every call goes through B. Each host is a real `capns serve` process in its netns.
 *
 * Needs root and iproute2; skipped with the reason otherwise (CI runs it as root).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Clock } from '../../src/gen/demo.js';
import { Gate, type Namespace$Client } from '../../src/gen/namespace.js';
import { resolvePipelined } from '../../src/proxy/importer.js';
import { connect, release, RpcError, type RpcConnection } from '../../src/rpc/index.js';

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'needs root (ip netns add)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs the ip command (Debian iproute2)';
  }
  return undefined;
}

const ROOT = resolve(import.meta.dirname, '../..');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CLOCK = `@0x${Clock.Client.interfaceId.toString(16)}.0`;

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** A `capns serve` process in a netns, with its stdout and its `rpc:` trace lines. */
class Host {
  proc: ChildProcess | null = null;
  out = '';
  trace: string[] = [];

  constructor(
    readonly netns: string,
    readonly manifest: string,
  ) {}

  /** Starts the process; resolves once it printed where it listens. */
  async start(): Promise<void> {
    this.out = '';
    this.trace = [];
    const p = spawn('ip', ['netns', 'exec', this.netns, process.execPath, '--import', TSX, 'src/cli/main.ts', 'serve', '--manifest', this.manifest, '--log-level', 'warn', '--drain-ms', '200'], {
      cwd: ROOT,
      env: { ...process.env, NS_TRACE: 'rpc' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = p;
    let err = '';
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => {
      err += d;
      for (const line of d.split('\n')) if (line.startsWith('rpc: ')) this.trace.push(line.slice(5));
      if (err.length > 1 << 20) err = err.slice(-4096);
    });
    p.stdout.setEncoding('utf8');
    await new Promise<void>((ok, fail) => {
      p.stdout.on('data', (d: string) => {
        this.out += d;
        if (/^(export|rpc) /m.test(this.out)) ok();
      });
      p.once('exit', (code) => fail(new Error(`${this.netns}: capns serve exited ${code}: ${err.slice(-2000)}`)));
    });
  }

  kill(): void {
    this.proc?.kill('SIGKILL');
    this.proc = null;
  }
}

/**
 * Whether the `now` call on the Clock went out pipelined on the resolve before it: no
 * Return for that resolve was received before the call was sent (one round trip).
 */
function pipelined(trace: readonly string[]): boolean {
  const i = trace.findLastIndex((l) => / > call q=\d+ answer#\d+\S* /.test(l) && l.includes(CLOCK));
  if (i < 0) return false;
  const q = / answer#(\d+)/.exec(trace[i]!)![1];
  // Question ids are reused: look only after the call that asked question q, on the same
  // connection (a late Return of an earlier question q may precede it in the trace).
  const conn = trace[i]!.slice(0, trace[i]!.indexOf(' > call '));
  const asked = trace.findLastIndex((l, j) => j < i && l.startsWith(`${conn} > call q=${q} `));
  return asked >= 0 && !trace.slice(asked, i).some((l) => l.startsWith(`${conn} < return a=${q} `));
}

test('grid: C reaches A through B, pipelined; B dies and C fails fast; B restarts and C recovers; a silent link is detected', { skip: skipReason(), timeout: 120_000 }, async (t) => {
  const tag = `g${process.pid % 100000}`;
  const net = 100 + (process.pid % 100);
  const [a, b, c] = ['a', 'b', 'c'].map((h) => `capns-${tag}-${h}`) as [string, string, string];
  const dir = mkdtempSync(join(tmpdir(), 'capns-grid-'));
  const hosts: Host[] = [];
  t.after(() => {
    for (const h of hosts) h.kill();
    for (const n of [a, b, c]) {
      try {
        ip('netns', 'del', n);
      } catch {
        // Already gone (or never made).
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  for (const n of [a, b, c]) {
    ip('netns', 'add', n);
    ip('-n', n, 'link', 'set', 'lo', 'up');
  }
  const link = (x: string, xa: string, y: string, ya: string, name: string): void => {
    ip('link', 'add', `${name}x`, 'netns', x, 'type', 'veth', 'peer', 'name', `${name}y`, 'netns', y);
    ip('-n', x, 'addr', 'add', `${xa}/24`, 'dev', `${name}x`);
    ip('-n', y, 'addr', 'add', `${ya}/24`, 'dev', `${name}y`);
    ip('-n', x, 'link', 'set', `${name}x`, 'up');
    ip('-n', y, 'link', 'set', `${name}y`, 'up');
  };
  const aAddr = `10.${net}.1.1`;
  const bToA = `10.${net}.1.2`;
  const bAddr = `10.${net}.2.1`;
  const cAddr = `10.${net}.2.2`;
  link(a, aAddr, b, bToA, `${tag}ab`);
  link(b, bAddr, c, cAddr, `${tag}bc`);

  const sock = join(dir, 'c.sock');
  const write = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const A = new Host(
    a,
    write(
      'a.yaml',
      `version: 1
capabilities: { clock: { type: demo.clock } }
profiles:
  svc: { namespace: [ { mount: clock, at: /svc/clock } ] }
exports:
  - { profile: svc, root: /svc, listen: "tcp!${aAddr}!5643", auth: { tokens: [token-a] } }
`,
    ),
  );
  const B = new Host(
    b,
    write(
      'b.yaml',
      `version: 1
capabilities: { far: { type: import, address: "tcp!${aAddr}!5643", token: token-a } }
profiles:
  relay: { namespace: [ { mount: far, at: /n/a } ] }
exports:
  - { profile: relay, root: /n/a, listen: "tcp!${bAddr}!5643", auth: { tokens: [token-b] } }
`,
    ),
  );
  const C = new Host(
    c,
    write(
      'c.yaml',
      `version: 1
capabilities: { far: { type: import, address: "tcp!${bAddr}!5643", token: token-b } }
profiles:
  user: { namespace: [ { mount: far, at: /n/b } ] }
listeners:
  - { protocol: rpc, address: "unix!${sock}", profile: user }
`,
    ),
  );
  hosts.push(A, B, C);
  await A.start();
  await B.start();
  await C.start();

  let conn: RpcConnection | null = null;
  let ns: Namespace$Client | null = null;
  t.after(async () => {
    if (ns !== null) release(ns);
    await conn?.close();
  });
  conn = await connect(`unix!${sock}`);
  const gate = conn.bootstrap(Gate);
  const auth = (await gate.authenticate((p) => (p.token = '')).promise()).result;
  release(gate);
  assert.ok(auth._isOk, auth._isErr ? auth.err.message : '');
  ns = auth.ok.ns;
  const theNs = ns;

  /** Resolves /n/b/clock and calls now() on it, pipelined; retries `disconnected` until `deadline`. */
  const callClock = async (deadlineMs: number): Promise<bigint> => {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const clock = resolvePipelined(theNs, '/n/b/clock', Clock);
      try {
        return (await clock.now().promise()).unixMillis;
      } catch (e) {
        if (!(e instanceof RpcError && e.type === 'disconnected') || Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        release(clock);
      }
    }
  };

  // The imports connect in the background: wait for the chain to be up.
  assert.ok((await callClock(20_000)) > 0n);
  // Once more, now that everything is connected, and check the hops were pipelined:
  // B sent Clock.now to A before A answered the resolve, and so did C to B.
  B.trace.length = 0;
  C.trace.length = 0;
  assert.ok((await callClock(0)) > 0n);
  assert.ok(pipelined(B.trace), `B -> A not pipelined:\n${B.trace.slice(-20).join('\n')}`);
  assert.ok(pipelined(C.trace), `C -> B not pipelined:\n${C.trace.slice(-20).join('\n')}`);

  // Kill B: C's calls fail with `disconnected` (no hang: the test's timeout would catch one).
  B.kill();
  await assert.rejects(
    resolvePipelined(theNs, '/n/b/clock', Clock).now().promise(),
    (e: unknown) => e instanceof RpcError && e.type === 'disconnected',
  );
  // C's own namespace keeps answering.
  const list = (await theNs.members((p) => (p.path = '/n/b')).promise()).result;
  assert.equal(list.members.length, 1);

  // Restart B: C reconnects by itself and calls reach A again.
  await B.start();
  assert.ok((await callClock(20_000)) > 0n);

  // The network between B and C goes silent (link down: no FIN, no RST). A call in flight
  // is failed `disconnected` by C's heartbeat instead of hanging; link up, C recovers.
  ip('-n', c, 'link', 'set', `${tag}bcy`, 'down');
  await assert.rejects(
    resolvePipelined(theNs, '/n/b/clock', Clock).now().promise(),
    (e: unknown) => e instanceof RpcError && e.type === 'disconnected',
  );
  ip('-n', c, 'link', 'set', `${tag}bcy`, 'up');
  ip('-n', c, 'addr', 'replace', `${cAddr}/24`, 'dev', `${tag}bcy`);
  assert.ok((await callClock(20_000)) > 0n);
});
