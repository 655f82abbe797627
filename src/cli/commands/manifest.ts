/**
 * `capns manifest check|graph|show`: the manifest doctor, the Graphviz view and the
 * normalized form. Exit status: 0 fine, 1 the manifest has errors, 2 the file could not
 * be read or is not YAML. `${VAR}` references are resolved from the environment.
 */
import type { Command } from 'commander';
import type { Diagnostic, Manifest } from '../../manifest/index.js';
import { DEFAULT_MANIFEST_FILE } from '../../manifest/default-ports.js';
import { MANIFEST_INVALID, MANIFEST_OK } from './manifest-status.js';

function summary(file: string, list: readonly Diagnostic[]): string {
  const errors = list.filter((d) => d.severity === 'error').length;
  const warnings = list.length - errors;
  const n = (k: number, what: string): string => `${k} ${what}${k === 1 ? '' : 's'}`;
  return `${file}: ${errors === 0 && warnings === 0 ? 'ok' : `${n(errors, 'error')}, ${n(warnings, 'warning')}`}`;
}

/**
 * `capns manifest check`: every finding, then a summary (or one line of JSON). A file
 * that cannot be read or parsed at all is an error: on stderr (one JSON line with
 * --json), status 2.
 */
async function check(file: string | undefined, opts: { json?: boolean; strict?: boolean }): Promise<number> {
  const [{ loadManifest }, { checkManifest, compareDiagnostics, formatDiagnostic }, { preflightManifest }] = await Promise.all([
    import('./manifest-load.js'),
    import('../../manifest/index.js'),
    import('../../services/index.js'),
  ]);
  const loaded = await loadManifest(file, { env: process.env });
  const name = file ?? DEFAULT_MANIFEST_FILE;
  let diagnostics: readonly Diagnostic[];
  let status: number;
  if ('manifest' in loaded) {
    // The machine first (schema files, the user's interface names), then the doctor on
    // the manifest with those names completed.
    const pre = await preflightManifest(loaded.manifest, { path: process.env['PATH'] ?? '' });
    diagnostics = [...pre.diagnostics, ...checkManifest(pre.manifest)].sort(compareDiagnostics);
    const failing = diagnostics.filter((d) => d.severity === 'error' || opts.strict === true);
    status = failing.length > 0 ? MANIFEST_INVALID : MANIFEST_OK;
  } else {
    diagnostics = loaded.diagnostics;
    status = loaded.status;
    if (diagnostics.length === 0) {
      if (opts.json === true) process.stderr.write(JSON.stringify({ error: { command: 'manifest check', code: 'NS_ERR_PARSE', message: loaded.message, status, path: name } }) + '\n');
      else process.stderr.write(`capns manifest check: ${loaded.message}\n`);
      return status;
    }
  }
  if (opts.json === true) {
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    process.stdout.write(JSON.stringify({ file: name, status, errors, warnings: diagnostics.length - errors, diagnostics }) + '\n');
  } else {
    for (const d of diagnostics) process.stdout.write(formatDiagnostic(d) + '\n');
    process.stdout.write(summary(name, diagnostics) + '\n');
  }
  return status;
}

async function loadOrReport(command: string, file: string | undefined, dataDir?: string): Promise<Manifest | number> {
  const { loadManifest } = await import('./manifest-load.js');
  const loaded = await loadManifest(file, dataDir === undefined ? { env: process.env } : { env: process.env, dataDir });
  if ('manifest' in loaded) return loaded.manifest;
  process.stderr.write(loaded.diagnostics.length === 0 ? `capns manifest ${command}: ${loaded.message}\n` : loaded.message + '\n');
  return loaded.status;
}

/** Registers `capns manifest` and its subcommands on `program`. */
export function register(program: Command): void {
  const manifest = program
    .command('manifest')
    .description(
      'check, draw or print a manifest (the capabilities, profiles and listeners of capns serve)',
    )
    .addHelpText(
      'after',
      '\nExit status: 0 fine, 1 the manifest has errors, 2 the file cannot be read or is not YAML.\nThe format: docs/manifest.md.',
    );

  manifest
    .command('check')
    .description(
      'report every problem in a manifest: errors (it would not start or would open a hole) and warnings',
    )
    .argument(
      '[file]',
      'the manifest (YAML or JSON; ${VAR}s come from the environment); without it, the embedded default',
    )
    .option('--json', 'print the findings as one line of JSON: {file, status, errors, warnings, diagnostics}; an unreadable file as one JSON line on stderr')
    .option('--strict', 'fail (exit 1) on warnings too')
    .addHelpText(
      'after',
      '\nEach finding is printed as  FILE:LINE:COLUMN FIELD.PATH: [warning: ]MESSAGE\nExit status: 0 no errors, 1 errors (or warnings with --strict), 2 unreadable or not YAML.',
    )
    .action(async (file: string | undefined, opts: { json?: boolean; strict?: boolean }) => {
      process.exitCode = await check(file, opts);
    });

  manifest
    .command('graph')
    .description(
      'print who sees what as Graphviz dot (listeners -> profiles -> paths -> capabilities)',
    )
    .argument('[file]', 'the manifest (YAML or JSON); without it, the embedded default')
    .addHelpText(
      'after',
      '\nEdges are numbered in union search order; "create" marks MCREATE members.\nExample: capns manifest graph m.yaml | dot -Tsvg > m.svg',
    )
    .action(async (file: string | undefined) => {
      const m = await loadOrReport('graph', file);
      if (typeof m === 'number') {
        process.exitCode = m;
        return;
      }
      const { manifestGraph } = await import('../../manifest/index.js');
      process.stdout.write(manifestGraph(m));
    });

  manifest
    .command('show')
    .description(
      'print the normalized manifest as JSON (defaults filled in, ${VAR}s expanded, ns text as steps)',
    )
    .argument('[file]', 'the manifest; without it, the embedded default that capns serve runs')
    .option('--locations', 'keep where each element was written (file, line, column, path)')
    .option('--secrets', 'print tokens instead of "(redacted)"')
    .option('--data-dir <dir>', 'for the embedded default: the host folder served at /data')
    .action(
      async (
        file: string | undefined,
        opts: { locations?: boolean; secrets?: boolean; dataDir?: string },
      ) => {
        const m = await loadOrReport('show', file, opts.dataDir);
        if (typeof m === 'number') {
          process.exitCode = m;
          return;
        }
        const { manifestToJSON } = await import('../../manifest/index.js');
        process.stdout.write(manifestToJSON(m, { locations: opts.locations === true, secrets: opts.secrets === true }));
      },
    );
}
