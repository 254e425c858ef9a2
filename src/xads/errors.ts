/**
 * The closed error taxonomy of the X Ads client. The class decides what happens next: callers read only
 * `retryable` and `retryAt`. Status → class mapping follows X's error table (docs.x.com
 * x-ads-api/fundamentals/error-codes-and-responses).
 */

export type XAdsErrorKind = 'rate_limited' | 'transient' | 'auth' | 'permission' | 'not_found' | 'validation';

/** One entry of X's `errors` or `operation_errors`. */
export interface XErrorDetail {
  /**
   * Where it was reported: X's request-level `errors` or item-level `operation_errors`, or `client` for a
   * problem the client found before sending.
   */
  source: 'errors' | 'operation_errors' | 'client';
  /** X's CAPS_CASE code, e.g. `INVALID_PARAMETER`; `UNKNOWN` when the body did not carry one. */
  code: string;
  message: string;
  parameter?: string;
  /** For `operation_errors`: the index of the operation object in the request body. */
  operationIndex?: number;
  /** Position of the user inside that operation's `users`, when X reports it. */
  userIndex?: number;
  /** For `client` details about input changes: the index of the change in the caller's list. */
  changeIndex?: number;
  value?: unknown;
}

export interface XAdsErrorOptions {
  message: string;
  status?: number;
  xCode?: string;
  retryAt?: number;
  details?: XErrorDetail[];
  /** What the operator or the calling code can do about it. */
  hint?: string;
  method?: string;
  /** URL path (never the query string, which may carry audience names). */
  path?: string;
  cause?: unknown;
}

/** Base class of every error the client throws. `retryAt` is epoch milliseconds. */
export abstract class XAdsError extends Error {
  abstract readonly kind: XAdsErrorKind;
  abstract readonly retryable: boolean;
  readonly status?: number;
  readonly xCode?: string;
  readonly retryAt?: number;
  readonly details: XErrorDetail[];
  readonly hint?: string;
  readonly method?: string;
  readonly path?: string;

  constructor(options: XAdsErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.status !== undefined) this.status = options.status;
    if (options.xCode !== undefined) this.xCode = options.xCode;
    if (options.retryAt !== undefined) this.retryAt = options.retryAt;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.method !== undefined) this.method = options.method;
    if (options.path !== undefined) this.path = options.path;
    this.details = options.details ?? [];
  }

  /** A plain, log-safe description (no credentials, no query strings). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      kind: this.kind,
      retryable: this.retryable,
      message: this.message,
      status: this.status,
      xCode: this.xCode,
      retryAt: this.retryAt,
      hint: this.hint,
      method: this.method,
      path: this.path,
      details: this.details,
    };
  }
}

/** 429 `TOO_MANY_REQUESTS`, or a request held back because the known budget is spent. */
export class RateLimitedError extends XAdsError {
  readonly kind = 'rate_limited' as const;
  readonly retryable = true;
  declare readonly retryAt: number;
  constructor(options: XAdsErrorOptions & { retryAt: number }) {
    super(options);
  }
}

export type TransientReason = 'status' | 'network' | 'timeout' | 'count_mismatch' | 'invalid_response';

/**
 * 408, 423, 5xx, a 404 without X's JSON error (HTML) or with `ROUTE_NOT_FOUND`, network failures, timeouts and
 * `success_count` mismatches: retry the same request.
 */
export class TransientError extends XAdsError {
  readonly kind = 'transient' as const;
  readonly retryable = true;
  readonly reason: TransientReason;
  constructor(options: XAdsErrorOptions & { reason?: TransientReason }) {
    super(options);
    this.reason = options.reason ?? 'status';
  }
}

/** 401: the credentials were refused. Pause and re-authorize; retrying will not help. */
export class AuthError extends XAdsError {
  readonly kind = 'auth' as const;
  readonly retryable = false;
}

/** 403: the user or app may not do this (e.g. `ACCOUNT_NOT_FOUND`, `UNAUTHORIZED_CLIENT_APPLICATION`). */
export class PermissionError extends XAdsError {
  readonly kind = 'permission' as const;
  readonly retryable = false;
}

/** 404 with X's JSON error envelope (e.g. `NOT_FOUND`): unknown or deleted account or audience. */
export class NotFoundError extends XAdsError {
  readonly kind = 'not_found' as const;
  readonly retryable = false;
}

/** 400 and other request errors (413, 415, …), and requests the client refuses to send. */
export class ValidationError extends XAdsError {
  readonly kind = 'validation' as const;
  readonly retryable = false;
}

/**
 * True for any error of the taxonomy.
 *
 * @example
 * if (isXAdsError(error) && error.retryable) schedule(error.retryAt ?? Date.now() + 60_000);
 */
export function isXAdsError(value: unknown): value is XAdsError {
  return value instanceof XAdsError;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toDetail(
  raw: unknown,
  source: XErrorDetail['source'],
  operationIndex?: number,
): XErrorDetail | null {
  if (typeof raw === 'string') {
    return {
      source,
      code: 'UNKNOWN',
      message: raw,
      ...(operationIndex === undefined ? {} : { operationIndex }),
    };
  }
  if (!isRecord(raw)) return null;
  const detail: XErrorDetail = {
    source,
    code:
      typeof raw.code === 'string' ? raw.code : typeof raw.code === 'number' ? String(raw.code) : 'UNKNOWN',
    message:
      typeof raw.message === 'string'
        ? raw.message
        : typeof raw.details === 'string'
          ? raw.details
          : 'no message',
  };
  if (typeof raw.parameter === 'string') detail.parameter = raw.parameter;
  const index = operationIndex ?? numberOrUndefined(raw.index ?? raw.operation_index);
  if (index !== undefined) detail.operationIndex = index;
  const userIndex = numberOrUndefined(raw.user_index ?? raw.item_index);
  if (userIndex !== undefined) detail.userIndex = userIndex;
  if ('value' in raw) detail.value = raw.value;
  return detail;
}

function numberOrUndefined(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return undefined;
}

/**
 * Reads X's `errors` and `operation_errors` from a parsed body without trusting their shape: either may be
 * missing, `operation_errors` may be an array aligned with the operations (null for clean ones, an object or
 * an array of objects otherwise) or an object keyed by index.
 *
 * @example
 * parseErrorDetails({ errors: [{ code: 'INVALID_PARAMETER', message: 'bad', parameter: 'name' }] });
 * // [{ source: 'errors', code: 'INVALID_PARAMETER', message: 'bad', parameter: 'name' }]
 */
export function parseErrorDetails(body: unknown): XErrorDetail[] {
  if (!isRecord(body)) return [];
  const details: XErrorDetail[] = [];
  const errors = body.errors;
  for (const raw of Array.isArray(errors) ? errors : errors === undefined ? [] : [errors]) {
    const d = toDetail(raw, 'errors');
    if (d) details.push(d);
  }
  const opErrors = body.operation_errors;
  const add = (raw: unknown, index: number | undefined) => {
    for (const item of Array.isArray(raw) ? raw : [raw]) {
      const d = toDetail(item, 'operation_errors', index);
      if (d) details.push(d);
    }
  };
  if (Array.isArray(opErrors)) {
    opErrors.forEach((raw, index) => {
      // A flat list of objects that carry their own index is also accepted.
      if (isRecord(raw) && numberOrUndefined(raw.index ?? raw.operation_index) !== undefined)
        add(raw, undefined);
      else add(raw, index);
    });
  } else if (isRecord(opErrors)) {
    for (const [key, raw] of Object.entries(opErrors)) add(raw, numberOrUndefined(key));
  }
  return details;
}

/**
 * Seconds (or an HTTP date) in `retry-after`, as epoch ms; undefined when absent or unreadable.
 *
 * @example
 * parseRetryAfter('30', 1_000); // 31_000
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return now + Math.ceil(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : date;
}

function resetMs(headers: Headers, prefix: string): { at?: number; exhausted: boolean } {
  const reset = headers.get(`${prefix}-reset`);
  const remaining = headers.get(`${prefix}-remaining`);
  const at = reset !== null && /^\d+$/.test(reset.trim()) ? Number(reset.trim()) * 1000 : undefined;
  return { ...(at === undefined ? {} : { at }), exhausted: remaining !== null && remaining.trim() === '0' };
}

/**
 * When a 429 may be retried: the reset of the exhausted window (account level first), else a minute.
 *
 * @example
 * rateLimitRetryAt(new Headers({ 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': '2000' }), 0); // 2_000_000
 */
export function rateLimitRetryAt(headers: Headers, now: number): number {
  const account = resetMs(headers, 'x-account-rate-limit');
  const user = resetMs(headers, 'x-rate-limit');
  const exhausted = [account, user].filter((w) => w.exhausted && w.at !== undefined).map((w) => w.at!);
  const candidate = exhausted.length > 0 ? Math.max(...exhausted) : (account.at ?? user.at);
  const retryAfter = parseRetryAfter(headers.get('retry-after'), now);
  const at = Math.max(candidate ?? 0, retryAfter ?? 0);
  return at > now ? at : now + 60_000;
}

export interface ResponseErrorInput {
  status: number;
  headers: Headers;
  /** Raw body text; may be empty, HTML or JSON. */
  bodyText: string;
  now: number;
  method?: string;
  path?: string;
}

/**
 * Why X answers 401 and what to do. A wrong clock is not among the causes: the client signs a request refused with a
 * `Date` too far from this machine's time again with X's time (see `CLOCK_SKEW_TOLERANCE_MS` in client.ts), so only a
 * refusal the clock does not explain reaches the caller.
 */
const AUTH_HINT =
  "X refused the OAuth signature or token: the access token was revoked, the user changed their password, or the app's keys were regenerated or belong to another app. Log in again for the destination or give it fresh credentials.";

const PERMISSION_HINTS: Record<string, string> = {
  ACCOUNT_NOT_FOUND:
    'The authenticated user cannot access this ads account. Check the account id, or ask an account administrator to add the user at ads.x.com (account settings, multi-user access).',
  UNAUTHORIZED_CLIENT_APPLICATION:
    'The app does not have Ads API access or is not on the Audience API allowlist. Apply for Ads API access in the X developer portal.',
  READONLY_CLIENT_APPLICATION:
    'The app has read-only permission. Set the app permission to "Read and write" in the X developer portal, then regenerate the access token.',
  ACTION_NOT_ALLOWED:
    'The user lacks a permission for this action. Grant Partner Audience Manager (or Account Administrator) at ads.x.com.',
  ACCOUNT_LOCKED_OUT: 'The ads account is locked. Resolve it at ads.x.com before retrying.',
  CURRENT_USER_SUSPENDED: 'The authenticated user is suspended.',
};

/** True when a 404 carries X's JSON error envelope naming a missing entity (not ROUTE_NOT_FOUND). */
function isNotFoundEnvelope(body: unknown, xCode: string | undefined): boolean {
  return isRecord(body) && Array.isArray(body.errors) && xCode !== undefined && xCode !== 'ROUTE_NOT_FOUND';
}

/**
 * Maps a non-2xx response to the taxonomy. A 404 is a `NotFoundError` only with X's JSON error envelope; an HTML
 * 404 or `ROUTE_NOT_FOUND` is transient. Never throws: any body (JSON, HTML, empty) is accepted.
 *
 * @example
 * const error = errorFromResponse({ status: 503, headers: new Headers({ 'retry-after': '30' }), bodyText: '', now: Date.now() });
 * error.retryable; // true
 */
export function errorFromResponse(input: ResponseErrorInput): XAdsError {
  let body: unknown;
  try {
    body = input.bodyText.trim() === '' ? undefined : JSON.parse(input.bodyText);
  } catch {
    body = undefined;
  }
  const details = parseErrorDetails(body);
  const first = details[0];
  const xCode = first?.code === 'UNKNOWN' ? undefined : first?.code;
  const where = input.method && input.path ? ` (${input.method} ${input.path})` : '';
  const snippet =
    body === undefined && input.bodyText.trim() !== ''
      ? `: non-JSON body "${input.bodyText.replace(/\s+/g, ' ').trim().slice(0, 120)}"`
      : '';
  const xMessage = first ? `: ${first.code} ${first.message}` : snippet;
  const message = `X Ads API returned HTTP ${input.status}${where}${xMessage}`;
  const base: XAdsErrorOptions = {
    message,
    status: input.status,
    details,
    ...(xCode === undefined ? {} : { xCode }),
    ...(input.method === undefined ? {} : { method: input.method }),
    ...(input.path === undefined ? {} : { path: input.path }),
  };
  const status = input.status;
  /** Send the same request again, after X's Retry-After when it gives one. */
  const transient = (hint: string) => {
    const retryAt = parseRetryAfter(input.headers.get('retry-after'), input.now);
    return new TransientError({ ...base, ...(retryAt === undefined ? {} : { retryAt }), hint });
  };
  if (status === 429) {
    return new RateLimitedError({
      ...base,
      retryAt: rateLimitRetryAt(input.headers, input.now),
      hint: 'Rate limit reached; the request can be sent again after the reset time.',
    });
  }
  if (status === 408 || status === 423 || status >= 500)
    return transient('X could not complete the request; send the same request again after a backoff.');
  if (status === 401) return new AuthError({ ...base, hint: AUTH_HINT });
  if (status === 403) {
    return new PermissionError({
      ...base,
      hint: PERMISSION_HINTS[xCode ?? ''] ?? 'X denied the request for this user or app.',
    });
  }
  if (status === 404) {
    // X "may occasionally" answer 404 with an HTML page (docs.x.com error codes): not a verdict on the audience. Nor
    // is ROUTE_NOT_FOUND, which names the path, not the entity.
    if (!isNotFoundEnvelope(body, xCode))
      return transient(
        'X answered 404 without its JSON error for an entity (an HTML page, or ROUTE_NOT_FOUND); send the same request again after a backoff.',
      );
    return new NotFoundError({
      ...base,
      hint: 'The account or audience does not exist (a deleted audience also answers 404).',
    });
  }
  const hints: Record<number, string> = {
    413: 'The body is larger than X accepts (5,000,000 bytes); split the request.',
    415: 'The users endpoint needs Content-Type: application/json.',
  };
  return new ValidationError({
    ...base,
    hint: hints[status] ?? 'X rejected the request as invalid; fix it before sending it again.',
  });
}
