// MemFileServer (ramfs): the conformance suite, its limits, and random operation
// sequences checked against a simple model (fast-check).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { NsError } from '../../src/errors.js';
import { DMDIR } from '../../src/fileserver/file-server.js';
import type { File } from '../../src/fileserver/file-server.js';
import { MemFileServer } from '../../src/fileserver/mem-file-server.js';
import { RW, W, bytes, conformance, mkdir, mkfile, rejectsWith, walkTo } from './conformance.js';

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

test('ramfs: create refuses unknown mode bits', async () => {
  const fs = new MemFileServer();
  const { root } = await fs.attach('');
  await rejectsWith(root.create('x', 0x01000000 | 0o644, RW), 'NS_ERR_INVALID_ARGUMENT');
  await root.clunk();
});

// ---------------------------------------------------------------------------------------
// Random operation sequences against a model: a map from path to file contents or "dir".

type ModelNode = { dir: true } | { dir: false; data: number[] };
type Op =
  | { op: 'create'; path: string[]; dir: boolean }
  | { op: 'write'; path: string[]; offset: number; data: number[] }
  | { op: 'truncate'; path: string[]; length: number }
  | { op: 'rename'; path: string[]; to: string }
  | { op: 'remove'; path: string[] };

const nameArb = fc.constantFrom('a', 'b', 'c');
const pathArb = fc.array(nameArb, { minLength: 1, maxLength: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), path: pathArb, dir: fc.boolean() }),
  fc.record({
    op: fc.constant('write' as const),
    path: pathArb,
    offset: fc.nat(40),
    data: fc.array(fc.nat(255), { minLength: 1, maxLength: 12 }),
  }),
  fc.record({ op: fc.constant('truncate' as const), path: pathArb, length: fc.nat(30) }),
  fc.record({ op: fc.constant('rename' as const), path: pathArb, to: nameArb }),
  fc.record({ op: fc.constant('remove' as const), path: pathArb }),
);

class Model {
  readonly nodes = new Map<string, ModelNode>([['', { dir: true }]]);

  /** The error code walking to `path` meets, or the node. */
  walk(path: readonly string[]): ModelNode | string {
    let key = '';
    for (const name of path) {
      const cur = this.nodes.get(key);
      if (cur === undefined) return 'NS_ERR_NOT_FOUND';
      if (!cur.dir) return 'NS_ERR_NOT_DIR';
      key = key === '' ? name : `${key}/${name}`;
      if (!this.nodes.has(key)) return 'NS_ERR_NOT_FOUND';
    }
    return this.nodes.get(key) ?? 'NS_ERR_NOT_FOUND';
  }

  apply(o: Op): string | undefined {
    const key = o.path.join('/');
    if (o.op === 'create') {
      const parent = this.walk(o.path.slice(0, -1));
      if (typeof parent === 'string') return parent;
      if (!parent.dir) return 'NS_ERR_NOT_DIR';
      if (this.nodes.has(key)) return 'NS_ERR_EXISTS';
      this.nodes.set(key, o.dir ? { dir: true } : { dir: false, data: [] });
      return undefined;
    }
    const n = this.walk(o.path);
    if (typeof n === 'string') return n;
    switch (o.op) {
      case 'write': {
        if (n.dir) return 'NS_ERR_IS_DIR';
        while (n.data.length < o.offset) n.data.push(0);
        n.data.splice(o.offset, o.data.length, ...o.data);
        return undefined;
      }
      case 'truncate': {
        if (n.dir) return o.length === 0 ? undefined : 'NS_ERR_IS_DIR';
        n.data.length = Math.min(n.data.length, o.length);
        while (n.data.length < o.length) n.data.push(0);
        return undefined;
      }
      case 'rename': {
        const last = o.path[o.path.length - 1];
        if (o.to === last) return undefined;
        const toKey = [...o.path.slice(0, -1), o.to].join('/');
        if (this.nodes.has(toKey)) return 'NS_ERR_EXISTS';
        for (const [k, v] of [...this.nodes]) {
          if (k === key || k.startsWith(`${key}/`)) {
            this.nodes.delete(k);
            this.nodes.set(toKey + k.slice(key.length), v);
          }
        }
        return undefined;
      }
      case 'remove': {
        if ([...this.nodes.keys()].some((k) => k.startsWith(`${key}/`))) return 'NS_ERR_NOT_EMPTY';
        this.nodes.delete(key);
        return undefined;
      }
    }
  }
}

async function run(root: File, o: Op): Promise<string | undefined> {
  const target = o.op === 'create' ? o.path.slice(0, -1) : o.path;
  const w = await root.walk(target);
  if (w.file === undefined) return w.error.code;
  const f = w.file;
  try {
    switch (o.op) {
      case 'create': {
        const c = await f.create(o.path[o.path.length - 1] ?? '', o.dir ? DMDIR | 0o755 : 0o644, {
          access: 'read',
        });
        await c.file.clunk();
        break;
      }
      case 'write':
        await f.open(W);
        await f.write(BigInt(o.offset), Uint8Array.from(o.data));
        break;
      case 'truncate':
        await f.wstat({ length: BigInt(o.length) });
        break;
      case 'rename':
        await f.wstat({ name: o.to });
        break;
      case 'remove':
        await f.remove();
        break;
    }
    return undefined;
  } catch (err) {
    if (err instanceof NsError) return err.code;
    throw err;
  } finally {
    await f.clunk();
  }
}

/** The tree as a map from path to contents, read through the FileServer; checks qid.path uniqueness. */
async function snapshot(
  dir: File,
  prefix: string,
  out: Map<string, ModelNode>,
  paths: Set<bigint>,
): Promise<void> {
  const d = await walkTo(dir);
  await d.open({ access: 'read' });
  const entries = await d.readDir(0, 1000);
  await d.clunk();
  for (const st of entries) {
    assert.ok(!paths.has(st.qid.path), 'qid.path unique');
    paths.add(st.qid.path);
    const key = prefix === '' ? st.name : `${prefix}/${st.name}`;
    const child = await walkTo(dir, st.name);
    if ((st.mode & DMDIR) !== 0) {
      out.set(key, { dir: true });
      await snapshot(child, key, out, paths);
    } else {
      await child.open({ access: 'read' });
      const data = await child.read(0n, 1000);
      assert.equal(BigInt(data.length), st.length);
      out.set(key, { dir: false, data: [...data] });
    }
    await child.clunk();
  }
}

test('ramfs: random operation sequences agree with a model (results, tree, contents, unique qids)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), async (ops) => {
      const fs = new MemFileServer();
      const { root } = await fs.attach('');
      const model = new Model();
      for (const o of ops) {
        const before = model.walk(o.path);
        const got = await run(root, o);
        const want = model.apply(o);
        assert.equal(got, want, `${JSON.stringify(o)} (target was ${JSON.stringify(before)})`);
      }
      const tree = new Map<string, ModelNode>([['', { dir: true }]]);
      await snapshot(root, '', tree, new Set());
      assert.deepEqual(
        new Map([...tree].sort(([a], [b]) => a.localeCompare(b))),
        new Map([...model.nodes].sort(([a], [b]) => a.localeCompare(b))),
      );
      assert.equal(fs.fileCount, model.nodes.size);
      await root.clunk();
    }),
    { numRuns: 200 },
  );
});
