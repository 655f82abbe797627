/**
 * File servers called directly (no 9P, no RPC): `npm run bench -- fileserver`.
 *
 * For ramfs (MemFileServer) and dirfs (DirFileServer on a fresh directory under the OS
 * temp dir), and for plain node:fs on the same directory as the reference: sequential
 * write and read of a 32 MiB file in 64 KiB pieces (MB/s), walk of one name + clunk, and
 * stat (operations/s). The reference does the nearest node:fs thing: positional
 * FileHandle writes and reads, open + close of the path, stat of the path. Rounds are
 * interleaved; printed are medians and the ratio to the reference.
 *
 * Environment: FS_BENCH_ROUNDS (default 7), FS_BENCH_OPS (small ops per round, default 3000).
 */
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { newDirFileServer } from '../src/fileserver/dir-file-server.js';
import type { File, FileServer } from '../src/fileserver/file-server.js';
import { MemFileServer } from '../src/fileserver/mem-file-server.js';

const ROUNDS = Number(process.env['FS_BENCH_ROUNDS'] ?? 7);
const OPS = Number(process.env['FS_BENCH_OPS'] ?? 3000);
const CHUNK = 64 * 1024;
const SIZE = 32 * 1024 * 1024;

type Metric = 'write MB/s' | 'read MB/s' | 'walk+clunk /s' | 'stat /s';
const METRICS: Metric[] = ['write MB/s', 'read MB/s', 'walk+clunk /s', 'stat /s'];

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function seconds(f: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function roundFileServer(fs: FileServer, name: string): Promise<Record<Metric, number>> {
  const { root } = await fs.attach('');
  const chunk = new Uint8Array(CHUNK).fill(0x5a);
  const { file } = await root.create(name, 0o644, { access: 'readWrite' });
  const w = await seconds(async () => {
    for (let off = 0; off < SIZE; off += CHUNK) await file.write(BigInt(off), chunk);
  });
  const r = await seconds(async () => {
    for (let off = 0; off < SIZE; off += CHUNK) await file.read(BigInt(off), CHUNK);
  });
  const wc = await seconds(async () => {
    for (let i = 0; i < OPS; i++) {
      const x = await root.walk([name]);
      await (x.file as File).clunk();
    }
  });
  const s = await seconds(async () => {
    for (let i = 0; i < OPS; i++) await file.stat();
  });
  await file.remove();
  await root.clunk();
  return {
    'write MB/s': SIZE / 1e6 / w,
    'read MB/s': SIZE / 1e6 / r,
    'walk+clunk /s': OPS / wc,
    'stat /s': OPS / s,
  };
}

async function roundNodeFs(dir: string, name: string): Promise<Record<Metric, number>> {
  const path = join(dir, name);
  const buf = Buffer.alloc(CHUNK, 0x5a);
  const h = await open(path, 'w+');
  const w = await seconds(async () => {
    for (let off = 0; off < SIZE; off += CHUNK) await h.write(buf, 0, CHUNK, off);
  });
  const r = await seconds(async () => {
    for (let off = 0; off < SIZE; off += CHUNK)
      await h.read(Buffer.allocUnsafe(CHUNK), 0, CHUNK, off);
  });
  await h.close();
  const wc = await seconds(async () => {
    for (let i = 0; i < OPS; i++) await (await open(path, 'r')).close();
  });
  const s = await seconds(async () => {
    for (let i = 0; i < OPS; i++) await stat(path);
  });
  await rm(path);
  return {
    'write MB/s': SIZE / 1e6 / w,
    'read MB/s': SIZE / 1e6 / r,
    'walk+clunk /s': OPS / wc,
    'stat /s': OPS / s,
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'capns-bench-fs-'));
  const dirfs = await newDirFileServer(dir);
  const samples: Record<string, Record<Metric, number[]>> = {};
  const add = (who: string, r: Record<Metric, number>): void => {
    const s = (samples[who] ??= {
      'write MB/s': [],
      'read MB/s': [],
      'walk+clunk /s': [],
      'stat /s': [],
    });
    for (const m of METRICS) s[m].push(r[m]);
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      add('node:fs (reference)', await roundNodeFs(dir, 'ref'));
      add('dirfs', await roundFileServer(dirfs, 'dirfs'));
      add('ramfs', await roundFileServer(new MemFileServer(), 'ramfs'));
    }
  } finally {
    await dirfs.close();
    await rm(dir, { recursive: true, force: true });
  }
  const ref = samples['node:fs (reference)'];
  console.log(
    `file servers, direct calls; ${ROUNDS} interleaved rounds, medians (ratio to node:fs)`,
  );
  console.log(['', ...METRICS].map((s) => s.padStart(22)).join(''));
  for (const [who, s] of Object.entries(samples)) {
    const cells = METRICS.map((m) => {
      const v = median(s[m]);
      const ratio = ref === undefined ? 1 : v / median(ref[m]);
      return `${v.toFixed(0)} (${ratio.toFixed(2)}x)`.padStart(22);
    });
    console.log(who.padStart(22) + cells.join(''));
  }
}

await main();
