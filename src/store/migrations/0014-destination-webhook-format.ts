import type { Kysely, Migration } from 'kysely';

/**
 * What a destination's alert webhook takes (see `WEBHOOK_FORMATS` in `src/server/alerts.ts`): `json`, the documented
 * notification, or a chat tool's message (`slack`, `teams`, `google-chat`).
 */
export const destinationWebhookFormatMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('destinations')
      .addColumn('alert_webhook_format', 'text', (c) => c.notNull().defaultTo('json'))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('destinations').dropColumn('alert_webhook_format').execute();
  },
};
