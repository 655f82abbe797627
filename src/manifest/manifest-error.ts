/**
 * Problems found in a manifest, by the parser (always errors) and the doctor (errors and
 * warnings), each with the place it was written.
 */
import { NsError } from '../errors.js';

/** One problem: where (file:line:column and field path), how bad, what. */
export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  /** What kind of problem; stable, for tools and tests (see docs/manifest.md). */
  readonly code: DiagnosticCode;
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units of the line. */
  readonly column: number;
  /** The field path, e.g. `profiles.alice.namespace[1].position`; '' for the document. */
  readonly path: string;
  readonly message: string;
}

/** The kinds of problem (docs/manifest.md lists them with their meaning). */
export const DIAGNOSTIC_CODES = [
  // parse: the document cannot be read as YAML at all
  'syntax',
  // parse: valid YAML, but not a valid manifest
  'duplicate-key',
  'unknown-field',
  'invalid-value',
  'missing-field',
  'env-unset',
  'unknown-capability',
  'unknown-profile',
  'bad-address',
  'bad-path',
  'bad-ns',
  // check (the doctor)
  'shadowed',
  'bind-source-missing',
  'interface-mismatch',
  'duplicate-token',
  'duplicate-subject',
  'weak-token',
  'unreachable-profile',
  'loopback-auth',
  'anonymous',
  'ninep-auth',
  'listener-conflict',
  'export-root-missing',
  'unused-capability',
  'same-directory',
  'no-listeners',
] as const;

/**
 * What `capns manifest check` finds beyond the pure doctor, by looking at the machine
 * (src/services/preflight.ts): the schema files, the interfaces they define, the
 * services' commands.
 */
export const PREFLIGHT_DIAGNOSTIC_CODES = ['schema', 'unknown-interface', 'command-not-found', 'cwd-missing'] as const;

/** A kind of problem. */
export type DiagnosticCode = (typeof DIAGNOSTIC_CODES)[number] | (typeof PREFLIGHT_DIAGNOSTIC_CODES)[number];

/** `file:line:column path: message`, with `warning: ` before the message of a warning. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.column}`;
  const what = d.severity === 'warning' ? `warning: ${d.message}` : d.message;
  return d.path === '' ? `${where}: ${what}` : `${where} ${d.path}: ${what}`;
}

/** Orders diagnostics by position, then path. */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return a.line - b.line || a.column - b.column || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

const brand = Symbol.for('ns.manifest-error');

/**
 * A manifest that cannot be used: every problem found, at once, in `issues` (in file
 * order). It is an `NsError` with code NS_ERR_PARSE, so code that only knows NsError
 * handles it; the message is the issues, one per line.
 */
export class ManifestError extends NsError {
  readonly issues: readonly Diagnostic[];

  constructor(issues: readonly Diagnostic[]) {
    const sorted = [...issues].sort(compareDiagnostics);
    super('NS_ERR_PARSE', sorted.map(formatDiagnostic).join('\n'));
    this.issues = sorted;
  }

  /** Recognizes ManifestErrors from another copy of this module (NsError's own check would accept any NsError). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[brand] === true
    );
  }

  get [brand](): true {
    return true;
  }

  /** Whether the document is not even YAML (the CLI's exit status 2). */
  get syntax(): boolean {
    return this.issues.some((i) => i.code === 'syntax');
  }
}
