import { sql } from 'kysely';
import { EngineError } from './errors.ts';
import type { EngineRuntime } from './runtime.ts';
import { syncAudiences } from './sync.ts';
import type { Db } from './sql-helpers.ts';

/** "Activate now" may queue an audience again once this long after the last time. */
export const ACTIVATE_NOW_INTERVAL_MS = 24 * 3_600_000;

export interface ActivateNowResult {
  audienceId: string;
  /** Members queued to be sent again. */
  queued: number;
  /** Epoch ms from which the audience can be queued again. */
  nextAllowedAt: number;
}

/**
 * "Activate now": every current member of the audience is sent to X again with its next delivery, as after a refresh
 * (X holds a set, so members it has are unchanged; members its record lost, say from an edit in X's UI, come back).
 * Members X refused for good (dead letters) are left to a replay. At most once per 24 hours per audience: a second
 * call sooner throws a `too_soon` EngineError whose details say when.
 */
export async function activateNow(
  rt: EngineRuntime,
  sandboxId: string,
  audienceId: string,
): Promise<ActivateNowResult> {
  // An audience activated moments ago may not have its engine state yet.
  await syncAudiences(rt, { sandboxId });
  return rt.store.transaction(async (tx) => {
    const db = tx.db as unknown as Db;
    const now = rt.now();
    const audience = await db
      .selectFrom('engine_audiences')
      .select(['lifecycle', 'resend_requested_at'])
      .where('id', '=', audienceId)
      .where('sandbox_id', '=', sandboxId)
      .executeTakeFirst();
    if (!audience || audience.lifecycle !== 'active') {
      throw new EngineError('not_found', `No active audience ${audienceId} in sandbox ${sandboxId}`, {
        hint: 'List audiences with GET /api/v1/audiences',
      });
    }
    const last = audience.resend_requested_at === null ? null : Number(audience.resend_requested_at);
    if (last !== null && now < last + ACTIVATE_NOW_INTERVAL_MS) {
      const next = new Date(last + ACTIVATE_NOW_INTERVAL_MS).toISOString();
      throw new EngineError(
        'too_soon',
        `Audience ${audienceId} was activated again at ${new Date(last).toISOString()}`,
        {
          details: [{ path: 'nextAllowedAt', reason: next }],
          retryAt: last + ACTIVATE_NOW_INTERVAL_MS,
          hint: `Activate now works once per 24 hours per audience; try again after ${next}`,
        },
      );
    }
    const result = await sql`update engine_ledger set resend = 1, pending = 1,
        pending_since = coalesce(pending_since, ${now}), updated_at = ${now}
      where audience_id = ${audienceId} and desired is not null and (dead is null or dead <> desired)`.execute(
      db,
    );
    await db
      .updateTable('engine_audiences')
      .set({ resend_requested_at: now, flush_requested: 1, updated_at: now })
      .where('id', '=', audienceId)
      .execute();
    return {
      audienceId,
      queued: Number(result.numAffectedRows ?? 0),
      nextAllowedAt: now + ACTIVATE_NOW_INTERVAL_MS,
    };
  });
}
