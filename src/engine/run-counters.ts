import { sql } from 'kysely';
import type { Capabilities } from '../store/capabilities.ts';
import { chunkRows, type Db } from './sql-helpers.ts';
import { runHour } from './schedule.ts';
import type { SqliteStatements } from './sqlite-statements.ts';

/** Counter names of a dataflow run. */
export type RunMetric =
  | 'profiles_received'
  | 'identities_added'
  | 'identities_removed'
  | 'identities_excluded'
  | 'identities_failed'
  /** Users requests sent to X whose outcome was recorded: accepted, refused, or unknown (the connection broke). */
  | 'x_requests'
  /** Gauges sampled by the worker (see `recordPendingSamples`): changes waiting, the latest and the highest. */
  | 'pending_changes'
  | 'pending_peak';

/**
 * How a counter met again adds up (both backends): its value grows by the new one, and `last_at` keeps the later
 * time (a null one is from before `last_at` was kept).
 */
export const COUNTER_UPSERT_SQL = `value = engine_run_counters.value + excluded.value,
  last_at = case when engine_run_counters.last_at is null or excluded.last_at > engine_run_counters.last_at
    then excluded.last_at else engine_run_counters.last_at end`;

/** Audience id used for dataflow-level counters. */
export const DATAFLOW_LEVEL = '';

/**
 * Counters gathered while a batch is processed and written once with it (one upsert per distinct counter), so
 * metrics commit atomically with the work they describe.
 */
export class RunCounters {
  readonly #counters = new Map<
    string,
    {
      dataflowId: string;
      hour: number;
      audienceId: string;
      metric: RunMetric;
      code: string;
      value: number;
      /** The latest `at` added. */
      lastAt: number;
    }
  >();

  add(input: {
    dataflowId: string;
    audienceId?: string;
    metric: RunMetric;
    code?: string;
    value?: number;
    at: number;
  }): void {
    const hour = runHour(input.at);
    const audienceId = input.audienceId ?? DATAFLOW_LEVEL;
    const code = input.code ?? '';
    const key = `${input.dataflowId}\u0000${hour}\u0000${audienceId}\u0000${input.metric}\u0000${code}`;
    const existing = this.#counters.get(key);
    const value = input.value ?? 1;
    if (existing) {
      existing.value += value;
      if (input.at > existing.lastAt) existing.lastAt = input.at;
    } else
      this.#counters.set(key, {
        dataflowId: input.dataflowId,
        hour,
        audienceId,
        metric: input.metric,
        code,
        value,
        lastAt: input.at,
      });
  }

  get size(): number {
    return this.#counters.size;
  }

  /** Adds the counters to the stored ones with SQLite prepared statements (inside the caller's transaction). */
  writeSqlite(st: SqliteStatements): void {
    for (const c of this.#counters.values()) {
      if (c.value !== 0)
        st.addCounter.run(c.dataflowId, c.hour, c.audienceId, c.metric, c.code, c.value, c.lastAt);
    }
    this.#counters.clear();
  }

  /** Adds the counters to the stored ones. */
  async write(db: Db, capabilities: Capabilities): Promise<void> {
    const all = [...this.#counters.values()].filter((c) => c.value !== 0);
    for (const chunk of chunkRows(all, 7, capabilities)) {
      await sql`insert into engine_run_counters (dataflow_id, hour, audience_id, metric, code, value, last_at) values ${sql.join(
        chunk.map(
          (c) =>
            sql`(${c.dataflowId}, ${c.hour}, ${c.audienceId}, ${c.metric}, ${c.code}, ${c.value}, ${c.lastAt})`,
        ),
      )} on conflict (dataflow_id, hour, audience_id, metric, code) do update set ${sql.raw(COUNTER_UPSERT_SQL)}`.execute(
        db,
      );
    }
    this.#counters.clear();
  }
}

/** A count to take back from the run counters: `value` of `metric` (with `code`) in the run of `at`'s hour. */
export interface WithdrawnCount {
  dataflowId: string;
  audienceId?: string;
  metric: RunMetric;
  code: string;
  value: number;
  at: number;
}

/**
 * Takes counts back from the runs that counted them (a replayed dead letter's identities are no longer failed: see
 * `replayDeadLetters`), inside the caller's transaction: each counter drops by the counts given for it, never below
 * zero, and one that reaches zero is deleted, as if never counted. A counter pruned already is left alone. One
 * update and one delete per distinct counter.
 */
export async function withdrawCounts(db: Db, counts: readonly WithdrawnCount[]): Promise<void> {
  const byCounter = new Map<string, Required<Omit<WithdrawnCount, 'at'>> & { hour: number }>();
  for (const c of counts) {
    const hour = runHour(c.at);
    const audienceId = c.audienceId ?? DATAFLOW_LEVEL;
    const key = `${c.dataflowId}\u0000${hour}\u0000${audienceId}\u0000${c.metric}\u0000${c.code}`;
    const existing = byCounter.get(key);
    if (existing) existing.value += c.value;
    else
      byCounter.set(key, {
        dataflowId: c.dataflowId,
        audienceId,
        metric: c.metric,
        code: c.code,
        value: c.value,
        hour,
      });
  }
  for (const c of byCounter.values()) {
    if (c.value <= 0) continue;
    const where = sql`dataflow_id = ${c.dataflowId} and hour = ${c.hour} and audience_id = ${c.audienceId}
      and metric = ${c.metric} and code = ${c.code}`;
    await sql`delete from engine_run_counters where ${where} and value <= ${c.value}`.execute(db);
    await sql`update engine_run_counters set value = value - ${c.value} where ${where}`.execute(db);
  }
}

/** A sample of the changes waiting for delivery: of a dataflow (`audienceId` omitted) or one of its audiences. */
export interface PendingSample {
  dataflowId: string;
  audienceId?: string;
  value: number;
}

/**
 * Records samples of the changes waiting into the runs of their hour: `pending_changes` keeps the latest sample,
 * `pending_peak` the highest. Unlike the other counters these are states, not sums.
 */
export async function recordPendingSamples(
  db: Db,
  capabilities: Capabilities,
  samples: readonly PendingSample[],
  at: number,
): Promise<void> {
  const hour = runHour(at);
  const rows = samples.flatMap((s) =>
    (['pending_changes', 'pending_peak'] as const).map((metric) => ({
      dataflowId: s.dataflowId,
      audienceId: s.audienceId ?? DATAFLOW_LEVEL,
      metric,
      value: s.value,
    })),
  );
  for (const chunk of chunkRows(rows, 6, capabilities)) {
    await sql`insert into engine_run_counters (dataflow_id, hour, audience_id, metric, code, value) values ${sql.join(
      chunk.map((r) => sql`(${r.dataflowId}, ${hour}, ${r.audienceId}, ${r.metric}, '', ${r.value})`),
    )} on conflict (dataflow_id, hour, audience_id, metric, code) do update set value = case
        when engine_run_counters.metric = 'pending_changes' or excluded.value > engine_run_counters.value then excluded.value
        else engine_run_counters.value end`.execute(db);
  }
}
