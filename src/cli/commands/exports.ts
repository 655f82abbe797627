/**
 * `capns exports` and `capns exports revoke ADDRESS`: the exports a running `capns serve`
 * serves, and revoking one, through the CapTable capability of your namespace (only an
 * administrator's profile mounts one: there is no other admin switch).
 */
import type { Command } from 'commander';
import { printJson, processIo, remoteCommand, withClient, type RemoteOptions } from './remote.js';

interface ExportsOptions extends RemoteOptions {
  captable?: string;
}

/** Registers `capns exports` on `program`. */
export function register(program: Command): void {
  const exportsCmd = remoteCommand(
    program
      .command('exports')
      .description('list the exports of a running server (needs a CapTable in your namespace)')
      .option('--captable <path>', 'where your namespace holds the CapTable (default: the first mount point that holds one)'),
  ).action(async (opts: ExportsOptions) => {
    const io = processIo();
    process.exitCode = await withClient('exports', opts, io, async (c) => {
      const { capTableOf } = await import('./captable-of.js');
      using t = await capTableOf(c, opts.captable);
      const list = (await t.exports().promise()).exports.toArray().map((e) => ({
        address: e.address,
        profile: e.profile,
        root: e.root,
        readOnly: e.readOnly,
        filtered: e.filtered,
        peers: e.peers,
        revoked: e.revoked,
      }));
      if (opts.json === true) {
        printJson(io, list, true);
        return;
      }
      if (list.length === 0) io.out('no exports\n');
      for (const e of list) {
        const flags = [e.readOnly ? 'read-only' : 'writable', ...(e.filtered ? ['filtered'] : []), ...(e.revoked ? ['REVOKED'] : [])];
        io.out(`${e.address}\t${e.profile}:${e.root}\t${flags.join(',')}\t${e.peers} peer${e.peers === 1 ? '' : 's'}\n`);
      }
    });
  });
  exportsCmd
    .command('revoke')
    .description(
      'revoke an export: everything it handed out, to every peer, fails at once; no peer gets in until a reload (takes the options of `capns exports`: --server, --token, --captable, --json)',
    )
    .argument('<address>', 'the address the export listens on, as `capns exports` prints it (tcp!HOST!PORT)')
    .option('--reason <text>', 'what the peers are told', 'revoked by an administrator')
    .action(async (address: string, _local: unknown, cmd: Command) => {
      // The connection options are the parent's (`capns exports --server ... revoke ADDR`,
      // or after the address: commander gives them to the parent either way).
      const opts = cmd.optsWithGlobals<ExportsOptions & { reason: string }>();
      const io = processIo();
      process.exitCode = await withClient('exports revoke', opts, io, async (c) => {
        const [{ capTableOf }, { fromFailure }] = await Promise.all([import('./captable-of.js'), import('../../failure.js')]);
        using t = await capTableOf(c, opts.captable);
        const r = (
          await t
            .revokeExport((p) => {
              p.address = address;
              p.reason = opts.reason;
            })
            .promise()
        ).result;
        if (r._isErr) throw fromFailure(r.err);
        if (opts.json === true) printJson(io, { revoked: address }, true);
        else io.out(`revoked ${address}\n`);
      });
    });
}
