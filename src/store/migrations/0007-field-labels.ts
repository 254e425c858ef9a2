import type { Kysely, Migration } from 'kysely';

/** Data-usage labels on the fields a mapping exports (JSON array; see `src/audience/governance.ts`). */
export const fieldLabelsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('sandboxes')
      .addColumn('field_labels', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('sandboxes').dropColumn('field_labels').execute();
  },
};
