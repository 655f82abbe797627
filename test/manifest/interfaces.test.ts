import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CapTable$Client } from '../../src/gen/captable.js';
import { Hub$Client } from '../../src/gen/hub.js';
import { File$Client, FileServer$Client } from '../../src/gen/fileserver.js';
import { Clock$Client, Echo$Client } from '../../src/gen/demo.js';
import { Gate$Client, Namespace$Client } from '../../src/gen/namespace.js';
import { Introspect$Client, Srv$Client } from '../../src/gen/services.js';
import {
  completeInterfaceRef,
  KNOWN_INTERFACES,
  parseInterfaceRef,
  sameInterface,
} from '../../src/manifest/index.js';

test('the manifest table of interface ids matches the generated schema code (no drift from schema/*.capnp)', () => {
  const gen: Record<string, bigint> = {
    FileServer: FileServer$Client.interfaceId,
    File: File$Client.interfaceId,
    Namespace: Namespace$Client.interfaceId,
    Gate: Gate$Client.interfaceId,
    CapTable: CapTable$Client.interfaceId,
    Hub: Hub$Client.interfaceId,
    Clock: Clock$Client.interfaceId,
    Echo: Echo$Client.interfaceId,
    Srv: Srv$Client.interfaceId,
    Introspect: Introspect$Client.interfaceId,
  };
  for (const [name, id] of Object.entries(gen)) {
    assert.equal(KNOWN_INTERFACES.find((k) => k.name === name)?.id, id, name);
  }
  for (const k of KNOWN_INTERFACES) {
    if (k.id !== undefined) assert.equal(gen[k.name], k.id, `${k.name} is in the generated code`);
  }
});

test('require: a name or a 0x id, completed from the table; an unknown id is kept as an id', () => {
  assert.deepEqual(parseInterfaceRef('FileServer'), {
    name: 'FileServer',
    id: FileServer$Client.interfaceId,
  });
  assert.deepEqual(parseInterfaceRef('0xa71e78dfa5ac5a4e'), {
    name: 'Namespace',
    id: Namespace$Client.interfaceId,
  });
  assert.deepEqual(parseInterfaceRef('0x1234'), { id: 0x1234n });
  assert.deepEqual(parseInterfaceRef('Clock'), { name: 'Clock', id: Clock$Client.interfaceId });
  assert.match(parseInterfaceRef('fileserver') as string, /unknown interface/);
  assert.match(parseInterfaceRef('0x12345678901234567') as string, /unknown interface/);
});

test('sameInterface: true, false, or undefined when it cannot be told', () => {
  assert.equal(sameInterface({ name: 'FileServer' }, { id: FileServer$Client.interfaceId }), true);
  assert.equal(sameInterface({ name: 'FileServer' }, { name: 'Namespace' }), false);
  assert.equal(sameInterface({ id: 1n }, { id: 2n }), false);
  assert.equal(sameInterface({ name: 'Clock' }, { id: 0x1234n }), false);
  assert.deepEqual(completeInterfaceRef({ id: 0x1234n }), { id: 0x1234n });
});
