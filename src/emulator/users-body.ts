import { X_IDENTIFIER_TYPES } from '../identity/types.ts';
import type { XIdentifierType, XUser } from '../identity/types.ts';
import type { XErrorItem } from './x-errors.ts';
import { addMonthsUtc } from '../xads/add-months-utc.ts';
import { parseIsoUtc } from './time-format.ts';

/** docs.x.com audiences reference: "The current maximum batch size is 2500 for this endpoint". */
export const MAX_OPERATIONS = 2500;
/** "The max request POST body size this endpoint can accept is 5,000,000 bytes." */
export const MAX_BODY_BYTES = 5_000_000;
/** "Defaults to 13 months from the request timestamp." */
export const DEFAULT_EXPIRY_MONTHS = 13;

const HASHED_VALUE = /^[0-9a-f]{64}$/;
const IDENTIFIER_KEYS = new Set<string>(X_IDENTIFIER_TYPES);
const OPERATION_KEYS = new Set(['operation_type', 'params']);
const PARAMS_KEYS = new Set(['effective_at', 'expires_at', 'users']);

export interface UsersOperation {
  type: 'Update' | 'Delete';
  effectiveAt: number;
  expiresAt: number;
  users: XUser[];
}

export type UsersBodyResult =
  | { ok: true; operations: UsersOperation[]; userCount: number }
  /** A request-level error (`errors`). */
  | { ok: false; level: 'request'; status: number; error: XErrorItem; operationCount: number | null }
  /** Item-level errors aligned by operation index (`operation_errors`, null for a clean operation). */
  | { ok: false; level: 'operation'; operationErrors: Array<XErrorItem[] | null>; operationCount: number };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(parameter: string, message: string): XErrorItem {
  return { code: 'INVALID_PARAMETER', message, parameter };
}

/**
 * Validates the body of `POST …/custom_audiences/:id/users` the way the emulator enforces X's rules
 * (docs.x.com audiences reference; reference §12 items 13–17). `bytes` is the body's exact byte length,
 * `now` the request time in ms (defaults for `effective_at` / `expires_at` derive from it).
 */
export function parseUsersBody(
  text: string,
  bytes: number,
  now: number,
  options: { expiryMonths?: number } = {},
): UsersBodyResult {
  if (bytes > MAX_BODY_BYTES) {
    return {
      ok: false,
      level: 'request',
      status: 413,
      operationCount: null,
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        message: `The request body is ${bytes} bytes; the maximum is ${MAX_BODY_BYTES} bytes`,
      },
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {
      ok: false,
      level: 'request',
      status: 400,
      operationCount: null,
      error: invalid('body', 'The request body is not valid JSON'),
    };
  }
  if (!Array.isArray(body)) {
    return {
      ok: false,
      level: 'request',
      status: 400,
      operationCount: null,
      error: invalid('body', 'The request body must be a JSON array of operation objects'),
    };
  }
  if (body.length === 0) {
    return {
      ok: false,
      level: 'request',
      status: 400,
      operationCount: 0,
      error: invalid('body', 'A minimum of 1 operation must be provided'),
    };
  }
  if (body.length > MAX_OPERATIONS) {
    return {
      ok: false,
      level: 'request',
      status: 400,
      operationCount: body.length,
      error: invalid(
        'body',
        `Maximum batch size exceeded: ${body.length} operations sent, at most ${MAX_OPERATIONS} are allowed`,
      ),
    };
  }
  const expiryMonths = options.expiryMonths ?? DEFAULT_EXPIRY_MONTHS;
  const operationErrors: Array<XErrorItem[] | null> = [];
  const operations: UsersOperation[] = [];
  let userCount = 0;
  let failed = false;
  for (const raw of body as unknown[]) {
    const errors: XErrorItem[] = [];
    const operation = parseOperation(raw, now, expiryMonths, errors);
    if (errors.length > 0 || operation === null) {
      failed = true;
      operationErrors.push(errors);
    } else {
      operationErrors.push(null);
      operations.push(operation);
      userCount += operation.users.length;
    }
  }
  if (failed) return { ok: false, level: 'operation', operationErrors, operationCount: body.length };
  return { ok: true, operations, userCount };
}

function parseOperation(
  raw: unknown,
  now: number,
  expiryMonths: number,
  errors: XErrorItem[],
): UsersOperation | null {
  if (!isObject(raw)) {
    errors.push(invalid('operation', 'Each operation must be an object with operation_type and params'));
    return null;
  }
  for (const key of Object.keys(raw)) {
    if (!OPERATION_KEYS.has(key)) errors.push(invalid(key, `Unknown operation field: ${key}`));
  }
  const type = raw.operation_type;
  if (type === undefined) {
    errors.push({
      code: 'MISSING_PARAMETER',
      message: 'operation_type is required',
      parameter: 'operation_type',
    });
  } else if (type !== 'Update' && type !== 'Delete') {
    errors.push(
      invalid('operation_type', `Expected Update or Delete for operation_type, got ${JSON.stringify(type)}`),
    );
  }
  const params = raw.params;
  if (!isObject(params)) {
    errors.push({ code: 'MISSING_PARAMETER', message: 'params must be an object', parameter: 'params' });
    return null;
  }
  for (const key of Object.keys(params)) {
    if (!PARAMS_KEYS.has(key)) errors.push(invalid(`params.${key}`, `Unknown parameter: ${key}`));
  }
  const effectiveAt = parseTime(params.effective_at, 'effective_at', now, errors);
  const expiresAt = parseTime(params.expires_at, 'expires_at', addMonthsUtc(now, expiryMonths), errors);
  if (effectiveAt !== null && expiresAt !== null && expiresAt <= effectiveAt) {
    errors.push(invalid('expires_at', 'expires_at must be later than effective_at'));
  }
  const users = parseUsers(params.users, errors);
  if (errors.length > 0 || users === null || effectiveAt === null || expiresAt === null) return null;
  return { type: type as 'Update' | 'Delete', effectiveAt, expiresAt, users };
}

function parseTime(value: unknown, name: string, fallback: number, errors: XErrorItem[]): number | null {
  if (value === undefined) return fallback;
  const ms = typeof value === 'string' ? parseIsoUtc(value) : null;
  if (ms === null) {
    errors.push(invalid(name, `Expected an ISO 8601 UTC time for ${name}, got ${JSON.stringify(value)}`));
  }
  return ms;
}

function parseUsers(value: unknown, errors: XErrorItem[]): XUser[] | null {
  if (value === undefined) {
    errors.push({ code: 'MISSING_PARAMETER', message: 'params.users is required', parameter: 'users' });
    return null;
  }
  if (!Array.isArray(value) || value.length === 0) {
    errors.push(invalid('users', 'params.users must be a non-empty array of user objects'));
    return null;
  }
  const users: XUser[] = [];
  const before = errors.length;
  for (let i = 0; i < value.length; i += 1) {
    const raw: unknown = value[i];
    if (!isObject(raw)) {
      errors.push(invalid(`users[${i}]`, 'Each user must be an object of identifier arrays'));
      continue;
    }
    const user: XUser = {};
    const userErrorsBefore = errors.length;
    let keys = 0;
    for (const key of Object.keys(raw)) {
      if (!IDENTIFIER_KEYS.has(key)) {
        errors.push(invalid(`users[${i}].${key}`, `Unknown user identifier: ${key}`));
        continue;
      }
      const values = raw[key];
      if (!Array.isArray(values) || values.length === 0) {
        errors.push(invalid(`users[${i}].${key}`, `${key} must be a non-empty array of strings`));
        continue;
      }
      const hashed = key !== 'partner_user_id';
      let ok = true;
      for (let j = 0; j < values.length; j += 1) {
        const v: unknown = values[j];
        if (typeof v !== 'string' || v.length === 0) {
          errors.push(invalid(`users[${i}].${key}[${j}]`, `${key} values must be non-empty strings`));
          ok = false;
        } else if (hashed && !HASHED_VALUE.test(v)) {
          errors.push(
            invalid(
              `users[${i}].${key}[${j}]`,
              `${key} values must be SHA-256 digests in lowercase hex (64 characters 0-9a-f)`,
            ),
          );
          ok = false;
        }
      }
      if (ok) {
        user[key as XIdentifierType] = values as string[];
        keys += 1;
      }
    }
    if (keys === 0 && errors.length === userErrorsBefore) {
      errors.push(invalid(`users[${i}]`, 'A user needs at least one identifier'));
    }
    users.push(user);
  }
  return errors.length > before ? null : users;
}
