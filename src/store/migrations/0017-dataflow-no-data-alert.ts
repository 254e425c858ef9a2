import type { Kysely, Migration } from 'kysely';

/**
 * How many hours a dataflow may go without receiving profiles before a `dataflow_no_data` alert fires
 * (`src/server/alerts.ts`); null: it never does.
 */
export const dataflowNoDataAlertMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('dataflows').addColumn('no_data_alert_hours', 'integer').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('dataflows').dropColumn('no_data_alert_hours').execute();
  },
};
