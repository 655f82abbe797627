import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildOnPaper,
  checkManifest,
  parseManifest,
  type Manifest,
} from '../../src/manifest/index.js';

function manifest(profileSteps: string): Manifest {
  return parseManifest(
    `version: 1
capabilities:
  a: { type: ram }
  b: { type: ram }
  c: { type: demo.clock }
profiles:
  p:
    auth: { tokens: [p-token-0123456789] }
    namespace:
${profileSteps}
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!0" }
`,
    { file: 'm.yaml' },
  );
}

/** The doctor's findings, leaving out capabilities these small manifests do not use. */
function findings(m: Manifest): string[] {
  return checkManifest(m)
    .filter((d) => d.code !== 'unused-capability')
    .map((d) => `${d.severity} ${d.path}: ${d.message}`);
}

function paper(m: Manifest): Record<string, string[]> {
  const p = m.profiles[0];
  assert.ok(p !== undefined);
  const out: Record<string, string[]> = {};
  for (const [at, stack] of buildOnPaper(m, p).stacks)
    out[at] = stack.map(
      (s) => `${s.label}${s.create ? '+c' : ''}${s.spec !== '' ? `:${s.spec}` : ''}`,
    );
  return out;
}

test('on paper, the union stacks follow bind(2): replace, before, after, MCREATE, unmount of one member or all', () => {
  const m = manifest(`      - { mount: a, at: /u }
      - { mount: b, at: /u, position: before, create: true }
      - { mount: c, at: /u, position: after }
      - { mount: a, at: /v }
      - { mount: b, at: /v, position: after }
      - { unmount: /v, member: a }
      - { mount: a, at: /w }
      - { unmount: /w }`);
  assert.deepEqual(paper(m), { '/u': ['b+c', 'a', 'c'], '/v': ['b'] });
});

test('on paper, a bind copies the whole union at a mount point, and only the file trees below one (with the spec extended)', () => {
  const m = manifest(`      - { mount: a, at: /u }
      - { mount: c, at: /u, position: after }
      - { bind: /u, at: /all }
      - { bind: /u/sub/dir, at: /below, create: true }`);
  assert.deepEqual(paper(m), { '/u': ['a', 'c'], '/all': ['a', 'c'], '/below': ['a+c:sub/dir'] });
  assert.deepEqual(findings(m), []);
});

test('a bind evaluates its source when it runs: replacing the source later shadows nothing (Plan 9 bind)', () => {
  const m = manifest(`      - { mount: a, at: /u }
      - { bind: /u, at: /alias }
      - { mount: b, at: /u }`);
  assert.deepEqual(paper(m), { '/u': ['b'], '/alias': ['a'] });
  assert.deepEqual(findings(m), []);
});

test('a member replaced after a member before it was seen is still reported; the seen one is not', () => {
  const m = manifest(`      - { mount: a, at: /u }
      - { bind: /u, at: /alias }
      - { mount: b, at: /u, position: after }
      - { mount: c, at: /u }`);
  assert.deepEqual(findings(m), [
    'warning profiles.p.namespace[2]: b (FileServer) at /u is replaced by profiles.p.namespace[3] (mount of c at /u) before anything can see it',
  ]);
});

test('checkManifest reports references that only a hand-built manifest can get wrong', () => {
  const m = manifest(`      - { mount: a, at: /u }`);
  const broken: Manifest = {
    ...m,
    profiles: m.profiles.map((p) => ({
      ...p,
      namespace: [
        ...p.namespace,
        {
          op: 'mount',
          capability: 'ghost',
          at: '/g',
          position: 'replace',
          create: false,
          spec: '',
          loc: p.loc,
        },
      ],
    })),
    listeners: [...m.listeners, { ...m.listeners[0]!, profile: 'nobody' }],
  };
  const found = checkManifest(broken).map((d) => `${d.severity} ${d.code}: ${d.message}`);
  assert.ok(
    found.includes('error unknown-capability: unknown capability "ghost"'),
    found.join('\n'),
  );
  assert.ok(found.includes('error unknown-profile: unknown profile "nobody"'), found.join('\n'));
});
