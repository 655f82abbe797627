import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NsError } from '../../src/errors.js';
import {
  MAX_NAME_BYTES,
  MAX_PATH_DEPTH,
  MAX_PATH_LENGTH,
  cleanPath,
  parsePath,
  parseSpec,
  validateName,
} from '../../src/namespace/index.js';

function invalidPath(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof NsError);
    assert.equal(e.code, 'NS_ERR_INVALID_PATH');
    assert.match(e.message, pattern);
    return true;
  };
}

test('cleaning is lexical: // and . vanish, .. removes the previous name (cleanname(2))', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['//', '/'],
    ['/a/./b/../c//d/', '/a/c/d'],
    ['/a/b/c/../../d', '/a/d'],
    ['/./.', '/'],
    ['/a/', '/a'],
  ];
  for (const [input, want] of cases) assert.equal(cleanPath(input), want, input);
});

test('.. never climbs above the root', () => {
  for (const p of ['/..', '/../..', '/a/../..', '/../a/../../..', '/a/b/../../../../..'])
    assert.equal(cleanPath(p), '/', p);
  assert.equal(cleanPath('/../../x'), '/x');
});

test('a path must be a non-empty absolute path', () => {
  assert.throws(() => parsePath(''), invalidPath(/empty path/));
  assert.throws(() => parsePath('a/b'), invalidPath(/not absolute/));
  assert.throws(() => parsePath('../x'), invalidPath(/not absolute/));
  assert.throws(() => parsePath(7 as unknown as string), invalidPath(/not a string/));
});

test('names may not hold NUL, control characters or lone surrogates, even when .. removes them', () => {
  assert.throws(() => parsePath('/a\0b'), invalidPath(/NUL/));
  assert.throws(() => parsePath('/\0/..'), invalidPath(/NUL/));
  assert.throws(() => parsePath('/a\nb'), invalidPath(/control character 0x0a/));
  assert.throws(() => parsePath('/a\x7f'), invalidPath(/control character 0x7f/));
  assert.throws(() => parsePath('/\ud800x'), invalidPath(/lone surrogate/));
  assert.throws(() => parsePath('/x\udc00'), invalidPath(/lone surrogate/));
  assert.deepEqual(parsePath('/\ud83d\ude00 ok é'), ['\ud83d\ude00 ok é']);
});

test('a name is at most 255 bytes of UTF-8', () => {
  assert.deepEqual(parsePath('/' + 'x'.repeat(MAX_NAME_BYTES)), ['x'.repeat(MAX_NAME_BYTES)]);
  assert.throws(
    () => parsePath('/' + 'x'.repeat(MAX_NAME_BYTES + 1)),
    invalidPath(/256 bytes long; the limit is 255/),
  );
  assert.deepEqual(parsePath('/' + 'é'.repeat(127)).length, 1);
  assert.throws(() => parsePath('/' + 'é'.repeat(128)), invalidPath(/256 bytes/));
  assert.throws(() => parsePath('/' + '\ud83d\ude00'.repeat(64)), invalidPath(/256 bytes/));
});

test('a cleaned path has at most MAX_PATH_DEPTH names, and the raw text at most MAX_PATH_LENGTH characters', () => {
  assert.equal(parsePath('/x'.repeat(MAX_PATH_DEPTH)).length, MAX_PATH_DEPTH);
  assert.throws(
    () => parsePath('/x'.repeat(MAX_PATH_DEPTH + 1)),
    invalidPath(/129 components; the limit is 128/),
  );
  assert.throws(() => parsePath('/..'.repeat(MAX_PATH_LENGTH)), invalidPath(/characters long/));
  assert.equal(cleanPath('/a/..'.repeat(6000)), '/');
});

test('validateName refuses what is not a single name', () => {
  for (const bad of ['', '.', '..', 'a/b'])
    assert.throws(() => validateName(bad), invalidPath(/./));
});

test('a spec is relative to a capability root, and .. stays inside it', () => {
  assert.deepEqual(parseSpec(''), []);
  assert.deepEqual(parseSpec('/'), []);
  assert.deepEqual(parseSpec('a/../../b'), ['b']);
  assert.deepEqual(parseSpec('/a/b/'), ['a', 'b']);
});

test('cleaning is idempotent and never yields ., .. or empty names (property)', () => {
  const part = fc.constantFrom('', '.', '..', 'a', 'b', 'é', 'x y');
  fc.assert(
    fc.property(fc.array(part, { maxLength: 12 }), (parts) => {
      const once = cleanPath('/' + parts.join('/'));
      assert.equal(cleanPath(once), once);
      for (const c of parsePath(once)) assert.ok(c !== '' && c !== '.' && c !== '..');
    }),
  );
});
