import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `profile_key_aliases` (0/1): whether the sandbox may hold a profile keyed by a key namespace other than its first (a
 * CRM id met before any ECID, a CSV row's key). Until one is stored, an export's ids in the later key namespaces cannot
 * name a profile met before, and are not looked up (see `ProfileEvaluation.aliasKeys`). The keys of a sandbox that
 * already holds profiles do not say which namespace made them: such a sandbox starts with 1.
 */
export const sandboxProfileKeyAliasesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('sandboxes')
      .addColumn('profile_key_aliases', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await sql`update sandboxes set profile_key_aliases = 1
      where exists (select 1 from engine_profiles p where p.sandbox_id = sandboxes.id)`.execute(db);
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('sandboxes').dropColumn('profile_key_aliases').execute();
  },
};
