import type { Kysely, Migration } from 'kysely';

/**
 * A destination's own PagerDuty routing key: its alerts also open incidents in the service of the team that owns it,
 * besides the installation's (TCA_ALERT_PAGERDUTY_ROUTING_KEY). Sealed like credentials (see `sealed-columns.ts`).
 */
export const destinationPagerDutyKeyMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('destinations').addColumn('alert_pagerduty_key', 'text').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('destinations').dropColumn('alert_pagerduty_key').execute();
  },
};
