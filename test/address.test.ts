import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NsError } from '../src/errors.js';
import {
  addressesConflict,
  formatAddress,
  isLoopback,
  parseAddress,
} from '../src/manifest/index.js';

test('parseAddress reads tcp!HOST!PORT, HOST:PORT, [IPv6]:PORT and unix!PATH', () => {
  assert.deepEqual(parseAddress('tcp!127.0.0.1!5640'), {
    kind: 'tcp',
    host: '127.0.0.1',
    port: 5640,
  });
  assert.deepEqual(parseAddress('127.0.0.1:5640'), { kind: 'tcp', host: '127.0.0.1', port: 5640 });
  assert.deepEqual(parseAddress('[::1]:564'), { kind: 'tcp', host: '::1', port: 564 });
  assert.deepEqual(parseAddress('tcp!::1!564'), { kind: 'tcp', host: '::1', port: 564 });
  assert.deepEqual(parseAddress('tcp!far.example.org!0'), {
    kind: 'tcp',
    host: 'far.example.org',
    port: 0,
  });
  assert.deepEqual(parseAddress('unix!/run/capns.sock'), { kind: 'unix', path: '/run/capns.sock' });
  assert.deepEqual(parseAddress('unix!rel/a!b'), { kind: 'unix', path: 'rel/a!b' });
});

test('an empty host or * means every IPv4 interface (Plan 9 tcp!*!port)', () => {
  assert.deepEqual(parseAddress('tcp!*!5640'), { kind: 'tcp', host: '0.0.0.0', port: 5640 });
  assert.deepEqual(parseAddress(':5640'), { kind: 'tcp', host: '0.0.0.0', port: 5640 });
});

test('parseAddress refuses malformed addresses with NS_ERR_INVALID_ARGUMENT naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['tcp!127.0.0.1', /expected tcp!HOST!PORT/],
    ['tcp!h!1!2', /expected tcp!HOST!PORT/],
    ['udp!h!1', /unknown network "udp"/],
    ['localhost', /expected tcp!HOST!PORT/],
    ['h:65536', /bad port "65536"/],
    ['h:-1', /bad port/],
    ['h:http', /bad port "http"/],
    ['[::1:5640', /expected/],
    ['[zz::]:1', /bad IPv6 address/],
    ['bad_host!:1', /expected|unknown network/],
    ['tcp!bad_host!1', /bad host "bad_host"/],
    ['tcp!300.1.1.1!1', /bad IPv4 address/],
    ['unix!', /empty unix socket path/],
    ['unix!/' + 'x'.repeat(107), /longer than 107 bytes/],
    ['tcp!a\0b!1', /NUL/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseAddress(text),
      (err: unknown) =>
        err instanceof NsError &&
        err.code === 'NS_ERR_INVALID_ARGUMENT' &&
        re.test(err.message) &&
        err.message.includes(JSON.stringify(text)),
      text,
    );
  }
});

test('formatAddress gives dial strings that parse back to the same address', () => {
  for (const text of ['tcp!127.0.0.1!5640', '10.0.0.1:1', '[::1]:9', 'unix!/tmp/s', 'tcp!*!7']) {
    const a = parseAddress(text);
    assert.deepEqual(parseAddress(formatAddress(a)), a);
  }
  assert.equal(formatAddress(parseAddress('127.0.0.1:5640')), 'tcp!127.0.0.1!5640');
});

test('isLoopback: 127.0.0.0/8, ::1, localhost and unix sockets; nothing else', () => {
  for (const t of [
    'tcp!127.0.0.1!1',
    'tcp!127.3.4.5!1',
    '[::1]:1',
    'tcp!localhost!1',
    'tcp!LOCALHOST!1',
    'unix!/s',
  ])
    assert.equal(isLoopback(parseAddress(t)), true, t);
  for (const t of [
    'tcp!0.0.0.0!1',
    'tcp!*!1',
    '[::]:1',
    'tcp!10.0.0.1!1',
    'tcp!localhost.example!1',
    'tcp!128.0.0.1!1',
  ])
    assert.equal(isLoopback(parseAddress(t)), false, t);
});

test('addressesConflict: same socket, or a wildcard covering the host; port 0 never', () => {
  const c = (a: string, b: string): boolean => addressesConflict(parseAddress(a), parseAddress(b));
  assert.equal(c('tcp!127.0.0.1!5640', '127.0.0.1:5640'), true);
  assert.equal(c('tcp!0.0.0.0!5640', 'tcp!127.0.0.1!5640'), true);
  assert.equal(c('tcp!127.0.0.1!5640', 'tcp!*!5640'), true);
  assert.equal(c('[::]:5640', 'tcp!127.0.0.1!5640'), true);
  assert.equal(c('tcp!0.0.0.0!5640', '[::1]:5640'), false);
  assert.equal(c('tcp!127.0.0.1!5640', 'tcp!127.0.0.1!5641'), false);
  assert.equal(c('tcp!127.0.0.1!5640', 'tcp!127.0.0.2!5640'), false);
  assert.equal(c('tcp!127.0.0.1!0', 'tcp!127.0.0.1!0'), false);
  assert.equal(c('unix!/a', 'unix!/a'), true);
  assert.equal(c('unix!/a', 'unix!/b'), false);
  assert.equal(c('unix!/a', 'tcp!127.0.0.1!1'), false);
});
