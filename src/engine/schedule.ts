/** Activation window of an audience on a dataflow: start inclusive, end exclusive (ms since epoch). */
export interface AudienceSchedule {
  startAt: number | null;
  endAt: number | null;
}

/**
 * True when an audience is exported at `now`: its start date has come and its end date (if any) has not.
 *
 * @example
 * isScheduleActive({ startAt: 0, endAt: 1000 }, 999); // true
 * isScheduleActive({ startAt: 0, endAt: 1000 }, 1000); // false
 */
export function isScheduleActive(schedule: AudienceSchedule, now: number): boolean {
  if (schedule.startAt !== null && now < schedule.startAt) return false;
  if (schedule.endAt !== null && now >= schedule.endAt) return false;
  return true;
}

/** Why an audience's pending changes should go out now, or `null` when they can wait. */
export type FlushReason = 'full' | 'age' | 'demand' | 'refresh';

/**
 * Decides whether an audience is due for delivery: its pending changes would fill a request, the oldest of them has
 * waited `maxBatchAgeSeconds`, or a flush was asked for. A back-off (`nextAttemptAt`) always wins.
 */
export function flushReason(input: {
  now: number;
  pendingCount: number;
  oldestPendingAt: number | null;
  maxBatchAgeSeconds: number;
  fullRequestUsers: number;
  nextAttemptAt: number | null;
  demand: boolean;
  refreshDue?: boolean;
}): FlushReason | null {
  if (input.nextAttemptAt !== null && input.now < input.nextAttemptAt) return null;
  if (input.pendingCount > 0) {
    if (input.demand) return 'demand';
    if (input.pendingCount >= input.fullRequestUsers) return 'full';
    if (
      input.oldestPendingAt !== null &&
      input.now - input.oldestPendingAt >= input.maxBatchAgeSeconds * 1000
    ) {
      return 'age';
    }
  }
  if (input.refreshDue) return 'refresh';
  return null;
}

/**
 * X cadence mode: at most one push of additions and one of removals per audience per window (X recommends one
 * update for additions and one for removals per 6–8 h processing cycle).
 */
export function cadenceAllows(lastPushAt: number | null, now: number, windowMs: number): boolean {
  return lastPushAt === null || now - lastPushAt >= windowMs;
}

/**
 * Back-off after consecutive retryable failures, as X advises for the users endpoint: retry at once, then after
 * 1 min, 5 min, and longer up to an hour. A server-given `retryAt` (rate limit reset, Retry-After) wins when later.
 */
export function nextAttemptAt(input: {
  now: number;
  failures: number;
  retryAt?: number | undefined;
  random?: () => number;
}): number {
  const steps = [0, 60_000, 300_000, 900_000, 1_800_000, 3_600_000];
  const base = steps[Math.min(Math.max(input.failures - 1, 0), steps.length - 1)] ?? 3_600_000;
  const jitter = base > 0 && input.random ? Math.floor(base * 0.1 * input.random()) : 0;
  const ours = input.now + base + jitter;
  return input.retryAt !== undefined && input.retryAt > ours ? input.retryAt : ours;
}

/** X keeps a membership for 13 months unless `expires_at` says otherwise. */
export function defaultMembershipExpiry(now: number): number {
  const d = new Date(now);
  d.setUTCMonth(d.getUTCMonth() + 13);
  return d.getTime();
}

/** The start of the hourly run window that holds `now` (runs are hourly, as AEP's dataflow runs). */
export function runHour(now: number): number {
  return Math.floor(now / 3_600_000) * 3_600_000;
}
