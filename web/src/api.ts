/**
 * The console's only door to the service: every call to /api/v1 goes through `createApi`, so the wire shapes live in
 * one place. Types follow the service's schemas (src/server/schemas.ts, served as /api/v1/openapi.json); a few answers
 * are reshaped here (preflight checks, runs) into what the pages display.
 */
import type { Permission } from '../../src/server/permissions.ts';
import type { ConsentPolicy, ConsentPolicyInput } from '../../src/audience/consent.ts';
import type { CustomPolicyInput, FieldLabel } from '../../src/audience/governance.ts';
import type {
  AlertSilenceView,
  AlertView,
  AuditEventListView,
  ConsentPreviewView,
  DataUsagePoliciesView,
  FlushResultView,
  ImportReportView,
  ImportView,
  MonitoringView,
  ProfileKeysRekeyFinishView,
  ProfileKeysView,
} from '../../src/server/backend.ts';
import type { FileFormat } from '../../src/profile/file-format.ts';
import type { WebhookFormat } from '../../src/config/load-config.ts';
import type { SubscribableAlertType } from '../../src/server/alert-types.ts';
import { describeReason } from './reason-catalog.ts';
import type { MappingRow } from './validation.ts';

export { PERMISSIONS, PERMISSION_DESCRIPTIONS } from '../../src/server/permissions.ts';
export type { Permission } from '../../src/server/permissions.ts';

export type AuditEventList = AuditEventListView;
/** What "Deliver now" answers: each audience's delivery, or the ones still going on in the background. */
export type FlushResult = FlushResultView;
/** An alert: firing while its condition holds, then resolved (kept 30 days). */
export type Alert = AlertView;
/** A window in which alerts (of one dataflow or all, of one type or all) are recorded but not sent. */
export type AlertSilence = AlertSilenceView;
export type AuditEvent = AuditEventListView['items'][number];

export interface ErrorDetail {
  path: string;
  reason: string;
}

/** An answer from the service that is not 2xx, carrying the `{ error: { code, message, details } }` envelope. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];
  constructor(options: { status: number; code: string; message: string; details?: ErrorDetail[] }) {
    super(options.message);
    this.name = 'ApiError';
    this.status = options.status;
    this.code = options.code;
    this.details = options.details ?? [];
  }
}

export interface Identity {
  tokenId: string;
  name: string;
  sandbox: string;
  permissions: Permission[];
}

export interface Sandbox {
  name: string;
  createdAt: string;
  current: boolean;
}

/** 'active' once the preflight passed; 'unverified', 'unauthorized' or 'error' otherwise. */
export type DestinationStatus = 'unverified' | 'active' | 'unauthorized' | 'error';

export interface Destination {
  id: string;
  sandbox: string;
  name: string;
  description: string;
  accountId: string;
  apiBaseUrl: string;
  marketingActions: string[];
  /**
   * Where its alerts are posted: the origin only, and what the webhook takes (the documented JSON, or a chat tool's
   * message). The URL is a secret the service never shows; it is set with `alertWebhookUrl`.
   */
  alertWebhook: { origin: string; format: WebhookFormat } | null;
  /** Addresses its alerts are also emailed to, besides the installation's. */
  alertEmailTo: string[];
  /** Its alerts also page a PagerDuty service with a routing key of its own (never shown). */
  hasAlertPagerDutyKey: boolean;
  /** The alert types its own webhook, recipients and PagerDuty key receive; null: every type. */
  alertTypes: SubscribableAlertType[] | null;
  status: DestinationStatus | string;
  statusReason: string | null;
  /** True once credentials are stored; the credentials themselves are never returned. */
  hasCredentials: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface XCredentialsInput {
  consumerKey: string;
  consumerSecret: string;
  accessToken: string;
  accessTokenSecret: string;
}

export interface DestinationInput {
  name: string;
  description: string;
  accountId: string;
  credentials?: XCredentialsInput;
  marketingActions?: string[];
  alertWebhookUrl?: string | null;
  alertWebhookFormat?: WebhookFormat;
  /** Write-only; null removes it. */
  alertPagerDutyRoutingKey?: string | null;
  alertEmailTo?: string[];
  /** Null: every type. */
  alertTypes?: SubscribableAlertType[] | null;
}

export {
  ALERT_TYPES,
  ALERT_TYPE_DESCRIPTIONS,
  RUN_NOTICE_TYPES,
  SUBSCRIBABLE_TYPES,
} from '../../src/server/alert-types.ts';
export type { SubscribableAlertType } from '../../src/server/alert-types.ts';

/** What an alert webhook takes: the service's own type, so the two cannot drift. */
export type { WebhookFormat } from '../../src/config/load-config.ts';

export type PreflightStatus = 'pass' | 'fail' | 'warn' | 'skipped';

export interface PreflightCheck {
  id: string;
  label: string;
  /** 'skipped': the check could not run because an earlier one failed. */
  status: PreflightStatus;
  message: string;
  fix: string | null;
}

export interface Preflight {
  ok: boolean;
  checks: PreflightCheck[];
  /** For a checked new connection: whether it replaced the stored one (only when every check passed). */
  saved?: boolean;
}

/** A new account, API base URL or credentials for a connection, checked before it replaces the stored one. */
export interface ConnectionCandidate {
  accountId?: string;
  apiBaseUrl?: string;
  credentials?: {
    consumerKey: string;
    consumerSecret: string;
    accessToken: string;
    accessTokenSecret: string;
  };
}

export interface LoginStart {
  authorizeUrl: string;
  requestToken: string;
}

export interface Segment {
  id: string;
  sandbox?: string;
  /** Where the segment comes from: 'ups' is Segmentation Service. */
  namespace: string;
  name: string;
  description: string;
  /** Data-usage labels (C1–C12, I1, I2, …), checked against the destination's marketing actions. */
  labels?: string[];
  createdAt?: string;
  /** People audiences unless stated otherwise. */
  audienceType?: string;
  size?: number | null;
}

export interface SegmentSchedule {
  segmentId: string;
  mappingName: string;
  startDate: string | null;
  endDate: string | null;
  /** The existing X audience the user asked to attach to; null = the dataflow creates one. */
  existingXAudienceId: string | null;
  /** Read-only: the X audience in use (created or attached), null until the first delivery. Never sent back. */
  xAudienceId: string | null;
  ttlDays: number | null;
  /** At the end date every member is removed from the X audience (otherwise they stay). */
  removeMembersAtEnd: boolean;
}

export interface ScheduleInput {
  segmentId: string;
  mappingName?: string;
  startDate?: string;
  endDate?: string | null;
  /** Only when the segment is added; the service refuses a change afterwards. */
  existingXAudienceId?: string | null;
  ttlDays?: number | null;
  removeMembersAtEnd?: boolean;
}

/** What the service offers the console. */
export interface ServiceSettings {
  /** `defaultApp`: "Log in with X" needs no app keys, the service has its own X app. */
  xLogin: { defaultApp: boolean };
  /** The origins a URL import may read (`*.` for any subdomain); empty: URL imports are off. */
  importUrls?: { origins: string[] };
  /**
   * Where the audit trail is pushed (null when it is not): the collector, its format, when the last event it
   * acknowledged was recorded, and how many wait. Only for a token with Manage Tokens.
   */
  auditForward?: {
    collector: string;
    format: 'ndjson' | 'splunk';
    forwardedThrough: string | null;
    waiting: number;
  } | null;
  /** The proxy (HTTP, SOCKS5 or SOCKS4) outbound requests go through (credentials hidden), null when none. Manage Tokens only. */
  outboundProxy?: { http: string | null; https: string | null; noProxy: string[] } | null;
  /** The installation's alert webhook (its origin) and whether notifications are signed; null when none. */
  alertWebhook?: { origin: string; signed: boolean; format?: WebhookFormat } | null;
  /** PagerDuty's Events API every alert triggers an incident in (its origin); null when no routing key is set. */
  alertPagerDuty?: { events: string } | null;
  /** `proxy`: the egress proxy the SMTP server is reached through (without credentials), or null: directly. */
  alertEmail?: { to: string[]; smtp: string; proxy: string | null } | null;
}

export type DataflowStatus = 'active' | 'paused' | 'error' | string;

export interface Dataflow {
  id: string;
  sandbox: string;
  name: string;
  destinationId: string;
  status: DataflowStatus;
  statusReason: string | null;
  mapping: MappingRow[];
  audiences: SegmentSchedule[];
  maxBatchAgeSeconds: number;
  /** Hours without profiles before a `dataflow_no_data` alert fires; null: never. */
  noDataAlertHours: number | null;
  /** What happens at X to the audience of a removed segment (and to all of them when the dataflow is deleted). */
  onAudienceRemoval: AudienceRemoval;
  createdAt: string;
  updatedAt: string;
}

/** How the sandbox's profiles are keyed (see `GET /profile-keys`). */
/** How the sandbox keys profiles; `fixed` once it holds profiles (a change then re-keys them), `rekey` while it does. */
export type ProfileKeys = ProfileKeysView;
/** What ending a re-keying did. */
export type RekeyFinish = ProfileKeysRekeyFinishView;

/** The data-usage policies activations are checked against (see `GET /data-usage-policies`): the service's type. */
export type DataUsagePolicies = DataUsagePoliciesView;
/** What the consent policies would keep of the known profiles (see `GET /consent-policies/preview`). */
export type ConsentPreview = ConsentPreviewView;
export type { CustomPolicy, CustomPolicyInput, FieldLabel } from '../../src/audience/governance.ts';
export type { ConsentPolicy, ConsentPolicyInput } from '../../src/audience/consent.ts';

/** What the Import tab reads: the upload formats, and Parquet (read in the browser and sent as CSV). */
export { fileFormatOf, namedFileFormat, type FileFormat } from '../../src/profile/file-format.ts';
/** What `POST /imports` takes. */
export type ImportFormat = Exclude<FileFormat, 'parquet'>;
/** A URL import's options: the service reads a Parquet file behind a URL itself, by byte ranges. */
export type UrlImportQuery = Omit<ImportQuery, 'format'> & { format?: FileFormat };

export interface ImportQuery {
  format: ImportFormat;
  mode: 'incremental' | 'mirror';
  segmentId?: string;
  keyNamespace?: string;
  /** Mirror mode: the percentage of rows that may be rejected while absent members are still removed (default 5). */
  maxRejectedPercent?: number;
  /** Mirror mode: the percentage of the segment's known members that may be absent and removed (default 90). */
  maxRemovedPercent?: number;
}

/** What `POST /imports` answers once the whole file is written: the service's own type, so the two cannot drift. */
export type ImportReport = ImportReportView;
/** A recorded import (`GET /imports`): status, rows written, the report so far. */
export type ImportRecord = ImportView;

const IMPORT_CONTENT_TYPES: Record<ImportFormat, string> = {
  csv: 'text/csv',
  ndjson: 'application/x-ndjson',
  json: 'application/json',
};

export interface DataflowInput {
  name: string;
  destinationId: string;
  mapping: MappingRow[];
  audiences: ScheduleInput[];
}

/** `delete` (the default): the X audiences this service created are deleted; `keep`: they stay in X. */
export type AudienceRemoval = 'delete' | 'keep';

export interface DataflowPatch {
  name?: string;
  mapping?: MappingRow[];
  audiences?: ScheduleInput[];
  noDataAlertHours?: number | null;
  onAudienceRemoval?: AudienceRemoval;
  status?: 'active' | 'paused';
}

/** What a privacy request erased (`POST /privacy/erasures`). */
export interface Erasure {
  profiles: number;
  audiences: number;
  notFound: number;
  skipped: Array<{ index: number; reason: string }>;
}

export interface AudiencePlan {
  audienceId: string;
  segmentId: string;
  mappingName: string | null;
  action: 'create' | 'attach' | 'rename' | 'delete' | 'keep' | 'none' | string;
  xAudienceId: string | null;
  pendingAdds: number;
  pendingRemoves: number;
  requests: number;
  /** When the worker sends the waiting changes at the latest (absent from an older service); see `Audience`. */
  nextDeliveryAt?: string | null;
  nextDeliveryReason?: string | null;
  /** The consent policies switched on that hold for this audience (absent from an older service). */
  consentPolicies?: Array<{ id: string; name: string }>;
}

export interface DataflowPlan {
  dataflowId: string;
  status?: string;
  audiences: AudiencePlan[];
  totals: { pendingAdds: number; pendingRemoves: number; requests: number };
}

export interface RunReason {
  code: string;
  count: number;
  description: string;
  kind: 'failed' | 'excluded';
}

export interface DataflowRun {
  id: string;
  /** Start of the hourly window (ISO 8601). */
  startedAt: string;
  status: 'completed' | 'processing' | string;
  profilesReceived: number;
  identitiesActivated: number;
  identitiesAdded: number;
  identitiesRemoved: number;
  identitiesExcluded: number;
  identitiesFailed: number;
  activationRate: number | null;
  /** Requests made to X in the window, when the service reports them. */
  xRequests?: number;
  /** Changes waiting at the window's last sample, when the service took one. */
  pendingChanges?: number;
  /** The highest of the window's samples of changes waiting, when the service took one. */
  pendingPeak?: number;
  reasons: RunReason[];
}

/** Every dataflow of the sandbox at a glance over a window (`GET /api/v1/monitoring`). */
export type Monitoring = MonitoringView;
/** One dataflow on the monitoring overview: its runs summed over the window, and what holds now. */
export type MonitoringRow = Monitoring['dataflows'][number];
/** Why a dataflow needs a look. */
export type Attention = MonitoringRow['attention'][number];

export interface Audience {
  id: string;
  dataflowId: string;
  segmentId: string;
  name: string;
  /** The X audience in use; null until the first delivery. */
  xAudienceId: string | null;
  existingXAudienceId?: string | null;
  size: number | null;
  targetable: boolean | null;
  reasonsNotTargetable: string[];
  pendingAdds: number;
  pendingRemoves: number;
  /** Since when the oldest waiting change has waited (absent from an older service). */
  oldestPendingAt?: string | null;
  /** When the worker sends the waiting changes at the latest; null when nothing waits or the dataflow is not active. */
  nextDeliveryAt?: string | null;
  nextDeliveryReason?: string | null;
  lastDeliveryAt: string | null;
  status: string;
}

export interface DeadLetter {
  id: string;
  dataflowId: string;
  audienceId: string;
  operation: string;
  /** Hashed identifiers only. */
  user: Record<string, string[]>;
  error: string;
  createdAt: string;
  replayedAt: string | null;
}

export interface ApiToken {
  id: string;
  name: string;
  sandbox: string;
  permissions: Permission[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface CreatedToken extends ApiToken {
  /** The secret, shown once. */
  token: string;
}

export interface IngestResult {
  requestId: string;
  received: number;
  accepted: number;
  duplicate: boolean;
  rejected: { index: number; path: string; reason: string }[];
}

type Query = Record<string, string | number | undefined>;

export interface ApiOptions {
  token: string;
  baseUrl?: string;
  fetch?: typeof fetch;
}

/** Pulls a list out of `{ items: [...] }` (the service's list shape) or a bare array. */
export function listOf<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    for (const key of ['items', 'data']) {
      if (Array.isArray(record[key])) return record[key] as T[];
    }
  }
  return [];
}

/** Turns any non-2xx answer into an ApiError with the service's message, or a plain description when there is none. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const envelope = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)
    ?.error;
  if (envelope && typeof envelope.message === 'string') {
    return new ApiError({
      status: response.status,
      code: typeof envelope.code === 'string' ? envelope.code : `http_${response.status}`,
      message: envelope.message,
      details: Array.isArray(envelope.details) ? (envelope.details as ErrorDetail[]) : [],
    });
  }
  return new ApiError({
    status: response.status,
    code: `http_${response.status}`,
    message: `The service answered ${response.status} ${response.statusText || ''}`.trim(),
  });
}

const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

function reasonsFrom(record: unknown, kind: RunReason['kind']): RunReason[] {
  if (!record || typeof record !== 'object') return [];
  return Object.entries(record as Record<string, unknown>)
    .filter(([, count]) => num(count) > 0)
    .map(([code, count]) => ({
      code: code || 'unknown',
      count: num(count),
      description: describeReason(code),
      kind,
    }));
}

/** One run as the pages use it, from the service's run (window start as `runStart`, or `startedAt` in ms or ISO). */
export function normalizeRun(raw: unknown): DataflowRun {
  const r = (raw ?? {}) as Record<string, unknown>;
  const start = r['runStart'] ?? r['startedAt'];
  const startedAt =
    typeof start === 'number'
      ? new Date(start).toISOString()
      : typeof start === 'string'
        ? start
        : new Date(0).toISOString();
  const activated = num(r['identitiesActivated']);
  const excluded = num(r['identitiesExcluded']);
  const failed = num(r['identitiesFailed']);
  const handled = activated + excluded + failed;
  const run: DataflowRun = {
    id: typeof r['runId'] === 'string' ? r['runId'] : typeof r['id'] === 'string' ? r['id'] : startedAt,
    startedAt,
    status: typeof r['status'] === 'string' ? r['status'] : 'completed',
    profilesReceived: num(r['profilesReceived']),
    identitiesActivated: activated,
    identitiesAdded: num(r['identitiesAdded']),
    identitiesRemoved: num(r['identitiesRemoved']),
    identitiesExcluded: excluded,
    identitiesFailed: failed,
    activationRate:
      typeof r['activationRate'] === 'number'
        ? r['activationRate']
        : handled === 0
          ? null
          : activated / handled,
    reasons: [...reasonsFrom(r['failedByCode'], 'failed'), ...reasonsFrom(r['excludedByReason'], 'excluded')],
  };
  if (typeof r['xRequests'] === 'number') run.xRequests = r['xRequests'];
  if (typeof r['pendingChanges'] === 'number') run.pendingChanges = r['pendingChanges'];
  if (typeof r['pendingPeak'] === 'number') run.pendingPeak = r['pendingPeak'];
  return run;
}

const PREFLIGHT_STATUSES: readonly string[] = ['pass', 'fail', 'warn', 'skipped'] satisfies PreflightStatus[];

/** The preflight answer as the checklist shows it: each check's status as the service states it. */
export function normalizePreflight(raw: unknown): Preflight {
  const r = (raw ?? {}) as { ok?: unknown; checks?: unknown; saved?: unknown };
  const checks = Array.isArray(r.checks) ? (r.checks as Record<string, unknown>[]) : [];
  return {
    ok: r.ok === true,
    ...(typeof r.saved === 'boolean' ? { saved: r.saved } : {}),
    checks: checks.map((c) => ({
      id: String(c['id'] ?? ''),
      label: String(c['label'] ?? c['id'] ?? ''),
      // An unknown status is shown as failed rather than hidden as passed.
      status: PREFLIGHT_STATUSES.includes(String(c['status'])) ? (c['status'] as PreflightStatus) : 'fail',
      message: typeof c['message'] === 'string' ? c['message'] : '',
      fix: typeof c['fix'] === 'string' ? c['fix'] : null,
    })),
  };
}

/** The plan with defaults for anything the service left out. */
export function normalizePlan(raw: unknown): DataflowPlan {
  const r = (raw ?? {}) as Record<string, unknown>;
  const totals = (r['totals'] ?? {}) as Record<string, unknown>;
  const plan: DataflowPlan = {
    dataflowId: String(r['dataflowId'] ?? ''),
    audiences: listOf<AudiencePlan>(r['audiences']),
    totals: {
      pendingAdds: num(totals['pendingAdds']),
      pendingRemoves: num(totals['pendingRemoves']),
      requests: num(totals['requests']),
    },
  };
  if (typeof r['status'] === 'string') plan.status = r['status'];
  return plan;
}

export function createApi(options: ApiOptions) {
  const base = (options.baseUrl ?? '') + '/api/v1';
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  /** `body` is JSON-encoded, unless it is a Blob (a file), which goes out as is with `contentType`. */
  function urlOf(path: string, query: Query | undefined): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {}))
      if (value !== undefined) search.set(key, String(value));
    return base + path + (search.size > 0 ? `?${search.toString()}` : '');
  }

  async function request<T>(
    method: string,
    path: string,
    body?: unknown,
    query?: Query,
    contentType = 'application/json',
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    const url = urlOf(path, query);
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.token}`,
      accept: 'application/json',
      ...extraHeaders,
    };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = contentType;
      init.body = body instanceof Blob ? body : JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await doFetch(url, init);
    } catch (cause) {
      throw new ApiError({
        status: 0,
        code: 'network',
        message: `Could not reach the service (${cause instanceof Error ? cause.message : String(cause)}).`,
      });
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * POSTs a file and reports the bytes sent as they go (`fetch` cannot say how far an upload got): the answer and its
   * errors are read as `request` reads them.
   */
  function upload<T>(
    path: string,
    file: Blob,
    query: Query,
    contentType: string,
    extraHeaders: Record<string, string>,
    onProgress: (sent: number, total: number) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', urlOf(path, query));
      const headers = {
        authorization: `Bearer ${options.token}`,
        accept: 'application/json',
        'content-type': contentType,
        ...extraHeaders,
      };
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => {
        const response = new Response(xhr.responseText, {
          status: xhr.status,
          headers: { 'content-type': xhr.getResponseHeader('content-type') ?? 'application/json' },
        });
        if (response.ok) resolve((xhr.responseText ? JSON.parse(xhr.responseText) : undefined) as T);
        else void errorFromResponse(response).then(reject, reject);
      };
      xhr.onerror = () =>
        reject(
          new ApiError({
            status: 0,
            code: 'network',
            message: 'Could not reach the service (the upload stopped).',
          }),
        );
      xhr.send(file);
    });
  }

  const enc = encodeURIComponent;

  return {
    whoami: () => request<Identity>('GET', '/me'),
    settings: () => request<ServiceSettings>('GET', '/settings'),
    listSandboxes: async () => listOf<Sandbox>(await request('GET', '/sandboxes')),
    createSandbox: (name: string) => request<Sandbox>('POST', '/sandboxes', { name }),

    listDestinations: async () => listOf<Destination>(await request('GET', '/destinations')),
    getDestination: (id: string) => request<Destination>('GET', `/destinations/${enc(id)}`),
    createDestination: (input: DestinationInput) => request<Destination>('POST', '/destinations', input),
    updateDestination: (id: string, patch: Partial<DestinationInput>) =>
      request<Destination>('PATCH', `/destinations/${enc(id)}`, patch),
    deleteDestination: (id: string) => request<void>('DELETE', `/destinations/${enc(id)}`),
    /** Runs the preflight on the stored connection, or on a candidate, saved only when every check passes. */
    verifyDestination: async (id: string, candidate?: ConnectionCandidate) =>
      normalizePreflight(await request('POST', `/destinations/${enc(id)}/verify`, candidate)),
    /** Sends a test notification to the destination's alert webhook: whether it was accepted, and if not why. */
    testAlert: (id: string) =>
      request<{ webhook: string; delivered: boolean; error: string | null }>(
        'POST',
        `/destinations/${enc(id)}/test-alert`,
      ),
    /** Triggers and resolves a test incident with the destination's own PagerDuty routing key. */
    testDestinationPagerDuty: (id: string) =>
      request<{ events: string; delivered: boolean; error: string | null }>(
        'POST',
        `/destinations/${enc(id)}/test-pagerduty`,
      ),
    /** Emails a test alert to the destination's own alert recipients. */
    testDestinationEmail: (id: string) =>
      request<{ to: string[]; delivered: boolean; error: string | null }>(
        'POST',
        `/destinations/${enc(id)}/test-email`,
      ),
    /** Sends a test notification to the installation's webhook (TCA_ALERT_WEBHOOK_URL; admin). */
    testInstallationAlert: () =>
      request<{ webhook: string; delivered: boolean; error: string | null }>('POST', '/alerts/test'),
    /** Emails a test alert to the installation's recipients (TCA_ALERT_EMAIL_TO; admin). */
    testAlertEmail: () =>
      request<{ to: string[]; delivered: boolean; error: string | null }>('POST', '/alerts/test-email'),
    /** Triggers and resolves a test incident through the installation's PagerDuty key (admin). */
    testPagerDuty: () =>
      request<{ events: string; delivered: boolean; error: string | null }>('POST', '/alerts/test-pagerduty'),
    /** Without `app`, the service logs in with its default X app (see `settings().xLogin.defaultApp`). */
    startLogin: (id: string, app?: { consumerKey: string; consumerSecret: string }) =>
      request<LoginStart>('POST', `/destinations/${enc(id)}/login`, app ?? {}),
    completeLogin: (id: string, input: { pin: string; requestToken: string }) =>
      request<Destination>('POST', `/destinations/${enc(id)}/login/complete`, input),

    listSegments: async () => listOf<Segment>(await request('GET', '/segments')),
    createSegment: (input: { id: string; name: string; namespace?: string; description?: string }) =>
      request<Segment>('POST', '/segments', input),
    /** Refused (409 `conflict`, a detail naming each) while a dataflow activates the segment. */
    deleteSegment: (id: string) => request<void>('DELETE', `/segments/${enc(id)}`),

    listDataflows: async () => listOf<Dataflow>(await request('GET', '/dataflows')),
    getDataflow: (id: string) => request<Dataflow>('GET', `/dataflows/${enc(id)}`),
    createDataflow: (input: DataflowInput) => request<Dataflow>('POST', '/dataflows', input),
    updateDataflow: (id: string, patch: DataflowPatch) =>
      request<Dataflow>('PATCH', `/dataflows/${enc(id)}`, patch),
    deleteDataflow: (id: string) => request<void>('DELETE', `/dataflows/${enc(id)}`),
    planDataflow: async (id: string) => normalizePlan(await request('GET', `/dataflows/${enc(id)}/plan`)),
    /** Delivers now, waiting up to `waitSeconds` for it to finish (past it, it goes on in the background). */
    flushDataflow: (id: string, waitSeconds: number) =>
      request<FlushResult>('POST', `/dataflows/${enc(id)}/flush`, undefined, { wait: String(waitSeconds) }),
    listRuns: async (id: string, range: { from?: string; to?: string } = {}) =>
      listOf<unknown>(await request('GET', `/dataflows/${enc(id)}/runs`, undefined, range)).map(normalizeRun),

    /** Every dataflow of the sandbox at a glance over the last 24 hours, 7 days or 30 days. */
    monitoring: (range: '24h' | '7d' | '30d') =>
      request<Monitoring>('GET', '/monitoring', undefined, { range }),

    listAudiences: async (query: { dataflowId?: string } = {}) =>
      listOf<Audience>(await request('GET', '/audiences', undefined, query)),

    /** Sends every member of the audience to X again with a delivery started now; once per 24 hours (else 429). */
    activateNow: (audienceId: string) =>
      request<{ audienceId: string; queued: number; nextAllowedAt: string }>(
        'POST',
        `/audiences/${enc(audienceId)}/activate-now`,
      ),

    listAlerts: async (query: { status?: 'firing' | 'resolved'; dataflowId?: string; limit?: number } = {}) =>
      listOf<Alert>(await request('GET', '/alerts', undefined, query)),
    listSilences: async (query: { expired?: 'true' } = {}) =>
      listOf<AlertSilence>(await request('GET', '/alerts/silences', undefined, query)),
    createSilence: (input: {
      dataflowId?: string;
      type?: NonNullable<AlertSilence['type']>;
      durationMinutes: number;
      comment: string;
    }) => request<AlertSilence>('POST', '/alerts/silences', input),
    endSilence: (id: string) => request<AlertSilence>('DELETE', `/alerts/silences/${enc(id)}`),
    /** Acknowledges a firing alert: no more reminders, its PagerDuty incident acknowledged. */
    acknowledgeAlert: (alertId: string) => request<Alert>('POST', `/alerts/${enc(alertId)}/acknowledge`),

    listDeadLetters: async (query: { dataflowId?: string; limit?: number } = {}) =>
      listOf<DeadLetter>(await request('GET', '/dead-letters', undefined, query)),
    replayDeadLetters: (selection: { ids: string[] } | { dataflowId: string }) =>
      request<{ replayed: number }>('POST', '/dead-letters/replay', selection),

    ingestProfiles: (profiles: unknown[]) => request<IngestResult>('POST', '/ingest/profiles', profiles),
    /**
     * Uploads a whole file; the browser streams it from disk, and the service imports it as it arrives. Under the key
     * of an unfinished import it resumes it; under a completed one's it answers with that report (`replayed`).
     */
    /** `onProgress` gets the bytes sent so far (where the browser can tell: not under a test's own `fetch`). */
    importFile: (
      file: Blob,
      query: ImportQuery,
      key: string,
      onProgress?: (sent: number, total: number) => void,
    ) =>
      onProgress && !options.fetch && typeof XMLHttpRequest !== 'undefined'
        ? upload<ImportReport>(
            '/imports',
            file,
            { ...query },
            IMPORT_CONTENT_TYPES[query.format],
            uploadHeaders(file, key),
            onProgress,
          )
        : request<ImportReport>(
            'POST',
            '/imports',
            file,
            { ...query },
            IMPORT_CONTENT_TYPES[query.format],
            uploadHeaders(file, key),
          ),
    /** Has the service read the file at `url` (an allowed origin) and import it; the format defaults from its path. */
    importUrl: (url: string, query: UrlImportQuery & { key?: string }) =>
      request<ImportReport>('POST', '/imports/url', { url, ...query }),
    imports: async (limit = 10) =>
      (await request<{ imports: ImportRecord[] }>('GET', '/imports', undefined, { limit })).imports,

    profileKeys: () => request<ProfileKeys>('GET', '/profile-keys'),
    /**
     * `null` returns to the service default. Once the sandbox holds profiles it needs `rekey` (409 otherwise, and
     * while a re-keying is in progress): each profile takes its new key when it next arrives.
     */
    setProfileKeys: (namespaces: string[] | null, rekey = false) =>
      request<ProfileKeys>('PATCH', '/profile-keys', { namespaces, ...(rekey ? { rekey: true } : {}) }),
    /** Ends the re-keying in progress, removing the profiles never met under the new keys or keeping them. */
    finishRekey: (removeRemaining: boolean) =>
      request<RekeyFinish>('POST', '/profile-keys/rekey/finish', { removeRemaining }),

    dataUsagePolicies: () => request<DataUsagePolicies>('GET', '/data-usage-policies'),
    /** Replaces the sandbox's own policies; refused (409) when an activation in place breaks the new set. */
    setDataUsagePolicies: (policies: CustomPolicyInput[]) =>
      request<DataUsagePolicies>('PUT', '/data-usage-policies', { policies }),
    fieldLabels: () => request<{ fields: FieldLabel[] }>('GET', '/field-labels'),
    /** A privacy request: erases the profiles the identities (in a profile key namespace) name. */
    erase: (identities: Array<{ namespace: string; id: string }>) =>
      request<Erasure>('POST', '/privacy/erasures', { identities }),
    setFieldLabels: (fields: FieldLabel[]) =>
      request<{ fields: FieldLabel[] }>('PUT', '/field-labels', { fields }),
    consentPolicies: async () =>
      (await request<{ policies: ConsentPolicy[] }>('GET', '/consent-policies')).policies,
    /**
     * The policies that apply to a destination, or every policy without one; segments are optional, and `fields`
     * (`namespace:<ns>` or `attribute:<path>`) are the fields the activation's mapping exports.
     */
    consentPreview: (destinationId?: string, segmentIds: string[] = [], fields: string[] = []) =>
      request<ConsentPreview>('GET', '/consent-policies/preview', undefined, {
        ...(destinationId !== undefined ? { destinationId } : {}),
        ...(segmentIds.length > 0 ? { segmentIds: segmentIds.join(',') } : {}),
        ...(fields.length > 0 ? { fields: fields.join(',') } : {}),
      }),
    /** Replaces the whole set; the sandbox's audiences are then evaluated again. */
    setConsentPolicies: async (policies: ConsentPolicyInput[]) =>
      (await request<{ policies: ConsentPolicy[] }>('PUT', '/consent-policies', { policies })).policies,

    listTokens: async () => listOf<ApiToken>(await request('GET', '/tokens')),
    /**
     * The sandbox's audit trail, newest first; `cursor` is the previous page's `nextCursor`. `allSandboxes`: every
     * sandbox's events (the admin token).
     */
    auditEvents: (limit: number, cursor?: string, allSandboxes = false) =>
      request<AuditEventList>('GET', '/audit-events', undefined, {
        limit: String(limit),
        ...(cursor !== undefined ? { cursor } : {}),
        ...(allSandboxes ? { allSandboxes: 'true' } : {}),
      }),
    createToken: (input: { name: string; permissions: Permission[]; sandbox?: string }) =>
      request<CreatedToken>('POST', '/tokens', input),
    revokeToken: (id: string) => request<void>('DELETE', `/tokens/${enc(id)}`),
  };
}

export type Api = ReturnType<typeof createApi>;

/**
 * Process-wide counters from the service's Prometheus endpoint (not under /api/v1, no token needed), used to chart X
 * requests and pending changes while a monitoring page is open.
 */
export async function fetchServiceCounters(
  doFetch: typeof fetch = (input, init) => fetch(input, init),
): Promise<{ xRequests: number; pendingChanges: number } | null> {
  try {
    const response = await doFetch('/metrics', { headers: { accept: 'text/plain' } });
    if (!response.ok) return null;
    const text = await response.text();
    return {
      xRequests: sumMetric(text, 'tca_x_requests_total'),
      pendingChanges: sumMetric(text, 'tca_pending_changes'),
    };
  } catch {
    return null;
  }
}

/** Sum of every sample of one metric in Prometheus text format (all label sets). */
export function sumMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(value)) sum += value;
    }
  }
  return sum;
}

/** An upload's headers: its import key, and the file's name, which the service's messages then name it by. */
function uploadHeaders(file: Blob, key: string): Record<string, string> {
  const headers: Record<string, string> = { 'idempotency-key': key };
  if (file instanceof File && file.name !== '')
    headers['content-disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`;
  return headers;
}
