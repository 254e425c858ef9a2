/**
 * The X Ads API contract: the client against the emulator, once through the emulator's in-process fetch
 * handler and once over real HTTP on loopback. Every test runs for both transports.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  accessToken,
  AuthError,
  authorizeUrl,
  NotFoundError,
  packUserChanges,
  PermissionError,
  RateBudgets,
  RateLimitedError,
  requestToken,
  TransientError,
  ValidationError,
} from '../../src/xads/index.ts';
import type { UserChange, XAdsError } from '../../src/xads/index.ts';
import type { EmulatorOptions } from '../../src/emulator/index.ts';
import { ACCOUNT, APP, CREDENTIALS, DEMO, hex, START, startHarness, TRANSPORTS, USER } from './harness.ts';
import type { Harness, Transport } from './harness.ts';

const DAY = 24 * 60 * 60 * 1000;

async function caught(promise: Promise<unknown>): Promise<XAdsError> {
  try {
    await promise;
  } catch (error) {
    return error as XAdsError;
  }
  throw new Error('expected the call to fail');
}

function emails(from: number, count: number, prefix = ''): UserChange[] {
  return Array.from({ length: count }, (_, i) => ({
    operation: 'Update' as const,
    user: { email: [hex(from + i, prefix)] },
  }));
}

for (const transport of TRANSPORTS) {
  describe(`X Ads API contract (${transport})`, () => {
    let h: Harness;
    const open = async (options: EmulatorOptions = {}): Promise<Harness> => {
      await h?.close();
      h = await startHarness(transport as Transport, options);
      return h;
    };
    beforeEach(async () => {
      h = await startHarness(transport);
    });
    afterEach(async () => {
      await h.close();
    });
    const usersLog = () => h.emulator.admin.requests().filter((r) => r.path.endsWith('/users'));

    describe('accounts', () => {
      it('reads the account and the user access', async () => {
        const client = h.client();
        const account = await client.getAccount(ACCOUNT);
        expect(account).toMatchObject({
          id: ACCOUNT,
          name: 'Demo Advertiser',
          approvalStatus: 'ACCEPTED',
          deleted: false,
        });
        expect(account.createdAt).toBe(Date.parse('2024-01-15T09:30:00Z'));
        const access = await client.getAuthenticatedUserAccess(ACCOUNT);
        expect(access).toEqual({
          userId: USER.user_id,
          permissions: ['ACCOUNT_ADMIN', 'PARTNER_AUDIENCE_MANAGER'],
        });
      });

      it('works on API version 11 too', async () => {
        const account = await h.client({ apiVersion: 11 }).getAccount(ACCOUNT);
        expect(account.id).toBe(ACCOUNT);
        expect(h.emulator.admin.requests().at(-1)?.path).toBe(`/11/accounts/${ACCOUNT}`);
      });
    });

    describe('custom audience CRUD and pagination', () => {
      it('creates, reads, updates, lists, finds and deletes', async () => {
        const client = h.client();
        const created = await client.createCustomAudience(ACCOUNT, {
          name: 'Loyal: EU & UK (!*)',
          description: 'AEP segment',
        });
        expect(created).toMatchObject({
          name: 'Loyal: EU & UK (!*)',
          description: 'AEP segment',
          audienceType: 'CRM',
          audienceSize: null,
          targetable: false,
          reasonsNotTargetable: ['PROCESSING', 'TOO_SMALL'],
          ownerAccountId: ACCOUNT,
          deleted: false,
        });
        expect((await client.getCustomAudience(ACCOUNT, created.id)).name).toBe(created.name);
        const updated = await client.updateCustomAudience(ACCOUNT, created.id, {
          name: 'Loyal EU',
          description: '',
        });
        expect(updated).toMatchObject({ id: created.id, name: 'Loyal EU', description: null });
        expect(await client.findCustomAudienceByName(ACCOUNT, 'Loyal EU')).toMatchObject({ id: created.id });
        expect(await client.findCustomAudienceByName(ACCOUNT, 'Loyal')).toBeNull();
        const deleted = await client.deleteCustomAudience(ACCOUNT, created.id);
        expect(deleted.deleted).toBe(true);
        expect(await caught(client.getCustomAudience(ACCOUNT, created.id))).toBeInstanceOf(NotFoundError);
        expect((await client.getCustomAudience(ACCOUNT, created.id, { withDeleted: true })).deleted).toBe(
          true,
        );
        expect(await client.listCustomAudiences(ACCOUNT)).toEqual([]);
        expect((await client.listCustomAudiences(ACCOUNT, { withDeleted: true })).map((a) => a.id)).toEqual([
          created.id,
        ]);
      });

      it('follows next_cursor across pages and filters by prefix', async () => {
        const client = h.client();
        const ids: string[] = [];
        for (let i = 0; i < 5; i += 1)
          ids.push((await client.createCustomAudience(ACCOUNT, { name: `Segment ${i}` })).id);
        await client.createCustomAudience(ACCOUNT, { name: 'Other' });
        h.emulator.admin.clearRequests();
        const listed = await client.listCustomAudiences(ACCOUNT, { count: 2, q: 'segment' });
        expect(listed.map((a) => a.id)).toEqual(ids);
        const pages = h.emulator.admin.requests();
        expect(pages).toHaveLength(3);
        expect(pages.map((p) => new URLSearchParams(p.query).get('cursor'))).toEqual([null, 'c-2', 'c-4']);
        const page = await client.listCustomAudiencesPage(ACCOUNT, { count: 1000 });
        expect(page).toMatchObject({ nextCursor: null });
        expect(page.audiences).toHaveLength(6);
      });
    });

    describe('users endpoint and membership', () => {
      it('adds, merges and removes members by any identifier', async () => {
        const client = h.client();
        const { id } = await client.createCustomAudience(ACCOUNT, { name: 'Members' });
        const [first] = packUserChanges([
          { operation: 'Update', user: { email: [hex(1)], twitter_id: [hex(2)] } },
          { operation: 'Update', user: { email: [hex(3)], partner_user_id: ['crm-3'] } },
          { operation: 'Update', user: { handle: [hex(4)] } },
        ]);
        expect(await client.postUsers(ACCOUNT, id, first!)).toEqual({
          successCount: 3,
          totalCount: 3,
          userCount: 3,
        });
        const [second] = packUserChanges([
          { operation: 'Delete', user: { twitter_id: [hex(2)] } },
          { operation: 'Update', user: { handle: [hex(4)], device_id: [hex(5)] } },
        ]);
        await client.postUsers(ACCOUNT, id, second!);
        const members = h.emulator.admin.members(ACCOUNT, id);
        expect(members.map(({ matched: _m, effective_at: _e, expires_at: _x, ...ids }) => ids)).toEqual([
          { email: [hex(3)], partner_user_id: ['crm-3'] },
          { handle: [hex(4)], device_id: [hex(5)] },
        ]);
      });

      it('sends effective_at / expires_at and the members lapse at expiry', async () => {
        const client = h.client();
        const { id } = await client.createCustomAudience(ACCOUNT, { name: 'Windowed' });
        const requests = packUserChanges([
          {
            operation: 'Update',
            user: { email: [hex(7)] },
            effectiveAt: new Date(START),
            expiresAt: new Date(START + DAY),
          },
        ]);
        await client.postUsers(ACCOUNT, id, requests[0]!);
        expect(h.emulator.admin.members(ACCOUNT, id)[0]).toMatchObject({
          effective_at: '2026-11-28T12:00:00Z',
          expires_at: '2026-11-29T12:00:00Z',
        });
        h.clock.ms += DAY;
        expect(h.emulator.admin.members(ACCOUNT, id)).toEqual([]);
      });

      it('packs exactly 2500 operations into one accepted request and 2501 into two', async () => {
        const client = h.client();
        const { id } = await client.createCustomAudience(ACCOUNT, { name: 'Operations' });
        // A distinct effective_at per change forces one operation object per user.
        const changes = (n: number): UserChange[] =>
          Array.from({ length: n }, (_, i) => ({
            operation: 'Update' as const,
            user: { email: [hex(i)] },
            effectiveAt: new Date(START - (i + 1) * 1000),
          }));
        const exact = packUserChanges(changes(2500));
        expect(exact.map((r) => r.operations.length)).toEqual([2500]);
        await client.postUsers(ACCOUNT, id, exact[0]!);
        const over = packUserChanges(changes(2501));
        expect(over.map((r) => r.operations.length)).toEqual([2500, 1]);
        for (const request of over) await client.postUsers(ACCOUNT, id, request);
        expect(usersLog().map((r) => [r.status, r.operations])).toEqual([
          [200, 2500],
          [200, 2500],
          [200, 1],
        ]);
        expect(h.emulator.admin.members(ACCOUNT, id)).toHaveLength(2501);
      });

      it('packs a body of exactly 5,000,000 bytes into one accepted request and one byte more into two', async () => {
        const client = h.client();
        const { id } = await client.createCustomAudience(ACCOUNT, { name: 'Bytes' });
        const base = emails(0, 63_000);
        const withPad = (length: number): UserChange[] => [
          ...base,
          { operation: 'Update', user: { partner_user_id: ['p'.repeat(length)] } },
        ];
        const probe = packUserChanges(withPad(1));
        expect(probe).toHaveLength(1);
        const padLength = 1 + (5_000_000 - probe[0]!.bytes);
        const exact = packUserChanges(withPad(padLength));
        expect(exact.map((r) => r.bytes)).toEqual([5_000_000]);
        await client.postUsers(ACCOUNT, id, exact[0]!);
        const over = packUserChanges(withPad(padLength + 1));
        expect(over).toHaveLength(2);
        expect(over.every((r) => r.bytes <= 5_000_000)).toBe(true);
        for (const request of over) await client.postUsers(ACCOUNT, id, request);
        expect(usersLog().map((r) => r.status)).toEqual([200, 200, 200]);
        expect(usersLog()[0]!.bytes).toBe(5_000_000);
        expect(h.emulator.admin.members(ACCOUNT, id)).toHaveLength(63_002);
      });

      it('reports PROCESSING until processed, then TOO_SMALL below 100 and the size from 100', async () => {
        await open({ processingDelayMs: 60 * 60 * 1000, matchRate: 1 });
        const client = h.client();
        const small = await client.createCustomAudience(ACCOUNT, { name: 'Small' });
        const big = await client.createCustomAudience(ACCOUNT, { name: 'Big' });
        await client.postUsers(ACCOUNT, small.id, packUserChanges(emails(0, 40))[0]!);
        await client.postUsers(ACCOUNT, big.id, packUserChanges(emails(100, 150))[0]!);
        expect(await client.getCustomAudience(ACCOUNT, big.id)).toMatchObject({
          audienceSize: null,
          reasonsNotTargetable: ['PROCESSING', 'TOO_SMALL'],
        });
        h.emulator.admin.process();
        expect(await client.getCustomAudience(ACCOUNT, small.id)).toMatchObject({
          audienceSize: null,
          targetable: false,
          reasonsNotTargetable: ['TOO_SMALL'],
        });
        expect(await client.getCustomAudience(ACCOUNT, big.id)).toMatchObject({
          audienceSize: 150,
          targetable: true,
          reasonsNotTargetable: [],
        });
      });
    });

    describe('error classes', () => {
      it('AuthError for a bad signature', async () => {
        const error = await caught(
          h.client({ credentials: { ...CREDENTIALS, accessTokenSecret: 'wrong' } }).getAccount(ACCOUNT),
        );
        expect(error).toBeInstanceOf(AuthError);
        expect(error).toMatchObject({ status: 401, xCode: 'UNAUTHORIZED_ACCESS', retryable: false });
      });

      it('PermissionError for an inaccessible account, a missing write permission and an app without access', async () => {
        h.emulator.admin.seed({ accounts: [{ id: 'other', name: 'Other', access: [] }] });
        const notFound = await caught(h.client().getAccount('other'));
        expect(notFound).toBeInstanceOf(PermissionError);
        expect(notFound.xCode).toBe('ACCOUNT_NOT_FOUND');
        h.emulator.admin.seed({
          accounts: [
            {
              id: ACCOUNT,
              name: 'Demo',
              access: [{ user_id: USER.user_id, permissions: ['CAMPAIGN_ANALYST'] }],
            },
          ],
        });
        const denied = await caught(h.client().createCustomAudience(ACCOUNT, { name: 'x' }));
        expect(denied).toBeInstanceOf(PermissionError);
        expect(denied.xCode).toBe('ACTION_NOT_ALLOWED');
        h.emulator.admin.seed({ apps: [{ ...APP, audience_access: false }] });
        const app = await caught(h.client().listCustomAudiences(ACCOUNT));
        expect(app).toBeInstanceOf(PermissionError);
        expect(app.xCode).toBe('UNAUTHORIZED_CLIENT_APPLICATION');
      });

      it('NotFoundError for an unknown audience; an HTML 404 or ROUTE_NOT_FOUND is transient and retried', async () => {
        const client = h.client();
        const unknown = await caught(client.getCustomAudience(ACCOUNT, 'zzzzz'));
        expect(unknown).toBeInstanceOf(NotFoundError);
        expect(unknown).toMatchObject({ status: 404, xCode: 'NOT_FOUND' });
        h.emulator.admin.addFaults({
          faults: [{ path: '/custom_audiences$', status: 404, body: '<html><body>Not Found</body></html>' }],
        });
        const html = await caught(h.client({ maxRetries: 0 }).listCustomAudiences(ACCOUNT));
        expect(html).toBeInstanceOf(TransientError);
        expect(html.message).toContain('non-JSON');
        h.emulator.admin.addFaults({
          faults: [{ path: '/custom_audiences$', status: 404, body: '<html><body>Not Found</body></html>' }],
        });
        expect(await client.listCustomAudiences(ACCOUNT)).toEqual(expect.any(Array));
        const route = await caught(
          h.client({ maxRetries: 0, baseUrl: `${h.baseUrl}/nowhere` }).getAccount(ACCOUNT),
        );
        expect(route).toBeInstanceOf(TransientError);
        expect(route).toMatchObject({ status: 404, xCode: 'ROUTE_NOT_FOUND' });
      });

      it('ValidationError for a duplicate name and for operation_errors, by operation index', async () => {
        const client = h.client();
        const { id } = await client.createCustomAudience(ACCOUNT, { name: 'Unique' });
        const duplicate = await caught(client.createCustomAudience(ACCOUNT, { name: 'Unique' }));
        expect(duplicate).toBeInstanceOf(ValidationError);
        expect(duplicate.details[0]).toMatchObject({ code: 'INVALID_PARAMETER', parameter: 'name' });
        const invalid = await caught(
          client.postUsers(ACCOUNT, id, [
            { operation_type: 'Update', params: { users: [{ email: [hex(1)] }] } },
            { operation_type: 'Update', params: { users: [{ email: [hex(2).replace(/0/g, 'A')] }] } },
          ]),
        );
        expect(invalid).toBeInstanceOf(ValidationError);
        expect(invalid.details).toEqual([
          expect.objectContaining({
            source: 'operation_errors',
            operationIndex: 1,
            code: 'INVALID_PARAMETER',
          }),
        ]);
        expect(h.emulator.admin.members(ACCOUNT, id)).toEqual([]);
      });

      it('TransientError after retries run out on 500, with every attempt sent', async () => {
        h.emulator.admin.addFaults({ faults: [{ path: `/accounts/${ACCOUNT}$`, status: 500, times: 10 }] });
        const error = await caught(h.client({ maxRetries: 2 }).getAccount(ACCOUNT));
        expect(error).toBeInstanceOf(TransientError);
        expect(error).toMatchObject({ status: 500, xCode: 'INTERNAL_ERROR', retryable: true });
        expect(h.emulator.admin.requests().map((r) => r.status)).toEqual([500, 500, 500]);
      });

      it('recovers from 503 with retry-after, 504 without a body and 423', async () => {
        const client = h.client();
        const { id } = await client.createCustomAudience(ACCOUNT, { name: 'Flaky' });
        h.emulator.admin.addFaults({
          faults: [
            { path: '/users$', status: 503, headers: { 'retry-after': '30' } },
            { path: '/users$', status: 504 },
            { path: '/users$', status: 423 },
          ],
        });
        const before = h.clock.ms;
        await client.postUsers(ACCOUNT, id, packUserChanges(emails(0, 2))[0]!);
        expect(usersLog().map((r) => r.status)).toEqual([503, 504, 423, 200]);
        expect(h.clock.ms - before).toBeGreaterThanOrEqual(30_000);
        expect(h.emulator.admin.members(ACCOUNT, id)).toHaveLength(2);
      });

      it('retries a dropped connection and a count mismatch; membership stays a set', async () => {
        const client = h.client();
        const { id } = await client.createCustomAudience(ACCOUNT, { name: 'Dropped' });
        h.emulator.admin.addFaults({
          faults: [
            { path: '/users$', drop: true },
            { path: '/users$', countMismatch: true },
          ],
        });
        const result = await client.postUsers(ACCOUNT, id, packUserChanges(emails(0, 3))[0]!);
        expect(result).toEqual({ successCount: 3, totalCount: 3, userCount: 3 });
        expect(usersLog().map((r) => [r.status, r.fault])).toEqual([
          [0, 'drop'],
          [200, 'scripted'],
          [200, null],
        ]);
        expect(h.emulator.admin.members(ACCOUNT, id)).toHaveLength(3);
      });

      it('TransientError (timeout) when the response is held past the timeout', async () => {
        const held: Array<() => void> = [];
        await open({ sleep: () => new Promise<void>((resolve) => held.push(resolve)) });
        h.emulator.admin.addFaults({ faults: [{ path: `/accounts/${ACCOUNT}$`, delayMs: 60_000 }] });
        const error = await caught(h.client({ timeoutMs: 100, maxRetries: 0 }).getAccount(ACCOUNT));
        for (const release of held) release();
        expect(error).toBeInstanceOf(TransientError);
        expect((error as TransientError).reason).toBe('timeout');
      });
    });

    describe('rate limits', () => {
      it('paces on the headers: no 429 when the budget runs out, the next window is waited for', async () => {
        await open({ rateLimits: { users: { limit: 3, windowMs: 60_000 } } });
        const client = h.client({ maxWaitMs: 120_000 });
        const { id } = await client.createCustomAudience(ACCOUNT, { name: 'Paced' });
        const before = h.clock.ms;
        for (let i = 0; i < 5; i += 1)
          await client.postUsers(ACCOUNT, id, packUserChanges(emails(i * 10, 10))[0]!);
        expect(usersLog().map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
        expect(h.clock.ms - before).toBeGreaterThanOrEqual(60_000);
      });

      it('recovers from a 429 after the reset it names', async () => {
        await open({ rateLimits: { users: { limit: 2, windowMs: 60_000 } } });
        const first = h.client();
        const { id } = await first.createCustomAudience(ACCOUNT, { name: 'Limited' });
        await first.postUsers(ACCOUNT, id, packUserChanges(emails(0, 1))[0]!);
        await first.postUsers(ACCOUNT, id, packUserChanges(emails(1, 1))[0]!);
        // A second process with its own budgets does not know the window is spent.
        const second = h.client({ budgets: new RateBudgets(), maxWaitMs: 120_000 });
        await second.postUsers(ACCOUNT, id, packUserChanges(emails(2, 1))[0]!);
        expect(usersLog().map((r) => r.status)).toEqual([200, 200, 429, 200]);
        expect(h.emulator.admin.members(ACCOUNT, id)).toHaveLength(3);
      });

      it('RateLimitedError with retryAt when the reset is further than the client will wait', async () => {
        await open({ rateLimits: { accountReads: { limit: 1, windowMs: 15 * 60_000 } } });
        const client = h.client({ maxWaitMs: 1000 });
        await client.getAccount(ACCOUNT);
        const error = await caught(client.getAccount(ACCOUNT));
        expect(error).toBeInstanceOf(RateLimitedError);
        expect(error.retryAt).toBe(START + 15 * 60_000);
        // Paced: the second request was never sent.
        expect(h.emulator.admin.requests()).toHaveLength(1);
        const unpaced = await caught(
          h.client({ maxWaitMs: 1000, budgets: new RateBudgets() }).getAccount(ACCOUNT),
        );
        expect(unpaced).toMatchObject({ kind: 'rate_limited', status: 429, xCode: 'TOO_MANY_REQUESTS' });
      });
    });

    describe('preflight', () => {
      const statuses = (checks: Array<{ id: string; status: string }>) =>
        Object.fromEntries(checks.map((c) => [c.id, c.status]));

      it('passes every check for the demo account', async () => {
        const result = await h.client().verify(ACCOUNT);
        expect(result.ok).toBe(true);
        expect(statuses(result.checks)).toEqual({
          credentials: 'pass',
          account_access: 'pass',
          approval_status: 'pass',
          account_age: 'pass',
          permissions: 'pass',
          audience_api: 'pass',
        });
      });

      it('fails the Audience API check for an app not allowlisted for custom audiences, writing nothing', async () => {
        h.emulator.admin.seed({
          apps: [{ ...APP, audience_access: false }],
          accounts: [
            {
              id: ACCOUNT,
              name: 'Demo',
              access: [{ user_id: USER.user_id, permissions: ['ACCOUNT_ADMIN'] }],
            },
          ],
        });
        const result = await h.client().verify(ACCOUNT);
        expect(result.ok).toBe(false);
        expect(result.failure).toBe('refused');
        expect(statuses(result.checks)).toEqual({
          credentials: 'pass',
          account_access: 'pass',
          approval_status: 'pass',
          account_age: 'pass',
          permissions: 'pass',
          audience_api: 'fail',
        });
        expect(result.checks.at(-1)).toMatchObject({
          id: 'audience_api',
          xCode: 'UNAUTHORIZED_CLIENT_APPLICATION',
          message: expect.stringContaining('developer portal'),
        });
        // Reads only: the check costs no write at X.
        expect(h.emulator.admin.requests().map((r) => `${r.method} ${r.path}`)).toEqual([
          `GET /12/accounts/${ACCOUNT}`,
          `GET /12/accounts/${ACCOUNT}/authenticated_user_access`,
          `GET /12/accounts/${ACCOUNT}/custom_audiences`,
        ]);
        // Once X grants the access, the same credentials pass.
        h.emulator.admin.seed({ apps: [{ ...APP, audience_access: true }] });
        expect((await h.client().verify(ACCOUNT)).ok).toBe(true);
      });

      it('fails credentials for a refused token and for an app without Ads API access', async () => {
        const refused = await h
          .client({ credentials: { ...CREDENTIALS, accessToken: 'revoked' } })
          .verify(ACCOUNT);
        expect(refused.ok).toBe(false);
        expect(statuses(refused.checks)).toMatchObject({ credentials: 'fail', account_access: 'skipped' });
        h.emulator.admin.seed({ apps: [{ ...APP, ads_access: false }] });
        const app = await h.client().verify(ACCOUNT);
        expect(app.checks[0]).toMatchObject({
          id: 'credentials',
          status: 'fail',
          xCode: 'UNAUTHORIZED_CLIENT_APPLICATION',
        });
      });

      it('fails account access for an account the user cannot see', async () => {
        h.emulator.admin.seed({ accounts: [{ id: 'hidden', name: 'Hidden', access: [] }] });
        const result = await h.client().verify('hidden');
        expect(statuses(result.checks)).toMatchObject({ credentials: 'pass', account_access: 'fail' });
        expect(result.checks[1]?.xCode).toBe('ACCOUNT_NOT_FOUND');
      });

      it('fails approval, warns on a new account, and grades permissions', async () => {
        const account = (permissions: string[], extra: Record<string, string> = {}) =>
          h.emulator.admin.seed({
            accounts: [
              { id: ACCOUNT, name: 'Demo', access: [{ user_id: USER.user_id, permissions }], ...extra },
            ],
          });
        account(['ACCOUNT_ADMIN'], {
          approval_status: 'UNDER_REVIEW',
          created_at: new Date(START - 3 * DAY).toISOString(),
        });
        const review = await h.client().verify(ACCOUNT);
        expect(statuses(review.checks)).toMatchObject({
          approval_status: 'fail',
          account_age: 'warn',
          permissions: 'pass',
        });
        expect(review.ok).toBe(false);
        account(['AD_MANAGER']);
        expect(statuses((await h.client().verify(ACCOUNT)).checks).permissions).toBe('warn');
        account(['CAMPAIGN_ANALYST']);
        const analyst = await h.client().verify(ACCOUNT);
        expect(statuses(analyst.checks).permissions).toBe('fail');
        expect(analyst.checks.find((c) => c.id === 'permissions')?.message).toContain(
          'Partner Audience Manager',
        );
      });
    });

    describe('PIN login', () => {
      it('request token → authorize page PIN → access token that works', async () => {
        const options = { baseUrl: h.baseUrl, fetch: h.fetch, now: h.clock.now };
        const app = { consumerKey: APP.consumer_key, consumerSecret: APP.consumer_secret };
        const temporary = await requestToken(app, options);
        expect(temporary.callbackConfirmed).toBe(true);
        const page = await h.fetch(authorizeUrl(temporary.token, { baseUrl: h.baseUrl }));
        const pin = /id="oauth_pin">(\d+)</.exec(await page.text())?.[1];
        expect(pin).toBeDefined();
        expect(h.emulator.admin.pin(temporary.token)).toBe(pin);
        const wrong = await caught(
          accessToken(app, temporary, pin === '0000000' ? '1111111' : '0000000', options),
        );
        expect(wrong).toBeInstanceOf(AuthError);
        const result = await accessToken(app, temporary, pin!, options);
        expect(result).toMatchObject({ userId: USER.user_id, screenName: DEMO.users[0]!.screen_name });
        const account = await h.client({ credentials: result.credentials }).getAccount(ACCOUNT);
        expect(account.id).toBe(ACCOUNT);
      });
    });
  });
}
