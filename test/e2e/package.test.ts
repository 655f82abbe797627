/**
 * capns as a dependency (docs/client.md, "Installing"): `npm pack`, then `npm install
 * ./capns-*.tgz` in an empty project; from there the client example and `capns serve`
 * run, with the capnp-es fixes of patches/ in force, and the project's own node_modules
 * hold no capnp-es of ours (the patched copy travels inside the package, as a bundled
 * dependency).
 *
 * Slow (a build, a pack and an install: a minute or two); npm's cache answers offline
 * once populated, else the registry is asked.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import ts from 'typescript';
import { root } from '../client/serve-process.js';

const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test('npm pack, npm install of the tarball in an empty project: the client example and capns serve run from there, capnp-es fixed', { timeout: 600_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capns-pack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { ...process.env, NODE_OPTIONS: '', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

  await run(npm, ['pack', '--pack-destination', dir], { cwd: root, env, maxBuffer: 16 << 20 });
  const tarball = (await readdir(dir)).find((f) => /^capns-.*\.tgz$/.test(f));
  assert.ok(tarball !== undefined, 'npm pack made a tarball');

  const app = join(dir, 'app');
  await run('mkdir', [app]);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  await run(npm, ['install', '--prefer-offline', join(dir, tarball)], { cwd: app, env, maxBuffer: 16 << 20 });

  // The patched capnp-es is the package's own; the project's node_modules have none.
  assert.equal(existsSync(join(app, 'node_modules', 'capnp-es')), false, "the consumer's node_modules are not touched");
  const capnsDir = join(app, 'node_modules', 'capns');
  const capnpEs = createRequire(join(capnsDir, 'package.json')).resolve('capnp-es');
  assert.ok(capnpEs.startsWith(join(capnsDir, 'node_modules', 'capnp-es')), capnpEs);

  // Two of the fixes, checked through the installed code (test/capnp-es-patches.test.ts has all).
  await writeFile(
    join(app, 'fixes.mjs'),
    `import * as $ from ${JSON.stringify(capnpEs)};
import { StatChange } from ${JSON.stringify(join(capnsDir, 'dist/gen/common.js'))};
import { FileServer_AttachResult_Ok } from ${JSON.stringify(join(capnsDir, 'dist/gen/fileserver.js'))};
const m = new $.Message();
const ok = m.initRoot(FileServer_AttachResult_Ok);
m.addCap({ call() { throw new Error('called'); }, close() {} });
console.log(JSON.stringify({ nullCap: ok.root.client instanceof $.ErrorClient, mode: new $.Message().initRoot(StatChange).mode }));
`,
  );
  const fixes = JSON.parse((await run(process.execPath, ['fixes.mjs'], { cwd: app, env })).stdout) as { nullCap: boolean; mode: number };
  assert.deepEqual(fixes, { nullCap: true, mode: 0xffffffff });

  // capns serve from the installed package (the bin npm linked), on free ports.
  const serve = spawn(join(app, 'node_modules', '.bin', 'capns'), ['serve', '--rpc-port', '0', '--9p-port', '0', '--http-port', '0', '--log-level', 'warn'], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => serve.on('exit', r));
  t.after(async () => {
    serve.kill('SIGTERM');
    await exited;
  });
  let out = '';
  let err = '';
  serve.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const rpc = await new Promise<string | undefined>((ready) => {
    serve.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^rpc\s+(\S+)/m.exec(out);
      if (m !== null) ready(m[1]);
    });
    void exited.then(() => ready(undefined));
  });
  assert.ok(rpc !== undefined, `capns serve did not start: ${out}${err}`);

  // The client example, as a user of the package writes it (import from 'capns'),
  // compiled by TypeScript as their build would.
  const source = (await readFile(join(root, 'examples', 'clock-client.ts'), 'utf8')).replaceAll("'../src/index.js'", "'capns'");
  assert.match(source, /from 'capns'/);
  assert.doesNotMatch(source, /\.\.\/src\//);
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  await writeFile(join(app, 'clock-client.mjs'), js);
  const example = await run(process.execPath, ['clock-client.mjs', rpc], { cwd: app, env });
  assert.match(example.stdout, /^profile local: \/svc\/clock says \d{4}-\d\d-\d\dT/m);
  assert.match(example.stdout, /^\/tmp\/clock-client\.txt: last seen at /m);

  // And a client command of the installed package.
  const ls = await run(join(app, 'node_modules', '.bin', 'capns'), ['ls', '--server', rpc], { cwd: app, env });
  assert.equal(ls.stdout, 'data/\nsvc/\ntmp/\n');
});
