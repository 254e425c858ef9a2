import { addMonthsUtc } from '../xads/add-months-utc.ts';

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

/** When an audience's waiting changes go out by the batching rules, before X cadence, and why. */
interface BatchingDue {
  at: number;
  reason: 'back_off' | 'requested' | 'full_request' | 'batch_window';
}

/**
 * The batching rules `flushReason` and `nextDelivery` share, for an audience with `waiting` changes: a back-off
 * (`nextAttemptAt`) always wins; a flush asked for or a full request goes now; otherwise the oldest change goes when
 * it has waited `maxBatchAgeSeconds`.
 */
function batchingDue(input: {
  now: number;
  waiting: number;
  oldestAt: number | null;
  maxBatchAgeSeconds: number;
  fullRequestUsers: number;
  nextAttemptAt: number | null;
  requested: boolean;
}): BatchingDue {
  if (input.nextAttemptAt !== null && input.now < input.nextAttemptAt)
    return { at: input.nextAttemptAt, reason: 'back_off' };
  if (input.requested) return { at: input.now, reason: 'requested' };
  if (input.waiting >= input.fullRequestUsers) return { at: input.now, reason: 'full_request' };
  const due = (input.oldestAt ?? input.now) + input.maxBatchAgeSeconds * 1000;
  return { at: Math.max(input.now, due), reason: 'batch_window' };
}

const FLUSH_REASONS = { requested: 'demand', full_request: 'full', batch_window: 'age' } as const;

/**
 * Decides whether an audience is due for delivery: its pending changes would fill a request, the oldest of them has
 * waited `maxBatchAgeSeconds`, or a flush was asked for (see `batchingDue`); else whether a membership refresh is
 * due. A back-off (`nextAttemptAt`) always wins.
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
  const due = batchingDue({
    now: input.now,
    waiting: input.pendingCount,
    oldestAt: input.oldestPendingAt,
    maxBatchAgeSeconds: input.maxBatchAgeSeconds,
    fullRequestUsers: input.fullRequestUsers,
    nextAttemptAt: input.nextAttemptAt,
    requested: input.demand,
  });
  if (due.reason === 'back_off') return null;
  if (input.pendingCount > 0 && due.at <= input.now) return FLUSH_REASONS[due.reason];
  return input.refreshDue ? 'refresh' : null;
}

/** Why an audience's waiting changes go out when `nextDelivery` says. */
export type NextDeliveryReason = 'full_request' | 'requested' | 'batch_window' | 'back_off' | 'cadence';

/**
 * When the worker delivers an audience's waiting changes at the latest, and what it waits for: the rules
 * `flushReason` applies (see `batchingDue`), then, in X cadence mode, the window since the last push of the kind
 * (the earlier of adds and removes, whichever is waiting). Null when nothing waits or the dataflow is not active.
 *
 * @example
 * nextDelivery({ now: 0, adds: 1, removes: 0, oldestAt: 0, maxBatchAgeSeconds: 900, fullRequestUsers: 2500,
 *   nextAttemptAt: null, requested: false, active: true, cadence: null });
 * // { at: 900000, reason: 'batch_window' }
 */
export function nextDelivery(input: {
  now: number;
  adds: number;
  removes: number;
  oldestAt: number | null;
  maxBatchAgeSeconds: number;
  fullRequestUsers: number;
  nextAttemptAt: number | null;
  requested: boolean;
  active: boolean;
  cadence: CadenceState | null;
}): { at: number; reason: NextDeliveryReason } | null {
  const waiting = input.adds + input.removes;
  if (!input.active || waiting === 0) return null;
  const next = batchingDue({ ...input, waiting });
  const cadenceAt = cadenceAllowedAt(input);
  return cadenceAt !== null && cadenceAt > next.at ? { at: cadenceAt, reason: 'cadence' } : next;
}

/** X cadence settings of an audience: the window and its last push of each kind (epoch ms). */
export interface CadenceState {
  windowMs: number;
  lastAdd: number | null;
  lastRemove: number | null;
}

/**
 * An audience's X cadence state from its dataflow's settings and its last pushes, as the engine's queries read them
 * (PostgreSQL may give numbers as strings); null when the dataflow is not in X cadence mode.
 */
export function cadenceStateOf(row: {
  cadence_mode: string | null;
  cadence_window_seconds: number | string | null;
  last_add_push_at: number | string | null;
  last_remove_push_at: number | string | null;
}): CadenceState | null {
  if (row.cadence_mode !== 'x_cadence') return null;
  return {
    windowMs: Number(row.cadence_window_seconds) * 1000,
    lastAdd: row.last_add_push_at === null ? null : Number(row.last_add_push_at),
    lastRemove: row.last_remove_push_at === null ? null : Number(row.last_remove_push_at),
  };
}

/**
 * In X cadence mode, when the first kind of change waiting (adds, removes) may be pushed (at or before `now`: one may
 * go now); null when not in cadence mode or nothing waits.
 */
export function cadenceAllowedAt(input: {
  adds: number;
  removes: number;
  cadence: CadenceState | null;
}): number | null {
  if (input.cadence === null) return null;
  const { windowMs, lastAdd, lastRemove } = input.cadence;
  const allowedAt = (last: number | null) => (last === null ? 0 : last + windowMs);
  const kinds = [
    ...(input.adds > 0 ? [allowedAt(lastAdd)] : []),
    ...(input.removes > 0 ? [allowedAt(lastRemove)] : []),
  ];
  return kinds.length === 0 ? null : Math.min(...kinds);
}

/**
 * When an audience's waiting changes are due at X by its schedule alone: the aggregation window after the oldest
 * or, in X cadence mode, the end of the window since the last push of the kind, whichever is later. Back-offs do not
 * move it (a delivery that has been failing for hours is late), nor does a pause. Null when nothing waits.
 *
 * @example
 * deliveryDueAt({ adds: 1, removes: 0, oldestAt: 1000, maxBatchAgeSeconds: 900, cadence: null }); // 901000
 */
export function deliveryDueAt(input: {
  adds: number;
  removes: number;
  oldestAt: number | null;
  maxBatchAgeSeconds: number;
  cadence: CadenceState | null;
}): number | null {
  if (input.adds + input.removes === 0 || input.oldestAt === null) return null;
  const due = input.oldestAt + input.maxBatchAgeSeconds * 1000;
  const cadenceAt = cadenceAllowedAt(input);
  return cadenceAt === null ? due : Math.max(due, cadenceAt);
}

/**
 * X cadence mode: at most one push of additions and one of removals per audience per window (X recommends one
 * update for additions and one for removals per 6–8 h processing cycle).
 */
export function cadenceAllows(lastPushAt: number | null, now: number, windowMs: number): boolean {
  return lastPushAt === null || now - lastPushAt >= windowMs;
}

/** The longest a rate limit is waited out: X's longest rate-limit window (15 minutes). A later reset is asked again then. */
export const RATE_LIMIT_MAX_WAIT_MS = 900_000;
/** The most added to a rate-limit reset, so that the audiences a window held back do not all go at its first moment. */
export const RATE_LIMIT_JITTER_MS = 1_000;

/**
 * When to try an audience again. After consecutive retryable failures, as X advises for the users endpoint: retry at
 * once, then after 1 min, 5 min, and longer up to an hour; a server-given `retryAt` (Retry-After) wins when later.
 * A rate limit (`rateLimited`) is no failure of the audience: it goes again when the window resets (`retryAt`, from
 * `x-rate-limit-reset` or the client's budget) plus up to `RATE_LIMIT_JITTER_MS`, whatever `failures` says, and
 * waits at most `RATE_LIMIT_MAX_WAIT_MS`.
 *
 * @example
 * nextAttemptAt({ now: 0, failures: 3, rateLimited: true, retryAt: 1_000 }); // 1_000 (not the 5-minute step)
 */
export function nextAttemptAt(input: {
  now: number;
  failures: number;
  retryAt?: number | undefined;
  rateLimited?: boolean;
  random?: () => number;
}): number {
  if (input.rateLimited) {
    const reset = Math.min(
      Math.max(input.retryAt ?? input.now + 60_000, input.now),
      input.now + RATE_LIMIT_MAX_WAIT_MS,
    );
    return reset + (input.random ? Math.floor(RATE_LIMIT_JITTER_MS * input.random()) : 0);
  }
  const steps = [0, 60_000, 300_000, 900_000, 1_800_000, 3_600_000];
  const base = steps[Math.min(Math.max(input.failures - 1, 0), steps.length - 1)] ?? 3_600_000;
  const jitter = base > 0 && input.random ? Math.floor(base * 0.1 * input.random()) : 0;
  const ours = input.now + base + jitter;
  return input.retryAt !== undefined && input.retryAt > ours ? input.retryAt : ours;
}

/** X keeps a membership for 13 months unless `expires_at` says otherwise (clamped at month end, as X does). */
export function defaultMembershipExpiry(now: number): number {
  return addMonthsUtc(now, 13);
}

/** The start of the hourly run window that holds `now` (runs are hourly, as AEP's dataflow runs). */
export function runHour(now: number): number {
  return Math.floor(now / 3_600_000) * 3_600_000;
}
