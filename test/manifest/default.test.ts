import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildOnPaper,
  checkManifest,
  DEFAULT_PORTS,
  defaultManifest,
  formatAddress,
  isLoopback,
} from '../../src/manifest/index.js';

test('the embedded default manifest passes the doctor with no finding at all', () => {
  assert.deepEqual(checkManifest(defaultManifest()), []);
});

test('the default: /tmp ram (create), /data a created host folder, /svc/clock; one loopback profile; loopback listeners', () => {
  const m = defaultManifest();
  assert.deepEqual(
    m.capabilities.map((c) => c.type),
    ['ram', 'dir', 'demo.clock'],
  );
  const data = m.capabilities[1];
  assert.ok(data?.type === 'dir');
  assert.equal(data.path, 'capns-data');
  assert.equal(data.create, true);
  assert.equal(m.profiles.length, 1);
  const p = m.profiles[0];
  assert.ok(p !== undefined);
  assert.deepEqual(p.auth.tokens, []);
  assert.equal(p.auth.loopback, true);
  const paper = buildOnPaper(m, p);
  assert.deepEqual([...paper.stacks.keys()], ['/tmp', '/data', '/svc/clock']);
  assert.equal(paper.stacks.get('/tmp')?.[0]?.create, true);
  assert.deepEqual(
    m.listeners.map((l) => `${l.protocol} ${formatAddress(l.address)}`),
    ['rpc tcp!127.0.0.1!5640', '9p tcp!127.0.0.1!5641', 'http tcp!127.0.0.1!5642'],
  );
  assert.ok(m.listeners.every((l) => isLoopback(l.address)));
  assert.deepEqual(DEFAULT_PORTS, { rpc: 5640, '9p': 5641, http: 5642 });
});

test('the default takes a data folder (any name, quoted safely) and ports (0 for tests)', () => {
  const m = defaultManifest({
    dataDir: '/var/lib/capns/"odd" ${HOME} $x',
    ports: { rpc: 0, '9p': 0, http: 0 },
  });
  const data = m.capabilities[1];
  assert.ok(data?.type === 'dir');
  assert.equal(data.path, '/var/lib/capns/"odd" ${HOME} $x');
  assert.ok(m.listeners.every((l) => l.address.kind === 'tcp' && l.address.port === 0));
  assert.deepEqual(checkManifest(m), []);
});
