/**
 * `capns stat PATH...`: the 9P stat of files and directories of your namespace on a
 * running server; for a capability (a leaf such as /svc/clock), what it is bound as; for
 * an import, its state. Carries on past a path that fails and exits 1 at the end.
 */
import type { Command } from 'commander';
import type { CapnsClient, ImportStatus } from '../../client/index.js';
import type { Stat } from '../../fileserver/file-server.js';
import { eachPath, hexId, printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

type Shown = (
  | { readonly kind: 'capability'; readonly path: string; readonly interfaceId: bigint; readonly interfaceName: string; readonly label: string }
  | { readonly kind: 'file'; readonly path: string; readonly stat: Stat }
) & { readonly import?: ImportStatus };

/** `-rw-r--r--`, `drwxr-xr-x` (`a` for append-only), as ls -l prints a 9P mode. */
export function modeString(mode: number): string {
  const dir = (mode & 0x80000000) !== 0 ? 'd' : (mode & 0x40000000) !== 0 ? 'a' : '-';
  let s = dir;
  for (let shift = 6; shift >= 0; shift -= 3) {
    const b = (mode >>> shift) & 7;
    s += `${b & 4 ? 'r' : '-'}${b & 2 ? 'w' : '-'}${b & 1 ? 'x' : '-'}`;
  }
  return s;
}

/** A 9P stat as JSON (without the path): 64-bit numbers as decimal strings, the mode in octal. */
export function statJson(st: Stat): Record<string, unknown> {
  return {
    kind: (st.qid.type & 0x80) !== 0 ? 'directory' : 'file',
    name: st.name,
    mode: `0${(st.mode >>> 0).toString(8)}`,
    length: st.length.toString(),
    mtime: st.mtime,
    atime: st.atime,
    uid: st.uid,
    gid: st.gid,
    muid: st.muid,
    qid: { type: st.qid.type, version: st.qid.version, path: st.qid.path.toString() },
  };
}

function toJson(s: Shown, importJson: (s: ImportStatus) => unknown): Record<string, unknown> {
  const imp = s.import === undefined ? {} : { import: importJson(s.import) };
  if (s.kind === 'capability') return { path: s.path, kind: 'capability', interfaceId: hexId(s.interfaceId), interface: s.interfaceName, label: s.label, ...imp };
  return { path: s.path, ...statJson(s.stat), ...imp };
}

function toText(s: Shown, now: number, formatImport: (s: ImportStatus, now: number) => string): string {
  const imp = s.import === undefined ? '' : `\t${formatImport(s.import, now)}`;
  if (s.kind === 'capability') return `${s.path}\tcapability ${s.interfaceName} ${hexId(s.interfaceId)} label ${s.label}${imp}\n`;
  const st = s.stat;
  const q = `qid(${st.qid.path} ${st.qid.version} ${st.qid.type.toString(16).padStart(2, '0')})`;
  return `${s.path}\t${modeString(st.mode)} ${st.uid} ${st.gid} ${st.length} ${new Date(st.mtime * 1000).toISOString()} ${q}${imp}\n`;
}

async function statOne(c: CapnsClient, path: string, isContainer: (id: bigint) => boolean, isNsError: (e: unknown) => boolean): Promise<Shown> {
  // A capability bound at a mount point (not a file tree) is shown by its binding; the
  // namespace's file view would show it as a small text file. A mount point also says
  // whether it is an import, and in what state (an imported namespace is a directory).
  let bound = false;
  try {
    const r = await c.lookup(path);
    bound = r.rest === '';
    if (bound && !isContainer(r.interfaceId)) {
      const imp = await c.importStatus(path).catch(() => undefined);
      return { kind: 'capability', path, interfaceId: r.interfaceId, interfaceName: r.interfaceName, label: r.label, ...(imp !== undefined && { import: imp }) };
    }
  } catch (e) {
    // Synthetic directories resolve to nothing; their stat comes from the file view.
    if (!isNsError(e)) throw e;
  }
  const stat = await c.stat(path);
  const imp = bound ? await c.importStatus(path).catch(() => undefined) : undefined;
  return { kind: 'file', path, stat, ...(imp !== undefined && { import: imp }) };
}

/** Registers `capns stat` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('stat')
      .description('show the stat of files and directories (or the binding of a capability) in your namespace on a running server')
      .argument('<path...>', 'paths to show (a path that fails is reported and the others still shown)'),
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    process.exitCode = await withClient('stat', opts, io, async (c) => {
      const [{ formatImportStatus, importStatusJson }, { isContainer }, { NsError }] = await Promise.all([
        import('../../client/index.js'),
        import('../../namespace/interfaces.js'),
        import('../../errors.js'),
      ]);
      const { results, status } = await eachPath('stat', paths, c, io, opts, (p) => statOne(c, p, isContainer, (e) => e instanceof NsError));
      const shown = results.filter((s): s is Shown => s !== undefined);
      const now = Date.now();
      if (opts.json === true) {
        if (paths.length === 1) {
          if (shown[0] !== undefined) printJson(io, toJson(shown[0], importStatusJson), true);
        } else printJson(io, shown.map((s) => toJson(s, importStatusJson)), true);
      } else for (const s of shown) io.out(toText(s, now, formatImportStatus));
      return status;
    });
  });
}
