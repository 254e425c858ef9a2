import type { Kysely, Migration } from 'kysely';

/** When "Activate now" last queued every member of an audience for sending again (at most once per 24 hours). */
export const engineAudienceResendMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_audiences').addColumn('resend_requested_at', 'bigint').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_audiences').dropColumn('resend_requested_at').execute();
  },
};
