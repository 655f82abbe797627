/** Hostile and random input: a manifest that is wrong is refused with a ManifestError, never a crash. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  checkManifest,
  ManifestError,
  manifestGraph,
  parseManifest,
} from '../../src/manifest/index.js';

const full = readFileSync(
  join(import.meta.dirname, '..', 'fixtures', 'manifest', 'good', 'full.yaml'),
  'utf8',
);
const ENV = {
  ALICE_TOKEN: 'alice-token-0123456789',
  FAR_TOKEN: 'far-token-0123456789',
  EXPORT_TOKEN: 'export-token-0123456789',
};

/** Parses; on success runs the doctor and the graph too. Anything but a ManifestError fails. */
function survive(text: string): void {
  try {
    const m = parseManifest(text, { file: 'r.yaml', env: ENV });
    checkManifest(m);
    manifestGraph(m);
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    assert.ok(err.issues.length > 0);
    const lines = text.split('\n').length;
    for (const d of err.issues) {
      assert.ok(
        d.line >= 1 && d.line <= lines + 1 && d.column >= 1,
        `position ${d.line}:${d.column} lies in the text`,
      );
    }
  }
}

test('__proto__ is a reserved name wherever it appears, not a prototype', () => {
  let err: unknown;
  try {
    parseManifest(
      'version: 1\ncapabilities:\n  __proto__: { type: ram }\nprofiles:\n  a: { namespace: [ { mount: __proto__, at: /a } ] }\n',
      { file: 'p.yaml' },
    );
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ManifestError);
  assert.deepEqual(
    err.issues.map((d) => `${d.line}:${d.column} ${d.path}: ${d.message}`),
    [
      '3:3 capabilities.__proto__: the name __proto__ is reserved',
      '5:30 profiles.a.namespace[0].mount: the name __proto__ is reserved',
    ],
  );
  assert.equal(({} as Record<string, unknown>)['type'], undefined, 'Object.prototype untouched');
});

test('random JSON documents get a manifest or a ManifestError', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => survive(JSON.stringify(v))),
    { numRuns: 300 },
  );
});

test('random manifest-shaped documents get a manifest or a ManifestError', () => {
  const word = fc.constantFrom(
    'version',
    'capabilities',
    'profiles',
    'listeners',
    'exports',
    'limits',
    'type',
    'ram',
    'dir',
    'import',
    'path',
    'mount',
    'bind',
    'unmount',
    'ns',
    'at',
    'position',
    'create',
    'spec',
    'require',
    'auth',
    'tokens',
    'loopback',
    'protocol',
    'address',
    'profile',
    'rpc',
    '9p',
    'http',
    'a',
    'b',
  );
  const leaf = fc.oneof(
    word,
    fc.constantFrom('/tmp', '/a/b', 'tcp!127.0.0.1!0', '${X}', 'bind -a /a /b', 'mount a /x'),
    fc.boolean(),
    fc.integer({ min: -2, max: 70000 }),
    fc.constant(null),
  );
  const doc = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(word, tie('node'), { maxKeys: 5 }),
    ),
  })).node;
  fc.assert(
    fc.property(doc, (v) =>
      survive(
        JSON.stringify({
          version: 1,
          ...(typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { x: v }),
        }),
      ),
    ),
    { numRuns: 300 },
  );
});

test('a good manifest cut, spliced or garbled anywhere gets a manifest or a ManifestError', () => {
  fc.assert(
    fc.property(fc.nat(full.length), fc.nat(40), fc.string({ maxLength: 8 }), (at, cut, insert) => {
      survive(full.slice(0, at) + insert + full.slice(at + cut));
    }),
    { numRuns: 200 },
  );
});
