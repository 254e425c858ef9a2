import type { Kysely, Migration } from 'kysely';

/**
 * A destination's own alert email recipients (see `src/server/alerts.ts`): its alerts are emailed to them as well as
 * to the installation's. JSON array of addresses; `[]` for none.
 */
export const destinationAlertEmailsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('destinations')
      .addColumn('alert_email_to', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('destinations').dropColumn('alert_email_to').execute();
  },
};
