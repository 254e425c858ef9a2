import {
  checkConsentPolicies,
  consentRequirements,
  failedRequirement,
  parseStoredConsentPolicies,
  requirementOf,
  type ConsentPolicy,
  type ConsentPolicyInput,
  type ConsentRequirement,
} from '../audience/consent.ts';
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
  return parseStoredConsentPolicies(row.consent_policies);
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

/** How many known profiles the consent policies keep, and how many each one leaves out. */
export interface ConsentCounts {
  /** Profiles counted. */
  profiles: number;
  /** Those that pass every counted policy that is switched on. */
  consenting: number;
  /**
   * Per counted policy (switched-off ones too), the profiles it leaves out (a profile failing two policies counts in
   * both).
   */
  denied: Array<{ policyId: string; profiles: number }>;
}

/** What the consent policies would keep of the sandbox's known profiles. */
export interface ConsentPreview {
  /**
   * The policies counted: those that apply to the destination through its marketing actions, or every policy of the
   * sandbox without a destination; switched on or off.
   */
  policies: ConsentPolicy[];
  /** Every profile the sandbox knows. */
  all: ConsentCounts;
  /** The known members of each segment asked about. */
  segments: Array<{ segmentId: string } & ConsentCounts>;
}

const PREVIEW_PAGE = 5000;

/**
 * The consent overlap of an activation before it is made (or, without a destination, of each policy on its own), from
 * the stored profiles: how many known profiles, and known members of each segment, the policies keep. One pass over
 * the sandbox's profiles. `not_found` for an unknown destination.
 */
export async function consentPreview(
  rt: EngineRuntime,
  sandboxId: string,
  destinationId: string | null,
  segmentIds: readonly string[],
): Promise<ConsentPreview> {
  const policies = await consentPolicies(rt, sandboxId);
  let applicable = policies;
  if (destinationId !== null) {
    const destination = await rt.store.destinations.get(sandboxId, destinationId);
    if (!destination) throw new EngineError('not_found', `Destination ${destinationId} does not exist`);
    // Switched-off policies are counted too, so their effect can be read before they are switched on.
    const applying = consentRequirements(
      policies.map((p) => ({ ...p, enabled: true })),
      destination.marketingActions,
    );
    applicable = policies.filter((p) => applying.some((r) => r.policyId === p.id));
  }
  const requirements = applicable.map(requirementOf);
  const enabled = new Set(applicable.filter((p) => p.enabled).map((p) => p.id));
  const tally = () => ({ profiles: 0, consenting: 0, denied: new Map<string, number>() });
  const all = tally();
  const counts = new Map(segmentIds.map((id) => [id, tally()]));
  const count = (c: ReturnType<typeof tally>, failed: readonly ConsentRequirement[]) => {
    c.profiles += 1;
    if (!failed.some((r) => enabled.has(r.policyId))) c.consenting += 1;
    for (const r of failed) c.denied.set(r.policyId, (c.denied.get(r.policyId) ?? 0) + 1);
  };
  const db = rt.store.db as unknown as Db;
  for (let after = 0; ;) {
    const rows = await db
      .selectFrom('engine_profiles')
      .select(['id', 'identities', 'segments'])
      .where('sandbox_id', '=', sandboxId)
      .where('id', '>', after)
      .orderBy('id')
      .limit(PREVIEW_PAGE)
      .execute();
    for (const row of rows) {
      const values = JSON.parse(row.identities) as Record<string, string[]>;
      const failed = requirements.filter((r) => failedRequirement([r], values) !== null);
      count(all, failed);
      if (counts.size === 0) continue;
      for (const id of JSON.parse(row.segments) as string[]) {
        const c = counts.get(id);
        if (c) count(c, failed);
      }
    }
    if (rows.length < PREVIEW_PAGE) break;
    after = rows[rows.length - 1]!.id;
  }
  const view = (c: ReturnType<typeof tally>): ConsentCounts => ({
    profiles: c.profiles,
    consenting: c.consenting,
    denied: applicable.map((p) => ({ policyId: p.id, profiles: c.denied.get(p.id) ?? 0 })),
  });
  return {
    policies: applicable,
    all: view(all),
    segments: [...counts].map(([segmentId, c]) => ({ segmentId, ...view(c) })),
  };
}
