/**
 * What the authority tests do as a peer, over a real connection: authenticate at a Gate,
 * reach the capability at a path, read a file whole. Each reference is released (and the
 * connection closed) after the test.
 */
import assert from 'node:assert/strict';
import * as $ from 'capnp-es';
import type { Client } from 'capnp-es';
import { OpenMode_Access } from '../../src/gen/common.js';
import type { File$Client } from '../../src/gen/fileserver.js';
import { Gate, type Namespace$Client } from '../../src/gen/namespace.js';
import { connect, release, type RpcConnection } from '../../src/rpc/index.js';

/** What these helpers need of a test: something to run after it. */
export type T = { after: (fn: () => Promise<void> | void) => void };

/** A namespace from the Gate at `address` for `token`, released (and the connection closed) after the test. */
export async function gateNs(t: T, address: string, token: string): Promise<{ ns: Namespace$Client; conn: RpcConnection }> {
  const conn = await connect(address);
  const gate = conn.bootstrap(Gate);
  const r = (await gate.authenticate((p) => (p.token = token)).promise()).result;
  release(gate);
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  const ns = r.ok.ns;
  t.after(async () => {
    release(ns);
    await conn.close();
  });
  return { ns, conn };
}

/** The capability `path` resolves to in `ns` (asserted found), released after the test. */
export async function capAt(t: T, ns: Namespace$Client, path: string): Promise<Client> {
  const r = (await ns.resolve((p) => (p.path = path)).promise()).result;
  assert.ok(r._isOk, r._isErr ? r.err.message : '');
  const cap = $.utils.getInterfaceClientOrNull(r.ok.cap);
  t.after(() => release(cap));
  return cap;
}

/** Opens `f` for reading and reads up to 8 KiB from the start, as text. */
export async function readAll(f: File$Client): Promise<string> {
  const o = (await f.open((p) => (p._initMode().access = OpenMode_Access.READ)).promise()).result;
  assert.ok(o._isOk, o._isErr ? o.err.message : '');
  const r = (await f.read((p) => { p.offset = 0n; p.count = 8192; }).promise()).result;
  assert.ok(r._isData, r._isErr ? r.err.message : '');
  return Buffer.from(r.data.toUint8Array()).toString();
}
