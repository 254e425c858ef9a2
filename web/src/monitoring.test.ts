import { describe, expect, it } from 'vitest';
import type { MonitoringRow } from './api.ts';
import { describeNextDelivery, formatAge, nextSort, visibleRows, type Sort } from './monitoring.ts';

function row(name: string, extra: Partial<MonitoringRow> = {}): MonitoringRow {
  return {
    dataflowId: `df_${name.toLowerCase().replace(/\W/g, '')}`,
    name,
    destinationId: 'dst_1',
    destinationName: 'Acme X Ads',
    status: 'active',
    statusReason: null,
    audiences: 1,
    membersAtX: null,
    profilesReceived: 0,
    identitiesActivated: 0,
    identitiesAdded: 0,
    identitiesRemoved: 0,
    identitiesExcluded: 0,
    identitiesFailed: 0,
    excludedByReason: {},
    failedByCode: {},
    activationRate: null,
    xRequests: 0,
    pendingChanges: 0,
    oldestPendingAt: null,
    nextDeliveryAt: null,
    nextDeliveryReason: null,
    pendingPeak: null,
    lastDeliveryAt: null,
    lastRunAt: null,
    lastProfilesAt: null,
    alertsFiring: 0,
    attention: [],
    ...extra,
  };
}

describe('visibleRows', () => {
  const rows = [
    row('Newsletter'),
    row('Loyalty', { attention: ['paused'], destinationName: 'Brand account' }),
    row('Cart abandoners'),
  ];

  it('puts the dataflows needing a look first, then sorts by name', () => {
    expect(visibleRows(rows, { search: '', attentionOnly: false }).map((r) => r.name)).toEqual([
      'Loyalty',
      'Cart abandoners',
      'Newsletter',
    ]);
  });

  it('keeps only those needing a look when asked', () => {
    expect(visibleRows(rows, { search: '', attentionOnly: true }).map((r) => r.name)).toEqual(['Loyalty']);
  });

  it('matches every word of the search in the name, the destination or the id, ignoring case', () => {
    expect(visibleRows(rows, { search: 'BRAND loy', attentionOnly: false }).map((r) => r.name)).toEqual([
      'Loyalty',
    ]);
    expect(visibleRows(rows, { search: 'acme cart', attentionOnly: false }).map((r) => r.name)).toEqual([
      'Cart abandoners',
    ]);
    expect(visibleRows(rows, { search: 'df_newsletter', attentionOnly: false })).toHaveLength(1);
    expect(visibleRows(rows, { search: 'nothing like it', attentionOnly: false })).toEqual([]);
  });
});

describe('sorting the overview', () => {
  const rows = [
    row('Newsletter', {
      identitiesFailed: 2,
      activationRate: 0.9,
      lastDeliveryAt: '2026-11-30T10:00:00Z',
      nextDeliveryAt: '2026-11-30T12:15:00Z',
    }),
    row('Loyalty', { identitiesFailed: 7, activationRate: null, attention: ['identities_failed'] }),
    row('Cart abandoners', {
      identitiesFailed: 2,
      activationRate: 0.5,
      lastDeliveryAt: '2026-11-30T11:00:00Z',
      nextDeliveryAt: '2026-11-30T12:05:00Z',
    }),
  ];
  const names = (sort: Sort) =>
    visibleRows(rows, { search: '', attentionOnly: false, sort }).map((r) => r.name);

  it('sorts numbers highest first on the first click, lowest first on the second, ties by name', () => {
    const first = nextSort(null, 'identitiesFailed');
    expect(first).toEqual({ key: 'identitiesFailed', descending: true });
    expect(names(first)).toEqual(['Loyalty', 'Cart abandoners', 'Newsletter']);
    const second = nextSort(first, 'identitiesFailed');
    expect(names(second)).toEqual(['Cart abandoners', 'Newsletter', 'Loyalty']);
  });

  it('sorts names A to Z first, and puts rows without a value last both ways', () => {
    expect(names(nextSort(null, 'name'))).toEqual(['Cart abandoners', 'Loyalty', 'Newsletter']);
    const rate = nextSort(null, 'activationRate');
    expect(names(rate)).toEqual(['Newsletter', 'Cart abandoners', 'Loyalty']);
    expect(names(nextSort(rate, 'activationRate'))).toEqual(['Cart abandoners', 'Newsletter', 'Loyalty']);
    expect(names(nextSort(null, 'lastDeliveryAt'))).toEqual(['Cart abandoners', 'Newsletter', 'Loyalty']);
  });

  it('sorts the next deliveries soonest first, those with none last', () => {
    const next = nextSort(null, 'nextDeliveryAt');
    expect(next).toEqual({ key: 'nextDeliveryAt', descending: false });
    expect(names(next)).toEqual(['Cart abandoners', 'Newsletter', 'Loyalty']);
    expect(names(nextSort(next, 'nextDeliveryAt'))).toEqual(['Newsletter', 'Cart abandoners', 'Loyalty']);
  });
});

describe('formatAge', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  it('says how long ago in the largest whole unit', () => {
    expect(formatAge('2026-11-30T11:59:30Z', now)).toBe('just now');
    expect(formatAge('2026-11-30T11:55:00Z', now)).toBe('5 min ago');
    expect(formatAge('2026-11-30T09:00:00Z', now)).toBe('3 h ago');
    expect(formatAge('2026-11-27T12:00:00Z', now)).toBe('3 d ago');
  });

  it('shows a dash for nothing or for a date it cannot read', () => {
    expect(formatAge(null, now)).toBe('—');
    expect(formatAge('not a date', now)).toBe('—');
  });
});

describe('describeNextDelivery', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const waiting = { pendingAdds: 3, pendingRemoves: 0 };
  const at = (iso: string, reason: string) => ({
    ...waiting,
    nextDeliveryAt: iso,
    nextDeliveryReason: reason,
  });

  it('says when the waiting changes go, and why', () => {
    expect(describeNextDelivery(at('2026-11-30T12:00:00Z', 'full_request'), now).text).toBe('next tick');
    const window = describeNextDelivery(at('2026-11-30T12:11:10Z', 'batch_window'), now);
    expect(window.text).toBe('in 12 min');
    expect(window.title).toMatch(
      /^When the oldest waiting change reaches the dataflow’s aggregation window \(/,
    );
    expect(describeNextDelivery(at('2026-11-30T17:40:00Z', 'cadence'), now)).toMatchObject({
      text: 'in 6 h',
      title: expect.stringMatching(/^X cadence mode/),
    });
    expect(describeNextDelivery(at('2026-12-03T12:00:00Z', 'back_off'), now).text).toBe('in 3 d');
  });

  it('shows a dash when nothing waits, and on hold when the dataflow is not active', () => {
    expect(describeNextDelivery({ pendingAdds: 0, pendingRemoves: 0 }, now).text).toBe('—');
    expect(describeNextDelivery({ ...waiting, nextDeliveryAt: null }, now).text).toBe('on hold');
    // An older service that does not say.
    expect(describeNextDelivery(waiting, now).text).toBe('—');
  });
});
