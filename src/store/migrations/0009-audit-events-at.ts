import type { Kysely, Migration } from 'kysely';

/** The audit feed and the admin's view read events across sandboxes in time order, and pruning deletes by time. */
export const auditEventsAtMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createIndex('audit_events_at').on('audit_events').columns(['at', 'id']).execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('audit_events_at').ifExists().execute();
  },
};
