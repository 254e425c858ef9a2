import { pendingCounts, type PendingCounts } from './pending-counts.ts';
import type { EngineRuntime } from './runtime.ts';
import { cadenceStateOf, deliveryDueAt, nextDelivery, type NextDeliveryReason } from './schedule.ts';
import type { Db } from './sql-helpers.ts';

/** An audience's changes waiting for delivery, and when the worker sends them at the latest. */
export interface DeliveryOutlook extends PendingCounts {
  /** Epoch ms; null when nothing waits, or the audience's dataflow is not active (paused, failed). */
  nextDeliveryAt: number | null;
  nextDeliveryReason: NextDeliveryReason | null;
  /**
   * When the waiting changes are due by the audience's schedule alone (see `deliveryDueAt`): past it, they are late,
   * whatever holds them (a back-off, a pause). Null when nothing waits.
   */
  dueAt: number | null;
}

/** Audiences per query. */
const CHUNK = 500;

/** The delivery outlook of each activated audience given (ids of no audience are absent). */
export async function deliveryOutlook(
  rt: EngineRuntime,
  audienceIds: readonly string[],
): Promise<Map<string, DeliveryOutlook>> {
  const db = rt.store.db as unknown as Db;
  const pending = await pendingCounts(db, audienceIds);
  const now = rt.now();
  const out = new Map<string, DeliveryOutlook>();
  for (let i = 0; i < audienceIds.length; i += CHUNK) {
    const rows = await db
      .selectFrom('dataflow_audiences as da')
      .innerJoin('dataflows as d', 'd.id', 'da.dataflow_id')
      // The worker's next tick adds an audience's delivery state before it delivers (see syncAudiences).
      .leftJoin('engine_audiences as a', 'a.id', 'da.id')
      .select([
        'da.id',
        'a.lifecycle',
        'a.next_attempt_at',
        'a.flush_requested',
        'a.last_add_push_at',
        'a.last_remove_push_at',
        'd.status',
        'd.max_batch_age_seconds',
        'd.cadence_mode',
        'd.cadence_window_seconds',
      ])
      .where('da.id', 'in', audienceIds.slice(i, i + CHUNK))
      .execute();
    for (const row of rows) {
      const counts = pending.get(row.id) ?? { adds: 0, removes: 0, oldestAt: null };
      const schedule = {
        ...counts,
        maxBatchAgeSeconds: Number(row.max_batch_age_seconds ?? 900),
        cadence: cadenceStateOf(row),
      };
      const next = nextDelivery({
        now,
        ...schedule,
        fullRequestUsers: rt.tuning.fullRequestUsers,
        nextAttemptAt: row.next_attempt_at === null ? null : Number(row.next_attempt_at),
        requested: Number(row.flush_requested ?? 0) === 1,
        active: row.status === 'active' && (row.lifecycle ?? 'active') === 'active',
      });
      out.set(row.id, {
        ...counts,
        nextDeliveryAt: next?.at ?? null,
        nextDeliveryReason: next?.reason ?? null,
        dueAt: deliveryDueAt(schedule),
      });
    }
  }
  return out;
}
