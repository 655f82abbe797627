import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { manifestGraph, parseManifest } from '../../src/manifest/index.js';

const SMALL = `version: 1
capabilities:
  tmp: { type: ram }
  data: { type: dir, path: /srv/data }
profiles:
  alice:
    auth: { tokens: [alice-token-0123456789] }
    namespace:
      - { mount: tmp, at: /tmp, create: true }
      - { mount: data, at: /tmp, position: after, spec: scratch }
      - { bind: /tmp/x, at: /n/x, position: before }
  "say \\"hi\\"":
    namespace: [ { mount: data, at: /d } ]
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!5640" }
  - { protocol: 9p, address: "tcp!127.0.0.1!5641", profile: "say \\"hi\\"" }
exports:
  - { profile: alice, root: /tmp, readOnly: true, listen: "unix!/run/x.sock" }
`;

test('graph of a small manifest: listeners -> profiles -> mount points -> capabilities, union order, create and via marked', () => {
  // Names with quotes would break dot if not escaped: that profile's name is not a valid
  // manifest name, so this manifest uses a plain one and the escaping is checked below.
  const m = parseManifest(SMALL.replaceAll('"say \\"hi\\""', 'bob'), { file: 'small.yaml' });
  assert.equal(
    manifestGraph(m),
    `digraph capns {
  rankdir=LR;
  node [fontname="Helvetica", fontsize=11];
  edge [fontname="Helvetica", fontsize=9];
  "listener:0" [shape=cds, label="rpc tcp!127.0.0.1!5640"];
  "listener:0" -> "profile:alice" [style=dashed];
  "listener:1" [shape=cds, label="9p tcp!127.0.0.1!5641"];
  "listener:1" -> "profile:bob" [style=dashed];
  "export:0" [shape=cds, label="export /tmp (read-only)\\nunix!/run/x.sock"];
  "export:0" -> "profile:alice" [style=dashed];
  "cap:tmp" [shape=component, label="tmp\\nram · FileServer"];
  "cap:data" [shape=component, label="data\\ndir · FileServer"];
  "profile:alice" [shape=box, style=rounded, label="alice\\n(1 token)"];
  "path:alice:/tmp" [shape=folder, label="/tmp"];
  "profile:alice" -> "path:alice:/tmp";
  "path:alice:/tmp" -> "cap:tmp" [label="1 create", style=bold];
  "path:alice:/tmp" -> "cap:data" [label="2 spec=scratch"];
  "path:alice:/n/x" [shape=folder, label="/n/x"];
  "profile:alice" -> "path:alice:/n/x";
  "path:alice:/n/x" -> "cap:tmp" [label="1 spec=x via /tmp/x"];
  "path:alice:/n/x" -> "cap:data" [label="2 spec=scratch/x via /tmp/x"];
  "profile:bob" [shape=box, style=rounded, label="bob"];
  "path:bob:/d" [shape=folder, label="/d"];
  "profile:bob" -> "path:bob:/d";
  "path:bob:/d" -> "cap:data" [label="1"];
}
`,
  );
});

test('graph output is valid dot: Graphviz renders it, with every capability and mount point', () => {
  const m = parseManifest(
    `version: 1
capabilities:
  tmp: { type: ram }
  clock: { type: demo.clock }
profiles:
  alice:
    auth: { loopback: true }
    namespace:
      - { mount: tmp, at: '/odd "path" \\ here', create: true }
      - { mount: clock, at: /svc/clock }
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!5640" }
`,
  );
  const dot = manifestGraph(m);
  const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'Graphviz `dot` must be installed (graphviz, see .ci/run)');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /<svg/);
  for (const text of [
    '/odd &quot;path&quot; \\ here',
    '/svc/clock',
    'tmp',
    'demo.clock · Clock',
    'rpc tcp!127.0.0.1!5640',
    '1 create',
  ]) {
    assert.ok(r.stdout.includes(`>${text}<`), `the SVG shows ${text}`);
  }
});
