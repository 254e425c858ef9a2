import { planUserRequests } from '../xads/pack-user-changes.ts';
import type { UserChange, UserOperation } from '../xads/types.ts';
import { consentPolicies } from './consent-settings.ts';
import { loadSandboxContext } from './dataflow-context.ts';
import { EngineError } from './errors.ts';
import { pageLimit, readPendingPage, type PendingKey } from './delivery.ts';
import { planMemberChange } from './ledger-diff.ts';
import { removalDeletesAtX } from './lifecycle.ts';
import { deliveryOutlook } from './outlook.ts';
import type { NextDeliveryReason } from './schedule.ts';
import type { EngineRuntime } from './runtime.ts';
import { syncAudiences } from './sync.ts';

export type AudienceAction = 'create' | 'attach' | 'rename' | 'delete' | 'keep' | 'none';

export interface AudiencePlan {
  audienceId: string;
  segmentId: string;
  mappingName: string | null;
  action: AudienceAction;
  xAudienceId: string | null;
  xAudienceName: string | null;
  /** Members the next flush adds (or re-adds). */
  pendingAdds: number;
  /** Members the next flush removes identifiers of. */
  pendingRemoves: number;
  /** Users requests the next flush makes for this audience. */
  requests: number;
  /**
   * When the worker sends the waiting changes at the latest (epoch ms), by the rules of `GET /audiences`; null when
   * nothing waits, or the dataflow is not active (its changes wait until it is resumed).
   */
  nextDeliveryAt: number | null;
  nextDeliveryReason: NextDeliveryReason | null;
  /** The first request's body, cut to a few users per operation (hashes only). */
  samplePayload: UserOperation[] | null;
  /**
   * The consent policies switched on that a member must pass to be exported to this audience: those of the
   * destination's marketing actions, and those on labels of its segment or mapped fields.
   */
  consentPolicies: Array<{ id: string; name: string }>;
}

export interface DataflowPlan {
  dataflowId: string;
  status: string;
  audiences: AudiencePlan[];
  totals: {
    pendingAdds: number;
    pendingRemoves: number;
    requests: number;
    /** The earliest of the audiences' `nextDeliveryAt`. */
    nextDeliveryAt: number | null;
  };
}

const SAMPLE_USERS = 3;

/**
 * A dry run: what the next flush of the dataflow would do, computed from the ledger without calling X.
 *
 * @example
 * const plan = await planDataflow(rt, 'df_1');
 * plan.audiences.map((a) => `${a.action} ${a.mappingName}: +${a.pendingAdds} −${a.pendingRemoves} in ${a.requests} request(s)`);
 */
export async function planDataflow(
  rt: EngineRuntime,
  dataflowId: string,
  sandboxId?: string,
): Promise<DataflowPlan> {
  const db = rt.store.db;
  const flow = await db.selectFrom('dataflows').selectAll().where('id', '=', dataflowId).executeTakeFirst();
  if (!flow || (sandboxId !== undefined && flow.sandbox_id !== sandboxId)) {
    throw new EngineError(
      'not_found',
      `Dataflow ${dataflowId} does not exist${sandboxId ? ` in sandbox ${sandboxId}` : ''}`,
    );
  }
  await syncAudiences(rt, { sandboxId: flow.sandbox_id });
  const engineRows = await db
    .selectFrom('engine_audiences')
    .selectAll()
    .where('dataflow_id', '=', dataflowId)
    .where('lifecycle', '<>', 'removed')
    .execute();
  const live = new Map(
    (
      await db.selectFrom('dataflow_audiences').selectAll().where('dataflow_id', '=', dataflowId).execute()
    ).map((a) => [a.id, a]),
  );
  const context = await loadSandboxContext(db, flow.sandbox_id, rt.tuning.profileKeyNamespaces);
  const dataflow = context.dataflows.find((d) => d.id === dataflowId);
  const policyNames = new Map((await consentPolicies(rt, flow.sandbox_id)).map((p) => [p.id, p.name]));
  const outlook = await deliveryOutlook(
    rt,
    engineRows.map((ea) => ea.id),
  );
  const audiences: AudiencePlan[] = [];
  for (const ea of engineRows) {
    const da = live.get(ea.id);
    let action: AudienceAction = 'none';
    if (ea.lifecycle === 'removing') {
      action = removalDeletesAtX(ea, flow.on_audience_removal) ? 'delete' : 'keep';
    } else if (ea.x_audience_id === null) {
      action = da?.existing_x_audience_id ? 'attach' : 'create';
    } else if (ea.created_by_engine === 1 && da && ea.name_base !== da.mapping_name.trim()) {
      // Delivery names the X audience after the trimmed mapping name (see ensureXAudience).
      action = 'rename';
    }
    const plan: AudiencePlan = {
      audienceId: ea.id,
      segmentId: ea.segment_id,
      mappingName: da?.mapping_name ?? null,
      action,
      xAudienceId: ea.x_audience_id,
      xAudienceName: ea.x_audience_name,
      pendingAdds: 0,
      pendingRemoves: 0,
      requests: 0,
      // Null for an audience being removed: no delivery rule times it (the worker's next tick deletes it at X).
      nextDeliveryAt: outlook.get(ea.id)?.nextDeliveryAt ?? null,
      nextDeliveryReason: outlook.get(ea.id)?.nextDeliveryReason ?? null,
      samplePayload: null,
      consentPolicies: [],
    };
    const audience = dataflow?.audiences.find((a) => a.id === ea.id);
    if (dataflow && audience) {
      plan.consentPolicies = [...dataflow.consent, ...audience.extraConsent].map((r) => ({
        id: r.policyId,
        name: policyNames.get(r.policyId) ?? r.policyId,
      }));
    }
    if (ea.lifecycle !== 'removing') {
      const expiresAt = da?.ttl_days ? new Date(rt.now() + da.ttl_days * 86_400_000) : undefined;
      // As delivery does, a full page's last request is filled up by the next page before it counts.
      let carry: Array<{ member: string; change: UserChange }> = [];
      let after: PendingKey | null = null;
      for (;;) {
        const limit = pageLimit(rt.tuning.pageSize, new Set(carry.map((c) => c.member)).size);
        const page = await readPendingPage(db, ea.id, after, limit);
        const lastRow = page[page.length - 1];
        if (lastRow) after = { since: Number(lastRow.pending_since), member: lastRow.member };
        const removes: Array<{ member: string; change: UserChange }> = [];
        const adds: Array<{ member: string; change: UserChange }> = [];
        for (const row of page) {
          const change = planMemberChange({
            member: row.member,
            desired: row.desired,
            delivered: row.delivered,
            sent: row.sent,
            resend: row.resend === 1,
          });
          if (!change) continue;
          if (change.remove) {
            plan.pendingRemoves += 1;
            removes.push({ member: row.member, change: { operation: 'Delete', user: change.remove } });
          }
          if (change.add) {
            plan.pendingAdds += 1;
            adds.push({
              member: row.member,
              change: expiresAt
                ? { operation: 'Update', user: change.add, expiresAt }
                : { operation: 'Update', user: change.add },
            });
          }
        }
        const owned = [...carry, ...removes, ...adds];
        const { requests } = planUserRequests(
          owned.map((o) => o.change),
          { maxBytes: rt.tuning.requestMaxBytes },
        );
        const full = page.length === limit;
        const last = requests[requests.length - 1];
        carry = full && last ? last.changeIndexes.map((i) => owned[i]!) : [];
        plan.requests += full && last ? requests.length - 1 : requests.length;
        if (plan.samplePayload === null && requests[0]) {
          plan.samplePayload = requests[0].operations.map((op) => ({
            ...op,
            params: { ...op.params, users: op.params.users.slice(0, SAMPLE_USERS) },
          }));
        }
        if (!full) break;
      }
    }
    audiences.push(plan);
  }
  return {
    dataflowId,
    status: flow.status,
    audiences,
    totals: {
      pendingAdds: audiences.reduce((n, a) => n + a.pendingAdds, 0),
      pendingRemoves: audiences.reduce((n, a) => n + a.pendingRemoves, 0),
      requests: audiences.reduce((n, a) => n + a.requests, 0),
      nextDeliveryAt: audiences.reduce<number | null>(
        (min, a) =>
          a.nextDeliveryAt !== null && (min === null || a.nextDeliveryAt < min) ? a.nextDeliveryAt : min,
        null,
      ),
    },
  };
}
