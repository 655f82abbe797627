/**
 * Bearer tokens to profiles, as the Gate does it (src/captable/gate.ts): each token is
 * compared with every profile's in constant time; no token picks the `loopback` profile,
 * and only on a loopback listener.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminProfile } from './deps.js';

/** A refused credential: 401, one body shape (error-handler.ts reads statusCode and code). */
export class AuthError extends Error {
  readonly statusCode = 401;
  readonly code = 'NS_ERR_PERMISSION';
  override get name(): string {
    return 'AuthError';
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * One app's authentication. It keeps the digests of each profile's tokens, made once per
 * profile object: the deps hand out the same object until a reload changes the profile
 * (then a new one, hashed anew), so a request hashes only the token it presents.
 */
export class TokenAuth {
  readonly #digests = new WeakMap<AdminProfile, { readonly tokens: readonly string[]; readonly digests: readonly Buffer[] }>();

  #digestsOf(p: AdminProfile): readonly Buffer[] {
    let d = this.#digests.get(p);
    if (d === undefined || d.tokens !== p.tokens) this.#digests.set(p, (d = { tokens: p.tokens, digests: p.tokens.map(digest) }));
    return d.digests;
  }

  /**
   * The profile an Authorization header selects.
   * @throws AuthError for a missing, malformed or unknown credential.
   */
  authenticate(header: string | undefined, profiles: readonly AdminProfile[], peerIsLoopback: boolean): AdminProfile {
    if (header === undefined || header === '') {
      const p = peerIsLoopback ? profiles.find((x) => x.loopback) : undefined;
      if (p === undefined) throw new AuthError('credentials required: Authorization: Bearer <token>');
      return p;
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m === null) throw new AuthError('malformed Authorization header: expected "Bearer <token>"');
    const d = digest(m[1]!);
    let found: AdminProfile | undefined;
    // Every digest is compared, in constant time, whichever matches.
    for (const p of profiles) for (const t of this.#digestsOf(p)) if (timingSafeEqual(t, d) && found === undefined) found = p;
    if (found === undefined) throw new AuthError('unknown token');
    return found;
  }
}
