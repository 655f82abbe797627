/**
 * The fixture manifests under test/fixtures/manifest/: each bad/ and doctor/ file states,
 * in `# expect: LINE:COLUMN PATH: MESSAGE` comment lines, exactly the diagnostics it must
 * produce, in order; each good/ file must parse and check clean.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NsError } from '../../src/errors.js';
import {
  checkManifest,
  DIAGNOSTIC_CODES,
  formatDiagnostic,
  ManifestError,
  parseManifest,
  type Diagnostic,
} from '../../src/manifest/index.js';

const root = join(import.meta.dirname, '..', 'fixtures', 'manifest');
/** Every fixture is parsed with these variables set (and no others). */
const ENV = {
  ALICE_TOKEN: 'alice-token-0123456789',
  FAR_TOKEN: 'far-token-0123456789',
  EXPORT_TOKEN: 'export-token-0123456789',
};

function fixtures(dir: string): { name: string; text: string; expected: string[] }[] {
  return readdirSync(join(root, dir))
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((name) => {
      const text = readFileSync(join(root, dir, name), 'utf8');
      const expected = text
        .split('\n')
        .filter((l) => l.startsWith('# expect: '))
        .map((l) => l.slice('# expect: '.length));
      return { name, text, expected };
    });
}

/** A diagnostic as the fixtures write it: without the file name. */
function shown(d: Diagnostic, file: string): string {
  const s = formatDiagnostic(d);
  assert.ok(s.startsWith(`${file}:`), `diagnostic names its file: ${s}`);
  return s.slice(file.length + 1);
}

for (const f of fixtures('bad')) {
  test(`bad manifest ${f.name}: one ManifestError listing exactly its problems, each at line:column and field path`, () => {
    assert.ok(f.expected.length > 0, 'the fixture states what it expects');
    const file = `bad/${f.name}`;
    let caught: unknown;
    try {
      parseManifest(f.text, { file, env: ENV });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ManifestError, `throws a ManifestError, got ${String(caught)}`);
    assert.ok(caught instanceof NsError);
    assert.equal(caught.code, 'NS_ERR_PARSE');
    assert.deepEqual(
      caught.issues.map((d) => shown(d, file)),
      f.expected,
    );
    assert.ok(caught.issues.every((d) => d.severity === 'error'));
    assert.equal(caught.message, caught.issues.map(formatDiagnostic).join('\n'));
  });
}

for (const f of fixtures('doctor')) {
  test(`doctor on ${f.name}: exactly the findings it states, in file order`, () => {
    const file = `doctor/${f.name}`;
    const m = parseManifest(f.text, { file, env: ENV });
    assert.deepEqual(
      checkManifest(m).map((d) => shown(d, file)),
      f.expected,
    );
  });
}

for (const f of fixtures('good')) {
  test(`good manifest ${f.name} parses and the doctor finds nothing`, () => {
    const m = parseManifest(f.text, { file: `good/${f.name}`, env: ENV });
    assert.deepEqual(checkManifest(m), []);
  });
}

test('the fixtures cover every parse diagnostic code and every doctor code', () => {
  const codes = new Set<string>();
  for (const f of fixtures('bad')) {
    try {
      parseManifest(f.text, { file: f.name, env: ENV });
    } catch (err) {
      for (const d of (err as ManifestError).issues) codes.add(d.code);
    }
  }
  for (const f of fixtures('doctor'))
    for (const d of checkManifest(parseManifest(f.text, { file: f.name, env: ENV })))
      codes.add(d.code);
  assert.deepEqual([...codes].sort(), [...DIAGNOSTIC_CODES].sort());
});
