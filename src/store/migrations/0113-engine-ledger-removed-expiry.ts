import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Members X holds nothing of (their removal was delivered) forget when their membership would have expired at X:
 * commits now clear it, and this clears what earlier commits kept. Kept, it put every member removed more than
 * twelve months after being added into the refresh window for good, so the worker's check for members to refresh
 * walked all of them at every tick.
 */
export const engineLedgerRemovedExpiryMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`update engine_ledger set expires_at = null
      where expires_at is not null and delivered is null`.execute(db);
  },

  async down() {
    // A cleared expiry belonged to a membership X no longer holds: nothing to restore.
  },
};
