import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerAhead, newWriterId, QUIET_MS } from '../src/early-header.js';

test('a header goes ahead while one writer is writing, not within QUIET_MS of another', () => {
  const a = newWriterId();
  const b = newWriterId();
  assert.notEqual(a, b);
  const t = 1e9; // a clock of our own: the rule only compares times it is given
  assert.equal(headerAhead(a, t), true, 'first write after a quiet spell');
  assert.equal(headerAhead(a, t + 0.1), true, 'the same writer again');
  assert.equal(headerAhead(b, t + 0.2), false, 'another writer within QUIET_MS');
  assert.equal(headerAhead(a, t + 0.3), false, 'and back: still crowded');
  assert.equal(headerAhead(a, t + 0.4), true, 'the same writer twice in a row');
  assert.equal(headerAhead(b, t + 0.4 + QUIET_MS), true, 'another writer after QUIET_MS of quiet');
});
