/**
 * Prometheus metrics of the HTTP app (prom-client, one Registry per app: no global
 * state). Wired: gateway calls, their errors and latency by interface and method, HTTP
 * requests by route and status, HTTP sessions, and the capability table (grants held and
 * their call counts by label, read at each scrape), calls over Cap'n Proto through grants
 * by interface, method and exception type, connections per listener and 9P fids. Not
 * counted: calls that pass through no grant (a capability a service made for itself).
 *
 * What is counted per request (gateway calls, HTTP requests) goes into plain numbers,
 * found by label values in nested maps, and is handed to prom-client at each scrape:
 * prom-client's own `inc` and `observe` check and hash the label object at every call
 * (sorting and joining the label names), which cost about 10 µs of every gateway call.
 * The exposition is prom-client's, of the same names, labels and buckets.
 */
import { Counter, Gauge, Registry, type Histogram } from 'prom-client';
import { SchemaIndex } from '../reflect/index.js';
import type { AdminDeps } from './deps.js';

/** Buckets (upper bounds, seconds) of capns_gateway_call_duration_seconds. */
export const GATEWAY_CALL_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Buckets (upper bounds, seconds) of capns_http_request_duration_seconds. */
export const HTTP_REQUEST_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/**
 * Observations of one histogram series: how many fell in each bucket (not cumulative; a
 * last slot for those above every bound), their count and sum.
 */
export class Latencies {
  readonly #bounds: readonly number[];
  /** Per bucket, then one for observations above the last bound. */
  readonly perBucket: number[];
  count = 0;
  sum = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.perBucket = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records one observation (seconds). A value that is not a finite number is ignored. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.#bounds;
    let i = 0;
    // As prom-client: a value on a bound counts in that bound's bucket.
    while (i < b.length && value > b[i]!) i++;
    this.perBucket[i]!++;
    this.count++;
    this.sum += value;
  }
}

/** A label set (in label-name order) and its series' values. */
interface Entry<S> {
  readonly labels: Readonly<Record<string, string>>;
  readonly series: S;
}

/**
 * Series by label values, found through one map per label (the values given are used as
 * keys as they are: no string is built per lookup). Lists them in the order they were made.
 */
export class SeriesTable<S> {
  readonly labelNames: readonly string[];
  readonly #make: () => S;
  readonly #root = new Map<unknown, unknown>();
  readonly #entries: Entry<S>[] = [];

  constructor(labelNames: readonly string[], make: () => S) {
    this.labelNames = labelNames;
    this.#make = make;
  }

  /** The series of `values` (one per label name, in order), made at first use. */
  at(...values: readonly (string | number)[]): S {
    let m = this.#root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = m.get(values[i]) as Map<unknown, unknown> | undefined;
      if (next === undefined) m.set(values[i], (next = new Map()));
      m = next;
    }
    let s = m.get(values[last]) as S | undefined;
    if (s === undefined) {
      s = this.#make();
      m.set(values[last], s);
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = String(values[i])));
      this.#entries.push({ labels, series: s });
    }
    return s;
  }

  /** Every series made so far, with its labels, oldest first. */
  entries(): readonly Entry<S>[] {
    return this.#entries;
  }
}

/**
 * Registers in `registry` a histogram whose series `series()` lists at each scrape (label
 * sets and their Latencies over `bounds`), as a metric object of prom-client's own
 * shape: what its `Histogram.get()` returns (cumulative `_bucket` values with `le` first,
 * then `_sum` and `_count`), which the registry formats as it formats its own
 * histograms. prom-client has no way to fill a Histogram from counts kept elsewhere; its
 * Registry takes any metric with `get()`.
 */
function registerHistogram(
  registry: Registry,
  name: string,
  help: string,
  bounds: readonly number[],
  series: () => Iterable<{ readonly labels: Readonly<Record<string, string>>; readonly latencies: Latencies }>,
): void {
  const bucket = `${name}_bucket`;
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const { labels, latencies } of series()) {
        let acc = 0;
        bounds.forEach((le, i) => {
          acc += latencies.perBucket[i]!;
          values.push({ labels: { le, ...labels }, value: acc, metricName: bucket });
        });
        values.push({ labels: { le: '+Inf', ...labels }, value: latencies.count, metricName: bucket });
        values.push({ labels: { ...labels }, value: latencies.sum, metricName: `${name}_sum` });
        values.push({ labels: { ...labels }, value: latencies.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    // Registry.resetMetrics (never called here): what was counted stays.
    reset: () => {},
  };
  registry.registerMetric(metric as unknown as Histogram);
}

/** What is counted of gateway calls of one interface and method. */
export class GatewayCallStats {
  calls = 0;
  /** Failures by type (an NsError code, `revoked`, an RPC exception type). */
  readonly errors = new Map<string, number>();
  readonly seconds = new Latencies(GATEWAY_CALL_BUCKETS);

  failed(type: string): void {
    this.errors.set(type, (this.errors.get(type) ?? 0) + 1);
  }
}

/** What is counted of HTTP requests of one route and method. */
export class RequestStats {
  /** Requests by status code. */
  readonly byStatus = new Map<number, number>();
  readonly seconds = new Latencies(HTTP_REQUEST_BUCKETS);

  /** Records a request answered with `status` after `seconds`. */
  answered(status: number, seconds: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    this.seconds.observe(seconds);
  }
}

/** The app's metrics. */
export class AdminMetrics {
  readonly registry = new Registry();
  /** Gateway calls by interface and method: `gatewayCalls.at(interfaceName, method)`. */
  readonly gatewayCalls = new SeriesTable<GatewayCallStats>(['interface', 'method'], () => new GatewayCallStats());
  /** HTTP requests by route and method: `requests.at(route, method).answered(status, seconds)`. */
  readonly requests = new SeriesTable<RequestStats>(['route', 'method'], () => new RequestStats());

  constructor(deps: Pick<AdminDeps, 'captable' | 'sessionCount' | 'stats' | 'schema'>) {
    const registers = [this.registry];
    const captable = deps.captable;
    const gateway = this.gatewayCalls;
    new Counter({
      name: 'capns_gateway_calls_total',
      help: 'Method calls made through the JSON gateway',
      labelNames: ['interface', 'method'],
      registers,
      collect() {
        this.reset();
        for (const { labels, series } of gateway.entries()) this.inc(labels, series.calls);
      },
    });
    new Counter({
      name: 'capns_gateway_call_errors_total',
      help: 'Gateway calls that failed, by NsError code or RPC exception type',
      labelNames: ['interface', 'method', 'type'],
      registers,
      collect() {
        this.reset();
        for (const { labels, series } of gateway.entries()) for (const [type, n] of series.errors) this.inc({ ...labels, type }, n);
      },
    });
    registerHistogram(this.registry, 'capns_gateway_call_duration_seconds', 'Latency of gateway calls (reflection, call, results)', GATEWAY_CALL_BUCKETS, function* () {
      for (const { labels, series } of gateway.entries()) yield { labels, latencies: series.seconds };
    });
    const requests = this.requests;
    new Counter({
      name: 'capns_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'method', 'status'],
      registers,
      collect() {
        this.reset();
        for (const { labels, series } of requests.entries()) for (const [status, n] of series.byStatus) this.inc({ ...labels, status: String(status) }, n);
      },
    });
    registerHistogram(this.registry, 'capns_http_request_duration_seconds', 'HTTP request latency by route', HTTP_REQUEST_BUCKETS, function* () {
      for (const { labels, series } of requests.entries()) yield { labels, latencies: series.seconds };
    });
    // Calls over Cap'n Proto through any grant (RPC clients, 9P, HTTP sessions, exports),
    // by interface and method, named from the schema; totals read at each scrape.
    const schema = deps.schema ?? new SchemaIndex();
    const names = (interfaceId: bigint, methodId: number): { interface: string; method: string } => {
      const m = schema.methods(interfaceId).find((r) => r.interfaceId === interfaceId && r.method.id === methodId);
      return { interface: schema.interfaceName(interfaceId), method: m?.method.name ?? String(methodId) };
    };
    new Counter({
      name: 'capns_rpc_calls_total',
      help: "Calls over Cap'n Proto through grants, by interface and method",
      labelNames: ['interface', 'method'],
      registers,
      collect() {
        this.reset();
        for (const m of captable.methodStats()) this.inc(names(m.interfaceId, m.methodId), m.calls);
      },
    });
    new Counter({
      name: 'capns_rpc_call_errors_total',
      help: "Calls over Cap'n Proto through grants that failed, by exception type (revoked: refused by a revoked grant)",
      labelNames: ['interface', 'method', 'type'],
      registers,
      collect() {
        this.reset();
        for (const m of captable.methodStats()) {
          for (const [type, n] of m.errors) this.inc({ ...names(m.interfaceId, m.methodId), type }, n);
        }
      },
    });
    new Counter({
      name: 'capns_rpc_call_seconds_total',
      help: "Seconds taken by calls over Cap'n Proto through grants (divide by capns_rpc_calls_total for the mean)",
      labelNames: ['interface', 'method'],
      registers,
      collect() {
        this.reset();
        for (const m of captable.methodStats()) this.inc(names(m.interfaceId, m.methodId), m.seconds);
      },
    });
    const stats = deps.stats;
    if (stats !== undefined) {
      new Gauge({
        name: 'capns_connections',
        help: 'Connections open now, by listener (protocol and address)',
        labelNames: ['protocol', 'address'],
        registers,
        collect() {
          this.reset();
          for (const l of stats().listeners) this.set({ protocol: l.protocol, address: l.address }, l.connections);
        },
      });
      new Gauge({
        name: 'capns_9p_fids',
        help: '9P fids held by every 9P connection of the process',
        registers,
        collect() {
          this.set(stats().fids);
        },
      });
      new Gauge({
        name: 'capns_namespaces',
        help: 'Namespaces open in the process, each with its forks and views (RPC and export peers, services, HTTP sessions)',
        registers,
        collect() {
          this.set(stats().namespaces);
        },
      });
    }
    new Gauge({
      name: 'capns_http_sessions',
      help: 'Profiles with an open HTTP session',
      registers,
      collect() {
        this.set(deps.sessionCount());
      },
    });
    new Gauge({
      name: 'capns_grants',
      help: 'Capabilities held (grants in the capability table) by label and state',
      labelNames: ['label', 'state'],
      registers,
      collect() {
        this.reset();
        for (const g of captable.list()) this.inc({ label: g.label, state: g.revoked ? 'revoked' : 'live' });
      },
    });
    new Gauge({
      name: 'capns_grant_calls',
      help: 'Calls made through the grants now in the capability table, by label (grants leave the table with their holder)',
      labelNames: ['label'],
      registers,
      collect() {
        this.reset();
        for (const g of captable.list()) this.inc({ label: g.label }, Number(g.calls));
      },
    });
  }
}
