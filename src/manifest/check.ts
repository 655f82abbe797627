/**
 * The doctor: what a valid manifest may still get wrong. `parseManifest` guarantees the
 * shape and the references; this looks at what the steps do (each profile's namespace is
 * built on paper, step by step, the way the mount table will build it), at who can reach
 * which profile, and at clashes between profiles and listeners.
 *
 * Errors are what would fail at startup or open a hole (two profiles sharing a token, a
 * bind of nothing, a `require` the capability cannot meet, two listeners on one port);
 * warnings are what is almost certainly not meant (a member replaced before anyone can
 * see it, a profile no one can reach, a capability never mounted).
 */
import { addressesConflict, formatAddress, isLoopback } from './address.js';
import {
  CAPABILITY_TYPES,
  completeInterfaceRef,
  formatInterfaceRef,
  isContainerInterface,
  sameInterface,
  type InterfaceRef,
} from './interfaces.js';
import { compareDiagnostics, type Diagnostic, type DiagnosticCode } from './manifest-error.js';
import { isAtOrBelow } from './paths.js';
import type { Capability, Listener, Loc, Manifest, Profile, Step } from './types.js';

/**
 * The interface a capability provides — its type's, or the declared one (`import`,
 * `connect`) — or, with `part`, one of its parts: a service's offer, a srv board's name.
 * Undefined when it is not known (a board name that declares no interface; a service,
 * which is mounted by its offers).
 */
export function capabilityInterface(c: Capability, part?: string): InterfaceRef | undefined {
  switch (c.type) {
    case 'import':
    case 'connect':
      return completeInterfaceRef(c.interface);
    case 'service': {
      const offer = part !== undefined ? c.offers.find((o) => o.name === part) : c.offers.length === 1 ? c.offers[0] : undefined;
      return offer === undefined ? undefined : completeInterfaceRef(offer.interface);
    }
    case 'srv': {
      if (part === undefined) return completeInterfaceRef({ name: 'Srv' });
      const n = c.names.find((x) => x.name === part)?.interface;
      return n === undefined ? undefined : completeInterfaceRef(n);
    }
    default:
      return completeInterfaceRef({ name: CAPABILITY_TYPES[c.type].interface });
  }
}

/** A mount's capability and part (`NAME/PART`), split. */
export function splitCapabilityRef(ref: string): { name: string; part: string | undefined } {
  const i = ref.indexOf('/');
  return i < 0 ? { name: ref, part: undefined } : { name: ref.slice(0, i), part: ref.slice(i + 1) };
}

class Findings {
  readonly list: Diagnostic[] = [];
  error(code: DiagnosticCode, loc: Loc, message: string): void {
    this.list.push({
      severity: 'error',
      code,
      file: loc.file,
      line: loc.line,
      column: loc.column,
      path: loc.path,
      message,
    });
  }
  warning(code: DiagnosticCode, loc: Loc, message: string): void {
    this.list.push({
      severity: 'warning',
      code,
      file: loc.file,
      line: loc.line,
      column: loc.column,
      path: loc.path,
      message,
    });
  }
}

/** A member of a union stack, on paper. */
export interface PaperMember {
  /** The capability's name (the member's label in the mount table). */
  readonly label: string;
  /** MCREATE: creates in the union go to the first member with it. */
  readonly create: boolean;
  /** The path inside the capability ('' for its root). */
  readonly spec: string;
  /** For a member that a bind put here, the bind's source path. */
  readonly via: string | undefined;
  /** What it is, when known (a mount with a spec into an import is not). */
  readonly iface: InterfaceRef | undefined;
  /** The step that put it here. */
  readonly step: Step;
  /** Whether something saw it: a bind took it, or an unmount removed it on purpose. */
  used: boolean;
}

function describeMember(m: PaperMember): string {
  return m.iface === undefined ? m.label : `${m.label} (${formatInterfaceRef(m.iface)})`;
}

function stepName(s: Step): string {
  switch (s.op) {
    case 'mount':
      return `mount of ${s.capability} at ${s.at}`;
    case 'bind':
      return `bind of ${s.from} at ${s.at}`;
    case 'unmount':
      return `unmount at ${s.at}`;
  }
}

/** Whether a member may have names below it (unknown: assume yes, never cry wolf). */
function maybeContainer(m: PaperMember): boolean {
  return m.iface === undefined || isContainerInterface(m.iface);
}

/** A profile's namespace built on paper: the union stack of every mount point. */
export interface PaperNamespace {
  /** Mount points in the order they first appeared, each with its stack in search order. */
  readonly stacks: ReadonlyMap<string, readonly PaperMember[]>;
  /** The capabilities the profile mounts. */
  readonly mounted: ReadonlySet<string>;
}

/** Builds one profile's namespace on paper, the way the mount table will. Pure. */
export function buildOnPaper(m: Manifest, p: Profile): PaperNamespace {
  return simulate(m, p, new Findings());
}

/** Builds one profile's namespace on paper and reports what goes wrong. */
function simulate(m: Manifest, p: Profile, f: Findings): PaperNamespace {
  const mounted = new Set<string>();
  const stacks = new Map<string, PaperMember[]>();
  const declared = new Map<string, { ref: InterfaceRef; step: Step }>();

  const checkDeclared = (s: Step, at: string, added: readonly PaperMember[]): void => {
    const d = declared.get(at);
    if (d === undefined) return;
    for (const a of added) {
      if (a.iface !== undefined && sameInterface(a.iface, d.ref) === false) {
        f.error(
          'interface-mismatch',
          s.loc,
          `${at} must hold ${formatInterfaceRef(d.ref)} (required at ${d.step.loc.path}); ${describeMember(a)} is not one`,
        );
      }
    }
  };

  /** Namespace `declare(at, ref)`: the members already there must match, and later ones will. */
  const require = (s: Step, at: string, ref: InterfaceRef | undefined): void => {
    if (ref === undefined) return;
    for (const a of stacks.get(at) ?? []) {
      if (a.iface !== undefined && sameInterface(a.iface, ref) === false) {
        f.error(
          'interface-mismatch',
          s.loc,
          `require: ${formatInterfaceRef(ref)}, but ${at} already holds ${describeMember(a)}`,
        );
      }
    }
    declared.set(at, { ref, step: s });
  };

  const place = (
    s: Step & { position: 'replace' | 'before' | 'after' },
    at: string,
    added: PaperMember[],
  ): void => {
    const old = stacks.get(at) ?? [];
    if (s.position === 'replace') {
      for (const o of old) {
        if (!o.used)
          f.warning(
            'shadowed',
            o.step.loc,
            `${describeMember(o)} at ${at} is replaced by ${s.loc.path} (${stepName(s)}) before anything can see it`,
          );
      }
      stacks.set(at, added);
    } else {
      stacks.set(at, s.position === 'before' ? [...added, ...old] : [...old, ...added]);
    }
  };

  /** The deepest mount point at or above `path`. */
  const mountPointOf = (path: string): string | undefined => {
    let best: string | undefined;
    for (const [mp, stack] of stacks) {
      if (
        stack.length > 0 &&
        isAtOrBelow(path, mp) &&
        (best === undefined || mp.length > best.length)
      )
        best = mp;
    }
    return best;
  };

  for (const s of p.namespace) {
    switch (s.op) {
      case 'mount': {
        const ref = splitCapabilityRef(s.capability);
        const cap = m.capabilities.find((c) => c.name === ref.name);
        if (cap === undefined) {
          f.error('unknown-capability', s.loc, `unknown capability "${s.capability}"`);
          break;
        }
        mounted.add(cap.name);
        // A spec into a remote namespace can name anything; into a file tree, a file tree.
        const iface = cap.type === 'import' && s.spec !== '' ? undefined : capabilityInterface(cap, ref.part);
        const added: PaperMember[] = [
          {
            label: s.capability,
            create: s.create,
            spec: s.spec,
            via: undefined,
            iface,
            step: s,
            used: false,
          },
        ];
        if (
          s.require !== undefined &&
          iface !== undefined &&
          sameInterface(iface, s.require) === false
        ) {
          f.error(
            'interface-mismatch',
            s.loc,
            `require: ${formatInterfaceRef(s.require)}, but capability ${s.capability} (type ${cap.type}) is a ${formatInterfaceRef(iface)}`,
          );
        } else {
          checkDeclared(s, s.at, added);
          require(s, s.at, s.require);
        }
        // Placed even when wrong, so that later steps are judged on what was meant.
        place(s, s.at, added);
        break;
      }
      case 'bind': {
        const mp = mountPointOf(s.from);
        if (mp === undefined) {
          const synthetic = [...stacks.entries()].some(
            ([path, st]) => st.length > 0 && isAtOrBelow(path, s.from),
          );
          f.error(
            'bind-source-missing',
            s.loc,
            synthetic
              ? `${s.from} is only a directory holding mount points; bind needs a capability there (bind the mount points below it one by one)`
              : `nothing makes ${s.from} visible: no earlier step of profile ${p.name} mounts or binds anything at or above it`,
          );
          break;
        }
        const stack = stacks.get(mp) ?? [];
        let from: PaperMember[];
        if (mp === s.from) {
          from = stack;
        } else {
          from = stack.filter(maybeContainer);
          if (from.length === 0) {
            f.error(
              'bind-source-missing',
              s.loc,
              `${s.from} lies below ${mp}, which holds ${stack.map(describeMember).join(', ')}: no names below it`,
            );
            break;
          }
        }
        for (const o of from) o.used = true;
        // Below a mount point a bind takes a directory of the members' trees: a FileServer
        // stays one; what a remote namespace holds there is not known.
        const rest = mp === s.from ? '' : s.from.slice(mp === '/' ? 1 : mp.length + 1);
        const added = from.map((o): PaperMember => ({
          label: o.label,
          create: s.create,
          spec: rest === '' ? o.spec : o.spec === '' ? rest : `${o.spec}/${rest}`,
          via: s.from,
          iface:
            mp === s.from ||
            (o.iface !== undefined && sameInterface(o.iface, { name: 'FileServer' }) === true)
              ? o.iface
              : undefined,
          step: s,
          used: false,
        }));
        const want = s.require;
        const bad =
          want === undefined
            ? []
            : added.filter((a) => a.iface !== undefined && sameInterface(a.iface, want) === false);
        if (want !== undefined && bad.length > 0) {
          f.error(
            'interface-mismatch',
            s.loc,
            `require: ${formatInterfaceRef(want)}, but ${s.from} holds ${bad.map(describeMember).join(', ')}`,
          );
        } else {
          checkDeclared(s, s.at, added);
          require(s, s.at, s.require);
        }
        place(s, s.at, added);
        break;
      }
      case 'unmount': {
        const stack = stacks.get(s.at) ?? [];
        if (stack.length === 0) {
          f.error('bind-source-missing', s.loc, `nothing is mounted at ${s.at} to unmount`);
          break;
        }
        if (s.member === undefined) {
          stacks.set(s.at, []);
          break;
        }
        const kept = stack.filter((o) => o.label !== s.member);
        if (kept.length === stack.length) {
          f.error(
            'bind-source-missing',
            s.loc,
            `no member called ${s.member} is mounted at ${s.at} (there: ${stack.map((o) => o.label).join(', ')})`,
          );
          break;
        }
        stacks.set(s.at, kept);
        break;
      }
    }
  }
  for (const [at, st] of stacks) if (st.length === 0) stacks.delete(at);
  return { stacks, mounted };
}

/** Tokens shorter than this get a warning: a bearer token is a password. */
const MIN_TOKEN_LENGTH = 16;

/** Whether `path` names something in the namespace: a mount point, below one, or a parent of one. */
function rootExists(ns: PaperNamespace, path: string): boolean {
  for (const at of ns.stacks.keys())
    if (isAtOrBelow(path, at) || isAtOrBelow(at, path)) return true;
  return false;
}

/** Whether listener `l` hands out profile `p` (to the right credentials). */
export function serves(l: Listener, p: Profile): boolean {
  if (l.profile !== undefined) return l.profile === p.name;
  return (
    p.auth.tokens.length > 0 ||
    (p.auth.tlsSubjects.length > 0 && l.tls?.ca !== undefined) ||
    (p.auth.loopback && isLoopback(l.address))
  );
}

function hasAuth(p: { auth: Profile['auth'] }): boolean {
  return p.auth.tokens.length > 0 || p.auth.tlsSubjects.length > 0 || p.auth.loopback;
}

/**
 * The doctor's findings on a parsed manifest, errors and warnings, in file order. Pure.
 * A manifest with no error findings is one `capns serve` can start.
 */
export function checkManifest(m: Manifest): Diagnostic[] {
  const f = new Findings();
  for (const c of m.capabilities) {
    if (c.type === 'hubfs' && !m.capabilities.some((h) => h.type === 'hub' && h.name === c.hub)) {
      f.error('unknown-capability', c.loc, `hubfs "${c.name}": no capability "${c.hub}" of type hub`);
    }
  }

  // Namespaces, step by step.
  const mounted = new Set<string>();
  for (const p of m.profiles) for (const c of simulate(m, p, f).mounted) mounted.add(c);
  for (const c of m.capabilities) {
    if (!mounted.has(c.name))
      f.warning('unused-capability', c.loc, `capability ${c.name} is not mounted by any profile`);
  }
  const dirs = new Map<string, Capability>();
  for (const c of m.capabilities) {
    if (c.type !== 'dir') continue;
    const other = dirs.get(c.path);
    if (other !== undefined)
      f.warning(
        'same-directory',
        c.loc,
        `capabilities ${other.name} and ${c.name} both serve the host directory ${c.path}`,
      );
    else dirs.set(c.path, c);
  }

  // Credentials: one token, one subject, one loopback profile -> one profile.
  const tokens = new Map<string, Profile>();
  const subjects = new Map<string, Profile>();
  for (const p of m.profiles) {
    const loc = p.auth.loc ?? p.loc;
    const mine = new Set<string>();
    for (const t of p.auth.tokens) {
      const other = tokens.get(t);
      if (other !== undefined && other !== p)
        f.error(
          'duplicate-token',
          loc,
          `profile ${p.name} has a token that profile ${other.name} has too: a connection presenting it could be either`,
        );
      else if (mine.has(t))
        f.warning('duplicate-token', loc, `profile ${p.name} lists the same token twice`);
      if (t.length < MIN_TOKEN_LENGTH && !mine.has(t))
        f.warning(
          'weak-token',
          loc,
          `profile ${p.name} has a token of ${t.length} characters: use ${MIN_TOKEN_LENGTH} or more random ones (openssl rand -hex 16)`,
        );
      tokens.set(t, p);
      mine.add(t);
    }
    for (const s of p.auth.tlsSubjects) {
      const other = subjects.get(s);
      if (other !== undefined && other !== p)
        f.error(
          'duplicate-subject',
          loc,
          `TLS subject "${s}" is given to profile ${other.name} too`,
        );
      subjects.set(s, p);
    }
  }
  const loopbackProfiles = m.profiles.filter((p) => p.auth.loopback);
  for (const p of loopbackProfiles.slice(1)) {
    f.error(
      'loopback-auth',
      p.auth.loc ?? p.loc,
      `profiles ${loopbackProfiles[0]?.name} and ${p.name} both set auth.loopback: a connection without credentials could not choose`,
    );
  }

  // Who can reach each profile.
  for (const p of m.profiles) {
    const viaListener = m.listeners.some((l) => serves(l, p));
    const viaExport = m.exports.some((e) => e.profile === p.name);
    const viaService = m.capabilities.some((c) => c.type === 'service' && c.profile === p.name);
    if (!viaListener && !viaExport && !viaService) {
      const why = !hasAuth(p)
        ? 'it has no auth (tokens, tls, loopback) and no listener or export names it'
        : m.listeners.length === 0
          ? 'there are no listeners'
          : p.auth.loopback && p.auth.tokens.length === 0 && p.auth.tlsSubjects.length === 0
            ? 'it is loopback-only (auth.loopback) and no listener is on a loopback address'
            : 'its auth is TLS only and no listener asks for client certificates (tls.ca)';
      f.warning('unreachable-profile', p.loc, `no one can reach profile ${p.name}: ${why}`);
    } else if (
      p.auth.tlsSubjects.length > 0 &&
      !m.listeners.some((l) => l.tls?.ca !== undefined) &&
      !m.exports.some((e) => e.profile === p.name && e.tls?.ca !== undefined)
    ) {
      f.warning(
        'unreachable-profile',
        p.auth.loc ?? p.loc,
        `auth.tls of profile ${p.name} is never used: no listener asks for client certificates (tls.ca)`,
      );
    }
    if (
      p.auth.loopback &&
      viaListener &&
      !m.listeners.some((l) => isLoopback(l.address) && serves(l, p))
    ) {
      f.warning(
        'loopback-auth',
        p.auth.loc ?? p.loc,
        `auth.loopback of profile ${p.name} is never used: no listener serving it is on a loopback address`,
      );
    }
  }

  // Listeners and exports that give a profile away, or that cannot.
  for (const l of m.listeners) {
    if (l.profile === undefined) continue;
    const p = m.profiles.find((q) => q.name === l.profile);
    if (p === undefined) {
      f.error('unknown-profile', l.loc, `unknown profile "${l.profile}"`);
      continue;
    }
    const where = formatAddress(l.address);
    if (!hasAuth(p) && !isLoopback(l.address)) {
      f.warning(
        'anonymous',
        l.loc,
        `anyone who can reach ${where} gets profile ${p.name}: it has no auth`,
      );
    } else if (
      p.auth.loopback &&
      p.auth.tokens.length === 0 &&
      p.auth.tlsSubjects.length === 0 &&
      !isLoopback(l.address)
    ) {
      f.error(
        'loopback-auth',
        l.loc,
        `profile ${p.name} is loopback-only (auth.loopback), but ${where} is not a loopback address: no one could use this listener`,
      );
    } else if (
      p.auth.tlsSubjects.length > 0 &&
      p.auth.tokens.length === 0 &&
      !p.auth.loopback &&
      (l.protocol === '9p' || l.tls?.ca === undefined)
    ) {
      f.error(
        'unreachable-profile',
        l.loc,
        l.protocol === '9p'
          ? `profile ${p.name} authenticates by TLS client certificate only, which 9P cannot carry: no one could attach to this listener`
          : `profile ${p.name} authenticates by TLS client certificate only, but this listener has no tls.ca`,
      );
    } else if (l.protocol === '9p' && hasAuth(p) && !(p.auth.loopback && isLoopback(l.address))) {
      f.warning(
        'ninep-auth',
        l.loc,
        `9P clients of ${where} must write one of profile ${p.name}'s tokens to an afid (Tauth) before attaching; the Linux kernel (mount -t 9p) cannot: serve it on a loopback address with auth.loopback, or name a profile without auth`,
      );
    }
  }
  for (const e of m.exports) {
    const where = formatAddress(e.listen);
    const p = m.profiles.find((q) => q.name === e.profile);
    if (p === undefined) f.error('unknown-profile', e.loc, `unknown profile "${e.profile}"`);
    else if (!rootExists(buildOnPaper(m, p), e.root))
      f.error(
        'export-root-missing',
        e.loc,
        `${e.root} does not exist in profile ${p.name}'s namespace: nothing is mounted at, above or below it`,
      );
    if (!hasAuth(e) && !isLoopback(e.listen))
      f.warning(
        'anonymous',
        e.loc,
        `anyone who can reach ${where} can import ${e.root} of profile ${e.profile}: the export has no auth`,
      );
    if (
      e.auth.loopback &&
      e.auth.tokens.length === 0 &&
      e.auth.tlsSubjects.length === 0 &&
      !isLoopback(e.listen)
    ) {
      f.error(
        'loopback-auth',
        e.loc,
        `the export's auth is loopback-only, but ${where} is not a loopback address: no one could import it`,
      );
    }
  }

  // Sockets.
  const sockets = [
    ...m.listeners.map((l) => ({ address: l.address, loc: l.loc })),
    ...m.exports.map((e) => ({ address: e.listen, loc: e.loc })),
  ];
  sockets.forEach((s, i) => {
    const clash = sockets.slice(0, i).find((o) => addressesConflict(o.address, s.address));
    if (clash !== undefined)
      f.error(
        'listener-conflict',
        s.loc,
        `${formatAddress(s.address)} is taken by ${clash.loc.path} (${formatAddress(clash.address)})`,
      );
  });
  if (m.listeners.length === 0 && m.exports.length === 0) {
    f.warning(
      'no-listeners',
      { file: m.file, line: 1, column: 1, path: '' },
      'no listeners and no exports: nothing can connect',
    );
  }

  return f.list.sort(compareDiagnostics);
}
