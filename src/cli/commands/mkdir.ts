/**
 * `capns mkdir [-p] PATH...`: create directories in your namespace on a running server.
 * With -p, missing parents are created too and a directory already there is no error
 * (mkdir -p). Carries on past a path that fails and exits 1 at the end.
 */
import type { Command } from 'commander';
import type { CapnsClient } from '../../client/index.js';
import { NsError } from '../../errors.js';
import { eachPath, printJson, processIo, remoteCommand, UsageError, withClient, type RemoteOptions } from './remote.js';

interface MkdirOptions extends RemoteOptions {
  mode?: string;
  parents?: boolean;
}

/** Whether `path` is a directory; false when it is not there. @throws NsError NS_ERR_NOT_DIR when it is something else. */
async function isDirectory(c: CapnsClient, path: string): Promise<boolean> {
  try {
    const st = await c.stat(path);
    if ((st.qid.type & 0x80) === 0) throw new NsError('NS_ERR_NOT_DIR', `'${path}' is not a directory`);
    return true;
  } catch (e) {
    if (e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND') return false;
    throw e;
  }
}

/** mkdir -p: each missing component of `path`, from the top. */
async function mkdirParents(c: CapnsClient, path: string, perm: number): Promise<void> {
  const names = path.split('/').filter((n) => n !== '' && n !== '.');
  let at = '';
  for (const name of names) {
    at = `${at}/${name}`;
    if (await isDirectory(c, at)) continue;
    try {
      await c.mkdir(at, { perm });
    } catch (e) {
      // Made meanwhile by someone else: what -p wants.
      if (!(e instanceof NsError && e.code === 'NS_ERR_EXISTS' && (await isDirectory(c, at)))) throw e;
    }
  }
}

/** Registers `capns mkdir` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('mkdir')
      .description('create directories in your namespace on a running server')
      .argument('<path...>', 'directories to create, in order (a path that fails is reported and the others still created)')
      .option('-p, --parents', 'create missing parents too; a directory already there is no error')
      .option('--mode <octal>', 'permissions', '755'),
  ).action(async (paths: string[], opts: MkdirOptions) => {
    const io = processIo();
    process.exitCode = await withClient('mkdir', opts, io, async (c) => {
      if (!/^[0-7]{1,4}$/.test(opts.mode ?? '755')) throw new UsageError(`--mode ${opts.mode}: expected octal permissions like 755`);
      const perm = parseInt(opts.mode ?? '755', 8);
      const { results, status } = await eachPath('mkdir', paths, c, io, opts, async (p) => {
        if (opts.parents === true) await mkdirParents(c, p, perm);
        else await c.mkdir(p, { perm });
        return p;
      });
      if (opts.json === true) printJson(io, { created: results.filter((p) => p !== undefined) }, true);
      return status;
    });
  });
}
