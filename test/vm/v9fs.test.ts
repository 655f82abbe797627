/**
 * The Linux kernel's v9fs client against 9P servers, in a qemu VM (docs/testing-vm.md).
 *
 * Each test starts a server on 127.0.0.1, boots Debian's kernel once under software
 * emulation with test/vm/guest-init.sh as /init, and asserts that every check the guest
 * ran for every protocol version reported ok. Debian's diod (9P2000.L only) is the
 * reference: it proves the harness independently of our server.
 *
 * Where qemu, the kernel package or busybox-static is missing the tests skip with the
 * reason, except under CI (CI=true), where .ci/run installs them and a missing piece is a
 * failure.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import {
  buildInitramfs,
  findVmPrereqs,
  runV9fsVm,
  type VmPrereqs,
  type VmRun,
} from '../support/vm.js';
import {
  capnsHas9p,
  diodcat,
  findDiod,
  startCapns9p,
  startDiod,
  type NinepServerProcess,
} from '../support/vm-servers.js';

const inCi = process.env['CI'] === 'true';

/** The checks guest-init.sh runs for each mounted version, in order. */
const perVersionChecks = [
  'mount',
  'mkdir_p',
  'write_read',
  'attrs',
  'mv',
  'rm',
  'ls_many',
  'dd_checksum',
  'concurrent_writers',
  'umount',
];

/**
 * qemu's hard limit. A boot takes 25-120 s on a quiet 2-core machine; this leaves room
 * for a machine loaded by other work (155 s measured at load average 18) while still
 * ending a hung server's run.
 */
const vmTimeoutMs = 420_000;

const pre = findVmPrereqs();

/** The prerequisites, or undefined after skipping (or failing, under CI) the test. */
function prereqsOrSkip(t: TestContext): VmPrereqs | undefined {
  if (pre.ok) return pre.prereqs;
  if (inCi) assert.fail(`CI must run the VM tests, but: ${pre.reason}`);
  t.skip(pre.reason);
  return undefined;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Asserts that the boot finished and that each version has an ok result for every check
 * in `checks`, reporting everything that went wrong at once, with the console and the
 * server's output.
 */
function assertAllOk(
  run: VmRun,
  versions: string[],
  checks: string[],
  server: NinepServerProcess,
): void {
  const problems: string[] = [];
  if (run.timedOut) problems.push(`VM timed out after ${run.elapsedMs} ms`);
  else if (!run.done) problems.push(`VM did not finish (qemu exit ${run.exitCode})`);
  const network = run.results.find((r) => r.version === 'boot' && r.name === 'network');
  if (network?.ok !== true) problems.push(`network: ${network?.detail ?? 'no result'}`);
  for (const v of versions) {
    for (const c of checks) {
      const r = run.results.find((x) => x.version === v && x.name === c);
      if (r === undefined) problems.push(`${v} ${c}: no result`);
      else if (!r.ok) problems.push(`${v} ${c}: ${r.detail}`);
    }
  }
  const unexpected = run.results.filter(
    (r) => !r.ok && !problems.some((p) => p.startsWith(`${r.version} ${r.name}:`)),
  );
  for (const r of unexpected) problems.push(`${r.version} ${r.name}: ${r.detail}`);
  if (problems.length > 0) {
    assert.fail(
      `${problems.join('\n')}\n--- console (tail) ---\n${tail(run.console, 60)}` +
        `\n--- server output (tail) ---\n${tail(server.output(), 40)}`,
    );
  }
}

function detailField(run: VmRun, version: string, name: string, field: string): string | undefined {
  const r = run.results.find((x) => x.version === version && x.name === name);
  return r?.detail
    .split(' ')
    .find((w) => w.startsWith(`${field}=`))
    ?.slice(field.length + 1);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

describe('Linux v9fs client in a qemu VM', { timeout: 1_000_000 }, () => {
  test(
    'reference: Debian diod (9P2000.L) passes the guest POSIX work, and the bytes the guest wrote are on the host',
    { timeout: 480_000 },
    async (t) => {
      const p = prereqsOrSkip(t);
      if (p === undefined) return;
      const diod = findDiod();
      if (diod === undefined) {
        if (inCi) assert.fail('CI must run the VM tests, but diod is not installed');
        t.skip('diod not installed (Debian package diod)');
        return;
      }
      const dir = mkdtempSync(join(tmpdir(), 'capns-vm-diod-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      // A pattern the host writes and the guest reads: checked in the guest.
      const pattern = randomBytes(3 << 20);
      writeFileSync(join(dir, 'pattern'), pattern);
      const server = await startDiod(diod, dir);
      t.after(() => server.stop());

      const versions = ['9p2000.L'];
      const run = await runV9fsVm(p, buildInitramfs(p), {
        port: server.port,
        versions,
        aname: dir,
        hostSha256: sha256(pattern),
        timeoutMs: vmTimeoutMs,
      });
      t.diagnostic(`diod: ${run.elapsedMs} ms, accel ${run.accel}`);
      assertAllOk(run, versions, [...perVersionChecks, 'host_file'], server);

      // The bytes the guest wrote: checked on the host, in the served directory.
      const guestSha = detailField(run, '9p2000.L', 'dd_checksum', 'sha256');
      const onHost = sha256(readFileSync(join(dir, 'vm-9p2000.L', 'big')));
      assert.equal(onHost, guestSha, 'sha256 of the 16 MiB file on the host vs in the guest');
    },
  );

  test(
    'capns 9p --ram: 9P2000.L and 9P2000 mounts at msize 512 KiB pass the guest POSIX work, and diodcat reads back what the guest wrote',
    { timeout: 480_000 },
    async (t) => {
      const p = prereqsOrSkip(t);
      if (p === undefined) return;
      // Until the 9p subcommand is registered there is nothing to test; once it is, this
      // runs (and under CI must pass).
      if (!capnsHas9p()) {
        t.skip('capns has no 9p subcommand yet (`capns 9p --help` fails)');
        return;
      }
      // The kernel asks for 512 KiB; let the server grant it.
      const server = await startCapns9p(['--ram', '--msize', String(512 * 1024)]);
      t.after(() => server.stop());

      const versions = ['9p2000.L', '9p2000'];
      const run = await runV9fsVm(p, buildInitramfs(p), {
        port: server.port,
        versions,
        timeoutMs: vmTimeoutMs,
      });
      t.diagnostic(`capns: ${run.elapsedMs} ms, accel ${run.accel}`);
      for (const v of versions) {
        const mount = run.results.find((r) => r.version === v && r.name === 'mount');
        if (mount !== undefined) t.diagnostic(`${v} mount: ${mount.detail}`);
      }
      assertAllOk(run, versions, perVersionChecks, server);

      // The kernel reports the msize it settled on (diod's 64 KiB cap shows there too).
      for (const v of versions) {
        const mount = run.results.find((r) => r.version === v && r.name === 'mount');
        const msize = /(?:^|[ ,])msize=(\d+)/.exec(mount?.detail ?? '')?.[1];
        assert.equal(Number(msize), 512 * 1024, `${v}: negotiated msize`);
      }

      // The bytes the guest wrote, read back on the host through the same server by a
      // second client (diodcat, 9P2000.L): the server holds what the kernel sent.
      const cat = findDiod('diodcat');
      if (cat === undefined) {
        if (inCi) assert.fail('CI must run the VM tests, but diodcat is not installed');
        t.diagnostic('diodcat not installed: host-side checksum skipped');
        return;
      }
      for (const v of versions) {
        const guestSha = detailField(run, v, 'dd_checksum', 'sha256');
        const onHost = sha256(diodcat(cat, server.port, '', `vm-${v}/big`));
        assert.equal(onHost, guestSha, `sha256 of vm-${v}/big read by diodcat vs in the guest`);
      }
    },
  );
});
