/**
 * Schemas read from bytes (src/reflect/nodes.ts): the same reflection `npm run gen`
 * emits, and untrusted input handled as such — malformed, oversized and incomplete
 * requests are refused with an NsError naming the problem, never a crash.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import * as $ from 'capnp-es';
import { CodeGeneratorRequest, Type_Which } from 'capnp-es/capnp/schema';
import fc from 'fast-check';
import { NsError } from '../../src/errors.js';
import reflection from '../../src/gen/reflection.js';
import { loadCodeGeneratorRequest, SchemaIndex, SchemaSet } from '../../src/reflect/index.js';

const root = resolve(import.meta.dirname, '..', '..');

function compile(dir: string, files: string[]): Uint8Array {
  return new Uint8Array(execFileSync('capnp', ['compile', '-o-', `--src-prefix=${dir}`, ...files.map((f) => join(dir, f))], { maxBuffer: 64 << 20 }));
}

/** A request built by hand: `build` fills its nodes. */
function request(build: (req: CodeGeneratorRequest) => void): Uint8Array {
  const m = new $.Message();
  build(m.initRoot(CodeGeneratorRequest));
  return new Uint8Array(m.toArrayBuffer());
}

function refused(bytes: Uint8Array, pattern: RegExp, code = 'NS_ERR_INVALID_ARGUMENT'): void {
  assert.throws(
    () => loadCodeGeneratorRequest(bytes, 'schema x'),
    (e: unknown) => {
      assert.ok(e instanceof NsError, String(e));
      assert.equal(e.code, code);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

test("a CodeGeneratorRequest of schema/*.capnp reads as exactly the reflection npm run gen emitted (one algorithm, two places)", () => {
  const dir = join(root, 'schema');
  const loaded = loadCodeGeneratorRequest(compile(dir, readdirSync(dir).filter((f) => f.endsWith('.capnp')).sort()), 'schema/');
  assert.deepEqual(JSON.parse(JSON.stringify(loaded.reflection)), JSON.parse(JSON.stringify(reflection)));
  assert.ok(loaded.files.includes('namespace.capnp'));
});

test('framing is checked before capnp-es reads it: a header claiming 2^28 segments, a truncated table, a wrong length', () => {
  const bomb = new Uint8Array(16);
  new DataView(bomb.buffer).setUint32(0, 0x0fffffff, true);
  refused(bomb, /claims 268435456 segments/);
  const short = new Uint8Array(8);
  new DataView(short.buffer).setUint32(0, 3, true);
  refused(short, /truncated segment table/);
  const good = compile(join(root, 'schema'), ['demo.capnp']);
  refused(good.subarray(0, good.length - 8), /segment table says/);
  refused(new Uint8Array(5), /not a Cap'n Proto message \(5 bytes\)/);
});

test('a request over the size or node limits is refused as too large', () => {
  const good = compile(join(root, 'schema'), ['demo.capnp']);
  assert.throws(() => loadCodeGeneratorRequest(good, 'schema x', { maxBytes: 64, maxNodes: 100 }), /over the limit of 64/);
  assert.throws(() => loadCodeGeneratorRequest(good, 'schema x', { maxBytes: 1 << 20, maxNodes: 2 }), /nodes, over the limit of 2/);
});

test('an incomplete closure is refused naming the missing node and who needs it', () => {
  const bytes = request((req) => {
    const nodes = req._initNodes(1);
    const n = nodes.get(0);
    n.id = 0xaaaan;
    n.displayName = 'x.capnp:Lonely';
    const methods = n._initInterface()._initMethods(1);
    methods.get(0).name = 'go';
    methods.get(0).paramStructType = 0xbbbbn;
    methods.get(0).resultStructType = 0xccccn;
  });
  refused(bytes, /incomplete: node 0x000000000000bbbb \(needed by Lonely\.go params\) is not in it/);
});

test('a field outside its struct sections is refused naming it', () => {
  const bytes = request((req) => {
    const n = req._initNodes(1).get(0);
    n.id = 0xddddn;
    n.displayName = 'x.capnp:Small';
    const st = n._initStruct();
    st.dataWordCount = 1;
    st.pointerCount = 0;
    const f = st._initFields(2);
    // A UInt32 at offset 1 fits one data word; at offset 2 it does not.
    for (const [i, name, offset] of [[0, 'fits', 1], [1, 'tooFar', 2]] as const) {
      f.get(i).name = name;
      f.get(i).discriminantValue = 0xffff;
      f.get(i)._initSlot().offset = offset;
      $.utils.setUint16(0, Type_Which.UINT32, f.get(i).slot._initType());
    }
  });
  refused(bytes, /field Small\.tooFar: uint32 at offset 2 is outside the struct's 1 data words/);
});

test('random bytes only ever raise NsError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 512 }), (bytes) => {
      try {
        loadCodeGeneratorRequest(bytes, 'random');
      } catch (e) {
        assert.ok(e instanceof NsError, String(e));
      }
    }),
    { numRuns: 500 },
  );
  // And well-framed messages with random contents.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 8, maxLength: 512 }), (body) => {
      const words = Math.floor(body.length / 8);
      const bytes = new Uint8Array(8 + words * 8);
      new DataView(bytes.buffer).setUint32(4, words, true);
      bytes.set(body.subarray(0, words * 8), 8);
      try {
        loadCodeGeneratorRequest(bytes, 'random');
      } catch (e) {
        assert.ok(e instanceof NsError, String(e));
      }
    }),
    { numRuns: 500 },
  );
});

test('SchemaIndex: a node repeated identically is accepted; a different node under a known id is refused naming both sources; added nodes stay out of the parent', () => {
  const base = new SchemaIndex();
  const session = SchemaIndex.over(base);
  const demo = loadCodeGeneratorRequest(compile(join(root, 'schema'), ['demo.capnp']), 'demo');
  session.add(demo.reflection, 'a copy of demo.capnp');
  const clockId = Object.keys(demo.reflection.interfaces).find((k) => demo.reflection.interfaces[k]!.name === 'Clock')!;
  const changed = structuredClone(demo.reflection);
  changed.interfaces[clockId]!.methods[0]!.name = 'later';
  assert.throws(() => session.add(changed, 'an impostor'), /an impostor: Clock \(0x[0-9a-f]{16}\) differs from the node of that id already known \(from capns's own schema\)/);
  const set = new SchemaSet();
  set.add(compile(join(root, 'test', 'fixtures', 'rpc'), ['test.capnp']), 'test.capnp');
  const test = set.interfaceId('Test');
  const s2 = SchemaIndex.over(set.index);
  assert.equal(s2.interfaceName(test), 'Test');
  assert.equal(base.interface(test), undefined);
  assert.equal(set.index.interfaceByName('test.capnp:Test'), test);
  assert.throws(() => set.interfaceId('Nope'), /unknown interface 'Nope': not in test\.capnp/);
});
