/**
 * Read-only knows every method of capns's own interfaces: each method of each interface
 * in schema/ is sorted into those that change something and those that only read, under
 * its schema name. A method added to schema/ fails this test until it is sorted (until
 * then read-only refuses it); an entry naming a method that does not exist fails too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mutation, OWN_INTERFACES } from '../../src/namespace/view-policy.js';
import { SchemaIndex } from '../../src/reflect/index.js';

test('every method of every interface in schema/ is sorted for read-only, under its own name, once', () => {
  const index = new SchemaIndex();
  const problems: string[] = [];
  for (const [id, iface] of index.interfaces()) {
    const own = OWN_INTERFACES.get(id);
    if (own === undefined) {
      problems.push(`${iface.name} (${iface.file}) is not sorted at all`);
      continue;
    }
    if (own.name !== iface.name) problems.push(`${iface.name} is sorted as ${own.name}`);
    for (const m of iface.methods) {
      const c = own.changes.get(m.id);
      const r = own.reads.get(m.id);
      if (c === undefined && r === undefined) problems.push(`${iface.name}.${m.name} (@${m.id}) is neither a change nor a read`);
      if (c !== undefined && r !== undefined) problems.push(`${iface.name}.${m.name} is both`);
      const name = c ?? r;
      if (name !== undefined && name !== m.name) problems.push(`${iface.name} @${m.id} is ${m.name}, sorted as ${name}`);
    }
    const ids = new Set(iface.methods.map((m) => m.id));
    for (const k of [...own.changes.keys(), ...own.reads.keys()]) if (!ids.has(k)) problems.push(`${own.name} @${k} is sorted but not in the schema`);
  }
  const known = new Set(index.interfaces().map(([id]) => id));
  for (const [id, own] of OWN_INTERFACES) if (!known.has(id)) problems.push(`${own.name} is sorted but not in schema/`);
  assert.deepEqual(problems, []);
});

test("read-only refuses every change and an unknown method of capns's interfaces; a foreign interface's methods pass", () => {
  for (const [id, own] of OWN_INTERFACES) {
    for (const [m, name] of own.changes) assert.equal(mutation(id, m), `${own.name}.${name}`);
    for (const m of own.reads.keys()) assert.equal(mutation(id, m), undefined, `${own.name} @${m}`);
    assert.match(mutation(id, 999) ?? '', /does not know/, `an unknown method of ${own.name}`);
  }
  assert.equal(mutation(0x1234n, 0), undefined);
});
