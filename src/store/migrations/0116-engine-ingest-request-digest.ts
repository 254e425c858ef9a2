import type { Kysely, Migration } from 'kysely';

/**
 * A digest of what each ingest request carried (SHA-256 of its decoded body): a request id sent again with other
 * content is refused instead of answered with the first result. Null for requests accepted before it; those match
 * whatever is sent under their id.
 */
export const engineIngestRequestDigestMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_ingest_requests').addColumn('digest', 'text').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_ingest_requests').dropColumn('digest').execute();
  },
};
