/**
 * An import's status as a plain value, and its wire form (schema/proxy.capnp
 * `ImportStatus`): what the importer reports and what clients read. Kept apart from the
 * importer so that a client reading a status loads nothing of it.
 */
import { ImportStatus_State, type ImportStatus as ImportStatusStruct } from '../gen/proxy.js';

/** Where an import is. */
export type ImportState = 'connecting' | 'connected' | 'retrying' | 'refused' | 'closed';

/** An import's status (what `Import.status` answers, schema/proxy.capnp). Times in ms since the epoch. */
export interface ImportStatus {
  readonly name: string;
  readonly address: string;
  readonly path: string;
  readonly state: ImportState;
  readonly since: number;
  readonly lastError: string;
  /** 0 when nothing failed yet. */
  readonly lastErrorAt: number;
  readonly connections: number;
  /** When the next attempt starts; 0 when none is planned (connected, under way, refused for good, closed). */
  readonly nextAttemptAt: number;
}

/** ImportState -> the wire enum. */
export const STATE_WIRE: Record<ImportState, number> = {
  connecting: ImportStatus_State.CONNECTING,
  connected: ImportStatus_State.CONNECTED,
  retrying: ImportStatus_State.RETRYING,
  refused: ImportStatus_State.REFUSED,
  closed: ImportStatus_State.CLOSED,
};

const STATE_NAMES = new Map<number, ImportState>(
  (Object.keys(STATE_WIRE) as ImportState[]).map((k) => [STATE_WIRE[k], k]),
);

/** The state an `ImportStatus.State` number names ('retrying' for numbers a newer peer may send). */
export function importStateOf(n: number): ImportState {
  return STATE_NAMES.get(n) ?? 'retrying';
}

/** An `ImportStatus` struct (an `Import.status` answer) read into a plain value. */
export function readImportStatus(s: ImportStatusStruct): ImportStatus {
  return {
    name: s.name,
    address: s.address,
    path: s.path,
    state: importStateOf(s.state),
    since: Number(s.since),
    lastError: s.lastError,
    lastErrorAt: Number(s.lastErrorAt),
    connections: s.connections,
    nextAttemptAt: Number(s.nextAttemptAt),
  };
}

/** "1.5 s", "250 ms", "3 min": a duration for people. */
export function formatDuration(ms: number): string {
  const t = Math.max(0, ms);
  if (t < 1000) return `${Math.round(t)} ms`;
  if (t < 60_000) return `${(t / 1000).toFixed(1)} s`;
  if (t < 3_600_000) return `${Math.round(t / 60_000)} min`;
  return `${(t / 3_600_000).toFixed(1)} h`;
}

/**
 * One line for people: "import of tcp!h!p /: connected for 3 min (2 connections)",
 * "... down for 12 s: connect ECONNREFUSED 127.0.0.1:5821; next attempt in 4.2 s",
 * "... refused: unknown token; not retrying". `now` in ms since the epoch.
 */
export function formatImportStatus(s: ImportStatus, now = Date.now()): string {
  const what = `import of ${s.address} ${s.path}`;
  const next = s.nextAttemptAt > 0 ? `next attempt in ${formatDuration(s.nextAttemptAt - now)}` : '';
  switch (s.state) {
    case 'connecting':
      return `${what}: connecting for ${formatDuration(now - s.since)}`;
    case 'connected':
      return `${what}: connected for ${formatDuration(now - s.since)}${s.connections === 2 ? ' (reconnected once)' : s.connections > 2 ? ` (reconnected ${s.connections - 1} times)` : ''}`;
    case 'retrying':
      return `${what}: down for ${formatDuration(now - s.since)}: ${s.lastError}; ${next === '' ? 'an attempt is under way' : next}`;
    case 'refused':
      return `${what}: refused: ${s.lastError}; ${next === '' ? 'not retrying' : next}`;
    case 'closed':
      return `${what}: closed`;
  }
}

/** An import's status as JSON (CLI `--json`, HTTP): times as ISO 8601 strings, null when none. */
export interface ImportStatusJson {
  readonly name: string;
  readonly address: string;
  readonly path: string;
  readonly state: ImportState;
  readonly since: string;
  readonly lastError: string;
  readonly lastErrorAt: string | null;
  readonly connections: number;
  readonly nextAttemptAt: string | null;
}

/** `s` as JSON (see ImportStatusJson). */
export function importStatusJson(s: ImportStatus): ImportStatusJson {
  const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);
  return {
    name: s.name,
    address: s.address,
    path: s.path,
    state: s.state,
    since: new Date(s.since).toISOString(),
    lastError: s.lastError,
    lastErrorAt: iso(s.lastErrorAt),
    connections: s.connections,
    nextAttemptAt: iso(s.nextAttemptAt),
  };
}
