// Test data for namespace tests: members whose "file trees" are plain maps, read
// synchronously. Not a stand-in for FileServer: the core never calls members, so the
// tests give it the contents a caller would have read.
import {
  FILE_SERVER_INTERFACE_ID,
  type Binding,
  type Member,
  type MountTable,
} from '../../src/namespace/index.js';

/** A member's file tree: directory path (relative, '' = root) -> names in it. */
export type Tree = Record<string, readonly string[]>;

export interface TreeCap {
  readonly tree: Tree;
}

/** A FileServer member labelled `label` whose contents are `tree`. */
export function fsMember(label: string, tree: Tree = {}): Member<TreeCap> {
  return { cap: { tree }, interfaceId: FILE_SERVER_INTERFACE_ID, label };
}

/** A leaf member (an interface that is neither FileServer nor Namespace). */
export function leafMember(label: string, interfaceId = 0x8a7b6c5d4e3f2a1bn): Member<TreeCap> {
  return { cap: { tree: {} }, interfaceId, label };
}

export interface Named {
  readonly name: string;
}

/** `read` for `listUnion`: the names in the member's directory, or undefined. */
export function readTree(b: Binding<TreeCap>, path: string): Named[] | undefined {
  return b.member.cap.tree[path]?.map((name) => ({ name }));
}

/** Whether the member has `path` (a directory, or a name in its parent directory). */
export function hasPath(b: Binding<TreeCap>, path: string): boolean {
  if (path === '' || b.member.cap.tree[path] !== undefined) return true;
  const i = path.lastIndexOf('/');
  const dir = i < 0 ? '' : path.slice(0, i);
  return b.member.cap.tree[dir]?.includes(path.slice(i + 1)) ?? false;
}

/**
 * Plan 9 union lookup of a whole path, as a Namespace server does it: the first binding
 * in which the first component of the rest exists takes the rest. Returns the label and
 * the member-relative path, or undefined when nothing has it.
 */
export function lookupFile(
  t: MountTable<TreeCap>,
  path: string,
): { label: string; path: string } | undefined {
  const r = t.resolve(path);
  if (r.rest === '') return { label: r.binding.member.label, path: r.binding.spec };
  const first = r.rest.split('/')[0] as string;
  for (const b of r.bindings) {
    const base = b.spec === '' ? first : `${b.spec}/${first}`;
    if (!hasPath(b, base)) continue;
    const full = b.spec === '' ? r.rest : `${b.spec}/${r.rest}`;
    return hasPath(b, full) ? { label: b.member.label, path: full } : undefined;
  }
  return undefined;
}

/** The names of the union listing at `path`. */
export function listNames(t: MountTable<TreeCap>, path: string): string[] {
  return t.listUnion(path, readTree).map((e) => e.name);
}
