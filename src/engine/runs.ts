import { DATAFLOW_LEVEL } from './run-counters.ts';
import { pruneImports } from './import-progress.ts';
import type { EngineRuntime } from './runtime.ts';
import { runHour } from './schedule.ts';

/** Counts of one hourly window, for a dataflow or one of its audiences. */
export interface RunCounts {
  profilesReceived: number;
  /** Identities added plus removed (AEP counts removals as activated too). */
  identitiesActivated: number;
  identitiesAdded: number;
  identitiesRemoved: number;
  identitiesExcluded: number;
  identitiesFailed: number;
  excludedByReason: Record<string, number>;
  /** Per X error code, counted once per identity on its last attempt. */
  failedByCode: Record<string, number>;
  /** activated / (activated + failed + excluded), or null when nothing was processed. */
  activationRate: number | null;
  /** Users requests sent to X (accepted, refused or of unknown outcome). */
  xRequests: number;
  /**
   * Changes waiting for delivery at the window's last sample (the worker samples every 30 s), or null when none was
   * taken in the window.
   */
  pendingChanges: number | null;
  /** The highest of the window's samples, or null. */
  pendingPeak: number | null;
}

/** One dataflow run: the hourly window AEP shows as a run, with a per-audience breakdown. */
export interface DataflowRun extends RunCounts {
  runId: string;
  dataflowId: string;
  startedAt: number;
  endsAt: number;
  /** `processing` while the hour is still open. */
  status: 'completed' | 'processing';
  audiences: Array<RunCounts & { audienceId: string }>;
}

function emptyCounts(): RunCounts {
  return {
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
    pendingChanges: null,
    pendingPeak: null,
  };
}

function add(counts: RunCounts, metric: string, code: string, value: number): void {
  switch (metric) {
    case 'profiles_received':
      counts.profilesReceived += value;
      break;
    case 'identities_added':
      counts.identitiesAdded += value;
      break;
    case 'identities_removed':
      counts.identitiesRemoved += value;
      break;
    case 'identities_excluded':
      counts.identitiesExcluded += value;
      counts.excludedByReason[code] = (counts.excludedByReason[code] ?? 0) + value;
      break;
    case 'identities_failed':
      counts.identitiesFailed += value;
      counts.failedByCode[code] = (counts.failedByCode[code] ?? 0) + value;
      break;
    case 'x_requests':
      counts.xRequests += value;
      break;
    case 'pending_changes':
      counts.pendingChanges = value;
      break;
    case 'pending_peak':
      counts.pendingPeak = value;
      break;
  }
}

function finish(counts: RunCounts): void {
  counts.identitiesActivated = counts.identitiesAdded + counts.identitiesRemoved;
  const total = counts.identitiesActivated + counts.identitiesFailed + counts.identitiesExcluded;
  counts.activationRate = total === 0 ? null : counts.identitiesActivated / total;
}

/**
 * The hourly runs of a dataflow between `from` and `to` (epoch ms, default the last 24 hours), newest first.
 *
 * @example
 * const runs = await listRuns(rt, 'df_1', { from: Date.now() - 86_400_000 });
 * runs[0]?.identitiesActivated;
 */
export async function listRuns(
  rt: EngineRuntime,
  dataflowId: string,
  range: { from?: number; to?: number } = {},
): Promise<DataflowRun[]> {
  const now = rt.now();
  const to = range.to ?? now;
  const from = range.from ?? to - 86_400_000;
  const rows = await rt.store.db
    .selectFrom('engine_run_counters')
    .select(['hour', 'audience_id', 'metric', 'code', 'value'])
    .where('dataflow_id', '=', dataflowId)
    .where('hour', '>=', runHour(from))
    .where('hour', '<=', to)
    .execute();
  const runs = new Map<number, DataflowRun>();
  const audienceCounts = new Map<string, RunCounts & { audienceId: string }>();
  for (const row of rows) {
    let run = runs.get(row.hour);
    if (!run) {
      run = {
        runId: `${dataflowId}:${new Date(row.hour).toISOString()}`,
        dataflowId,
        startedAt: row.hour,
        endsAt: row.hour + 3_600_000,
        status: row.hour + 3_600_000 <= now ? 'completed' : 'processing',
        ...emptyCounts(),
        audiences: [],
      };
      runs.set(row.hour, run);
    }
    const value = Number(row.value);
    if (row.audience_id === DATAFLOW_LEVEL) {
      add(run, row.metric, row.code, value);
    } else {
      const key = `${row.hour}\u0000${row.audience_id}`;
      let counts = audienceCounts.get(key);
      if (!counts) {
        counts = { audienceId: row.audience_id, ...emptyCounts() };
        audienceCounts.set(key, counts);
        run.audiences.push(counts);
      }
      add(counts, row.metric, row.code, value);
    }
  }
  for (const run of runs.values()) {
    finish(run);
    for (const audience of run.audiences) finish(audience);
    run.audiences.sort((a, b) => a.audienceId.localeCompare(b.audienceId));
  }
  return [...runs.values()].sort((a, b) => b.startedAt - a.startedAt);
}

/** A dataflow's counts summed over a time range, for an overview of many dataflows. */
export interface RunTotals extends RunCounts {
  dataflowId: string;
  /** Start of the newest hour in the range with anything counted, or null when nothing was. */
  lastRunAt: number | null;
  /**
   * Dead letters of those runs not replayed yet: members X refused that nobody has sent again. Their identities are
   * in `identitiesFailed`; a replayed one's left it (see `replayDeadLetters`), but not one replayed before replays
   * took failures back, so this, not `identitiesFailed`, says whether failures are left to look at.
   */
  unreplayedDeadLetters: number;
}

/**
 * Each dataflow's counts summed over the hourly runs that start in `[from, to)` (default the last 24 hours), in one
 * grouped query: counts are kept per hour and cannot be split, so a run that started before `from` is left out even
 * while it is still open, and consecutive windows count each run once. `pendingPeak` is the highest sample in the
 * range; `pendingChanges` is left null (a sum of samples means nothing: ask the ledger for the live count). Dataflows
 * with nothing counted get zeroes.
 *
 * @example
 * const totals = await runTotals(rt, ['df_1', 'df_2'], { from: Date.now() - 7 * 86_400_000 });
 * totals.get('df_1')?.identitiesFailed;
 */
export async function runTotals(
  rt: EngineRuntime,
  dataflowIds: readonly string[],
  range: { from?: number; to?: number } = {},
): Promise<Map<string, RunTotals>> {
  const to = range.to ?? rt.now();
  const from = range.from ?? to - 86_400_000;
  const totals = new Map<string, RunTotals>();
  for (const dataflowId of dataflowIds)
    totals.set(dataflowId, { dataflowId, lastRunAt: null, unreplayedDeadLetters: 0, ...emptyCounts() });
  // The runs that start in the window: their hours, and the times they cover.
  const firstHour = Math.ceil(from / 3_600_000) * 3_600_000;
  const coveredUntil = runHour(to - 1) + 3_600_000;
  for (let i = 0; i < dataflowIds.length; i += 500) {
    const ids = dataflowIds.slice(i, i + 500);
    const rows = await rt.store.db
      .selectFrom('engine_run_counters')
      .select((eb) => [
        'dataflow_id',
        'metric',
        'code',
        eb.fn.sum<number | string>('value').as('total'),
        eb.fn.max<number | string>('value').as('highest'),
        eb.fn.max<number | string>('hour').as('last_hour'),
      ])
      .where('dataflow_id', 'in', ids)
      .where('audience_id', '=', DATAFLOW_LEVEL)
      .where('hour', '>=', from)
      .where('hour', '<', to)
      .groupBy(['dataflow_id', 'metric', 'code'])
      .execute();
    for (const row of rows) {
      const counts = totals.get(row.dataflow_id)!;
      const lastHour = Number(row.last_hour);
      if (counts.lastRunAt === null || lastHour > counts.lastRunAt) counts.lastRunAt = lastHour;
      if (row.metric === 'pending_changes') continue;
      add(counts, row.metric, row.code, Number(row.metric === 'pending_peak' ? row.highest : row.total));
    }
    const letters = await rt.store.db
      .selectFrom('engine_dead_letters')
      .select((eb) => ['dataflow_id', eb.fn.countAll<number | string>().as('count')])
      .where('dataflow_id', 'in', ids)
      .where('replayed_at', 'is', null)
      .where('created_at', '>=', firstHour)
      .where('created_at', '<', coveredUntil)
      .groupBy('dataflow_id')
      .execute();
    for (const row of letters) totals.get(row.dataflow_id)!.unreplayedDeadLetters = Number(row.count);
  }
  for (const counts of totals.values()) finish(counts);
  return totals;
}

/**
 * When each dataflow last received profiles (epoch ms), looking back to `since`; a dataflow with none since then is
 * absent from the map. Counters from before their time was kept give the start of their hour.
 */
export async function lastReceivedAt(
  rt: EngineRuntime,
  dataflowIds: readonly string[],
  since: number,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < dataflowIds.length; i += 500) {
    const rows = await rt.store.db
      .selectFrom('engine_run_counters')
      .select((eb) => ['dataflow_id', eb.fn.max<number | string>(eb.fn.coalesce('last_at', 'hour')).as('at')])
      .where('dataflow_id', 'in', dataflowIds.slice(i, i + 500))
      .where('audience_id', '=', DATAFLOW_LEVEL)
      .where('metric', '=', 'profiles_received')
      .where('value', '>', 0)
      .where('hour', '>=', runHour(since))
      .groupBy('dataflow_id')
      .execute();
    for (const row of rows) out.set(row.dataflow_id, Number(row.at));
  }
  return out;
}

/**
 * Deletes run counters past the retention (90 days, as AEP keeps runs), old idempotency records, and audit events
 * past theirs (400 days: a year's reviews and then some), and file imports past theirs (30 days).
 */
export async function pruneHistory(rt: EngineRuntime): Promise<void> {
  const now = rt.now();
  await rt.store.db
    .deleteFrom('engine_run_counters')
    .where('hour', '<', now - rt.tuning.runRetentionMs)
    .execute();
  await rt.store.db
    .deleteFrom('engine_ingest_requests')
    .where('created_at', '<', now - rt.tuning.requestRetentionMs)
    .execute();
  await rt.store.auditEvents.prune(now - rt.tuning.auditRetentionMs);
  await pruneImports(rt);
}
