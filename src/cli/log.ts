/**
 * The logs of the server commands (`capns serve`, `export`, `import`): pino, written to
 * stderr as JSON lines (one object per event, for machines and log collectors) or, on a
 * terminal, as one readable line per event:
 *
 *   14:03:07.412 INFO  authenticated profile=local holder=local@rpc#1
 *   14:03:09.001 ERROR reload refused problems=["m.yaml:3:5 ..."]
 *                      Error: ... (the stack of an `err`, indented)
 *
 * `--log-format json|pretty` (or CAPNS_LOG_FORMAT) chooses; without either, pretty when
 * stderr is a terminal, JSON otherwise. The pretty form is a small formatter of pino's
 * own JSON lines rather than pino-pretty (a dozen packages for what is 60 lines here):
 * every field pino would write is still printed, as key=value.
 */
import type { Logger } from 'pino';

/** How log lines look. */
export type LogFormat = 'json' | 'pretty';

export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** The log levels `--log-level` takes (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The format asked for (`flag`, else CAPNS_LOG_FORMAT), else pretty on a terminal.
 * @returns a message naming the problem when the value is not a format.
 */
export function chooseLogFormat(flag: string | undefined, env: NodeJS.ProcessEnv, isTTY: boolean): LogFormat | { error: string } {
  const asked = flag ?? (env['CAPNS_LOG_FORMAT'] !== '' ? env['CAPNS_LOG_FORMAT'] : undefined);
  if (asked === undefined) return isTTY ? 'pretty' : 'json';
  if ((LOG_FORMATS as readonly string[]).includes(asked)) return asked as LogFormat;
  return { error: `${flag !== undefined ? '--log-format' : 'CAPNS_LOG_FORMAT'} ${asked}: expected json or pretty` };
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Readonly<Record<number, string>> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };

/** A value as key=value shows it: bare words as they are, anything else as JSON. */
function showValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/**
 * One pino JSON line as a line for people. `time` as local hh:mm:ss.mmm, the level, the
 * message, then the other fields (pid and hostname left out: one process per terminal).
 * An `err` prints its message as a field and its stack below. A line that is not JSON
 * passes through unchanged.
 */
export function prettyLine(line: string, color: boolean): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { level, time, msg, pid: _pid, hostname: _hostname, err, ...rest } = o;
  const n = typeof level === 'number' ? level : 30;
  const d = new Date(typeof time === 'number' ? time : Date.now());
  const hh = (x: number, w = 2): string => String(x).padStart(w, '0');
  const stamp = `${hh(d.getHours())}:${hh(d.getMinutes())}:${hh(d.getSeconds())}.${hh(d.getMilliseconds(), 3)}`;
  const name = (LEVEL_NAMES[n] ?? String(n)).padEnd(5);
  const shownLevel = color ? `\x1b[${LEVEL_COLORS[n] ?? '0'}m${name}\x1b[0m` : name;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${showValue(v)}`);
  let stack = '';
  if (typeof err === 'object' && err !== null) {
    const e = err as { message?: unknown; stack?: unknown };
    fields.unshift(`err=${showValue(typeof e.message === 'string' ? e.message : err)}`);
    if (typeof e.stack === 'string') stack = e.stack.split('\n').map((l) => `${' '.repeat(19)}${l}\n`).join('');
  } else if (err !== undefined) fields.unshift(`err=${showValue(err)}`);
  const text = typeof msg === 'string' ? msg : '';
  return `${stamp} ${shownLevel} ${text}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n${stack}`;
}

/**
 * A pino logger on stderr in `format`. `base` fields go on every line (pid by default).
 * Loads pino when called, not when `capns` starts.
 */
export async function makeLogger(level: string, format: LogFormat, stream: NodeJS.WriteStream = process.stderr): Promise<Logger> {
  const { pino } = await import('pino');
  const options = { level, base: { pid: process.pid } };
  if (format === 'json') return pino(options, pino.destination((stream as NodeJS.WriteStream & { fd: number }).fd));
  const color = stream.isTTY === true && (process.env['NO_COLOR'] ?? '') === '';
  // pino writes each line with one write() call: format it there, synchronously, so that
  // lines stay in order with the command's own messages on stderr.
  return pino(options, { write: (line: string) => void stream.write(prettyLine(line, color)) });
}
