import { describe, expect, it } from 'vitest';
import {
  cadenceAllows,
  defaultMembershipExpiry,
  flushReason,
  isScheduleActive,
  nextAttemptAt,
  nextDelivery,
  deliveryDueAt,
  RATE_LIMIT_MAX_WAIT_MS,
  runHour,
} from './schedule.ts';

describe('isScheduleActive', () => {
  it('includes the start and excludes the end', () => {
    const s = { startAt: 100, endAt: 200 };
    expect(isScheduleActive(s, 99)).toBe(false);
    expect(isScheduleActive(s, 100)).toBe(true);
    expect(isScheduleActive(s, 199)).toBe(true);
    expect(isScheduleActive(s, 200)).toBe(false);
    expect(isScheduleActive({ startAt: null, endAt: null }, 0)).toBe(true);
  });
});

describe('flushReason', () => {
  const base = {
    now: 1_000_000,
    pendingCount: 10,
    oldestPendingAt: 1_000_000 - 100_000,
    maxBatchAgeSeconds: 900,
    fullRequestUsers: 100,
    nextAttemptAt: null,
    demand: false,
  };
  it('waits while the batch is young and small', () => expect(flushReason(base)).toBeNull());
  it('flushes a full batch', () => expect(flushReason({ ...base, pendingCount: 100 })).toBe('full'));
  it('flushes an old batch', () =>
    expect(flushReason({ ...base, oldestPendingAt: base.now - 900_000 })).toBe('age'));
  it('flushes on demand', () => expect(flushReason({ ...base, demand: true })).toBe('demand'));
  it('never flushes during a back-off', () =>
    expect(flushReason({ ...base, demand: true, nextAttemptAt: base.now + 1 })).toBeNull());
  it('has nothing to flush without pending changes', () =>
    expect(flushReason({ ...base, pendingCount: 0, demand: true })).toBeNull());
});

describe('cadence and back-off', () => {
  it('allows one push per window', () => {
    expect(cadenceAllows(null, 0, 10)).toBe(true);
    expect(cadenceAllows(0, 9, 10)).toBe(false);
    expect(cadenceAllows(0, 10, 10)).toBe(true);
  });
  it('retries at once, then after 1 and 5 minutes, honouring a later server time', () => {
    expect(nextAttemptAt({ now: 0, failures: 1 })).toBe(0);
    expect(nextAttemptAt({ now: 0, failures: 2 })).toBe(60_000);
    expect(nextAttemptAt({ now: 0, failures: 3 })).toBe(300_000);
    expect(nextAttemptAt({ now: 0, failures: 50 })).toBe(3_600_000);
    expect(nextAttemptAt({ now: 0, failures: 1, retryAt: 5_000 })).toBe(5_000);
  });
  it('waits out a rate limit until its reset, whatever the failures before, with at most a second of jitter', () => {
    const limited = { now: 0, rateLimited: true, retryAt: 1_000 };
    expect(nextAttemptAt({ ...limited, failures: 0 })).toBe(1_000);
    expect(nextAttemptAt({ ...limited, failures: 4 })).toBe(1_000);
    expect(nextAttemptAt({ ...limited, failures: 2, random: () => 0.999 })).toBe(1_000 + 999);
    // A reset already passed: at once; one further than any X window: at most that long.
    expect(nextAttemptAt({ ...limited, failures: 1, retryAt: -5_000 })).toBe(0);
    expect(nextAttemptAt({ ...limited, failures: 1, retryAt: 6 * 3_600_000 })).toBe(RATE_LIMIT_MAX_WAIT_MS);
  });
  it('expires memberships after 13 months by default', () => {
    expect(new Date(defaultMembershipExpiry(Date.UTC(2026, 0, 15))).toISOString()).toBe(
      '2027-02-15T00:00:00.000Z',
    );
  });
  it('expires at the end of a shorter month, as X does, not in the month after', () => {
    expect(new Date(defaultMembershipExpiry(Date.UTC(2026, 0, 31, 8))).toISOString()).toBe(
      '2027-02-28T08:00:00.000Z',
    );
  });
  it('buckets runs by hour', () =>
    expect(runHour(Date.UTC(2026, 0, 1, 10, 30))).toBe(Date.UTC(2026, 0, 1, 10)));
});

describe('nextDelivery', () => {
  const base = {
    now: 1_000_000,
    adds: 10,
    removes: 0,
    oldestAt: 1_000_000 - 100_000,
    maxBatchAgeSeconds: 900,
    fullRequestUsers: 100,
    nextAttemptAt: null,
    requested: false,
    active: true,
    cadence: null,
  };
  it('is when the oldest change has waited the batch window', () =>
    expect(nextDelivery(base)).toEqual({ at: 1_800_000, reason: 'batch_window' }));
  it('is now for a full request or a flush asked for', () => {
    expect(nextDelivery({ ...base, adds: 60, removes: 40 })).toEqual({
      at: base.now,
      reason: 'full_request',
    });
    expect(nextDelivery({ ...base, requested: true })).toEqual({ at: base.now, reason: 'requested' });
  });
  it('is now, not in the past, for a window that has passed', () =>
    expect(nextDelivery({ ...base, oldestAt: 0 })).toEqual({ at: base.now, reason: 'batch_window' }));
  it('waits for a back-off first, whatever else holds', () =>
    expect(nextDelivery({ ...base, requested: true, nextAttemptAt: base.now + 5 })).toEqual({
      at: base.now + 5,
      reason: 'back_off',
    }));
  it('waits in X cadence mode for the window since the last push of a kind that waits', () => {
    const cadence = { windowMs: 6 * 3_600_000, lastAdd: base.now - 3_600_000, lastRemove: null };
    expect(nextDelivery({ ...base, cadence })).toEqual({ at: base.now + 5 * 3_600_000, reason: 'cadence' });
    // A removal may go at its own pace: the earlier kind decides.
    expect(nextDelivery({ ...base, removes: 1, cadence })).toEqual({ at: 1_800_000, reason: 'batch_window' });
    expect(nextDelivery({ ...base, cadence: { ...cadence, lastAdd: null } })).toEqual({
      at: 1_800_000,
      reason: 'batch_window',
    });
  });
  it('is null when nothing waits or the dataflow is not active', () => {
    expect(nextDelivery({ ...base, adds: 0 })).toBeNull();
    expect(nextDelivery({ ...base, active: false })).toBeNull();
  });
});

describe('deliveryDueAt', () => {
  const base = { adds: 3, removes: 0, oldestAt: 1_000, maxBatchAgeSeconds: 900, cadence: null };
  it('is the aggregation window after the oldest change', () => expect(deliveryDueAt(base)).toBe(901_000));
  it('is the end of the X cadence window when that is later, for the kind that waits', () => {
    const cadence = { windowMs: 6 * 3_600_000, lastAdd: 500, lastRemove: null };
    expect(deliveryDueAt({ ...base, cadence })).toBe(500 + 6 * 3_600_000);
    expect(deliveryDueAt({ ...base, adds: 0, removes: 2, cadence })).toBe(901_000);
  });
  it('is null when nothing waits', () => expect(deliveryDueAt({ ...base, adds: 0 })).toBeNull());
});
