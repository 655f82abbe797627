/**
 * `capns cpns`, `capns addns`, `capns subns` (ANTS): make one namespace like another,
 * add to it, or take away from it, by the shortest list of namespace(6) operations
 * (src/namespace/ns-diff.ts); and `capns reroot` (ANTS rerootwin), through a session's ctl.
 *
 * A namespace is named as:
 *   N or /proc/N      a live session in the sessions tree (--proc, default /proc)
 *   profile:NAME      a profile's namespace (read only)
 *   file:PATH         namespace text in a local file ('file:-' for stdin; read only)
 *   self              the namespace this command's own connection got
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CapnsClient } from '../../client/index.js';
import { NsError } from '../../errors.js';
import {
  addModels,
  diffNamespaces,
  formatOps,
  labelBases,
  modelOfText,
  subtractModels,
  type NsModel,
} from '../../namespace/ns-diff.js';
import { printJson, processIo, remoteCommand, UsageError, withClient, type Io, type RemoteOptions } from './remote.js';

interface NsOptions extends RemoteOptions {
  n?: boolean;
  proc?: string;
}

/** Where a namespace is read from and written to. */
interface Place {
  readonly name: string;
  read(): Promise<string>;
  /** Undefined for a place that cannot be changed. */
  readonly write?: (text: string) => Promise<void>;
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function placeOf(arg: string, c: CapnsClient, proc: string): Place {
  const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
  if (arg === 'self') return { name: 'self', read: () => c.describe(), write: (t) => c.apply(t) };
  if (arg.startsWith('profile:')) {
    const name = arg.slice('profile:'.length);
    if (name === '' || name.includes('/')) throw new UsageError(`${arg}: expected profile:NAME`);
    return { name: arg, read: async () => text(await c.readFile(`${proc}/profiles/${name}/ns`)) };
  }
  if (arg.startsWith('file:')) {
    const file = arg.slice('file:'.length);
    return {
      name: arg,
      read: async () => {
        try {
          return file === '-' ? await readStdin() : await readFile(file, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
        }
      },
    };
  }
  const m = /^(?:(.*)\/)?(\d+)$/.exec(arg);
  if (m === null) throw new UsageError(`${arg}: expected a session (N or ${proc}/N), profile:NAME, file:PATH or self`);
  const dir = `${m[1] ?? proc}/${m[2]}`;
  return {
    name: dir,
    read: async () => text(await c.readFile(`${dir}/ns`)),
    write: async (t) => c.writeFile(`${dir}/ns`, Buffer.from(t, 'utf8')),
  };
}

type Combine = (from: NsModel, to: NsModel) => NsModel;

function register1(program: Command, name: string, description: string, combine: Combine): void {
  remoteCommand(
    program
      .command(name)
      .description(description)
      .argument('<from>', 'the model: a session (N or /proc/N), profile:NAME, file:PATH or self')
      .argument('<to>', 'the namespace changed: a session (N or /proc/N) or self')
      .option('-n', 'print the operations without applying them (ANTS -t)')
      .option('--proc <path>', 'where the sessions tree is mounted in your namespace', '/proc'),
    'print {"from", "to", "operations", "applied"}',
  ).action(async (fromArg: string, toArg: string, opts: NsOptions) => {
    const io: Io = processIo();
    process.exitCode = await withClient(name, opts, io, async (c) => {
      const proc = opts.proc ?? '/proc';
      const from = placeOf(fromArg, c, proc);
      const to = placeOf(toArg, c, proc);
      if (to.write === undefined && opts.n !== true) throw new UsageError(`${to.name} cannot be changed (use -n to print the operations)`);
      const [fromText, toText] = await Promise.all([from.read(), to.read()]);
      const model = (place: Place, text: string): NsModel => {
        try {
          return modelOfText(text);
        } catch (e) {
          if (e instanceof NsError) throw new NsError(e.code, `${place.name}: ${e.message}`);
          throw e;
        }
      };
      const fromModel = model(from, fromText);
      const toModel = model(to, toText);
      const ops = diffNamespaces(toModel, combine(fromModel, toModel), { bases: labelBases(toModel) });
      const text = formatOps(ops);
      const apply = opts.n !== true && ops.length > 0;
      if (apply) await to.write!(text);
      if (opts.json === true) printJson(io, { from: from.name, to: to.name, operations: text.split('\n').filter((l) => l !== ''), applied: apply }, true);
      else io.out(text);
    });
  });
}

interface RerootOptions extends RemoteOptions {
  profile?: string;
  mount?: string;
  spec?: string;
  ns?: string;
  keep?: string[];
  proc?: string;
}

/** Registers cpns, addns, subns and reroot on `program`. */
export function register(program: Command): void {
  register1(program, 'cpns', 'make a namespace a copy of another (ANTS cpns), by the shortest list of operations', (from) => from);
  register1(program, 'addns', "add to a namespace what another has and it lacks (ANTS addns)", (from, to) => addModels(to, from));
  register1(program, 'subns', 'take away from a namespace what another has (ANTS subns)', (from, to) => subtractModels(to, from));
  remoteCommand(
    program
      .command('reroot')
      .description("replace a live session's root with another namespace in one step, keeping the paths named with -k (ANTS rerootwin)")
      .argument('<session>', 'the session: N or /proc/N')
      .option('--profile <name>', "the new root: a profile's namespace (its capabilities are granted to the session)")
      .option('--mount <label>', 'the new root: a capability the session holds, e.g. an imported namespace')
      .option('--spec <path>', 'with --mount: a path inside it')
      .option('--ns <file>', "the new root: namespace text ('-' for stdin), naming capabilities the session holds")
      .option('-k, --keep <path>', 'a path to keep as it is (repeat)', (v: string, acc: string[] = []) => [...acc, v])
      .option('--proc <path>', 'where the sessions tree is mounted in your namespace', '/proc'),
  ).action(async (sessionArg: string, opts: RerootOptions) => {
    const io = processIo();
    process.exitCode = await withClient('reroot', opts, io, async (c) => {
      const sources = [opts.profile, opts.mount, opts.ns].filter((x) => x !== undefined);
      if (sources.length !== 1) throw new UsageError('give exactly one of --profile, --mount, --ns');
      if (opts.spec !== undefined && opts.mount === undefined) throw new UsageError('--spec goes with --mount');
      const m = /^(?:(.*)\/)?(\d+)$/.exec(sessionArg);
      if (m === null) throw new UsageError(`${sessionArg}: expected a session, N or /proc/N`);
      const dir = `${m[1] ?? opts.proc ?? '/proc'}/${m[2]}`;
      const keep = (opts.keep ?? []).map((k) => {
        if (/\s/.test(k)) throw new UsageError(`-k ${k}: a path to keep may not contain blanks`);
        return `-k ${k} `;
      });
      let line: string;
      if (opts.profile !== undefined) line = `reroot ${keep.join('')}profile ${opts.profile}\n`;
      else if (opts.mount !== undefined) line = `reroot ${keep.join('')}mount ${opts.mount}${opts.spec !== undefined ? ` ${opts.spec}` : ''}\n`;
      else {
        let text: string;
        try {
          text = opts.ns === '-' ? await readStdin() : await readFile(opts.ns!, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read ${opts.ns}: ${(e as Error).message}`);
        }
        line = `reroot ${keep.join('')}ns\n${text}`;
      }
      await c.writeFile(`${dir}/ctl`, Buffer.from(line, 'utf8'));
      const after = Buffer.from(await c.readFile(`${dir}/ns`)).toString('utf8');
      if (opts.json === true) printJson(io, { session: dir, ns: after }, true);
      else io.out(after);
    });
  });
}
