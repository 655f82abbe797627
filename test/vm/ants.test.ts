/**
 * The ANTS toolkit (docs/ants.md) with the Linux kernel's 9P client, in the qemu VM of
 * docs/testing-vm.md: one boot, scenario test/vm/scenario-ants.sh, against a real
 * `capns serve` process whose 9P listener gives the kernel (which never sends Tauth) a
 * loopback profile holding the sessions tree and a hub's files.
 *
 * - Writable ns (ANTS section IV): this process holds an RPC session of profile `user`;
 *   the guest finds it in /proc, writes namespace(6) lines into its `ns` with the shell
 *   (`>>` and `>`), and this session's next lookups and walks see the new bindings. Lines
 *   the session may not run fail in the guest (write error, non-zero status) and change
 *   nothing.
 * - Hubs (ANTS section V): the guest's `echo ... >>` into a channel reaches a typed Hub
 *   read waiting here. Two guest followers of a channel, a shell `read` loop and `cat`,
 *   print what this process appends after they joined and not what came before; `cat`
 *   only in whole buffers, since v9fs repeats a Tread until the caller's buffer is full
 *   (docs/ants.md). Killing `cat` in its endless read (the kernel flushes the Tread)
 *   leaves no reader behind.
 *
 * Skips without qemu, the kernel package or busybox-static, except under CI (CI=true).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { connect, type CapnsClient } from '../../src/client/index.js';
import { Hub, type Hub$Client } from '../../src/gen/hub.js';
import { withSignal } from '../../src/rpc/index.js';
import { buildInitramfs, runV9fsVm, type VmRun } from '../support/vm.js';
import { assertVmChecks, vmPrereqsOrSkip } from '../support/vm-checks.js';
import { startCapnsServe } from '../support/vm-servers.js';

const USER_TOKEN = 'vm-ants-user-token-0123456789';

/**
 * `kernel` is what the 9P listener gives a client presenting nothing on loopback (qemu's
 * user network connects from the host's 127.0.0.1); `user` is this process's session.
 */
const MANIFEST = `
version: 1
capabilities:
  files: { type: ram }
  other: { type: ram }
  clock: { type: demo.clock }
  proc: { type: sessions }
  hub: { type: hub, channels: [fromvm, tovm] }
  hubfs: { type: hubfs, hub: hub }
profiles:
  user:
    auth: { tokens: [${USER_TOKEN}] }
    namespace:
      - { mount: files, at: /files, create: true }
      - { mount: other, at: /other }
      - { mount: clock, at: /svc/clock, require: Clock }
      - { mount: hub, at: /svc/hub }
  kernel:
    auth: { loopback: true }
    namespace:
      - { mount: proc, at: /proc }
      - { mount: hubfs, at: /n/hub }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
  - { protocol: 9p, address: "tcp!127.0.0.1!0", profile: kernel }
`;

const versions = ['9p2000.L', '9p2000'];

/** What scenario-ants.sh reports for each version, in order. */
const checks = [
  'mount',
  'sessions_find',
  'ns_read',
  'ns_write',
  'ns_refused_declared',
  'ns_refused_unheld',
  'ns_refused_syntax',
  'hub_append',
  'hub_backlog',
  'hub_joined',
  'hub_follow',
  'hub_cat',
  'hub_released',
  'umount',
];

/** qemu's hard limit: one boot, 25-120 s on this machine, more under load. */
const vmTimeoutMs = 420_000;

/** A namespace text as the guest prints it on one RESULT line. */
const oneLine = (text: string): string => text.replace(/\n+$/, '').replaceAll('\n', '|');

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The detail of a check after its `t=...` field (what the guest's check printed). */
function said(run: VmRun, version: string, name: string): string {
  const r = run.results.find((x) => x.version === version && x.name === name);
  return (r?.detail ?? '').replace(/^t=\S+ ?/, '').replace(/\|$/, '');
}

/** Follows `channel` from `from` with typed reads until `bytes` bytes came. */
async function follow(
  hub: Hub$Client,
  channel: string,
  from: bigint,
  bytes: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  let at = from;
  while (got < bytes) {
    const r = (
      await hub
        .read((p) => {
          p.channel = channel;
          p.from = at;
          p.max = 65536;
        })
        .promise()
    ).result;
    if (!r._isOk) throw new Error(`read ${channel}: ${r.err.message}`);
    assert.equal(r.ok.missed, 0n);
    const piece = Buffer.from(r.ok.data.toUint8Array());
    if (piece.length === 0) throw new Error(`channel ${channel} went away`);
    parts.push(piece);
    got += piece.length;
    at = r.ok.next;
  }
  return Buffer.concat(parts);
}

async function channelInfo(
  hub: Hub$Client,
  name: string,
): Promise<{ readers: number; writes: bigint; end: bigint }> {
  const c = (await hub.channels().promise()).channels.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no channel ${name}`);
  return { readers: c.readers, writes: c.writes, end: c.end };
}

async function write(hub: Hub$Client, channel: string, text: string | Buffer): Promise<void> {
  const data = Buffer.from(text);
  const r = (
    await hub
      .write((p) => {
        p.channel = channel;
        p._initData(data.length).copyBuffer(data);
      })
      .promise()
  ).result;
  if (r._isErr) throw new Error(`write ${channel}: ${r.err.message}`);
}

/** The lines this process appends to tovm for `version`'s followers, END last. */
const toVm = (version: string): string[] => [
  `to ${version}: one\n`,
  `to ${version}: two\n`,
  'END\n',
];

/**
 * All this process appends to tovm for `version`: its lines, then filler up to 256 KiB,
 * a multiple of any read buffer `cat` may use, so that cat's reads (which v9fs completes
 * only when full) take all of it.
 */
function toVmStream(version: string): Buffer {
  const lines = Buffer.from(toVm(version).join(''));
  const filler = Buffer.alloc((256 << 10) - lines.length);
  for (let i = 0; i < filler.length; i++) filler[i] = 0x61 + ((i * 7 + version.length) % 26);
  return Buffer.concat([lines, filler]);
}

/**
 * Once the guest says its two followers of tovm are started, waits until the hub counts
 * them as readers (the open is what fixes where each joins), then appends the version's
 * lines one write each, and the filler in writes under the hub's 64 KiB maxWriteBytes.
 */
async function feed(hub: Hub$Client, version: string): Promise<void> {
  const end = Date.now() + 60_000;
  while ((await channelInfo(hub, 'tovm')).readers < 2) {
    if (Date.now() > end)
      throw new Error(`the guest's followers of tovm (${version}) never became readers`);
    await delay(50);
  }
  for (const line of toVm(version)) await write(hub, 'tovm', line);
  const rest = toVmStream(version).subarray(Buffer.byteLength(toVm(version).join('')));
  for (let at = 0; at < rest.length; at += 60_000)
    await write(hub, 'tovm', rest.subarray(at, at + 60_000));
}

test(
  "ANTS with the Linux kernel 9P client: a shell writes a live session's ns and the session sees it; >> and cat on hub channels meet typed Hub clients",
  { timeout: 600_000 },
  async (t) => {
    const p = vmPrereqsOrSkip(t);
    if (p === undefined) return;
    const server = await startCapnsServe(MANIFEST);
    t.after(() => server.stop());
    const user: CapnsClient = await connect(server.rpc, { token: USER_TOKEN });
    t.after(() => user.close());

    const hello = 'reached through the binding the guest wrote\n';
    await user.writeFile('/files/hello', Buffer.from(hello));
    const before = await user.describe();
    for (const v of versions)
      await assert.rejects(user.lookup(`/n/${v}`), /does not exist|not found/);

    const hub = new Hub.Client((await user.resolveAny('/svc/hub')).client);
    await write(hub, 'tovm', 'before the join\n');
    // A typed reader of fromvm, waiting before the guest boots.
    const fromVm = versions.map((v) => `appended by ${v}\nsecond write by ${v}\n`).join('');
    const stop = new AbortController();
    const received = follow(withSignal(hub, stop.signal), 'fromvm', 0n, Buffer.byteLength(fromVm));
    received.catch(() => undefined); // awaited below, unless the boot failed first

    const feeds: Promise<void>[] = [];
    const run = await runV9fsVm(p, buildInitramfs(p), {
      port: server.port,
      versions,
      scenario: 'ants',
      timeoutMs: vmTimeoutMs,
      onLine: (line) => {
        const m = /^RESULT (\S+) hub_joined ok/.exec(line);
        if (m !== null) feeds.push(feed(hub, m[1]!));
      },
    });
    t.diagnostic(`${run.elapsedMs} ms, accel ${run.accel}, boots ${run.boots}`);
    const fed = await Promise.allSettled(feeds);
    assertVmChecks(
      run,
      versions,
      checks,
      () => server.output(),
      fed.flatMap((f) => (f.status === 'rejected' ? [`feeding tovm: ${String(f.reason)}`] : [])),
    );

    // 1. Writable ns. The guest first read the session's namespace as this process sees it.
    assert.equal(said(run, versions[0]!, 'ns_read'), oneLine(before));
    const after = await user.describe();
    for (const v of versions) {
      // This session's next lookup and walk see what the guest wrote: a bind, then a union.
      assert.equal((await user.lookup(`/n/${v}`)).label, 'other');
      assert.deepEqual(
        (await user.members(`/n/${v}`)).map((m) => m.label),
        ['other', 'files'],
      );
      assert.equal(Buffer.from(await user.readFile(`/n/${v}/hello`)).toString(), hello);
    }
    // And the guest read back the namespace the session has now (the last write was the
    // second version's; nothing after it changed anything).
    assert.equal(said(run, versions.at(-1)!, 'ns_write'), oneLine(after));
    assert.deepEqual(
      after
        .split('\n')
        .filter((l) => !before.split('\n').includes(l))
        .sort(),
      versions.flatMap((v) => [`mount other /n/${v}`, `mount -a files /n/${v}`]).sort(),
      "the session gained exactly the guest's bindings",
    );
    // The refused lines: a write error in the guest, with the errno of the failure's code
    // (docs/ants.md), and the reason in status.
    for (const v of versions) {
      assert.match(
        said(run, v, 'ns_refused_declared'),
        /^rc=[1-9]\d* err=.*Permission denied.* lasterror line 1, column 13: '\/svc\/clock' is declared to hold a Clock/,
      );
      assert.match(
        said(run, v, 'ns_refused_unheld'),
        /^rc=[1-9]\d* err=.*No such file or directory.* lasterror line 1, column 7: no capability is labelled 'proc'$/,
      );
      assert.match(
        said(run, v, 'ns_refused_syntax'),
        /^rc=[1-9]\d* err=.*Invalid argument.* lasterror line 1, column 8: unknown flag 'q'/,
      );
    }
    await user.call('/svc/clock', 'now', {});
    await assert.rejects(user.lookup('/n/proc'), /does not exist|not found/);

    // 2. Hubs. The kernel's appends reached the typed reader that waited for them, whole
    // and in order.
    const got = await Promise.race([received, delay(10_000).then(() => undefined)]);
    stop.abort();
    assert.equal(got?.toString(), fromVm);
    for (const v of versions) {
      // Both followers printed what came after they joined, not the line from before.
      assert.equal(said(run, v, 'hub_follow'), oneLine(toVm(v).join('')));
      const cat = /^bytes=(\d+) sha256=([0-9a-f]{64})$/.exec(said(run, v, 'hub_cat'));
      assert.ok(cat !== null, `hub_cat: ${said(run, v, 'hub_cat')}`);
      const stream = toVmStream(v);
      t.diagnostic(`${v}: cat printed ${cat[1]} of ${stream.length} bytes`);
      assert.equal(Number(cat[1]), stream.length, 'cat printed all that came after it joined');
      assert.equal(cat[2], sha256(stream));
      assert.equal(said(run, v, 'hub_backlog'), 'before the join');
    }
    const tovm = await channelInfo(hub, 'tovm');
    assert.equal(tovm.readers, 0, 'the killed cat left no reader on tovm');
    assert.equal(tovm.end, BigInt(16 + (256 << 10) * versions.length));
    assert.equal((await channelInfo(hub, 'fromvm')).writes, BigInt(2 * versions.length));
  },
);
