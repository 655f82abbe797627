/**
 * Real 9P2000.L clients written by others against our server: Debian diod's client tools
 * (diodls, diodcat, diodload; package `diod`, installed by .ci/run). They speak 9P2000.L
 * through diod's libnpclient, take the server as `-s HOST:PORT` and the tree as `-a
 * ANAME`; diodload always attaches "ctl" and reads "zero" / writes "null" in it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { File } from '../../../src/fileserver/file-server.js';
import { DMDIR } from '../../../src/fileserver/9p/constants.js';
import { startServer, type Harness } from './harness.js';

const run = promisify(execFile);
const TOOLS = ['/usr/sbin/diodls', '/usr/sbin/diodcat', '/usr/sbin/diodload'];
const missing = TOOLS.filter((p) => !existsSync(p));
const skip =
  missing.length > 0
    ? `diod client tools not installed (${missing.join(', ')}); .ci/run installs package diod`
    : false;

async function put(dir: File, name: string, data: Uint8Array): Promise<void> {
  const { file } = await dir.create(name, 0o644, { access: 'write' });
  for (let at = 0; at < data.length; at += 1 << 20)
    await file.write(BigInt(at), data.subarray(at, at + (1 << 20)));
  await file.clunk();
}

async function mkdir(dir: File, name: string): Promise<File> {
  const { file } = await dir.create(name, (DMDIR | 0o755) >>> 0, { access: 'read' });
  await file.clunk();
  const w = await dir.walk([name]);
  return w.file!;
}

/** A tree: hello.txt, big.bin (3 MiB random), sub/inner.txt, ctl/zero (1 MiB), ctl/null. */
async function populate(h: Harness): Promise<{ big: Buffer }> {
  const { root } = await h.mem.attach('');
  const big = randomBytes(3 * 1024 * 1024);
  await put(root, 'hello.txt', Buffer.from('hello, diod\n'));
  await put(root, 'big.bin', big);
  const sub = await mkdir(root, 'sub');
  await put(sub, 'inner.txt', Buffer.from('inside\n'));
  await sub.clunk();
  const ctl = await mkdir(root, 'ctl');
  await put(ctl, 'zero', new Uint8Array(1 << 20));
  await put(ctl, 'null', new Uint8Array(0));
  await ctl.clunk();
  await root.clunk();
  return { big };
}

function server(h: Harness): string {
  assert.equal(h.address.kind, 'tcp');
  return `127.0.0.1:${h.address.kind === 'tcp' ? h.address.port : 0}`;
}

test('diodls lists the root and a subdirectory, with -l stat information', { skip }, async (t) => {
  const h = await startServer(t);
  await populate(h);
  const ls = await run('/usr/sbin/diodls', ['-s', server(h), '-a', '/', '-t', '10']);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['big.bin', 'ctl', 'hello.txt', 'sub']);
  const sub = await run('/usr/sbin/diodls', ['-s', server(h), '-a', '/', '-t', '10', 'sub']);
  assert.deepEqual(sub.stdout.trim().split('\n'), ['inner.txt']);
  // -l walks from the directory fid it is reading (a 9P2000.L liberty) and Tgetattrs each entry.
  const long = await run('/usr/sbin/diodls', ['-l', '-s', server(h), '-a', '/', '-t', '10']);
  const bigLine = long.stdout.split('\n').find((l) => l.endsWith(' big.bin'));
  assert.ok(bigLine !== undefined && bigLine.startsWith('-rw-r--r--'), long.stdout);
  assert.match(bigLine, / 3145728 /);
  assert.match(long.stdout, /^drwxr-xr-x.* sub$/m);
  await h.settled();
  assert.equal(h.server.fidCount, 0, 'diodls clunked every fid');
});

test(
  'diodcat reads files whole, in the default tree and in a subtree chosen by aname',
  { skip },
  async (t) => {
    const h = await startServer(t);
    const { big } = await populate(h);
    const hello = await run('/usr/sbin/diodcat', [
      '-s',
      server(h),
      '-a',
      '/',
      '-t',
      '10',
      'hello.txt',
    ]);
    assert.equal(hello.stdout, 'hello, diod\n');
    for (const msize of ['8192', '65536']) {
      const out = await run(
        '/usr/sbin/diodcat',
        ['-s', server(h), '-a', '/', '-m', msize, '-t', '20', 'big.bin'],
        {
          encoding: 'buffer',
          maxBuffer: 16 << 20,
        },
      );
      assert.equal(
        createHash('sha256').update(out.stdout).digest('hex'),
        createHash('sha256').update(big).digest('hex'),
        `msize ${msize}`,
      );
    }
    const inner = await run('/usr/sbin/diodcat', [
      '-s',
      server(h),
      '-a',
      'sub',
      '-t',
      '10',
      'inner.txt',
    ]);
    assert.equal(inner.stdout, 'inside\n');
  },
);

test('diodcat of a missing file fails with ENOENT from Rlerror', { skip }, async (t) => {
  const h = await startServer(t);
  await populate(h);
  await assert.rejects(
    run('/usr/sbin/diodcat', ['-s', server(h), '-a', '/', '-t', '10', 'nope.txt']),
    (err: { stderr: string; code: number }) => {
      assert.match(err.stderr, /No such file or directory/);
      return err.code !== 0;
    },
  );
  await assert.rejects(
    run('/usr/sbin/diodls', ['-s', server(h), '-a', 'no-such-tree', '-t', '10']),
    (err: { stderr: string }) => {
      assert.match(
        err.stderr,
        /error attaching to aname='no-such-tree': No such file or directory/,
      );
      return true;
    },
  );
});

test(
  'diodload: 4 clients reading ctl/zero and writing ctl/null, then Tgetattr load',
  { skip },
  async (t) => {
    const h = await startServer(t);
    await populate(h);
    // diodload prints its figures on stderr and exits 0 even when every thread failed, so
    // the test reads the figures: at least one operation must have succeeded, and no thread
    // may report an error.
    const io = await run('/usr/sbin/diodload', [
      '-s',
      server(h),
      '-n',
      '4',
      '-r',
      '1',
      '-m',
      '65536',
    ]);
    const m = /(\d+) ops\/s, (\d+) rMB\/s, (\d+) wMB\/s/.exec(io.stderr);
    assert.ok(m !== null, io.stderr);
    assert.ok(Number(m[1]) > 0 && Number(m[2]) > 0 && Number(m[3]) > 0, io.stderr);
    assert.doesNotMatch(io.stderr, /error|open zero|read zero|write null/);
    const attr = await run('/usr/sbin/diodload', ['-s', server(h), '-n', '4', '-r', '1', '-g']);
    const g = /(\d+) ops\/s/.exec(attr.stderr);
    assert.ok(g !== null && Number(g[1]) > 0, attr.stderr);
    assert.doesNotMatch(attr.stderr, /error|walk null/);
    await h.settled();
    assert.equal(h.server.connections, 0);
  },
);
