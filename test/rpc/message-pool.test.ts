/**
 * The connection's message pool with its checks on (NS_DEBUG=pool): a message reaches
 * the pool once per get(), and nothing touches it while it is there. Each mistake the
 * checks exist for is made here on purpose and must be named where it happens.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessagePool } from '../../src/rpc/cap.js';
import { Test_Data$Results } from '../fixtures/rpc/gen/test.js';

test('a checking pool refuses a second put of the same message, naming where the first was made', () => {
  const pool = new MessagePool(true);
  const m = pool.get();
  m.initRoot(Test_Data$Results)._initData(100);
  pool.put(m);
  assert.throws(() => pool.put(m), (e: Error) => /put in the pool twice/.test(e.message) && /It was put in the pool/.test(e.message) && e.message.includes('message-pool.test.ts'));
});

test('a checking pool refuses a second put of a message it did not keep (over its size limit)', () => {
  const pool = new MessagePool(true);
  const m = pool.get();
  // Grown past the largest message a pool keeps (1 MiB): the first put lets it go.
  m.initRoot(Test_Data$Results)._initData(2 << 20);
  pool.put(m);
  assert.notEqual(pool.get(), m, 'not kept');
  assert.throws(() => pool.put(m), /put in the pool twice/);
});

test('a checking pool refuses a capability put in a message that is in the pool', () => {
  const pool = new MessagePool(true);
  const m = pool.get();
  m.initRoot(Test_Data$Results);
  pool.put(m);
  assert.throws(() => m.addCap(null), /capability was put in a message that is in the pool/);
});

test('a checking pool finds a write made while the message was in the pool when it is taken again', () => {
  const pool = new MessagePool(true);
  const m = pool.get();
  const r = m.initRoot(Test_Data$Results);
  r._initData(16);
  pool.put(m);
  // An owner that kept its struct writes into it after giving the message back.
  r.segment.setUint8(r.byteOffset, 1);
  assert.throws(() => pool.get(), /written to while it was in the pool/);
});

test('a message read after it went back to a checking pool reads poison, not the old bytes or zeros', () => {
  const pool = new MessagePool(true);
  const m = pool.get();
  const r = m.initRoot(Test_Data$Results);
  r._initData(4).toUint8Array().set([1, 2, 3, 4]);
  pool.put(m);
  const seg = m._capnp.segments[0]!;
  const bytes = new Uint8Array(seg.buffer);
  assert.ok(bytes.every((b) => b === 0xa5), 'the free message is poisoned');
});

test('messages taken from a checking pool again are reused, empty and usable', () => {
  const pool = new MessagePool(true);
  const m = pool.get();
  m.initRoot(Test_Data$Results)._initData(5000).toUint8Array().fill(7);
  pool.put(m);
  const again = pool.get();
  assert.equal(again, m, 'the pool reuses the message');
  const r = again.initRoot(Test_Data$Results);
  assert.equal(r.data.length, 0, 'a reused message starts empty');
  r._initData(3).toUint8Array().set([9, 9, 9]);
  assert.deepEqual([...again.getRoot(Test_Data$Results).data.toUint8Array()], [9, 9, 9]);
  pool.put(again);
  // Put once per get: a message taken and given back again is fine.
  pool.put(pool.get());
});
