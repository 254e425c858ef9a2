import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AuthError,
  errorFromResponse,
  NotFoundError,
  parseErrorDetails,
  parseRetryAfter,
  PermissionError,
  RateLimitedError,
  TransientError,
  ValidationError,
  XAdsError,
} from './errors.ts';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const respond = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  errorFromResponse({
    status,
    headers: new Headers(headers),
    bodyText: typeof body === 'string' ? body : JSON.stringify(body),
    now: NOW,
    method: 'POST',
    path: '/12/accounts/abc/custom_audiences',
  });

describe('errorFromResponse', () => {
  it.each([
    [400, ValidationError, 'validation', false],
    [413, ValidationError, 'validation', false],
    [415, ValidationError, 'validation', false],
    [401, AuthError, 'auth', false],
    [403, PermissionError, 'permission', false],
    [404, NotFoundError, 'not_found', false],
    [408, TransientError, 'transient', true],
    [423, TransientError, 'transient', true],
    [429, RateLimitedError, 'rate_limited', true],
    [500, TransientError, 'transient', true],
    [503, TransientError, 'transient', true],
    [504, TransientError, 'transient', true],
  ])('maps %i to %o', (status, type, kind, retryable) => {
    const error = respond(status, { errors: [{ code: 'X', message: 'm' }] });
    expect(error).toBeInstanceOf(type);
    expect(error).toBeInstanceOf(XAdsError);
    expect(error.kind).toBe(kind);
    expect(error.retryable).toBe(retryable);
    expect(error.status).toBe(status);
    expect(error.xCode).toBe('X');
  });

  it('carries the X code, message, parameter and the request location', () => {
    const error = respond(400, {
      errors: [{ code: 'INVALID_PARAMETER', message: 'Expected time', parameter: 'start_time', value: '' }],
      request: { params: {} },
    });
    expect(error.message).toContain('INVALID_PARAMETER Expected time');
    expect(error.message).toContain('POST /12/accounts/abc/custom_audiences');
    expect(error.details).toEqual([
      {
        source: 'errors',
        code: 'INVALID_PARAMETER',
        message: 'Expected time',
        parameter: 'start_time',
        value: '',
      },
    ]);
    expect(error.hint).toBeTruthy();
  });

  it('names the permission code and a fix for 403s', () => {
    const error = respond(403, {
      errors: [{ code: 'UNAUTHORIZED_CLIENT_APPLICATION', message: 'no access' }],
      request: { params: {} },
    });
    expect(error.xCode).toBe('UNAUTHORIZED_CLIENT_APPLICATION');
    expect(error.hint).toMatch(/Ads API access/);
    expect(respond(403, { errors: [{ code: 'ACCOUNT_NOT_FOUND', message: 'x' }] }).hint).toMatch(/account/);
  });

  it("names a 401's causes without the clock, which the client corrects by signing again with X's time", () => {
    const error = respond(401, { errors: [{ code: 'UNAUTHORIZED_ACCESS', message: 'bad' }] });
    expect(error.hint).toMatch(/revoked/);
    expect(error.hint).toMatch(/Log in again/);
    expect(error.hint).not.toMatch(/clock/i);
  });

  it('accepts an HTML 404 and an empty 504', () => {
    const html = respond(404, '<html><body><h1>Not Found</h1></body></html>');
    expect(html).toBeInstanceOf(TransientError);
    expect(html.retryable).toBe(true);
    expect(html.status).toBe(404);
    expect(html.xCode).toBeUndefined();
    expect(html.details).toEqual([]);
    expect(html.message).toContain('non-JSON body');
    const empty = respond(504, '');
    expect(empty).toBeInstanceOf(TransientError);
    expect(empty.retryAt).toBeUndefined();
  });

  it("takes a 404 for a missing entity only with X's JSON error envelope", () => {
    const gone = respond(404, { errors: [{ code: 'NOT_FOUND', message: 'gone' }], request: { params: {} } });
    expect(gone).toBeInstanceOf(NotFoundError);
    expect(gone.retryable).toBe(false);
    const route = respond(404, { errors: [{ code: 'ROUTE_NOT_FOUND', message: 'no route' }] });
    expect(route).toBeInstanceOf(TransientError);
    expect(route.xCode).toBe('ROUTE_NOT_FOUND');
    for (const body of ['', 'Not Found', '{"data":null}', '{"errors":[]}']) {
      expect(respond(404, body), body).toBeInstanceOf(TransientError);
    }
  });

  it('honours retry-after on 503 (seconds and HTTP date)', () => {
    expect(respond(503, '', { 'retry-after': '30' }).retryAt).toBe(NOW + 30_000);
    expect(respond(503, '', { 'retry-after': new Date(NOW + 90_000).toUTCString() }).retryAt).toBe(
      NOW + 90_000,
    );
    expect(respond(503, '', { 'retry-after': 'soon' }).retryAt).toBeUndefined();
  });

  describe('429 retryAt', () => {
    const seconds = (ms: number) => String(Math.floor(ms / 1000));
    it('prefers the exhausted account-level window', () => {
      const error = respond(
        429,
        { errors: [{ code: 'TOO_MANY_REQUESTS', message: 'x' }] },
        {
          'x-account-rate-limit-remaining': '0',
          'x-account-rate-limit-reset': seconds(NOW + 120_000),
          'x-rate-limit-remaining': '1500',
          'x-rate-limit-reset': seconds(NOW + 600_000),
        },
      );
      expect(error).toBeInstanceOf(RateLimitedError);
      expect(error.retryAt).toBe(NOW + 120_000);
    });

    it('uses the user-level reset when that is the exhausted one', () => {
      const error = respond(
        429,
        {},
        {
          'x-account-rate-limit-remaining': '10',
          'x-account-rate-limit-reset': seconds(NOW + 120_000),
          'x-rate-limit-remaining': '0',
          'x-rate-limit-reset': seconds(NOW + 600_000),
        },
      );
      expect(error.retryAt).toBe(NOW + 600_000);
    });

    it('falls back to one minute without headers', () => {
      expect(respond(429, '').retryAt).toBe(NOW + 60_000);
    });

    it('never returns a time in the past', () => {
      expect(
        respond(429, '', { 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': seconds(NOW - 5000) })
          .retryAt,
      ).toBe(NOW + 60_000);
    });
  });

  it('never throws, whatever the body', () => {
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 599 }), fc.oneof(fc.string(), fc.json()), (status, body) => {
        const error = errorFromResponse({ status, headers: new Headers(), bodyText: body, now: NOW });
        expect(error).toBeInstanceOf(XAdsError);
        expect(Array.isArray(error.details)).toBe(true);
      }),
    );
  });

  it('serializes without credentials or query strings', () => {
    const json = respond(401, { errors: [{ code: 'UNAUTHORIZED_ACCESS', message: 'bad' }] }).toJSON();
    expect(json).toMatchObject({ kind: 'auth', retryable: false, status: 401, xCode: 'UNAUTHORIZED_ACCESS' });
  });
});

describe('parseErrorDetails', () => {
  it('reads operation_errors aligned with the operations (null for clean ones)', () => {
    expect(
      parseErrorDetails({
        operation_errors: [
          null,
          [{ code: 'INVALID_PARAMETER', message: 'bad hash', parameter: 'users' }],
          {},
        ],
      }),
    ).toEqual([
      {
        source: 'operation_errors',
        code: 'INVALID_PARAMETER',
        message: 'bad hash',
        parameter: 'users',
        operationIndex: 1,
      },
      { source: 'operation_errors', code: 'UNKNOWN', message: 'no message', operationIndex: 2 },
    ]);
  });

  it('reads operation_errors keyed by index, and entries carrying their own index', () => {
    expect(parseErrorDetails({ operation_errors: { '3': { code: 'A', message: 'm' } } })).toEqual([
      { source: 'operation_errors', code: 'A', message: 'm', operationIndex: 3 },
    ]);
    expect(
      parseErrorDetails({ operation_errors: [{ code: 'B', message: 'm', index: 7, user_index: 2 }] }),
    ).toEqual([{ source: 'operation_errors', code: 'B', message: 'm', operationIndex: 7, userIndex: 2 }]);
  });

  it('tolerates missing, odd and mixed shapes', () => {
    expect(parseErrorDetails(undefined)).toEqual([]);
    expect(parseErrorDetails('x')).toEqual([]);
    expect(parseErrorDetails({ errors: 'boom' })).toEqual([
      { source: 'errors', code: 'UNKNOWN', message: 'boom' },
    ]);
    expect(parseErrorDetails({ errors: [42, { code: 5, details: 'why' }] })).toEqual([
      { source: 'errors', code: '5', message: 'why' },
    ]);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds, fractions and dates', () => {
    expect(parseRetryAfter('0', NOW)).toBe(NOW);
    expect(parseRetryAfter('1.5', NOW)).toBe(NOW + 1500);
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
  });
});
