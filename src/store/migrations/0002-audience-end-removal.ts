import type { Kysely, Migration } from 'kysely';

/** An activated audience may ask for its members to be removed from the X audience when its end date passes. */
export const audienceEndRemovalMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('dataflow_audiences')
      .addColumn('remove_members_at_end', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('dataflow_audiences').dropColumn('remove_members_at_end').execute();
  },
};
