import type { Kysely, Migration } from 'kysely';

/** Segments carry data-usage labels (JSON array; see `src/audience/governance.ts`), checked at activation. */
export const segmentLabelsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('segments')
      .addColumn('labels', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('segments').dropColumn('labels').execute();
  },
};
