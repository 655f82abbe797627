/**
 * What changed between two manifests, for a reload (SIGHUP, `capns reload`) applied
 * differentially: a profile whose steps and capabilities did not change keeps its
 * namespace and its connections; a credential taken away is revoked live. Where things
 * were written (`loc`) never counts as a change.
 */
import { formatAddress } from './address.js';
import type { Capability, Export, Listener, Manifest, Profile } from './types.js';

/** Names added, removed, and present in both but different. */
export interface NameChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

/** Credentials a profile had before a reload and no longer has. */
export interface RevokedCredentials {
  readonly profile: string;
  readonly tokens: readonly string[];
  readonly tlsSubjects: readonly string[];
  /** It was the loopback profile and is not any more. */
  readonly loopback: boolean;
}

/** The difference between two manifests. */
export interface ManifestDiff {
  /** Capability instances by name; `changed`: same name, other type or options. */
  readonly capabilities: NameChanges;
  /**
   * Profiles by name. `changed`: its namespace must be rebuilt, because its steps
   * differ or a capability it mounts (before or after) was changed or removed.
   * Profiles in none of the lists keep their namespaces untouched (and so do the
   * exports of them); a changed profile's exports serve views of the new namespace.
   */
  readonly profiles: NameChanges;
  /** Per profile still present (or removed), the credentials that no longer get it. */
  readonly revoked: readonly RevokedCredentials[];
  /** Listeners to close and to open (a changed listener is both). */
  readonly listeners: {
    readonly added: readonly Listener[];
    readonly removed: readonly Listener[];
  };
  /** Exports to close and to open (a changed export is both). */
  readonly exports: { readonly added: readonly Export[]; readonly removed: readonly Export[] };
  readonly limitsChanged: boolean;
  /** Nothing at all differs. */
  readonly unchanged: boolean;
}

/** A canonical text of a value, without `loc`s: equal texts, equal meaning (reload keys use it too). */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (key, x: unknown) =>
    key === 'loc' ? undefined : typeof x === 'bigint' ? `0x${x.toString(16)}` : x,
  );
}

function byName<T extends { readonly name: string }>(list: readonly T[]): Map<string, T> {
  return new Map(list.map((x) => [x.name, x]));
}

function names<T>(
  before: Map<string, T>,
  after: Map<string, T>,
  changed: (a: T, b: T) => boolean,
): NameChanges {
  return {
    added: [...after.keys()].filter((n) => !before.has(n)),
    removed: [...before.keys()].filter((n) => !after.has(n)),
    changed: [...before.keys()].filter(
      (n) => after.has(n) && changed(before.get(n) as T, after.get(n) as T),
    ),
  };
}

function mounts(p: Profile): Set<string> {
  // A service's offer (`kv/store`) changes with the service (`kv`).
  return new Set(p.namespace.flatMap((s) => (s.op === 'mount' ? [s.capability.split('/')[0]!] : [])));
}

function listenerKey(l: Listener): string {
  return canonical({ ...l, address: formatAddress(l.address) });
}

function exportKey(e: Export): string {
  return canonical({ ...e, listen: formatAddress(e.listen) });
}

/** Items of `a` whose key is not among `b`'s. */
function minus<T>(a: readonly T[], b: readonly T[], key: (x: T) => string): T[] {
  const keys = new Set(b.map(key));
  return a.filter((x) => !keys.has(key(x)));
}

/** What changed from `before` to `after`. Pure. */
export function diffManifests(before: Manifest, after: Manifest): ManifestDiff {
  const capsBefore = byName(before.capabilities);
  const capsAfter = byName(after.capabilities);
  // A hubfs shows the hub object its hub capability made: a new hub means a new hubfs.
  const hubChanged = (c: Capability): boolean =>
    c.type === 'hubfs' && canonical(capsBefore.get(c.hub)) !== canonical(capsAfter.get(c.hub));
  const capabilities = names(capsBefore, capsAfter, (a, b) => canonical(a) !== canonical(b) || hubChanged(b));
  const touched = new Set([...capabilities.changed, ...capabilities.removed]);

  const profsBefore = byName(before.profiles);
  const profsAfter = byName(after.profiles);
  const profiles = names(profsBefore, profsAfter, (a, b) => {
    if (canonical(a.namespace) !== canonical(b.namespace)) return true;
    return [...mounts(a), ...mounts(b)].some((c) => touched.has(c));
  });

  const revoked: RevokedCredentials[] = [];
  for (const [name, a] of profsBefore) {
    const b = profsAfter.get(name);
    const tokens = a.auth.tokens.filter((t) => b?.auth.tokens.includes(t) !== true);
    const tlsSubjects = a.auth.tlsSubjects.filter((s) => b?.auth.tlsSubjects.includes(s) !== true);
    const loopback = a.auth.loopback && b?.auth.loopback !== true;
    if (tokens.length > 0 || tlsSubjects.length > 0 || loopback)
      revoked.push({ profile: name, tokens, tlsSubjects, loopback });
  }

  const listeners = {
    added: minus(after.listeners, before.listeners, listenerKey),
    removed: minus(before.listeners, after.listeners, listenerKey),
  };
  const exports = {
    added: minus(after.exports, before.exports, exportKey),
    removed: minus(before.exports, after.exports, exportKey),
  };
  const limitsChanged = canonical(before.limits) !== canonical(after.limits);
  const unchanged =
    [capabilities, profiles].every(
      (c) => c.added.length + c.removed.length + c.changed.length === 0,
    ) &&
    revoked.length === 0 &&
    [...profsAfter].every(([n, p]) => canonical(profsBefore.get(n)?.auth) === canonical(p.auth)) &&
    listeners.added.length +
      listeners.removed.length +
      exports.added.length +
      exports.removed.length ===
      0 &&
    !limitsChanged;
  return { capabilities, profiles, revoked, listeners, exports, limitsChanged, unchanged };
}
