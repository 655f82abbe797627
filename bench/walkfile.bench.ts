/**
 * A File from Namespace.walk against one from resolve -> attach -> walk, over a real
 * connection to `capns serve` (in this process): `npm run bench -- walkfile` (issue 21).
 *
 * Both read the same 4 MiB file of a ram tree at /tmp in 64 KiB blocks, one at a time;
 * also stat one at a time. The reference is the File the FileServer itself hands out
 * (resolve('/tmp') -> attach -> walk); Namespace.walk('/tmp/f') gives the namespace's
 * File, which knows mount points and unions. Rounds alternate; printed are medians of
 * MB/s (or stat/s), CPU µs per operation (client and server together: one process), and
 * the ratio walk/reference.
 *
 * Environment: WALKFILE_ROUNDS (default 7), WALKFILE_SECONDS per measurement (default 1).
 */
import * as $ from 'capnp-es';
import { pino } from 'pino';
import { OpenMode_Access } from '../src/gen/common.js';
import { FileServer, type File$Client } from '../src/gen/fileserver.js';
import { Gate, type Namespace$Client } from '../src/gen/namespace.js';
import { parseManifest } from '../src/manifest/index.js';
import { connect, release } from '../src/rpc/index.js';
import { startCapnsServer } from '../src/server/capns-server.js';

const ROUNDS = Number(process.env['WALKFILE_ROUNDS'] ?? 7);
const SECONDS = Number(process.env['WALKFILE_SECONDS'] ?? 1);
const CHUNK = 64 * 1024;
const SIZE = 4 * 1024 * 1024;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const server = await startCapnsServer({
  manifest: parseManifest(
    `version: 1
capabilities: { tmp: { type: ram } }
profiles:
  p:
    auth: { tokens: [t] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`,
    { file: 'walkfile.yaml', env: {} },
  ),
  logger: pino({ level: 'silent' }),
});
const conn = await connect(server.addresses.find((a) => a.protocol === 'rpc')!.address);
const gate = conn.bootstrap(Gate);
const ns: Namespace$Client = (await gate.authenticate((p) => (p.token = 't')).promise()).result.ok.ns;
release(gate);

async function opened(f: File$Client, access: number): Promise<File$Client> {
  const o = (await f.open((p) => (p._initMode().access = access as never)).promise()).result;
  if (!o._isOk) throw new Error(`open: ${o.err.message}`);
  return f;
}

// The file, written once through the FileServer.
const r = (await ns.resolve((p) => (p.path = '/tmp')).promise()).result;
const fs = new FileServer.Client($.utils.getInterfaceClientOrNull(r.ok.cap));
const root = (await fs.attach((p) => (p.aname = '')).promise()).result.ok.root;
const made = (await root.create((p) => { p.name = 'f'; p.perm = 0o644; p._initMode().access = OpenMode_Access.WRITE; }).promise()).result;
const block = new Uint8Array(CHUNK).fill(0x5a);
for (let off = 0; off < SIZE; off += CHUNK) {
  await made.ok.file.write((p) => { p.offset = BigInt(off); p._initData(CHUNK).copyBuffer(block); }).promise();
}
release(made.ok.file);

const viaAttach = await opened((await root.walk((p) => p._initNames(1).set(0, 'f')).promise()).result.file, OpenMode_Access.READ);
const walked = (await ns.walk((p) => (p.path = '/tmp/f')).promise()).result;
if (!walked._isFile) throw new Error(`Namespace.walk: ${walked.err.message}`);
const viaWalk = await opened(walked.file, OpenMode_Access.READ);

type Op = 'read' | 'stat';
async function measure(f: File$Client, op: Op): Promise<{ rate: number; cpuUs: number }> {
  const end = performance.now() + SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  let off = 0;
  while (performance.now() < end) {
    if (op === 'read') {
      const res = (await f.read((p) => { p.offset = BigInt(off); p.count = CHUNK; }).promise()).result;
      if (!res._isData || res.data.length !== CHUNK) throw new Error('short read');
      off = (off + CHUNK) % SIZE;
    } else {
      await f.stat().promise();
    }
    n++;
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { rate: op === 'read' ? (n * CHUNK) / 1e6 / secs : n / secs, cpuUs: (cpu.user + cpu.system) / n };
}

const rows: Record<string, { rate: number[]; cpu: number[] }> = {};
for (const op of ['read', 'stat'] as const) {
  for (const name of ['reference', 'walk']) rows[`${op} ${name}`] = { rate: [], cpu: [] };
}
for (let round = 0; round < ROUNDS; round++) {
  for (const op of ['read', 'stat'] as const) {
    // Alternate which goes first, so drifting load is shared.
    const order = round % 2 === 0 ? (['reference', 'walk'] as const) : (['walk', 'reference'] as const);
    for (const which of order) {
      const m = await measure(which === 'reference' ? viaAttach : viaWalk, op);
      rows[`${op} ${which}`]!.rate.push(m.rate);
      rows[`${op} ${which}`]!.cpu.push(m.cpuUs);
    }
  }
}

console.log(`Namespace.walk File vs resolve -> attach -> walk File, ${ROUNDS} rounds of ${SECONDS} s (medians; CPU is client + server, one process)`);
console.log(['', 'reference', 'walk', 'ratio', 'CPU µs ref', 'CPU µs walk', 'CPU ratio'].map((h) => h.padStart(12)).join(''));
for (const op of ['read', 'stat'] as const) {
  const a = rows[`${op} reference`]!;
  const b = rows[`${op} walk`]!;
  const unit = op === 'read' ? 'MB/s' : '/s';
  console.log(
    [
      `${op} ${unit}`,
      median(a.rate).toFixed(0),
      median(b.rate).toFixed(0),
      (median(b.rate) / median(a.rate)).toFixed(2),
      median(a.cpu).toFixed(1),
      median(b.cpu).toFixed(1),
      (median(b.cpu) / median(a.cpu)).toFixed(2),
    ]
      .map((c) => c.padStart(12))
      .join(''),
  );
}
release(viaAttach); release(viaWalk); release(root); release(fs); release(ns);
await conn.close();
await server.close();
