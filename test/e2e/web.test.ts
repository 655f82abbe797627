/**
 * `capns serve` with an http listener, end to end: a real process from the sources,
 * fetched over HTTP, and its web page driven in headless Chromium (playwright-core with
 * Debian's /usr/bin/chromium; never a downloaded browser): load the page, expand a
 * union, open a file, revoke a capability and see the next call through it fail, revoke
 * an export, and a wrong token that leaves nothing of the previous profile on the page.
 * The screenshot is written to test-artifacts/web.png.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';

const root = resolve(import.meta.dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'web-admin-token-0123456789abcdef';

const MANIFEST = `version: 1
capabilities:
  tmp:   { type: ram }
  cache: { type: ram }
  clock: { type: demo.clock }
  table: { type: captable }
  far:   { type: import, address: "tcp!127.0.0.1!9", token: none }
  hub:   { type: hub, channels: [chat] }
  hubfs: { type: hubfs, hub: hub }
profiles:
  admin:
    auth: { tokens: ["${TOKEN}"] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: cache, at: /tmp, position: after }
      - { mount: clock, at: /svc/clock, require: Clock }
      - { mount: table, at: /svc/captable }
      - { mount: far, at: /n/far }
      - { mount: hubfs, at: /n/hub }
listeners:
  - { protocol: http, address: "tcp!127.0.0.1!0" }
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
exports:
  - { profile: admin, root: /svc, readOnly: true, listen: "tcp!127.0.0.1!0", auth: { tokens: ["export-token-0123456789"] } }
`;

/** Starts `capns serve --manifest` and returns the http listener's base URL. */
async function serve(t: TestContext): Promise<{ base: string; child: ChildProcess }> {
  const dir = await mkdtemp(join(tmpdir(), 'capns-web-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'm.yaml'), MANIFEST);
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '--manifest', join(dir, 'm.yaml')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const base = await new Promise<string>((ok, fail) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^http\s+tcp!([\d.]+)!(\d+)/m.exec(out);
      if (m !== null) ok(`http://${m[1]}:${m[2]}`);
    });
    void exited.then(() => fail(new Error(`capns serve exited: ${err}`)));
  });
  return { base, child };
}

/** A wedged browser or server fails the test instead of hanging the suite. */
const TIMEOUT = 90_000;

test('capns serve opens its http listener: health, the API with a token, 401 without one', { timeout: TIMEOUT }, async (t) => {
  const { base } = await serve(t);
  assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const put = await fetch(`${base}/api/v1/files?path=/tmp/hello`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: 'hello over http' });
  assert.equal(put.status, 200);
  assert.equal(await (await fetch(`${base}/api/v1/files?path=/tmp/hello`, { headers: auth })).text(), 'hello over http');
  const call = await fetch(`${base}/api/v1/call`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/svc/clock', method: 'now' }) });
  assert.equal(((await call.json()) as { interface: string }).interface, 'Clock');
  // No loopback profile in this manifest: no token, no namespace.
  assert.equal((await fetch(`${base}/api/v1/whoami`)).status, 401);
  // An import whose export is down: a directory, with its state and why.
  const n = (await (await fetch(`${base}/api/v1/ns/list?path=/n`, { headers: auth })).json()) as { entries: Array<{ name: string; kind: string; import?: { state: string; lastError: string } }> };
  assert.equal(n.entries[0]?.name, 'far');
  assert.equal(n.entries[0]?.kind, 'directory');
  assert.ok(['connecting', 'retrying'].includes(n.entries[0]?.import?.state ?? ''), JSON.stringify(n));
});

test('web page in headless Chromium: tree with a union in order, files open, plain directories ask nothing that fails, live call counts, revoke a grant and an export; a wrong token clears the page', { timeout: TIMEOUT, skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium; CI installs it)` }, async (t) => {
  const { chromium } = await import('playwright-core');
  const { base } = await serve(t);
  const auth = { authorization: `Bearer ${TOKEN}` };
  // Something in each member of the /tmp union, to see both in the listing.
  await fetch(`${base}/api/v1/files?path=/tmp/first.txt`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: '1' });

  const profileDir = await mkdtemp(join(tmpdir(), 'capns-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-crash-reporter', '--disable-breakpad'],
  });
  t.after(async () => {
    // close() waits for the browser; bounded, so that cleanup never hangs the run.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([context.close(), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    // After the browser (the after hooks run in the order they were added): a browser still
    // writing its profile makes rmdir fail ENOTEMPTY, hence the retries.
    await rm(profileDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Every request the page makes that fails, apart from the call made to fail (revoked)
  // and the wrong token at the end.
  const failed: string[] = [];
  let expectFailures = false;
  page.on('response', (r) => {
    if (r.status() >= 400 && !expectFailures && !r.url().endsWith('/api/v1/call')) failed.push(`${r.status()} ${r.url()}`);
  });
  // The export's revoke button asks first.
  page.on('dialog', (d) => void d.accept());

  await page.goto(`${base}/#token=${TOKEN}`);
  await page.waitForSelector('body[data-ready="true"]');
  assert.match((await page.textContent('#whoami')) ?? '', /profile admin .*admin/);
  // The root lists tmp and svc; expanding /tmp shows its union members in order.
  await page.waitForSelector('li[data-path="/tmp"]');
  await page.click('li[data-path="/tmp"] > .toggle');
  await page.waitForSelector('li[data-path="/tmp"] .member');
  const members = await page.$$eval('li[data-path="/tmp"] > .members .member', (els) => els.map((e) => e.textContent));
  assert.deepEqual(members, ['tmp (FileServer, create)', 'cache (FileServer)']);
  await page.waitForSelector('li[data-path="/tmp/first.txt"]');
  // A file opens in the viewer, with its content.
  await page.click('li[data-path="/tmp/first.txt"] > .name');
  await page.waitForFunction(`document.getElementById('file-content')?.textContent === '1'`);
  assert.equal(await page.textContent('#file-path'), '/tmp/first.txt');
  // A plain directory inside the tree: expanding it asks nothing that fails.
  await fetch(`${base}/api/v1/files/mkdir`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/tmp/sub' }) });
  await page.click('li[data-path="/tmp"] > .toggle');
  await page.click('li[data-path="/tmp"] > .toggle');
  await page.waitForSelector('li[data-path="/tmp/sub"]');
  await page.click('li[data-path="/tmp/sub"] > .toggle');
  await page.waitForSelector('li[data-path="/tmp/sub"] > .toggle[aria-expanded="true"]');

  // A hub channel never ends: the viewer follows it, showing each write as it comes.
  await page.click('li[data-path="/n"] > .toggle');
  await page.click('li[data-path="/n/hub"] > .toggle');
  await page.click('li[data-path="/n/hub/chat"] > .name');
  await page.waitForFunction(`document.getElementById('file-path')?.textContent === '/n/hub/chat'`);
  for (const line of ['one\n', 'two\n']) {
    const w = await fetch(`${base}/api/v1/files?path=/n/hub/chat`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: line });
    assert.equal(w.status, 200, await w.text());
  }
  await page.waitForFunction(`document.getElementById('file-content')?.textContent === 'one\\ntwo\\n'`);
  assert.equal(await page.getAttribute('#file-content', 'data-ended'), null, 'the channel is still being followed');
  // Opening another file stops following the channel: the hub has no reader left.
  await page.click('li[data-path="/tmp/first.txt"] > .name');
  await page.waitForFunction(`document.getElementById('file-content')?.textContent === '1'`);
  const ctl = async (): Promise<string> => (await fetch(`${base}/api/v1/files?path=/n/hub/ctl`, { headers: auth })).text();
  for (let i = 0; i < 100 && !/chat .*readers=0/.test(await ctl()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(await ctl(), /chat .*readers=0/);

  // A call through the page, then its grant's count goes up in the live table.
  // Clicking a capability in the tree puts its path in the call form.
  await page.click('li[data-path="/svc"] > .toggle');
  await page.click('li[data-path="/svc/clock"] > .name');
  assert.equal(await page.inputValue('#call-path'), '/svc/clock');
  await page.fill('#call-method', 'now');
  await page.click('#call button');
  // Functions run in the page are given as text: this file is type-checked without the DOM library.
  await page.waitForFunction(`(document.getElementById('call-result')?.textContent ?? '').includes('unixMillis')`);
  const clockRow = 'tr[data-label="clock"]';
  await page.waitForFunction(`Number(document.querySelector('${clockRow} .calls')?.textContent ?? '0') >= 1`);

  // Revoke the clock grant; the next call through it fails with 410 revoked.
  await page.click(`${clockRow} button.revoke`);
  await page.waitForSelector(`${clockRow}.revoked`);
  await page.click('#call button');
  await page.waitForFunction(`document.getElementById('call-result')?.className === 'error'`);
  assert.match((await page.textContent('#call-result')) ?? '', /^410 NS_ERR_REVOKED: grant \d+ of 'clock' .* was revoked/);

  // An import that is down shows as such in the tree, with why.
  await page.waitForSelector('li[data-path="/n/far"] > .import[data-state="retrying"]');
  assert.match((await page.textContent('li[data-path="/n/far"] > .import')) ?? '', /^import of tcp!127\.0\.0\.1!9: down since .*: connect ECONNREFUSED/);

  // The exports, for an admin: revoke one; the table says so.
  await page.waitForSelector('#exports tbody tr[data-address^="tcp!127.0.0.1!"]');
  await page.click('#exports tbody tr button.revoke');
  await page.waitForSelector('#exports tbody tr.revoked');

  await mkdir(join(root, 'test-artifacts'), { recursive: true });
  await page.screenshot({ path: join(root, 'test-artifacts', 'web.png'), fullPage: true });
  assert.deepEqual(failed, [], 'no request of the page failed');

  // A wrong token: refused, and nothing of the admin's view stays on the page.
  expectFailures = true;
  await page.fill('#token', 'not-the-token');
  await page.click('#login button');
  await page.waitForSelector('body[data-ready="refused"]');
  assert.match((await page.textContent('#whoami')) ?? '', /^401 /);
  assert.equal(await page.$$eval('#tree li', (els) => els.length), 0);
  assert.equal(await page.$$eval('#captable tbody tr', (els) => els.length), 0);
  assert.equal(await page.textContent('#file-content'), '');
  assert.equal(await page.isHidden('#exports-section'), true);
  assert.deepEqual(errors, []);
});
