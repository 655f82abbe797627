/**
 * A persistent (immutable) map from strings to values: a hash array mapped trie (Bagwell's
 * HAMT, as in Clojure's PersistentHashMap), 32-way branching.
 *
 * The mount table keeps each directory's children in one of these so that `fork()` is O(1)
 * (share the root) and a mutation after a fork copies O(depth · log32 width) nodes instead
 * of a whole directory: a directory with 100k mount points costs about four small array
 * copies to change, not a copy of 100k entries. Lookups are O(log32 n) array steps.
 */

const BITS = 5;
const MASK = (1 << BITS) - 1;

interface Leaf<V> {
  readonly t: 0;
  readonly hash: number;
  readonly key: string;
  readonly value: V;
}

interface Branch<V> {
  readonly t: 1;
  readonly bitmap: number;
  readonly children: readonly HNode<V>[];
}

/** Keys whose 32-bit hashes are equal. */
interface Collision<V> {
  readonly t: 2;
  readonly hash: number;
  readonly leaves: readonly Leaf<V>[];
}

type HNode<V> = Leaf<V> | Branch<V> | Collision<V>;

/** FNV-1a over UTF-16 code units, then a murmur3 finalizer so low bits mix well. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

function fragment(hash: number, shift: number): number {
  return (hash >>> shift) & MASK;
}

function getNode<V>(node: HNode<V>, hash: number, key: string): V | undefined {
  let n: HNode<V> = node;
  let shift = 0;
  for (;;) {
    switch (n.t) {
      case 0:
        return n.key === key ? n.value : undefined;
      case 2: {
        if (n.hash !== hash) return undefined;
        for (const l of n.leaves) if (l.key === key) return l.value;
        return undefined;
      }
      case 1: {
        const bit = 1 << fragment(hash, shift);
        if ((n.bitmap & bit) === 0) return undefined;
        n = n.children[popcount(n.bitmap & (bit - 1))] as HNode<V>;
        shift += BITS;
      }
    }
  }
}

/** A branch holding two leaves (or collisions) whose hashes first differ at or below `shift`. */
function merge<V>(a: Leaf<V> | Collision<V>, b: Leaf<V>, shift: number): HNode<V> {
  if (a.hash === b.hash) {
    const leaves = a.t === 0 ? [a, b] : [...a.leaves, b];
    return { t: 2, hash: b.hash, leaves };
  }
  const fa = fragment(a.hash, shift);
  const fb = fragment(b.hash, shift);
  if (fa === fb) return { t: 1, bitmap: 1 << fa, children: [merge(a, b, shift + BITS)] };
  const children = fa < fb ? [a, b] : [b, a];
  return { t: 1, bitmap: (1 << fa) | (1 << fb), children };
}

/** Returns the new node and whether a key was added (for the size count). */
function setNode<V>(node: HNode<V>, leaf: Leaf<V>, shift: number): [HNode<V>, boolean] {
  switch (node.t) {
    case 0:
      if (node.key === leaf.key) return [leaf, false];
      return [merge(node, leaf, shift), true];
    case 2: {
      if (node.hash !== leaf.hash) return [merge(node, leaf, shift), true];
      const i = node.leaves.findIndex((l) => l.key === leaf.key);
      const leaves = node.leaves.slice();
      if (i >= 0) leaves[i] = leaf;
      else leaves.push(leaf);
      return [{ t: 2, hash: node.hash, leaves }, i < 0];
    }
    case 1: {
      const bit = 1 << fragment(leaf.hash, shift);
      const idx = popcount(node.bitmap & (bit - 1));
      const children = node.children.slice();
      if ((node.bitmap & bit) === 0) {
        children.splice(idx, 0, leaf);
        return [{ t: 1, bitmap: node.bitmap | bit, children }, true];
      }
      const [child, added] = setNode(node.children[idx] as HNode<V>, leaf, shift + BITS);
      children[idx] = child;
      return [{ t: 1, bitmap: node.bitmap, children }, added];
    }
  }
}

/** Returns the new node (undefined when it became empty), or `node` itself if `key` was absent. */
function deleteNode<V>(node: HNode<V>, hash: number, key: string, shift: number): HNode<V> | undefined {
  switch (node.t) {
    case 0:
      return node.key === key ? undefined : node;
    case 2: {
      if (node.hash !== hash) return node;
      const leaves = node.leaves.filter((l) => l.key !== key);
      if (leaves.length === node.leaves.length) return node;
      return leaves.length === 1 ? leaves[0] : { t: 2, hash, leaves };
    }
    case 1: {
      const bit = 1 << fragment(hash, shift);
      if ((node.bitmap & bit) === 0) return node;
      const idx = popcount(node.bitmap & (bit - 1));
      const old = node.children[idx] as HNode<V>;
      const child = deleteNode(old, hash, key, shift + BITS);
      if (child === old) return node;
      if (child === undefined) {
        const bitmap = node.bitmap & ~bit;
        if (bitmap === 0) return undefined;
        const children = node.children.slice();
        children.splice(idx, 1);
        // A branch left with one leaf collapses into it, keeping the trie canonical.
        if (children.length === 1 && children[0]?.t !== 1) return children[0];
        return { t: 1, bitmap, children };
      }
      if (node.children.length === 1 && child.t !== 1) return child;
      const children = node.children.slice();
      children[idx] = child;
      return { t: 1, bitmap: node.bitmap, children };
    }
  }
}

function* iterate<V>(node: HNode<V>): Generator<[string, V]> {
  switch (node.t) {
    case 0:
      yield [node.key, node.value];
      return;
    case 2:
      for (const l of node.leaves) yield [l.key, l.value];
      return;
    case 1:
      for (const c of node.children) yield* iterate(c);
  }
}

/**
 * An immutable string-keyed map. Every "mutating" method returns a new map and leaves
 * this one unchanged; unchanged parts are shared. Not thread-related: safe to share
 * between any number of owners because nothing is ever written after construction.
 */
export class PersistentMap<V> {
  private static readonly emptyInstance = new PersistentMap<never>(undefined, 0);

  private constructor(
    private readonly root: HNode<V> | undefined,
    /** The number of keys. */
    readonly size: number,
  ) {}

  /** The empty map. */
  static empty<V>(): PersistentMap<V> {
    return PersistentMap.emptyInstance;
  }

  get(key: string): V | undefined {
    return this.root === undefined ? undefined : getNode(this.root, hashString(key), key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** A map with `key` set to `value`. */
  set(key: string, value: V): PersistentMap<V> {
    const leaf: Leaf<V> = { t: 0, hash: hashString(key), key, value };
    if (this.root === undefined) return new PersistentMap(leaf, 1);
    const [root, added] = setNode(this.root, leaf, 0);
    return new PersistentMap(root, added ? this.size + 1 : this.size);
  }

  /** A map without `key`; this map itself when `key` is absent. */
  delete(key: string): PersistentMap<V> {
    if (this.root === undefined) return this;
    const root = deleteNode(this.root, hashString(key), key, 0);
    if (root === this.root) return this;
    return root === undefined ? PersistentMap.empty() : new PersistentMap(root, this.size - 1);
  }

  /** Entries in an unspecified (hash) order. */
  *entries(): Generator<[string, V]> {
    if (this.root !== undefined) yield* iterate(this.root);
  }
}
