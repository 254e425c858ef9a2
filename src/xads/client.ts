/**
 * A fetch-based client for the X Ads API endpoints a List Custom Audience connector needs
 * (docs.x.com x-ads-api/audiences/reference and campaign-management/reference).
 *
 * Every request is signed with OAuth 1.0a (JSON bodies unsigned), paced by the shared rate-limit budgets,
 * bounded by a timeout, and retried only when the error class says so.
 */
import { randomBytes } from 'node:crypto';
import { errorFromResponse, RateLimitedError, TransientError, ValidationError, XAdsError } from './errors.ts';
import { percentEncode, signRequest } from './oauth1.ts';
import { MAX_BODY_BYTES, MAX_OPERATIONS_PER_REQUEST } from './pack-user-changes.ts';
import {
  dataArray,
  dataObject,
  nextCursor,
  parseAccess,
  parseAccount,
  parseCustomAudience,
  parseUsersCounts,
} from './parse-entities.ts';
import {
  backoffDelay,
  effectiveWindow,
  endpointFamily,
  parseRateLimitHeaders,
  sharedRateBudgets,
  sleep as realSleep,
  timeoutSignal,
} from './rate-limit.ts';
import type { BudgetKey, RateBudgets, RateLimitInfo } from './rate-limit.ts';
import type {
  AuthenticatedUserAccess,
  CustomAudience,
  PackedRequest,
  UserOperation,
  UsersResult,
  XAccount,
  XApiVersion,
  XCredentials,
} from './types.ts';
import { verifyAccount } from './verify.ts';
import type { VerifyResult } from './verify.ts';
import { describeNetworkFailure } from '../net/network-failure.ts';

export const DEFAULT_BASE_URL = 'https://ads-api.x.com';

/**
 * The fetch the client calls: always with a string URL and an init object. `globalThis.fetch` fits, and so
 * does an in-process handler, e.g. `(url, init) => emulator.fetch(new Request(url, init))`.
 */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
export const DEFAULT_API_VERSION: XApiVersion = 12;

/** What the client reports after each HTTP attempt (for metrics and logs; carries no credentials). */
export interface XAdsRequestEvent {
  method: string;
  /** Path without the query string. */
  path: string;
  /** HTTP status, or undefined when no response arrived. */
  status?: number;
  attempt: number;
  durationMs: number;
  rateLimit: RateLimitInfo;
  error?: XAdsError;
}

/**
 * A wait forced by X's rate limits: `pacing` (the known budget is spent, so the client sleeps before sending),
 * `retry` (X answered 429 and the client sleeps before retrying), or `deferred` (the wait is too long or retries are
 * used up: the caller gets a RateLimitedError with `retryAt` and waits itself).
 */
export interface XAdsWaitEvent {
  reason: 'pacing' | 'retry' | 'deferred';
  method: string;
  /** Path without the query string. */
  path: string;
  waitMs: number;
}

export interface XAdsClientOptions {
  /** Defaults to https://ads-api.x.com; point it at the emulator in tests. */
  baseUrl?: string;
  /** 12 (default) or 11. */
  apiVersion?: XApiVersion;
  credentials: XCredentials;
  fetch?: FetchLike;
  /** Epoch milliseconds; used for OAuth timestamps, budgets and retry times. */
  now?: () => number;
  /** In [0, 1); used for backoff jitter. */
  random?: () => number;
  /** Waits between attempts; inject one that advances a fake clock in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** OAuth nonce source; defaults to 16 random bytes in hex. */
  nonce?: () => string;
  /** Per-attempt timeout. Default 30 s. */
  timeoutMs?: number;
  /** Retries after the first attempt for retryable errors. Default 3. */
  maxRetries?: number;
  /**
   * Longest the client itself waits (pacing or retry). A longer wait is returned to the caller as a
   * `RateLimitedError` / `TransientError` carrying `retryAt`, so a durable queue can schedule it. Default 60 s.
   */
  maxWaitMs?: number;
  /** Backoff base and cap when X gives no retry time. Defaults 1 s and 60 s. */
  backoff?: { baseMs?: number; capMs?: number };
  /** Defaults to the process-wide budgets ({@link sharedRateBudgets}). */
  budgets?: RateBudgets;
  onRequest?: (event: XAdsRequestEvent) => void;
  /** Called for every wait X's rate limits force (for metrics); it must not throw. */
  onWait?: (event: XAdsWaitEvent) => void;
  /**
   * Called when X refused a request whose OAuth timestamp was off because this machine's clock is, with the offset
   * the client now adds to its clock (X's time minus this machine's, in milliseconds); it must not throw.
   */
  onClockSkew?: (offsetMs: number) => void;
  /** Defaults to the process-wide offsets ({@link sharedClockOffsets}). */
  clockOffsets?: ClockOffsets;
  /**
   * Called for every answer that carries X's `x-api-warn` header (X sends it when a deprecated version or endpoint
   * is called), with the version in use and the one X calls current; it must not throw.
   */
  onApiWarning?: (event: XApiWarning) => void;
}

/** A deprecation warning X sent with an answer. */
export interface XApiWarning {
  warning: string;
  /** The API version the client calls. */
  version: XApiVersion;
  /** `x-current-api-version`, when X sent it. */
  current: string | null;
  /** Path without the query string. */
  path: string;
}

/**
 * A clock this far from X's (by the `Date` of a 401) is taken to be why X refused the request: OAuth 1.0a timestamps
 * must be close to X's time (within 5 minutes, as commonly observed; the exact window is not documented).
 */
export const CLOCK_SKEW_TOLERANCE_MS = 60_000;

/**
 * X's time minus this machine's, learned per API base URL from X's refusals (see {@link CLOCK_SKEW_TOLERANCE_MS}).
 * The clients of a process share one by default ({@link sharedClockOffsets}), so a client made for the next delivery
 * signs right the first time.
 */
export class ClockOffsets {
  readonly #byBaseUrl = new Map<string, number>();

  get(baseUrl: string): number {
    return this.#byBaseUrl.get(baseUrl) ?? 0;
  }

  set(baseUrl: string, offsetMs: number): void {
    this.#byBaseUrl.set(baseUrl, offsetMs);
  }
}

let sharedOffsets: ClockOffsets | undefined;

/** The process-wide {@link ClockOffsets} clients use unless given their own. */
export function sharedClockOffsets(): ClockOffsets {
  return (sharedOffsets ??= new ClockOffsets());
}

export interface ListCustomAudiencesOptions {
  /** Case-insensitive name prefix, 1..255 characters. */
  q?: string;
  withDeleted?: boolean;
  /** Page size, 1..1000 (X's default is 200). */
  count?: number;
  cursor?: string;
  customAudienceIds?: string[];
  permissionScope?: 'OWNER' | 'SHARED';
  /** e.g. `created_at-asc`. */
  sortBy?: string;
  signal?: AbortSignal;
}

export interface CustomAudiencePage {
  audiences: CustomAudience[];
  nextCursor: string | null;
}

/** The client's public surface, for code that wants to accept a stand-in. */
export type XAdsApi = Pick<
  XAdsClient,
  | 'getAccount'
  | 'getAuthenticatedUserAccess'
  | 'listCustomAudiencesPage'
  | 'customAudiences'
  | 'listCustomAudiences'
  | 'findCustomAudienceByName'
  | 'getCustomAudience'
  | 'createCustomAudience'
  | 'updateCustomAudience'
  | 'deleteCustomAudience'
  | 'postUsers'
  | 'verify'
>;

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path after the version, e.g. `/accounts/abc`. */
  path: string;
  query?: Array<[string, string]>;
  /** Exact JSON body; sent with Content-Type application/json and never signed. */
  json?: string;
  accountId: string;
  /**
   * `all`: any retryable error is retried (the request is idempotent). `unprocessed`: only errors that mean
   * X did not act on the request (423, 429, 503), so a create or delete is never repeated blindly.
   */
  retry: 'all' | 'unprocessed';
  /** Retries of a retryable failure for this request (the client's `maxRetries` when absent). */
  maxRetries?: number;
  /** Extra check of a 2xx body; an error returned here counts as a failed attempt. */
  check?: (body: unknown, status: number) => XAdsError | undefined;
  signal?: AbortSignal | undefined;
}

const UNPROCESSED_STATUSES = new Set([423, 429, 503]);

function requireId(value: string, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError({ message: `${what} must be a non-empty string`, hint: `Pass the X ${what}.` });
  }
  return value;
}

/**
 * The X Ads API client.
 *
 * @example
 * const client = new XAdsClient({ credentials: { consumerKey, consumerSecret, accessToken, accessTokenSecret } });
 * const audience = await client.createCustomAudience('18ce54d4x5t', { name: 'Loyal customers' });
 * for (const request of packUserChanges(changes)) {
 *   await client.postUsers('18ce54d4x5t', audience.id, request);
 * }
 */
export class XAdsClient {
  readonly baseUrl: string;
  readonly apiVersion: XApiVersion;
  readonly #credentials: XCredentials;
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #nonce: () => string;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #maxWaitMs: number;
  readonly #backoff: { baseMs?: number; capMs?: number };
  readonly #budgets: RateBudgets;
  readonly #onRequest: ((event: XAdsRequestEvent) => void) | undefined;
  readonly #onWait: ((event: XAdsWaitEvent) => void) | undefined;
  readonly #onClockSkew: ((offsetMs: number) => void) | undefined;
  readonly #clockOffsets: ClockOffsets;
  readonly #onApiWarning: ((event: XApiWarning) => void) | undefined;

  constructor(options: XAdsClientOptions) {
    const c = options.credentials;
    for (const key of ['consumerKey', 'consumerSecret', 'accessToken', 'accessTokenSecret'] as const) {
      if (typeof c?.[key] !== 'string' || c[key] === '') {
        throw new ValidationError({
          message: `credentials.${key} is missing`,
          hint: 'Provide the app consumer key/secret and the user access token/secret.',
        });
      }
    }
    const version = options.apiVersion ?? DEFAULT_API_VERSION;
    if (version !== 11 && version !== 12) {
      throw new ValidationError({
        message: `apiVersion ${String(version)} is not supported`,
        hint: 'Use 12 or 11.',
      });
    }
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.apiVersion = version;
    this.#credentials = { ...c };
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? realSleep;
    this.#nonce = options.nonce ?? (() => randomBytes(16).toString('hex'));
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxRetries = options.maxRetries ?? 3;
    this.#maxWaitMs = options.maxWaitMs ?? 60_000;
    this.#backoff = options.backoff ?? {};
    this.#budgets = options.budgets ?? sharedRateBudgets();
    this.#onRequest = options.onRequest;
    this.#onWait = options.onWait;
    this.#onClockSkew = options.onClockSkew;
    this.#clockOffsets = options.clockOffsets ?? sharedClockOffsets();
    this.#onApiWarning = options.onApiWarning;
  }

  /**
   * What the client adds to this machine's clock for OAuth timestamps (X's time minus this machine's, in
   * milliseconds): 0 until X refuses a request because the clock is off (see {@link CLOCK_SKEW_TOLERANCE_MS}).
   */
  get clockOffsetMs(): number {
    return this.#clockOffsets.get(this.baseUrl);
  }

  /**
   * `GET accounts/:account_id`.
   *
   * @example
   * const account = await client.getAccount('18ce54d4x5t'); // account.approvalStatus === 'ACCEPTED'
   */
  async getAccount(
    accountId: string,
    options: { withDeleted?: boolean; signal?: AbortSignal } = {},
  ): Promise<XAccount> {
    const path = `/accounts/${percentEncode(requireId(accountId, 'account id'))}`;
    const body = await this.#request({
      method: 'GET',
      path,
      query: options.withDeleted ? [['with_deleted', 'true']] : [],
      accountId,
      retry: 'all',
      signal: options.signal,
    });
    return parseAccount(dataObject(body, path), path);
  }

  /**
   * `GET accounts/:account_id/authenticated_user_access`: the token user's permissions on the account.
   *
   * @example
   * const { permissions } = await client.getAuthenticatedUserAccess('18ce54d4x5t'); // ['ACCOUNT_ADMIN', …]
   */
  async getAuthenticatedUserAccess(
    accountId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<AuthenticatedUserAccess> {
    const path = `/accounts/${percentEncode(requireId(accountId, 'account id'))}/authenticated_user_access`;
    const body = await this.#request({
      method: 'GET',
      path,
      accountId,
      retry: 'all',
      signal: options.signal,
    });
    return parseAccess(dataObject(body, path), path);
  }

  /**
   * One page of `GET accounts/:account_id/custom_audiences`.
   *
   * @example
   * const { audiences, nextCursor } = await client.listCustomAudiencesPage('18ce54d4x5t', { count: 1000 });
   */
  async listCustomAudiencesPage(
    accountId: string,
    options: ListCustomAudiencesOptions = {},
  ): Promise<CustomAudiencePage> {
    const path = `/accounts/${percentEncode(requireId(accountId, 'account id'))}/custom_audiences`;
    const query: Array<[string, string]> = [];
    if (options.count !== undefined) {
      if (!Number.isInteger(options.count) || options.count < 1 || options.count > 1000) {
        throw new ValidationError({
          message: `count ${options.count} is out of range`,
          hint: 'X accepts a page size from 1 to 1000.',
        });
      }
      query.push(['count', String(options.count)]);
    }
    if (options.cursor !== undefined) query.push(['cursor', options.cursor]);
    if (options.q !== undefined) {
      if (options.q.length < 1 || options.q.length > 255) {
        throw new ValidationError({
          message: 'q must be 1 to 255 characters',
          hint: 'Shorten the name prefix.',
        });
      }
      query.push(['q', options.q]);
    }
    if (options.customAudienceIds !== undefined) {
      if (options.customAudienceIds.length > 200) {
        throw new ValidationError({
          message: 'customAudienceIds has more than 200 ids',
          hint: 'Ask for at most 200 ids per request.',
        });
      }
      query.push(['custom_audience_ids', options.customAudienceIds.join(',')]);
    }
    if (options.permissionScope !== undefined) query.push(['permission_scope', options.permissionScope]);
    if (options.sortBy !== undefined) query.push(['sort_by', options.sortBy]);
    if (options.withDeleted !== undefined) query.push(['with_deleted', String(options.withDeleted)]);
    const body = await this.#request({
      method: 'GET',
      path,
      query,
      accountId,
      retry: 'all',
      signal: options.signal,
    });
    return {
      audiences: dataArray(body, path).map((item) => parseCustomAudience(item, path)),
      nextCursor: nextCursor(body),
    };
  }

  /**
   * Iterates every custom audience, following `next_cursor` page by page.
   *
   * @example
   * for await (const audience of client.customAudiences('18ce54d4x5t', { q: 'loyal' })) console.log(audience.name);
   */
  async *customAudiences(
    accountId: string,
    options: Omit<ListCustomAudiencesOptions, 'cursor'> = {},
  ): AsyncGenerator<CustomAudience, void, undefined> {
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (;;) {
      const page = await this.listCustomAudiencesPage(accountId, {
        ...options,
        ...(cursor === undefined ? {} : { cursor }),
      });
      yield* page.audiences;
      if (page.nextCursor === null) return;
      if (seen.has(page.nextCursor)) {
        throw new TransientError({
          message: `X returned the cursor "${page.nextCursor}" twice while listing custom audiences`,
          reason: 'invalid_response',
          hint: 'Pagination did not advance; try again later.',
        });
      }
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }

  /**
   * Every custom audience of the account (all pages).
   *
   * @example
   * const audiences = await client.listCustomAudiences('18ce54d4x5t', { withDeleted: true, count: 1000 });
   */
  async listCustomAudiences(
    accountId: string,
    options: Omit<ListCustomAudiencesOptions, 'cursor'> = {},
  ): Promise<CustomAudience[]> {
    const all: CustomAudience[] = [];
    for await (const audience of this.customAudiences(accountId, options)) all.push(audience);
    return all;
  }

  /**
   * The non-deleted audience with exactly this name, or null. `q` is a case-insensitive prefix match, so the
   * exact comparison happens here.
   *
   * @example
   * const existing = await client.findCustomAudienceByName('18ce54d4x5t', 'Loyal customers');
   */
  async findCustomAudienceByName(
    accountId: string,
    name: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<CustomAudience | null> {
    const q = name.length >= 1 && name.length <= 255 ? name : undefined;
    for await (const audience of this.customAudiences(accountId, {
      count: 1000,
      ...(q === undefined ? {} : { q }),
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      if (audience.name === name && !audience.deleted) return audience;
    }
    return null;
  }

  /**
   * `GET accounts/:account_id/custom_audiences/:id`. A deleted audience is a `NotFoundError` unless
   * `withDeleted` is set.
   *
   * @example
   * const audience = await client.getCustomAudience('18ce54d4x5t', '1nmth'); // audience.audienceSize
   */
  async getCustomAudience(
    accountId: string,
    audienceId: string,
    options: { withDeleted?: boolean; signal?: AbortSignal } = {},
  ): Promise<CustomAudience> {
    const path = this.#audiencePath(accountId, audienceId);
    const body = await this.#request({
      method: 'GET',
      path,
      query: options.withDeleted ? [['with_deleted', 'true']] : [],
      accountId,
      retry: 'all',
      signal: options.signal,
    });
    return parseCustomAudience(dataObject(body, path), path);
  }

  /**
   * `POST accounts/:account_id/custom_audiences?name=…&description=…` (parameters on the query string, as X
   * documents). Names must be unique in the account, deleted audiences included. Not retried after an
   * ambiguous failure (timeout, 500): look the name up with {@link findCustomAudienceByName} first.
   *
   * @example
   * const audience = await client.createCustomAudience('18ce54d4x5t', { name: 'Loyal customers', description: 'AEP segment' });
   */
  async createCustomAudience(
    accountId: string,
    input: { name: string; description?: string },
    options: { signal?: AbortSignal } = {},
  ): Promise<CustomAudience> {
    if (typeof input.name !== 'string' || input.name === '') {
      throw new ValidationError({
        message: 'name is required',
        hint: 'Give the audience a unique display name.',
      });
    }
    const path = `/accounts/${percentEncode(requireId(accountId, 'account id'))}/custom_audiences`;
    const query: Array<[string, string]> = [['name', input.name]];
    if (input.description !== undefined) query.push(['description', input.description]);
    const body = await this.#request({
      method: 'POST',
      path,
      query,
      accountId,
      retry: 'unprocessed',
      signal: options.signal,
    });
    return parseCustomAudience(dataObject(body, path), path);
  }

  /**
   * `PUT accounts/:account_id/custom_audiences/:id`: updates only the given fields; an empty description
   * clears it.
   *
   * @example
   * await client.updateCustomAudience('18ce54d4x5t', '1nmth', { name: 'Loyal customers (EU)' });
   */
  async updateCustomAudience(
    accountId: string,
    audienceId: string,
    input: { name?: string; description?: string },
    options: { signal?: AbortSignal } = {},
  ): Promise<CustomAudience> {
    const query: Array<[string, string]> = [];
    if (input.name !== undefined) {
      if (input.name === '')
        throw new ValidationError({ message: 'name cannot be empty', hint: 'Omit it to keep the name.' });
      query.push(['name', input.name]);
    }
    if (input.description !== undefined) query.push(['description', input.description]);
    if (query.length === 0) {
      throw new ValidationError({ message: 'nothing to update', hint: 'Pass a name and/or a description.' });
    }
    const path = this.#audiencePath(accountId, audienceId);
    const body = await this.#request({
      method: 'PUT',
      path,
      query,
      accountId,
      retry: 'all',
      signal: options.signal,
    });
    return parseCustomAudience(dataObject(body, path), path);
  }

  /**
   * `DELETE accounts/:account_id/custom_audiences/:id`: permanent. Returns the audience with `deleted: true`.
   *
   * @example
   * await client.deleteCustomAudience('18ce54d4x5t', '1nmth');
   */
  async deleteCustomAudience(
    accountId: string,
    audienceId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<CustomAudience> {
    const path = this.#audiencePath(accountId, audienceId);
    const body = await this.#request({
      method: 'DELETE',
      path,
      accountId,
      retry: 'unprocessed',
      signal: options.signal,
    });
    return parseCustomAudience(dataObject(body, path), path);
  }

  /**
   * `POST accounts/:account_id/custom_audiences/:id/users` with a JSON array body. Checks that
   * `success_count == total_count ==` the number of user objects sent; anything else is a `TransientError`
   * (reason `count_mismatch`), retried like a 5xx: the endpoint is atomic and membership is a set, so resending
   * the same body is safe. `retries` bounds the retries of a retryable failure made here (the client's `maxRetries`
   * by default); a caller that schedules its own, as X advises (at once, then after 1 and 5 minutes), passes 0.
   *
   * @example
   * const result = await client.postUsers('18ce54d4x5t', '1nmth', packUserChanges(changes)[0]!);
   * // { successCount: 2, totalCount: 2, userCount: 2 }
   */
  async postUsers(
    accountId: string,
    audienceId: string,
    request: PackedRequest | readonly UserOperation[],
    options: { signal?: AbortSignal; retries?: number } = {},
  ): Promise<UsersResult> {
    const operations = Array.isArray(request)
      ? (request as readonly UserOperation[])
      : (request as PackedRequest).operations;
    const body = Array.isArray(request) ? JSON.stringify(request) : (request as PackedRequest).body;
    const userCount = operations.reduce(
      (n, op) => n + (Array.isArray(op?.params?.users) ? op.params.users.length : 0),
      0,
    );
    const bytes = Buffer.byteLength(body);
    if (operations.length === 0 || userCount === 0) {
      throw new ValidationError({
        message: 'no users to send',
        hint: 'Send at least one operation with one user.',
      });
    }
    if (operations.length > MAX_OPERATIONS_PER_REQUEST || bytes > MAX_BODY_BYTES) {
      throw new ValidationError({
        message: `the request has ${operations.length} operations and ${bytes} bytes; X accepts at most ${MAX_OPERATIONS_PER_REQUEST} and ${MAX_BODY_BYTES}`,
        hint: 'Split the changes with packUserChanges.',
      });
    }
    const path = `${this.#audiencePath(accountId, audienceId)}/users`;
    let counts: { successCount: number; totalCount: number } | null = null;
    await this.#request({
      method: 'POST',
      path,
      json: body,
      accountId,
      retry: 'all',
      ...(options.retries === undefined ? {} : { maxRetries: options.retries }),
      signal: options.signal,
      check: (responseBody) => {
        counts = parseUsersCounts(responseBody);
        if (counts && counts.successCount === userCount && counts.totalCount === userCount) return undefined;
        return new TransientError({
          message: counts
            ? `X processed ${counts.successCount} of ${counts.totalCount} users (total ${counts.totalCount}) but ${userCount} were sent`
            : 'X answered the users request without success_count/total_count',
          reason: 'count_mismatch',
          method: 'POST',
          path: this.#fullPath(path),
          hint: 'X asks to treat a count mismatch as a failure and resend the whole request.',
        });
      },
    });
    const final = counts as { successCount: number; totalCount: number } | null;
    return {
      successCount: final?.successCount ?? userCount,
      totalCount: final?.totalCount ?? userCount,
      userCount,
    };
  }

  /**
   * Preflight checklist for an ads account: credentials, access, approval, account age and permissions.
   *
   * @example
   * const result = await client.verify('18ce54d4x5t');
   * if (!result.ok) for (const check of result.checks) console.log(check.status, check.message);
   */
  verify(accountId: string, options: { signal?: AbortSignal } = {}): Promise<VerifyResult> {
    return verifyAccount(this, accountId, { now: this.#now(), ...options });
  }

  #audiencePath(accountId: string, audienceId: string): string {
    return `/accounts/${percentEncode(requireId(accountId, 'account id'))}/custom_audiences/${percentEncode(
      requireId(audienceId, 'custom audience id'),
    )}`;
  }

  #fullPath(path: string): string {
    return `/${this.apiVersion}${path}`;
  }

  async #request(spec: RequestSpec): Promise<unknown> {
    const fullPath = this.#fullPath(spec.path);
    const queryString = (spec.query ?? [])
      .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
      .join('&');
    const url = `${this.baseUrl}${fullPath}${queryString ? `?${queryString}` : ''}`;
    const key: BudgetKey = {
      credentials: `${this.#credentials.consumerKey}:${this.#credentials.accessToken}`,
      accountId: spec.accountId,
      family: endpointFamily(spec.method, fullPath, new URLSearchParams(queryString)),
    };

    let skewCorrected = false;
    for (let attempt = 0; ; attempt++) {
      await this.#pace(key, spec, fullPath);
      const started = this.#now();
      let error: XAdsError;
      // A 401 from a clock that is off: sign again with X's time, once. The credentials may be fine.
      let clockCorrected = false;
      let status: number | undefined;
      let rateLimit: RateLimitInfo = {};
      try {
        const { response, text } = await this.#send(url, spec, fullPath);
        status = response.status;
        this.#apiWarning(response.headers, fullPath);
        rateLimit = parseRateLimitHeaders(response.headers);
        this.#budgets.update(key, effectiveWindow(rateLimit));
        if (response.ok) {
          let body: unknown;
          try {
            body = text === '' ? {} : JSON.parse(text);
          } catch {
            body = undefined;
          }
          const problem =
            body === undefined
              ? new TransientError({
                  message: `X answered ${spec.method} ${fullPath} with HTTP ${response.status} and a non-JSON body`,
                  reason: 'invalid_response',
                  status: response.status,
                  method: spec.method,
                  path: fullPath,
                  hint: 'Check the base URL; a proxy or captive portal may be answering.',
                })
              : spec.check?.(body, response.status);
          if (!problem) {
            this.#report({
              method: spec.method,
              path: fullPath,
              status,
              attempt,
              durationMs: this.#now() - started,
              rateLimit,
            });
            return body;
          }
          error = problem;
        } else {
          error = errorFromResponse({
            status: response.status,
            headers: response.headers,
            bodyText: text,
            now: this.#now(),
            method: spec.method,
            path: fullPath,
          });
          if (error instanceof RateLimitedError) this.#budgets.exhaust(key, error.retryAt);
          clockCorrected = response.status === 401 && !skewCorrected && this.#correctClock(response.headers);
        }
      } catch (thrown) {
        if (thrown instanceof XAdsError) error = thrown;
        else throw thrown;
      }
      this.#report({
        method: spec.method,
        path: fullPath,
        ...(status === undefined ? {} : { status }),
        attempt,
        durationMs: this.#now() - started,
        rateLimit,
        error,
      });
      if (clockCorrected) {
        skewCorrected = true;
        continue;
      }

      // Signing again with X's time was not a retry: it does not use up one of them.
      const retries = skewCorrected ? attempt - 1 : attempt;
      const retryAllowed =
        error.retryable &&
        retries < (spec.maxRetries ?? this.#maxRetries) &&
        (spec.retry === 'all' || (error.status !== undefined && UNPROCESSED_STATUSES.has(error.status)));
      const now = this.#now();
      const limited = error instanceof RateLimitedError;
      const deferred = (retryAt: number | undefined) => {
        if (limited)
          this.#waited({
            reason: 'deferred',
            method: spec.method,
            path: fullPath,
            waitMs: (retryAt ?? now) - now,
          });
      };
      if (!retryAllowed) {
        deferred(error.retryAt);
        throw error;
      }
      const delay =
        error.retryAt !== undefined
          ? Math.max(0, error.retryAt - now)
          : backoffDelay(retries, { ...this.#backoff, random: this.#random });
      if (delay > this.#maxWaitMs) {
        deferred(now + delay);
        throw error;
      }
      if (limited) this.#waited({ reason: 'retry', method: spec.method, path: fullPath, waitMs: delay });
      if (delay > 0) await this.#sleep(delay, spec.signal);
    }
  }

  #apiWarning(headers: Headers, path: string): void {
    const warning = headers.get('x-api-warn');
    if (!warning || !this.#onApiWarning) return;
    try {
      this.#onApiWarning({
        warning,
        version: this.apiVersion,
        current: headers.get('x-current-api-version'),
        path,
      });
    } catch {
      // An observer must not break a request.
    }
  }

  /** Adopts X's time from a response's `Date` when this machine's clock is too far from it; true when it was. */
  #correctClock(headers: Headers): boolean {
    const xTime = Date.parse(headers.get('date') ?? '');
    if (!Number.isFinite(xTime)) return false;
    const skew = xTime - (this.#now() + this.clockOffsetMs);
    if (Math.abs(skew) < CLOCK_SKEW_TOLERANCE_MS) return false;
    this.#clockOffsets.set(this.baseUrl, this.clockOffsetMs + skew);
    try {
      this.#onClockSkew?.(this.clockOffsetMs);
    } catch {
      // An observer must not break a request.
    }
    return true;
  }

  /** Waits while the known budget is spent; hands a long wait back to the caller as a RateLimitedError. */
  async #pace(key: BudgetKey, spec: RequestSpec, fullPath: string): Promise<void> {
    for (let round = 0; ; round++) {
      const now = this.#now();
      const wait = this.#budgets.acquire(key, now);
      if (wait <= 0) return;
      if (wait > this.#maxWaitMs || round >= 5) {
        this.#waited({ reason: 'deferred', method: spec.method, path: fullPath, waitMs: wait });
        throw new RateLimitedError({
          message: `held back ${spec.method} ${fullPath}: the rate-limit budget is spent until ${new Date(now + wait).toISOString()}`,
          retryAt: now + wait,
          method: spec.method,
          path: fullPath,
          hint: 'The request was not sent; send it after retryAt.',
        });
      }
      this.#waited({ reason: 'pacing', method: spec.method, path: fullPath, waitMs: wait });
      await this.#sleep(wait, spec.signal);
    }
  }

  #waited(event: XAdsWaitEvent): void {
    try {
      this.#onWait?.(event);
    } catch {
      // An observer must not break a request.
    }
  }

  /** Sends one attempt and reads its body, both within the timeout. */
  async #send(
    url: string,
    spec: RequestSpec,
    fullPath: string,
  ): Promise<{ response: Response; text: string }> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: signRequest({
        method: spec.method,
        url,
        consumer: { key: this.#credentials.consumerKey, secret: this.#credentials.consumerSecret },
        token: { key: this.#credentials.accessToken, secret: this.#credentials.accessTokenSecret },
        nonce: this.#nonce(),
        timestamp: Math.floor((this.#now() + this.clockOffsetMs) / 1000),
      }),
    };
    if (spec.json !== undefined) headers['content-type'] = 'application/json';
    const timeout = timeoutSignal(this.#timeoutMs, spec.signal);
    try {
      const response = await this.#fetch(url, {
        method: spec.method,
        headers,
        ...(spec.json === undefined ? {} : { body: spec.json }),
        signal: timeout.signal,
      });
      return { response, text: await response.text() };
    } catch (cause) {
      if (spec.signal?.aborted) throw spec.signal.reason;
      const timedOut = timeout.timedOut();
      const failure = describeNetworkFailure(cause);
      throw new TransientError({
        message: timedOut
          ? `${spec.method} ${fullPath} timed out after ${this.#timeoutMs} ms`
          : `${spec.method} ${fullPath} failed before a response: ${failure.reason}`,
        reason: timedOut ? 'timeout' : 'network',
        method: spec.method,
        path: fullPath,
        cause,
        hint: timedOut
          ? 'X did not answer in time; the request is retried with backoff.'
          : (failure.hint ?? `Check network access to ${this.baseUrl}.`),
      });
    } finally {
      timeout.dispose();
    }
  }

  #report(event: XAdsRequestEvent): void {
    if (!this.#onRequest) return;
    try {
      this.#onRequest(event);
    } catch {
      // An observer must not break a request.
    }
  }
}
