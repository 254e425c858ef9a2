import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Only delivered members have an expiry: a partial index leaves undelivered rows out, so ingest no longer writes it.
 * The refresh query states `expires_at is not null`, which lets both backends use the partial index.
 */
export const engineLedgerExpiryIndexMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.dropIndex('engine_ledger_expiry').ifExists().execute();
    await db.schema
      .createIndex('engine_ledger_expiry')
      .on('engine_ledger')
      .columns(['audience_id', 'expires_at'])
      .where(sql.ref('expires_at'), 'is not', null)
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('engine_ledger_expiry').ifExists().execute();
    await db.schema
      .createIndex('engine_ledger_expiry')
      .on('engine_ledger')
      .columns(['audience_id', 'expires_at'])
      .execute();
  },
};
