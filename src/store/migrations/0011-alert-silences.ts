import type { Kysely, Migration } from 'kysely';

/**
 * Alert silences (see `src/server/alerts.ts`): for a time window, alerts of a sandbox (of one dataflow, of one type,
 * or all) are recorded and listed but not sent. `alert_states.notified` says whether an alert's firing notification
 * was queued, so its resolution goes out only when the firing one did, and a silence that ends while the alert still
 * fires sends it then. `alert_states.last_notified_at` times the reminders of critical alerts still firing.
 */
export const alertSilencesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('alert_silences')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('dataflow_id', 'text')
      .addColumn('type', 'text')
      .addColumn('starts_at', 'bigint', (c) => c.notNull())
      .addColumn('ends_at', 'bigint', (c) => c.notNull())
      .addColumn('comment', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('alert_silences_sandbox')
      .on('alert_silences')
      .columns(['sandbox_id', 'ends_at'])
      .execute();
    await db.schema
      .alterTable('alert_states')
      .addColumn('notified', 'integer', (c) => c.notNull().defaultTo(1))
      .execute();
    // When its firing notification, or the latest reminder of it, was queued (null: never, or before this column).
    await db.schema.alterTable('alert_states').addColumn('last_notified_at', 'bigint').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('alert_states').dropColumn('last_notified_at').execute();
    await db.schema.alterTable('alert_states').dropColumn('notified').execute();
    await db.schema.dropTable('alert_silences').execute();
  },
};
