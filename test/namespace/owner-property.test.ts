// Property test of namespace lifetimes (NamespaceOwner, docs/namespace.md "Lifetime"):
// random sequences of namespaces made for two connections and for none, forked, viewed,
// bound into one another (themselves included), unmounted, released, and connections
// ended. Whatever the sequence: a namespace of an ended connection refuses every call;
// once every reference is released and every connection has ended, every local object is
// gone (no cycle survives) and each namespace's onClose ran exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utils, type Client } from 'capnp-es';
import fc from 'fast-check';
import { Namespace, type Namespace$Client } from '../../src/gen/namespace.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { NamespaceOwner, serveNamespace } from '../../src/namespace/namespace-server.js';
import { dupClient, liveLocalObjects, release, serve } from '../../src/rpc/index.js';
import { Counter } from '../fixtures/rpc/gen/test.js';

class CounterImpl {
  async increment(): Promise<void> {}
  async get(): Promise<void> {}
}

type Op =
  | { op: 'new'; owner: number }
  | { op: 'fork'; i: number }
  | { op: 'sub'; i: number; readOnly: boolean }
  | { op: 'bind'; i: number; j: number; at: string }
  | { op: 'unmount'; i: number; at: string }
  | { op: 'release'; i: number }
  | { op: 'end'; owner: number };

const AT = fc.constantFrom('/a', '/b', '/c/d');
// Owner 2 stands for none: a namespace no connection owns (ended only by release).
const OWNER = fc.integer({ min: 0, max: 2 });
const INDEX = fc.nat({ max: 15 });
const OP: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('new' as const), owner: OWNER }),
  fc.record({ op: fc.constant('fork' as const), i: INDEX }),
  fc.record({ op: fc.constant('sub' as const), i: INDEX, readOnly: fc.boolean() }),
  { arbitrary: fc.record({ op: fc.constant('bind' as const), i: INDEX, j: INDEX, at: AT }), weight: 4 },
  fc.record({ op: fc.constant('unmount' as const), i: INDEX, at: AT }),
  fc.record({ op: fc.constant('release' as const), i: INDEX }),
  fc.record({ op: fc.constant('end' as const), owner: fc.integer({ min: 0, max: 1 }) }),
);

interface Held {
  readonly ns: Namespace$Client;
  /** The owner of its family (2: none). */
  readonly owner: number;
}

async function refused(ns: Namespace$Client): Promise<boolean> {
  try {
    await ns.describe().promise();
    return false;
  } catch (e) {
    return /has ended/.test((e as Error).message);
  }
}

async function run(ops: readonly Op[]): Promise<void> {
  const baseline = liveLocalObjects();
  const owners = [new NamespaceOwner('rpc#1', { maxNamespaces: 4 }), new NamespaceOwner('rpc#2', { maxNamespaces: 4 })];
  const ended = [false, false, false];
  const held: Held[] = [];
  let made = 0;
  let closed = 0;
  const pick = (i: number): Held | undefined => (held.length === 0 ? undefined : held[i % held.length]);
  for (const o of ops) {
    if (o.op === 'new') {
      const counter = serve(Counter, new CounterImpl());
      const table = new MountTable<Client>();
      table.bind('/svc/counter', { cap: dupClient(counter.client), interfaceId: Counter.Client.interfaceId, label: 'counter' }, { create: true });
      release(counter);
      const owner = owners[o.owner];
      try {
        held.push({ ns: serveNamespace(table, { ...(owner !== undefined && { owner }), onClose: () => closed++ }), owner: o.owner });
        made++;
      } catch {
        // Past maxNamespaces or ended: refused, and the table's capability released.
        assert.ok(owner !== undefined);
      }
      continue;
    }
    if (o.op === 'end') {
      owners[o.owner]!.end();
      ended[o.owner] = true;
      for (const h of held) if (h.owner === o.owner) assert.ok(await refused(h.ns), 'a namespace of an ended connection answered');
      continue;
    }
    const h = pick(o.i);
    if (h === undefined) continue;
    switch (o.op) {
      case 'fork':
        try {
          held.push({ ns: (await h.ns.fork().promise()).ns, owner: h.owner });
        } catch {
          assert.ok(ended[h.owner], 'fork failed on a live namespace');
        }
        break;
      case 'sub': {
        const r = (await h.ns.sub((p) => { p.prefix = '/'; p.readOnly = o.readOnly; }).promise()).result;
        if (r._isErr) assert.ok(ended[h.owner], r.err.message);
        else held.push({ ns: r.ns, owner: h.owner });
        break;
      }
      case 'bind': {
        const target = pick(o.j)!;
        // A cycle of namespaces no connection owns is one no end can break (why capns
        // serve gives every namespace an owner): not made here.
        if (h.owner === 2 && target.owner === 2) break;
        const r = (await h.ns.bind((p) => {
          p.path = o.at;
          utils.setInterfacePointer(p.segment.message.addCap(target.ns.client), p.cap);
          p.interfaceId = Namespace.Client.interfaceId;
          p.create = true;
        }).promise()).result;
        // Refused only by an ended owner or a read-only view.
        if (r._isErr) assert.match(r.err.message, /has ended|read-only/);
        break;
      }
      case 'unmount':
        await h.ns.unmount((p) => { p.path = o.at; }).promise();
        break;
      case 'release':
        release(h.ns);
        held.splice(o.i % held.length, 1);
        break;
    }
  }
  for (const h of held) release(h.ns);
  for (const o of owners) o.end();
  for (let k = 0; k < 50 && liveLocalObjects() !== baseline; k++) await new Promise((r) => setImmediate(r));
  assert.equal(liveLocalObjects(), baseline, 'local objects outlived every reference and every connection');
  assert.equal(closed, made, 'each namespace closed once');
}

test('namespaces of connections, bound into one another and themselves in any order, end with their connections and leave nothing behind', async () => {
  await fc.assert(fc.asyncProperty(fc.array(OP, { minLength: 1, maxLength: 40 }), run), { numRuns: 300 });
});
