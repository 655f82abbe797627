/**
 * Boots the v9fs test VM by hand and prints its console, for development:
 *
 *   npx tsx test/vm/run.ts --diod                 against Debian's diod (9P2000.L)
 *   npx tsx test/vm/run.ts --capns                against `capns 9p --ram` (both versions)
 *   npx tsx test/vm/run.ts --port N [--versions 9p2000.L,9p2000] [--aname A]
 *
 * Options: --accel tcg|kvm, --files N, --bigmib N, --writers N, --msize N, --hostsha HEX
 * (sha256 of `pattern` at the root of the served tree).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildInitramfs, findVmPrereqs, runV9fsVm } from '../support/vm.js';
import {
  findDiod,
  startCapns9p,
  startDiod,
  type NinepServerProcess,
} from '../support/vm-servers.js';

const { values } = parseArgs({
  options: {
    diod: { type: 'boolean' },
    capns: { type: 'boolean' },
    port: { type: 'string' },
    versions: { type: 'string' },
    aname: { type: 'string' },
    accel: { type: 'string' },
    files: { type: 'string' },
    bigmib: { type: 'string' },
    writers: { type: 'string' },
    msize: { type: 'string' },
    hostsha: { type: 'string' },
  },
});

const pre = findVmPrereqs();
if (!pre.ok) {
  console.error(`cannot boot: ${pre.reason}`);
  process.exit(2);
}
const t0 = Date.now();
const initramfs = buildInitramfs(pre.prereqs);
console.error(`initramfs ${initramfs} (${Date.now() - t0} ms), kernel ${pre.prereqs.kernel}`);

let server: NinepServerProcess | undefined;
let dir: string | undefined;
let port = Number(values.port ?? 0);
let versions = values.versions?.split(',') ?? ['9p2000.L'];
let aname = values.aname;
if (values.diod === true) {
  const diod = findDiod();
  if (diod === undefined) throw new Error('diod not found');
  dir = mkdtempSync(join(tmpdir(), 'capns-vm-diod-'));
  server = await startDiod(diod, dir);
  port = server.port;
  aname = dir;
} else if (values.capns === true) {
  server = await startCapns9p(['--ram', '--msize', String(512 * 1024)]);
  port = server.port;
  versions = values.versions?.split(',') ?? ['9p2000.L', '9p2000'];
}
if (port === 0) throw new Error('give --diod, --capns or --port N');

const accel = values.accel as 'kvm' | 'tcg' | undefined;
const run = await runV9fsVm(pre.prereqs, initramfs, {
  port,
  versions,
  ...(aname !== undefined ? { aname } : {}),
  ...(accel !== undefined ? { accel } : {}),
  ...(values.files !== undefined ? { files: Number(values.files) } : {}),
  ...(values.bigmib !== undefined ? { bigMiB: Number(values.bigmib) } : {}),
  ...(values.writers !== undefined ? { writers: Number(values.writers) } : {}),
  ...(values.msize !== undefined ? { msize: Number(values.msize) } : {}),
  ...(values.hostsha !== undefined ? { hostSha256: values.hostsha } : {}),
  onLine: (l) => console.log(l),
});
await server?.stop();
if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
const failed = run.results.filter((r) => !r.ok);
console.error(
  `accel ${run.accel}; boots ${run.boots}; ${run.elapsedMs} ms; done=${run.done} timedOut=${run.timedOut} ` +
    `exit=${run.exitCode}; ${run.results.length} results, ${failed.length} failed`,
);
if (server !== undefined && failed.length > 0) console.error(server.output());
process.exit(run.done && failed.length === 0 ? 0 : 1);
