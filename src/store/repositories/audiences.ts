import type { Selectable } from 'kysely';
import { StoreError } from '../errors.ts';
import type { DataflowAudiencesTable } from '../schema/index.ts';
import { definedOnly, parseJsonOrNull, type RepositoryContext } from './context.ts';

/**
 * Lifecycle of an activated audience: `pending_create` until its X audience exists (or is attached), `renaming` while
 * a new mapping name is pushed, `ended` after its end date, `removing` → `removed` when taken off the dataflow.
 */
export type AudienceState = 'pending_create' | 'active' | 'renaming' | 'ended' | 'removing' | 'removed';

/** Whether the audience is still part of its dataflow (not being removed from it, nor removed). */
export const isActivated = (audience: { state: AudienceState }): boolean =>
  audience.state !== 'removing' && audience.state !== 'removed';

/** An activated audience: one segment of a dataflow, and the X audience it maps to. */
export interface Audience {
  id: string;
  sandboxId: string;
  dataflowId: string;
  segmentId: string;
  mappingName: string;
  startDate: number;
  endDate: number | null;
  /** An X audience to attach to instead of creating one. */
  existingXAudienceId: string | null;
  /** Membership TTL in days; null means X's default expiry. */
  ttlDays: number | null;
  /** Remove every member from the X audience when the end date passes (otherwise they stay). */
  removeMembersAtEnd: boolean;
  xAudienceId: string | null;
  /** The name X holds (may carry a suffix such as ` (2)` when the mapping name was taken). */
  xAudienceName: string | null;
  state: AudienceState;
  audienceSize: number | null;
  targetable: boolean | null;
  reasonsNotTargetable: string[] | null;
  healthCheckedAt: number | null;
  lastDeliveryAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface CreateAudienceInput {
  sandboxId: string;
  dataflowId: string;
  segmentId: string;
  mappingName: string;
  startDate: number;
  endDate?: number | null;
  existingXAudienceId?: string | null;
  ttlDays?: number | null;
  removeMembersAtEnd?: boolean;
  state?: AudienceState;
}

export interface UpdateAudienceInput {
  mappingName?: string;
  startDate?: number;
  endDate?: number | null;
  ttlDays?: number | null;
  removeMembersAtEnd?: boolean;
  xAudienceId?: string | null;
  xAudienceName?: string | null;
  state?: AudienceState;
  lastDeliveryAt?: number | null;
}

export interface AudienceHealth {
  audienceSize: number | null;
  targetable: boolean | null;
  reasonsNotTargetable: readonly string[] | null;
  checkedAt: number;
}

const toAudience = (row: Selectable<DataflowAudiencesTable>): Audience => ({
  id: row.id,
  sandboxId: row.sandbox_id,
  dataflowId: row.dataflow_id,
  segmentId: row.segment_id,
  mappingName: row.mapping_name,
  startDate: row.start_date,
  endDate: row.end_date,
  existingXAudienceId: row.existing_x_audience_id,
  ttlDays: row.ttl_days,
  removeMembersAtEnd: row.remove_members_at_end === 1,
  xAudienceId: row.x_audience_id,
  xAudienceName: row.x_audience_name,
  state: row.state as AudienceState,
  audienceSize: row.audience_size,
  targetable: row.targetable === null ? null : row.targetable !== 0,
  reasonsNotTargetable: parseJsonOrNull<string[]>(
    row.reasons_not_targetable,
    'dataflow_audiences.reasons_not_targetable',
  ),
  healthCheckedAt: row.health_checked_at,
  lastDeliveryAt: row.last_delivery_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

function checkTtl(ttlDays: number | null | undefined) {
  if (ttlDays !== undefined && ttlDays !== null && (!Number.isInteger(ttlDays) || ttlDays <= 0)) {
    throw new StoreError('invalid_input', `ttlDays must be a positive integer, got ${ttlDays}`, {
      details: { path: 'ttlDays' },
    });
  }
}

/** Activated audiences (table `dataflow_audiences`), scoped by sandbox like every repository. */
export function audienceRepository(ctx: RepositoryContext) {
  const get = async (sandboxId: string, id: string): Promise<Audience | undefined> => {
    const row = await ctx.db
      .selectFrom('dataflow_audiences')
      .selectAll()
      .where('sandbox_id', '=', sandboxId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toAudience(row);
  };

  return {
    /** Activates a segment on a dataflow; a `not_found` StoreError if the dataflow is not in the same sandbox. */
    async create(input: CreateAudienceInput): Promise<Audience> {
      checkTtl(input.ttlDays);
      const dataflow = await ctx.db
        .selectFrom('dataflows')
        .select('id')
        .where('sandbox_id', '=', input.sandboxId)
        .where('id', '=', input.dataflowId)
        .executeTakeFirst();
      if (!dataflow) {
        throw new StoreError(
          'not_found',
          `Dataflow ${input.dataflowId} does not exist in sandbox ${input.sandboxId}`,
          {
            details: { path: 'dataflowId' },
          },
        );
      }
      const now = ctx.now();
      const row = {
        id: ctx.newId('aud'),
        sandbox_id: input.sandboxId,
        dataflow_id: input.dataflowId,
        segment_id: input.segmentId,
        mapping_name: input.mappingName,
        start_date: input.startDate,
        end_date: input.endDate ?? null,
        existing_x_audience_id: input.existingXAudienceId ?? null,
        ttl_days: input.ttlDays ?? null,
        remove_members_at_end: input.removeMembersAtEnd === true ? 1 : 0,
        x_audience_id: null,
        x_audience_name: null,
        state: input.state ?? 'pending_create',
        audience_size: null,
        targetable: null,
        reasons_not_targetable: null,
        health_checked_at: null,
        last_delivery_at: null,
        created_at: now,
        updated_at: now,
      };
      await ctx.db.insertInto('dataflow_audiences').values(row).execute();
      return toAudience(row);
    },

    get,

    /** The sandbox's audiences, optionally filtered, oldest first. */
    async list(
      sandboxId: string,
      filter: { dataflowId?: string; segmentIds?: readonly string[]; states?: readonly AudienceState[] } = {},
    ): Promise<Audience[]> {
      let query = ctx.db.selectFrom('dataflow_audiences').selectAll().where('sandbox_id', '=', sandboxId);
      if (filter.dataflowId !== undefined) query = query.where('dataflow_id', '=', filter.dataflowId);
      if (filter.segmentIds !== undefined) {
        if (filter.segmentIds.length === 0) return [];
        query = query.where('segment_id', 'in', [...filter.segmentIds]);
      }
      if (filter.states !== undefined) {
        if (filter.states.length === 0) return [];
        query = query.where('state', 'in', [...filter.states]);
      }
      const rows = await query.orderBy('created_at').orderBy('id').execute();
      return rows.map(toAudience);
    },

    async update(sandboxId: string, id: string, patch: UpdateAudienceInput): Promise<Audience | undefined> {
      checkTtl(patch.ttlDays);
      const values = definedOnly({
        mapping_name: patch.mappingName,
        start_date: patch.startDate,
        end_date: patch.endDate,
        ttl_days: patch.ttlDays,
        remove_members_at_end:
          patch.removeMembersAtEnd === undefined ? undefined : patch.removeMembersAtEnd ? 1 : 0,
        x_audience_id: patch.xAudienceId,
        x_audience_name: patch.xAudienceName,
        state: patch.state,
        last_delivery_at: patch.lastDeliveryAt,
      });
      const result = await ctx.db
        .updateTable('dataflow_audiences')
        .set({ ...values, updated_at: ctx.now() })
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n ? get(sandboxId, id) : undefined;
    },

    /** Stores the latest health poll of the X audience. */
    async recordHealth(sandboxId: string, id: string, health: AudienceHealth): Promise<boolean> {
      const result = await ctx.db
        .updateTable('dataflow_audiences')
        .set({
          audience_size: health.audienceSize,
          targetable: health.targetable === null ? null : health.targetable ? 1 : 0,
          reasons_not_targetable:
            health.reasonsNotTargetable && JSON.stringify([...health.reasonsNotTargetable]),
          health_checked_at: health.checkedAt,
          updated_at: ctx.now(),
        })
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async delete(sandboxId: string, id: string): Promise<boolean> {
      const result = await ctx.db
        .deleteFrom('dataflow_audiences')
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}

export type AudienceRepository = ReturnType<typeof audienceRepository>;
