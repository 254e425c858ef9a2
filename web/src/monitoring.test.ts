import { describe, expect, it } from 'vitest';
import type { MonitoringRow } from './api.ts';
import { formatAge, visibleRows } from './monitoring.ts';

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
    identitiesExcluded: 0,
    identitiesFailed: 0,
    activationRate: null,
    xRequests: 0,
    pendingChanges: 0,
    oldestPendingAt: null,
    lastDeliveryAt: null,
    lastRunAt: null,
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
