import type { Kysely, Migration } from 'kysely';

/**
 * Re-keying a sandbox that holds profiles (`src/engine/identity-settings.ts`): `profile_key_generation` counts the
 * changes of its profile key namespaces (profiles record the generation they were keyed under, migration 0110), and
 * `profile_key_rekey` is the re-keying in progress, JSON `{ from, since }` (the namespaces before, epoch ms), or null.
 */
export const sandboxProfileRekeyMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('sandboxes')
      .addColumn('profile_key_generation', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('sandboxes').addColumn('profile_key_rekey', 'text').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('sandboxes').dropColumn('profile_key_rekey').execute();
    await db.schema.alterTable('sandboxes').dropColumn('profile_key_generation').execute();
  },
};
