import { describe, expect, it } from 'vitest';
import { AuthError, errorFromResponse, NotFoundError, PermissionError, TransientError } from './errors.ts';
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
  };
}

const statuses = (result: Awaited<ReturnType<typeof verifyAccount>>) =>
  Object.fromEntries(result.checks.map((c) => [c.id, c.status]));

describe('verifyAccount', () => {
  it('passes every check for an approved, old account with Partner Audience Manager', async () => {
    const result = await verifyAccount(source(account()), 'acc', { now: NOW });
    expect(result.ok).toBe(true);
    expect(statuses(result)).toEqual({
      credentials: 'pass',
      account_access: 'pass',
      approval_status: 'pass',
      account_age: 'pass',
      permissions: 'pass',
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
    });
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
      });
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
