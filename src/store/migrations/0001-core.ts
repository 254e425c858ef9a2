import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The store's core tables. Portable DDL only (SQLite and PostgreSQL): text ids, bigint epoch-ms timestamps, JSON in
 * text columns, integer 0/1 booleans.
 */
export const coreMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('store_meta')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('sandboxes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    // Every installation starts with the production sandbox, as AEP does.
    await sql`insert into sandboxes (id, name, created_at) values ('prod', 'prod', ${Date.now()})`.execute(
      db,
    );

    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sandbox_id', 'text', (c) => c.notNull().references('sandboxes.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('token_prefix', 'text', (c) => c.notNull())
      .addColumn('permissions', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema.createIndex('api_tokens_sandbox').on('api_tokens').column('sandbox_id').execute();

    await db.schema
      .createTable('destinations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sandbox_id', 'text', (c) => c.notNull().references('sandboxes.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('credentials', 'text')
      .addColumn('api_base_url', 'text')
      .addColumn('marketing_actions', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('alert_webhook_url', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_reason', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('destinations_sandbox').on('destinations').column('sandbox_id').execute();

    await db.schema
      .createTable('segments')
      .addColumn('sandbox_id', 'text', (c) => c.notNull().references('sandboxes.id').onDelete('cascade'))
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('namespace', 'text', (c) => c.notNull().defaultTo('ups'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('size_estimate', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('segments_pk', ['sandbox_id', 'id'])
      .execute();

    await db.schema
      .createTable('dataflows')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sandbox_id', 'text', (c) => c.notNull().references('sandboxes.id').onDelete('cascade'))
      // No cascade: a destination with dataflows cannot be deleted until its dataflows are.
      .addColumn('destination_id', 'text', (c) => c.notNull().references('destinations.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('mapping', 'text', (c) => c.notNull())
      .addColumn('max_batch_age_seconds', 'integer', (c) =>
        c
          .notNull()
          .defaultTo(900)
          .check(sql`max_batch_age_seconds between 60 and 28800`),
      )
      .addColumn('cadence_mode', 'text', (c) => c.notNull().defaultTo('off'))
      .addColumn('cadence_window_seconds', 'integer', (c) =>
        c
          .notNull()
          .defaultTo(21600)
          .check(sql`cadence_window_seconds > 0`),
      )
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_reason', 'text')
      .addColumn('on_audience_removal', 'text', (c) => c.notNull().defaultTo('delete'))
      .addColumn('profile_key_namespaces', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('dataflows_sandbox').on('dataflows').column('sandbox_id').execute();
    await db.schema.createIndex('dataflows_destination').on('dataflows').column('destination_id').execute();

    await db.schema
      .createTable('dataflow_audiences')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sandbox_id', 'text', (c) => c.notNull().references('sandboxes.id').onDelete('cascade'))
      .addColumn('dataflow_id', 'text', (c) => c.notNull().references('dataflows.id').onDelete('cascade'))
      .addColumn('segment_id', 'text', (c) => c.notNull())
      .addColumn('mapping_name', 'text', (c) => c.notNull())
      .addColumn('start_date', 'bigint', (c) => c.notNull())
      .addColumn('end_date', 'bigint')
      .addColumn('existing_x_audience_id', 'text')
      .addColumn('ttl_days', 'integer', (c) => c.check(sql`ttl_days is null or ttl_days > 0`))
      .addColumn('x_audience_id', 'text')
      .addColumn('x_audience_name', 'text')
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('audience_size', 'bigint')
      .addColumn('targetable', 'integer')
      .addColumn('reasons_not_targetable', 'text')
      .addColumn('health_checked_at', 'bigint')
      .addColumn('last_delivery_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('dataflow_audiences_dataflow')
      .on('dataflow_audiences')
      .column('dataflow_id')
      .execute();
    await db.schema
      .createIndex('dataflow_audiences_segment')
      .on('dataflow_audiences')
      .columns(['sandbox_id', 'segment_id'])
      .execute();
  },

  async down(db: Kysely<unknown>) {
    for (const table of [
      'dataflow_audiences',
      'dataflows',
      'segments',
      'destinations',
      'api_tokens',
      'sandboxes',
      'store_meta',
    ]) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};
