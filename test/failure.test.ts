import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { NS_ERROR_CODES, NsError } from '../src/errors.js';
import { failureCodeOf, fromFailure, setFailure } from '../src/failure.js';
import { Failure, Failure_Code } from '../src/gen/common.js';

test('every NsError code survives a trip through Failure, up to the codes Failure merges', () => {
  for (const code of NS_ERROR_CODES) {
    const f = new $.Message().initRoot(Failure);
    setFailure(f, new NsError(code, `msg ${code}`));
    const back = fromFailure(f);
    assert.equal(back.message, `msg ${code}`);
    // Path and parse errors travel as invalidArgument; everything else keeps its code.
    const merged = code === 'NS_ERR_INVALID_PATH' || code === 'NS_ERR_PARSE';
    assert.equal(back.code, merged ? 'NS_ERR_INVALID_ARGUMENT' : code);
    assert.equal(f.code, failureCodeOf(code));
  }
});

test('a failure code from a newer schema becomes NS_ERR_IO with the message kept', () => {
  const f = new $.Message().initRoot(Failure);
  f.code = 99 as never;
  f.message = 'quota exceeded';
  const e = fromFailure(f);
  assert.equal(e.code, 'NS_ERR_IO');
  assert.equal(e.message, 'quota exceeded');
  assert.equal(fromFailure(new $.Message().initRoot(Failure)).code, 'NS_ERR_IO');
  assert.equal(Failure_Code.UNKNOWN, 0);
});

test('a bug is never dressed as an expected failure: setFailure rethrows non-NsErrors', () => {
  const f = new $.Message().initRoot(Failure);
  const bug = new TypeError('undefined is not a function');
  assert.throws(() => setFailure(f, bug), (e: unknown) => e === bug);
});
