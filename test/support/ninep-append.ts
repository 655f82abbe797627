/**
 * `>>` over 9P, for the hub pipeline test: reads stdin and appends every chunk to a file
 * on a 9P server, as a shell's `cmd >> /n/hub/chan` on a mounted hub does (this machine's
 * kernel has no 9p filesystem to mount; diod's tools only read). Usage:
 *
 *   node --import tsx test/support/ninep-append.ts HOST:PORT PATH
 *
 * Exits 0 at the end of stdin, 1 (with a message) on any 9P error.
 */
import { parseAddress } from '../../src/address.js';
import { MessageType } from '../../src/fileserver/9p/constants.js';
import { NinepClient } from './ninep-client.js';

const [addr, path] = process.argv.slice(2);
if (addr === undefined || path === undefined) {
  process.stderr.write('usage: ninep-append HOST:PORT PATH\n');
  process.exit(2);
}
const c = await NinepClient.open(parseAddress(addr), '9P2000.L');
try {
  const { fid: root } = await c.attach('');
  const fid = await c.walk(root, path.split('/').filter((n) => n !== ''));
  // O_WRONLY | O_APPEND, as a shell's >> opens it.
  await c.call({ type: MessageType.Tlopen, fid, flags: 0o1 | 0o2000 }, MessageType.Rlopen);
  for await (const chunk of process.stdin) {
    const data = chunk as Buffer;
    for (let at = 0; at < data.length; at += 8192) await c.write(fid, 0n, data.subarray(at, at + 8192));
  }
  await c.close();
} catch (e) {
  process.stderr.write(`ninep-append: ${(e as Error).message}\n`);
  process.exit(1);
}
