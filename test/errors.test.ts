import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NS_ERROR_CODES, NsError } from '../src/errors.js';

test('NsError carries its code and is recognized by brand, not by prototype', () => {
  const e = new NsError('NS_ERR_NOT_FOUND', "'/x' not found");
  assert.equal(e.code, 'NS_ERR_NOT_FOUND');
  assert.equal(e.name, 'NsError');
  assert.ok(e instanceof NsError);
  assert.ok(e instanceof Error);
  // A structurally branded object from another copy of the module is an NsError too.
  const foreign = Object.create(Error.prototype, { [Symbol.for('ns.error')]: { value: true } });
  assert.ok(foreign instanceof NsError);
  assert.ok(!(new Error('plain') instanceof NsError));
});

test('every NsError code is documented in docs/errors.md', async () => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8');
  for (const code of NS_ERROR_CODES) assert.ok(doc.includes(`\`${code}\``), `${code} missing from docs/errors.md`);
});
