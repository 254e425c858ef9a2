import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The service's Prometheus metrics, on a registry of its own (so several servers can share a process in tests). */
export interface ServiceMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  ingestedProfiles: Counter<'outcome'>;
  /** Bytes of ingest bodies admitted and not yet answered, and requests waiting for room (`AdmissionGate`). */
  ingestPendingBytes: Gauge;
  ingestWaiting: Gauge;
  /** File imports waiting for their turn under TCA_MAX_CONCURRENT_IMPORTS. */
  importsWaiting: Gauge;
  identities: Gauge<'outcome' | 'reason'>;
  identitiesExcluded: Counter<'reason'>;
  xRequests: Counter<'status' | 'endpoint'>;
  deliveryLatency: Histogram<'endpoint'>;
  pendingChanges: Gauge<'kind'>;
  imports: Gauge<'status'>;
  rateLimitWaits: Counter<'scope' | 'reason'>;
  rateLimitWaitSeconds: Counter<'scope' | 'reason'>;
  /** Alert webhook calls by outcome: sent, failed (retried later), dropped (no webhook accepted it within a day). */
  alertsSent: Counter<'type' | 'outcome'>;
  alertsFiring: Gauge<'type'>;
  alertOutbox: Gauge;
  /** Audit events a collector acknowledged, and forwarding attempts that failed. */
  auditForwarded: Counter;
  auditForwardFailures: Counter;
  /** X's time minus this machine's, as the X client learned it from a refusal (0 while the clock is right). */
  xClockOffset: Gauge;
  /** Answers from X that carried a deprecation warning (`x-api-warn`). */
  xApiWarnings: Counter;
  /** Where scrape-time gauges read from; set once the store and engine exist. */
  sources: MetricsSources;
}

export interface MetricsSources {
  pending?: () => Promise<{ adds: number; removes: number }>;
  identities?: () => Promise<Array<{ outcome: string; reason: string; value: number }>>;
  imports?: () => Promise<Record<string, number>>;
  alerts?: () => Promise<{ firing: Record<string, number>; waiting: number }>;
}

export function createMetrics(
  options: { defaultMetrics?: boolean; sources?: MetricsSources } = {},
): ServiceMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'tca_' });
  // Sources are looked up at scrape time so they can be attached after the store opens.
  const sources: MetricsSources = options.sources ?? {};
  const collectPending = () => sources.pending?.() ?? Promise.resolve({ adds: 0, removes: 0 });
  const collectIdentities:
    (() => Promise<Array<{ outcome: string; reason: string; value: number }>>) | undefined = () =>
    sources.identities?.() ?? Promise.resolve([]);
  // Both alert gauges read one query per scrape: the registry collects every metric at once, so they share it.
  let alertCountsInFlight: ReturnType<NonNullable<MetricsSources['alerts']>> | undefined;
  const collectAlerts = () =>
    sources.alerts
      ? (alertCountsInFlight ??= sources.alerts().finally(() => {
          alertCountsInFlight = undefined;
        }))
      : undefined;
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
    ingestPendingBytes: new Gauge({
      name: 'tca_ingest_pending_bytes',
      help: 'Bytes of ingest bodies the service holds now (admitted, not yet answered); at TCA_INGEST_MAX_PENDING_BYTES new requests wait',
      registers: [registry],
    }),
    ingestWaiting: new Gauge({
      name: 'tca_ingest_waiting_requests',
      help: 'Ingest requests waiting for room under TCA_INGEST_MAX_PENDING_BYTES (refused with 503 after TCA_INGEST_MAX_WAIT_SECONDS)',
      registers: [registry],
    }),
    importsWaiting: new Gauge({
      name: 'tca_imports_waiting',
      help: 'File imports (uploads, URLs) waiting for their turn: TCA_MAX_CONCURRENT_IMPORTS run at once',
      registers: [registry],
    }),
    identities: new Gauge({
      name: 'tca_identities',
      help: 'Identities in the retained runs (90 days) by outcome (added, removed, excluded, failed) and reason or X error code',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
      async collect() {
        if (!collectIdentities) return;
        try {
          this.reset();
          for (const row of await collectIdentities())
            this.set({ outcome: row.outcome, reason: row.reason }, row.value);
        } catch {
          // keep the scrape alive
        }
      },
    }),
    identitiesExcluded: new Counter({
      name: 'tca_ingest_identities_excluded_total',
      help: 'Identities (or profiles without a mappable identifier) excluded at ingest, by reason code',
      labelNames: ['reason'],
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
        try {
          const p = await collectPending();
          this.set({ kind: 'add' }, p.adds);
          this.set({ kind: 'remove' }, p.removes);
        } catch {
          // A scrape must not fail because the store is briefly busy; the gauge keeps its last value.
        }
      },
    }),
    imports: new Gauge({
      name: 'tca_imports',
      help: 'File imports kept (30 days), by status (running, interrupted, failed, complete): interrupted and failed ones can be resumed',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        try {
          for (const [status, n] of Object.entries((await sources.imports?.()) ?? {}))
            this.set({ status }, n);
        } catch {
          // As for pending changes: a busy store keeps the last value.
        }
      },
    }),
    alertsFiring: new Gauge({
      name: 'tca_alerts_firing',
      help: 'Alerts firing now (their condition holds), by type',
      labelNames: ['type'],
      registers: [registry],
      async collect() {
        try {
          const counts = await collectAlerts();
          if (!counts) return;
          this.reset();
          for (const [type, n] of Object.entries(counts.firing)) this.set({ type }, n);
        } catch {
          // As for pending changes: a busy store keeps the last value.
        }
      },
    }),
    alertOutbox: new Gauge({
      name: 'tca_alert_notifications_waiting',
      help: 'Alert notifications waiting for their webhook to accept them (retried with backoff for up to a day)',
      registers: [registry],
      async collect() {
        try {
          const counts = await collectAlerts();
          if (counts) this.set(counts.waiting);
        } catch {
          // As for pending changes.
        }
      },
    }),
    rateLimitWaits: new Counter({
      name: 'tca_rate_limit_waits_total',
      help: 'Waits forced by X rate limits, by endpoint and reason (pacing before a request, retry after a 429, deferred to a later attempt)',
      labelNames: ['scope', 'reason'],
      registers: [registry],
    }),
    rateLimitWaitSeconds: new Counter({
      name: 'tca_rate_limit_wait_seconds_total',
      help: 'Seconds of those waits (deferred: until the time X named)',
      labelNames: ['scope', 'reason'],
      registers: [registry],
    }),
    alertsSent: new Counter({
      name: 'tca_alerts_total',
      help: 'Alert notifications by alert type and outcome (sent; failed: retried later; dropped: no webhook accepted it within a day; silenced: a silence held it back when it fired)',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    }),
    auditForwarded: new Counter({
      name: 'tca_audit_forwarded_events_total',
      help: 'Audit events the collector (TCA_AUDIT_FORWARD_URL) acknowledged',
      registers: [registry],
    }),
    auditForwardFailures: new Counter({
      name: 'tca_audit_forward_failures_total',
      help: 'Attempts to forward audit events that failed (retried with backoff)',
      registers: [registry],
    }),
    xClockOffset: new Gauge({
      name: 'tca_x_clock_offset_seconds',
      help: "X's time minus this machine's, as learned when X refused an OAuth timestamp (0 while the clock is right)",
      registers: [registry],
    }),
    xApiWarnings: new Counter({
      name: 'tca_x_api_warnings_total',
      help: 'Answers from X that warned of a deprecated API version or endpoint (x-api-warn): upgrade before it ends',
      registers: [registry],
    }),
    sources,
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
