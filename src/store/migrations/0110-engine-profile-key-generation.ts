import type { Kysely, Migration } from 'kysely';

/**
 * The generation of the sandbox's profile key namespaces each profile was keyed (or last seen) under (migration
 * 0018): while a sandbox is re-keyed, profiles of an older generation are those not yet met under the new keys.
 * A constant default: no table rewrite on either backend.
 */
export const engineProfileKeyGenerationMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('engine_profiles')
      .addColumn('key_gen', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_profiles').dropColumn('key_gen').execute();
  },
};
