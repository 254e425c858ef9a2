/**
 * Rate-limit families of the X Ads API (docs.x.com "Rate limiting"), one budget per user token, ads
 * account and family, in fixed windows.
 */
export type RateFamily = 'users' | 'writes' | 'accountReads' | 'globalReads' | 'totalCount';

export interface RateBudget {
  limit: number;
  windowMs: number;
}

export const DEFAULT_RATE_BUDGETS: Readonly<Record<RateFamily, RateBudget>> = {
  users: { limit: 1500, windowMs: 60_000 },
  writes: { limit: 450, windowMs: 60_000 },
  accountReads: { limit: 2000, windowMs: 15 * 60_000 },
  globalReads: { limit: 5, windowMs: 15 * 60_000 },
  totalCount: { limit: 200, windowMs: 15 * 60_000 },
};

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Epoch seconds at which the window resets (the `*-reset` header). */
  reset: number;
}

interface Window {
  start: number;
  used: number;
}

export class RateLimiter {
  readonly #budgets: Record<RateFamily, RateBudget>;
  readonly #windows = new Map<string, Window>();

  constructor(budgets: Partial<Record<RateFamily, Partial<RateBudget>>> = {}) {
    const merged = {} as Record<RateFamily, RateBudget>;
    for (const family of Object.keys(DEFAULT_RATE_BUDGETS) as RateFamily[]) {
      merged[family] = { ...DEFAULT_RATE_BUDGETS[family], ...budgets[family] };
    }
    this.#budgets = merged;
  }

  /** Spends one request of the (scope, family) budget if any is left. */
  take(scope: string, family: RateFamily, now: number): RateDecision {
    const budget = this.#budgets[family];
    const key = `${family}\u0000${scope}`;
    let window = this.#windows.get(key);
    if (window === undefined || now >= window.start + budget.windowMs) {
      window = { start: now, used: 0 };
      this.#windows.set(key, window);
    }
    const reset = Math.ceil((window.start + budget.windowMs) / 1000);
    if (window.used >= budget.limit) return { allowed: false, limit: budget.limit, remaining: 0, reset };
    window.used += 1;
    return { allowed: true, limit: budget.limit, remaining: budget.limit - window.used, reset };
  }

  clear(): void {
    this.#windows.clear();
  }
}

/** `x-rate-limit-*` headers, plus `x-account-rate-limit-*` on account-scoped reads. */
export function rateLimitHeaders(decision: RateDecision, accountLevel: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    'x-rate-limit-limit': String(decision.limit),
    'x-rate-limit-remaining': String(decision.remaining),
    'x-rate-limit-reset': String(decision.reset),
  };
  if (accountLevel) {
    headers['x-account-rate-limit-limit'] = String(decision.limit);
    headers['x-account-rate-limit-remaining'] = String(decision.remaining);
    headers['x-account-rate-limit-reset'] = String(decision.reset);
  }
  return headers;
}
