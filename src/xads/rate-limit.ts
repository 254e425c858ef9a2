/**
 * Rate limits as data, budgets shared by every caller in the process, and retry timing.
 *
 * X communicates limits only through response headers (docs.x.com x-ads-api/fundamentals/rate-limiting):
 * `x-rate-limit-*` at user-token level and `x-account-rate-limit-*` at ads-account level; the account level
 * is the one to follow when present. `*-reset` is epoch seconds.
 */
import { createHash } from 'node:crypto';

/** One rate-limit window; `resetAt` is epoch milliseconds. */
export interface RateLimitWindow {
  limit: number;
  remaining: number;
  resetAt: number;
}

export interface RateLimitInfo {
  user?: RateLimitWindow;
  account?: RateLimitWindow;
}

function readWindow(headers: Headers, prefix: string): RateLimitWindow | undefined {
  const limit = headers.get(`${prefix}-limit`);
  const remaining = headers.get(`${prefix}-remaining`);
  const reset = headers.get(`${prefix}-reset`);
  if (remaining === null || reset === null) return undefined;
  const num = (v: string | null) => (v !== null && /^\s*\d+\s*$/.test(v) ? Number(v) : undefined);
  const r = num(remaining);
  const s = num(reset);
  if (r === undefined || s === undefined) return undefined;
  return { limit: num(limit) ?? r, remaining: r, resetAt: s * 1000 };
}

/**
 * Reads both rate-limit header families.
 *
 * @example
 * parseRateLimitHeaders(new Headers({ 'x-rate-limit-limit': '2000', 'x-rate-limit-remaining': '1999', 'x-rate-limit-reset': '1497039241' }));
 * // { user: { limit: 2000, remaining: 1999, resetAt: 1497039241000 } }
 */
export function parseRateLimitHeaders(headers: Headers): RateLimitInfo {
  const info: RateLimitInfo = {};
  const user = readWindow(headers, 'x-rate-limit');
  const account = readWindow(headers, 'x-account-rate-limit');
  if (user) info.user = user;
  if (account) info.account = account;
  return info;
}

/**
 * The window a caller should follow: the ads-account one when X sends it, else the user one.
 *
 * @example
 * effectiveWindow(parseRateLimitHeaders(response.headers))?.remaining;
 */
export function effectiveWindow(info: RateLimitInfo): RateLimitWindow | undefined {
  return info.account ?? info.user;
}

/**
 * Endpoint families that share a limit (X's rate-limit table): the users endpoint (1500/min), other
 * writes (450/min), account-scoped reads (2000/15 min), global reads (5/15 min) and `with_total_count`
 * reads (200/15 min).
 */
export type EndpointFamily = 'audience-users' | 'write' | 'account-read' | 'global-read' | 'total-count';

/**
 * Classifies a request into its rate-limit family.
 *
 * @example
 * endpointFamily('POST', '/12/accounts/abc/custom_audiences/1nmth/users'); // 'audience-users'
 */
export function endpointFamily(method: string, path: string, query?: URLSearchParams): EndpointFamily {
  const m = method.toUpperCase();
  if (m !== 'GET' && m !== 'HEAD')
    return /\/custom_audiences\/[^/]+\/users\/?$/.test(path) ? 'audience-users' : 'write';
  if (query?.get('with_total_count') === 'true') return 'total-count';
  return /\/accounts\/[^/]+/.test(path) ? 'account-read' : 'global-read';
}

interface BudgetState {
  limit: number;
  remaining: number;
  resetAt: number;
}

export interface BudgetKey {
  /** Identifies the credentials (consumer key + access token); hashed before use as a map key. */
  credentials: string;
  accountId: string;
  family: EndpointFamily;
}

/**
 * Rate-limit budgets keyed by (credentials, account, endpoint family), shared by every client in the
 * process that uses the same instance (see {@link sharedRateBudgets}). A request takes one unit before it
 * is sent, so concurrent callers do not all spend the last unit; each response's headers then correct
 * the local count.
 *
 * @example
 * const budgets = new RateBudgets();
 * const wait = budgets.acquire(key, Date.now()); // 0 → send now; > 0 → wait that many ms first
 */
export class RateBudgets {
  readonly #states = new Map<string, BudgetState>();

  #id(key: BudgetKey): string {
    const credentials = createHash('sha256').update(key.credentials).digest('hex').slice(0, 32);
    return `${credentials}|${key.accountId}|${key.family}`;
  }

  /** The known state, or undefined before the first response. */
  get(key: BudgetKey): RateLimitWindow | undefined {
    const state = this.#states.get(this.#id(key));
    return state ? { ...state } : undefined;
  }

  /**
   * Takes one unit when available and returns 0, or returns how many ms to wait until the window resets
   * (taking nothing). An unknown budget, or one whose reset has passed, is available.
   */
  acquire(key: BudgetKey, now: number): number {
    const state = this.#states.get(this.#id(key));
    if (!state) return 0;
    if (now >= state.resetAt) {
      // The window has rolled over; the next response tells us the new numbers.
      this.#states.delete(this.#id(key));
      return 0;
    }
    if (state.remaining > 0) {
      state.remaining -= 1;
      return 0;
    }
    return state.resetAt - now;
  }

  /** Records what a response's headers said. */
  update(key: BudgetKey, window: RateLimitWindow | undefined): void {
    if (!window) return;
    const id = this.#id(key);
    const state = this.#states.get(id);
    if (!state || window.resetAt !== state.resetAt) {
      this.#states.set(id, { ...window });
      return;
    }
    // Same window: responses can arrive out of order, so the lowest remaining count is the truest.
    state.remaining = Math.min(state.remaining, window.remaining);
    state.limit = window.limit;
  }

  /** Marks a budget as spent until `resetAt` (after a 429). */
  exhaust(key: BudgetKey, resetAt: number): void {
    const id = this.#id(key);
    const state = this.#states.get(id);
    this.#states.set(id, {
      limit: state?.limit ?? 0,
      remaining: 0,
      resetAt: Math.max(resetAt, state?.resetAt ?? 0),
    });
  }

  clear(): void {
    this.#states.clear();
  }
}

let shared: RateBudgets | undefined;

/**
 * The process-wide budgets every client uses unless given its own.
 *
 * @example
 * const a = new XAdsClient({ credentials }); // both clients pace against the same budgets
 * const b = new XAdsClient({ credentials, budgets: sharedRateBudgets() });
 */
export function sharedRateBudgets(): RateBudgets {
  shared ??= new RateBudgets();
  return shared;
}

export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  baseMs?: number;
  /** Upper bound of any delay. */
  capMs?: number;
  /** Returns a number in [0, 1). */
  random?: () => number;
}

/**
 * Exponential backoff with jitter: attempt n (0-based) waits between half and all of
 * min(cap, base · 2ⁿ). The lower half-bound keeps retries from bunching at zero.
 *
 * @example
 * backoffDelay(0, { baseMs: 1000, random: () => 0.5 }); // 750
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 1000;
  const cap = options.capMs ?? 60_000;
  const random = options.random ?? Math.random;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Sleeps `ms`, or rejects when `signal` aborts. The default sleep of the client. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts after `timeoutMs` or when `parent` aborts, whichever comes first. `dispose` clears
 * the timer. `timedOut()` tells a timeout apart from a caller's abort.
 */
export function timeoutSignal(
  timeoutMs: number,
  parent?: AbortSignal,
): { signal: AbortSignal; timedOut(): boolean; dispose(): void } {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs);
  const onAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) onAbort();
  else parent?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}
