/** Numbers behind the monitoring page: activation rate, chart series and the error/exclusion drill-down. */
import type { DataflowRun, RunReason } from './api.ts';
import { RUN_FILTERS as RUN_FIELDS } from '../../src/server/run-filters.ts';

/** The time ranges the monitoring views offer, ending now. */
export const RANGES = [
  { id: '24h', label: 'Last 24 hours', hours: 24 },
  { id: '7d', label: 'Last 7 days', hours: 24 * 7 },
  { id: '30d', label: 'Last 30 days', hours: 24 * 30 },
] as const;
export type RangeId = (typeof RANGES)[number]['id'];

/** Which runs the runs table shows: all, or those with identities of one kind (as the service's `?with=`). */
export const RUN_FILTERS = [
  { id: 'all', label: 'All runs' },
  { id: 'failed', label: 'Runs with failed identities' },
  { id: 'excluded', label: 'Runs with excluded identities' },
  { id: 'activated', label: 'Runs with activated identities' },
] as const;
export type RunFilterId = (typeof RUN_FILTERS)[number]['id'];

/** The runs `filter` keeps, as the service's `?with=` does. */
export function filterRuns(runs: readonly DataflowRun[], filter: RunFilterId): DataflowRun[] {
  if (filter === 'all') return [...runs];
  const field = RUN_FIELDS[filter];
  return runs.filter((r) => r[field] > 0);
}

/**
 * Share of identities handled in a run that were activated. The service's figure wins when it sends one; otherwise
 * activated / (activated + excluded + failed). Null when the run handled nothing.
 */
export function activationRate(run: DataflowRun): number | null {
  if (typeof run.activationRate === 'number') return run.activationRate;
  const handled = run.identitiesActivated + run.identitiesExcluded + run.identitiesFailed;
  return handled === 0 ? null : run.identitiesActivated / handled;
}

export function formatRate(rate: number | null): string {
  if (rate === null) return '—';
  return `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)}%`;
}

/** Hour label for a run window, in UTC so every viewer sees the same buckets. */
export function hourLabel(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return `${at.toISOString().slice(5, 10)} ${at.toISOString().slice(11, 13)}:00`;
}

export interface ChartPoint {
  hour: string;
  activated: number;
  excluded: number;
  failed: number;
  received: number;
  pending: number;
  requests: number;
}

/** Runs oldest first, one point per hourly window. */
export function chartSeries(runs: readonly DataflowRun[]): ChartPoint[] {
  return [...runs]
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
    .map((run) => ({
      hour: hourLabel(run.startedAt),
      activated: run.identitiesActivated,
      excluded: run.identitiesExcluded,
      failed: run.identitiesFailed,
      received: run.profilesReceived,
      pending: run.pendingPeak ?? run.pendingChanges ?? 0,
      requests: run.xRequests ?? 0,
    }));
}

export interface RunTotals {
  received: number;
  activated: number;
  excluded: number;
  failed: number;
  rate: number | null;
}

export function totals(runs: readonly DataflowRun[]): RunTotals {
  const sum = runs.reduce(
    (acc, run) => ({
      received: acc.received + run.profilesReceived,
      activated: acc.activated + run.identitiesActivated,
      excluded: acc.excluded + run.identitiesExcluded,
      failed: acc.failed + run.identitiesFailed,
    }),
    { received: 0, activated: 0, excluded: 0, failed: 0 },
  );
  const handled = sum.activated + sum.excluded + sum.failed;
  return { ...sum, rate: handled === 0 ? null : sum.activated / handled };
}

/** Reasons of one kind summed over the given runs, largest count first. */
export function reasonTotals(runs: readonly DataflowRun[], kind: RunReason['kind']): RunReason[] {
  const byCode = new Map<string, RunReason>();
  for (const run of runs) {
    for (const reason of run.reasons ?? []) {
      if (reason.kind !== kind) continue;
      const seen = byCode.get(reason.code);
      if (seen) seen.count += reason.count;
      else byCode.set(reason.code, { ...reason });
    }
  }
  return [...byCode.values()].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
}

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  return n.toLocaleString('en-US');
}

/** A point of the live series the monitoring page samples while it is open. */
export interface LiveSample {
  at: number;
  /** Pending adds + removes of this dataflow's audiences. */
  pending: number;
  /** The service's cumulative X request counter (all dataflows), or null when /metrics is not reachable. */
  xRequestsTotal: number | null;
}

export interface LivePoint {
  time: string;
  pending: number;
  /** Requests made since the previous sample. */
  requests: number | null;
}

/** Appends a sample, keeping the newest `max`. */
export function appendSample(series: readonly LiveSample[], sample: LiveSample, max = 120): LiveSample[] {
  const next = [...series, sample];
  return next.length > max ? next.slice(next.length - max) : next;
}

/** Chart points from samples: pending as sampled, X requests as the increase since the previous sample. */
export function livePoints(series: readonly LiveSample[]): LivePoint[] {
  return series.map((sample, i) => {
    const previous = series[i - 1];
    let requests: number | null = null;
    if (previous && sample.xRequestsTotal !== null && previous.xRequestsTotal !== null) {
      // A restarted service resets its counter; count from zero rather than charting a negative rate.
      requests = Math.max(0, sample.xRequestsTotal - previous.xRequestsTotal);
    }
    return { time: new Date(sample.at).toISOString().slice(11, 19), pending: sample.pending, requests };
  });
}
