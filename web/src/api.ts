/**
 * The console's only door to the service: every call to /api/v1 goes through `createApi`, so the wire shapes live in
 * one place. Types mirror the service's OpenAPI document (/api/v1/openapi.json).
 */
import type { MappingRow } from './validation.ts';

export type Permission =
  | 'View Destinations'
  | 'Manage Destinations'
  | 'Activate Destinations'
  | 'View Profiles'
  | 'View Segments'
  | 'View Identity Graph'
  | 'Ingest Profiles';

export const PERMISSIONS: readonly Permission[] = [
  'View Destinations',
  'Manage Destinations',
  'Activate Destinations',
  'View Profiles',
  'View Segments',
  'View Identity Graph',
  'Ingest Profiles',
];

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
  sandbox: string;
  tokenId?: string;
  tokenName?: string;
  permissions: Permission[];
}

export type DestinationStatus = 'connected' | 'unverified' | 'needs_authorization' | 'error' | 'disabled';

export interface Destination {
  id: string;
  name: string;
  description: string;
  accountId: string;
  status: DestinationStatus | string;
  /** True once credentials are stored; the credentials themselves are never returned. */
  hasCredentials?: boolean;
  authMethod?: 'pin' | 'keys' | null;
  marketingActions: string[];
  alertWebhookUrl?: string | null;
  lastVerification?: Preflight | null;
  createdAt?: string;
  updatedAt?: string;
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
}

export type PreflightCheckId = 'credentials' | 'account_access' | 'partner_audience_manager' | 'eligibility';

export interface PreflightCheck {
  id: PreflightCheckId | string;
  label?: string;
  status: 'pass' | 'fail' | 'skipped' | 'warn';
  message?: string;
  fix?: string;
}

export interface Preflight {
  ok: boolean;
  checks: PreflightCheck[];
  checkedAt?: string;
}

export interface LoginStart {
  authorizeUrl: string;
  /** Present when the service runs with the embedded emulator: the PIN it will accept, for the demo. */
  demoPin?: string;
}

export type SegmentOrigin = 'ups' | 'custom_upload' | 'aam' | 'lookalike' | 'federated' | string;
export type SegmentAudienceType = 'people' | 'account' | 'prospect' | string;

export interface Segment {
  id: string;
  name: string;
  description?: string | null;
  origin: SegmentOrigin;
  audienceType?: SegmentAudienceType;
  size?: number | null;
  namespace?: string;
  createdAt?: string;
}

export interface SegmentSchedule {
  segmentId: string;
  mappingName: string;
  startDate: string;
  endDate?: string | null;
  xAudienceId?: string | null;
  ttlDays?: number | null;
}

export type DataflowStatus = 'enabled' | 'paused' | 'processing' | 'error' | 'disabled' | string;

export interface Dataflow {
  id: string;
  name: string;
  destinationId: string;
  status: DataflowStatus;
  mapping: MappingRow[];
  segments: SegmentSchedule[];
  createdAt?: string;
  updatedAt?: string;
}

export interface DataflowInput {
  name: string;
  destinationId: string;
  mapping: MappingRow[];
  segments: SegmentSchedule[];
}

export interface PlanItem {
  segmentId?: string;
  audienceId?: string;
  mappingName?: string;
  action?: string;
  xAudienceId?: string | null;
  adds?: number;
  removes?: number;
  requests?: number;
  description?: string;
}

export interface DataflowPlan {
  items: PlanItem[];
  totals?: { adds?: number; removes?: number; requests?: number };
  [key: string]: unknown;
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
  identitiesExcluded: number;
  identitiesFailed: number;
  activationRate?: number | null;
  xRequests?: number;
  pendingChanges?: number;
  reasons?: RunReason[];
}

export interface Audience {
  id: string;
  dataflowId: string;
  segmentId: string;
  name: string;
  xAudienceId: string | null;
  size: number | null;
  targetable: boolean | null;
  reasonsNotTargetable: string[];
  pendingAdds: number;
  pendingRemoves: number;
  lastDeliveryAt: string | null;
  members?: number;
}

export interface DeadLetter {
  id: string;
  dataflowId?: string;
  audienceId?: string;
  code: string;
  message: string;
  count: number;
  createdAt: string;
  replayedAt?: string | null;
}

export interface ApiToken {
  id: string;
  name: string;
  sandbox: string;
  permissions: Permission[];
  createdAt?: string;
  lastUsedAt?: string | null;
  revokedAt?: string | null;
}

export interface CreatedToken extends ApiToken {
  /** The secret, shown once. */
  token: string;
}

export interface IngestResult {
  accepted: number;
  rejected: { index: number; path: string; reason: string }[];
}

type Query = Record<string, string | number | undefined>;

export interface ApiOptions {
  token: string;
  baseUrl?: string;
  fetch?: typeof fetch;
}

/** Pulls a list out of either a bare array or `{ data: [...] }` / `{ items: [...] }`. */
function listOf<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    for (const key of ['data', 'items', 'results']) {
      if (Array.isArray(record[key])) return record[key] as T[];
    }
  }
  return [];
}

/** Unwraps `{ data: {...} }` when the service wraps single objects. */
function itemOf<T>(body: unknown): T {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const record = body as Record<string, unknown>;
    const data = record['data'];
    if (data && typeof data === 'object' && !Array.isArray(data) && Object.keys(record).length <= 2) return data as T;
  }
  return body as T;
}

/** Turns any non-2xx answer into an ApiError with the service's message, or a plain description when there is none. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const envelope = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (envelope && typeof envelope.message === 'string') {
    return new ApiError({
      status: response.status,
      code: typeof envelope.code === 'string' ? envelope.code : `HTTP_${response.status}`,
      message: envelope.message,
      details: Array.isArray(envelope.details) ? (envelope.details as ErrorDetail[]) : [],
    });
  }
  return new ApiError({
    status: response.status,
    code: `HTTP_${response.status}`,
    message: `The service answered ${response.status} ${response.statusText || ''}`.trim(),
  });
}

export function createApi(options: ApiOptions) {
  const base = (options.baseUrl ?? '') + '/api/v1';
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  async function request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) search.set(key, String(value));
    const url = base + path + (search.size > 0 ? `?${search.toString()}` : '');
    const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept: 'application/json' };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await doFetch(url, init);
    } catch (cause) {
      throw new ApiError({
        status: 0,
        code: 'NETWORK',
        message: `Could not reach the service (${cause instanceof Error ? cause.message : String(cause)}).`,
      });
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  const enc = encodeURIComponent;

  return {
    whoami: async (): Promise<Identity> => itemOf<Identity>(await request('GET', '/me')),

    listDestinations: async () => listOf<Destination>(await request('GET', '/destinations')),
    getDestination: async (id: string) => itemOf<Destination>(await request('GET', `/destinations/${enc(id)}`)),
    createDestination: async (input: DestinationInput) =>
      itemOf<Destination>(await request('POST', '/destinations', input)),
    updateDestination: async (id: string, patch: Partial<DestinationInput>) =>
      itemOf<Destination>(await request('PATCH', `/destinations/${enc(id)}`, patch)),
    deleteDestination: (id: string) => request<void>('DELETE', `/destinations/${enc(id)}`),
    verifyDestination: async (id: string) =>
      itemOf<Preflight>(await request('POST', `/destinations/${enc(id)}/verify`, {})),
    startLogin: async (id: string) => itemOf<LoginStart>(await request('POST', `/destinations/${enc(id)}/login`, {})),
    completeLogin: async (id: string, pin: string) =>
      itemOf<Destination>(await request('POST', `/destinations/${enc(id)}/login/complete`, { pin })),

    listSegments: async () => listOf<Segment>(await request('GET', '/segments')),

    listDataflows: async () => listOf<Dataflow>(await request('GET', '/dataflows')),
    getDataflow: async (id: string) => itemOf<Dataflow>(await request('GET', `/dataflows/${enc(id)}`)),
    createDataflow: async (input: DataflowInput) => itemOf<Dataflow>(await request('POST', '/dataflows', input)),
    updateDataflow: async (id: string, patch: Partial<DataflowInput> & { status?: 'enabled' | 'paused' }) =>
      itemOf<Dataflow>(await request('PATCH', `/dataflows/${enc(id)}`, patch)),
    deleteDataflow: (id: string) => request<void>('DELETE', `/dataflows/${enc(id)}`),
    planDataflow: async (id: string) => itemOf<DataflowPlan>(await request('GET', `/dataflows/${enc(id)}/plan`)),
    listRuns: async (id: string, range: { from?: string; to?: string } = {}) =>
      listOf<DataflowRun>(await request('GET', `/dataflows/${enc(id)}/runs`, undefined, range)),

    listAudiences: async (query: { dataflowId?: string } = {}) =>
      listOf<Audience>(await request('GET', '/audiences', undefined, query)),

    listDeadLetters: async (query: { dataflowId?: string } = {}) =>
      listOf<DeadLetter>(await request('GET', '/dead-letters', undefined, query)),
    replayDeadLetter: (id: string) => request<unknown>('POST', `/dead-letters/${enc(id)}/replay`, {}),

    ingestProfiles: async (profiles: unknown[]) =>
      itemOf<IngestResult>(await request('POST', '/ingest/profiles', profiles)),

    listTokens: async () => listOf<ApiToken>(await request('GET', '/tokens')),
    createToken: async (input: { name: string; permissions: Permission[]; sandbox?: string }) =>
      itemOf<CreatedToken>(await request('POST', '/tokens', input)),
    revokeToken: (id: string) => request<void>('DELETE', `/tokens/${enc(id)}`),
  };
}

export type Api = ReturnType<typeof createApi>;
