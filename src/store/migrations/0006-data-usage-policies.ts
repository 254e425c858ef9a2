import type { Kysely, Migration } from 'kysely';

/** Data-usage policies of the sandbox's own, next to the core ones (JSON array; see `src/audience/governance.ts`). */
export const dataUsagePoliciesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('sandboxes')
      .addColumn('data_usage_policies', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('sandboxes').dropColumn('data_usage_policies').execute();
  },
};
