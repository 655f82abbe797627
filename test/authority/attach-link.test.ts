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
import { FileServer } from '../../src/gen/fileserver.js';
import { startWorld, type World } from '../support/authority-world.js';
import { capAt, gateNs, readAll, type T } from '../support/peer.js';

let world: World;
before(async () => {
  world = await startWorld();
});
after(async () => {
  await world.close();
});

/** Through the export at `address`: attach `aname` at its root's FileServer, walk `name`, read it; or why not. */
async function attachAndRead(t: T, address: string, aname: string, name: string): Promise<string> {
  const { ns } = await gateNs(t, address, 'tx');
  const fs = new FileServer.Client(await capAt(t, ns, '/'));
  const at = (await fs.attach((p) => (p.aname = aname)).promise()).result;
  if (at._isErr) return `refused: ${at.err.message}`;
  const f = (await at.ok.root.walk((p) => { p._initNames(1).set(0, name); }).promise()).result;
  if (!f._isFile) return `refused: ${f.err.message}`;
  return await readAll(f.file);
}

test('a path-filtered export refuses an attach name that is a link to a filtered name, as walks do', async (t) => {
  for (const address of [world.exports.rwf, world.exports.ro]) {
    const { ns } = await gateNs(t, address, 'tx');
    // The same link, by walk: refused (the documented rule).
    assert.ok((await ns.walk((p) => (p.path = '/hiddenlink/h.txt')).promise()).result._isErr, 'Namespace.walk through hiddenlink is refused');
    const got = await attachAndRead(t, address, 'hiddenlink', 'h.txt');
    assert.match(got, /^refused: .*hidden/, `${address}: read a filtered file through attach('hiddenlink')`);
  }
});

test('through a path-filtered export an attach below the root is placed where it ended: allowed names read, filtered ones below it refused; an unfiltered export follows the link', async (t) => {
  assert.equal(await attachAndRead(t, world.exports.rwf, 'dir', 'b.txt'), 'PUBLIC b');
  assert.equal(await attachAndRead(t, world.exports.ro, 'dir', 'b.txt'), 'PUBLIC b');
  assert.match(await attachAndRead(t, world.exports.rwf, '', 'hiddenlink'), /^refused/);
  // No path patterns, nothing to judge: the link is followed as the directory server allows.
  assert.equal(await attachAndRead(t, world.exports.rw, 'hiddenlink', 'h.txt'), 'FILTERED h');
});
