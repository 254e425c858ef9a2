import { EngineError } from './errors.ts';
import { withdrawCounts, type WithdrawnCount } from './run-counters.ts';
import type { EngineRuntime } from './runtime.ts';
import type { Db } from './sql-helpers.ts';
import { identifierCount } from './xuser.ts';

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
 *
 * A replay is a new attempt, so the letter's identities are no longer failed: failed is counted once per identity, on
 * its last attempt. Their count leaves the run (and the audience's breakdown) that counted them, in the replay's
 * transaction; the new attempt counts them activated when X accepts them, or failed again, in its own run, when X
 * refuses them again. Ids of letters the sandbox never had, or (with `dataflowId`) of another dataflow, are refused
 * with `not_found`, each named, and nothing is replayed.
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
      .select(['id', 'dataflow_id', 'audience_id', 'member', 'operations', 'error_code', 'created_at'])
      .where('sandbox_id', '=', sandboxId)
      .where('replayed_at', 'is', null);
    if (ids !== undefined) {
      if (ids.length === 0) return 0;
      // An id the sandbox never had is a mistake to report, not a letter to skip: nothing is replayed then.
      const known = new Map(
        (
          await tx.db
            .selectFrom('engine_dead_letters')
            .select(['id', 'dataflow_id'])
            .where('sandbox_id', '=', sandboxId)
            .where('id', 'in', [...ids])
            .execute()
        ).map((r) => [r.id, r.dataflow_id]),
      );
      const missing = [...ids.entries()].filter(([, id]) => !known.has(id));
      // Named with the dataflow too: a letter of another one would be left out silently (replayed 0).
      const elsewhere =
        dataflowId === undefined
          ? []
          : [...ids.entries()].filter(([, id]) => known.has(id) && known.get(id) !== dataflowId);
      if (missing.length > 0 || elsewhere.length > 0) {
        const problems = [
          ...(missing.length > 0
            ? [`No dead letter ${missing.map(([, id]) => id).join(', ')} in this sandbox`]
            : []),
          ...(elsewhere.length > 0
            ? [`Dead letter ${elsewhere.map(([, id]) => id).join(', ')} is not of dataflow ${dataflowId}`]
            : []),
        ];
        throw new EngineError('not_found', problems.join('; '), {
          hint: 'List the dead letters (tca dead-letters list, --dataflow for one dataflow) and replay ids from there',
          details: [
            ...missing.map(([i]) => ({ index: i, reason: 'no dead letter with this id' })),
            ...elsewhere.map(([i, id]) => ({
              index: i,
              reason: `of dataflow ${known.get(id)}, not ${dataflowId}`,
            })),
          ]
            .sort((a, b) => a.index - b.index)
            .map(({ index, reason }) => ({ path: `ids[${index}]`, reason })),
        });
      }
      query = query.where('id', 'in', [...ids]);
    }
    if (dataflowId !== undefined) query = query.where('dataflow_id', '=', dataflowId);
    const letters = await query.execute();
    const withdrawn: WithdrawnCount[] = [];
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
      // Counted failed when dead-lettered: each identifier of the operations X refused, in that hour's run.
      const operations = JSON.parse(letter.operations) as DeadLetter['operations'];
      const value = operations.reduce((n, o) => n + identifierCount(o.user), 0);
      const failed = { metric: 'identities_failed' as const, code: letter.error_code, value };
      const at = Number(letter.created_at);
      withdrawn.push({ dataflowId: letter.dataflow_id, ...failed, at });
      withdrawn.push({ dataflowId: letter.dataflow_id, audienceId: letter.audience_id, ...failed, at });
    }
    await withdrawCounts(tx.db as unknown as Db, withdrawn);
    return letters.length;
  });
}
