import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  checkManifest,
  defaultManifest,
  defaultManifestText,
  manifestToJSON,
  parseManifest,
} from '../../src/manifest/index.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'manifest.md'), 'utf8');
const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);

test('every whole manifest in docs/manifest.md parses and has no error finding', () => {
  const whole = blocks.filter((b) => b.startsWith('version: 1'));
  assert.ok(whole.length >= 2);
  const env = {
    FAR_TOKEN: 'far-token-0123456789',
    ALICE_TOKEN: 'alice-token-0123456789',
    EXPORT_TOKEN: 'export-token-0123456789',
  };
  for (const b of whole) {
    const m = parseManifest(b, { file: 'docs/manifest.md', env });
    assert.deepEqual(
      checkManifest(m).filter((d) => d.severity === 'error'),
      [],
    );
  }
});

test('the limits example in docs/manifest.md is valid', () => {
  const limits = blocks.find((b) => b.startsWith('limits:'));
  assert.ok(limits !== undefined);
  parseManifest(`version: 1\n${limits}`);
});

test('docs/manifest.md shows the embedded default as it is', () => {
  const shown = blocks.find((b) => b.includes('local:') && b.includes('capns-data'));
  assert.ok(shown !== undefined);
  const fromDoc = parseManifest(shown, { file: '(default manifest)', baseDir: '.' });
  assert.equal(manifestToJSON(fromDoc), manifestToJSON(defaultManifest()));
  assert.ok(defaultManifestText().includes('auth: { loopback: true }'));
});
