/**
 * `capns captable ls [--holder H]` and `capns captable revoke ID... | --holder H`: the
 * capability table of a running `capns serve` — every grant (a capability handed to a
 * connection, with its holder and call count) — and revoking grants, through the
 * CapTable capability of your namespace (only an administrator's profile mounts one;
 * docs/security.md). The same table the HTTP API and the web page show.
 */
import type { Command } from 'commander';
import { NsError } from '../../errors.js';
import { eachPath, hexId, printJson, processIo, remoteCommand, UsageError, withClient, type RemoteOptions } from './remote.js';

interface CaptableOptions extends RemoteOptions {
  captable?: string;
  holder?: string;
}

const CAPTABLE_OPTION = ['--captable <path>', 'where your namespace holds the CapTable (default: the first mount point that holds one)'] as const;

/** `capns captable ls` as text: aligned columns under a header. */
function table(rows: ReadonlyArray<readonly string[]>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** Registers `capns captable` on `program`. */
export function register(program: Command): void {
  const captable = program
    .command('captable')
    .description("the capability table of a running server: list grants, revoke them (needs a CapTable in your namespace, as an administrator's profile has)");

  remoteCommand(
    captable
      .command('ls')
      .description('list the grants: id, label, interface, holder, calls made through it, live or revoked')
      .option(...CAPTABLE_OPTION)
      .option('--holder <holder>', 'only this holder\'s grants ("alice@rpc#3")'),
    'print one line of JSON: [{id, interfaceId, interface, label, holder, calls, revoked}]',
  ).action(async (opts: CaptableOptions) => {
    const io = processIo();
    process.exitCode = await withClient('captable ls', opts, io, async (c) => {
      const { capTableOf } = await import('./captable-of.js');
      using t = await capTableOf(c, opts.captable);
      const entries = (
        await t
          .list((p) => {
            p.holder = opts.holder ?? '';
          })
          .promise()
      ).entries.toArray();
      const grants = entries.map((e) => ({
        id: e.id.toString(),
        interfaceId: hexId(e.interfaceId),
        interface: c.schema.interfaceName(e.interfaceId),
        label: e.label,
        holder: e.holder,
        calls: e.calls.toString(),
        revoked: e.revoked,
      }));
      if (opts.json === true) {
        printJson(io, grants, true);
        return;
      }
      if (grants.length === 0) {
        io.out(opts.holder !== undefined ? `no grants of holder '${opts.holder}'\n` : 'no grants\n');
        return;
      }
      io.out(table([['ID', 'LABEL', 'INTERFACE', 'HOLDER', 'CALLS', 'STATE'], ...grants.map((g) => [g.id, g.label, g.interface, g.holder, g.calls, g.revoked ? 'revoked' : 'live'])]));
    });
  });

  remoteCommand(
    captable
      .command('revoke')
      .description("revoke grants: the holder's next call through each (and through everything obtained through it) fails revoked at once")
      .argument('[id...]', 'grant ids, as `capns captable ls` prints them (an id that fails is reported and the others still revoked)')
      .option(...CAPTABLE_OPTION)
      .option('--holder <holder>', 'revoke every grant of this holder ("alice@rpc#3"), or of every connection of a profile ("alice@")'),
    'print one line of JSON: {revoked: [ids]} or {holder, count}',
  ).action(async (ids: string[], opts: CaptableOptions) => {
    const io = processIo();
    process.exitCode = await withClient('captable revoke', opts, io, async (c) => {
      if ((ids.length === 0) === (opts.holder === undefined)) throw new UsageError('give grant ids, or --holder HOLDER (not both)');
      if (opts.holder === '') throw new UsageError('--holder: expected a holder ("alice@rpc#3") or a profile ("alice@")');
      for (const id of ids) if (!/^[1-9][0-9]{0,19}$/.test(id) || BigInt(id) >= 1n << 64n) throw new UsageError(`'${id}' is not a grant id (a decimal number, as capns captable ls prints it)`);
      const [{ capTableOf }, { fromFailure }] = await Promise.all([import('./captable-of.js'), import('../../failure.js')]);
      using t = await capTableOf(c, opts.captable);
      if (opts.holder !== undefined) {
        const holder = opts.holder;
        const { count } = await t
          .revokeHolder((p) => {
            p.holder = holder;
          })
          .promise();
        if (opts.json === true) printJson(io, { holder, count }, true);
        else io.out(`revoked ${count} grant${count === 1 ? '' : 's'} of '${holder}'\n`);
        return;
      }
      const { results, status } = await eachPath('captable revoke', ids, c, io, opts, async (id) => {
        const r = (
          await t
            .revoke((p) => {
              p.id = BigInt(id);
            })
            .promise()
        ).result;
        if (r._isErr) {
          const e = fromFailure(r.err);
          throw e instanceof NsError && e.code === 'NS_ERR_NOT_FOUND' ? new NsError('NS_ERR_NOT_FOUND', `no grant ${id} in the table`) : e;
        }
        return id;
      });
      const revoked = results.filter((id) => id !== undefined);
      if (opts.json === true) printJson(io, { revoked }, true);
      else for (const id of revoked) io.out(`revoked grant ${id}\n`);
      return status;
    });
  });
}
