import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  diffManifests,
  formatAddress,
  parseManifest,
  type Manifest,
} from '../../src/manifest/index.js';

const BASE = `version: 1
capabilities:
  tmp: { type: ram }
  data: { type: dir, path: /srv/data }
  clock: { type: demo.clock }
profiles:
  alice:
    auth: { tokens: [alice-token-0123456789, alice-old-token-0123456789] }
    namespace: [ { mount: tmp, at: /tmp }, { mount: data, at: /data } ]
  bob:
    auth: { tokens: [bob-token-0123456789] }
    namespace: [ { mount: tmp, at: /tmp } ]
  carol:
    auth: { loopback: true }
    namespace: [ { mount: clock, at: /svc/clock } ]
listeners:
  - { protocol: rpc, address: "tcp!127.0.0.1!5640" }
  - { protocol: 9p, address: "tcp!127.0.0.1!5641" }
`;

function parse(text: string): Manifest {
  return parseManifest(text, { file: 'm.yaml' });
}

test('a reload of the same manifest, even moved around in the file, changes nothing', () => {
  const moved = parse('# a comment that moves every line\n\n' + BASE);
  const d = diffManifests(parse(BASE), moved);
  assert.equal(d.unchanged, true);
  assert.deepEqual(d.profiles, { added: [], removed: [], changed: [] });
  assert.deepEqual(d.revoked, []);
});

test('only the profiles whose steps or capabilities changed are rebuilt; a removed token is revoked', () => {
  const after = parse(
    BASE.replace(
      'data: { type: dir, path: /srv/data }',
      'data: { type: dir, path: /srv/data, readOnly: true }',
    )
      .replace(', alice-old-token-0123456789', '')
      .replace(
        'namespace: [ { mount: tmp, at: /tmp } ]\n  carol',
        'namespace: [ { mount: tmp, at: /tmp, create: true } ]\n  carol',
      )
      .replace(
        '  - { protocol: 9p, address: "tcp!127.0.0.1!5641" }\n',
        '  - { protocol: 9p, address: "tcp!127.0.0.1!5651" }\n',
      ),
  );
  const d = diffManifests(parse(BASE), after);
  assert.equal(d.unchanged, false);
  assert.deepEqual(d.capabilities, { added: [], removed: [], changed: ['data'] });
  // alice mounts the changed dir; bob's steps changed; carol is untouched.
  assert.deepEqual(d.profiles, { added: [], removed: [], changed: ['alice', 'bob'] });
  assert.deepEqual(d.revoked, [
    { profile: 'alice', tokens: ['alice-old-token-0123456789'], tlsSubjects: [], loopback: false },
  ]);
  assert.deepEqual(
    d.listeners.removed.map((l) => formatAddress(l.address)),
    ['tcp!127.0.0.1!5641'],
  );
  assert.deepEqual(
    d.listeners.added.map((l) => formatAddress(l.address)),
    ['tcp!127.0.0.1!5651'],
  );
  assert.equal(d.limitsChanged, false);
});

test('a removed profile is listed and all its credentials revoked; a new one is added; a new token alone rebuilds nothing', () => {
  const after = parse(
    BASE.replace(
      / {2}carol:\n.*\n.*\n/,
      '  dave:\n    auth: { tokens: [dave-token-0123456789] }\n    namespace: [ { mount: clock, at: /c } ]\n',
    ).replace('[bob-token-0123456789]', '[bob-token-0123456789, bob-new-token-0123456789]'),
  );
  const d = diffManifests(parse(BASE), after);
  assert.deepEqual(d.profiles, { added: ['dave'], removed: ['carol'], changed: [] });
  assert.deepEqual(d.revoked, [{ profile: 'carol', tokens: [], tlsSubjects: [], loopback: true }]);
  assert.equal(d.unchanged, false);

  const onlyToken = diffManifests(
    parse(BASE),
    parse(
      BASE.replace('[bob-token-0123456789]', '[bob-token-0123456789, bob-new-token-0123456789]'),
    ),
  );
  assert.deepEqual(onlyToken.profiles, { added: [], removed: [], changed: [] });
  assert.deepEqual(onlyToken.revoked, []);
  assert.equal(onlyToken.unchanged, false, 'the new token must reach the Gate');
});

test('a capability removed with the steps that mounted it rebuilds the profile that had it', () => {
  const after = parse(
    BASE.replace('  clock: { type: demo.clock }\n', '').replace(
      'namespace: [ { mount: clock, at: /svc/clock } ]',
      'namespace: [ { mount: tmp, at: /tmp } ]',
    ),
  );
  const d = diffManifests(parse(BASE), after);
  assert.deepEqual(d.capabilities, { added: [], removed: ['clock'], changed: [] });
  assert.deepEqual(d.profiles.changed, ['carol']);
});

test('a changed hub changes the hubfs that shows it, and rebuilds the profiles that mount either', () => {
  const withHub = (backlog: number): string =>
    BASE.replace('  clock: { type: demo.clock }\n', `  clock: { type: demo.clock }\n  aes: { type: hub, backlogBytes: ${backlog} }\n  aesfs: { type: hubfs, hub: aes }\n`).replace(
      'namespace: [ { mount: clock, at: /svc/clock } ]',
      'namespace: [ { mount: clock, at: /svc/clock }, { mount: aesfs, at: /n/aes } ]',
    );
  const d = diffManifests(parse(withHub(1024)), parse(withHub(2048)));
  assert.deepEqual(d.capabilities, { added: [], removed: [], changed: ['aes', 'aesfs'] });
  assert.deepEqual(d.profiles.changed, ['carol']);
  assert.equal(diffManifests(parse(withHub(1024)), parse(withHub(1024))).unchanged, true);
});
