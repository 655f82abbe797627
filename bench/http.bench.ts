/**
 * HTTP JSON gateway benchmark (issue 7): `npm run bench -- http`.
 *
 * Requests per second of `POST /api/v1/call {path: "/svc/clock", method: "now"}` (HTTP/1.1
 * keep-alive, JSON in and out, schema reflection on the server) against the same
 * Clock.now over Cap'n Proto (our client: a resolved Clock capability, one call each),
 * both to one `capns serve` process of their own, in the same run. Sequential (one call
 * at a time) and with CONCURRENCY in flight, in interleaved rounds; medians and ratios.
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
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let calls = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (performance.now() < end) {
        await op();
        calls++;
      }
    }),
  );
  return calls / ((performance.now() - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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
    const body = JSON.stringify({ path: '/svc/clock', method: 'now' });
    const gateway = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: httpPort, path: '/api/v1/call', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => (res.statusCode === 200 && text.includes('unixMillis') ? resolve() : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      });

    // The HTTP floor: the same server's GET /healthz (fastify, keep-alive, no auth, no capability).
    const healthz = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: httpPort, path: '/healthz', agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        });
        req.on('error', reject);
        req.end();
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
    const samples: Record<string, number[]> = { 'gateway seq': [], 'capnp seq': [], 'healthz seq': [], 'gateway x32': [], 'capnp x32': [], 'healthz x32': [] };
    for (let r = 0; r < ROUNDS; r++) {
      samples['gateway seq']!.push(await rate(gateway, 1));
      samples['capnp seq']!.push(await rate(capnp, 1));
      samples['gateway x32']!.push(await rate(gateway, CONCURRENCY));
      samples['capnp x32']!.push(await rate(capnp, CONCURRENCY));
      samples['healthz seq']!.push(await rate(healthz, 1));
      samples['healthz x32']!.push(await rate(healthz, CONCURRENCY));
      console.log(`round ${r + 1}: ${Object.entries(samples).map(([k, v]) => `${k} ${v.at(-1)!.toFixed(0)}/s`).join(', ')}`);
    }
    const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
    console.log(`\nmedians of ${ROUNDS} interleaved rounds of ${SECONDS} s (Clock.now):`);
    console.log('| client | one at a time | 32 in flight |\n|---|---:|---:|');
    console.log(`| HTTP JSON gateway (POST /api/v1/call) | ${m['gateway seq']!.toFixed(0)}/s (${(m['gateway seq']! / m['capnp seq']!).toFixed(2)}x) | ${m['gateway x32']!.toFixed(0)}/s (${(m['gateway x32']! / m['capnp x32']!).toFixed(2)}x) |`);
    console.log(`| Cap'n Proto (CapnsClient, resolved Clock) | ${m['capnp seq']!.toFixed(0)}/s | ${m['capnp x32']!.toFixed(0)}/s |`);
    console.log(`| HTTP floor: GET /healthz, same server | ${m['healthz seq']!.toFixed(0)}/s | ${m['healthz x32']!.toFixed(0)}/s |`);
    clock[Symbol.dispose]();
    await client.close();
    agent.destroy();
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
