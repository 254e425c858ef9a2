import { describe, expect, it } from 'vitest';
import type { DataflowRun } from './api.ts';
import {
  activationRate,
  appendSample,
  chartSeries,
  filterRuns,
  formatRate,
  hourLabel,
  livePoints,
  reasonTotals,
  totals,
} from './run-metrics.ts';

const run = (patch: Partial<DataflowRun>): DataflowRun => ({
  id: 'r',
  startedAt: '2026-11-28T10:00:00.000Z',
  status: 'completed',
  profilesReceived: 0,
  identitiesActivated: 0,
  identitiesAdded: 0,
  identitiesRemoved: 0,
  identitiesExcluded: 0,
  identitiesFailed: 0,
  activationRate: null,
  reasons: [],
  ...patch,
});

describe('activation rate', () => {
  it("prefers the service's figure and otherwise divides activated by handled", () => {
    expect(activationRate(run({ activationRate: 0.5, identitiesActivated: 9 }))).toBe(0.5);
    expect(activationRate(run({ identitiesActivated: 3, identitiesExcluded: 1 }))).toBe(0.75);
    expect(activationRate(run({}))).toBeNull();
  });

  it('formats as a percentage', () => {
    expect(formatRate(null)).toBe('—');
    expect(formatRate(1)).toBe('100%');
    expect(formatRate(0.8571)).toBe('85.7%');
  });
});

describe('totals and reasons', () => {
  const runs = [
    run({
      id: 'a',
      profilesReceived: 10,
      identitiesActivated: 6,
      identitiesExcluded: 3,
      identitiesFailed: 1,
      reasons: [
        { code: 'email_missing_at', count: 2, description: 'd1', kind: 'excluded' },
        { code: 'no_mappable_identifier', count: 1, description: 'd2', kind: 'excluded' },
        { code: 'TRANSIENT', count: 1, description: 'd3', kind: 'failed' },
      ],
    }),
    run({
      id: 'b',
      startedAt: '2026-11-28T09:00:00.000Z',
      profilesReceived: 5,
      identitiesActivated: 4,
      identitiesExcluded: 1,
      reasons: [{ code: 'no_mappable_identifier', count: 1, description: 'd2', kind: 'excluded' }],
    }),
  ];

  it('shows all runs, or those with failed, excluded or activated identities', () => {
    const quiet = run({ id: 'c', startedAt: '2026-11-28T08:00:00.000Z', profilesReceived: 2 });
    const all = [...runs, quiet];
    const ids = (shown: DataflowRun[]) => shown.map((r) => r.id);
    expect(ids(filterRuns(all, 'all'))).toEqual(['a', 'b', 'c']);
    expect(ids(filterRuns(all, 'failed'))).toEqual(['a']);
    expect(ids(filterRuns(all, 'excluded'))).toEqual(['a', 'b']);
    expect(ids(filterRuns(all, 'activated'))).toEqual(['a', 'b']);
  });

  it('sums the counts of every run', () => {
    expect(totals(runs)).toEqual({ received: 15, activated: 10, excluded: 4, failed: 1, rate: 10 / 15 });
  });

  it('sums reasons of one kind across runs, largest first', () => {
    expect(reasonTotals(runs, 'excluded').map((r) => [r.code, r.count])).toEqual([
      ['email_missing_at', 2],
      ['no_mappable_identifier', 2],
    ]);
    expect(reasonTotals(runs, 'failed').map((r) => [r.code, r.count])).toEqual([['TRANSIENT', 1]]);
    // Summing must not change the runs it read.
    expect(runs[0]?.reasons[1]?.count).toBe(1);
  });

  it('charts runs oldest first with hour labels in UTC', () => {
    expect(chartSeries(runs).map((p) => [p.hour, p.activated])).toEqual([
      ['11-28 09:00', 4],
      ['11-28 10:00', 6],
    ]);
    expect(hourLabel('not a date')).toBe('not a date');
  });

  it("charts each run's peak of changes waiting, or its last count, or nothing", () => {
    expect(
      chartSeries([
        run({ startedAt: '2026-11-28T08:00:00.000Z', pendingChanges: 0, pendingPeak: 9 }),
        run({ startedAt: '2026-11-28T09:00:00.000Z', pendingChanges: 4 }),
        run({ startedAt: '2026-11-28T10:00:00.000Z' }),
      ]).map((p) => p.pending),
    ).toEqual([9, 4, 0]);
  });
});

describe('live samples', () => {
  it('keeps the newest samples and charts request increases', () => {
    let series = appendSample(
      [],
      { at: Date.parse('2026-11-28T10:00:00Z'), pending: 5, xRequestsTotal: 10 },
      2,
    );
    series = appendSample(
      series,
      { at: Date.parse('2026-11-28T10:00:05Z'), pending: 3, xRequestsTotal: 14 },
      2,
    );
    series = appendSample(
      series,
      { at: Date.parse('2026-11-28T10:00:10Z'), pending: 0, xRequestsTotal: 2 },
      2,
    );
    expect(series).toHaveLength(2);
    expect(livePoints(series)).toEqual([
      { time: '10:00:05', pending: 3, requests: null },
      { time: '10:00:10', pending: 0, requests: 0 },
    ]);
  });

  it('leaves requests empty when the counter is unavailable', () => {
    const series = [
      { at: 0, pending: 1, xRequestsTotal: null },
      { at: 5000, pending: 1, xRequestsTotal: 3 },
    ];
    expect(livePoints(series).map((p) => p.requests)).toEqual([null, null]);
  });
});
