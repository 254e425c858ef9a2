import { describe, expect, it } from 'vitest';
import { RateLimiter, rateLimitHeaders } from './rate-limit.ts';

describe('RateLimiter', () => {
  it('spends a fixed window per scope and family, then refuses until reset', () => {
    const limiter = new RateLimiter({ users: { limit: 2, windowMs: 60_000 } });
    const t = 1_000_000;
    expect(limiter.take('a', 'users', t)).toEqual({ allowed: true, limit: 2, remaining: 1, reset: 1060 });
    expect(limiter.take('a', 'users', t + 1)).toMatchObject({ allowed: true, remaining: 0 });
    expect(limiter.take('a', 'users', t + 2)).toMatchObject({ allowed: false, remaining: 0, reset: 1060 });
    expect(limiter.take('b', 'users', t + 2)).toMatchObject({ allowed: true });
    expect(limiter.take('a', 'writes', t + 2)).toMatchObject({ allowed: true, limit: 450 });
    expect(limiter.take('a', 'users', t + 60_000)).toMatchObject({
      allowed: true,
      remaining: 1,
      reset: 1120,
    });
  });

  it('adds account-level headers only when asked', () => {
    const d = { allowed: true, limit: 10, remaining: 9, reset: 5 };
    expect(Object.keys(rateLimitHeaders(d, false))).toEqual([
      'x-rate-limit-limit',
      'x-rate-limit-remaining',
      'x-rate-limit-reset',
    ]);
    expect(rateLimitHeaders(d, true)['x-account-rate-limit-remaining']).toBe('9');
  });
});
