/**
 * What the VM tests (test/vm) share around the harness of vm.ts: skipping without the
 * prerequisites (failing instead under CI, which installs them), and asserting a run's
 * RESULT lines, everything that went wrong reported at once with the console's and the
 * server's last lines.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { findVmPrereqs, type VmPrereqs, type VmRun } from './vm.js';

const inCi = process.env['CI'] === 'true';
let found: ReturnType<typeof findVmPrereqs> | undefined;

/** The prerequisites, or undefined after skipping (or failing, under CI) the test. */
export function vmPrereqsOrSkip(t: TestContext): VmPrereqs | undefined {
  found ??= findVmPrereqs();
  if (found.ok) return found.prereqs;
  if (inCi) assert.fail(`CI must run the VM tests, but: ${found.reason}`);
  t.skip(found.reason);
  return undefined;
}

export function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Asserts that the boot finished, that the guest's network came up, that each version
 * has an ok result for every check in `checks` and that no other result failed. `extra`:
 * problems the caller found itself, reported with the rest.
 */
export function assertVmChecks(
  run: VmRun,
  versions: readonly string[],
  checks: readonly string[],
  serverOutput: () => string,
  extra: readonly string[] = [],
): void {
  const problems: string[] = [...extra];
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
        `\n--- server output (tail) ---\n${tail(serverOutput(), 40)}`,
    );
  }
}
