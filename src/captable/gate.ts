/**
 * The Gate: what a network listener bootstraps. A client presents a token (or nothing,
 * on a listener that lets loopback peers in as a profile) and receives its own namespace:
 * a fork of its profile's namespace in which every capability is a fresh grant recorded
 * in the capability table under this connection's holder name. One client's binds are
 * seen by no other client; no credentials, no namespace.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Client } from 'capnp-es';
import { NsError } from '../errors.js';
import { setFailure } from '../failure.js';
import {
  Gate as GateIface,
  type Gate$Client,
  type Gate$Server$Target,
  type Gate_Authenticate$Params,
  type Gate_Authenticate$Results,
  type Namespace$Client,
} from '../gen/namespace.js';
import type { MountTable } from '../namespace/mount-table.js';
import { NamespaceOwner, serveNamespace, type NamespaceOwnerOptions } from '../namespace/namespace-server.js';
import { dupClient, serve, subjectMatches, type Peer } from '../rpc/index.js';
import type { CapabilityTable } from './capability-table.js';

/** A profile as the Gate sees it: who may have it, and the namespace it starts from. */
export interface GateProfile {
  readonly name: string;
  /** Bearer tokens that select this profile. */
  readonly tokens: readonly string[];
  /** Whether a loopback peer presenting no token gets this profile. */
  readonly loopback: boolean;
  /**
   * TLS client certificate subjects that select this profile, as the manifest writes them
   * ("CN=alice" or "CN=alice,O=example": every attribute named must match the verified
   * certificate's).
   */
  readonly tlsSubjects?: readonly string[];
  /**
   * The profile's namespace. Members' `cap`s are references the caller keeps alive for
   * as long as the Gate is in use; the Gate never releases them (it grants duplicates).
   */
  readonly table: MountTable<Client>;
}

/** Options for one connection's Gate. */
export interface GateOptions {
  readonly profiles: readonly GateProfile[];
  readonly captable: CapabilityTable;
  /** This connection's name in the capability table, e.g. "rpc#3". */
  readonly connection: string;
  /** Whether the peer is on loopback (enables `loopback` profiles). */
  readonly peerIsLoopback: boolean;
  /** The subject of the peer's verified TLS client certificate, if it presented one. */
  readonly tlsSubject?: Readonly<Record<string, string>> | undefined;
  /** Failed attempts before the Gate refuses every further one (default 5). */
  readonly maxFailures?: number;
  /**
   * Limits of the namespaces this connection is given, all of them together: how many at
   * once (`maxNamespaces`, default 256: each `authenticate` makes one, with its grants,
   * its mount table and its session; one given back frees its place) and their budget
   * of bindings (`maxBinds`, default 10000). They all end with the connection
   * (`peer.atEnd()`), wherever they are held (NamespaceOwner).
   */
  readonly namespaces?: Omit<NamespaceOwnerOptions, 'refused'>;
  /**
   * Told of each namespace handed out (for logs, and the sessions tree): `ns` is the
   * capability the client receives, lent for the call (dupClient it to keep it, which
   * keeps its grants too); `gate` these options (one function can serve every connection
   * of a listener). What it returns, if anything, is called once when the client has let
   * go of the namespace and of every namespace it made from it (its grants are gone then):
   * a holder of `ns` that does not keep it alive (the sessions tree) stops using it then.
   */
  readonly onAuthenticated?: (profile: string, holder: string, ns: Namespace$Client, gate: GateOptions) => (() => void) | void;
  /**
   * The connection's peer (listen()'s bootstrap argument): told when it authenticates,
   * and when a request of its is refused for a limit it is past (too many failed
   * attempts, its grants or bindings quota), which pauses its connection.
   */
  readonly peer?: Peer;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Each profile's token digests, made when a connection first presents a token to a Gate
 * that may choose it, then kept for as long as the profile is (a reload makes new
 * profiles): not hashed again for every connection, nor at all for connections that
 * present none (loopback, certificates).
 */
const tokenDigests = new WeakMap<GateProfile, readonly Buffer[]>();

function digestsOf(profile: GateProfile): readonly Buffer[] {
  let d = tokenDigests.get(profile);
  if (d === undefined) tokenDigests.set(profile, (d = profile.tokens.map(digest)));
  return d;
}

/**
 * The namespace `profile` starts from, with every capability replaced by a grant to
 * `holder` (over `connection`, whose share of the table it counts against): one grant per
 * capability (aliases share it). The profile's interface declarations (`require`) come
 * along, so a bind there must still add that interface. The caller owns the returned
 * table's members (serveNamespace takes them).
 * @throws NsError NS_ERR_BUSY when the table or the connection's share is full (nothing is
 *   left granted).
 */
export function grantedNamespace(
  profile: GateProfile,
  captable: CapabilityTable,
  holder: string,
  connection: string = holder,
): MountTable<Client> {
  const granted = new Map<string, Client>();
  const labels = new Set<string>();
  for (const m of profile.table.boundMembers()) labels.add(m.label);
  captable.checkRoom(connection, labels.size);
  try {
    return profile.table.mapCaps((m) => {
      let cap = granted.get(m.label);
      if (cap === undefined) {
        cap = captable.grant(dupClient(m.cap), { interfaceId: m.interfaceId, label: m.label, holder, connection });
        granted.set(m.label, cap);
      }
      return cap;
    });
  } catch (e) {
    for (const cap of granted.values()) cap.close();
    throw e;
  }
}

class GateTarget implements Gate$Server$Target {
  readonly #options: GateOptions;
  #failures = 0;
  #issued = 0;
  /** The namespaces this connection is given: made at its first authenticate. */
  #owner: NamespaceOwner | null = null;

  constructor(options: GateOptions) {
    this.#options = options;
  }

  #namespaces(): NamespaceOwner {
    if (this.#owner !== null) return this.#owner;
    const o = this.#options;
    const owner = new NamespaceOwner(o.connection, { ...o.namespaces, ...(o.peer !== undefined && { refused: o.peer }) });
    o.peer?.atEnd(owner);
    return (this.#owner = owner);
  }

  #match(token: string): GateProfile | undefined {
    if (token === '') {
      // A verified client certificate speaks for the peer; failing that, loopback may.
      const subject = this.#options.tlsSubject;
      if (subject !== undefined) {
        const p = this.#options.profiles.find(
          (q) => q.tlsSubjects?.some((s) => subjectMatches(s, subject)) === true,
        );
        if (p !== undefined) return p;
      }
      return this.#options.peerIsLoopback
        ? this.#options.profiles.find((p) => p.loopback)
        : undefined;
    }
    const d = digest(token);
    let found: GateProfile | undefined;
    // Compare with every token, in constant time each, whatever matched first.
    for (const profile of this.#options.profiles)
      for (const t of digestsOf(profile)) if (timingSafeEqual(t, d) && found === undefined) found = profile;
    return found;
  }

  async authenticate(
    params: Gate_Authenticate$Params,
    results: Gate_Authenticate$Results,
  ): Promise<void> {
    const res = results._initResult();
    const max = this.#options.maxFailures ?? 5;
    try {
      if (this.#failures >= max) {
        this.#options.peer?.overLimit();
        throw NsError.refusal('NS_ERR_PERMISSION', 'too many failed attempts on this connection');
      }
      const profile = this.#match(params.token);
      if (profile === undefined) {
        this.#failures++;
        throw NsError.refusal('NS_ERR_PERMISSION', params.token === '' ? 'credentials required' : 'unknown token');
      }
      const owner = this.#namespaces();
      owner.checkRoom();
      const holder = `${profile.name}@${this.#options.connection}${this.#issued++ === 0 ? '' : `.${this.#issued}`}`;
      const table = grantedNamespace(profile, this.#options.captable, holder, this.#options.connection);
      // The grants leave the table when the client lets go of the namespace and of
      // everything it got through it (or its connection ends); so does the session.
      let gone: (() => void) | void = undefined;
      const ns = serveNamespace(table, { owner, onClose: () => gone?.() });
      gone = this.#options.onAuthenticated?.(profile.name, holder, ns, this.#options);
      const ok = res._initOk();
      ok.ns = ns;
      ok.profile = profile.name;
      this.#options.peer?.authenticated();
    } catch (e) {
      // Over the connection's grants or namespaces quota (or the table full): the same
      // again would be refused the same way, so the peer is read again after a pause.
      if (e instanceof NsError && e.code === 'NS_ERR_BUSY') this.#options.peer?.overLimit();
      setFailure(res._initErr(), e);
    }
  }
}

/** Serves a Gate for one connection. The caller owns the client. */
export function serveGate(options: GateOptions): Gate$Client & Disposable {
  return serve(GateIface, new GateTarget(options));
}
