import { EngineError } from './errors.ts';
import type { EngineRuntime } from './runtime.ts';

/** A member X refused, as stored (hashes only). */
export interface DeadLetter {
  id: string;
  sandboxId: string;
  dataflowId: string;
  audienceId: string;
  member: string;
  operations: Array<{ operation: 'Update' | 'Delete'; user: Record<string, string[]> }>;
  errorCode: string;
  errorMessage: string;
  createdAt: number;
  replayedAt: number | null;
}

/** Dead letters of a sandbox, newest first (optionally one dataflow's). */
export async function listDeadLetters(
  rt: EngineRuntime,
  sandboxId: string,
  filter: { dataflowId?: string; limit?: number } = {},
): Promise<DeadLetter[]> {
  let query = rt.store.db.selectFrom('engine_dead_letters').selectAll().where('sandbox_id', '=', sandboxId);
  if (filter.dataflowId !== undefined) query = query.where('dataflow_id', '=', filter.dataflowId);
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(filter.limit ?? 100)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    sandboxId: r.sandbox_id,
    dataflowId: r.dataflow_id,
    audienceId: r.audience_id,
    member: r.member,
    operations: JSON.parse(r.operations) as DeadLetter['operations'],
    errorCode: r.error_code,
    errorMessage: r.error_message,
    createdAt: r.created_at,
    replayedAt: r.replayed_at,
  }));
}

/** Which dead letters to replay: every one of the sandbox not yet replayed, narrowed by ids and/or dataflow. */
export interface DeadLetterSelection {
  ids?: readonly string[];
  dataflowId?: string;
}

/**
 * Replays dead letters: their members' current desired state becomes pending again (re-sent even if X is believed
 * to hold it) and goes out with the next delivery. Returns how many were replayed.
 */
export async function replayDeadLetters(
  rt: EngineRuntime,
  sandboxId: string,
  { ids, dataflowId }: DeadLetterSelection = {},
): Promise<number> {
  const now = rt.now();
  return rt.store.transaction(async (tx) => {
    let query = tx.db
      .selectFrom('engine_dead_letters')
      .select(['id', 'audience_id', 'member'])
      .where('sandbox_id', '=', sandboxId)
      .where('replayed_at', 'is', null);
    if (ids !== undefined) {
      if (ids.length === 0) return 0;
      // An id the sandbox never had is a mistake to report, not a letter to skip: nothing is replayed then.
      const known = new Set(
        (
          await tx.db
            .selectFrom('engine_dead_letters')
            .select('id')
            .where('sandbox_id', '=', sandboxId)
            .where('id', 'in', [...ids])
            .execute()
        ).map((r) => r.id),
      );
      const missing = [...ids.entries()].filter(([, id]) => !known.has(id));
      if (missing.length > 0)
        throw new EngineError(
          'not_found',
          `No dead letter ${missing.map(([, id]) => id).join(', ')} in this sandbox`,
          {
            hint: 'List the dead letters (tca dead-letters list) and replay ids from there',
            details: missing.map(([i]) => ({ path: `ids[${i}]`, reason: 'no dead letter with this id' })),
          },
        );
      query = query.where('id', 'in', [...ids]);
    }
    if (dataflowId !== undefined) query = query.where('dataflow_id', '=', dataflowId);
    const letters = await query.execute();
    for (const letter of letters) {
      await tx.db
        .updateTable('engine_ledger')
        .set({ dead: null, pending: 1, resend: 1, pending_since: now, updated_at: now })
        .where('audience_id', '=', letter.audience_id)
        .where('member', '=', letter.member)
        .execute();
      await tx.db
        .updateTable('engine_dead_letters')
        .set({ replayed_at: now })
        .where('id', '=', letter.id)
        .execute();
    }
    return letters.length;
  });
}
