import {
  checkConsentPolicies,
  failedRequirement,
  parseStoredConsentPolicies,
  policyApplies,
  requirementOf,
  type ConsentPolicy,
  type ConsentPolicyInput,
} from '../audience/consent.ts';
import { mappingLabels, type FieldLabel } from '../audience/governance.ts';
import { ERASED_KEY_PREFIX } from './erasure.ts';
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

/** Which active audiences of a sandbox to evaluate again: all of them, or those of a destination, dataflow or segment. */
export interface ReevaluationScope {
  sandboxId: string;
  destinationId?: string;
  dataflowId?: string;
  segmentId?: string;
}

/**
 * Marks active audiences to be evaluated again from the stored profile states on the next sync (as a backfill, which
 * also clears members who no longer qualify).
 */
export async function reevaluateAudiences(db: Db, now: number, scope: ReevaluationScope): Promise<number> {
  let query = db
    .updateTable('engine_audiences')
    .set({ backfilled_at: null, updated_at: now })
    .where('sandbox_id', '=', scope.sandboxId)
    .where('lifecycle', '=', 'active');
  if (scope.destinationId !== undefined) query = query.where('destination_id', '=', scope.destinationId);
  if (scope.dataflowId !== undefined) query = query.where('dataflow_id', '=', scope.dataflowId);
  if (scope.segmentId !== undefined) query = query.where('segment_id', '=', scope.segmentId);
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
   * The policies counted: those that apply to the destination through its marketing actions and the labels of the
   * mapped fields and segments asked about, or every policy of the sandbox without a destination; switched on or off.
   */
  policies: ConsentPolicy[];
  /** Every profile the sandbox knows, under the policies that apply without a segment's labels. */
  all: ConsentCounts;
  /** The known members of each segment asked about, under the policies that apply to its activation. */
  segments: Array<{ segmentId: string } & ConsentCounts>;
}

const PREVIEW_PAGE = 5000;

/**
 * The consent overlap of an activation before it is made (or, without a destination, of each policy on its own), from
 * the stored profiles: how many known profiles, and known members of each segment, the policies keep. A policy on
 * labels applies through the labels of the mapped fields (`mapping`) and of each segment. One pass over the sandbox's
 * profiles. `not_found` for an unknown destination.
 */
export async function consentPreview(
  rt: EngineRuntime,
  sandboxId: string,
  destinationId: string | null,
  segmentIds: readonly string[],
  mapping: ReadonlyArray<{ sourceType: string; source: string }> = [],
): Promise<ConsentPreview> {
  const policies = await consentPolicies(rt, sandboxId);
  const db = rt.store.db as unknown as Db;
  // The policies counted for all profiles, and for each segment; switched-off ones too, so their effect can be read
  // before they are switched on.
  let forAll: readonly ConsentPolicy[] = policies;
  const forSegment = new Map<string, readonly ConsentPolicy[]>(segmentIds.map((id) => [id, policies]));
  if (destinationId !== null) {
    const destination = await rt.store.destinations.get(sandboxId, destinationId);
    if (!destination) throw new EngineError('not_found', `Destination ${destinationId} does not exist`);
    const sandbox = await db
      .selectFrom('sandboxes')
      .select('field_labels')
      .where('id', '=', sandboxId)
      .executeTakeFirst();
    const fieldLabels = mappingLabels(mapping, JSON.parse(sandbox?.field_labels ?? '[]') as FieldLabel[]);
    const applying = (labels: readonly string[]) =>
      policies.filter((p) => policyApplies(p, { marketingActions: destination.marketingActions, labels }));
    forAll = applying(fieldLabels);
    const segmentRows =
      segmentIds.length === 0
        ? []
        : await db
            .selectFrom('segments')
            .select(['id', 'labels'])
            .where('sandbox_id', '=', sandboxId)
            .where('id', 'in', segmentIds)
            .execute();
    const labelsOf = new Map(segmentRows.map((r) => [r.id, JSON.parse(r.labels) as string[]]));
    for (const id of segmentIds) forSegment.set(id, applying([...fieldLabels, ...(labelsOf.get(id) ?? [])]));
  }
  const counted = policies.filter(
    (p) => forAll.includes(p) || [...forSegment.values()].some((l) => l.includes(p)),
  );
  const requirements = counted.map(requirementOf);
  const tally = (applicable: readonly ConsentPolicy[]) => ({
    applicable,
    enabled: new Set(applicable.filter((p) => p.enabled).map((p) => p.id)),
    profiles: 0,
    consenting: 0,
    denied: new Map<string, number>(),
  });
  type Tally = ReturnType<typeof tally>;
  const all = tally(forAll);
  const counts = new Map(segmentIds.map((id) => [id, tally(forSegment.get(id)!)]));
  const count = (c: Tally, failed: ReadonlySet<string>) => {
    c.profiles += 1;
    if (![...c.enabled].some((id) => failed.has(id))) c.consenting += 1;
    for (const p of c.applicable) if (failed.has(p.id)) c.denied.set(p.id, (c.denied.get(p.id) ?? 0) + 1);
  };
  for (let after = 0; ;) {
    const rows = await db
      .selectFrom('engine_profiles')
      .select(['id', 'identities', 'segments'])
      .where('sandbox_id', '=', sandboxId)
      .where('id', '>', after)
      // Erased profiles (privacy requests) keep a row and nothing else: they are not known profiles.
      .where('profile_key', 'not like', `${ERASED_KEY_PREFIX}%`)
      .orderBy('id')
      .limit(PREVIEW_PAGE)
      .execute();
    for (const row of rows) {
      const values = JSON.parse(row.identities) as Record<string, string[]>;
      const failed = new Set(
        requirements.filter((r) => failedRequirement([r], values) !== null).map((r) => r.policyId),
      );
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
  const view = (c: Tally): ConsentCounts => ({
    profiles: c.profiles,
    consenting: c.consenting,
    denied: c.applicable.map((p) => ({ policyId: p.id, profiles: c.denied.get(p.id) ?? 0 })),
  });
  return {
    policies: counted,
    all: view(all),
    segments: [...counts].map(([segmentId, c]) => ({ segmentId, ...view(c) })),
  };
}
