// `capns ns`: run as a real process (through tsx, from the sources) and in process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { run } from '../../src/cli/commands/ns-offline.js';
import { FILE_SERVER_INTERFACE_ID, MountTable, type Member } from '../../src/namespace/index.js';

const root = resolve(import.meta.dirname, '..', '..');
const exec = promisify(execFile);

async function capns(
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  // No server address in the environment: the offline tests say --offline (or --demo).
  const env = { ...process.env };
  delete env['CAPNS_SERVER'];
  delete env['CAPNS_TOKEN'];
  const p = exec(
    process.execPath,
    ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), ...args],
    { cwd: root, env },
  );
  if (input !== undefined) {
    p.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await p;
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

function inProcess(opts: Parameters<typeof run>[0]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = run(
    opts,
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}

test('capns ns --demo prints the demo namespace as namespace(6) text that apply() rebuilds', async () => {
  const r = await capns(['ns', '--demo']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^mount home \/bin bin\/386\nmount -a rc \/bin bin\nmount -a 386 \/bin bin$/m,
  );
  assert.match(r.stdout, /^mount -c ram \/tmp$/m);
  const labels = new Map<string, Member>();
  const t = new MountTable();
  t.apply(r.stdout, {
    resolve: (l) => {
      if (!labels.has(l))
        labels.set(l, { cap: l, interfaceId: FILE_SERVER_INTERFACE_ID, label: l });
      return labels.get(l);
    },
  });
  assert.equal(t.describe(), r.stdout);
});

test('capns ns --offline --apply with an error exits 1 and names file, line and column', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'capns-ns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.ns');
  writeFileSync(file, 'mount ram /tmp\nbind -a /tmp /x\n\nbind -q /a /b\n');
  const r = await capns(['ns', '--offline', '--apply', file]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    `capns ns: ${file}:4:7: unknown flag 'q' in '-q' (flags are -a, -b, -c, -C) (NS_ERR_PARSE)\n`,
  );
});

test('capns ns --offline --apply - reads namespace text from stdin', async () => {
  const r = await capns(
    ['ns', '--offline', '--apply', '-'],
    "mount 'my fs' '/n/my dir'\nbind -b '/n/my dir' /d\n",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "mount 'my fs' /d\nmount 'my fs' '/n/my dir'\n");
});

test('capns ns --help documents the namespace text', async () => {
  const r = await capns(['ns', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /bind \[-abcC\] from to/);
  assert.match(r.stdout, /--apply <file\.\.\.>/);
});

test('--resolve shows the union search order and which member holds the name', () => {
  const r = inProcess({ demo: true, resolve: ['/bin/ls', '/bin/cat'] });
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /\/bin\/ls\n {2}mount point \/bin, rest ls\n {2}1\. home \[FileServer\] at bin\/386\n {2}2\. rc \[FileServer\] at bin\n {2}3\. 386 \[FileServer\] at bin\n {2}found in home as bin\/386\/ls\n/,
  );
  assert.match(r.out, /found in rc as bin\/cat/);
});

test('--list prints the union listing, first member wins', () => {
  const r = inProcess({ demo: true, list: ['/bin'] });
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(
    r.out
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split('\t')),
    [
      ['ls', 'from home'],
      ['mytool', 'from home'],
      ['cat', 'from rc'],
      ['termrc', 'from rc'],
      ['cpurc', 'from rc'],
      ['rc', 'from 386'],
    ],
  );
});

test('--sub shows only the view; namespace errors exit 1 with the error code, usage errors 2', () => {
  const v = inProcess({ demo: true, sub: '/usr/glenda', ro: true });
  assert.deepEqual([v.code, v.out], [0, 'mount -c home /\n']);
  const bad = inProcess({ demo: true, resolve: ['/svc/clock/x'] });
  assert.equal(bad.code, 1);
  assert.match(bad.err, /NS_ERR_NOT_DIR/);
  const ro = inProcess({ ro: true });
  assert.equal(ro.code, 2);
  assert.match(ro.err, /--ro needs --sub/);
  const empty = inProcess({});
  assert.deepEqual([empty.code, empty.out], [0, '# (empty namespace)\n']);
});
