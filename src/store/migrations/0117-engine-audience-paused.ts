import type { Kysely, Migration } from 'kysely';

/** When the engine found an audience out of its schedule, to bring it up to date when it resumes; null otherwise. */
export const engineAudiencePausedMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_audiences').addColumn('paused_at', 'bigint').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_audiences').dropColumn('paused_at').execute();
  },
};
