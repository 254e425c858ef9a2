import { sql, SqliteAdapter, type Kysely, type Migration } from 'kysely';

/**
 * `engine_profile_aliases (sandbox_id, alias_prefix, alias, profile_id)`: the keys of a profile's ids in the key
 * namespaces other than the one its key came from (a CRM id beside the ECID that keys it; a second ECID), as
 * `profile_key` would hold them, with their `hashPrefix`. An export keyed by such an id alone (the CRM id without
 * the ECID) finds the profiles that carried it, which leave the segments it states; a privacy request that names the
 * id finds them too. Written as exports carrying several ids arrive: a store made before holds none until then.
 */
export const engineProfileAliasesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
    const create = db.schema
      .createTable('engine_profile_aliases')
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('alias_prefix', 'bigint', (c) => c.notNull())
      .addColumn('alias', 'text', (c) => c.notNull())
      .addColumn('profile_id', 'bigint', (c) => c.notNull());
    await (sqlite ? create.modifyEnd(sql`without rowid`) : create)
      .addPrimaryKeyConstraint('engine_profile_aliases_pk', [
        'sandbox_id',
        'alias_prefix',
        'alias',
        'profile_id',
      ])
      .execute();
    // An erased profile's aliases go with it.
    await db.schema
      .createIndex('engine_profile_aliases_profile')
      .on('engine_profile_aliases')
      .column('profile_id')
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('engine_profile_aliases').execute();
  },
};
