import type { Kysely, Migration } from 'kysely';

/**
 * The sandbox's profile key generation an import's first batch was keyed under. A mirror import resumed after a
 * re-keying began or ended writes its later batches under other keys than its earlier ones, so it must not remove
 * the members it did not meet: a profile another source moved to its new key meanwhile would look absent. Null for
 * imports begun before this was kept (they resume as before).
 */
export const engineImportKeyGenerationMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_imports').addColumn('key_gen', 'integer').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_imports').dropColumn('key_gen').execute();
  },
};
