/**
 * Schema reflection (src/reflect) without a server: the reflected layouts agree with the
 * generated classes (a struct written from JSON reads back through the generated
 * accessors and the other way round), defaults, unions, enums, lists, 64-bit values,
 * capability params, and bad input named by field path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { Failure_Code, OpenMode_Access, StatChange } from '../../src/gen/common.js';
import { File_ReadDir$Results, File_Walk$Results, File_Wstat$Params, File_Create$Params } from '../../src/gen/fileserver.js';
import { Namespace_Bind$Params, Namespace } from '../../src/gen/namespace.js';
import { Clock } from '../../src/gen/demo.js';
import { NsError } from '../../src/errors.js';
import { capabilityPaths, idKey, JsonCodec, SchemaIndex } from '../../src/reflect/index.js';

const schema = new SchemaIndex();
const codec = new JsonCodec(schema);
const id = (C: { _capnp: { id: string } }): string => `0x${C._capnp.id.padStart(16, '0')}`;

function fromJson<T extends $.Struct>(C: $.StructCtor<T>, json: unknown, opts = {}): T {
  const m = new $.Message();
  const s = m.initRoot(codec.structClass(id(C)));
  codec.write(s, id(C), json, 'params', opts);
  return m.getRoot(C);
}

test('every interface in schema/ is reflected with its methods in ordinal order', () => {
  const names = schema.interfaces().map(([, i]) => i.name).sort();
  assert.deepEqual(names, ['CapTable', 'Clock', 'Echo', 'File', 'FileServer', 'Gate', 'Hub', 'Import', 'Introspect', 'Namespace', 'Post', 'ServiceHost', 'Srv']);
  assert.equal(schema.interface(Namespace.Client.interfaceId)?.methods.map((m) => m.name).join(' '), 'resolve bind bindPath unmount list members walk sub fork describe apply');
  assert.equal(schema.methods(Clock.Client.interfaceId)[0]?.method.id, 0);
  assert.throws(() => schema.method(Clock.Client.interfaceId, 'later'), /Clock has no method "later"; its methods: now/);
  assert.throws(() => schema.method(0x1234n, 'x'), /is in no schema known here/);
});

test('JSON -> struct: read back through the generated classes (defaults XORed, enums, nested structs, lists)', () => {
  // StatChange's fields default to "keep" (~0): leaving them out must keep them so.
  const w = fromJson(File_Wstat$Params, { change: { name: 'new', mode: 0o600 } });
  assert.equal(w.change.name, 'new');
  assert.equal(w.change.mode >>> 0, 0o600);
  assert.equal(w.change.length, 0xffffffffffffffffn);
  assert.equal(w.change.mtime >>> 0, 0xffffffff);
  const c = fromJson(File_Create$Params, { name: 'x', perm: '0x80000000', mode: { access: 'readWrite', truncate: true } });
  assert.equal(c.perm >>> 0, 0x80000000);
  assert.equal(c.mode.access, OpenMode_Access.READ_WRITE);
  assert.equal(c.mode.truncate, true);
  const b = fromJson(Namespace_Bind$Params, { path: '/a', interfaceId: '18446744073709551615', position: 'after', create: true });
  assert.equal(b.interfaceId, 0xffffffffffffffffn);
  assert.equal(b.position, 2);
  assert.equal(b.create, true);
});

test('struct -> JSON: unions show their active member; lists, enums by name, 64-bit as strings', () => {
  const m = new $.Message();
  const r = m.initRoot(File_Walk$Results).result;
  const qids = r._initQids(2);
  qids.get(0).path = 1n << 60n;
  qids.get(1).type = 0x80;
  const err = r._initErr();
  err.code = Failure_Code.NOT_FOUND;
  err.message = 'b not found';
  const root = m.getRoot(File_Walk$Results);
  assert.deepEqual(codec.read(root, id(File_Walk$Results)), {
    result: {
      qids: [
        { type: 0, version: 0, path: (1n << 60n).toString() },
        { type: 0x80, version: 0, path: '0' },
      ],
      err: { code: 'notFound', message: 'b not found' },
      path: '',
    },
  });
  const m2 = new $.Message();
  const d = m2.initRoot(File_ReadDir$Results).result._initEntries(1).get(0);
  d.name = 'f';
  d.length = 5n;
  const json = codec.read(m2.getRoot(File_ReadDir$Results), id(File_ReadDir$Results)) as { result: { entries: Array<Record<string, unknown>> } };
  assert.equal(json.result.entries[0]?.['name'], 'f');
  assert.equal(json.result.entries[0]?.['length'], '5');
  // A StatChange written by the generated class with defaults reads back as the defaults.
  const m3 = new $.Message();
  m3.initRoot(StatChange);
  assert.deepEqual(codec.read(m3.getRoot(StatChange), id(StatChange)), { name: '', length: '18446744073709551615', mode: 0xffffffff, mtime: 0xffffffff, atime: 0xffffffff, gid: '' });
});

test('bad JSON params are refused before anything is sent, naming the field', () => {
  const bad = (json: unknown, re: RegExp): void => {
    assert.throws(() => fromJson(File_Create$Params, json), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_INVALID_ARGUMENT' && re.test(e.message));
  };
  bad({ nme: 'x' }, /^params: no field "nme" in File\.create\$Params; its fields: name, perm, mode$/);
  bad({ perm: -1 }, /^params\.perm: expected an integer in 0\.\.4294967295/);
  bad({ perm: 1.5 }, /^params\.perm/);
  bad({ mode: { access: 'sideways' } }, /^params\.mode\.access: expected one of read, write, readWrite, exec/);
  bad({ name: 3 }, /^params\.name: expected a string/);
  bad([], /^params: expected an object/);
  assert.throws(() => fromJson(File_Walk$Results, { result: { file: null, err: null } }), /members of one union/);
});

test('capability params: {"capability": PATH} takes the caller-supplied capability', () => {
  assert.deepEqual([...capabilityPaths({ a: [{ capability: '/x' }], b: { capability: '/y' }, c: { capability: 1 } })], ['/x', '/y']);
  const fake = { call: () => { throw new Error('unused'); }, close: () => {} } as unknown as Client;
  const b = fromJson(Namespace_Bind$Params, { path: '/p', cap: { capability: '/svc/clock' } }, { capabilityFor: (p: string) => (p === '/svc/clock' ? fake : assert.fail(p)) });
  assert.equal($.utils.getInterfaceClientOrNull(b.cap), fake);
  assert.throws(() => fromJson(Namespace_Bind$Params, { cap: 'nope' }), /params\.cap: expected \{"capability"/);
  assert.equal(idKey(0x1n), '0x0000000000000001');
});
