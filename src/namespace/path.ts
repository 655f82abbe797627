/**
 * Namespace paths: lexical cleaning and validation (Plan 9 cleanname(2), namec's
 * validname). Pure functions; every failure is an `NsError('NS_ERR_INVALID_PATH')` whose
 * message names the problem.
 *
 * A path is absolute and '/'-separated. Cleaning drops empty components ('//') and '.',
 * and '..' removes the previous component; '..' at the root stays at the root, so no
 * path, however written, names anything above the root it is resolved against.
 */
import { NsError } from '../errors.js';

/** The longest name, in UTF-8 bytes (Plan 9 and Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255;

/** The most components a cleaned path may have. Bounds every walk over a path. */
export const MAX_PATH_DEPTH = 128;

/**
 * The longest path accepted before cleaning, in UTF-16 code units. Checked first, so a
 * hostile megabyte of '/./' costs nothing to refuse.
 */
export const MAX_PATH_LENGTH = 32 * 1024;

/** The number of bytes `s` takes in UTF-8 (lone surrogates are refused before this). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function invalid(message: string): NsError {
  return new NsError('NS_ERR_INVALID_PATH', message);
}

/** Shows a name in an error message without letting control characters through. */
function show(s: string): string {
  const cut = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  return JSON.stringify(cut);
}

/**
 * Checks one path component. Names are valid UTF-8, at most MAX_NAME_BYTES bytes, and
 * contain no '/', no NUL and no other control character (0x01-0x1f, 0x7f) — Plan 9's
 * validname refuses the same "frog" characters, and it keeps every name printable on
 * one line of namespace text.
 * @throws NsError NS_ERR_INVALID_PATH naming the problem.
 */
export function validateName(name: string): void {
  if (name.length === 0) throw invalid('empty name');
  if (name === '.' || name === '..') throw invalid(`${show(name)} is not a name`);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0) throw invalid(`NUL byte in name ${show(name)}`);
    if (c === 0x2f) throw invalid(`'/' in name ${show(name)}`);
    if (c < 0x20 || c === 0x7f)
      throw invalid(`control character 0x${c.toString(16).padStart(2, '0')} in name ${show(name)}`);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = name.charCodeAt(i + 1);
      if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff))
        throw invalid(`name ${show(name)} is not valid UTF-8 (lone surrogate)`);
      i++;
    }
  }
  const bytes = utf8Length(name);
  if (bytes > MAX_NAME_BYTES)
    throw invalid(`name ${show(name)} is ${bytes} bytes long; the limit is ${MAX_NAME_BYTES}`);
}

/**
 * Cleans `path` lexically and returns its components (`[]` for the root).
 * Every component, even one a later '..' removes, must be a valid name.
 * @param path an absolute path
 * @throws NsError NS_ERR_INVALID_PATH for an empty or relative path, an invalid name, a
 *   path longer than MAX_PATH_LENGTH or deeper than MAX_PATH_DEPTH once cleaned.
 */
export function parsePath(path: string): string[] {
  return parsePathCleaned(path).components;
}

/**
 * `parsePath`, also returning the cleaned path text (the input itself when it was clean
 * already, the common case, so callers need not join the components again).
 * @throws as `parsePath`.
 */
export function parsePathCleaned(path: string): { components: string[]; cleaned: string } {
  if (typeof path !== 'string') throw invalid('path is not a string');
  if (path.length === 0) throw invalid('empty path');
  if (path.length > MAX_PATH_LENGTH)
    throw invalid(`path is ${path.length} characters long; the limit is ${MAX_PATH_LENGTH}`);
  if (path.charCodeAt(0) !== 0x2f)
    throw invalid(`path ${show(path)} is not absolute (it must begin with '/')`);
  const components: string[] = [];
  const clean = scan(path, components);
  return {
    components,
    cleaned:
      clean && (path.length === 1 || path.charCodeAt(path.length - 1) !== 0x2f)
        ? path
        : formatPath(components),
  };
}

/**
 * Cleans a path inside a capability (a mount spec, or the part of a path below a mount
 * point): like `parsePath`, but relative; '' and '/' both mean the capability's root and
 * '..' never climbs above it.
 * @throws NsError NS_ERR_INVALID_PATH as `parsePath`.
 */
export function parseSpec(spec: string): string[] {
  if (typeof spec !== 'string') throw invalid('path is not a string');
  if (spec.length > MAX_PATH_LENGTH)
    throw invalid(`path is ${spec.length} characters long; the limit is ${MAX_PATH_LENGTH}`);
  const out: string[] = [];
  scan(spec, out);
  return out;
}

/**
 * Splits, validates and cleans in one pass over the characters (paths are resolved on
 * every call, so this is the hot loop of a lookup). Pushes the cleaned components onto
 * `out`; returns false when cleaning changed anything ('//', '.', '..').
 */
function scan(path: string, out: string[]): boolean {
  let clean = true;
  const n = path.length;
  let i = 0;
  while (i <= n) {
    const start = i;
    let bytes = 0;
    let odd = false;
    for (; i < n; i++) {
      const c = path.charCodeAt(i);
      if (c === 0x2f) break;
      if (c >= 0x20 && c < 0x7f) bytes++;
      else if (c >= 0x80 && c < 0x800) bytes += 2;
      else if (c >= 0x800 && (c < 0xd800 || c > 0xdfff)) bytes += 3;
      else odd = true; // control character or surrogate: checked below
    }
    const end = i;
    const len = end - start;
    i++;
    if (len === 0) {
      if (start !== 0 && start !== n) clean = false;
      continue;
    }
    if (len <= 2 && path.charCodeAt(start) === 0x2e) {
      if (len === 1) {
        clean = false;
        continue;
      }
      if (path.charCodeAt(start + 1) === 0x2e) {
        clean = false;
        out.pop();
        continue;
      }
    }
    const name = path.slice(start, end);
    if (odd || bytes > MAX_NAME_BYTES) validateName(name);
    out.push(name);
  }
  if (out.length > MAX_PATH_DEPTH)
    throw invalid(`path has ${out.length} components; the limit is ${MAX_PATH_DEPTH}`);
  return clean;
}

/** The absolute path of `components` ('/' for none). */
export function formatPath(components: readonly string[]): string {
  return '/' + components.join('/');
}

/** The cleaned form of an absolute path. @throws as `parsePath`. */
export function cleanPath(path: string): string {
  return formatPath(parsePath(path));
}
