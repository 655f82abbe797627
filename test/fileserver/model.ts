// A model of a file tree and random operation sequences for it (fast-check): the same
// property runs against ramfs and dirfs.
import assert from 'node:assert/strict';

import fc from 'fast-check';

import { NsError } from '../../src/errors.js';
import { DMDIR } from '../../src/fileserver/file-server.js';
import type { File, FileServer } from '../../src/fileserver/file-server.js';
import { W, walkTo } from './conformance.js';

// ---------------------------------------------------------------------------------------
// Random operation sequences against a model: a map from path to file contents or "dir".

export type ModelNode = { dir: true } | { dir: false; data: number[] };
export type Op =
  | { op: 'create'; path: string[]; dir: boolean }
  | { op: 'write'; path: string[]; offset: number; data: number[] }
  | { op: 'truncate'; path: string[]; length: number }
  | { op: 'rename'; path: string[]; to: string }
  | { op: 'remove'; path: string[] };

const nameArb = fc.constantFrom('a', 'b', 'c');
const pathArb = fc.array(nameArb, { minLength: 1, maxLength: 3 });
export const opArb: fc.Arbitrary<Op> = fc.oneof(
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

export class Model {
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

export async function run(root: File, o: Op): Promise<string | undefined> {
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
export async function snapshot(
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

/**
 * The property: every operation's result (success or NsError code) agrees with the model,
 * and afterwards the tree, every file's contents and qid.path uniqueness do too.
 */
export async function checkAgainstModel(
  fs: FileServer & { readonly liveFiles: number },
  ops: Op[],
): Promise<number> {
  const { root } = await fs.attach('');
  const model = new Model();
  for (const o of ops) {
    const got = await run(root, o);
    const want = model.apply(o);
    assert.equal(got, want, JSON.stringify(o));
  }
  const tree = new Map<string, ModelNode>([['', { dir: true }]]);
  await snapshot(root, '', tree, new Set());
  const sorted = (m: Map<string, ModelNode>): Map<string, ModelNode> =>
    new Map([...m].sort(([a], [b]) => a.localeCompare(b)));
  assert.deepEqual(sorted(tree), sorted(model.nodes));
  await root.clunk();
  assert.equal(fs.liveFiles, 0);
  return model.nodes.size;
}
