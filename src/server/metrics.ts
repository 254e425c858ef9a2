import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The service's Prometheus metrics, on a registry of its own (so several servers can share a process in tests). */
export interface ServiceMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  ingestedProfiles: Counter<'outcome'>;
  identities: Counter<'outcome' | 'reason'>;
  xRequests: Counter<'status' | 'endpoint'>;
  deliveryLatency: Histogram<'endpoint'>;
  pendingChanges: Gauge<'kind'>;
  rateLimitWaits: Counter<'scope'>;
  rateLimitWaitSeconds: Counter<'scope'>;
  alertsSent: Counter<'type' | 'outcome'>;
}

export function createMetrics(options: { defaultMetrics?: boolean; collectPending?: () => Promise<{ adds: number; removes: number }> } = {}): ServiceMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'tca_process_' });
  const collectPending = options.collectPending;
  return {
    registry,
    httpRequests: new Counter({
      name: 'tca_http_requests_total',
      help: 'HTTP requests by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'tca_http_request_duration_seconds',
      help: 'HTTP request duration by route template',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    ingestedProfiles: new Counter({
      name: 'tca_ingested_profiles_total',
      help: 'Profiles received on the ingest API, by outcome (accepted, rejected, duplicate)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    identities: new Counter({
      name: 'tca_identities_total',
      help: 'Identities by outcome (activated, excluded, failed) and reason code',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    }),
    xRequests: new Counter({
      name: 'tca_x_requests_total',
      help: 'Requests to the X Ads API by HTTP status (or "network") and endpoint kind',
      labelNames: ['status', 'endpoint'],
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'tca_x_request_duration_seconds',
      help: 'Latency of X Ads API requests (delivery latency per request)',
      labelNames: ['endpoint'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    pendingChanges: new Gauge({
      name: 'tca_pending_changes',
      help: 'Audience membership changes waiting for delivery, by kind (add, remove)',
      labelNames: ['kind'],
      registers: [registry],
      async collect() {
        if (!collectPending) return;
        try {
          const p = await collectPending();
          this.set({ kind: 'add' }, p.adds);
          this.set({ kind: 'remove' }, p.removes);
        } catch {
          // A scrape must not fail because the store is briefly busy; the gauge keeps its last value.
        }
      },
    }),
    rateLimitWaits: new Counter({
      name: 'tca_rate_limit_waits_total',
      help: 'Times a delivery waited for an X rate-limit window',
      labelNames: ['scope'],
      registers: [registry],
    }),
    rateLimitWaitSeconds: new Counter({
      name: 'tca_rate_limit_wait_seconds_total',
      help: 'Seconds spent waiting for X rate-limit windows',
      labelNames: ['scope'],
      registers: [registry],
    }),
    alertsSent: new Counter({
      name: 'tca_alerts_total',
      help: 'Alert webhook calls by alert type and outcome (sent, failed)',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    }),
  };
}

/** Classifies an X Ads API URL path into a low-cardinality endpoint label. */
export function xEndpointLabel(method: string, path: string): string {
  if (/\/custom_audiences\/[^/]+\/users$/.test(path)) return 'users';
  if (/\/custom_audiences(\/[^/]+)?$/.test(path)) return `audiences_${method.toLowerCase()}`;
  if (/\/authenticated_user_access$/.test(path)) return 'user_access';
  if (/\/accounts\/[^/]+$/.test(path)) return 'account';
  if (/oauth/.test(path)) return 'oauth';
  return 'other';
}
