// Child process of the dirfs durability test (dir-file-server.test.ts): serves the
// directory argv[2] with a DirFileServer and writes 4 KiB chunks to "data" through the
// File interface, printing "ok <i>" on stdout after the write of chunk i resolved. The
// parent kills it with SIGKILL and checks that every acknowledged chunk is on disk.
import { newDirFileServer } from '../../src/fileserver/dir-file-server.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: durability-child.ts DIR [sync]');
const fs = await newDirFileServer(dir, { syncWrites: process.argv[3] === 'sync' });
const { root } = await fs.attach('');
const { file } = await root.create('data', 0o644, { access: 'write' });
const chunk = 4096;
for (let i = 0; ; i++) {
  await file.write(BigInt(i * chunk), new Uint8Array(chunk).fill(i & 0xff));
  process.stdout.write(`ok ${i}\n`);
}
