import type { Kysely, Migration } from 'kysely';

/**
 * One write-ahead row per users request in flight (replacing an update of every member's ledger row before each
 * request): the members of the request's units and the users it adds. The commit after X's answer deletes it; a row
 * still there (a crash, a failed commit) is applied to the ledger before the audience is delivered again.
 */
export const engineInflightMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('engine_inflight')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('audience_id', 'text', (c) => c.notNull())
      .addColumn('members', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('engine_inflight_audience')
      .on('engine_inflight')
      .column('audience_id')
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('engine_inflight').ifExists().execute();
  },
};
