/**
 * How `capns reload` learns what a reload did. SIGHUP carries nothing back, so a
 * `capns serve --pidfile FILE` writes the outcome of every reload, whatever triggered it
 * (`capns reload`, `kill -HUP`), to `FILE.reload.json` — one JSON object, replaced
 * atomically, numbered — and `capns reload --pidfile FILE` sends the signal, waits for
 * the number to move, and prints it. The same outcome is logged by the server.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { ReloadReport } from '../server/capns-server.js';

/** What came of one reload. */
export interface ReloadOutcome {
  /**
   * `applied`: everything; `partial`: applied, but some listeners were refused (their
   * predecessors kept); `refused`: nothing changed (the manifest has errors, or a
   * capability or profile could not be built); `unchanged`: nothing to reload.
   */
  readonly outcome: 'applied' | 'partial' | 'refused' | 'unchanged';
  /** One line saying so. */
  readonly message: string;
  /** Why a reload was refused: the doctor's findings, or the error. */
  readonly problems: readonly string[];
  readonly report: ReloadReport | null;
}

/** The status file's content: an outcome, numbered, for one process. */
export interface ReloadStatus extends ReloadOutcome {
  readonly pid: number;
  /** Reloads this process has finished: 1 for the first. */
  readonly seq: number;
  /** When it finished (ISO 8601). */
  readonly at: string;
}

/** Where `capns serve --pidfile FILE` writes its reload outcomes. */
export function statusPath(pidfile: string): string {
  return `${pidfile}.reload.json`;
}

/** Replaces the status file at once (write, then rename): a reader never sees half of one. */
export async function writeStatus(pidfile: string, status: ReloadStatus): Promise<void> {
  const path = statusPath(pidfile);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(status) + '\n');
  await rename(tmp, path);
}

/** Removes the status file (at exit). Never throws. */
export async function removeStatus(pidfile: string): Promise<void> {
  await rm(statusPath(pidfile), { force: true }).catch(() => undefined);
}

/** The status file, or undefined when there is none (or it is not one). */
export async function readStatus(pidfile: string): Promise<ReloadStatus | undefined> {
  let text: string;
  try {
    text = await readFile(statusPath(pidfile), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const s = JSON.parse(text) as Partial<ReloadStatus>;
    if (typeof s.pid !== 'number' || typeof s.seq !== 'number' || typeof s.outcome !== 'string') return undefined;
    return s as ReloadStatus;
  } catch {
    return undefined;
  }
}

/** The outcome a report stands for. */
export function outcomeOf(report: ReloadReport): ReloadOutcome {
  const n = report.refused.length;
  if (n === 0) return { outcome: 'applied', message: 'manifest reloaded', problems: [], report };
  return {
    outcome: 'partial',
    message: `manifest reloaded, but ${n} listener${n === 1 ? ' was' : 's were'} refused (the previous one${n === 1 ? ' is' : 's are'} kept)`,
    problems: report.refused.map((r) => `${r.listener}: ${r.reason}`),
    report,
  };
}

/** The outcome as people read it: a first line, then what changed, indented. */
export function formatOutcome(s: ReloadOutcome & { pid?: number }): string {
  const who = s.pid !== undefined ? ` (process ${s.pid})` : '';
  const lines = [
    s.outcome === 'refused'
      ? `reload refused${who}: still running the previous manifest`
      : s.outcome === 'unchanged'
        ? `nothing reloaded${who}: ${s.message}`
        : `${s.message}${who}`,
  ];
  const r = s.report;
  if (r !== null) {
    const list = (label: string, xs: readonly string[]): void => {
      if (xs.length > 0) lines.push(`  ${label}: ${xs.join(', ')}`);
    };
    list('capabilities added', r.capabilitiesAdded);
    list('capabilities removed', r.capabilitiesRemoved);
    list('capabilities changed', r.capabilitiesChanged);
    list('profiles changed', r.profilesChanged);
    list('profiles removed', r.profilesRemoved);
    list('listeners opened', r.listenersOpened);
    list('listeners closed', r.listenersClosed);
    list('9p listeners serving the new namespace', r.listenersRefreshed);
    if (r.revoked > 0) lines.push(`  grants revoked: ${r.revoked}`);
    for (const x of r.refused) {
      lines.push(`  refused: ${x.listener}: ${x.reason}`);
      if (x.kept.length > 0) lines.push(`    kept instead: ${x.kept.join(', ')}`);
    }
    if (lines.length === 1) lines.push('  no change');
  } else {
    for (const p of s.problems) lines.push(...p.split('\n').map((l) => `  ${l}`));
  }
  return lines.join('\n');
}
