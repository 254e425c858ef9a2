import { describe, expect, it } from 'vitest';
import { XAdsClient } from './client.ts';
import type { XAdsClientOptions, XAdsRequestEvent, XAdsWaitEvent } from './client.ts';
import { AuthError, NotFoundError, RateLimitedError, TransientError, ValidationError } from './errors.ts';
import { parseAuthorizationHeader, verifySignature } from './oauth1.ts';
import { changeIndexesForError, packUserChanges } from './pack-user-changes.ts';
import { RateBudgets } from './rate-limit.ts';
import type { XCredentials } from './types.ts';

// These tests drive the client with a scripted fetch to pin retry timing, pacing and timeouts exactly;
// end-to-end behaviour against the emulator lives in the contract suite.

const credentials: XCredentials = {
  consumerKey: 'ck',
  consumerSecret: 'cs',
  accessToken: 'tk',
  accessTokenSecret: 'ts',
};
const START = Date.UTC(2026, 10, 28, 12, 0, 0);
const HASH = 'a'.repeat(64);

interface Seen {
  method: string;
  url: URL;
  headers: Headers;
  body: string | undefined;
  oauth: Record<string, string> | null;
  signatureValid: boolean;
}

type Handler = (request: Seen, index: number) => Response | Promise<Response>;

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const audience = (id: string, name = `aud-${id}`) => ({
  id,
  name,
  description: null,
  audience_type: 'CRM',
  audience_size: null,
  targetable: false,
  targetable_types: ['CRM', 'EXCLUDED_CRM'],
  reasons_not_targetable: ['PROCESSING', 'TOO_SMALL'],
  permission_level: 'READ_WRITE',
  owner_account_id: 'acc',
  partner_source: 'OTHER',
  deleted: false,
  created_at: '2026-11-01T00:00:00Z',
  updated_at: '2026-11-01T00:00:00Z',
});

function setup(handler: Handler, options: Partial<XAdsClientOptions> = {}) {
  const clock = { now: START };
  const sleeps: number[] = [];
  const seen: Seen[] = [];
  const events: XAdsRequestEvent[] = [];
  let nonce = 0;
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    const oauth = parseAuthorizationHeader(headers.get('authorization'));
    const method = init?.method ?? 'GET';
    const request: Seen = {
      method,
      url,
      headers,
      body: typeof init?.body === 'string' ? init.body : undefined,
      oauth,
      signatureValid:
        oauth !== null &&
        verifySignature({ method, url: url.href, oauth, consumerSecret: 'cs', tokenSecret: 'ts' }),
    };
    seen.push(request);
    const signal = init?.signal;
    const index = seen.length - 1;
    // Like real fetch: an aborted signal rejects the pending request.
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      Promise.resolve()
        .then(() => handler(request, index))
        .then(resolve, reject);
    });
  };
  const client = new XAdsClient({
    credentials,
    fetch: fetch as typeof globalThis.fetch,
    now: () => clock.now,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.now += ms;
    },
    nonce: () => `nonce${nonce++}`,
    budgets: new RateBudgets(),
    onRequest: (e) => events.push(e),
    ...options,
  });
  return { client, seen, sleeps, clock, events };
}

describe('XAdsClient requests', () => {
  it('signs a GET on version 12 of the default host', async () => {
    const { client, seen } = setup(() =>
      json({
        data: {
          id: 'acc',
          name: 'Shop',
          approval_status: 'ACCEPTED',
          created_at: '2026-01-01T00:00:00Z',
          timezone: 'UTC',
          deleted: false,
        },
        request: { params: { account_id: 'acc' } },
      }),
    );
    const account = await client.getAccount('acc');
    expect(account).toMatchObject({ id: 'acc', name: 'Shop', approvalStatus: 'ACCEPTED', deleted: false });
    expect(account.createdAt).toBe(Date.UTC(2026, 0, 1));
    expect(seen[0]!.url.href).toBe('https://ads-api.x.com/12/accounts/acc');
    expect(seen[0]!.signatureValid).toBe(true);
    expect(seen[0]!.oauth).toMatchObject({ oauth_timestamp: String(START / 1000), oauth_nonce: 'nonce0' });
  });

  it('uses the configured base URL and version 11', async () => {
    const { client, seen } = setup(() => json({ data: { user_id: 42, permissions: ['ACCOUNT_ADMIN'] } }), {
      baseUrl: 'http://127.0.0.1:9090/',
      apiVersion: 11,
    });
    expect(await client.getAuthenticatedUserAccess('acc')).toEqual({
      userId: '42',
      permissions: ['ACCOUNT_ADMIN'],
    });
    expect(seen[0]!.url.href).toBe('http://127.0.0.1:9090/11/accounts/acc/authenticated_user_access');
    expect(seen[0]!.signatureValid).toBe(true);
  });

  it('rejects bad options and arguments without sending anything', async () => {
    expect(() => new XAdsClient({ credentials: { ...credentials, consumerSecret: '' } })).toThrow(
      ValidationError,
    );
    expect(() => new XAdsClient({ credentials, apiVersion: 10 as 12 })).toThrow(ValidationError);
    const { client, seen } = setup(() => json({}));
    await expect(client.listCustomAudiencesPage('acc', { count: 1001 })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(client.listCustomAudiencesPage('acc', { count: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.listCustomAudiencesPage('acc', { q: '' })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.getAccount('')).rejects.toBeInstanceOf(ValidationError);
    await expect(client.createCustomAudience('acc', { name: '' })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.updateCustomAudience('acc', 'a', {})).rejects.toBeInstanceOf(ValidationError);
    expect(seen).toHaveLength(0);
  });

  it('lists every page by following next_cursor, with q, with_deleted and count signed', async () => {
    const pages: Record<string, { data: unknown[]; next_cursor: string | null }> = {
      '': { data: [audience('1'), audience('2')], next_cursor: 'c-2' },
      'c-2': { data: [audience('3')], next_cursor: 'c-3' },
      'c-3': { data: [], next_cursor: null },
    };
    const { client, seen } = setup((r) =>
      json({ ...pages[r.url.searchParams.get('cursor') ?? '']!, request: {} }),
    );
    const all = await client.listCustomAudiences('acc', {
      q: 'Loyal & (new)! *',
      withDeleted: true,
      count: 2,
    });
    expect(all.map((a) => a.id)).toEqual(['1', '2', '3']);
    expect(all[0]).toMatchObject({
      name: 'aud-1',
      audienceSize: null,
      reasonsNotTargetable: ['PROCESSING', 'TOO_SMALL'],
    });
    expect(seen).toHaveLength(3);
    for (const r of seen) {
      expect(r.signatureValid).toBe(true);
      expect(r.url.searchParams.get('q')).toBe('Loyal & (new)! *');
      expect(r.url.searchParams.get('with_deleted')).toBe('true');
      expect(r.url.searchParams.get('count')).toBe('2');
    }
    // RFC 3986 on the wire too: the query X signs is the query sent.
    expect(seen[0]!.url.search).toContain('q=Loyal%20%26%20%28new%29%21%20%2A');
    expect(seen[1]!.url.searchParams.get('cursor')).toBe('c-2');
  });

  it('iterates lazily and stops on a repeated cursor', async () => {
    const { client, seen } = setup(() => json({ data: [audience('1')], next_cursor: 'same' }));
    const iterator = client.customAudiences('acc');
    expect((await iterator.next()).value).toMatchObject({ id: '1' });
    expect(seen).toHaveLength(1);
    await expect(client.listCustomAudiences('acc')).rejects.toBeInstanceOf(TransientError);
  });

  it('finds an audience by exact name, not by prefix', async () => {
    const { client, seen } = setup(() =>
      json({
        data: [
          audience('1', 'Loyal customers EU'),
          audience('2', 'loyal customers'),
          audience('3', 'Loyal customers'),
        ],
        next_cursor: null,
      }),
    );
    expect((await client.findCustomAudienceByName('acc', 'Loyal customers'))?.id).toBe('3');
    expect(seen[0]!.url.searchParams.get('q')).toBe('Loyal customers');
    expect(seen[0]!.url.searchParams.get('count')).toBe('1000');
  });

  it('creates with name and description on the signed query string and no body', async () => {
    const { client, seen } = setup(() => json({ data: audience('2906h', 'developers') }));
    const created = await client.createCustomAudience('18ce54d4x5t', {
      name: 'developers',
      description: 'A test',
    });
    expect(created.id).toBe('2906h');
    const r = seen[0]!;
    expect(r.method).toBe('POST');
    expect(r.url.href).toBe(
      'https://ads-api.x.com/12/accounts/18ce54d4x5t/custom_audiences?name=developers&description=A%20test',
    );
    expect(r.body).toBeUndefined();
    expect(r.signatureValid).toBe(true);
  });

  it('updates with PUT and deletes with DELETE', async () => {
    const { client, seen } = setup((r) =>
      json({ data: { ...audience('1nmth', 'renamed'), deleted: r.method === 'DELETE' } }),
    );
    await client.updateCustomAudience('acc', '1nmth', { name: 'renamed', description: '' });
    expect(seen[0]!.method).toBe('PUT');
    expect(seen[0]!.url.search).toBe('?name=renamed&description=');
    expect(seen[0]!.signatureValid).toBe(true);
    const deleted = await client.deleteCustomAudience('acc', '1nmth');
    expect(deleted.deleted).toBe(true);
    expect(seen[1]!.method).toBe('DELETE');
    expect(seen[1]!.url.pathname).toBe('/12/accounts/acc/custom_audiences/1nmth');
  });

  it('maps a deleted audience (404) to NotFoundError without retrying', async () => {
    const { client, seen } = setup(() => json({ errors: [{ code: 'NOT_FOUND', message: 'gone' }] }, 404));
    await expect(client.getCustomAudience('acc', 'x')).rejects.toBeInstanceOf(NotFoundError);
    expect(seen).toHaveLength(1);
  });

  it('retries a 404 that comes with an HTML page, as X occasionally sends', async () => {
    const { client, seen } = setup(
      (_request, index) =>
        index === 0
          ? new Response('<html><body>Not Found</body></html>', {
              status: 404,
              headers: { 'content-type': 'text/html' },
            })
          : json({ data: audience('1nmth', 'Loyal') }),
      { maxRetries: 1 },
    );
    expect((await client.getCustomAudience('acc', '1nmth')).name).toBe('Loyal');
    expect(seen).toHaveLength(2);
  });
});

describe('XAdsClient.postUsers', () => {
  const changes = [
    { operation: 'Update' as const, user: { email: [HASH] } },
    { operation: 'Update' as const, user: { email: ['b'.repeat(64)] } },
    { operation: 'Delete' as const, user: { handle: ['c'.repeat(64)] } },
  ];

  it('sends the exact packed body as JSON, unsigned, and checks the counts', async () => {
    const [request] = packUserChanges(changes);
    const { client, seen } = setup(() => json({ data: { success_count: 3, total_count: 3 }, request: {} }));
    const result = await client.postUsers('acc', 'aud', request!);
    expect(result).toEqual({ successCount: 3, totalCount: 3, userCount: 3 });
    const r = seen[0]!;
    expect(r.url.href).toBe('https://ads-api.x.com/12/accounts/acc/custom_audiences/aud/users');
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.body).toBe(request!.body);
    // Signed over method, URL and oauth params only: the body is not part of it.
    expect(r.signatureValid).toBe(true);
    expect(r.oauth?.oauth_body_hash).toBeUndefined();
  });

  it('accepts plain operations too', async () => {
    const { client, seen } = setup(() => json({ data: { success_count: 1, total_count: 1 } }));
    await client.postUsers('acc', 'aud', [
      { operation_type: 'Update', params: { users: [{ email: [HASH] }] } },
    ]);
    expect(seen[0]!.body).toBe(`[{"operation_type":"Update","params":{"users":[{"email":["${HASH}"]}]}}]`);
  });

  it('retries a count mismatch, then succeeds', async () => {
    const [request] = packUserChanges(changes);
    const { client, seen, sleeps } = setup((_, i) =>
      json({ data: i === 0 ? { success_count: 2, total_count: 3 } : { success_count: 3, total_count: 3 } }),
    );
    await expect(client.postUsers('acc', 'aud', request!)).resolves.toMatchObject({ successCount: 3 });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.body).toBe(seen[0]!.body);
    expect(seen[1]!.oauth?.oauth_nonce).not.toBe(seen[0]!.oauth?.oauth_nonce);
    expect(sleeps).toEqual([750]); // backoff attempt 0: base 1000, jitter pinned at 0.5
  });

  it('gives up on a persistent mismatch with a retryable TransientError', async () => {
    const [request] = packUserChanges(changes);
    const { client, seen } = setup(() => json({ data: { success_count: 3, total_count: 4 } }), {
      maxRetries: 2,
    });
    const error = await client.postUsers('acc', 'aud', request!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).reason).toBe('count_mismatch');
    expect((error as TransientError).retryable).toBe(true);
    expect(seen).toHaveLength(3);
  });

  it('treats missing counts as a mismatch', async () => {
    const [request] = packUserChanges(changes);
    const { client } = setup(() => json({ data: {} }), { maxRetries: 0 });
    await expect(client.postUsers('acc', 'aud', request!)).rejects.toMatchObject({
      reason: 'count_mismatch',
    });
  });

  it('refuses requests over X limits before sending', async () => {
    const { client, seen } = setup(() => json({}));
    const tooMany = Array.from({ length: 2501 }, () => ({
      operation_type: 'Update' as const,
      params: { users: [{ email: [HASH] }] },
    }));
    await expect(client.postUsers('acc', 'aud', tooMany)).rejects.toBeInstanceOf(ValidationError);
    await expect(client.postUsers('acc', 'aud', [])).rejects.toBeInstanceOf(ValidationError);
    expect(seen).toHaveLength(0);
  });

  it('does not retry a 400 and points operation_errors back at the input changes', async () => {
    const [request] = packUserChanges(changes);
    const { client, seen } = setup(() =>
      json(
        {
          operation_errors: [[{ code: 'INVALID_PARAMETER', message: 'bad hash', parameter: 'users' }], null],
          request: { params: {} },
        },
        400,
      ),
    );
    const error = await client.postUsers('acc', 'aud', request!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(seen).toHaveLength(1);
    // Operation 0 is the Delete group (change 2); operation 1 the Updates (changes 0 and 1).
    expect(changeIndexesForError(request!, error as ValidationError)).toEqual([2]);
  });
});

describe('XAdsClient retries', () => {
  it('honours retry-after on 503', async () => {
    const { client, seen, sleeps } = setup((_, i) =>
      i === 0
        ? json({ errors: [{ code: 'SERVICE_UNAVAILABLE', message: 'busy' }] }, 503, { 'retry-after': '7' })
        : json({ data: { user_id: '1', permissions: [] } }),
    );
    await client.getAuthenticatedUserAccess('acc');
    expect(sleeps).toEqual([7000]);
    expect(seen).toHaveLength(2);
  });

  it('backs off exponentially without retry-after and stops after maxRetries', async () => {
    const { client, seen, sleeps } = setup(() => new Response('', { status: 500 }), { maxRetries: 3 });
    await expect(client.getAccount('acc')).rejects.toBeInstanceOf(TransientError);
    expect(seen).toHaveLength(4);
    expect(sleeps).toEqual([750, 1500, 3000]);
  });

  it('waits for the rate-limit reset after a 429 and paces the next call', async () => {
    const reset = String(START / 1000 + 30);
    const waits: XAdsWaitEvent[] = [];
    const { client, seen, sleeps, clock } = setup(
      (_, i) =>
        i === 0
          ? json({ errors: [{ code: 'TOO_MANY_REQUESTS', message: 'slow down' }] }, 429, {
              'x-account-rate-limit-remaining': '0',
              'x-account-rate-limit-reset': reset,
            })
          : json({ data: { user_id: '1', permissions: [] } }),
      { onWait: (e) => waits.push(e) },
    );
    await client.getAuthenticatedUserAccess('acc');
    expect(sleeps).toEqual([30_000]);
    expect(waits).toEqual([
      { reason: 'retry', method: 'GET', path: '/12/accounts/acc/authenticated_user_access', waitMs: 30_000 },
    ]);
    expect(clock.now).toBe(START + 30_000);
    expect(seen).toHaveLength(2);
  });

  it('hands a long rate-limit wait back to the caller instead of sleeping', async () => {
    const reset = String(START / 1000 + 900);
    const waits: XAdsWaitEvent[] = [];
    const { client, seen, sleeps } = setup(
      () =>
        json({ errors: [{ code: 'TOO_MANY_REQUESTS', message: 'x' }] }, 429, {
          'x-rate-limit-remaining': '0',
          'x-rate-limit-reset': reset,
        }),
      { onWait: (e) => waits.push(e) },
    );
    const error = await client.getAccount('acc').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAt).toBe(START + 900_000);
    expect(sleeps).toEqual([]);
    // The budget now holds the next call back without sending it.
    await expect(client.getAccount('acc')).rejects.toBeInstanceOf(RateLimitedError);
    expect(seen).toHaveLength(1);
    // Both waits go back to the caller: neither slept in place.
    expect(waits.map((w) => [w.reason, w.waitMs])).toEqual([
      ['deferred', 900_000],
      ['deferred', 900_000],
    ]);
  });

  it('never retries 401, and retries a create only when X did not act on it', async () => {
    const unauthorized = setup(() => json({ errors: [{ code: 'UNAUTHORIZED_ACCESS', message: 'no' }] }, 401));
    await expect(unauthorized.client.getAccount('acc')).rejects.toBeInstanceOf(AuthError);
    expect(unauthorized.seen).toHaveLength(1);

    const ambiguous = setup(() => new Response('', { status: 500 }));
    await expect(ambiguous.client.createCustomAudience('acc', { name: 'n' })).rejects.toBeInstanceOf(
      TransientError,
    );
    expect(ambiguous.seen).toHaveLength(1);

    const busy = setup((_, i) =>
      i === 0 ? new Response('', { status: 503 }) : json({ data: audience('1', 'n') }),
    );
    await expect(busy.client.createCustomAudience('acc', { name: 'n' })).resolves.toMatchObject({ id: '1' });
    expect(busy.seen).toHaveLength(2);

    const locked = setup((_, i) =>
      i === 0
        ? json({ errors: [{ code: 'LOCK_ACQUISITION_TIMEOUT', message: 'x' }] }, 423)
        : json({ data: audience('1') }),
    );
    await expect(locked.client.deleteCustomAudience('acc', '1')).resolves.toMatchObject({ id: '1' });
    expect(locked.seen).toHaveLength(2);
  });

  it('retries network errors and reports each attempt', async () => {
    const { client, seen, events } = setup((_, i) => {
      if (i === 0) throw new TypeError('fetch failed');
      return json({ data: { user_id: '1', permissions: [] } });
    });
    await client.getAuthenticatedUserAccess('acc');
    expect(seen).toHaveLength(2);
    expect(events.map((e) => [e.attempt, e.status, e.error?.kind])).toEqual([
      [0, undefined, 'transient'],
      [1, 200, undefined],
    ]);
  });

  it('times out a hanging request', async () => {
    const { client } = setup(() => new Promise<Response>(() => {}), { timeoutMs: 5, maxRetries: 0 });
    const error = await client.getAccount('acc').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).reason).toBe('timeout');
  });

  it('treats a non-JSON 200 as a transient invalid response', async () => {
    const { client } = setup(() => new Response('<html>portal</html>', { status: 200 }), { maxRetries: 0 });
    await expect(client.getAccount('acc')).rejects.toMatchObject({ reason: 'invalid_response' });
  });

  it("stops on the caller's abort without retrying", async () => {
    const controller = new AbortController();
    const { client, seen } = setup(() => {
      controller.abort(new Error('caller stopped'));
      throw new TypeError('aborted');
    });
    await expect(client.getAccount('acc', { signal: controller.signal })).rejects.toThrow('caller stopped');
    expect(seen).toHaveLength(1);
  });
});

describe('XAdsClient pacing', () => {
  const headers = (remaining: number, resetSeconds: number) => ({
    'x-rate-limit-limit': '1500',
    'x-rate-limit-remaining': String(remaining),
    'x-rate-limit-reset': String(resetSeconds),
  });

  it('sends nothing while the known budget is 0 before its reset', async () => {
    const resetSeconds = START / 1000 + 20;
    const sendTimes: number[] = [];
    const budgets = new RateBudgets();
    const waits: XAdsWaitEvent[] = [];
    const state = setup(
      () => {
        sendTimes.push(state.clock.now);
        return json({ data: { success_count: 1, total_count: 1 } }, 200, headers(0, resetSeconds));
      },
      { budgets, onWait: (e) => waits.push(e) },
    );
    const ops = [{ operation_type: 'Update' as const, params: { users: [{ email: [HASH] }] } }];
    await state.client.postUsers('acc', 'aud', ops);
    await state.client.postUsers('acc', 'aud', ops);
    expect(sendTimes).toEqual([START, START + 20_000]);
    expect(state.sleeps).toEqual([20_000]);
    expect(waits).toEqual([
      {
        reason: 'pacing',
        method: 'POST',
        path: '/12/accounts/acc/custom_audiences/aud/users',
        waitMs: 20_000,
      },
    ]);

    // A second client with the same credentials shares the budget; another account does not.
    const other = setup(
      () => json({ data: { success_count: 1, total_count: 1 } }, 200, headers(0, resetSeconds + 20)),
      {
        budgets,
      },
    );
    other.clock.now = state.clock.now;
    await other.client.postUsers('acc', 'aud', ops);
    await other.client.postUsers('acc', 'aud', ops);
    expect(other.sleeps).toEqual([20_000]);
    await other.client.postUsers('other-account', 'aud', ops);
    expect(other.sleeps).toEqual([20_000]);
  });

  it('lets several in-flight callers spend exactly the remaining units', async () => {
    const resetSeconds = START / 1000 + 60;
    const budgets = new RateBudgets();
    budgets.update(
      { credentials: 'ck:tk', accountId: 'acc', family: 'account-read' },
      { limit: 10, remaining: 2, resetAt: resetSeconds * 1000 },
    );
    const { client, seen } = setup(() => json({ data: { user_id: '1', permissions: [] } }), {
      budgets,
      maxWaitMs: 1000,
    });
    const results = await Promise.allSettled([1, 2, 3].map(() => client.getAuthenticatedUserAccess('acc')));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(RateLimitedError);
    expect(seen).toHaveLength(2);
  });
});
