import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Delivery reads pending entries in `(pending_since, member)` order. Without `member` in the index, every page
 * sorted all pending entries of the audience (one import's entries share a `pending_since`); with it, the index
 * gives the order and a page reads only its own rows.
 */
export const engineLedgerPendingOrderMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.dropIndex('engine_ledger_pending').ifExists().execute();
    await db.schema
      .createIndex('engine_ledger_pending')
      .on('engine_ledger')
      .columns(['audience_id', 'pending_since', 'member'])
      .where(sql.ref('pending'), '=', 1)
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('engine_ledger_pending').ifExists().execute();
    await db.schema
      .createIndex('engine_ledger_pending')
      .on('engine_ledger')
      .columns(['audience_id', 'pending_since'])
      .where(sql.ref('pending'), '=', 1)
      .execute();
  },
};
