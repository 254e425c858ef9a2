import { SqliteAdapter, type Kysely, type Migration } from 'kysely';

/**
 * `engine_profile_aliases (sandbox_id, profile_id, alias, alias_prefix)`: the keys of a profile's ids in the key
 * namespaces other than the one its key came from (a CRM id beside the ECID that keys it; a second ECID), as
 * `profile_key` would hold them, with their `hashPrefix`. An export keyed by such an id alone (the CRM id without
 * the ECID) finds the profiles that carried it, which leave the segments it states; a privacy request that names the
 * id finds them too. Written as exports carrying several ids arrive: a store made before holds none until then.
 *
 * On SQLite the rows and their `(profile_id, alias)` index grow at their ends as new profiles arrive (ids in arrival
 * order); only the `(sandbox_id, alias_prefix)` index, a few bytes an entry, takes them at random, so an import
 * rewrites few pages for them (as `engine_profiles.key_prefix`, migration 0106). PostgreSQL keys them by the alias.
 */
export const engineProfileAliasesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
    const create = db.schema
      .createTable('engine_profile_aliases')
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('profile_id', 'bigint', (c) => c.notNull())
      .addColumn('alias', 'text', (c) => c.notNull())
      .addColumn('alias_prefix', 'bigint', (c) => c.notNull());
    if (sqlite) {
      await create.execute();
      await db.schema
        .createIndex('engine_profile_aliases_alias')
        .on('engine_profile_aliases')
        .columns(['sandbox_id', 'alias_prefix'])
        .execute();
    } else {
      await create
        .addPrimaryKeyConstraint('engine_profile_aliases_pk', [
          'sandbox_id',
          'alias_prefix',
          'alias',
          'profile_id',
        ])
        .execute();
    }
    // One row per profile and alias; an erased profile's aliases go with it.
    await db.schema
      .createIndex('engine_profile_aliases_profile')
      .on('engine_profile_aliases')
      .columns(['profile_id', 'alias'])
      .unique()
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('engine_profile_aliases').execute();
  },
};
