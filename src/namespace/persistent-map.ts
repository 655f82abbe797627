/**
 * A persistent (immutable) map from strings to values: a hash array mapped trie (Bagwell's
 * HAMT, as in Clojure's PersistentHashMap), 32-way branching, with small maps kept as a
 * plain array.
 *
 * The mount table keeps each directory's children in one of these so that `fork()` is O(1)
 * (share the root) and a mutation after a fork copies O(depth · log32 width) nodes instead
 * of a whole directory: a directory with 100k mount points costs about four small array
 * copies to change, not a copy of 100k entries.
 *
 * Lookups are the hot path of every resolve, and must not slow down as directories grow.
 * Maps of up to SMALL entries (almost every directory) are a key array searched with
 * `===`. Larger ones are the trie plus an index: a native `Map` (the `base`) holding the
 * entries of some earlier version, never changed once built, and an `overlay` holding
 * what changed since — so a lookup is one small overlay probe and one Map lookup,
 * whatever the size. A change shares the base and adds to the overlay; when the overlay
 * outgrows size/REBUILD_FACTOR, the next version starts without an index and builds one
 * of its own after that many lookups through the trie; a version read that often through
 * an overlay builds its own too, so read-mostly versions end at one Map lookup per get.
 * Every rebuild costs O(size) after Ω(size/REBUILD_FACTOR) operations: amortized O(1). Forks that diverge keep sharing the
 * base they had, so neither side slows the other down. Only `base`, `overlay` and
 * `misses` are ever written after construction, and only as a cache: what a version
 * contains never changes.
 */

const BITS = 5;
const MASK = (1 << BITS) - 1;

/** Up to this many entries, a map is a plain array of keys and one of values. */
const SMALL = 8;

/**
 * A trie version without an index builds one after `size / REBUILD_FACTOR + 16` lookups
 * through the trie, and an overlay may hold up to that many changes.
 */
const REBUILD_FACTOR = 8;

/** An overlay's mark for a key deleted since the base was built. */
const DELETED: unique symbol = Symbol('deleted');
type Slot<V> = V | typeof DELETED;

const LEAF = 0;
const BRANCH = 1;
const COLLISION = 2;

/**
 * One trie node. A leaf holds `hash`, `key`, `value`; a branch holds `bitmap` and its
 * `children`; a collision holds `hash` and, in `children`, the leaves of keys whose 32-bit
 * hashes are equal.
 */
class HNode<V> {
  constructor(
    readonly t: number,
    readonly hash: number,
    readonly key: string,
    readonly value: V | undefined,
    readonly bitmap: number,
    readonly children: readonly HNode<V>[],
  ) {}
}

const NO_CHILDREN: readonly never[] = [];

function leaf<V>(hash: number, key: string, value: V): HNode<V> {
  return new HNode(LEAF, hash, key, value, 0, NO_CHILDREN);
}

function branch<V>(bitmap: number, children: readonly HNode<V>[]): HNode<V> {
  return new HNode<V>(BRANCH, 0, '', undefined, bitmap, children);
}

function collision<V>(hash: number, leaves: readonly HNode<V>[]): HNode<V> {
  return new HNode<V>(COLLISION, hash, '', undefined, 0, leaves);
}

/** `node` with every value replaced by `fn(value)`: the same shape, no key hashed again. */
function mapNode<V, W>(node: HNode<V>, fn: (value: V) => W): HNode<W> {
  if (node.t === LEAF) return leaf(node.hash, node.key, fn(node.value as V));
  const children = node.children.map((c) => mapNode(c, fn));
  return node.t === BRANCH ? branch(node.bitmap, children) : collision(node.hash, children);
}

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

function getNode<V>(root: HNode<V>, hash: number, key: string): V | undefined {
  let n = root;
  let shift = 0;
  for (;;) {
    if (n.t === BRANCH) {
      const bit = 1 << fragment(hash, shift);
      if ((n.bitmap & bit) === 0) return undefined;
      n = n.children[popcount(n.bitmap & (bit - 1))] as HNode<V>;
      shift += BITS;
    } else if (n.t === LEAF) {
      return n.key === key ? n.value : undefined;
    } else {
      if (n.hash !== hash) return undefined;
      for (const l of n.children) if (l.key === key) return l.value;
      return undefined;
    }
  }
}

/** A branch holding `a` (a leaf or collision) and the leaf `b`, split from `shift` on. */
function merge<V>(a: HNode<V>, b: HNode<V>, shift: number): HNode<V> {
  if (a.hash === b.hash) return collision(b.hash, a.t === LEAF ? [a, b] : [...a.children, b]);
  // Distinct 32-bit hashes differ in some fragment at shift <= 30, so this recursion ends.
  const fa = fragment(a.hash, shift);
  const fb = fragment(b.hash, shift);
  if (fa === fb) return branch(1 << fa, [merge(a, b, shift + BITS)]);
  return branch((1 << fa) | (1 << fb), fa < fb ? [a, b] : [b, a]);
}

/** Returns the new node and whether a key was added (for the size count). */
function setNode<V>(node: HNode<V>, l: HNode<V>, shift: number): [HNode<V>, boolean] {
  if (node.t === LEAF) {
    if (node.key === l.key) return [l, false];
    return [merge(node, l, shift), true];
  }
  if (node.t === COLLISION) {
    if (node.hash !== l.hash) return [merge(node, l, shift), true];
    const i = node.children.findIndex((c) => c.key === l.key);
    const leaves = node.children.slice();
    if (i >= 0) leaves[i] = l;
    else leaves.push(l);
    return [collision(node.hash, leaves), i < 0];
  }
  const bit = 1 << fragment(l.hash, shift);
  const idx = popcount(node.bitmap & (bit - 1));
  const children = node.children.slice();
  if ((node.bitmap & bit) === 0) {
    children.splice(idx, 0, l);
    return [branch(node.bitmap | bit, children), true];
  }
  const [child, added] = setNode(node.children[idx] as HNode<V>, l, shift + BITS);
  children[idx] = child;
  return [branch(node.bitmap, children), added];
}

/** Returns the new node (undefined when it became empty), or `node` itself if `key` was absent. */
function deleteNode<V>(
  node: HNode<V>,
  hash: number,
  key: string,
  shift: number,
): HNode<V> | undefined {
  if (node.t === LEAF) return node.key === key ? undefined : node;
  if (node.t === COLLISION) {
    if (node.hash !== hash) return node;
    const leaves = node.children.filter((l) => l.key !== key);
    if (leaves.length === node.children.length) return node;
    return leaves.length === 1 ? leaves[0] : collision(hash, leaves);
  }
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
    // A branch left with one leaf or collision collapses into it, keeping the trie canonical.
    if (children.length === 1 && children[0]?.t !== BRANCH) return children[0];
    return branch(bitmap, children);
  }
  if (node.children.length === 1 && child.t !== BRANCH) return child;
  const children = node.children.slice();
  children[idx] = child;
  return branch(node.bitmap, children);
}

function setInto<V>(value: V, key: string, into: Map<string, V>): void {
  into.set(key, value);
}

function visit<V, A>(node: HNode<V>, fn: (value: V, key: string, arg: A) => void, arg: A): void {
  if (node.t === LEAF) {
    fn(node.value as V, node.key, arg);
    return;
  }
  const children = node.children;
  for (let i = 0; i < children.length; i++) visit(children[i] as HNode<V>, fn, arg);
}

function* iterate<V>(node: HNode<V>): Generator<[string, V]> {
  if (node.t === LEAF) yield [node.key, node.value as V];
  else for (const c of node.children) yield* iterate(c);
}

/**
 * An immutable string-keyed map. Every "mutating" method returns a new map and leaves
 * this one unchanged; unchanged parts are shared. Safe to share between any number of
 * owners because nothing is ever written after construction.
 */
export class PersistentMap<V> {
  private static readonly emptyInstance = new PersistentMap<never>([], [], undefined, 0);

  /** Large form: a native Map of an earlier version's entries; never changed once built. */
  private base: Map<string, V> | undefined = undefined;
  /** Large form: the changes since `base` (DELETED for a removed key). */
  private overlay: PersistentMap<Slot<V>> | undefined = undefined;
  /** Large form: lookups that did not take the single-Map path so far. */
  private misses = 0;

  private constructor(
    /** Small form (root undefined): the keys, and the values at the same indexes. */
    private readonly keys: readonly string[],
    private readonly values: readonly V[],
    /** Large form: the trie. */
    private readonly root: HNode<V> | undefined,
    /** The number of keys. */
    readonly size: number,
  ) {}

  /** `next` (a successor with `key` changed to `slot`) sharing this version's base. */
  private derive(next: PersistentMap<V>, key: string, slot: Slot<V>): PersistentMap<V> {
    if (this.base !== undefined && next.root !== undefined) {
      const overlay = (this.overlay ?? PersistentMap.empty<Slot<V>>()).set(key, slot);
      if (overlay.size <= next.size / REBUILD_FACTOR + 16) {
        next.base = this.base;
        next.overlay = overlay;
      }
    }
    return next;
  }

  /** The empty map. */
  static empty<V>(): PersistentMap<V> {
    return PersistentMap.emptyInstance;
  }

  get(key: string): V | undefined {
    if (this.root === undefined) {
      const keys = this.keys;
      for (let i = 0; i < keys.length; i++) if (keys[i] === key) return this.values[i];
      return undefined;
    }
    const base = this.base;
    const overlay = this.overlay;
    if (base !== undefined && overlay === undefined) return base.get(key);
    // Without an index, or with one behind an overlay: a version read often enough gets
    // an index of its own, so read-mostly versions end up at one Map lookup per get.
    if (++this.misses >= this.size / REBUILD_FACTOR + 16) {
      const built = new Map<string, V>();
      visit(this.root, setInto, built);
      this.base = built;
      this.overlay = undefined;
      return built.get(key);
    }
    if (base !== undefined && overlay !== undefined) {
      const o = overlay.get(key);
      if (o !== undefined) return o === DELETED ? undefined : o;
      return base.get(key);
    }
    return getNode(this.root, hashString(key), key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** A map with `key` set to `value`. */
  set(key: string, value: V): PersistentMap<V> {
    if (this.root === undefined) {
      const i = this.keys.indexOf(key);
      if (i >= 0) {
        const values = this.values.slice();
        values[i] = value;
        return new PersistentMap(this.keys, values, undefined, this.size);
      }
      if (this.keys.length < SMALL)
        return new PersistentMap(
          [...this.keys, key],
          [...this.values, value],
          undefined,
          this.size + 1,
        );
      // Grow into a trie.
      let root: HNode<V> | undefined;
      for (let j = 0; j <= this.keys.length; j++) {
        const k = j < this.keys.length ? (this.keys[j] as string) : key;
        const l = leaf(hashString(k), k, j < this.keys.length ? (this.values[j] as V) : value);
        root = root === undefined ? l : setNode(root, l, 0)[0];
      }
      return new PersistentMap<V>([], [], root, this.size + 1);
    }
    const [root, added] = setNode(this.root, leaf(hashString(key), key, value), 0);
    return this.derive(
      new PersistentMap<V>([], [], root, added ? this.size + 1 : this.size),
      key,
      value,
    );
  }

  /** A map without `key`; this map itself when `key` is absent. */
  delete(key: string): PersistentMap<V> {
    if (this.root === undefined) {
      const i = this.keys.indexOf(key);
      if (i < 0) return this;
      if (this.size === 1) return PersistentMap.empty();
      const keys = this.keys.slice();
      const values = this.values.slice();
      keys.splice(i, 1);
      values.splice(i, 1);
      return new PersistentMap(keys, values, undefined, this.size - 1);
    }
    const root = deleteNode(this.root, hashString(key), key, 0);
    if (root === this.root) return this;
    if (this.size - 1 <= SMALL / 2) {
      // Shrink back to the small form (with hysteresis, so a map at the boundary does not
      // rebuild on every set/delete).
      const keys: string[] = [];
      const values: V[] = [];
      if (root !== undefined) {
        for (const [k, v] of iterate(root)) {
          keys.push(k);
          values.push(v);
        }
      }
      return keys.length === 0
        ? PersistentMap.empty()
        : new PersistentMap(keys, values, undefined, keys.length);
    }
    return this.derive(new PersistentMap<V>([], [], root, this.size - 1), key, DELETED);
  }

  /**
   * A map with the same keys, each value replaced by `fn(value)`: O(size), built in one
   * pass (the keys and the trie's shape are reused, nothing is hashed again). `fn` is
   * called once per entry, in an unspecified order.
   */
  mapValues<W>(fn: (value: V) => W): PersistentMap<W> {
    if (this.size === 0) return PersistentMap.empty();
    if (this.root === undefined) return new PersistentMap<W>(this.keys, this.values.map(fn), undefined, this.size);
    return new PersistentMap<W>([], [], mapNode(this.root, fn), this.size);
  }

  /**
   * Calls `fn(value, key, arg)` for every entry, in an unspecified order: what `entries()`
   * gives, without a generator and an array per entry, and with `arg` passed through so
   * that a recursive walk needs no closure per level (walks that run for every
   * connection: mount-table.ts's nodeBindings).
   */
  forEach<A = undefined>(fn: (value: V, key: string, arg: A) => void, arg?: A): void {
    if (this.root !== undefined) {
      visit(this.root, fn, arg as A);
      return;
    }
    for (let i = 0; i < this.keys.length; i++) fn(this.values[i] as V, this.keys[i] as string, arg as A);
  }

  /** Entries in an unspecified order. */
  *entries(): Generator<[string, V]> {
    if (this.root !== undefined) {
      yield* iterate(this.root);
      return;
    }
    for (let i = 0; i < this.keys.length; i++) yield [this.keys[i] as string, this.values[i] as V];
  }
}
