/**
 * Namespace paths as the manifest writes them: absolute, '/'-separated, names of at most
 * 255 bytes without NUL (namespace.capnp). Paths are cleaned lexically like Plan 9's
 * cleanname(2): '//' and '.' vanish, '..' removes the name before it and stops at the
 * root. Deliberately local: the manifest imports nothing from src/namespace (STYLE.md
 * section 2), and these checks are the same rules, stated again.
 */

/** The longest name (one path component), in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

/** The result of a check: the cleaned value, or what is wrong with it. */
export type Checked =
  { readonly ok: true; readonly value: string } | { readonly ok: false; readonly message: string };

function cleanNames(text: string): { readonly names: string[] } | { readonly message: string } {
  if (text.includes('\0')) return { message: 'contains a NUL byte' };
  const names: string[] = [];
  for (const c of text.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      names.pop();
      continue;
    }
    if (Buffer.byteLength(c) > MAX_NAME_BYTES) {
      return { message: `name "${c.slice(0, 24)}..." is longer than ${MAX_NAME_BYTES} bytes` };
    }
    names.push(c);
  }
  return { names };
}

/** Checks and cleans an absolute namespace path: "/a//b/./c/.." -> "/a/b". */
export function checkNamespacePath(text: string): Checked {
  if (text === '')
    return { ok: false, message: 'empty path (expected an absolute path such as /tmp)' };
  if (!text.startsWith('/'))
    return { ok: false, message: `"${text}" is not an absolute path (it must start with /)` };
  const r = cleanNames(text);
  if ('message' in r) return { ok: false, message: r.message };
  return { ok: true, value: '/' + r.names.join('/') };
}

/**
 * Checks and cleans a path inside a capability (a mount spec, mount(2)'s aname): relative,
 * '' for the capability's root; a leading '/' is allowed and dropped.
 */
export function checkSpec(text: string): Checked {
  const r = cleanNames(text);
  if ('message' in r) return { ok: false, message: r.message };
  return { ok: true, value: r.names.join('/') };
}

/** Whether namespace path `inner` is `outer` or lies below it (both cleaned). */
export function isAtOrBelow(inner: string, outer: string): boolean {
  return outer === '/' || inner === outer || inner.startsWith(outer + '/');
}
