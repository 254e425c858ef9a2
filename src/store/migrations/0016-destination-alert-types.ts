import type { Kysely, Migration } from 'kysely';

/**
 * Which alert types a destination's own targets (its webhook, PagerDuty key and email recipients) receive: a JSON
 * array of types (`src/server/alerts.ts`), or null for every type. The installation's targets receive every type.
 */
export const destinationAlertTypesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('destinations').addColumn('alert_types', 'text').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('destinations').dropColumn('alert_types').execute();
  },
};
