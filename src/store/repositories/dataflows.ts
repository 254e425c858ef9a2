import type { Selectable } from 'kysely';
import { StoreError } from '../errors.ts';
import type { DataflowsTable } from '../schema/index.ts';
import { definedOnly, parseJson, type RepositoryContext } from './context.ts';

export type DataflowStatus = 'active' | 'paused' | 'failed' | 'deleted';
/** `x_cadence`: at most one add push and one remove push per audience per window, as X recommends. */
export type CadenceMode = 'off' | 'x_cadence';
/** What happens to the X audience when its segment is removed from the dataflow. */
export type AudienceRemovalAction = 'delete' | 'keep';

/** One mapping row as stored (the shape of the audience mapping model). */
export interface StoredMappingRow {
  sourceType: 'namespace' | 'attribute';
  source: string;
  target: string;
  applyTransformation: boolean;
}

export const MAX_BATCH_AGE_SECONDS = { default: 900, min: 60, max: 28_800 } as const;
export const DEFAULT_CADENCE_WINDOW_SECONDS = 6 * 3600;
/** The hours a dataflow may expect to go without profiles: up to 30 days. */
export const NO_DATA_ALERT_HOURS = { min: 1, max: 720 } as const;
export interface Dataflow {
  id: string;
  sandboxId: string;
  destinationId: string;
  name: string;
  description: string | null;
  mapping: StoredMappingRow[];
  maxBatchAgeSeconds: number;
  cadenceMode: CadenceMode;
  cadenceWindowSeconds: number;
  status: DataflowStatus;
  statusReason: string | null;
  onAudienceRemoval: AudienceRemovalAction;
  /** Hours without profiles before a `dataflow_no_data` alert fires; null: never. */
  noDataAlertHours: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface CreateDataflowInput {
  sandboxId: string;
  destinationId: string;
  name: string;
  description?: string | null;
  mapping: readonly StoredMappingRow[];
  maxBatchAgeSeconds?: number;
  cadenceMode?: CadenceMode;
  cadenceWindowSeconds?: number;
  status?: DataflowStatus;
  statusReason?: string | null;
  onAudienceRemoval?: AudienceRemovalAction;
  noDataAlertHours?: number | null;
}

export interface UpdateDataflowInput {
  name?: string;
  description?: string | null;
  mapping?: readonly StoredMappingRow[];
  maxBatchAgeSeconds?: number;
  cadenceMode?: CadenceMode;
  cadenceWindowSeconds?: number;
  status?: DataflowStatus;
  statusReason?: string | null;
  onAudienceRemoval?: AudienceRemovalAction;
  noDataAlertHours?: number | null;
}

const toDataflow = (row: Selectable<DataflowsTable>): Dataflow => ({
  id: row.id,
  sandboxId: row.sandbox_id,
  destinationId: row.destination_id,
  name: row.name,
  description: row.description,
  mapping: parseJson<StoredMappingRow[]>(row.mapping, 'dataflows.mapping'),
  maxBatchAgeSeconds: row.max_batch_age_seconds,
  cadenceMode: row.cadence_mode as CadenceMode,
  cadenceWindowSeconds: row.cadence_window_seconds,
  status: row.status as DataflowStatus,
  statusReason: row.status_reason,
  onAudienceRemoval: row.on_audience_removal as AudienceRemovalAction,
  noDataAlertHours: row.no_data_alert_hours ?? null,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

function checkPolicy(input: {
  maxBatchAgeSeconds?: number | undefined;
  cadenceWindowSeconds?: number | undefined;
  noDataAlertHours?: number | null | undefined;
}) {
  const hours = input.noDataAlertHours;
  if (
    hours !== undefined &&
    hours !== null &&
    (!Number.isInteger(hours) || hours < NO_DATA_ALERT_HOURS.min || hours > NO_DATA_ALERT_HOURS.max)
  ) {
    throw new StoreError('invalid_input', `noDataAlertHours must be an integer from 1 to 720, got ${hours}`, {
      details: { path: 'noDataAlertHours' },
    });
  }
  const age = input.maxBatchAgeSeconds;
  if (
    age !== undefined &&
    (!Number.isInteger(age) || age < MAX_BATCH_AGE_SECONDS.min || age > MAX_BATCH_AGE_SECONDS.max)
  ) {
    throw new StoreError(
      'invalid_input',
      `maxBatchAgeSeconds must be an integer from 60 to 28800, got ${age}`,
      {
        details: { path: 'maxBatchAgeSeconds' },
      },
    );
  }
  const window = input.cadenceWindowSeconds;
  if (window !== undefined && (!Number.isInteger(window) || window <= 0)) {
    throw new StoreError('invalid_input', `cadenceWindowSeconds must be a positive integer, got ${window}`, {
      details: { path: 'cadenceWindowSeconds' },
    });
  }
}

/** Dataflows: a destination, a mapping and an aggregation policy; their audiences live in `audiences`. */
export function dataflowRepository(ctx: RepositoryContext) {
  const get = async (sandboxId: string, id: string): Promise<Dataflow | undefined> => {
    const row = await ctx.db
      .selectFrom('dataflows')
      .selectAll()
      .where('sandbox_id', '=', sandboxId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toDataflow(row);
  };

  return {
    /** Creates a dataflow; a `not_found` StoreError if the destination is not in the same sandbox. */
    async create(input: CreateDataflowInput): Promise<Dataflow> {
      checkPolicy(input);
      const destination = await ctx.db
        .selectFrom('destinations')
        .select('id')
        .where('sandbox_id', '=', input.sandboxId)
        .where('id', '=', input.destinationId)
        .executeTakeFirst();
      if (!destination) {
        throw new StoreError(
          'not_found',
          `Destination ${input.destinationId} does not exist in sandbox ${input.sandboxId}`,
          {
            details: { path: 'destinationId' },
          },
        );
      }
      const now = ctx.now();
      const row = {
        id: ctx.newId('df'),
        sandbox_id: input.sandboxId,
        destination_id: input.destinationId,
        name: input.name,
        description: input.description ?? null,
        mapping: JSON.stringify(input.mapping),
        max_batch_age_seconds: input.maxBatchAgeSeconds ?? MAX_BATCH_AGE_SECONDS.default,
        cadence_mode: input.cadenceMode ?? 'off',
        cadence_window_seconds: input.cadenceWindowSeconds ?? DEFAULT_CADENCE_WINDOW_SECONDS,
        status: input.status ?? 'active',
        status_reason: input.statusReason ?? null,
        on_audience_removal: input.onAudienceRemoval ?? 'delete',
        no_data_alert_hours: input.noDataAlertHours ?? null,
        created_at: now,
        updated_at: now,
      };
      await ctx.db.insertInto('dataflows').values(row).execute();
      return toDataflow(row);
    },

    get,

    /** The sandbox's dataflows, oldest first; deleted ones only when asked. */
    async list(
      sandboxId: string,
      filter: { destinationId?: string; statuses?: readonly DataflowStatus[]; includeDeleted?: boolean } = {},
    ): Promise<Dataflow[]> {
      let query = ctx.db.selectFrom('dataflows').selectAll().where('sandbox_id', '=', sandboxId);
      if (filter.destinationId !== undefined)
        query = query.where('destination_id', '=', filter.destinationId);
      if (filter.statuses !== undefined) {
        if (filter.statuses.length === 0) return [];
        query = query.where('status', 'in', [...filter.statuses]);
      } else if (!filter.includeDeleted) {
        query = query.where('status', '<>', 'deleted');
      }
      const rows = await query.orderBy('created_at').orderBy('id').execute();
      return rows.map(toDataflow);
    },

    /** Dataflows in every sandbox with one of `statuses` (for delivery workers, which serve all sandboxes). */
    async listAcrossSandboxes(statuses: readonly DataflowStatus[]): Promise<Dataflow[]> {
      if (statuses.length === 0) return [];
      const rows = await ctx.db
        .selectFrom('dataflows')
        .selectAll()
        .where('status', 'in', [...statuses])
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toDataflow);
    },

    async update(sandboxId: string, id: string, patch: UpdateDataflowInput): Promise<Dataflow | undefined> {
      checkPolicy(patch);
      const values = definedOnly({
        name: patch.name,
        description: patch.description,
        mapping: patch.mapping && JSON.stringify(patch.mapping),
        max_batch_age_seconds: patch.maxBatchAgeSeconds,
        cadence_mode: patch.cadenceMode,
        cadence_window_seconds: patch.cadenceWindowSeconds,
        status: patch.status,
        status_reason: patch.statusReason,
        on_audience_removal: patch.onAudienceRemoval,
        no_data_alert_hours: patch.noDataAlertHours,
      });
      const result = await ctx.db
        .updateTable('dataflows')
        .set({ ...values, updated_at: ctx.now() })
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n ? get(sandboxId, id) : undefined;
    },

    /**
     * Removes the row and its audiences. To retire a dataflow while its X audiences are cleaned up, set status
     * `deleted` with `update` instead.
     */
    async delete(sandboxId: string, id: string): Promise<boolean> {
      const result = await ctx.db
        .deleteFrom('dataflows')
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}

export type DataflowRepository = ReturnType<typeof dataflowRepository>;
