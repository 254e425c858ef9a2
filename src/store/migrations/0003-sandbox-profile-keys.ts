import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The identity namespaces profile keys come from belong to the sandbox, not to a dataflow. One key per profile backs
 * every dataflow of a sandbox, so until now the oldest tracked dataflow's preference decided it for all, and deleting
 * that dataflow silently re-keyed every profile. Each sandbox takes the preference its oldest tracked dataflow gave
 * (null: the service default), and the dataflow column goes.
 */
export const sandboxProfileKeysMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('sandboxes').addColumn('profile_key_namespaces', 'text').execute();
    await sql`update sandboxes set profile_key_namespaces = (
        select nullif(d.profile_key_namespaces, '["ECID","CRMID"]') from dataflows d
        where d.sandbox_id = sandboxes.id and d.status in ('active', 'paused', 'failed')
        order by d.created_at, d.id limit 1)`.execute(db);
    await db.schema.alterTable('dataflows').dropColumn('profile_key_namespaces').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema
      .alterTable('dataflows')
      .addColumn('profile_key_namespaces', 'text', (c) => c.notNull().defaultTo('["ECID","CRMID"]'))
      .execute();
    await sql`update dataflows set profile_key_namespaces = (
        select s.profile_key_namespaces from sandboxes s where s.id = dataflows.sandbox_id)
      where exists (select 1 from sandboxes s where s.id = dataflows.sandbox_id and s.profile_key_namespaces is not null)`.execute(
      db,
    );
    await db.schema.alterTable('sandboxes').dropColumn('profile_key_namespaces').execute();
  },
};
