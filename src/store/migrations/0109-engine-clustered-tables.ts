import { sql, SqliteAdapter, type Kysely, type Migration } from 'kysely';

/**
 * On SQLite, the ledger and the mirror-import bookkeeping become WITHOUT ROWID tables, clustered on their primary
 * key, as 0100 meant them to be. 0100 told SQLite apart by its lack of transactional DDL, which the store's SQLite
 * dialect has, so both were made as rowid tables with a separate key index: every insert wrote two B-trees, and every
 * ledger update found its row through the index first. Clustered, an insert writes one and an update finds its row
 * directly. The rows are copied as they are; the partial indexes are made again. PostgreSQL is unchanged.
 */
export const engineClusteredTablesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return;
    const clustered = async (name: string): Promise<boolean> => {
      const { rows } = await sql<{ sql: string }>`
        select sql from sqlite_master where type = 'table' and name = ${name}`.execute(db);
      return /without\s+rowid\s*$/i.test(rows[0]?.sql ?? '');
    };

    if (!(await clustered('engine_ledger'))) {
      await sql`create table engine_ledger_clustered (
          audience_id text not null,
          member text not null,
          desired text,
          delivered text,
          sent text,
          pending integer default 0 not null,
          pending_since bigint,
          resend integer default 0 not null,
          expires_at bigint,
          dead text,
          updated_at bigint not null,
          constraint engine_ledger_pk primary key (audience_id, member)
        ) without rowid`.execute(db);
      await sql`insert into engine_ledger_clustered
          (audience_id, member, desired, delivered, sent, pending, pending_since, resend, expires_at, dead, updated_at)
        select audience_id, member, desired, delivered, sent, pending, pending_since, resend, expires_at, dead, updated_at
        from engine_ledger`.execute(db);
      await sql`drop table engine_ledger`.execute(db);
      await sql`alter table engine_ledger_clustered rename to engine_ledger`.execute(db);
      await sql`create index engine_ledger_pending on engine_ledger (audience_id, pending_since, member)
        where pending = 1`.execute(db);
      await sql`create index engine_ledger_expiry on engine_ledger (audience_id, expires_at)
        where expires_at is not null`.execute(db);
    }

    if (!(await clustered('engine_import_seen'))) {
      await sql`create table engine_import_seen_clustered (
          import_id text not null,
          profile_key text not null,
          constraint engine_import_seen_pk primary key (import_id, profile_key)
        ) without rowid`.execute(db);
      await sql`insert into engine_import_seen_clustered (import_id, profile_key)
        select import_id, profile_key from engine_import_seen`.execute(db);
      await sql`drop table engine_import_seen`.execute(db);
      await sql`alter table engine_import_seen_clustered rename to engine_import_seen`.execute(db);
    }
  },

  async down() {
    // A clustered table holds the same rows and answers the same queries: nothing to undo.
  },
};
