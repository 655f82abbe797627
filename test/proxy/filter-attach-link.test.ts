/**
 * A path-filtered export judges FileServer.attach where the attach really ended
 * (AttachResult.path), not by its name. An attach name that is a symbolic link to a
 * filtered directory (the world's DIR/pub/hiddenlink -> hidden) gave a root File inside
 * the filtered tree, whose walks were judged below the link's name; Namespace.walk and
 * File.walk refuse the same link "as that name" (docs/security.md). Found by an
 * attacker's review.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as $ from 'capnp-es';
import { OpenMode_Access } from '../../src/gen/common.js';
import { FileServer, type File$Client } from '../../src/gen/fileserver.js';
import { Gate } from '../../src/gen/namespace.js';
import { connect, release } from '../../src/rpc/index.js';
import { startWorld, type World } from '../support/authority-world.js';

let world: World;
before(async () => {
  world = await startWorld();
});
after(async () => {
  await world.close();
});

async function readAll(f: File$Client): Promise<string> {
  const o = (await f.open((p) => (p._initMode().access = OpenMode_Access.READ)).promise()).result;
  assert.ok(o._isOk, o._isErr ? o.err.message : '');
  const r = (await f.read((p) => { p.offset = 0n; p.count = 8192; }).promise()).result;
  assert.ok(r._isData, r._isErr ? r.err.message : '');
  return Buffer.from(r.data.toUint8Array()).toString();
}

test('a path-filtered export refuses an attach name that is a link to a filtered name, as walks do', async (t) => {
  for (const address of [world.exports.rwf, world.exports.ro]) {
    const conn = await connect(address);
    t.after(() => conn.close());
    const gate = conn.bootstrap(Gate);
    const a = (await gate.authenticate((p) => (p.token = 'tx')).promise()).result;
    release(gate);
    assert.ok(a._isOk);
    const ns = a.ok.ns;
    // The same link, by walk: refused (the documented rule).
    const w = (await ns.walk((p) => (p.path = '/hiddenlink/h.txt')).promise()).result;
    assert.ok(w._isErr, 'Namespace.walk through hiddenlink is refused');
    // By attach name.
    const r = (await ns.resolve((p) => (p.path = '/')).promise()).result;
    assert.ok(r._isOk, r._isErr ? r.err.message : '');
    const fs = new FileServer.Client($.utils.getInterfaceClientOrNull(r.ok.cap));
    const at = (await fs.attach((p) => (p.aname = 'hiddenlink')).promise()).result;
    let leaked: string | undefined;
    if (at._isOk) {
      const f = (await at.ok.root.walk((p) => { p._initNames(1).set(0, 'h.txt'); }).promise()).result;
      if (f._isFile) leaked = await readAll(f.file).catch(() => undefined);
    }
    release(fs); release(ns);
    assert.equal(leaked, undefined, `${address}: read a filtered file through attach('hiddenlink')`);
    assert.ok(at._isErr, 'attach onto a link to a filtered name is refused');
  }
});

test('through a path-filtered export an attach below the root is placed where it ended: allowed names read, filtered ones below it refused; an unfiltered export follows the link', async (t) => {
  const attachAndRead = async (address: string, aname: string, name: string): Promise<string> => {
    const conn = await connect(address);
    t.after(() => conn.close());
    const gate = conn.bootstrap(Gate);
    const a = (await gate.authenticate((p) => (p.token = 'tx')).promise()).result;
    release(gate);
    assert.ok(a._isOk);
    const r = (await a.ok.ns.resolve((p) => (p.path = '/')).promise()).result;
    assert.ok(r._isOk, r._isErr ? r.err.message : '');
    const fs = new FileServer.Client($.utils.getInterfaceClientOrNull(r.ok.cap));
    try {
      const at = (await fs.attach((p) => (p.aname = aname)).promise()).result;
      if (at._isErr) return `refused: ${at.err.message}`;
      const f = (await at.ok.root.walk((p) => { p._initNames(1).set(0, name); }).promise()).result;
      if (!f._isFile) return `refused: ${f.err.message}`;
      return await readAll(f.file);
    } finally {
      release(fs);
      release(a.ok.ns);
    }
  };
  assert.equal(await attachAndRead(world.exports.rwf, 'dir', 'b.txt'), 'PUBLIC b');
  assert.equal(await attachAndRead(world.exports.ro, 'dir', 'b.txt'), 'PUBLIC b');
  assert.match(await attachAndRead(world.exports.rwf, '', 'hiddenlink'), /^refused/);
  // No path patterns, nothing to judge: the link is followed as the directory server allows.
  assert.equal(await attachAndRead(world.exports.rw, 'hiddenlink', 'h.txt'), 'FILTERED h');
});
