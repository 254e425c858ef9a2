import type { Db } from './sql-helpers.ts';

/** The changes waiting for delivery of one audience. */
export interface PendingCounts {
  adds: number;
  removes: number;
  /** Epoch ms of the oldest pending change, null when nothing is pending. */
  oldestAt: number | null;
}

/** Audiences per query. */
const CHUNK = 500;

/** Ledger rows waiting for delivery: those `engine_ledger_pending` holds. */
const pendingRows = (db: Db) => db.selectFrom('engine_ledger').where('pending', '=', 1);

/** The pending removals among them: those `engine_ledger_pending_removes` holds (its condition, exactly). */
const pendingRemovals = (db: Db) => pendingRows(db).where('desired', 'is', null);

/**
 * The queries behind the counts, each answered from a partial index alone, without reading a ledger row: pending
 * changes and the oldest by `engine_ledger_pending`, the removals among them by `engine_ledger_pending_removes`. A
 * query that reads `desired` for every pending row instead makes SQLite walk every member of the audience.
 */
export function pendingQueries(db: Db, audienceIds: readonly string[]) {
  return {
    pending: pendingRows(db)
      .select((eb) => [
        'audience_id',
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.min<number | string>('pending_since').as('oldest'),
      ])
      .where('audience_id', 'in', audienceIds)
      .groupBy('audience_id'),
    removes: pendingRemovals(db)
      .select((eb) => ['audience_id', eb.fn.countAll<number | string>().as('n')])
      .where('audience_id', 'in', audienceIds)
      .groupBy('audience_id'),
  };
}

/** Each audience's pending adds and removes and its oldest pending change; audiences with none are absent. */
export async function pendingCounts(
  db: Db,
  audienceIds: readonly string[],
): Promise<Map<string, PendingCounts>> {
  const out = new Map<string, PendingCounts>();
  for (let i = 0; i < audienceIds.length; i += CHUNK) {
    const ids = audienceIds.slice(i, i + CHUNK);
    const queries = pendingQueries(db, ids);
    const [pending, removes] = await Promise.all([queries.pending.execute(), queries.removes.execute()]);
    const removesOf = new Map(removes.map((r) => [r.audience_id, Number(r.n)]));
    for (const r of pending) {
      const n = Number(r.n);
      const removed = removesOf.get(r.audience_id) ?? 0;
      out.set(r.audience_id, {
        adds: n - removed,
        removes: removed,
        oldestAt: r.oldest === null ? null : Number(r.oldest),
      });
    }
  }
  return out;
}

/** Every audience's pending adds and removes together, from the same two indexes. */
export async function pendingTotals(db: Db): Promise<{ adds: number; removes: number }> {
  const count = (rows: ReturnType<typeof pendingRows>) =>
    rows.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
  const [pending, removes] = await Promise.all([count(pendingRows(db)), count(pendingRemovals(db))]);
  const n = Number(pending?.n ?? 0);
  const removed = Number(removes?.n ?? 0);
  return { adds: n - removed, removes: removed };
}
