import type { Kysely, Migration } from 'kysely';

/**
 * Alert state and the webhook outbox (see `src/server/alerts.ts`). The state of each alert condition outlives the
 * process, so a restart or a second worker neither fires a condition again nor misses that it cleared; notifications
 * wait in the outbox until their webhook accepts them.
 */
export const alertsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('alert_states')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('dataflow_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('alert', 'text', (c) => c.notNull())
      .addColumn('urls', 'text', (c) => c.notNull())
      .addColumn('fired_at', 'bigint', (c) => c.notNull())
      .addColumn('resolved_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('alert_states_sandbox')
      .on('alert_states')
      .columns(['sandbox_id', 'fired_at'])
      .execute();
    await db.schema
      .createTable('alert_outbox')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('last_error', 'text')
      .execute();
    await db.schema
      .createIndex('alert_outbox_due')
      .on('alert_outbox')
      .columns(['next_attempt_at', 'id'])
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('alert_outbox').execute();
    await db.schema.dropTable('alert_states').execute();
  },
};
