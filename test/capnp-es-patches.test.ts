/**
 * The defects of capnp-es 0.0.16 that patches/capnp-es+0.0.16.patch fixes (applied by
 * `npm ci` through patch-package). Each test fails on the unpatched library.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { StatChange } from '../src/gen/common.js';
import { FileServer_AttachResult_Ok } from '../src/gen/fileserver.js';
import { Evolving } from './fixtures/rpc/gen/test.js';

test('a null capability field reads as no capability, not as the message\'s first one', () => {
  const m = new $.Message();
  const ok = m.initRoot(FileServer_AttachResult_Ok);
  const other: $.Client = { call: () => { throw new Error('must not be called'); }, close: () => {} };
  m.addCap(other); // the message holds a capability, at index 0
  const root = ok.root; // ... but this field was never set
  assert.notEqual(root.client, other);
  assert.ok(root.client instanceof $.ErrorClient, 'a null field reads as the null client');
});

test('a UInt32 field with a non-zero default reads unsigned (StatChange.mode defaults to ~0)', () => {
  const c = new $.Message().initRoot(StatChange);
  assert.equal(c.mode, 0xffffffff);
  assert.equal(c.mtime, 0xffffffff);
  c.mode = 0o644;
  assert.equal(c.mode, 0o644);
});

test('an Int32 field with a default wider than 16 bits reads that default', () => {
  const e = new $.Message().initRoot(Evolving);
  assert.equal(e.g, -100000);
  e.g = 7;
  assert.equal(e.g, 7);
});
