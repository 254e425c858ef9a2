import type { Kysely, Migration } from 'kysely';

/** When the engine last removed an ended audience's members (for `remove_members_at_end`); null when it has not. */
export const engineAudienceEndClearedMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_audiences').addColumn('end_cleared_at', 'bigint').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_audiences').dropColumn('end_cleared_at').execute();
  },
};
