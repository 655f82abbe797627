/**
 * HTTP JSON gateway benchmark (issue 7): `npm run bench -- http`.
 *
 * Requests per second of `POST /api/v1/call {path: "/svc/clock", method: "now"}` (HTTP/1.1
 * keep-alive, JSON in and out, schema reflection on the server) against the same
 * Clock.now over Cap'n Proto (our client: a resolved Clock capability, one call each),
 * both to one `capns serve` process of their own, in the same run. Sequential (one call
 * at a time) and with CONCURRENCY in flight, in interleaved rounds; medians and ratios.
 *
 * Each measurement also reads the server's CPU time (/proc) around it: server CPU µs per
 * request, which the machine's load disturbs less than rates. Ratios are taken round by
 * round (gateway / healthz, gateway / Cap'n Proto of the same round), then the median.
 *
 * Environment: HTTP_BENCH_ROUNDS (default 5), HTTP_BENCH_SECONDS per measurement (default 2).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../src/client/capns-client.js';
import { Clock } from '../src/gen/demo.js';
import { cliEnv, cliNodeFlags } from './cli-flags.js';
import { cpuOf, keepBusy, load, median } from './pairs.js';

const ROUNDS = Number(process.env['HTTP_BENCH_ROUNDS'] ?? 5);
const SECONDS = Number(process.env['HTTP_BENCH_SECONDS'] ?? 2);
const CONCURRENCY = 32;
const distRoot = join(import.meta.dirname, '..'); // dist-bench
const NODE_FLAGS = cliNodeFlags(join(distRoot, '..')); // as bin/capns.js runs the CLI
Object.assign(process.env, cliEnv(join(distRoot, '..'))); // for every process this bench starts

const MANIFEST = `version: 1
capabilities:
  clock: { type: demo.clock }
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: clock, at: /svc/clock, require: Clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: http, address: "tcp!127.0.0.1!0" }
`;

/** Calls `op` for SECONDS with `width` in flight; calls per second. */
async function rate(op: () => Promise<void>, width: number, seconds = SECONDS): Promise<number> {
  const r = await keepBusy(op, width, seconds);
  return r.ops / r.seconds;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'capns-http-bench-'));
  writeFileSync(join(dir, 'm.yaml'), MANIFEST);
  const child = spawn(process.execPath, [...NODE_FLAGS, join(distRoot, 'src', 'cli', 'main.js'), 'serve', '--manifest', join(dir, 'm.yaml'), '--log-level', 'warn'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const { rpc, httpPort } = await new Promise<{ rpc: string; httpPort: number }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const r = /^rpc\s+(\S+)/m.exec(out);
        const h = /^http\s+tcp!127\.0\.0\.1!(\d+)/m.exec(out);
        if (r && h) resolve({ rpc: r[1]!, httpPort: Number(h[1]) });
      });
      child.on('exit', () => reject(new Error('capns serve exited')));
    });

    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    /**
     * One request; sent again once if a kept-alive socket turned out closed (the server
     * closes sockets idle for its keep-alive timeout while other measurements run: Node's
     * documented retry for `reusedSocket`).
     */
    const request = (opts: http.RequestOptions, payload: string | undefined, done: (res: http.IncomingMessage, resolve: () => void, reject: (e: Error) => void) => void): Promise<void> =>
      new Promise((resolve, reject) => {
        const send = (retry: boolean): void => {
          const req = http.request({ ...opts, agent }, (res) => done(res, resolve, reject));
          req.on('error', (e: NodeJS.ErrnoException) => (retry && req.reusedSocket && e.code === 'ECONNRESET' ? send(false) : reject(e)));
          req.end(payload);
        };
        send(true);
      });
    const body = JSON.stringify({ path: '/svc/clock', method: 'now' });
    const gateway = (): Promise<void> =>
      request(
        { host: '127.0.0.1', port: httpPort, path: '/api/v1/call', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        body,
        (res, resolve, reject) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => (res.statusCode === 200 && text.includes('unixMillis') ? resolve() : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
        },
      );

    // The HTTP floor: the same server's GET /healthz (fastify, keep-alive, no auth, no capability).
    const healthz = (): Promise<void> =>
      request({ host: '127.0.0.1', port: httpPort, path: '/healthz' }, undefined, (res, resolve, reject) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      });

    const client = await connect(rpc);
    const clock = await client.resolve('/svc/clock', Clock);
    const capnp = async (): Promise<void> => {
      const r = await clock.now().promise();
      if (r.unixMillis <= 0n) throw new Error('bad clock');
    };

    // Warm-up: JIT both paths.
    await rate(gateway, 4, 1);
    await rate(capnp, 4, 1);
    await rate(healthz, 4, 1);
    const loadBefore = load();
    const kinds = { gateway, capnp, healthz } as const;
    type Kind = keyof typeof kinds;
    const widths = { seq: 1, x32: CONCURRENCY } as const;
    type Width = keyof typeof widths;
    /** samples[kind][width][round]: calls/s and the server's CPU µs per call. */
    const samples = Object.fromEntries(Object.keys(kinds).map((k) => [k, { seq: [], x32: [] }])) as unknown as Record<Kind, Record<Width, { rate: number; cpuUs: number }[]>>;
    for (let r = 0; r < ROUNDS; r++) {
      for (const [w, width] of Object.entries(widths) as [Width, number][]) {
        for (const [k, op] of Object.entries(kinds) as [Kind, () => Promise<void>][]) {
          const c0 = cpuOf(child.pid!);
          const t0 = performance.now();
          const perSecond = await rate(op, width);
          const calls = (perSecond * (performance.now() - t0)) / 1000;
          samples[k][w].push({ rate: perSecond, cpuUs: (cpuOf(child.pid!) - c0) / calls });
        }
      }
      console.log(
        `round ${r + 1}: ` +
          (Object.keys(kinds) as Kind[]).flatMap((k) => (Object.keys(widths) as Width[]).map((w) => `${k} ${w} ${samples[k][w].at(-1)!.rate.toFixed(0)}/s ${samples[k][w].at(-1)!.cpuUs.toFixed(0)} µs`)).join(', '),
      );
    }
    const med = (k: Kind, w: Width, f: (x: { rate: number; cpuUs: number }) => number): number => median(samples[k][w].map(f));
    const ratio = (k: Kind, ref: Kind, w: Width): string => median(samples[k][w].map((x, i) => x.rate / samples[ref][w][i]!.rate)).toFixed(2);
    console.log(`\nmedians of ${ROUNDS} interleaved rounds of ${SECONDS} s (Clock.now); load average before ${loadBefore}, after ${load()}:`);
    console.log('| client | one at a time | x healthz | server CPU µs/req | 32 in flight | x healthz | server CPU µs/req |\n|---|---:|---:|---:|---:|---:|---:|');
    const row = (name: string, k: Kind): void => {
      const cells = (Object.keys(widths) as Width[]).map((w) => `${med(k, w, (x) => x.rate).toFixed(0)}/s | ${ratio(k, 'healthz', w)} | ${med(k, w, (x) => x.cpuUs).toFixed(1)}`);
      console.log(`| ${name} | ${cells.join(' | ')} |`);
    };
    row('HTTP JSON gateway (POST /api/v1/call)', 'gateway');
    row("Cap'n Proto (CapnsClient, resolved Clock)", 'capnp');
    row('HTTP floor: GET /healthz, same server', 'healthz');
    console.log(`gateway / Cap'n Proto: ${ratio('gateway', 'capnp', 'seq')} one at a time, ${ratio('gateway', 'capnp', 'x32')} with 32 in flight.`);
    console.log('Target (issue 21): the gateway >= 0.8x /healthz.');
    clock[Symbol.dispose]();
    await client.close();
    agent.destroy();
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
