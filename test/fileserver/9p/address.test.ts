import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NsError } from '../../../src/errors.js';
import { formatNinepAddress, parseNinepAddress } from '../../../src/fileserver/9p/server.js';

test('listen addresses: tcp!HOST!PORT, HOST:PORT, [v6]:PORT and unix!PATH', () => {
  assert.deepEqual(parseNinepAddress('tcp!127.0.0.1!564'), {
    kind: 'tcp',
    host: '127.0.0.1',
    port: 564,
  });
  assert.deepEqual(parseNinepAddress('localhost:5640'), {
    kind: 'tcp',
    host: 'localhost',
    port: 5640,
  });
  assert.deepEqual(parseNinepAddress('[::1]:564'), { kind: 'tcp', host: '::1', port: 564 });
  assert.deepEqual(parseNinepAddress('tcp!*!564'), { kind: 'tcp', host: '0.0.0.0', port: 564 });
  assert.deepEqual(parseNinepAddress(':0'), { kind: 'tcp', host: '0.0.0.0', port: 0 });
  assert.deepEqual(parseNinepAddress('unix!/run/capns/9p'), {
    kind: 'unix',
    path: '/run/capns/9p',
  });
  assert.equal(formatNinepAddress({ kind: 'tcp', host: '127.0.0.1', port: 1 }), 'tcp!127.0.0.1!1');
  assert.equal(formatNinepAddress({ kind: 'unix', path: '/s' }), 'unix!/s');
  for (const bad of [
    '',
    'nonsense',
    'tcp!h',
    'tcp!h!p!q',
    'host:99999',
    'host:port',
    'unix!',
    'udp!h!1',
  ]) {
    assert.throws(() => parseNinepAddress(bad), (e: unknown) => e instanceof NsError && e.code === 'NS_ERR_INVALID_ARGUMENT', bad);
  }
});
