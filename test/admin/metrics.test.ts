/**
 * The HTTP app's per-request metrics (gateway calls, HTTP requests) are counted in plain
 * numbers and handed to prom-client at scrape time (src/admin/metrics.ts): the exposition
 * must be what prom-client's own Counter and Histogram give for the same observations,
 * and every call and request must be counted. Real server, real listen() and fetch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { AdminMetrics, GATEWAY_CALL_BUCKETS, HTTP_REQUEST_BUCKETS } from '../../src/admin/metrics.js';
import { CapabilityTable } from '../../src/captable/capability-table.js';
import { ADMIN_TOKEN, GUEST_TOKEN, api, startServer } from './harness.js';

/** Observations on bounds, between them, below the first and above the last. */
const SECONDS = [0, 0.00005, 0.0001, 0.00011, 0.00025, 0.0007, 0.001, 0.003, 0.0049, 0.02, 0.3, 0.99, 1, 4.9, 5, 7.5];

test('metrics: gateway and HTTP request series are exposed exactly as prom-client Counters and Histograms of the same observations', async () => {
  const metrics = new AdminMetrics({ captable: new CapabilityTable(), sessionCount: () => 0 });
  const ref = new Registry();
  const registers = [ref];
  const calls = new Counter({ name: 'capns_gateway_calls_total', help: 'Method calls made through the JSON gateway', labelNames: ['interface', 'method'], registers });
  const errors = new Counter({
    name: 'capns_gateway_call_errors_total',
    help: 'Gateway calls that failed, by NsError code or RPC exception type',
    labelNames: ['interface', 'method', 'type'],
    registers,
  });
  const callSeconds = new Histogram({
    name: 'capns_gateway_call_duration_seconds',
    help: 'Latency of gateway calls (reflection, call, results)',
    labelNames: ['interface', 'method'],
    buckets: [...GATEWAY_CALL_BUCKETS],
    registers,
  });
  const requests = new Counter({ name: 'capns_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'method', 'status'], registers });
  const requestSeconds = new Histogram({
    name: 'capns_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route', 'method'],
    buckets: [...HTTP_REQUEST_BUCKETS],
    registers,
  });

  const targets = [
    ['Clock', 'now'],
    ['File', 'read'],
    ['Clock', 'later'],
  ] as const;
  SECONDS.forEach((s, i) => {
    const [iface, method] = targets[i % targets.length]!;
    const stats = metrics.gatewayCalls.at(iface, method);
    stats.calls++;
    stats.seconds.observe(s);
    calls.inc({ interface: iface, method });
    callSeconds.observe({ interface: iface, method }, s);
    if (i % 4 === 1) {
      const type = i % 8 === 1 ? 'NS_ERR_REVOKED' : 'failed';
      stats.failed(type);
      errors.inc({ interface: iface, method, type });
    }
    const route = i < SECONDS.length / 2 ? '/api/v1/call' : '/healthz';
    const status = i % 5 === 0 ? 400 : 200;
    metrics.requests.at(route, 'POST').answered(status, s);
    requests.inc({ route, method: 'POST', status: String(status) });
    requestSeconds.observe({ route, method: 'POST' }, s);
  });

  for (const name of ['capns_gateway_calls_total', 'capns_gateway_call_duration_seconds', 'capns_http_request_duration_seconds']) {
    assert.equal(await metrics.registry.getSingleMetricAsString(name), await ref.getSingleMetricAsString(name), name);
  }
  // Series with a third label are listed by the first two, then the third (prom-client:
  // in the order each first came); the order of series means nothing to Prometheus.
  for (const name of ['capns_gateway_call_errors_total', 'capns_http_requests_total']) {
    const lines = async (r: Registry): Promise<string[]> => (await r.getSingleMetricAsString(name)).split('\n').sort();
    assert.deepEqual(await lines(metrics.registry), await lines(ref), name);
  }
  // The whole exposition keeps the metrics in the order they were registered before.
  const names = [...(await metrics.registry.metrics()).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(names.slice(0, 5), ['capns_gateway_calls_total', 'capns_gateway_call_errors_total', 'capns_gateway_call_duration_seconds', 'capns_http_requests_total', 'capns_http_request_duration_seconds']);
});

test('metrics: every gateway call and HTTP request is counted, failures by type, with its latency', async (t) => {
  const { base } = await startServer(t);
  const N = 7;
  for (let i = 0; i < N; i++) assert.equal((await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'now' } })).status, 200);
  // An unknown method is refused before any call: not a gateway call.
  assert.equal((await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'later' } })).status, 400);
  // Calls refused by a revoked grant are gateway calls that failed.
  for (let i = 0; i < 2; i++) assert.equal((await api(base, 'POST', '/api/v1/call', { token: GUEST_TOKEN, body: { path: '/svc/clock', method: 'now' } })).status, 200);
  assert.equal((await api(base, 'POST', '/api/v1/captable/revoke-holder', { body: { holder: 'guest@' } })).json.count, 1);
  for (let i = 0; i < 3; i++) assert.equal((await api(base, 'POST', '/api/v1/call', { token: GUEST_TOKEN, body: { path: '/svc/clock', method: 'now' } })).status, 410);
  for (let i = 0; i < 4; i++) assert.equal((await api(base, 'GET', '/healthz', { token: null })).status, 200);

  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const value = (line: string): number => {
    const m = new RegExp(`^${line.replace(/[{}()[\]|.+*?^$\\]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
    assert.ok(m, `no ${line} in\n${text}`);
    return Number(m[1]);
  };
  const clock = '{interface="Clock",method="now"}';
  const total = N + 2 + 3;
  assert.equal(value(`capns_gateway_calls_total${clock}`), total);
  assert.doesNotMatch(text, /capns_gateway_calls_total\{[^}]*method="later"/);
  assert.equal(value('capns_gateway_call_errors_total{interface="Clock",method="now",type="NS_ERR_REVOKED"}'), 3);
  assert.equal(value(`capns_gateway_call_duration_seconds_count${clock}`), total);
  assert.equal(value('capns_gateway_call_duration_seconds_bucket{le="+Inf",interface="Clock",method="now"}'), total);
  const sum = value(`capns_gateway_call_duration_seconds_sum${clock}`);
  assert.ok(sum > 0 && sum < total, `sum ${sum}`);
  // Buckets are cumulative and end at the count.
  const buckets = GATEWAY_CALL_BUCKETS.map((le) => value(`capns_gateway_call_duration_seconds_bucket{le="${le}",interface="Clock",method="now"}`));
  assert.deepEqual(
    buckets,
    [...buckets].sort((a, b) => a - b),
  );
  assert.equal(buckets.at(-1), total);

  assert.equal(value('capns_http_requests_total{route="/api/v1/call",method="POST",status="200"}'), N + 2);
  assert.equal(value('capns_http_requests_total{route="/api/v1/call",method="POST",status="400"}'), 1);
  assert.equal(value('capns_http_requests_total{route="/api/v1/call",method="POST",status="410"}'), 3);
  assert.equal(value('capns_http_requests_total{route="/healthz",method="GET",status="200"}'), 4);
  assert.equal(value('capns_http_request_duration_seconds_count{route="/api/v1/call",method="POST"}'), total + 1);
  assert.equal(value('capns_http_request_duration_seconds_count{route="/healthz",method="GET"}'), 4);

  // Counted from one scrape to the next, not reset by it.
  await api(base, 'POST', '/api/v1/call', { body: { path: '/svc/clock', method: 'now' } });
  const again = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  assert.match(again, new RegExp(`^capns_gateway_calls_total\\{interface="Clock",method="now"\\} ${total + 1}$`, 'm'));
});
