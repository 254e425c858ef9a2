import type { Selectable } from 'kysely';
import { isUniqueViolation, StoreError } from '../errors.ts';
import type { SegmentsTable } from '../schema/index.ts';
import { definedOnly, parseJson, type RepositoryContext } from './context.ts';

/** AEP's Segmentation Service namespace: the only people audiences this destination accepts. */
export const DEFAULT_SEGMENT_NAMESPACE = 'ups';

export interface Segment {
  sandboxId: string;
  /** The source's segment id. */
  id: string;
  namespace: string;
  name: string;
  description: string | null;
  sizeEstimate: number | null;
  /** Data-usage labels (upper case), checked against destinations' marketing actions at activation. */
  labels: string[];
  createdAt: number;
  updatedAt: number;
}

export interface SegmentInput {
  sandboxId: string;
  id: string;
  namespace?: string;
  name: string;
  description?: string | null;
  sizeEstimate?: number | null;
  labels?: readonly string[];
}

export interface UpdateSegmentInput {
  namespace?: string;
  name?: string;
  description?: string | null;
  sizeEstimate?: number | null;
  labels?: readonly string[];
}

const toSegment = (row: Selectable<SegmentsTable>): Segment => ({
  sandboxId: row.sandbox_id,
  id: row.id,
  namespace: row.namespace,
  name: row.name,
  description: row.description,
  sizeEstimate: row.size_estimate,
  labels: parseJson<string[]>(row.labels, 'segments.labels'),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Segments (source audiences), keyed by the source's id within a sandbox. */
export function segmentRepository(ctx: RepositoryContext) {
  const get = async (sandboxId: string, id: string): Promise<Segment | undefined> => {
    const row = await ctx.db
      .selectFrom('segments')
      .selectAll()
      .where('sandbox_id', '=', sandboxId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toSegment(row);
  };

  const row = (input: SegmentInput, now: number) => ({
    sandbox_id: input.sandboxId,
    id: input.id,
    namespace: input.namespace ?? DEFAULT_SEGMENT_NAMESPACE,
    name: input.name,
    description: input.description ?? null,
    size_estimate: input.sizeEstimate ?? null,
    labels: JSON.stringify(input.labels ?? []),
    created_at: now,
    updated_at: now,
  });

  return {
    /** Creates a segment; a `conflict` StoreError if the id exists in this sandbox. */
    async create(input: SegmentInput): Promise<Segment> {
      const values = row(input, ctx.now());
      try {
        await ctx.db.insertInto('segments').values(values).execute();
      } catch (cause) {
        if (isUniqueViolation(cause)) {
          throw new StoreError(
            'conflict',
            `Segment ${input.id} already exists in sandbox ${input.sandboxId}`,
            { cause },
          );
        }
        throw cause;
      }
      return toSegment(values);
    },

    /** Creates the segment or updates its fields (keeping `createdAt`), in one statement. */
    async upsert(input: SegmentInput): Promise<Segment> {
      const values = row(input, ctx.now());
      await ctx.db
        .insertInto('segments')
        .values(values)
        .onConflict((oc) =>
          oc.columns(['sandbox_id', 'id']).doUpdateSet((eb) => ({
            namespace: eb.ref('excluded.namespace'),
            name: eb.ref('excluded.name'),
            description: eb.ref('excluded.description'),
            size_estimate: eb.ref('excluded.size_estimate'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
      const stored = await get(input.sandboxId, input.id);
      if (!stored) throw new StoreError('not_found', `Segment ${input.id} vanished after upsert`);
      return stored;
    },

    get,

    /** Segments of a sandbox, optionally of one namespace, ordered by id. */
    async list(
      sandboxId: string,
      filter: { namespace?: string; ids?: readonly string[] } = {},
    ): Promise<Segment[]> {
      let query = ctx.db.selectFrom('segments').selectAll().where('sandbox_id', '=', sandboxId);
      if (filter.namespace !== undefined) query = query.where('namespace', '=', filter.namespace);
      if (filter.ids !== undefined) {
        if (filter.ids.length === 0) return [];
        query = query.where('id', 'in', [...filter.ids]);
      }
      const rows = await query.orderBy('id').execute();
      return rows.map(toSegment);
    },

    async update(sandboxId: string, id: string, patch: UpdateSegmentInput): Promise<Segment | undefined> {
      const values = definedOnly({
        namespace: patch.namespace,
        name: patch.name,
        description: patch.description,
        size_estimate: patch.sizeEstimate,
        labels: patch.labels && JSON.stringify([...patch.labels]),
      });
      const result = await ctx.db
        .updateTable('segments')
        .set({ ...values, updated_at: ctx.now() })
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n ? get(sandboxId, id) : undefined;
    },

    async delete(sandboxId: string, id: string): Promise<boolean> {
      const result = await ctx.db
        .deleteFrom('segments')
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}

export type SegmentRepository = ReturnType<typeof segmentRepository>;
