import { sql, SqliteAdapter, type Kysely, type Migration } from 'kysely';
import { hashPrefix } from '../hash-prefix.ts';

/**
 * Hash-keyed indexes become integer-keyed. Profile keys and identifier keys are 64-digit hashes, so every new entry
 * lands on a random index page, and a commit of N entries rewrites about N pages. Keyed by a 52-bit integer prefix of
 * the hash, each index is several times smaller, so a commit rewrites far fewer bytes.
 *
 * - `engine_member_idents` replaces `engine_delivered_ids`: (audience, identifier prefix, member). A prefix shared by
 *   two identifiers only adds a member to a removal's unit, which re-sends it: harmless, never a lost member. Rows are
 *   deleted by their full key (the member's previous delivered identifiers), so the member index goes. An audience's
 *   index is built at its first removal (`engine_audiences.idents_indexed`), so initial loads do not write it.
 * - On SQLite, profiles are found through `key_prefix` (not unique; the lookup compares the full key) instead of a
 *   unique index on the key text. SQLite has one writer at a time, which looks a key up and inserts it in the same
 *   transaction. PostgreSQL keeps its unique index: concurrent workers insert with `on conflict`.
 */
export const engineCompactIndexesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
    const create = db.schema
      .createTable('engine_member_idents')
      .addColumn('audience_id', 'text', (c) => c.notNull())
      .addColumn('ident', 'bigint', (c) => c.notNull())
      .addColumn('member', 'text', (c) => c.notNull());
    await (sqlite ? create.modifyEnd(sql`without rowid`) : create)
      .addPrimaryKeyConstraint('engine_member_idents_pk', ['audience_id', 'ident', 'member'])
      .execute();
    const page = 5000;
    type IdentRow = { audience_id: string; ident: string; member: string };
    let after: IdentRow | null = null;
    for (;;) {
      const from: IdentRow | null = after;
      const result: { rows: IdentRow[] } = await sql<IdentRow>`
        select audience_id, ident, member from engine_delivered_ids
        ${from ? sql`where (audience_id, ident, member) > (${from.audience_id}, ${from.ident}, ${from.member})` : sql``}
        order by audience_id, ident, member limit ${page}`.execute(db);
      const rows = result.rows;
      if (rows.length > 0) {
        await sql`insert into engine_member_idents (audience_id, ident, member) values ${sql.join(
          rows.map((r) => sql`(${r.audience_id}, ${hashPrefix(r.ident)}, ${r.member})`),
        )} on conflict do nothing`.execute(db);
      }
      if (rows.length < page) break;
      after = rows[rows.length - 1]!;
    }
    await db.schema.dropTable('engine_delivered_ids').execute();
    // Built lazily from now on (see `idents_indexed`); the audiences that exist already have theirs, migrated above.
    await db.schema
      .alterTable('engine_audiences')
      .addColumn('idents_indexed', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await sql`update engine_audiences set idents_indexed = 1`.execute(db);

    if (sqlite) {
      await sql`alter table engine_profiles add column key_prefix integer not null default 0`.execute(db);
      for (let after = 0; ;) {
        const { rows } = await sql<{ id: number; profile_key: string }>`
          select id, profile_key from engine_profiles where id > ${after} order by id limit ${page}`.execute(
          db,
        );
        for (const row of rows) {
          await sql`update engine_profiles set key_prefix = ${hashPrefix(row.profile_key)} where id = ${row.id}`.execute(
            db,
          );
        }
        if (rows.length < page) break;
        after = rows[rows.length - 1]!.id;
      }
      await db.schema.dropIndex('engine_profiles_key').execute();
      await db.schema
        .createIndex('engine_profiles_key_prefix')
        .on('engine_profiles')
        .column('key_prefix')
        .execute();
    }
  },

  async down() {
    throw new Error(
      '0106-engine-compact-indexes cannot be undone: restore a backup taken before the upgrade',
    );
  },
};
