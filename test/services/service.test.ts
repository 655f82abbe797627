/**
 * `type: service`: programs capns starts and supervises, each with its own namespace and
 * no ambient authority, offering capabilities other profiles mount. Real processes (the
 * test program is written with the service library), real sockets.
 */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Clock, Echo } from '../../src/gen/demo.js';
import { parseManifest } from '../../src/manifest/index.js';
import { RpcError } from '../../src/rpc/index.js';
import { clientOf, LogLines, serveManifest, until } from './harness.js';

const PROGRAM = resolve(import.meta.dirname, 'programs', 'echo-service.ts');
const TSX = import.meta.resolve('tsx');

/** A service entry running the test program with `flags`. */
function service(name: string, flags: string[], extra = '', offers = '{ echo: Echo }'): string {
  const args = ['--import', TSX, PROGRAM, ...flags].map((a) => JSON.stringify(a)).join(', ');
  return `  ${name}: { type: service, command: ${JSON.stringify(process.execPath)}, args: [${args}], offers: ${offers}${extra === '' ? '' : `, ${extra}`} }`;
}

function manifest(caps: string[], mounts: string[], extraProfiles = ''): string {
  return `
version: 1
capabilities:
  clock: { type: demo.clock }
${caps.join('\n')}
profiles:
  local:
    auth: { loopback: true }
    namespace:
      - { mount: clock, at: /svc/clock }
${mounts.map((m) => `      - ${m}`).join('\n')}
${extraProfiles}
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`;
}

async function echo(c: Awaited<ReturnType<typeof clientOf>>, path: string, text: string): Promise<string> {
  using e = await c.resolve(path, Echo);
  return (await e.echo((p) => (p.text = text)).promise()).text;
}

async function failure(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RpcError, String(e));
    return e;
  }
  assert.fail('expected a failure');
}

async function clockStillWorks(c: Awaited<ReturnType<typeof clientOf>>): Promise<void> {
  using clock = await c.resolve('/svc/clock', Clock);
  assert.ok((await clock.now().promise()).unixMillis > 0n);
}

test('service: started with its own namespace and nothing else (env: PATH and CAPNS_SERVICE*), offers Echo, called by a profile that mounts it; its output is logged under its name', async (t) => {
  const log = new LogLines();
  const s = await serveManifest(
    t,
    manifest([service('echod', ['--clock'], 'profile: echod, env: { GREETING: hello }', '{ echo: Echo, clock: Clock }')], ['{ mount: echod/echo, at: /svc/echo }', '{ mount: echod/clock, at: /svc/time }'], `
  echod:
    namespace:
      - { mount: clock, at: /svc/clock }`),
    { log },
  );
  const c = await clientOf(t, s);
  // The first call waits for the program to offer (bounded by readyTimeoutMs).
  assert.match(await echo(c, '/svc/echo', 'hi'), /^hi \(pid \d+\)$/);
  using time = await c.resolve('/svc/time', Clock);
  assert.match((await time.now().promise()).iso, /^via the service's namespace: /);
  await until(() => log.find(/^namespace: /).length > 0, 5000, 'the namespace line');
  const line = (msg: RegExp) => log.find(msg)[0]!;
  assert.equal(line(/^namespace: /)['msg'], 'namespace: svc');
  assert.equal(line(/^namespace: /)['service'], 'echod');
  assert.equal(line(/^env: /)['msg'], 'env: CAPNS_SERVICE CAPNS_SERVICE_FD GREETING PATH');
  assert.equal(line(/^a line on stderr$/)['stream'], 'stderr');
  assert.equal(log.find(/^service ready$/).length, 1);
  const [svc] = s.services();
  assert.equal(svc!.status().state, 'ready');
});

test('service: a crash fails calls fast naming the service and the exit; it is restarted with backoff and calls work again through the same binding', async (t) => {
  const s = await serveManifest(t, manifest([service('flaky', ['--exit-after-calls', '1'])], ['{ mount: flaky, at: /svc/echo }']));
  const c = await clientOf(t, s);
  using e = await c.resolve('/svc/echo', Echo);
  const first = (await e.echo((p) => (p.text = 'a')).promise()).text;
  const [svc] = s.services();
  await until(() => svc!.status().state !== 'ready', 5000, 'the crash is seen');
  if (svc!.status().state === 'backoff') {
    const err = await failure(e.echo((p) => (p.text = 'b')).promise());
    assert.equal(err.type, 'disconnected');
    assert.match(err.message, /^service 'flaky': 'echo': service 'flaky' exited with status 1; restarting in \d+ ms$/);
  }
  await until(() => svc!.status().state === 'ready', 10_000, 'restarted');
  const second = (await e.echo((p) => (p.text = 'c')).promise()).text;
  assert.notEqual(first.replace(/^a/, ''), second.replace(/^c/, ''), 'another process answers');
  assert.equal(svc!.status().starts, 2);
  await clockStillWorks(c);
});

test('service: one that exits at once is restarted until its start limit, then failed; calls fail fast saying so, the rest keeps serving', async (t) => {
  const s = await serveManifest(t, manifest([service('dies', ['--exit', '3'], 'startLimit: { burst: 3, intervalMs: 60000 }, backoffMaxMs: 50')], ['{ mount: dies, at: /svc/echo }']));
  const [svc] = s.services();
  await until(() => svc!.status().state === 'failed', 20_000, 'failed');
  assert.equal(svc!.status().starts, 3);
  const c = await clientOf(t, s);
  const err = await failure(echo(c, '/svc/echo', 'x'));
  assert.equal(err.type, 'disconnected');
  assert.match(err.message, /service 'dies' failed: started 3 times within 60000 ms; not restarted until the manifest is reloaded \(last: service 'dies' exited with status 3\)/);
  await clockStillWorks(c);
});

test('service: exit status 125 means do not restart; restart: no leaves a crashed service down', async (t) => {
  const s = await serveManifest(t, manifest([service('refuses', ['--exit', '125']), service('once', ['--exit-after-calls', '1'], 'restart: no')], ['{ mount: refuses, at: /svc/a }', '{ mount: once, at: /svc/b }']));
  const [refuses, once] = s.services();
  await until(() => refuses!.status().state === 'failed', 10_000, 'refuses failed');
  assert.equal(refuses!.status().starts, 1);
  assert.match(refuses!.status().reason, /exited with status 125: the program asked not to be restarted/);
  const c = await clientOf(t, s);
  await echo(c, '/svc/b', 'x');
  await until(() => once!.status().state === 'exited', 10_000, 'once exited');
  const err = await failure(echo(c, '/svc/b', 'y'));
  assert.match(err.message, /service 'once' exited with status 1$/);
  assert.equal(once!.status().starts, 1);
});

test('service: one that never offers is stopped after readyTimeoutMs and counts as a failed start; the calls that waited fail disconnected', async (t) => {
  const s = await serveManifest(t, manifest([service('mute', ['--no-offer'], 'readyTimeoutMs: 800, startLimit: { burst: 1, intervalMs: 60000 }')], ['{ mount: mute, at: /svc/echo }']));
  const c = await clientOf(t, s);
  const err = await failure(echo(c, '/svc/echo', 'x'));
  assert.equal(err.type, 'disconnected');
  assert.match(err.message, /service 'mute'/);
  const [svc] = s.services();
  await until(() => svc!.status().state === 'failed', 10_000, 'failed');
  assert.match(svc!.status().reason, /did not offer echo within 800 ms/);
});

test('service: offering the wrong interface is refused (interfaceMismatch) and reported with the service name and why', async (t) => {
  const log = new LogLines();
  const s = await serveManifest(t, manifest([service('wrong', ['--wrong'], 'startLimit: { burst: 1, intervalMs: 60000 }')], ['{ mount: wrong, at: /svc/echo }']), { log });
  const [svc] = s.services();
  await until(() => svc!.status().state === 'failed', 10_000, 'failed');
  const said = log.find(/^runService: /)[0]!;
  assert.equal(said['service'], 'wrong');
  assert.match(String(said['msg']), /'echo' on service 'wrong' must be a Echo: it is Clock/);
});

test('service: a command that does not exist is reported with its name and the reason', async (t) => {
  const s = await serveManifest(t, manifest(['  ghost: { type: service, command: no-such-program-here, offers: { echo: Echo }, startLimit: { burst: 1, intervalMs: 60000 } }'], ['{ mount: ghost, at: /svc/echo }']));
  const [svc] = s.services();
  await until(() => svc!.status().state === 'failed', 10_000, 'failed');
  assert.match(svc!.status().reason, /cannot start no-such-program-here: ENOENT/);
});

test('service: shutdown sends SIGTERM, then SIGKILL after stopTimeoutMs to a program that ignores it', async (t) => {
  const log = new LogLines();
  const s = await serveManifest(t, manifest([service('stubborn', ['--ignore-term'], 'stopTimeoutMs: 300')], ['{ mount: stubborn, at: /svc/echo }']), { log });
  const c = await clientOf(t, s);
  await echo(c, '/svc/echo', 'x');
  const [svc] = s.services();
  const pid = svc!.status().pid!;
  await c.close();
  await s.close();
  assert.equal(svc!.status().state, 'stopped');
  assert.equal(log.find(/^SIGTERM ignored$/).length, 1);
  assert.equal(log.find(/did not stop on SIGTERM; killing it/).length, 1);
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
});

test('service: reload restarts a changed service and leaves an unchanged one alone', async (t) => {
  const text = (flag: string) => manifest([service('a', []), service('b', [flag])], ['{ mount: a, at: /svc/a }', '{ mount: b, at: /svc/b }']);
  const s = await serveManifest(t, text('--x'));
  const [a, b] = s.services();
  await until(() => a!.status().state === 'ready' && b!.status().state === 'ready', 10_000, 'both ready');
  const pidA = a!.status().pid;
  const pidB = b!.status().pid;
  const report = await s.reload(parseManifest(text('--y'), { file: 'm.yaml', env: {} }));
  assert.deepEqual(report.capabilitiesChanged, ['b']);
  const [a2, b2] = s.services();
  assert.equal(a2, a);
  assert.equal(a2!.status().pid, pidA);
  assert.equal(b!.status().state, 'stopped');
  await until(() => b2!.status().state === 'ready', 10_000, 'new b ready');
  assert.notEqual(b2!.status().pid, pidB);
  const c = await clientOf(t, s);
  assert.match(await echo(c, '/svc/b', 'new'), /^new \(pid \d+\)$/);
});

test("service: a run's namespaces close when its connection ends, even one bound into itself: its grants leave the table", async (t) => {
  const log = new LogLines();
  const s = await serveManifest(t, manifest([service('selfish', ['--self-bind', '--exit-after-calls', '1'], 'restart: no, profile: local')], ['{ mount: selfish, at: /svc/selfish }']), { log });
  const c = await clientOf(t, s);
  const grants = (): number => s.captable.list('selfish@').length;
  await until(() => log.find(/^self-bound: /).length > 0, 10_000, 'the service bound its namespace into itself');
  assert.match(String(log.find(/^self-bound: /)[0]!['msg']), /\bself\b/);
  assert.ok(grants() > 0);
  await echo(c, '/svc/selfish', 'x');
  await until(() => s.services()[0]!.status().state === 'exited', 10_000, 'exited');
  await until(() => grants() === 0, 5_000, "the run's grants left the table");
});

test("service: a run's namespace has the manifest's limits (maxBinds), as an rpc connection's has", async (t) => {
  const log = new LogLines();
  // The profile binds two capabilities (clock, the service's own offer): two more fit.
  const text = manifest([service('binder', ['--binds', '5'], 'restart: no, profile: local')], ['{ mount: binder, at: /svc/binder }']) + 'limits:\n  maxBinds: 4\n';
  await serveManifest(t, text, { log });
  await until(() => log.find(/^binds: /).length > 0, 10_000, 'the binds line');
  const line = String(log.find(/^binds: /)[0]!['msg']);
  assert.match(line, /^binds: 2, refused: .*\b4\b/, line);
});

test('service: a line longer than 8 KiB is cut in the log', async (t: TestContext) => {
  const log = new LogLines();
  const s = await serveManifest(t, manifest([service('loud', ['--long-line'])], ['{ mount: loud, at: /svc/echo }']), { log });
  const c = await clientOf(t, s);
  await echo(c, '/svc/echo', 'x');
  const cut = log.find(/ \[cut\]$/);
  assert.ok(cut.length >= 1);
  assert.ok(cut.every((l) => String(l['msg']).length <= 8192 + 6));
});
