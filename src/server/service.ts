import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Config } from '../config/index.ts';
import {
  openStore,
  isActivated,
  lockUntilCommit,
  DEFAULT_SANDBOX_ID,
  NO_DATA_ALERT_HOURS,
  type Audience,
  type Dataflow,
  type Destination,
  type Store,
} from '../store/index.ts';
import { createEngine, isScheduleActive, type Engine, type EngineTuning } from '../engine/index.ts';
import { AuthError, XAdsClient } from '../xads/index.ts';
import { createApp, type ServiceApp } from './app.ts';
import { createStoreBackend } from './store-backend.ts';
import { createEngineAdapter } from './engine-adapter.ts';
import {
  createXConnection,
  observeXApiWarnings,
  observeXClock,
  observeXRequests,
  observeXWaits,
} from './x-connection.ts';
import { domainRules } from './domain-rules.ts';
import { createMetrics, type ServiceMetrics } from './metrics.ts';
import { createLogger, type Logger } from './logger.ts';
import { alertCounts, startAlerts, webhookTarget, type DataflowHealth } from './alerts.ts';
import { startAuditForward } from './audit-forward.ts';
import { PERMISSIONS } from './permissions.ts';
import type { EnginePort } from './ports.ts';
import type { ServiceBackend } from './backend.ts';
import { describeOutboundProxy } from '../net/outbound-proxy.ts';

export const ADMIN_TOKEN_FILE = 'admin-token';
const ADMIN_TOKEN_NAME = 'admin';
const HOUR_MS = 3_600_000;

export interface Service {
  url: string;
  config: Config;
  store: Store;
  engine: Engine;
  enginePort: EnginePort;
  backend: ServiceBackend;
  app: ServiceApp;
  metrics: ServiceMetrics;
  logger: Logger;
  /** Set when this start created the admin token (first start). */
  adminToken: string | undefined;
  adminTokenFile: string;
  alerts: { check(): Promise<unknown[]>; deliver(): Promise<number> } | undefined;
  /** Stops accepting requests, drains in-flight deliveries, closes the store. */
  close(): Promise<void>;
}

export interface StartServiceOptions {
  logger?: Logger;
  /** For tests: check responses against their schemas. */
  validateResponses?: boolean;
  /** The X client's fetch (tests may route to an in-process emulator). */
  xFetch?: typeof globalThis.fetch;
  alertFetch?: typeof globalThis.fetch;
  engineTuning?: Partial<EngineTuning>;
  /** Console build directory; default web/dist of the package, null for none. */
  staticDir?: string | null;
  now?: () => number;
}

function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/**
 * Starts the service: opens the store (running migrations), creates the admin token on first start, and serves the
 * API (role api/all) and runs delivery workers and alerts (role worker/all).
 */
export async function startService(config: Config, options: StartServiceOptions = {}): Promise<Service> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const now = options.now ?? Date.now;
  // The store's file, the secret key and the admin token live there: the owner's alone when it is made here.
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    secretKey: config.secretKey,
    previousSecretKey: config.previousSecretKey,
    sqlite: { cacheMb: config.sqliteCacheMb },
    now,
  });
  if (store.keyRotation) {
    const { from, to, credentials, alertTargets } = store.keyRotation;
    logger.info(
      { from, to, credentials, alertTargets },
      'secret key rotated: credentials and alert webhooks re-encrypted under the new key; remove TCA_SECRET_KEY_PREVIOUS once every process runs with the new key',
    );
  } else if (config.previousSecretKey !== undefined) {
    logger.info(
      { key: store.secrets.keyId },
      'the store is on the configured secret key already: TCA_SECRET_KEY_PREVIOUS is not needed',
    );
  }
  const metrics = createMetrics();

  const clientFor = async (destination: Destination) => {
    const creds = await store.destinations.getCredentials(destination.sandboxId, destination.id);
    if (!creds || creds.accessToken === undefined || creds.accessTokenSecret === undefined) {
      throw new AuthError({
        message: `Destination ${destination.id} has no access token`,
        hint: 'Log in with X (tca destinations login) or set credentials on the destination',
      });
    }
    return new XAdsClient({
      baseUrl: destination.apiBaseUrl ?? config.xApiBaseUrl,
      credentials: {
        consumerKey: creds.consumerKey,
        consumerSecret: creds.consumerSecret,
        accessToken: creds.accessToken,
        accessTokenSecret: creds.accessTokenSecret,
      },
      onRequest: observeXRequests(metrics),
      onWait: observeXWaits(metrics),
      onClockSkew: observeXClock(metrics, logger),
      onApiWarning: observeXApiWarnings(metrics, logger),
      ...(options.xFetch ? { fetch: options.xFetch } : {}),
      now,
    });
  };
  const engine = createEngine({
    store,
    clientFor,
    now,
    logger: {
      info: (o, m) => logger.info(o, m),
      warn: (o, m) => logger.warn(o, m),
      error: (o, m) => logger.error(o, m),
      debug: (o, m) => logger.debug(o, m),
    },
    ...(options.engineTuning ? { tuning: options.engineTuning } : {}),
  });
  const enginePort = createEngineAdapter({
    engine,
    store,
    metrics,
    // Only the API reads ingest bodies.
    ingestThreads: config.role === 'worker' ? 0 : config.ingestThreads,
    logger,
  });
  metrics.sources.pending = () => enginePort.pendingTotals();
  metrics.sources.imports = () => engine.importCounts();
  metrics.sources.alerts = () => alertCounts(store.db);
  metrics.sources.identities = async () => {
    const rows = await store.db
      .selectFrom('engine_run_counters')
      .select((eb) => ['metric', 'code', eb.fn.sum<number>('value').as('value')])
      .where('audience_id', '=', '')
      .groupBy(['metric', 'code'])
      .execute();
    return rows
      .filter((r) => r.metric.startsWith('identities_'))
      .map((r) => ({
        outcome: r.metric.slice('identities_'.length),
        reason: r.code,
        value: Number(r.value),
      }));
  };

  const backend = createStoreBackend({
    store,
    engine: enginePort,
    x: createXConnection({ ...(options.xFetch ? { fetch: options.xFetch } : {}), now, metrics, logger }),
    rules: domainRules,
    defaultXApiBaseUrl: config.xApiBaseUrl,
    defaultXApp: config.xDefaultApp,
    now,
    auditFeedDelayMs: config.auditFeedDelayMs,
    auditForward: config.auditForward,
    outboundProxy: config.outboundProxy,
    alertWebhookSecret: config.alerts.webhookSecret,
    alertWebhookUrl: config.alerts.webhookUrl,
    alertWebhookFormat: config.alerts.webhookFormat,
    alertPagerDuty: config.alerts.pagerDuty,
    alertPagerDutyUrl: config.alerts.pagerDutyUrl,
    alertEmail: config.alerts.email,
    importUrlAllow: config.importUrlAllow,
    ...(options.alertFetch ? { alertFetch: options.alertFetch } : {}),
  });

  const staticDir = options.staticDir === undefined ? join(packageRoot(), 'web', 'dist') : options.staticDir;
  const app = createApp({
    backend,
    logger,
    metrics,
    limits: config.limits,
    staticDir,
    apiEnabled: config.role !== 'worker',
    ...(options.validateResponses ? { validateResponses: true } : {}),
    now,
  });

  // Only a process that serves the API issues the admin token: a worker's data directory is no place to look for it
  // (often a container's, thrown away), and a worker started first would leave the API process none to print.
  const { adminToken, file: adminTokenFile } =
    config.role === 'worker'
      ? { adminToken: undefined, file: join(config.dataDir, ADMIN_TOKEN_FILE) }
      : await ensureAdminToken(store, config.dataDir);

  const server: ServerType = await new Promise((resolveServer) => {
    const s = serve({ fetch: app.app.fetch, port: config.port, hostname: config.host }, () =>
      resolveServer(s),
    );
  });
  // An upload of millions of rows takes minutes: no limit on receiving a request (Node's default ends one after 5
  // minutes). Reading a body fails instead when nothing arrives for TCA_IDLE_TIMEOUT_SECONDS (see `readWithin`).
  if ('requestTimeout' in server) server.requestTimeout = 0;
  const address = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let worker: { stop(): Promise<void> } | undefined;
  let alerts: ReturnType<typeof startAlerts> | undefined;
  let auditForward: ReturnType<typeof startAuditForward> | undefined;
  if (config.role !== 'api') {
    worker = enginePort.startWorker();
    alerts = startAlerts({
      store,
      owner: `worker-${randomUUID()}`,
      collect: () => collectHealth(store, enginePort, now),
      thresholds: {
        exclusionRate: config.alerts.exclusionRateThreshold,
        delayMinutes: config.alerts.delayMinutes,
      },
      globalWebhookUrl:
        config.alerts.webhookUrl && webhookTarget(config.alerts.webhookUrl, config.alerts.webhookFormat),
      webhookSecret: config.alerts.webhookSecret,
      pagerDuty: config.alerts.pagerDuty,
      pagerDutyUrl: config.alerts.pagerDutyUrl,
      email: config.alerts.email,
      repeatMs: config.alerts.repeatHours * 3_600_000,
      warningRepeatMs: config.alerts.repeatWarningHours * 3_600_000,
      intervalMs: config.alerts.checkIntervalSeconds * 1000,
      logger,
      metrics,
      ...(options.alertFetch ? { fetch: options.alertFetch } : {}),
      now,
    });
    if (config.auditForward)
      auditForward = startAuditForward({
        config: config.auditForward,
        store,
        feed: (sandboxId, query) => backend.audit.feed(sandboxId, query),
        owner: `worker-${randomUUID()}`,
        logger,
        metrics,
        now,
      });
  }
  logger.info(
    {
      url,
      role: config.role,
      dialect: store.capabilities.dialect,
      ...(config.outboundProxy ? { outboundProxy: describeOutboundProxy(config.outboundProxy) } : {}),
    },
    'service started',
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Stop taking new requests first, then let the worker finish its in-flight deliveries, then close the store.
      const serverClosed = new Promise<void>((r) => server.close(() => r()));
      if ('closeIdleConnections' in server)
        (server as unknown as { closeIdleConnections(): void }).closeIdleConnections();
      await alerts?.stop();
      await auditForward?.stop();
      await worker?.stop();
      await Promise.race([serverClosed, new Promise((r) => setTimeout(r, 5000).unref())]);
      await enginePort.close();
      await store.close();
      logger.info({}, 'service stopped');
    })());

  return {
    url,
    config,
    store,
    engine,
    enginePort,
    backend,
    app,
    metrics,
    logger,
    adminToken,
    adminTokenFile,
    alerts: alerts && { check: () => alerts.check(), deliver: () => alerts.deliver() },
    close,
  };
}

/**
 * On first start, issues a token with every permission in the default sandbox, writes it to `dataDir/admin-token`
 * (mode 0600) and returns it so the caller prints it once. Later starts return undefined.
 */
export async function ensureAdminToken(
  store: Store,
  dataDir: string,
): Promise<{ adminToken: string | undefined; file: string }> {
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  // Processes that start together on one PostgreSQL database take turns, so exactly one of them issues the token.
  const token = await store.transaction(async (tx) => {
    await lockUntilCommit(tx.db, store.capabilities, 'tca.admin-token');
    const existing = (await tx.apiTokens.list(DEFAULT_SANDBOX_ID)).filter(
      (t) => t.name === ADMIN_TOKEN_NAME && t.revokedAt === null,
    );
    if (existing.length > 0) return undefined;
    const created = await tx.apiTokens.create({
      sandboxId: DEFAULT_SANDBOX_ID,
      name: ADMIN_TOKEN_NAME,
      permissions: PERMISSIONS,
    });
    return created.token;
  });
  if (token === undefined) return { adminToken: undefined, file };
  await writeFile(file, token + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
  return { adminToken: token, file };
}

/** Reads the admin token file, if present. */
export async function readAdminToken(dataDir: string): Promise<string | undefined> {
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  if (!existsSync(file)) return undefined;
  return (await readFile(file, 'utf8')).trim() || undefined;
}

/**
 * What a dataflow expects of its source for the `dataflow_no_data` alert: none unless it has `noDataAlertHours` and an
 * audience scheduled now; otherwise since when nothing arrived: when the last profiles did, or when it began to
 * expect them (created, or its earliest scheduled audience started), whichever is later.
 */
function expectedData(
  d: Pick<Dataflow, 'noDataAlertHours'>,
  audiences: ReadonlyArray<Pick<Audience, 'startDate' | 'endDate' | 'state'>>,
  lastReceivedAt: number | null,
  expectingSince: number,
  now: number,
): DataflowHealth['noData'] {
  if (d.noDataAlertHours === null) return null;
  const scheduled = audiences.filter(
    (a) => isActivated(a) && isScheduleActive({ startAt: a.startDate, endAt: a.endDate }, now),
  );
  if (scheduled.length === 0) return null;
  const started = Math.min(...scheduled.map((a) => a.startDate));
  const since = Math.max(expectingSince, started, lastReceivedAt ?? 0);
  return { hours: d.noDataAlertHours, since };
}

async function collectHealth(store: Store, engine: EnginePort, now: () => number): Promise<DataflowHealth[]> {
  const flows = await store.dataflows.listAcrossSandboxes(['active', 'paused', 'failed']);
  const out: DataflowHealth[] = [];
  const sandboxNames = new Map((await store.sandboxes.list()).map((s) => [s.id, s.name]));
  // The longest a dataflow may expect to wait for profiles, and then some: every receipt that could matter.
  const lookback = now() - (NO_DATA_ALERT_HOURS.max + 24) * 3_600_000;
  const received = await engine.lastReceivedAt(
    flows.filter((d) => d.noDataAlertHours !== null).map((d) => d.id),
    lookback,
  );
  for (const d of flows) {
    const destination = await store.destinations.get(d.sandboxId, d.destinationId);
    const audiences = await store.audiences.list(d.sandboxId, { dataflowId: d.id });
    const outlook = await engine.outlook(
      d.sandboxId,
      audiences.map((a) => a.id),
    );
    let oldest: number | null = null;
    let dueAt: number | null = null;
    let waiting = 0;
    for (const o of outlook.values()) {
      if (o.oldestAt !== null && (oldest === null || o.oldestAt < oldest)) oldest = o.oldestAt;
      if (o.dueAt !== null && (dueAt === null || o.dueAt < dueAt)) dueAt = o.dueAt;
      waiting += o.adds + o.removes;
    }
    // The last day's runs, newest first, with the counts alerts and run notifications read: a service that was down
    // for hours still tells of the newest run that ended meanwhile.
    const runs = (
      await engine.runs(d.sandboxId, d.id, { from: new Date(now() - 24 * HOUR_MS), to: new Date(now()) })
    ).map((r) => ({
      runId: String(r['runId'] ?? r.runStart),
      endsAt: Number(r['endsAt'] ?? Date.parse(r.runStart) + 3_600_000),
      activated: Number(r['identitiesActivated'] ?? 0),
      added: Number(r['identitiesAdded'] ?? 0),
      removed: Number(r['identitiesRemoved'] ?? 0),
      excluded: Number(r['identitiesExcluded'] ?? 0),
      failed: Number(r['identitiesFailed'] ?? 0),
      pendingSample: r['pendingChanges'] == null ? 0 : Number(r['pendingChanges']),
    }));
    // The rate alerts read the newest run with anything counted among those that started in the last two hours.
    const rateFrom = Math.floor((now() - 2 * HOUR_MS) / HOUR_MS) * HOUR_MS;
    const latest = runs.find(
      (r) => r.endsAt - HOUR_MS >= rateFrom && r.activated + r.excluded + r.failed > 0,
    );
    out.push({
      sandboxId: d.sandboxId,
      sandbox: sandboxNames.get(d.sandboxId) ?? d.sandboxId,
      dataflowId: d.id,
      dataflowName: d.name,
      destinationId: d.destinationId,
      webhookUrl: destination?.alertWebhookUrl
        ? webhookTarget(destination.alertWebhookUrl, destination.alertWebhookFormat)
        : null,
      emailTo: destination?.alertEmailTo ?? [],
      pagerDutyDestinationId: destination?.hasAlertPagerDutyKey ? destination.id : null,
      alertTypes: destination?.alertTypes ?? null,
      status: d.status,
      statusReason: d.statusReason,
      oldestPendingAt: oldest,
      dueAt,
      audiences: audiences.map((a) => ({
        id: a.id,
        name: a.xAudienceName ?? a.mappingName,
        xAudienceId: a.xAudienceId,
        size: a.audienceSize,
        targetable: a.targetable,
        reasons: a.reasonsNotTargetable ?? [],
      })),
      noData: expectedData(d, audiences, received.get(d.id) ?? null, Math.max(lookback, d.createdAt), now()),
      lastRun: latest
        ? {
            runId: latest.runId,
            activated: latest.activated,
            excluded: latest.excluded,
            failed: latest.failed,
            // The open run's backlog is the one waiting now; an ended run's, the last sampled before it ended.
            pending: latest.endsAt > now() ? waiting : latest.pendingSample,
          }
        : null,
      recentRuns: runs.filter((r) => r.activated + r.excluded + r.failed > 0),
    });
  }
  return out;
}
