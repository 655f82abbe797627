/**
 * Hostile params across every interface (issue 17): every method of every interface in
 * schema/ (Namespace, Gate, FileServer, File, CapTable, Clock, Echo) called over a raw
 * connection whose params are written by hand: huge and zero-sized lists, lists out of
 * their segment, far pointers to segments that do not exist or into the envelope,
 * lists where structs are expected and the reverse, capability pointers where data is
 * expected, self-referencing and deeply nested structs, texts without NUL, bad UTF-8,
 * thousands of pointers aliasing one large text.
 *
 * The target is a real `capns serve` started in-process on port 0, through both of its
 * doors: its rpc listener (the Gate, grants' membranes, the namespace server, the ram
 * file server, the capability table) and an export of a read-only, path-filtered
 * subtree (the export's gate, its per-peer membrane and policy, which reads params
 * itself). Echo reaches it through an import (the importer's forwarder) of another
 * export. The properties: the process never dies, every call is answered (results or an
 * exception), the raw connection is never aborted for what is inside params, and a
 * well-behaved client on another connection keeps being served throughout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import fc from 'fast-check';
import { pino } from 'pino';
import { CapTable } from '../../src/gen/captable.js';
import { Clock, Echo } from '../../src/gen/demo.js';
import { File, FileServer } from '../../src/gen/fileserver.js';
import { Gate, Namespace, type Namespace$Client } from '../../src/gen/namespace.js';
import { parseManifest } from '../../src/manifest/index.js';
import { MountTable } from '../../src/namespace/mount-table.js';
import { serveNamespace } from '../../src/namespace/namespace-server.js';
import { startExport } from '../../src/proxy/exporter.js';
import { connect, encodeFrame, release, type RpcConnection } from '../../src/rpc/index.js';
import { newEcho } from '../../src/server/demo-services.js';
import { startCapnsServer, type CapnsServer } from '../../src/server/capns-server.js';
import { RawPeer, RpcMessage } from './raw-peer.js';

// ---- the target ----------------------------------------------------------------------

interface Target {
  capns: CapnsServer;
  rpc: string;
  export: string;
}

async function target(t: TestContext): Promise<Target> {
  // Echo lives elsewhere: an export of a namespace holding one, imported by capns serve.
  const table = new MountTable<Client>();
  table.bind('/echo', { cap: newEcho().client, interfaceId: Echo.Client.interfaceId, label: 'echo' });
  const echoNs = serveNamespace(table);
  const echoExport = await startExport({ ns: echoNs, root: '/', listen: '127.0.0.1:0', tokens: ['e'] });
  release(echoNs);
  const dir = mkdtempSync(join(tmpdir(), 'capns-fuzz-'));
  const filter = join(dir, 'filter');
  writeFileSync(filter, '- ^\\./secret\ndeny CapTable.revokeHolder\n');
  const yaml = `
version: 1
capabilities:
  tmp: { type: ram }
  secret: { type: ram }
  clock: { type: demo.clock }
  caps: { type: captable }
  echo: { type: import, address: "${echoExport.address}", path: /echo, token: e, interface: Echo }
profiles:
  alice:
    auth: { tokens: [secret] }
    namespace:
      - { mount: tmp, at: /x/tmp, create: true }
      - { mount: secret, at: /x/secret }
      - { mount: clock, at: /x/svc/clock }
      - { mount: caps, at: /x/svc/captable }
      - { mount: echo, at: /x/svc/echo }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
exports:
  - { profile: alice, root: /x, readOnly: true, filter: "${filter}", listen: "tcp!127.0.0.1!0", auth: { tokens: [secret] }, heartbeatMs: 0 }
`;
  // heartbeatMs 0: the raw caller answers none of the exporter's heartbeats, which would
  // cut it after 5 s on a slow machine.
  const manifest = parseManifest(yaml, { file: 'fuzz.yaml', env: {} });
  const capns = await startCapnsServer({ manifest, logger: pino({ level: 'silent' }), drainMs: 100 });
  t.after(async () => {
    capns.destroy();
    echoExport.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const at = (p: string): string => capns.addresses.find((a) => a.protocol === p)!.address;
  return { capns, rpc: at('rpc'), export: at('export') };
}

// ---- hostile content, written word by word --------------------------------------------

/** A segment under construction: 32-bit halves of 64-bit words. */
class Seg {
  readonly w: number[] = [];
  alloc(words: number): number {
    const at = this.w.length / 2;
    for (let i = 0; i < words * 2; i++) this.w.push(0);
    return at;
  }
  set(word: number, lo: number, hi: number): void {
    this.w[word * 2] = lo >>> 0;
    this.w[word * 2 + 1] = hi >>> 0;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.w.length * 4);
    const dv = new DataView(out.buffer);
    this.w.forEach((x, i) => dv.setUint32(i * 4, x, true));
    return out;
  }
  setBytes(word: number, b: Uint8Array): void {
    for (let i = 0; i < b.length; i++) {
      const k = word * 2 + (i >> 2);
      this.w[k] = (this.w[k]! | (b[i]! << ((i & 3) * 8))) >>> 0;
    }
  }
}

const structPtr = (s: Seg, at: number, to: number, data: number, ptrs: number): void =>
  s.set(at, ((to - at - 1) << 2) | 0, data | (ptrs << 16));
const listPtr = (s: Seg, at: number, to: number, size: number, count: number): void =>
  s.set(at, ((to - at - 1) << 2) | 1, size | (count << 3));

/** A Text (byte list) of `b` at a fresh place, pointed to from `at`. */
function bytesAt(s: Seg, at: number, b: Uint8Array): void {
  const to = s.alloc(Math.ceil(b.length / 8));
  s.setBytes(to, b);
  listPtr(s, at, to, 2, b.length);
}

const HOSTILE = [
  'null',
  'zeroSizedComposite',
  'voidList',
  'byteListPastEnd',
  'pointerListPastEnd',
  'compositePastEnd',
  'structForList',
  'listForStruct',
  'capPointer',
  'farMissingSegment',
  'farIntoEnvelope',
  'doubleFarBad',
  'selfLoop',
  'deepNesting',
  'textNoNul',
  'textEmptyList',
  'textBadUtf8',
  'aliasedTexts',
  'bigText',
  'reservedPointer',
] as const;
type Hostile = (typeof HOSTILE)[number];

/** Kinds that stay small: before authentication frames are limited to 64 KiB. */
const SMALL_HOSTILE = HOSTILE.filter((k) => k !== 'aliasedTexts' && k !== 'bigText');

/** Writes a pointer of kind `k` at word `at` of `s` (allocating what it points to). */
function hostilePointer(s: Seg, at: number, k: Hostile): void {
  switch (k) {
    case 'null':
      return;
    case 'zeroSizedComposite': {
      const tag = s.alloc(1);
      s.set(tag, ((2 ** 29 - 1) << 2) >>> 0, 0);
      listPtr(s, at, tag, 7, 0);
      return;
    }
    case 'voidList':
      listPtr(s, at, at + 1, 0, 2 ** 29 - 1);
      return;
    case 'byteListPastEnd':
      listPtr(s, at, at + 1, 2, 2 ** 29 - 1);
      return;
    case 'pointerListPastEnd':
      listPtr(s, at, at + 1, 6, 2 ** 20);
      return;
    case 'compositePastEnd': {
      const tag = s.alloc(1);
      s.set(tag, 1000 << 2, 1 | (1 << 16));
      listPtr(s, at, tag, 7, 2000);
      return;
    }
    case 'structForList': {
      const to = s.alloc(2);
      s.set(to, 0x41414141, 0x41414141);
      structPtr(s, at, to, 1, 1);
      return;
    }
    case 'listForStruct':
      bytesAt(s, at, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]));
      return;
    case 'capPointer':
      s.set(at, 3, 7);
      return;
    case 'farMissingSegment':
      s.set(at, (0 << 3) | 2, 99);
      return;
    case 'farIntoEnvelope':
      // Segment 0 word 0: the rpc.capnp Message's own root pointer.
      s.set(at, (0 << 3) | 2, 0);
      return;
    case 'doubleFarBad': {
      const pad = s.alloc(2);
      s.set(pad, 0x12345678, 0x9abcdef0); // not a far pointer
      s.set(at, (pad << 3) | 4 | 2, 1);
      return;
    }
    case 'selfLoop': {
      // A struct whose every pointer points back at itself.
      const to = s.alloc(1 + 4);
      for (let i = 0; i < 4; i++) structPtr(s, to + 1 + i, to, 1, 4);
      structPtr(s, at, to, 1, 4);
      return;
    }
    case 'deepNesting': {
      let from = at;
      for (let i = 0; i < 300; i++) {
        const to = s.alloc(2);
        structPtr(s, from, to, 1, 1);
        from = to + 1;
      }
      return;
    }
    case 'textNoNul':
      bytesAt(s, at, new TextEncoder().encode('/x/tmp/no-nul'));
      return;
    case 'textEmptyList':
      listPtr(s, at, at + 1, 2, 0);
      return;
    case 'textBadUtf8':
      bytesAt(s, at, new Uint8Array([0x2f, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0]));
      return;
    case 'aliasedTexts': {
      // 4096 pointers to one 64 KiB text: 256 MiB of strings if each were decoded.
      const text = new Uint8Array(64 * 1024).fill(0x61);
      text[text.length - 1] = 0;
      const list = s.alloc(4096);
      const body = s.alloc(text.length / 8);
      s.setBytes(body, text);
      for (let i = 0; i < 4096; i++) listPtr(s, list + i, body, 2, text.length);
      listPtr(s, at, list, 6, 4096);
      return;
    }
    case 'bigText': {
      const text = new Uint8Array(1 << 20).fill(0x62);
      text[text.length - 1] = 0;
      bytesAt(s, at, text);
      return;
    }
    case 'reservedPointer':
      // A far pointer whose landing pad is itself: a loop of fars.
      s.set(at, (at << 3) | 2, 1);
      return;
  }
}

/**
 * The params of one call: a struct shaped like the method's params (its data words
 * filled from `data`, its pointers each of a hostile kind), as segment 1 of the frame.
 * `shape` may also misshape the struct itself.
 */
function hostileContent(size: $.ObjectSize, kinds: readonly Hostile[], data: Uint8Array, shape: 'exact' | 'empty' | 'wide' | 'list'): Uint8Array {
  const s = new Seg();
  const root = s.alloc(1);
  const dataWords = shape === 'empty' ? 0 : shape === 'wide' ? size.dataByteLength / 8 + 2 : size.dataByteLength / 8;
  const ptrs = shape === 'empty' ? 0 : shape === 'wide' ? size.pointerLength + 2 : size.pointerLength;
  if (shape === 'list') {
    // The params root is a list, not a struct.
    bytesAt(s, root, new Uint8Array(24).fill(0x55));
    return s.bytes();
  }
  const body = s.alloc(dataWords + ptrs);
  structPtr(s, root, body, dataWords, ptrs);
  s.setBytes(body, data.subarray(0, dataWords * 8));
  for (let i = 0; i < ptrs; i++) hostilePointer(s, body + dataWords + i, kinds[i % kinds.length]!);
  return s.bytes();
}

// ---- a raw peer that calls -------------------------------------------------------------

/** Frames a Call to import `cap` whose params content is `content` (segment 1), or none. */
function callFrame(q: number, cap: number, interfaceId: bigint, methodId: number, content: Uint8Array | null): Uint8Array {
  const msg = new $.Message();
  const c = msg.initRoot(RpcMessage)._initCall();
  c.questionId = q;
  c.interfaceId = interfaceId;
  c.methodId = methodId;
  c._initTarget().importedCap = cap;
  const p = c._initParams().content;
  if (content !== null) {
    // A far pointer to word 0 of segment 1, where the content's root pointer is.
    p.segment.setUint32(p.byteOffset, 2);
    p.segment.setUint32(p.byteOffset + 4, 1);
  }
  const seg0 = msg.getSegment(0);
  const env = new Uint8Array(seg0.buffer, 0, seg0.byteLength);
  return encodeFrame(content === null ? [env] : [env, content]);
}

/** A caller over a RawPeer: numbered questions, Returns matched by answer id. */
class Caller {
  #next = 1;
  readonly #returns = new Map<number, RpcMessage>();
  constructor(readonly peer: RawPeer) {}

  send(cap: number, interfaceId: bigint, methodId: number, content: Uint8Array | null): number {
    const q = this.#next++;
    this.peer.send(callFrame(q, cap, interfaceId, methodId, content));
    return q;
  }

  /** The Return for `q`; Finishes it. Fails if the connection ends or nothing comes. */
  async answer(q: number, what: string, ms = 20_000): Promise<RpcMessage> {
    const t0 = Date.now();
    while (!this.#returns.has(q)) {
      const m = await this.peer.next(Math.max(1, ms - (Date.now() - t0)));
      if (m === null) {
        assert.fail(`${what}: no Return for q=${q} (${this.peer.closed ? 'connection closed' : `none within ${ms} ms`})`);
      }
      if (m.which() === RpcMessage.ABORT) assert.fail(`${what}: the server aborted the connection: ${m.abort.reason}`);
      if (m.which() === RpcMessage.RETURN) this.#returns.set(m.return.answerId, m);
      // Resolve, Release and the like need nothing from us here.
    }
    const r = this.#returns.get(q)!;
    this.#returns.delete(q);
    if (!r.return.noFinishNeeded) {
      // releaseResultCaps false: the capabilities in the results are ours now (imports).
      this.peer.sendMsg((m) => {
        const f = m._initFinish();
        f.questionId = q;
        f.releaseResultCaps = false;
      });
    }
    return r;
  }

  /** The import id of the first capability in a Return's results (fails when none). */
  static capOf(r: RpcMessage, what: string): number {
    assert.equal(r.return.which(), 0, `${what}: ${r.return.which() === 1 ? r.return.exception.reason : `return variant ${r.return.which()}`}`);
    const table = r.return.results.capTable;
    assert.ok(table.length > 0, `${what}: no capability in the results`);
    const d = table.get(0);
    return d.which() === 1 ? d.senderHosted : d.senderPromise;
  }
}

/** Params built the ordinary way (capnp-es), for the calls that obtain capabilities. */
function goodContent<P extends $.Struct>(Params: $.StructCtor<P>, fill: (p: P) => void): Uint8Array {
  const m = new $.Message();
  fill(m.initRoot(Params));
  const seg = m.getSegment(0);
  return new Uint8Array(seg.buffer, 0, seg.byteLength).slice();
}

interface Caps {
  gate: number;
  ns: number;
  fs: number;
  file: number;
  clock: number;
  echo: number;
  captable: number;
}

/** Bootstraps, authenticates and resolves one capability of each interface, by hand. */
async function obtain(c: Caller, root: string): Promise<Caps> {
  c.peer.sendMsg((m) => { m._initBootstrap().questionId = 0; });
  const boot = await c.answer(0, 'bootstrap');
  const gate = Caller.capOf(boot, 'bootstrap');
  const auth = await c.answer(
    c.send(gate, Gate.Client.interfaceId, 0, goodContent(Gate.Client.methods[0].ParamsClass, (p) => { p.token = 'secret'; })),
    'authenticate',
  );
  const ns = Caller.capOf(auth, 'authenticate');
  const resolve = async (path: string): Promise<number> =>
    Caller.capOf(
      await c.answer(c.send(ns, Namespace.Client.interfaceId, 0, goodContent(Namespace.Client.methods[0].ParamsClass, (p) => { p.path = path; })), `resolve ${path}`),
      `resolve ${path}`,
    );
  const walk = await c.answer(
    c.send(ns, Namespace.Client.interfaceId, 6, goodContent(Namespace.Client.methods[6].ParamsClass, (p) => { p.path = `${root}/tmp`; })),
    'walk',
  );
  return {
    gate,
    ns,
    fs: await resolve(`${root}/tmp`),
    file: Caller.capOf(walk, 'walk'),
    clock: await resolve(`${root}/svc/clock`),
    echo: await resolve(`${root}/svc/echo`),
    captable: await resolve(`${root}/svc/captable`),
  };
}

interface Iface {
  name: string;
  cap: keyof Caps;
  Client: { interfaceId: bigint; methods: ReadonlyArray<{ ParamsClass: { _capnp: { size: $.ObjectSize } }; methodName?: string }> };
}

const IFACES: readonly Iface[] = [
  { name: 'Namespace', cap: 'ns', Client: Namespace.Client },
  { name: 'Gate', cap: 'gate', Client: Gate.Client },
  { name: 'FileServer', cap: 'fs', Client: FileServer.Client },
  { name: 'File', cap: 'file', Client: File.Client },
  { name: 'CapTable', cap: 'captable', Client: CapTable.Client },
  { name: 'Clock', cap: 'clock', Client: Clock.Client },
  { name: 'Echo', cap: 'echo', Client: Echo.Client },
];

/**
 * Data words for a call: `fill`, except CapTable's, always all ones: its revoke(id) is
 * an administrator's, and a small id could revoke the well-behaved client's grants.
 */
function dataFor(iface: Iface, fill: Uint8Array): Uint8Array {
  return iface.name === 'CapTable' ? new Uint8Array(fill.length).fill(0xff) : fill;
}

// ---- the well-behaved client -----------------------------------------------------------

interface Good {
  conn: RpcConnection;
  ns: Namespace$Client;
  check(): Promise<void>;
}

async function goodClient(t: TestContext, address: string, root: string, canWrite: boolean): Promise<Good> {
  const conn = await connect(address);
  t.after(() => conn.destroy());
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => { p.token = 'secret'; }).promise()).result;
  release(gate);
  assert.ok(r._isOk);
  const ns = r.ok.ns;
  const clockPath = `${root}/svc/clock`;
  if (canWrite) {
    // A file of its own, read back at each check.
    const w = (await ns.walk((p) => { p.path = `${root}/tmp`; }).promise()).result;
    assert.ok(w._isFile);
    const cr = (await w.file.create((p) => { p.name = 'good'; p.perm = 0o644; p.mode.access = 2; }).promise()).result;
    assert.ok(cr._isOk, cr._isErr ? cr.err.message : '');
    await cr.ok.file.write((p) => { p.offset = 0n; p._initData(5).toUint8Array().set(new TextEncoder().encode('hello')); }).promise();
    release(cr.ok.file);
    release(w.file);
  }
  return {
    conn,
    ns,
    async check() {
      assert.equal(conn.closed, false, 'the good client is still connected');
      const l = (await ns.list((p) => { p.path = `${root}/svc`; }).promise()).result;
      assert.ok(l._isEntries, l._isErr ? l.err.message : '');
      const res = (await ns.resolve((p) => { p.path = clockPath; }).promise()).result;
      assert.ok(res._isOk);
      const clock = new Clock.Client($.utils.getInterfaceClientOrNull(res.ok.cap));
      assert.ok((await clock.now().promise()).unixMillis > 0n);
      release(clock);
      if (canWrite) {
        const w = (await ns.walk((p) => { p.path = `${root}/tmp/good`; }).promise()).result;
        assert.ok(w._isFile, w._isErr ? w.err.message : '');
        assert.ok((await w.file.open((p) => { p.mode.access = 0; }).promise()).result._isOk);
        const rd = (await w.file.read((p) => { p.offset = 0n; p.count = 100; }).promise()).result;
        assert.ok(rd._isData);
        assert.equal(new TextDecoder().decode(rd.data.toUint8Array()), 'hello');
        release(w.file);
      }
    },
  };
}

// ---- the tests -------------------------------------------------------------------------

const DOORS = [
  { door: 'rpc' as const, root: '/x', canWrite: true },
  { door: 'export' as const, root: '', canWrite: false },
];

const SHAPES = ['exact', 'empty', 'wide', 'list'] as const;

/** What a call got back, for the failure message. */
function outcome(r: RpcMessage): string {
  return r.return.which() === 1 ? `exception: ${r.return.exception.reason}` : `variant ${r.return.which()}`;
}

for (const { door, root, canWrite } of DOORS) {
  test(`hostile params (${door}): every method of every interface, every hostile pointer kind in every pointer field, is answered; the server keeps serving`, async (t) => {
    const tg = await target(t);
    const address = tg[door];
    const good = await goodClient(t, address, root, canWrite);
    await good.check();
    const peer = await RawPeer.connect(address);
    t.after(() => peer.close());
    const c = new Caller(peer);
    const caps = await obtain(c, root);
    const fill = new Uint8Array(64).fill(0xa5);
    let calls = 0;
    for (const iface of IFACES) {
      for (const [methodId, m] of iface.Client.methods.entries()) {
        for (const kind of HOSTILE) {
          for (const shape of SHAPES) {
            if (shape !== 'exact' && kind !== 'null' && kind !== 'zeroSizedComposite') continue;
            const what = `${iface.name}.${m.methodName} with ${kind} pointers (${shape} params)`;
            const content = hostileContent(m.ParamsClass._capnp.size, [kind], dataFor(iface, fill), shape);
            const q = c.send(caps[iface.cap], iface.Client.interfaceId, methodId, content);
            const r = await c.answer(q, what);
            assert.equal(r.which(), RpcMessage.RETURN, what);
            assert.ok([0, 1].includes(r.return.which()), `${what}: ${outcome(r)}`);
            calls++;
          }
        }
        // No params at all (a null content pointer).
        const r = await c.answer(c.send(caps[iface.cap], iface.Client.interfaceId, methodId, null), `${iface.name}.${m.methodName} without params`);
        assert.ok([0, 1].includes(r.return.which()));
        await good.check();
      }
    }
    assert.ok(calls > 500, `${calls} hostile calls`);
    assert.equal(peer.closed, false, 'the raw connection was never aborted for its params');
    await good.check();
  });

  test(`hostile params (${door}): random mixes of hostile pointers and data (fast-check) are answered; the server keeps serving`, async (t) => {
    const tg = await target(t);
    const address = tg[door];
    const good = await goodClient(t, address, root, canWrite);
    const peer = await RawPeer.connect(address);
    t.after(() => peer.close());
    const c = new Caller(peer);
    const caps = await obtain(c, root);
    const arb = fc.record({
      iface: fc.integer({ min: 0, max: IFACES.length - 1 }),
      method: fc.nat(),
      kinds: fc.array(fc.constantFrom(...HOSTILE), { minLength: 1, maxLength: 6 }),
      data: fc.uint8Array({ minLength: 64, maxLength: 64 }),
      shape: fc.constantFrom(...SHAPES),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(arb, async ({ iface: i, method, kinds, data, shape }) => {
        const iface = IFACES[i]!;
        const methodId = method % iface.Client.methods.length;
        const m = iface.Client.methods[methodId]!;
        const what = `${iface.name}.${m.methodName} with [${kinds.join(', ')}] (${shape} params)`;
        const content = hostileContent(m.ParamsClass._capnp.size, kinds, dataFor(iface, data), shape);
        const r = await c.answer(c.send(caps[iface.cap], iface.Client.interfaceId, methodId, content), what);
        assert.ok([0, 1].includes(r.return.which()), `${what}: ${outcome(r)}`);
        if (++n % 25 === 0) await good.check();
      }),
      { numRuns: 300 },
    );
    assert.equal(peer.closed, false);
    await good.check();
  });

  test(`hostile params (${door}): Gate.authenticate before authentication, with every hostile kind, is answered`, async (t) => {
    const tg = await target(t);
    const address = tg[door];
    const good = await goodClient(t, address, root, canWrite);
    const size = Gate.Client.methods[0].ParamsClass._capnp.size;
    for (const kind of SMALL_HOSTILE) {
      // A fresh connection each time: the Gate stops listening after 5 failures.
      const peer = await RawPeer.connect(address);
      const c = new Caller(peer);
      peer.sendMsg((m) => { m._initBootstrap().questionId = 0; });
      const gate = Caller.capOf(await c.answer(0, 'bootstrap'), 'bootstrap');
      for (const shape of SHAPES) {
        const what = `Gate.authenticate with ${kind} (${shape} params), unauthenticated`;
        const r = await c.answer(c.send(gate, Gate.Client.interfaceId, 0, hostileContent(size, [kind], new Uint8Array(8), shape)), what);
        assert.ok([0, 1].includes(r.return.which()), `${what}: ${outcome(r)}`);
      }
      peer.close();
    }
    await good.check();
  });
}
