/**
 * Who a listener lets in, as one rule for every protocol (rpc, 9p, http; docs/manifest.md,
 * "listeners"):
 *
 * - a listener without `profile` hands each connection the profile its credentials name
 *   (token, certificate subject), or the `loopback` profile to a connection presenting
 *   none on a loopback address;
 * - a listener with `profile: P` serves P and nothing else, at an address of its own (the
 *   ANTS blog's namespaces with their own network addresses). Only P's credentials are
 *   accepted there (another profile's token is refused as unknown), and P's `loopback`
 *   applies only if the listener's address is loopback, exactly as elsewhere. A P without
 *   any auth is given to whoever reaches the address (the doctor warns off loopback).
 *
 * Pure: read at each connection (rpc, 9P attach) so a reload's profiles apply to new
 * connections.
 */
import { isLoopback, type Address } from '../manifest/address.js';
import type { GateProfile } from '../captable/gate.js';

/** What a listener's Gate (or HTTP authentication, or 9P attach) chooses among. */
export interface ListenerAccess {
  /** The profiles credentials may select; empty when the listener's profile is gone. */
  readonly profiles: readonly GateProfile[];
  /** Whether a connection presenting no credentials may get a `loopback` profile here. */
  readonly peerIsLoopback: boolean;
  /** The listener serves its profile to anyone who reaches it (the profile has no auth). */
  readonly anonymous: boolean;
}

/** Whether the profile names any way to prove one holds it. */
export function hasAuth(p: GateProfile): boolean {
  return p.tokens.length > 0 || (p.tlsSubjects?.length ?? 0) > 0 || p.loopback;
}

/**
 * The access rule of listener `l` over the profiles there are now (module comment).
 * A listener naming a profile that does not exist serves nobody.
 */
export function listenerAccess(
  l: { readonly address: Address; readonly profile?: string | undefined },
  profiles: ReadonlyMap<string, GateProfile>,
): ListenerAccess {
  const loopback = isLoopback(l.address);
  if (l.profile === undefined) return { profiles: [...profiles.values()], peerIsLoopback: loopback, anonymous: false };
  const p = profiles.get(l.profile);
  if (p === undefined) return { profiles: [], peerIsLoopback: false, anonymous: false };
  if (!hasAuth(p)) return { profiles: [{ ...p, loopback: true }], peerIsLoopback: true, anonymous: true };
  return { profiles: [p], peerIsLoopback: loopback, anonymous: false };
}

/**
 * What a 9P listener asks of a client before Tattach, for the profile `p` it serves as
 * `access` gives it (`access.profiles`' member of that name): undefined (no
 * authentication) when it is given without credentials here — it has no auth, or its
 * `loopback` applies on this loopback address; otherwise its tokens, written to an afid
 * after Tauth (9P carries no certificates, so a TLS-only profile lists none and nobody
 * attaches; nor does anybody once the profile is gone). The Linux kernel never sends
 * Tauth: mount such a profile from a loopback listener with `auth.loopback`, or from a
 * listener whose profile has no auth.
 */
export function ninepTokens(p: GateProfile | undefined, access: ListenerAccess): readonly string[] | undefined {
  if (p === undefined) return [];
  if (p.loopback && access.peerIsLoopback) return undefined;
  return p.tokens;
}
