// The authority model as a property (issue 16, docs/security.md): from each kind of view
// a peer can hold — a read-only filtered export, a writable export, a writable filtered
// export, a read-only sub view, a writable sub view — random chains of derivation over
// real connections (resolve, pipelined resolve -> attach -> walk, Namespace.walk, sub,
// fork, bind of a capability passed back, bindPath, apply, attach, walk, open, read,
// write, create, rename, remove, Clock.now), with a revocation at a random step, must
// never:
//   - read anything above the view's root (every file there says SECRET),
//   - read anything a filtered view filters (those say FILTERED), links included,
//   - change anything through a read-only view, outside the root through any view, or
//     below a filtered name through a filtered view (hashes of the host tree),
//   - get a read, a write, an open, a create or a call through a member after the grants
//     it came through were revoked.
// The checker is shown to fail when a view does not apply its policy: the same chains
// against views that are wider than the model says find a breach of each kind.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import fc from 'fast-check';
import { DMDIR } from '../../src/fileserver/file-server.js';
import { OpenMode_Access, Position } from '../../src/gen/common.js';
import { Clock } from '../../src/gen/demo.js';
import { File, FileServer, type File$Client, type FileServer$Client } from '../../src/gen/fileserver.js';
import { Gate, Namespace, type Namespace$Client } from '../../src/gen/namespace.js';
import { FILE_SERVER_INTERFACE_ID, NAMESPACE_INTERFACE_ID } from '../../src/namespace/interfaces.js';
import { connect, release, type RpcConnection } from '../../src/rpc/index.js';
import { FILTERED, SECRET, startWorld, type ViewModel, type World } from '../support/authority-world.js';

let world: World;
before(async () => {
  world = await startWorld();
});
after(async () => {
  await world.close();
});

const FILE_ID = File.Client.interfaceId;
const CLOCK_ID = Clock.Client.interfaceId;

// ---- the vocabulary of an attacker -----------------------------------------------------

const PATHS = ['/', '/a.txt', '/dir', '/dir/b.txt', '/hidden', '/hidden/h.txt', '/hiddenlink', '/hiddenlink/h.txt', '/uplink', '/uplink/s.txt', '/..', '/../secret', '/../secret/s.txt', '/dir/../../secret', '/x', '/x/hidden/h.txt', '/x/s.txt', '/x/secret/s.txt', '/new', '/svc/clock', '/data/secret/s.txt'];
const NAMES = ['..', '.', 'a.txt', 'dir', 'b.txt', 'hidden', 'h.txt', 'hiddenlink', 'uplink', 's.txt', 'secret', 'new'];
const ANAMES = ['', '..', '../secret', 'dir', 'hidden', 'uplink', 'hiddenlink', '/'];
const NEW_NAMES = ['new', 'n2', 'hidden', 'x.txt'];
const LINES = ['mount data /x', 'mount data /x pub/..', 'mount -c data /x ../secret', 'bind / /x', 'bind /hidden /x', 'bind /.. /x', 'unmount /x', 'clear'];

type Op =
  | { readonly op: 'resolve'; readonly from: number; readonly path: string }
  | { readonly op: 'pipelined'; readonly from: number; readonly path: string; readonly aname: string; readonly names: readonly string[] }
  | { readonly op: 'nswalk'; readonly from: number; readonly path: string }
  | { readonly op: 'sub'; readonly from: number; readonly path: string; readonly ro: boolean }
  | { readonly op: 'fork'; readonly from: number }
  | { readonly op: 'bind'; readonly from: number; readonly path: string; readonly cap: number }
  | { readonly op: 'bindPath'; readonly from: number; readonly src: string; readonly path: string }
  | { readonly op: 'apply'; readonly from: number; readonly line: string }
  | { readonly op: 'attach'; readonly from: number; readonly aname: string }
  | { readonly op: 'walk'; readonly from: number; readonly path: string; readonly names: readonly string[] }
  | { readonly op: 'read'; readonly from: number; readonly path: string; readonly names: readonly string[] }
  | { readonly op: 'write'; readonly from: number; readonly path: string; readonly names: readonly string[]; readonly trunc: boolean }
  | { readonly op: 'create'; readonly from: number; readonly path: string; readonly name: string; readonly dir: boolean }
  | { readonly op: 'rename'; readonly from: number; readonly path: string; readonly name: string }
  | { readonly op: 'remove'; readonly from: number; readonly path: string }
  | { readonly op: 'now'; readonly from: number }
  | { readonly op: 'revoke' };

const idx = fc.nat(7);
// Names that exist come up more often than the rest: a chain must get somewhere to prove anything.
const path = fc.oneof(fc.constantFrom('/', '/a.txt', '/dir', '/dir/b.txt', '/hidden', '/hiddenlink'), fc.constantFrom(...PATHS));
const names = fc.oneof(
  fc.constantFrom(['a.txt'], ['dir', 'b.txt'], ['hidden', 'h.txt'], ['hiddenlink', 'h.txt'], ['uplink', 's.txt'], ['..', 'secret', 's.txt'], []),
  fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('resolve' as const), from: idx, path }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('pipelined' as const), from: idx, path, aname: fc.constantFrom(...ANAMES), names }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('nswalk' as const), from: idx, path }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sub' as const), from: idx, path, ro: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fork' as const), from: idx }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('bind' as const), from: idx, path: fc.constantFrom('/x', '/y', '/hidden'), cap: idx }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('bindPath' as const), from: idx, src: path, path: fc.constantFrom('/x', '/y') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('apply' as const), from: idx, line: fc.constantFrom(...LINES) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('attach' as const), from: idx, aname: fc.constantFrom(...ANAMES) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('walk' as const), from: idx, path, names }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('read' as const), from: idx, path, names }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('write' as const), from: idx, path, names, trunc: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('create' as const), from: idx, path, name: fc.constantFrom(...NEW_NAMES), dir: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rename' as const), from: idx, path, name: fc.constantFrom(...NEW_NAMES) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), from: idx, path }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('now' as const), from: idx }) },
);
/** A chain, and the step (if any) before which the grants are revoked. */
/** Where a read or write aims: a path walked by the namespace, or names walked from a root. */
const target = fc.oneof(
  fc.record({ path: fc.constantFrom('/a.txt', '/dir/b.txt', '/hidden/h.txt', '/hiddenlink/h.txt', '/uplink/s.txt', '/../secret/s.txt', '/x/hidden/h.txt', '/x/s.txt', '/x/a.txt', '/y/b.txt'), names: fc.constant([] as string[]) }),
  fc.record({ path: fc.constantFrom('/', '/dir', '/x', '/y'), names: fc.constantFrom(['a.txt'], ['b.txt'], ['dir', 'b.txt'], ['hidden', 'h.txt'], ['hiddenlink', 'h.txt'], ['uplink', 's.txt'], ['..', 'secret', 's.txt'], ['..', '..', 'secret', 's.txt'], ['s.txt']) }),
);
const readArb = fc.tuple(idx, target).map(([from, t]) => ({ op: 'read' as const, from, ...t }));
const writeArb = fc.tuple(idx, target, fc.boolean()).map(([from, t, trunc]) => ({ op: 'write' as const, from, ...t, trunc }));
const focusedOpArb: fc.Arbitrary<Op> = fc.oneof({ weight: 3, arbitrary: opArb }, { weight: 2, arbitrary: readArb }, { weight: 1, arbitrary: writeArb });

const chainArb = fc
  .tuple(fc.array(focusedOpArb, { minLength: 1, maxLength: 24 }), fc.option(fc.nat(24), { freq: 3 }))
  .map(([ops, at]) => (at === null ? ops : [...ops.slice(0, at), { op: 'revoke' as const }, ...ops.slice(at)]));

// ---- what a peer holds -----------------------------------------------------------------

type Held =
  | { readonly kind: 'ns'; readonly c: Namespace$Client }
  | { readonly kind: 'fs'; readonly c: FileServer$Client }
  | { readonly kind: 'file'; readonly c: File$Client }
  | { readonly kind: 'other'; readonly c: Client; readonly interfaceId: bigint };

class Pool {
  readonly all: Held[] = [];
  pick<K extends Held['kind']>(kind: K, i: number): Extract<Held, { kind: K }> | undefined {
    const of = this.all.filter((h): h is Extract<Held, { kind: K }> => h.kind === kind);
    return of.length === 0 ? undefined : of[i % of.length];
  }
  add(h: Held): void {
    this.all.push(h);
  }
  releaseAll(): void {
    for (const h of this.all.splice(0)) release(h.kind === 'other' ? h.c : h.c);
  }
}

function capOf(p: $.Pointer): Client | null {
  return $.utils.getInterfaceClientOrNull(p);
}

function adopt(pool: Pool, client: Client | null, interfaceId: bigint): void {
  if (client === null) return;
  if (interfaceId === NAMESPACE_INTERFACE_ID) pool.add({ kind: 'ns', c: new Namespace.Client(client) });
  else if (interfaceId === FILE_SERVER_INTERFACE_ID) pool.add({ kind: 'fs', c: new FileServer.Client(client) });
  else if (interfaceId === FILE_ID) pool.add({ kind: 'file', c: new File.Client(client) });
  else pool.add({ kind: 'other', c: client, interfaceId });
}

/** What one chain did that the view forbids. */
class Breaches {
  readonly found: string[] = [];
  note(what: string): void {
    this.found.push(what);
  }
}

/** Reads a File (opening it for reading first); the bytes, or undefined if refused. */
async function readFile(f: File$Client): Promise<string | undefined> {
  const o = (await f.open((p) => (p._initMode().access = OpenMode_Access.READ)).promise()).result;
  if (o._isErr && o.err.message !== 'file is already open') return undefined;
  const r = (await f.read((p) => { p.offset = 0n; p.count = 4096; }).promise()).result;
  return r._isData ? Buffer.from(r.data.toUint8Array()).toString() : undefined;
}

interface Run {
  readonly view: ViewModel;
  readonly pool: Pool;
  readonly breaches: Breaches;
  revoked: boolean;
  readonly revoke: () => void;
  /** What got through, by kind: the property is only as good as what it exercised. */
  readonly through: Map<string, number>;
}

function count(run: Run, what: string): void {
  run.through.set(what, (run.through.get(what) ?? 0) + 1);
}

function judgeRead(run: Run, where: string, data: string | undefined): void {
  if (data === undefined) return;
  count(run, 'read');
  // A capability that is not a file server reads as its own description ("interface 0x…
  // label …"): the namespace's, not a member's, so revoking the member's grant leaves it.
  if (run.revoked && !data.startsWith('interface ')) run.breaches.note(`${where}: read after revocation`);
  if (data.includes(SECRET)) run.breaches.note(`${where}: read above the root (${data})`);
  if (run.view.filtered && data.includes(FILTERED)) run.breaches.note(`${where}: read a filtered file (${data})`);
}

function judgeSuccess(run: Run, where: string, ok: boolean): void {
  if (ok) count(run, where.split(' ')[0]!);
  if (ok && run.revoked) run.breaches.note(`${where}: succeeded after revocation`);
}

/**
 * A fresh File to work on, derived by one of three routes (`from` picks the first to try):
 * Namespace.walk(path) from a namespace held; attach(aname '') then walk `names` from a
 * file server held; walk `names` from a File held. Owned by the pool; undefined when no
 * route got anywhere.
 */
async function fileFor(run: Run, from: number, path: string, names: readonly string[] = []): Promise<File$Client | undefined> {
  const walkFrom = async (f: File$Client): Promise<File$Client | undefined> => {
    const w = (await f.walk((p) => { const l = p._initNames(names.length); names.forEach((n, i) => l.set(i, n)); }).promise()).result;
    if (!w._isFile) return undefined;
    count(run, 'File.walk');
    run.pool.add({ kind: 'file', c: w.file });
    return w.file;
  };
  const routes = [
    async (): Promise<File$Client | undefined> => {
      const ns = run.pool.pick('ns', from);
      if (ns === undefined) return undefined;
      const r = (await ns.c.walk((p) => (p.path = path)).promise()).result;
      if (!r._isFile) return undefined;
      count(run, 'Namespace.walk');
      run.pool.add({ kind: 'file', c: r.file });
      return names.length === 0 ? r.file : walkFrom(r.file);
    },
    async (): Promise<File$Client | undefined> => {
      const fs = run.pool.pick('fs', from);
      if (fs === undefined) return undefined;
      const a = (await fs.c.attach((p) => (p.aname = '')).promise()).result;
      if (!a._isOk) return undefined;
      count(run, 'attach');
      run.pool.add({ kind: 'file', c: a.ok.root });
      return walkFrom(a.ok.root);
    },
    async (): Promise<File$Client | undefined> => {
      const f = run.pool.pick('file', from);
      return f === undefined ? undefined : walkFrom(f.c);
    },
  ];
  for (let i = 0; i < routes.length; i++) {
    const f = await routes[(from + i) % routes.length]!().catch(() => undefined);
    if (f !== undefined) return f;
  }
  return undefined;
}

/** Runs one step. Refusals and failures are fine; only what gets through is judged. */
async function step(run: Run, o: Op): Promise<void> {
  const { pool } = run;
  switch (o.op) {
    case 'revoke':
      if (!run.revoked) run.revoke();
      run.revoked = true;
      return;
    case 'resolve': {
      const ns = pool.pick('ns', o.from);
      if (ns === undefined) return;
      const r = (await ns.c.resolve((p) => (p.path = o.path)).promise()).result;
      if (r._isOk) {
        count(run, 'resolve');
        adopt(pool, capOf(r.ok.cap), r.ok.interfaceId);
      }
      return;
    }
    case 'pipelined': {
      const ns = pool.pick('ns', o.from);
      if (ns === undefined) return;
      // Nothing awaited until the read: every call rides on the answer before it.
      const answer = ns.c.resolve((p) => { p.path = o.path; p.expectedInterface = FILE_SERVER_INTERFACE_ID; });
      const fs = new FileServer.Client(answer.pipeline.getPipeline(Namespace.ResolveResult, 0).getPipeline(Namespace.ResolveResult, 0).client());
      const att = fs.attach((p) => (p.aname = o.aname));
      const root = new File.Client(att.pipeline.getPipeline(FileServer.AttachResult, 0).getPipeline(FileServer.AttachResult, 0).client());
      const w = root.walk((p) => { const l = p._initNames(o.names.length); o.names.forEach((n, i) => l.set(i, n)); });
      const file = new File.Client(w.pipeline.getPipeline(File.WalkResult, 1).client());
      try {
        judgeRead(run, `pipelined ${o.path} ${o.aname} ${o.names.join('/')}`, await readFile(file).catch(() => undefined));
      } finally {
        release(file); release(root); release(fs);
      }
      return;
    }
    case 'nswalk': {
      const ns = pool.pick('ns', o.from);
      if (ns === undefined) return;
      const r = (await ns.c.walk((p) => (p.path = o.path)).promise()).result;
      if (r._isFile) {
        count(run, 'Namespace.walk');
        pool.add({ kind: 'file', c: r.file });
      }
      return;
    }
    case 'sub': {
      const ns = pool.pick('ns', o.from);
      if (ns === undefined) return;
      const r = (await ns.c.sub((p) => { p.prefix = o.path; p.readOnly = o.ro; }).promise()).result;
      if (r._isNs) {
        count(run, 'sub');
        pool.add({ kind: 'ns', c: r.ns });
      }
      return;
    }
    case 'fork': {
      const ns = pool.pick('ns', o.from);
      if (ns === undefined) return;
      pool.add({ kind: 'ns', c: (await ns.c.fork().promise()).ns });
      return;
    }
    case 'bind': {
      const ns = pool.pick('ns', o.from);
      const cap = pool.all.length === 0 ? undefined : pool.all[o.cap % pool.all.length];
      if (ns === undefined || cap === undefined) return;
      const interfaceId = cap.kind === 'ns' ? NAMESPACE_INTERFACE_ID : cap.kind === 'fs' ? FILE_SERVER_INTERFACE_ID : cap.kind === 'file' ? FILE_ID : cap.interfaceId;
      const client = cap.kind === 'other' ? cap.c : cap.c.client;
      const b = await ns.c.bind((p) => {
        p.path = o.path;
        $.utils.setInterfacePointer(p.segment.message.addCap(client), p.cap);
        p.interfaceId = interfaceId;
        p.label = 'passed';
        p.position = Position.BEFORE;
        p.create = true;
      }).promise();
      if (b.result._isOk) count(run, 'bind');
      return;
    }
    case 'bindPath': {
      const ns = pool.pick('ns', o.from);
      if (ns === undefined) return;
      const b = await ns.c.bindPath((p) => { p.from = o.src; p.to = o.path; p.position = Position.BEFORE; p.create = true; }).promise();
      if (b.result._isOk) count(run, 'bindPath');
      return;
    }
    case 'apply': {
      const ns = pool.pick('ns', o.from);
      if (ns === undefined) return;
      const a = await ns.c.apply((p) => (p.text = `${o.line}\n`)).promise();
      if (a.result._isOk) count(run, 'apply');
      return;
    }
    case 'attach': {
      const fs = pool.pick('fs', o.from);
      if (fs === undefined) return;
      const r = (await fs.c.attach((p) => (p.aname = o.aname)).promise()).result;
      judgeSuccess(run, `attach ${o.aname}`, r._isOk);
      if (r._isOk) pool.add({ kind: 'file', c: r.ok.root });
      return;
    }
    case 'walk': {
      await fileFor(run, o.from, o.path, o.names);
      return;
    }
    case 'read': {
      const f = await fileFor(run, o.from, o.path, o.names);
      if (f === undefined) return;
      judgeRead(run, `read ${o.path} ${o.names.join('/')}`, await readFile(f));
      return;
    }
    case 'write': {
      const f = await fileFor(run, o.from, o.path, o.names);
      if (f === undefined) return;
      const op = (await f.open((p) => { const m = p._initMode(); m.access = OpenMode_Access.WRITE; m.truncate = o.trunc; }).promise()).result;
      judgeSuccess(run, 'open for writing', op._isOk);
      const w = (await f.write((p) => { p.offset = 0n; p._initData(1).set(0, 0x77); }).promise()).result;
      judgeSuccess(run, 'write', w._isCount);
      return;
    }
    case 'create': {
      const f = await fileFor(run, o.from, o.path);
      if (f === undefined) return;
      const r = (await f.create((p) => { p.name = o.name; p.perm = o.dir ? (DMDIR | 0o755) >>> 0 : 0o644; p._initMode().access = OpenMode_Access.READ; }).promise()).result;
      judgeSuccess(run, `create ${o.name}`, r._isOk);
      if (r._isOk) pool.add({ kind: 'file', c: r.ok.file });
      return;
    }
    case 'rename': {
      const f = await fileFor(run, o.from, o.path);
      if (f === undefined) return;
      const r = (await f.wstat((p) => (p._initChange().name = o.name)).promise()).result;
      judgeSuccess(run, `rename to ${o.name}`, r._isOk);
      return;
    }
    case 'remove': {
      const f = await fileFor(run, o.from, o.path);
      if (f === undefined) return;
      const r = (await f.remove().promise()).result;
      judgeSuccess(run, 'remove', r._isOk);
      return;
    }
    case 'now': {
      const clocks = pool.all.filter((h) => h.kind === 'other' && h.interfaceId === CLOCK_ID);
      const c = clocks[o.from % Math.max(1, clocks.length)];
      if (c === undefined || c.kind !== 'other') return;
      const ok = await new Clock.Client(c.c).now().promise().then(() => true, () => false);
      judgeSuccess(run, 'Clock.now', ok);
      return;
    }
  }
}

// ---- the views -------------------------------------------------------------------------

/** A namespace from the Gate at `address`. */
async function authenticate(address: string, token: string): Promise<{ conn: RpcConnection; ns: Namespace$Client }> {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => (p.token = token)).promise()).result;
  release(gate);
  if (!r._isOk) throw new Error(`authenticate: ${r.err.message}`);
  return { conn, ns: r.ok.ns };
}

interface View {
  readonly name: string;
  /** What the view promises (the model the chain is judged against). */
  readonly model: ViewModel;
  /** The starting namespace, on a connection of its own. */
  open(): Promise<{ conn: RpcConnection; ns: Namespace$Client }>;
}

function exportView(name: string, address: () => string, model: ViewModel): View {
  return { name, model, open: () => authenticate(address(), 'tx') };
}

/** A sub view of the whole profile's namespace, rooted at `root`. */
function subView(name: string, root: string, readOnly: boolean, model: ViewModel): View {
  return {
    name,
    model,
    async open() {
      const { conn, ns } = await authenticate(world.rpc, 'tu');
      const r = (await ns.sub((p) => { p.prefix = root; p.readOnly = readOnly; }).promise()).result;
      release(ns);
      if (!r._isNs) throw new Error(`sub: ${r.err.message}`);
      return { conn, ns: r.ns };
    },
  };
}

/**
 * Runs `chain` from `view`; returns what got through that the model forbids. Counts what
 * got through, by kind, into `through`.
 */
async function runChain(view: View, chain: readonly Op[], through = new Map<string, number>()): Promise<string[]> {
  world.reset();
  const before = { all: world.hash(), outside: world.hash('secret'), hidden: world.hash('pub/hidden') };
  // The host tree's top level, where a write above the root would show first.
  const topNames = () => JSON.stringify(readdirSync(world.dir).sort());
  const topBefore = topNames();
  const { conn, ns } = await view.open();
  const pool = new Pool();
  pool.add({ kind: 'ns', c: ns });
  const run: Run = {
    view: view.model,
    pool,
    breaches: new Breaches(),
    revoked: false,
    // Every grant of the profile: the view's member capabilities come through them.
    revoke: () => world.server.captable.revokeHolder('user@'),
    through,
  };
  try {
    for (const o of chain) {
      try {
        await step(run, o);
      } catch {
        // An exception is a refusal too (a method without a result union).
      }
    }
  } finally {
    pool.releaseAll();
    await conn.close();
  }
  if (world.hash('secret') !== before.outside || topNames() !== topBefore) run.breaches.note('changed something above the root');
  if (view.model.readOnly && world.hash() !== before.all) run.breaches.note('changed something through a read-only view');
  if (view.model.filtered && world.hash('pub/hidden') !== before.hidden) run.breaches.note('changed something below a filtered name');
  return run.breaches.found;
}


const VIEWS: readonly View[] = [
  exportView('read-only filtered export', () => world.exports.ro, { readOnly: true, filtered: true }),
  exportView('writable export', () => world.exports.rw, { readOnly: false, filtered: false }),
  exportView('writable filtered export', () => world.exports.rwf, { readOnly: false, filtered: true }),
  subView('read-only sub view', '/data/pub', true, { readOnly: true, filtered: false }),
  subView('writable sub view', '/data/pub', false, { readOnly: false, filtered: false }),
];

/** Chains per view (CAPNS_AUTHORITY_RUNS to search longer). */
const RUNS = Number(process.env['CAPNS_AUTHORITY_RUNS'] ?? 60);

for (const view of VIEWS) {
  test(`from a ${view.name}, no chain of derivations reads above the root, gets past the filter or read-only, or outlives revocation`, async (t) => {
    const through = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(chainArb, async (chain) => {
        const breaches = await runChain(view, chain, through);
        assert.deepEqual(breaches, [], `chain: ${JSON.stringify(chain)}`);
      }),
      { numRuns: RUNS },
    );
    world.reset();
    t.diagnostic(`got through: ${[...through].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    // A property that exercised nothing proves nothing: reads, walks and resolves must
    // have got through, and writes too where the view allows them.
    for (const what of ['read', 'resolve', 'File.walk', 'Namespace.walk']) assert.ok((through.get(what) ?? 0) > 0, `no ${what} got through in ${RUNS} chains`);
    if (!view.model.readOnly) assert.ok((through.get('write') ?? 0) + (through.get('create') ?? 0) > 0, `no write or create got through in ${RUNS} chains`);
  });
}

// The checker itself: views wider than their model must be caught.
const WIDER: readonly { readonly what: string; readonly view: View }[] = [
  { what: 'a root above the one promised', view: subView('sub view of /data, modelled as one of /data/pub', '/data', false, { readOnly: false, filtered: false }) },
  { what: 'a writable view modelled as read-only', view: exportView('writable export modelled read-only', () => world.exports.rw, { readOnly: true, filtered: false }) },
  { what: 'an unfiltered view modelled as filtered', view: exportView('unfiltered export modelled filtered', () => world.exports.rw, { readOnly: false, filtered: true }) },
];

for (const { what, view } of WIDER) {
  test(`the property fails for ${what} (the checker finds breaches when a policy is not applied)`, async () => {
    await assert.rejects(
      fc.assert(
        fc.asyncProperty(chainArb, async (chain) => {
          const breaches = await runChain(view, chain);
          assert.deepEqual(breaches, []);
        }),
        { numRuns: 300, endOnFailure: true },
      ),
      /Property failed/,
    );
    world.reset();
  });
}
