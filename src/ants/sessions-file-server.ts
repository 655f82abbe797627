/**
 * The sessions tree (ANTS section IV, writable /proc/N/ns): a FileServer listing the live
 * sessions of a `capns serve`, each a directory:
 *
 *   N/ns       read: the session's namespace as namespace(6) text (describe); write:
 *              namespace(6) lines, applied to the live session as if it had issued
 *              them (all lines of one write or none; the error names the line)
 *   N/profile  the profile it authenticated as
 *   N/peer     who is at the other end (kind and address)
 *   N/status   kind, profile, holder, peer, start time, binds, the last failed write
 *   N/grants   what it holds: grant id, label, interface, calls, revoked
 *   N/ctl      write `revoke`, `hangup`, or `reroot ...` (docs/ants.md)
 *   profiles/NAME/ns   a profile's namespace text (what `cpns` compares against)
 *
 * Who sees which sessions is the capability's own decision, never ambient: it shows only
 * the sessions of the profiles it was made for, and a read-only one refuses every write.
 * A `sub` of it (a bind of `/proc/3`) is a FileServer of that one session.
 */
import { NsError } from '../errors.js';
import { formatInterfaceId } from '../namespace/interfaces.js';
import { dir, SyntheticFileServer, textFile, type SynthDir, type SynthNode } from './synthetic-fs.js';
import type { RerootSource, Session, SessionRegistry } from './session-registry.js';

/** What one sessions capability shows and allows. */
export interface SessionsOptions {
  /** Only the sessions of these profiles (and only these profiles' texts); default all. */
  readonly profiles?: readonly string[];
  /** Refuse every write (`ns`, `ctl`). Default false. */
  readonly readOnly?: boolean;
  /** Told of each change made through the tree (for the log). Must not throw. */
  readonly onChange?: (session: Session, what: string) => void;
}

const FILES = ['ns', 'profile', 'peer', 'status', 'grants', 'ctl'] as const;

/** qid paths: 1 the root, 2 profiles/; sessions and profiles each get a block of 16. */
function sessionQpath(id: number, file: number): bigint {
  return (BigInt(id) << 5n) | BigInt(file + 1);
}

/**
 * The sessions tree of `registry`, as `options` allow. Does not own the registry.
 */
export function newSessionsFileServer(registry: SessionRegistry, options: SessionsOptions = {}): SyntheticFileServer {
  const allowed = options.profiles === undefined ? undefined : new Set(options.profiles);
  const visible = (profile: string): boolean => allowed === undefined || allowed.has(profile);
  const readOnly = options.readOnly === true;
  const profileQpaths = new Map<string, bigint>();
  // Profile directories are numbered apart from sessions' (high bit set).
  let nextProfile = 1n << 62n;

  const writable = <T>(fn: T): T | undefined => (readOnly ? undefined : fn);

  const sessionDir = (s: Session): SynthDir =>
    dir(String(s.id), sessionQpath(s.id, 15), () => {
      const q = (name: (typeof FILES)[number]): bigint => sessionQpath(s.id, FILES.indexOf(name));
      const live = (): Session => {
        if (s.ended) throw new NsError('NS_ERR_NOT_FOUND', `session ${s.id} has ended`);
        return s;
      };
      return [
        textFile(
          'ns',
          q('ns'),
          () => live().ns.describe(),
          writable(async (text: string) => {
            try {
              await live().ns.apply(text);
              s.lastError = '';
            } catch (e) {
              s.lastError = e instanceof Error ? e.message : String(e);
              throw e;
            }
            options.onChange?.(s, `ns: ${text.trim().split('\n').length} line(s) applied`);
          }),
        ),
        textFile('profile', q('profile'), () => `${s.profile}\n`),
        textFile('peer', q('peer'), () => `${s.kind} ${s.peer}\n`),
        textFile('status', q('status'), async () => {
          const text = await live().ns.describe().catch(() => '');
          const binds = text.split('\n').filter((l) => l !== '').length;
          return [
            `kind ${s.kind}`,
            `profile ${s.profile}`,
            `holder ${s.holder}`,
            `peer ${s.peer}`,
            `started ${s.started.toISOString()}`,
            `binds ${binds}`,
            `lasterror ${s.lastError.replaceAll('\n', ' ')}`,
            '',
          ].join('\n');
        }),
        textFile('grants', q('grants'), () =>
          s
            .grants()
            .map((g) => `${g.id} ${g.label} ${formatInterfaceId(g.interfaceId)} ${g.calls}${g.revoked ? ' revoked' : ''}\n`)
            .join(''),
        ),
        textFile(
          'ctl',
          q('ctl'),
          () => '',
          writable(async (text: string) => {
            const what = await control(registry, live(), text, allowed);
            options.onChange?.(s, what);
          }),
        ),
      ];
    });

  const profilesDir = dir('profiles', 2n, () =>
    registry
      .profileNames()
      .filter(visible)
      .map((name) => {
        let qp = profileQpaths.get(name);
        if (qp === undefined) profileQpaths.set(name, (qp = nextProfile += 2n));
        return dir(name, qp, () => [textFile('ns', qp + 1n, () => registry.profileText(name))]);
      }),
  );

  const root = dir('/', 1n, (): SynthNode[] => [
    ...registry
      .list()
      .filter((s) => visible(s.profile))
      .map(sessionDir),
    profilesDir,
  ]);
  return new SyntheticFileServer(root);
}

/**
 * Runs one write to a session's `ctl`. Returns what was done, for the log.
 *
 *   revoke                                  revoke every grant the session holds
 *   hangup                                  cut its connection
 *   reroot [-k path]... profile NAME        its root becomes the profile's namespace
 *   reroot [-k path]... mount LABEL [SPEC]  ... a capability it holds (an imported namespace)
 *   reroot [-k path]... ns                  ... the namespace text on the following lines
 *
 * `profiles`: the profiles the tree writing it is limited to (`sessions` with `profiles:`),
 * or undefined for all. A `reroot ... profile NAME` must name one of them: a tree that
 * shows only some profiles hands a session no other profile's capabilities.
 *
 * @throws NsError NS_ERR_INVALID_ARGUMENT for an unknown command; NS_ERR_PERMISSION for a
 *   reroot onto a profile outside `profiles`; what the command throws.
 */
export async function control(registry: SessionRegistry, s: Session, text: string, profiles?: ReadonlySet<string>): Promise<string> {
  const nl = text.indexOf('\n');
  const first = (nl < 0 ? text : text.slice(0, nl)).trim();
  const rest = nl < 0 ? '' : text.slice(nl + 1);
  const words = first.split(/[ \t]+/).filter((w) => w !== '');
  const usage = 'ctl takes: revoke | hangup | reroot [-k path]... (profile NAME | mount LABEL [SPEC] | ns)';
  switch (words[0]) {
    case 'revoke':
      if (words.length !== 1) break;
      return `revoked ${s.revoke()} grant(s)`;
    case 'hangup':
      if (words.length !== 1) break;
      s.hangup();
      return 'hung up';
    case 'reroot': {
      const keep: string[] = [];
      let i = 1;
      while (words[i] === '-k') {
        const k = words[i + 1];
        if (k === undefined) throw new NsError('NS_ERR_INVALID_ARGUMENT', `reroot: -k needs a path; ${usage}`);
        keep.push(k);
        i += 2;
      }
      const kind = words[i];
      const args = words.slice(i + 1);
      let source: RerootSource;
      if (kind === 'profile' && args.length === 1) source = { kind: 'profile', name: args[0] as string };
      else if (kind === 'mount' && (args.length === 1 || args.length === 2)) source = { kind: 'mount', label: args[0] as string, spec: args[1] ?? '' };
      else if (kind === 'ns' && args.length === 0) source = { kind: 'text', text: rest };
      else break;
      if (kind !== 'ns' && rest.trim() !== '') throw new NsError('NS_ERR_INVALID_ARGUMENT', `reroot ${kind}: nothing may follow the first line`);
      if (source.kind === 'profile' && profiles !== undefined && !profiles.has(source.name)) {
        throw new NsError('NS_ERR_PERMISSION', `reroot: this sessions tree is limited to the profiles ${[...profiles].join(', ')}; it cannot reroot onto '${source.name}'`);
      }
      const applied = await registry.reroot(s, source, keep);
      return `rerooted onto ${kind}${args.length > 0 ? ` ${args.join(' ')}` : ''} keeping ${keep.join(' ') || 'nothing'} (${applied.split('\n').length - 1} line(s))`;
    }
    default:
  }
  throw new NsError('NS_ERR_INVALID_ARGUMENT', `unknown ctl message '${first.slice(0, 60)}'; ${usage}`);
}
