import { sql, PostgresAdapter, type Kysely, type Migration } from 'kysely';

/**
 * On PostgreSQL a write-ahead row's members (up to X's 5 MB request body, written before the request and deleted
 * after it) are stored out of line without compression: compressing them took about a sixth of a second per full
 * request, for a row that lives as long as the request. SQLite never compresses.
 */
export const engineInflightUncompressedMigration: Migration = {
  async up(db: Kysely<unknown>) {
    if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
    await sql`alter table engine_inflight alter column members set storage external`.execute(db);
  },

  async down(db: Kysely<unknown>) {
    if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
    await sql`alter table engine_inflight alter column members set storage extended`.execute(db);
  },
};
