import { checkConsentPolicies, type ConsentPolicy, type ConsentPolicyInput } from '../audience/consent.ts';
import { EngineError } from './errors.ts';
import type { EngineRuntime } from './runtime.ts';
import type { Db } from './sql-helpers.ts';

/** The sandbox's consent policies, in the order they were given. */
export async function consentPolicies(rt: EngineRuntime, sandboxId: string): Promise<ConsentPolicy[]> {
  const row = await rt.store.db
    .selectFrom('sandboxes')
    .select('consent_policies')
    .where('id', '=', sandboxId)
    .executeTakeFirst();
  if (!row) throw new EngineError('not_found', `Sandbox ${sandboxId} does not exist`);
  return JSON.parse(row.consent_policies) as ConsentPolicy[];
}

/**
 * Replaces the sandbox's consent policies. When they change, every active audience of the sandbox is evaluated again
 * from the stored profile states (which keep each profile's consent values): members who now fail a policy are
 * removed from their X audience, and those a policy no longer holds back are added. Bad input throws `invalid_input`
 * with every problem, and changes nothing.
 */
export async function setConsentPolicies(
  rt: EngineRuntime,
  sandboxId: string,
  input: readonly ConsentPolicyInput[],
): Promise<ConsentPolicy[]> {
  const checked = checkConsentPolicies(input, () => rt.store.newId('cp'));
  if (!checked.ok)
    throw new EngineError('invalid_input', 'The consent policies are not valid', {
      details: checked.problems,
    });
  const json = JSON.stringify(checked.policies);
  await rt.store.transaction(async (tx) => {
    const db = tx.db as unknown as Db;
    const query = db.selectFrom('sandboxes').select('consent_policies').where('id', '=', sandboxId);
    // On PostgreSQL, ingests hold the sandbox row shared: the change waits for batches evaluated under the old set.
    const row = await (rt.store.capabilities.singleWriter ? query : query.forUpdate()).executeTakeFirst();
    if (!row) throw new EngineError('not_found', `Sandbox ${sandboxId} does not exist`);
    if (row.consent_policies === json) return;
    await tx.sandboxes.setConsentPolicies(sandboxId, json);
    await reevaluateAudiences(db, rt.now(), { sandboxId });
  });
  rt.logger.info({ sandboxId, policies: checked.policies.length }, 'consent policies changed');
  return checked.policies;
}

/**
 * Marks active audiences to be evaluated again from the stored profile states on the next sync (as a backfill, which
 * also clears members who no longer qualify): those of a sandbox, or of one destination's dataflows.
 */
export async function reevaluateAudiences(
  db: Db,
  now: number,
  scope: { sandboxId: string; destinationId?: string },
): Promise<number> {
  let query = db
    .updateTable('engine_audiences')
    .set({ backfilled_at: null, updated_at: now })
    .where('sandbox_id', '=', scope.sandboxId)
    .where('lifecycle', '=', 'active');
  if (scope.destinationId !== undefined) query = query.where('destination_id', '=', scope.destinationId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}
