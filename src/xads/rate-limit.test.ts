import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  effectiveWindow,
  endpointFamily,
  parseRateLimitHeaders,
  RateBudgets,
  sharedRateBudgets,
  sleep,
  timeoutSignal,
} from './rate-limit.ts';
import type { BudgetKey } from './rate-limit.ts';

describe('parseRateLimitHeaders', () => {
  it('reads both families; reset is epoch seconds', () => {
    const info = parseRateLimitHeaders(
      new Headers({
        'x-rate-limit-limit': '2000',
        'x-rate-limit-remaining': '1999',
        'x-rate-limit-reset': '1497039241',
        'x-account-rate-limit-limit': '10000',
        'x-account-rate-limit-remaining': '9000',
        'x-account-rate-limit-reset': '1497039300',
      }),
    );
    expect(info).toEqual({
      user: { limit: 2000, remaining: 1999, resetAt: 1497039241000 },
      account: { limit: 10000, remaining: 9000, resetAt: 1497039300000 },
    });
    expect(effectiveWindow(info)).toEqual(info.account);
  });

  it('ignores missing or unreadable headers', () => {
    expect(parseRateLimitHeaders(new Headers())).toEqual({});
    expect(
      parseRateLimitHeaders(new Headers({ 'x-rate-limit-remaining': 'x', 'x-rate-limit-reset': '1' })),
    ).toEqual({});
    const info = parseRateLimitHeaders(
      new Headers({ 'x-rate-limit-remaining': '3', 'x-rate-limit-reset': '10' }),
    );
    expect(info.user).toEqual({ limit: 3, remaining: 3, resetAt: 10_000 });
    expect(effectiveWindow(info)).toEqual(info.user);
  });
});

describe('endpointFamily', () => {
  it.each([
    ['POST', '/12/accounts/a/custom_audiences/b/users', undefined, 'audience-users'],
    ['POST', '/12/accounts/a/custom_audiences', undefined, 'write'],
    ['PUT', '/12/accounts/a/custom_audiences/b', undefined, 'write'],
    ['DELETE', '/12/accounts/a/custom_audiences/b', undefined, 'write'],
    ['GET', '/12/accounts/a/custom_audiences', undefined, 'account-read'],
    ['GET', '/12/accounts/a', undefined, 'account-read'],
    ['GET', '/12/accounts', undefined, 'global-read'],
    ['GET', '/12/accounts/a/custom_audiences', new URLSearchParams('with_total_count=true'), 'total-count'],
  ] as const)('%s %s → %s', (method, path, query, family) => {
    expect(endpointFamily(method, path, query)).toBe(family);
  });
});

describe('RateBudgets', () => {
  const key: BudgetKey = { credentials: 'ck:tk', accountId: 'acc', family: 'audience-users' };

  it('lets requests through while the budget is unknown', () => {
    const budgets = new RateBudgets();
    expect(budgets.acquire(key, 0)).toBe(0);
    expect(budgets.get(key)).toBeUndefined();
  });

  it('spends units locally and holds requests when none are left before reset', () => {
    const budgets = new RateBudgets();
    budgets.update(key, { limit: 1500, remaining: 2, resetAt: 60_000 });
    expect(budgets.acquire(key, 1000)).toBe(0);
    expect(budgets.acquire(key, 1000)).toBe(0);
    expect(budgets.acquire(key, 1000)).toBe(59_000);
    expect(budgets.acquire(key, 59_999)).toBe(1);
    // The window rolls over at reset.
    expect(budgets.acquire(key, 60_000)).toBe(0);
    expect(budgets.get(key)).toBeUndefined();
  });

  it('keeps the lowest count within one window and takes a new window as is', () => {
    const budgets = new RateBudgets();
    budgets.update(key, { limit: 10, remaining: 3, resetAt: 60_000 });
    budgets.update(key, { limit: 10, remaining: 7, resetAt: 60_000 }); // a late response of the same window
    expect(budgets.get(key)?.remaining).toBe(3);
    budgets.update(key, { limit: 10, remaining: 9, resetAt: 120_000 });
    expect(budgets.get(key)).toEqual({ limit: 10, remaining: 9, resetAt: 120_000 });
  });

  it('separates credentials, accounts and families, and shares one instance process-wide', () => {
    const budgets = new RateBudgets();
    budgets.exhaust(key, 60_000);
    expect(budgets.acquire(key, 0)).toBe(60_000);
    expect(budgets.acquire({ ...key, accountId: 'other' }, 0)).toBe(0);
    expect(budgets.acquire({ ...key, family: 'write' }, 0)).toBe(0);
    expect(budgets.acquire({ ...key, credentials: 'ck:other' }, 0)).toBe(0);
    expect(sharedRateBudgets()).toBe(sharedRateBudgets());
  });

  it('exhaust never shortens a known window', () => {
    const budgets = new RateBudgets();
    budgets.update(key, { limit: 5, remaining: 4, resetAt: 90_000 });
    budgets.exhaust(key, 30_000);
    expect(budgets.get(key)).toEqual({ limit: 5, remaining: 0, resetAt: 90_000 });
  });
});

describe('backoffDelay', () => {
  it('grows exponentially between half and all of the ceiling, capped', () => {
    expect(backoffDelay(0, { baseMs: 1000, random: () => 0 })).toBe(500);
    expect(backoffDelay(0, { baseMs: 1000, random: () => 0.999999 })).toBe(1000);
    expect(backoffDelay(3, { baseMs: 1000, random: () => 0.5 })).toBe(6000);
    expect(backoffDelay(30, { baseMs: 1000, capMs: 60_000, random: () => 0.999999 })).toBe(60_000);
    expect(backoffDelay(30, { baseMs: 1000, capMs: 60_000, random: () => 0 })).toBe(30_000);
  });
});

describe('sleep and timeoutSignal', () => {
  it('sleep rejects at once on an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(sleep(10_000, controller.signal)).rejects.toThrow('stop');
  });

  it('timeoutSignal follows its parent and tells a timeout apart', async () => {
    const parent = new AbortController();
    const t = timeoutSignal(60_000, parent.signal);
    parent.abort(new Error('caller'));
    expect(t.signal.aborted).toBe(true);
    expect(t.timedOut()).toBe(false);
    t.dispose();

    const fast = timeoutSignal(1);
    await new Promise<void>((resolve) =>
      fast.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    expect(fast.timedOut()).toBe(true);
    fast.dispose();
  });
});
