/**
 * Namespace text: the line format of Plan 9's namespace(6) files and /proc/N/ns, parsed
 * and printed. Pure; `MountTable.describe()` and `MountTable.apply()` are built on it.
 *
 *   bind [-abcC] from to          make what `from` names visible at `to` too (bind(2))
 *   mount [-abcC] label to [spec] add the capability called `label` at `to` (mount(2));
 *                                 `spec`, like mount's aname, is a path inside it
 *   unmount [label] to            remove one member (by label), or all members, at `to`
 *   clear                         start over from an empty namespace
 *
 * Flags: -a after, -b before (neither: replace), -c create (MCREATE), -C cache (accepted,
 * ignored). Words are separated by blanks; a word is quoted as tokenize(2) and rc do:
 * '...' with '' for a quote inside. A line whose first non-blank character is '#' is a
 * comment. `$name` outside quotes is replaced by a variable given by the caller (an
 * unknown one is an error). Errors are `NsError('NS_ERR_PARSE')` naming line and column
 * (both 1-based; columns count UTF-16 code units).
 */
import { NsError } from '../errors.js';

/** Where a new member goes in a union stack (bind(2)'s MREPL, MBEFORE, MAFTER). */
export type Position = 'replace' | 'before' | 'after';

/** One word of a line, with where it started. */
export interface Word {
  readonly text: string;
  readonly line: number;
  readonly column: number;
  /** Whether any part of it was quoted (a quoted word is never a flag). */
  readonly quoted: boolean;
}

/** One parsed line. */
export type NsCommand =
  | {
      readonly op: 'bind';
      readonly at: Word;
      readonly position: Position;
      readonly create: boolean;
      readonly from: Word;
      readonly to: Word;
    }
  | {
      readonly op: 'mount';
      readonly at: Word;
      readonly position: Position;
      readonly create: boolean;
      readonly label: Word;
      readonly to: Word;
      readonly spec: Word | undefined;
    }
  | {
      readonly op: 'unmount';
      readonly at: Word;
      readonly label: Word | undefined;
      readonly to: Word;
    }
  | { readonly op: 'clear'; readonly at: Word };

/** Options for `parseNamespaceText`. */
export interface ParseOptions {
  /** Values for `$name` (namespace(6) expands environment variables, e.g. $home). */
  readonly vars?: Readonly<Record<string, string>>;
}

/** A word as shown in an error message: at most 60 characters of it. */
export function clip(word: string): string {
  return word.length > 60 ? `${word.slice(0, 60)}...` : word;
}

/** The error for line `line`, column `column`. */
export function parseError(line: number, column: number, message: string): NsError {
  return new NsError('NS_ERR_PARSE', `line ${line}, column ${column}: ${message}`);
}

const VAR_CHAR = /[A-Za-z0-9_*]/;

/** Splits one line into words. */
function tokenize(text: string, line: number, vars: Readonly<Record<string, string>>): Word[] {
  const words: Word[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#' && words.length === 0) break;
    const start = i;
    let out = '';
    let quoted = false;
    while (i < n) {
      const d = text[i] as string;
      if (d === ' ' || d === '\t' || d === '\r') break;
      if (d === "'") {
        quoted = true;
        const open = i;
        i++;
        for (;;) {
          if (i >= n) throw parseError(line, open + 1, 'unterminated quote');
          if (text[i] === "'") {
            if (text[i + 1] === "'") {
              out += "'";
              i += 2;
              continue;
            }
            i++;
            break;
          }
          out += text[i];
          i++;
        }
        continue;
      }
      if (d === '$') {
        let j = i + 1;
        while (j < n && VAR_CHAR.test(text[j] as string)) j++;
        const name = text.slice(i + 1, j);
        if (name === '')
          throw parseError(line, i + 1, "'$' without a variable name (quote it: '$')");
        const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
        if (value === undefined) throw parseError(line, i + 1, `variable $${name} is not set`);
        out += value;
        i = j;
        continue;
      }
      out += d;
      i++;
    }
    words.push({ text: out, line, column: start + 1, quoted });
  }
  return words;
}

function parseFlags(
  words: Word[],
  from: number,
): { position: Position; create: boolean; next: number } {
  let position: Position = 'replace';
  let create = false;
  let after: Word | undefined;
  let before: Word | undefined;
  let i = from;
  for (; i < words.length; i++) {
    const w = words[i] as Word;
    if (w.quoted || w.text.length < 2 || !w.text.startsWith('-')) break;
    for (let k = 1; k < w.text.length; k++) {
      switch (w.text[k]) {
        case 'a':
          after = w;
          position = 'after';
          break;
        case 'b':
          before = w;
          position = 'before';
          break;
        case 'c':
          create = true;
          break;
        case 'C':
          break;
        default:
          throw parseError(
            w.line,
            w.column + k,
            `unknown flag '${w.text[k]}' in '${clip(w.text)}' (flags are -a, -b, -c, -C)`,
          );
      }
    }
  }
  if (after && before)
    throw parseError(before.line, before.column, 'flags -a and -b exclude each other');
  return { position, create, next: i };
}

function arity(cmd: Word, args: Word[], min: number, max: number, usage: string): void {
  if (args.length >= min && args.length <= max) return;
  const at = args.length > max ? (args[max] as Word) : cmd;
  const what = args.length > max ? `unexpected argument '${clip(at.text)}'` : 'missing argument';
  throw parseError(at.line, at.column, `${what}; usage: ${usage}`);
}

/**
 * Parses namespace text into commands, without running them.
 * @throws NsError NS_ERR_PARSE naming line and column: unknown command or flag, wrong
 *   number of arguments, an unterminated quote, an unset variable.
 */
export function parseNamespaceText(text: string, options: ParseOptions = {}): NsCommand[] {
  if (typeof text !== 'string')
    throw new NsError('NS_ERR_INVALID_ARGUMENT', 'namespace text is not a string');
  const vars = options.vars ?? {};
  const commands: NsCommand[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = ln + 1;
    const words = tokenize(lines[ln] as string, line, vars);
    const cmd = words[0];
    if (cmd === undefined) continue;
    if (cmd.quoted) throw parseError(line, cmd.column, `unknown command '${clip(cmd.text)}'`);
    switch (cmd.text) {
      case 'bind': {
        const f = parseFlags(words, 1);
        const args = words.slice(f.next);
        arity(cmd, args, 2, 2, 'bind [-abcC] from to');
        commands.push({
          op: 'bind',
          at: cmd,
          position: f.position,
          create: f.create,
          from: args[0] as Word,
          to: args[1] as Word,
        });
        break;
      }
      case 'mount': {
        const f = parseFlags(words, 1);
        const args = words.slice(f.next);
        arity(cmd, args, 2, 3, 'mount [-abcC] label to [spec]');
        commands.push({
          op: 'mount',
          at: cmd,
          position: f.position,
          create: f.create,
          label: args[0] as Word,
          to: args[1] as Word,
          spec: args[2],
        });
        break;
      }
      case 'unmount': {
        const args = words.slice(1);
        const flag = args.find((w) => !w.quoted && w.text.startsWith('-') && w.text.length > 1);
        if (flag)
          throw parseError(line, flag.column, `unmount takes no flags ('${clip(flag.text)}')`);
        arity(cmd, args, 1, 2, 'unmount [label] to');
        commands.push(
          args.length === 2
            ? { op: 'unmount', at: cmd, label: args[0], to: args[1] as Word }
            : { op: 'unmount', at: cmd, label: undefined, to: args[0] as Word },
        );
        break;
      }
      case 'clear':
        arity(cmd, words.slice(1), 0, 0, 'clear');
        commands.push({ op: 'clear', at: cmd });
        break;
      case 'cd':
      case '.':
      case 'import':
      case 'new':
      case 'fork':
        throw parseError(
          line,
          cmd.column,
          `'${clip(cmd.text)}' is a namespace(6) command capns does not support (bind, mount, unmount, clear)`,
        );
      default:
        throw parseError(
          line,
          cmd.column,
          `unknown command '${clip(cmd.text)}' (expected bind, mount, unmount or clear)`,
        );
    }
  }
  return commands;
}

/**
 * `word` as it must be written so `parseNamespaceText` reads it back unchanged: quoted
 * (rc style) when empty or when it holds a blank, a quote, '$', or starts with '#' or '-'.
 */
export function quoteWord(word: string): string {
  if (word !== '' && !/[\s'$]/.test(word) && !word.startsWith('#') && !word.startsWith('-'))
    return word;
  return `'${word.replaceAll("'", "''")}'`;
}

/** The flag word for a position and create flag ('' for replace without create). */
export function formatFlags(position: Position, create: boolean): string {
  const p = position === 'after' ? 'a' : position === 'before' ? 'b' : '';
  const flags = p + (create ? 'c' : '');
  return flags === '' ? '' : `-${flags}`;
}
