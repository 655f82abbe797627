/**
 * `capns stat PATH...`: the 9P stat of files and directories of your namespace on a
 * running server; for a capability (a leaf such as /svc/clock), what it is bound as; for
 * an import, its state.
 */
import type { Command } from 'commander';
import { formatImportStatus, importStatusJson, type CapnsClient, type ImportStatus } from '../../client/index.js';
import { NsError } from '../../errors.js';
import type { Stat } from '../../fileserver/file-server.js';
import { isContainer } from '../../namespace/index.js';
import { hexId, printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

type Shown = (
  | { readonly kind: 'capability'; readonly path: string; readonly interfaceId: bigint; readonly interfaceName: string; readonly label: string }
  | { readonly kind: 'file'; readonly path: string; readonly stat: Stat }
) & { readonly import?: ImportStatus };

function modeString(mode: number): string {
  const dir = (mode & 0x80000000) !== 0 ? 'd' : (mode & 0x40000000) !== 0 ? 'a' : '-';
  let s = dir;
  for (let shift = 6; shift >= 0; shift -= 3) {
    const b = (mode >>> shift) & 7;
    s += `${b & 4 ? 'r' : '-'}${b & 2 ? 'w' : '-'}${b & 1 ? 'x' : '-'}`;
  }
  return s;
}

function toJson(s: Shown): Record<string, unknown> {
  const imp = s.import === undefined ? {} : { import: importStatusJson(s.import) };
  if (s.kind === 'capability') return { path: s.path, kind: 'capability', interfaceId: hexId(s.interfaceId), interface: s.interfaceName, label: s.label, ...imp };
  const st = s.stat;
  return {
    path: s.path,
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
    ...imp,
  };
}

function toText(s: Shown, now: number): string {
  const imp = s.import === undefined ? '' : `\t${formatImportStatus(s.import, now)}`;
  if (s.kind === 'capability') return `${s.path}\tcapability ${s.interfaceName} ${hexId(s.interfaceId)} label ${s.label}${imp}\n`;
  const st = s.stat;
  const q = `qid(${st.qid.path} ${st.qid.version} ${st.qid.type.toString(16).padStart(2, '0')})`;
  return `${s.path}\t${modeString(st.mode)} ${st.uid} ${st.gid} ${st.length} ${new Date(st.mtime * 1000).toISOString()} ${q}${imp}\n`;
}

async function statOne(c: CapnsClient, path: string): Promise<Shown> {
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
    if (!(e instanceof NsError)) throw e;
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
      .argument('<path...>', 'paths to show'),
  ).action(async (paths: string[], opts: RemoteOptions) => {
    const io = processIo();
    process.exitCode = await withClient('stat', opts, io, async (c) => {
      const all: Shown[] = [];
      for (const p of paths) all.push(await statOne(c, p));
      const now = Date.now();
      if (opts.json === true) printJson(io, paths.length === 1 ? toJson(all[0]!) : all.map(toJson), true);
      else for (const s of all) io.out(toText(s, now));
    });
  });
}
