// MemFileServer (ramfs): the conformance suite, its limits, and random operation
// sequences checked against a simple model (fast-check).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { NsError } from '../../src/errors.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { RW, bytes, conformance, mkdir, mkfile, rejectsWith, walkTo } from './conformance.js';
import { checkAgainstModel, opArb } from './model.js';

conformance(
  'ramfs',
  async (options) => ({ fs: new MemFileServer(options), close: async () => undefined }),
  {
    exclusiveAndAppend: true,
  },
);

test('ramfs: maxFiles counts files and directories; over it create is NS_ERR_BUSY', async () => {
  const fs = new MemFileServer({ maxFiles: 3 });
  const { root } = await fs.attach('');
  await mkfile(root, 'a');
  await mkdir(root, 'd');
  assert.equal(fs.fileCount, 3);
  await rejectsWith(root.create('b', 0o644, RW), 'NS_ERR_BUSY');
  const a = await walkTo(root, 'a');
  await a.remove();
  await mkfile(root, 'b');
  await root.clunk();
});

test('ramfs: maxFileSize refuses writes and wstat lengths past it, changing nothing', async () => {
  const fs = new MemFileServer({ maxFileSize: 10 });
  const { root } = await fs.attach('');
  const { file } = await root.create('f', 0o644, RW);
  await file.write(0n, bytes('0123456789'));
  await rejectsWith(file.write(10n, bytes('x')), 'NS_ERR_TOO_LARGE');
  await rejectsWith(file.write(5n, bytes('abcdef')), 'NS_ERR_TOO_LARGE');
  await rejectsWith(file.wstat({ length: 11n }), 'NS_ERR_TOO_LARGE');
  assert.equal(new TextDecoder().decode(await file.read(0n, 100)), '0123456789');
  await file.clunk();
  await root.clunk();
});

test('ramfs: maxBytes bounds the data of all files together; removing frees it', async () => {
  const fs = new MemFileServer({ maxBytes: 100 });
  const { root } = await fs.attach('');
  const a = await root.create('a', 0o644, RW);
  await a.file.write(0n, new Uint8Array(60));
  const b = await root.create('b', 0o644, RW);
  await rejectsWith(b.file.write(0n, new Uint8Array(41)), 'NS_ERR_BUSY');
  await b.file.write(0n, new Uint8Array(40));
  assert.equal(fs.byteCount, 100);
  await a.file.remove();
  assert.equal(fs.byteCount, 40);
  await b.file.wstat({ length: 90n });
  assert.equal(fs.byteCount, 90);
  await b.file.clunk();
  await root.clunk();
});

test('ramfs: wstat sets the gid to any name; uid and muid are the server user', async () => {
  const fs = new MemFileServer({ uid: 'glenda' });
  const { root } = await fs.attach('');
  await mkfile(root, 'f');
  const f = await walkTo(root, 'f');
  await f.wstat({ gid: 'sys' });
  const st = await f.stat();
  assert.deepEqual([st.uid, st.gid, st.muid], ['glenda', 'sys', 'glenda']);
  await f.clunk();
  await root.clunk();
  assert.equal(fs.liveFiles, 0);
});

test('ramfs: limits must be positive integers', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(
      () => new MemFileServer({ iounit: bad }),
      (err: unknown) => err instanceof NsError && err.code === 'NS_ERR_INVALID_ARGUMENT',
    );
  }
});

test('ramfs: create refuses unknown mode bits', async () => {
  const fs = new MemFileServer();
  const { root } = await fs.attach('');
  await rejectsWith(root.create('x', 0x01000000 | 0o644, RW), 'NS_ERR_INVALID_ARGUMENT');
  await root.clunk();
});

test('ramfs: random operation sequences agree with a model (results, tree, contents, unique qids)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), async (ops) => {
      // Small blocks, so that writes, reads and truncations cross block boundaries.
      const fs = new MemFileServer({ blockSize: 8 });
      const size = await checkAgainstModel(fs, ops);
      assert.equal(fs.fileCount, size);
    }),
    { numRuns: 200 },
  );
});
