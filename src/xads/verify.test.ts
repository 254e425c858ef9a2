import { describe, expect, it } from 'vitest';
import {
  AuthError,
  errorFromResponse,
  NotFoundError,
  PermissionError,
  RateLimitedError,
  TransientError,
} from './errors.ts';
import type { AuthenticatedUserAccess, XAccount } from './types.ts';
import { verifyAccount } from './verify.ts';
import type { VerifySource } from './verify.ts';

const NOW = Date.UTC(2026, 10, 28);
const DAY = 86_400_000;

const account = (overrides: Partial<XAccount> = {}): XAccount => ({
  id: 'acc',
  name: 'Shop',
  approvalStatus: 'ACCEPTED',
  createdAt: NOW - 100 * DAY,
  timezone: 'UTC',
  deleted: false,
  raw: {},
  ...overrides,
});

function source(
  accountResult: XAccount | Error,
  accessResult: AuthenticatedUserAccess | Error = { userId: 'u1', permissions: ['PARTNER_AUDIENCE_MANAGER'] },
  audiencesResult: Error | null = null,
): VerifySource & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    getAccount: async () => {
      calls.push('account');
      if (accountResult instanceof Error) throw accountResult;
      return accountResult;
    },
    getAuthenticatedUserAccess: async () => {
      calls.push('access');
      if (accessResult instanceof Error) throw accessResult;
      return accessResult;
    },
    listCustomAudiencesPage: async (_accountId, options) => {
      calls.push(`audiences count=${options?.count}`);
      if (audiencesResult) throw audiencesResult;
      return { audiences: [], nextCursor: null };
    },
  };
}

const statuses = (result: Awaited<ReturnType<typeof verifyAccount>>) =>
  Object.fromEntries(result.checks.map((c) => [c.id, c.status]));

describe('verifyAccount', () => {
  it('passes every check for an approved, old account with Partner Audience Manager', async () => {
    const result = await verifyAccount(source(account()), 'acc', { now: NOW });
    expect(result.ok).toBe(true);
    expect(result.failure).toBeUndefined();
    expect(statuses(result)).toEqual({
      credentials: 'pass',
      account_access: 'pass',
      approval_status: 'pass',
      account_age: 'pass',
      permissions: 'pass',
      audience_api: 'pass',
    });
    expect(result.access?.permissions).toEqual(['PARTNER_AUDIENCE_MANAGER']);
    for (const check of result.checks) expect(check.label).toBeTruthy();
  });

  it('accepts ACCOUNT_ADMIN, warns on AD_MANAGER alone, fails otherwise naming the permission and where to grant it', async () => {
    const admin = await verifyAccount(
      source(account(), { userId: 'u', permissions: ['ACCOUNT_ADMIN'] }),
      'acc',
      { now: NOW },
    );
    expect(statuses(admin).permissions).toBe('pass');

    const manager = await verifyAccount(
      source(account(), { userId: 'u', permissions: ['AD_MANAGER'] }),
      'acc',
      { now: NOW },
    );
    expect(statuses(manager).permissions).toBe('warn');
    expect(manager.ok).toBe(true);

    const analyst = await verifyAccount(
      source(account(), { userId: 'u', permissions: ['CAMPAIGN_ANALYST', 'TWEET_COMPOSER'] }),
      'acc',
      { now: NOW },
    );
    const check = analyst.checks.find((c) => c.id === 'permissions')!;
    expect(check.status).toBe('fail');
    expect(check.message).toContain('Partner Audience Manager');
    expect(check.message).toContain('PARTNER_AUDIENCE_MANAGER');
    expect(check.message).toContain('ads.x.com');
    expect(check.message).toContain('CAMPAIGN_ANALYST, TWEET_COMPOSER');
    expect(analyst.ok).toBe(false);
  });

  it('warns that an account younger than 14 days is not eligible for advertising yet', async () => {
    const result = await verifyAccount(source(account({ createdAt: NOW - 3 * DAY })), 'acc', { now: NOW });
    const check = result.checks.find((c) => c.id === 'account_age')!;
    expect(check.status).toBe('warn');
    expect(check.message).toContain('not eligible for advertising during its first 2 weeks');
    expect(check.message).toContain('2026-12-09');
    const exactly = await verifyAccount(source(account({ createdAt: NOW - 14 * DAY })), 'acc', { now: NOW });
    expect(statuses(exactly).account_age).toBe('pass');
  });

  it('fails a non-ACCEPTED approval status and warns when it is missing', async () => {
    const pending = await verifyAccount(source(account({ approvalStatus: 'UNDER_REVIEW' })), 'acc', {
      now: NOW,
    });
    expect(statuses(pending).approval_status).toBe('fail');
    expect(pending.checks.find((c) => c.id === 'approval_status')!.message).toContain('UNDER_REVIEW');
    const unknown = await verifyAccount(source(account({ approvalStatus: null, createdAt: null })), 'acc', {
      now: NOW,
    });
    expect(statuses(unknown)).toMatchObject({ approval_status: 'warn', account_age: 'warn' });
  });

  it('skips every dependent check when the credentials are refused', async () => {
    const s = source(new AuthError({ message: 'HTTP 401', status: 401, xCode: 'UNAUTHORIZED_ACCESS' }));
    const result = await verifyAccount(s, 'acc', { now: NOW });
    expect(statuses(result)).toEqual({
      credentials: 'fail',
      account_access: 'skipped',
      approval_status: 'skipped',
      account_age: 'skipped',
      permissions: 'skipped',
      audience_api: 'skipped',
    });
    expect(result.failure).toBe('credentials');
    expect(result.checks[0]!.xCode).toBe('UNAUTHORIZED_ACCESS');
    expect(result.checks[0]!.message).toMatch(/Re-authorize/);
    expect(s.calls).toEqual(['account']);
    expect(result.ok).toBe(false);
  });

  it('says once how to fix refused credentials, though the error carries its own hint', async () => {
    const refused = errorFromResponse({
      status: 401,
      headers: new Headers(),
      bodyText: JSON.stringify({
        errors: [{ code: 'UNAUTHORIZED_ACCESS', message: 'This request is not properly authenticated' }],
      }),
      now: NOW,
      method: 'GET',
      path: '/12/accounts/acc',
    });
    const result = await verifyAccount(source(refused), 'acc', { now: NOW });
    const message = result.checks[0]!.message;
    expect(message.match(/re-authorize/gi)).toHaveLength(1);
    expect(message).toContain('UNAUTHORIZED_ACCESS');
    expect(message).toContain('log in with X again or paste fresh tokens');
    expect(result.ok).toBe(false);
  });

  it('reports an app without Ads API access against the credentials', async () => {
    const result = await verifyAccount(
      source(
        new PermissionError({ message: 'HTTP 403', status: 403, xCode: 'UNAUTHORIZED_CLIENT_APPLICATION' }),
      ),
      'acc',
      { now: NOW },
    );
    expect(statuses(result).credentials).toBe('fail');
    expect(result.checks[0]!.xCode).toBe('UNAUTHORIZED_CLIENT_APPLICATION');
    // X answered: the app is not allowed, which is not a refusal of the credentials.
    expect(result.failure).toBe('refused');
  });

  it('fails account access on ACCOUNT_NOT_FOUND or 404 and skips what depends on it', async () => {
    for (const error of [
      new PermissionError({ message: 'HTTP 403', status: 403, xCode: 'ACCOUNT_NOT_FOUND' }),
      new NotFoundError({ message: 'HTTP 404', status: 404 }),
    ]) {
      const s = source(error);
      const result = await verifyAccount(s, 'acc', { now: NOW });
      expect(statuses(result)).toEqual({
        credentials: 'pass',
        account_access: 'fail',
        approval_status: 'skipped',
        account_age: 'skipped',
        permissions: 'skipped',
        audience_api: 'skipped',
      });
      expect(result.failure).toBe('refused');
      expect(s.calls).toEqual(['account']);
      const access = result.checks.find((c) => c.id === 'account_access')!;
      expect(access.message.match(/Check the account id/g)).toHaveLength(1);
    }
  });

  it('fails credentials as unverifiable when X cannot be reached', async () => {
    const result = await verifyAccount(
      source(new TransientError({ message: 'timeout', reason: 'timeout' })),
      'acc',
      {
        now: NOW,
      },
    );
    expect(statuses(result).credentials).toBe('fail');
    expect(result.checks[0]!.message).toMatch(/Could not check/);
    expect(result.checks[0]!.message).toContain('X could not be reached');
    expect(result.failure).toBe('unreachable');
  });

  it('says X could not be reached, not that the credentials are wrong, on a 503, a 429 or a network failure', async () => {
    const unavailable = errorFromResponse({
      status: 503,
      headers: new Headers(),
      bodyText: JSON.stringify({ errors: [{ code: 'SERVICE_UNAVAILABLE', message: 'Over capacity' }] }),
      now: NOW,
      method: 'GET',
      path: '/12/accounts/acc',
    });
    for (const error of [
      unavailable,
      new RateLimitedError({ message: 'HTTP 429', status: 429, retryAt: NOW + 60_000 }),
      new TransientError({ message: 'fetch failed', reason: 'network' }),
    ]) {
      const result = await verifyAccount(source(error), 'acc', { now: NOW });
      expect(result.ok).toBe(false);
      expect(result.failure).toBe('unreachable');
      expect(result.checks[0]).toMatchObject({ id: 'credentials', status: 'fail' });
      expect(result.checks[0]!.message).toContain('X could not be reached');
      expect(result.checks[0]!.message).not.toMatch(/refused the credentials|Re-authorize/);
    }
  });

  it('fails the Audience API check, after every other check, for an app X keeps off custom audiences', async () => {
    const refused = errorFromResponse({
      status: 403,
      headers: new Headers(),
      bodyText: JSON.stringify({
        errors: [
          {
            code: 'UNAUTHORIZED_CLIENT_APPLICATION',
            message: 'The client application making this request does not have access to this API',
          },
        ],
      }),
      now: NOW,
      method: 'GET',
      path: '/12/accounts/acc/custom_audiences',
    });
    const s = source(account(), { userId: 'u1', permissions: ['ACCOUNT_ADMIN'] }, refused);
    const result = await verifyAccount(s, 'acc', { now: NOW });
    expect(result.ok).toBe(false);
    expect(result.failure).toBe('refused');
    // The existing checks keep their order and pass; the new one comes last.
    expect(result.checks.map((c) => [c.id, c.status])).toEqual([
      ['credentials', 'pass'],
      ['account_access', 'pass'],
      ['approval_status', 'pass'],
      ['account_age', 'pass'],
      ['permissions', 'pass'],
      ['audience_api', 'fail'],
    ]);
    const check = result.checks.at(-1)!;
    expect(check).toMatchObject({
      label: 'The app may use the Audience API (custom audiences)',
      xCode: 'UNAUTHORIZED_CLIENT_APPLICATION',
    });
    // What, and how to fix it: request the access for the app, then verify again.
    expect(check.message).toContain('403 UNAUTHORIZED_CLIENT_APPLICATION');
    expect(check.message).toContain('allowlist');
    expect(check.message).toContain('developer portal');
    expect(check.message).toContain('Custom Audiences');
    expect(check.message).toContain('verify the destination again');
    // One read of one audience: nothing written at X.
    expect(s.calls).toEqual(['account', 'access', 'audiences count=1']);
  });

  it('grades other answers to the Audience API read by what they say about the connection', async () => {
    const run = (error: Error) =>
      verifyAccount(source(account(), undefined, error), 'acc', { now: NOW }).then((r) => ({
        failure: r.failure,
        check: r.checks.find((c) => c.id === 'audience_api')!,
      }));
    const down = await run(new TransientError({ message: 'HTTP 503', status: 503 }));
    expect(down.failure).toBe('unreachable');
    expect(down.check.status).toBe('fail');
    expect(down.check.message).toContain('X could not be reached');
    const denied = await run(
      new PermissionError({ message: 'HTTP 403', status: 403, xCode: 'ACTION_NOT_ALLOWED' }),
    );
    expect(denied).toMatchObject({
      failure: 'refused',
      check: { status: 'fail', xCode: 'ACTION_NOT_ALLOWED' },
    });
    const revoked = await run(
      new AuthError({ message: 'HTTP 401', status: 401, xCode: 'UNAUTHORIZED_ACCESS' }),
    );
    expect(revoked.failure).toBe('credentials');
    // A check that fails on what X answered outranks one X did not answer.
    const both = await verifyAccount(
      source(
        account({ approvalStatus: 'UNDER_REVIEW' }),
        undefined,
        new TransientError({ message: 'timeout', reason: 'timeout' }),
      ),
      'acc',
      { now: NOW },
    );
    expect(both.failure).toBe('refused');
  });

  it('fails permissions when the access read fails', async () => {
    const result = await verifyAccount(
      source(
        account(),
        new PermissionError({ message: 'HTTP 403', status: 403, xCode: 'ACTION_NOT_ALLOWED' }),
      ),
      'acc',
      { now: NOW },
    );
    expect(statuses(result).permissions).toBe('fail');
    expect(result.checks.find((c) => c.id === 'permissions')!.xCode).toBe('ACTION_NOT_ALLOWED');
  });
});
