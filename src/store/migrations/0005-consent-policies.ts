import type { Kysely, Migration } from 'kysely';

/** Consent policies belong to the sandbox (JSON array; see `src/audience/consent.ts`), none at first. */
export const consentPoliciesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('sandboxes')
      .addColumn('consent_policies', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('sandboxes').dropColumn('consent_policies').execute();
  },
};
