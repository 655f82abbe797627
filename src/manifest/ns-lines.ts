/**
 * The namespace(6) lines a profile may give in an `ns:` step, parsed into steps. The
 * manifest imports nothing from src/namespace (STYLE.md section 2), so this is a small
 * parser of its own for the same syntax as src/namespace/ns-text.ts:
 *
 *   bind [-abcC] from to          bind(1)
 *   mount [-abcC] capability to [spec]
 *   unmount [member] to
 *
 * Flags: -a after, -b before (neither: replace), -c create (MCREATE), -C accepted and
 * ignored. Words are separated by blanks and quoted as rc does ('...', '' for a quote).
 * A line whose first word starts with '#' is a comment. `$` has no meaning here: the
 * manifest's `${VAR}` references are already expanded. `clear` is refused (a profile
 * starts empty).
 */

/** Where a new member goes in a union stack (bind(2)'s MREPL, MBEFORE, MAFTER). */
export type Position = 'replace' | 'before' | 'after';

/** One word, with its 1-based line and column in the text. */
export interface NsWord {
  readonly text: string;
  readonly line: number;
  readonly column: number;
}

/** One parsed line. Paths are as written (checked and cleaned by the caller). */
export type NsLine =
  | {
      readonly op: 'bind';
      readonly at: NsWord;
      readonly position: Position;
      readonly create: boolean;
      readonly from: NsWord;
      readonly to: NsWord;
    }
  | {
      readonly op: 'mount';
      readonly at: NsWord;
      readonly position: Position;
      readonly create: boolean;
      readonly capability: NsWord;
      readonly to: NsWord;
      readonly spec: NsWord | undefined;
    }
  | {
      readonly op: 'unmount';
      readonly at: NsWord;
      readonly member: NsWord | undefined;
      readonly to: NsWord;
    };

/** A problem at a 1-based line and column of the text. */
export interface NsProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

function tokenize(text: string, line: number, problems: NsProblem[]): NsWord[] | undefined {
  const words: NsWord[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#' && words.length === 0) break;
    const start = i;
    let out = '';
    while (i < text.length) {
      const d = text[i] as string;
      if (d === ' ' || d === '\t' || d === '\r') break;
      if (d !== "'") {
        out += d;
        i++;
        continue;
      }
      const open = i++;
      for (;;) {
        if (i >= text.length) {
          problems.push({ line, column: open + 1, message: 'unterminated quote' });
          return undefined;
        }
        if (text[i] === "'") {
          if (text[i + 1] !== "'") break;
          i++;
        }
        out += text[i];
        i++;
      }
      i++;
    }
    words.push({ text: out, line, column: start + 1 });
  }
  return words;
}

function flags(
  words: NsWord[],
  problems: NsProblem[],
): { position: Position; create: boolean; next: number } | undefined {
  let position: Position = 'replace';
  let create = false;
  let i = 1;
  for (; i < words.length; i++) {
    const w = words[i] as NsWord;
    if (w.text.length < 2 || !w.text.startsWith('-')) break;
    for (let k = 1; k < w.text.length; k++) {
      const f = w.text[k];
      if (f === 'a' || f === 'b') {
        const want: Position = f === 'a' ? 'after' : 'before';
        if (position !== 'replace' && position !== want) {
          problems.push({
            line: w.line,
            column: w.column + k,
            message: 'flags -a and -b exclude each other',
          });
          return undefined;
        }
        position = want;
      } else if (f === 'c') {
        create = true;
      } else if (f !== 'C') {
        problems.push({
          line: w.line,
          column: w.column + k,
          message: `unknown flag '${f}' in '${w.text}' (flags are -a, -b, -c, -C)`,
        });
        return undefined;
      }
    }
  }
  return { position, create, next: i };
}

function arity(
  cmd: NsWord,
  args: NsWord[],
  min: number,
  max: number,
  usage: string,
  problems: NsProblem[],
): boolean {
  if (args.length >= min && args.length <= max) return true;
  const extra = args[max];
  if (extra !== undefined)
    problems.push({
      line: extra.line,
      column: extra.column,
      message: `unexpected argument '${extra.text}'; usage: ${usage}`,
    });
  else
    problems.push({
      line: cmd.line,
      column: cmd.column,
      message: `missing argument; usage: ${usage}`,
    });
  return false;
}

/** Parses namespace(6) text. Problems are appended to `problems`; bad lines are skipped. */
export function parseNsLines(text: string, problems: NsProblem[]): NsLine[] {
  const out: NsLine[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const words = tokenize(lines[ln] as string, ln + 1, problems);
    const cmd = words?.[0];
    if (words === undefined || cmd === undefined) continue;
    switch (cmd.text) {
      case 'bind': {
        const f = flags(words, problems);
        if (f === undefined) break;
        const args = words.slice(f.next);
        if (!arity(cmd, args, 2, 2, 'bind [-abcC] from to', problems)) break;
        out.push({
          op: 'bind',
          at: cmd,
          position: f.position,
          create: f.create,
          from: args[0] as NsWord,
          to: args[1] as NsWord,
        });
        break;
      }
      case 'mount': {
        const f = flags(words, problems);
        if (f === undefined) break;
        const args = words.slice(f.next);
        if (!arity(cmd, args, 2, 3, 'mount [-abcC] capability to [spec]', problems)) break;
        out.push({
          op: 'mount',
          at: cmd,
          position: f.position,
          create: f.create,
          capability: args[0] as NsWord,
          to: args[1] as NsWord,
          spec: args[2],
        });
        break;
      }
      case 'unmount': {
        const args = words.slice(1);
        if (!arity(cmd, args, 1, 2, 'unmount [member] to', problems)) break;
        const two = args.length === 2;
        out.push({
          op: 'unmount',
          at: cmd,
          member: two ? args[0] : undefined,
          to: args[two ? 1 : 0] as NsWord,
        });
        break;
      }
      case 'clear':
        problems.push({
          line: cmd.line,
          column: cmd.column,
          message: "'clear' is not allowed in a manifest (a profile's namespace starts empty)",
        });
        break;
      default:
        problems.push({
          line: cmd.line,
          column: cmd.column,
          message: `unknown command '${cmd.text}' (expected bind, mount or unmount)`,
        });
    }
  }
  return out;
}
