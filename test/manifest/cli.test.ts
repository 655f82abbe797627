/**
 * `capns manifest check|graph|show` as real processes, from the sources (bin/capns.js
 * would run dist/ when it exists), with their exit statuses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const repo = join(import.meta.dirname, '..', '..');
const fixtures = 'test/fixtures/manifest';
const ENV = {
  ALICE_TOKEN: 'alice-token-0123456789',
  FAR_TOKEN: 'far-token-0123456789',
  EXPORT_TOKEN: 'export-token-0123456789',
};

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function capns(args: string[], env: Record<string, string> = ENV): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: repo, env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' },
      (err, stdout, stderr) =>
        resolve({
          status: err === null ? 0 : typeof err.code === 'number' ? err.code : null,
          stdout,
          stderr,
        }),
    );
  });
}

test(
  'manifest check: exit 0 clean (warnings allowed), 1 errors, 2 unreadable or not YAML',
  { concurrency: true },
  async () => {
    const [clean, warned, strict, invalid, doctorErrors, syntax, missing, builtIn] =
      await Promise.all([
        capns(['manifest', 'check', `${fixtures}/good/full.yaml`]),
        capns(['manifest', 'check', `${fixtures}/doctor/shadowed.yaml`]),
        capns(['manifest', 'check', '--strict', `${fixtures}/doctor/shadowed.yaml`]),
        capns(['manifest', 'check', `${fixtures}/bad/many.yaml`]),
        capns(['manifest', 'check', `${fixtures}/doctor/credentials.yaml`]),
        capns(['manifest', 'check', `${fixtures}/bad/syntax.yaml`]),
        capns(['manifest', 'check', `${fixtures}/no-such.yaml`]),
        capns(['manifest', 'check']),
      ]);
    assert.equal(clean.status, 0, clean.stderr);
    assert.equal(clean.stdout, `${fixtures}/good/full.yaml: ok\n`);

    assert.equal(warned.status, 0);
    assert.match(
      warned.stdout,
      /^test\/fixtures\/manifest\/doctor\/shadowed\.yaml:12:9 profiles\.alice\.namespace\[0\]: warning: tmp \(FileServer\) at \/tmp is replaced/m,
    );
    assert.match(warned.stdout, /: 0 errors, 2 warnings\n$/);
    assert.equal(strict.status, 1);

    assert.equal(invalid.status, 1);
    const lines = invalid.stdout.trim().split('\n');
    assert.equal(lines.length, 10, invalid.stdout);
    assert.equal(
      lines[0],
      `${fixtures}/bad/many.yaml:14:20 capabilities.tmp.maxBytes: expected a number above 0`,
    );
    assert.equal(lines[9], `${fixtures}/bad/many.yaml: 9 errors, 0 warnings`);

    assert.equal(doctorErrors.status, 1);
    assert.match(doctorErrors.stdout, /: 3 errors, 1 warning\n$/);
    assert.ok(!doctorErrors.stdout.includes('shared-token'), 'tokens are never printed');

    assert.equal(syntax.status, 2);
    assert.match(syntax.stdout, /syntax\.yaml:6:1: YAML: /);

    assert.equal(builtIn.status, 0, builtIn.stderr);
    assert.equal(builtIn.stdout, '(default manifest): ok\n');

    assert.equal(missing.status, 2);
    assert.equal(missing.stdout, '');
    assert.equal(
      missing.stderr,
      `capns manifest check: cannot read '${fixtures}/no-such.yaml': no such file\n`,
    );
  },
);

test(
  'manifest check --json gives the diagnostics as data; ${VAR}s come from the environment',
  { concurrency: true },
  async () => {
    const [json, unset] = await Promise.all([
      capns(['manifest', 'check', '--json', `${fixtures}/doctor/shadowed.yaml`]),
      capns(['manifest', 'check', '--json', `${fixtures}/good/full.yaml`], {}),
    ]);
    assert.equal(json.status, 0);
    const out = JSON.parse(json.stdout) as {
      status: number;
      errors: number;
      warnings: number;
      diagnostics: { code: string; line: number; column: number; path: string }[];
    };
    assert.equal(out.status, 0);
    assert.equal(out.errors, 0);
    assert.equal(out.warnings, 2);
    assert.deepEqual(
      out.diagnostics.map((d) => [d.code, d.line, d.column, d.path]),
      [
        ['shadowed', 12, 9, 'profiles.alice.namespace[0]'],
        ['shadowed', 13, 9, 'profiles.alice.namespace[1]'],
      ],
    );
    assert.equal(unset.status, 1);
    const u = JSON.parse(unset.stdout) as { diagnostics: { code: string; message: string }[] };
    assert.deepEqual(
      u.diagnostics.map((d) => d.message),
      [
        'environment variable FAR_TOKEN is not set',
        'environment variable ALICE_TOKEN is not set',
        'environment variable EXPORT_TOKEN is not set',
      ],
    );
  },
);

test(
  'manifest graph prints dot; manifest show prints the normalized manifest (the default without FILE), tokens redacted',
  { concurrency: true },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'capns-manifest-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'm.yaml');
    writeFileSync(
      file,
      'version: 1\ncapabilities: { tmp: { type: ram } }\nprofiles:\n  a: { auth: { tokens: ["${T}"] }, namespace: [ { mount: tmp, at: /tmp } ] }\n',
    );
    const [graph, badGraph, showDefault, show, showSecrets] = await Promise.all([
      capns(['manifest', 'graph', `${fixtures}/good/small.json`]),
      capns(['manifest', 'graph', `${fixtures}/bad/many.yaml`]),
      capns(['manifest', 'show', '--data-dir', '/srv/capns']),
      capns(['manifest', 'show', file], { T: 'hunter2-token' }),
      capns(['manifest', 'show', '--secrets', '--locations', file], { T: 'hunter2-token' }),
    ]);
    assert.equal(graph.status, 0, graph.stderr);
    assert.match(graph.stdout, /^digraph capns \{\n/);
    assert.ok(
      graph.stdout.includes('"path:alice:/tmp" -> "cap:tmp" [label="1 create", style=bold];'),
    );

    assert.equal(badGraph.status, 1);
    assert.equal(badGraph.stdout, '');
    assert.equal(badGraph.stderr.trim().split('\n').length, 9);

    assert.equal(showDefault.status, 0, showDefault.stderr);
    const d = JSON.parse(showDefault.stdout) as {
      file: string;
      capabilities: { name: string; path?: string }[];
      listeners: { address: string }[];
    };
    assert.equal(d.file, '(default manifest)');
    assert.equal(d.capabilities.find((c) => c.name === 'data')?.path, '/srv/capns');
    assert.deepEqual(
      d.listeners.map((l) => l.address),
      ['tcp!127.0.0.1!5640', 'tcp!127.0.0.1!5641', 'tcp!127.0.0.1!5642'],
    );

    assert.equal(show.status, 0, show.stderr);
    assert.ok(!show.stdout.includes('hunter2'));
    const s = JSON.parse(show.stdout) as {
      profiles: { auth: { tokens: string[] }; namespace: { loc?: unknown }[] }[];
    };
    assert.deepEqual(s.profiles[0]?.auth.tokens, ['(redacted)']);
    assert.equal(s.profiles[0]?.namespace[0]?.loc, undefined);
    const secrets = JSON.parse(showSecrets.stdout) as {
      profiles: {
        auth: { tokens: string[] };
        namespace: { loc: { line: number; column: number } }[];
      }[];
    };
    assert.deepEqual(secrets.profiles[0]?.auth.tokens, ['hunter2-token']);
    assert.deepEqual(secrets.profiles[0]?.namespace[0]?.loc, {
      file,
      line: 4,
      column: 49,
      path: 'profiles.a.namespace[0]',
    });
  },
);

test('--help on manifest and each subcommand', { concurrency: true }, async () => {
  const runs = await Promise.all([
    capns(['manifest', '--help']),
    capns(['manifest', 'check', '--help']),
    capns(['manifest', 'graph', '--help']),
    capns(['manifest', 'show', '--help']),
  ]);
  for (const r of runs) assert.equal(r.status, 0, r.stderr);
  assert.match(runs[0].stdout, /check \[options\] \[file\]/);
  assert.match(runs[0].stdout, /Exit status: 0 fine, 1 the manifest has errors, 2/);
  assert.match(runs[1].stdout, /--json/);
  assert.match(runs[1].stdout, /--strict/);
  assert.match(runs[2].stdout, /dot -Tsvg/);
  assert.match(runs[3].stdout, /embedded default/);
});
