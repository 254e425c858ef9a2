import type { Kysely, Migration } from 'kysely';

/**
 * Acknowledged alerts (see `src/server/alerts.ts`): someone is on it. An acknowledged alert still fires and is still
 * resolved when its condition clears, but is not sent again as a reminder, and PagerDuty's incident is acknowledged.
 */
export const alertAcknowledgementsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('alert_states').addColumn('acknowledged_at', 'bigint').execute();
    await db.schema.alterTable('alert_states').addColumn('acknowledged_by', 'text').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('alert_states').dropColumn('acknowledged_by').execute();
    await db.schema.alterTable('alert_states').dropColumn('acknowledged_at').execute();
  },
};
