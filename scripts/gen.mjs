#!/usr/bin/env node
// Regenerates src/gen from schema/*.capnp, and the generated code of the RPC test schemas
// (test/fixtures/rpc/test.capnp -> test/fixtures/rpc/gen, old/test.capnp -> old/gen).
//
// capnp-es's `-ojs,dts` transpiles each generated file in memory and cannot resolve one
// schema's import of another (`./common.js`), so this script asks it for TypeScript
// (`-ots`) in a scratch directory and transpiles that with the compiler options capnp-es
// itself uses. Output: one .js and one .d.ts per schema, never edited by hand.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '..');

/** Generates `outDir` from every .capnp file directly in `schemaDir`. */
function generate(schemaDir, outDir) {
  // Inside the project so that the generated code's `import 'capnp-es'` resolves.
  mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true });
  const scratch = mkdtempSync(join(root, 'node_modules', '.cache', 'capns-gen-'));

  try {
    const schemas = readdirSync(schemaDir)
      .filter((f) => f.endsWith('.capnp'))
      .sort();
    execFileSync(
      join(root, 'node_modules', '.bin', 'capnp-es'),
      [...schemas.map((s) => join(schemaDir, s)), `--src-prefix=${schemaDir}`, `-ots:${scratch}`],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const sources = readdirSync(scratch)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(scratch, f));
    const options = {
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noImplicitReturns: true,
      preserveConstEnums: true,
      removeComments: false,
      skipLibCheck: true,
      declaration: true,
      outDir: scratch + '-out',
      rootDir: scratch,
      typeRoots: [join(root, 'node_modules', '@types')],
    };
    const program = ts.createProgram(sources, options);
    const result = program.emit();
    const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
    if (diagnostics.length > 0) {
      const host = {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => root,
        getNewLine: () => '\n',
      };
      process.stderr.write(ts.formatDiagnostics(diagnostics, host));
      process.exit(1);
    }
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    for (const f of readdirSync(options.outDir).sort()) {
      writeFileSync(join(outDir, f), readFileSync(join(options.outDir, f)));
    }
    rmSync(options.outDir, { recursive: true, force: true });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

generate(join(root, 'schema'), join(root, 'src', 'gen'));
generate(join(root, 'test', 'fixtures', 'rpc'), join(root, 'test', 'fixtures', 'rpc', 'gen'));
generate(
  join(root, 'test', 'fixtures', 'rpc', 'old'),
  join(root, 'test', 'fixtures', 'rpc', 'old', 'gen'),
);
