/**
 * Prometheus metrics of the HTTP app (prom-client, one Registry per app: no global
 * state). Wired: gateway calls, their errors and latency by interface and method, HTTP
 * requests by route and status, HTTP sessions, and the capability table (grants held and
 * their call counts by label, read at each scrape), calls over Cap'n Proto through grants
 * by interface, method and exception type, connections per listener and 9P fids. Not
 * counted: calls that pass through no grant (a capability a service made for itself).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SchemaIndex } from '../reflect/index.js';
import type { AdminDeps } from './deps.js';

/** The app's metrics. */
export class AdminMetrics {
  readonly registry = new Registry();
  readonly calls: Counter<'interface' | 'method'>;
  readonly callErrors: Counter<'interface' | 'method' | 'type'>;
  readonly callSeconds: Histogram<'interface' | 'method'>;
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestSeconds: Histogram<'route' | 'method'>;

  constructor(deps: Pick<AdminDeps, 'captable' | 'sessionCount' | 'stats' | 'schema'>) {
    const registers = [this.registry];
    const captable = deps.captable;
    this.calls = new Counter({ name: 'capns_gateway_calls_total', help: 'Method calls made through the JSON gateway', labelNames: ['interface', 'method'], registers });
    this.callErrors = new Counter({
      name: 'capns_gateway_call_errors_total',
      help: 'Gateway calls that failed, by NsError code or RPC exception type',
      labelNames: ['interface', 'method', 'type'],
      registers,
    });
    this.callSeconds = new Histogram({
      name: 'capns_gateway_call_duration_seconds',
      help: 'Latency of gateway calls (reflection, call, results)',
      labelNames: ['interface', 'method'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.requests = new Counter({ name: 'capns_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'method', 'status'], registers });
    this.requestSeconds = new Histogram({
      name: 'capns_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['route', 'method'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
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
