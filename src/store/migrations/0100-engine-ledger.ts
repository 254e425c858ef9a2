import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The engine's tables: profile state, the hash-only ledger, delivered-identifier index, audience state, ingest
 * idempotency, hourly run counters, dead letters, pauses and mirror-import bookkeeping. Portable DDL only.
 */
export const engineLedgerMigration: Migration = {
  async up(db: Kysely<unknown>) {
    // SQLite stores a table with a text primary key twice (rowid table + key index) unless it is WITHOUT ROWID;
    // the hot tables were meant to be clustered on their key. This test never matches (the store's SQLite dialect
    // has transactional DDL), so they were made as rowid tables; 0109 rebuilds them clustered.
    const sqlite = !db.getExecutor().adapter.supportsTransactionalDdl;
    const clustered = <T extends { modifyEnd(node: ReturnType<typeof sql>): T }>(builder: T): T =>
      sqlite ? builder.modifyEnd(sql`without rowid`) : builder;
    await db.schema
      .createTable('engine_profiles')
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('profile_key', 'text', (c) => c.notNull())
      .addColumn('identities', 'text', (c) => c.notNull())
      .addColumn('segments', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .$call(clustered)
      .addPrimaryKeyConstraint('engine_profiles_pk', ['sandbox_id', 'profile_key'])
      .execute();

    await db.schema
      .createTable('engine_ledger')
      .addColumn('audience_id', 'text', (c) => c.notNull())
      .addColumn('member', 'text', (c) => c.notNull())
      .addColumn('desired', 'text')
      .addColumn('delivered', 'text')
      .addColumn('sent', 'text')
      .addColumn('pending', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('pending_since', 'bigint')
      .addColumn('resend', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('expires_at', 'bigint')
      .addColumn('dead', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .$call(clustered)
      .addPrimaryKeyConstraint('engine_ledger_pk', ['audience_id', 'member'])
      .execute();
    // Delivery reads only pending rows; a partial index keeps that cheap however large the audience is.
    await db.schema
      .createIndex('engine_ledger_pending')
      .on('engine_ledger')
      .columns(['audience_id', 'pending_since'])
      .where(sql.ref('pending'), '=', 1)
      .execute();
    await db.schema
      .createIndex('engine_ledger_expiry')
      .on('engine_ledger')
      .columns(['audience_id', 'expires_at'])
      .execute();

    await db.schema
      .createTable('engine_delivered_ids')
      .addColumn('audience_id', 'text', (c) => c.notNull())
      .addColumn('ident', 'text', (c) => c.notNull())
      .addColumn('member', 'text', (c) => c.notNull())
      .$call(clustered)
      .addPrimaryKeyConstraint('engine_delivered_ids_pk', ['audience_id', 'ident', 'member'])
      .execute();
    // Commits replace a member's identifiers: find them by member.
    await db.schema
      .createIndex('engine_delivered_ids_member')
      .on('engine_delivered_ids')
      .columns(['audience_id', 'member'])
      .execute();

    await db.schema
      .createTable('engine_audiences')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('dataflow_id', 'text', (c) => c.notNull())
      .addColumn('destination_id', 'text', (c) => c.notNull())
      .addColumn('segment_id', 'text', (c) => c.notNull())
      .addColumn('x_audience_id', 'text')
      .addColumn('x_audience_name', 'text')
      .addColumn('name_base', 'text')
      .addColumn('created_by_engine', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('creating_at', 'bigint')
      .addColumn('lifecycle', 'text', (c) => c.notNull().defaultTo('active'))
      .addColumn('backfilled_at', 'bigint')
      .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'bigint')
      .addColumn('last_error', 'text')
      .addColumn('last_add_push_at', 'bigint')
      .addColumn('last_remove_push_at', 'bigint')
      .addColumn('flush_requested', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', 'bigint')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('engine_audiences_dataflow')
      .on('engine_audiences')
      .column('dataflow_id')
      .execute();

    await db.schema
      .createTable('engine_ingest_requests')
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('result', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('engine_ingest_requests_pk', ['sandbox_id', 'request_id'])
      .execute();
    await db.schema
      .createIndex('engine_ingest_requests_created')
      .on('engine_ingest_requests')
      .column('created_at')
      .execute();

    await db.schema
      .createTable('engine_run_counters')
      .addColumn('dataflow_id', 'text', (c) => c.notNull())
      .addColumn('hour', 'bigint', (c) => c.notNull())
      .addColumn('audience_id', 'text', (c) => c.notNull())
      .addColumn('metric', 'text', (c) => c.notNull())
      .addColumn('code', 'text', (c) => c.notNull())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('engine_run_counters_pk', [
        'dataflow_id',
        'hour',
        'audience_id',
        'metric',
        'code',
      ])
      .execute();
    await db.schema
      .createIndex('engine_run_counters_hour')
      .on('engine_run_counters')
      .column('hour')
      .execute();

    await db.schema
      .createTable('engine_dead_letters')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('dataflow_id', 'text', (c) => c.notNull())
      .addColumn('audience_id', 'text', (c) => c.notNull())
      .addColumn('member', 'text', (c) => c.notNull())
      .addColumn('operations', 'text', (c) => c.notNull())
      .addColumn('error_code', 'text', (c) => c.notNull())
      .addColumn('error_message', 'text', (c) => c.notNull())
      .addColumn('error_details', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('replayed_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('engine_dead_letters_sandbox')
      .on('engine_dead_letters')
      .columns(['sandbox_id', 'created_at'])
      .execute();

    await db.schema
      .createTable('engine_dataflow_pauses')
      .addColumn('dataflow_id', 'text', (c) => c.primaryKey())
      .addColumn('reason_code', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('paused_at', 'bigint', (c) => c.notNull())
      .addColumn('destination_updated_at', 'bigint', (c) => c.notNull())
      .addColumn('last_verify_at', 'bigint')
      .execute();

    await db.schema
      .createTable('engine_import_seen')
      .addColumn('import_id', 'text', (c) => c.notNull())
      .addColumn('profile_key', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('engine_import_seen_pk', ['import_id', 'profile_key'])
      .execute();
  },

  async down(db: Kysely<unknown>) {
    for (const table of [
      'engine_import_seen',
      'engine_dataflow_pauses',
      'engine_dead_letters',
      'engine_run_counters',
      'engine_ingest_requests',
      'engine_audiences',
      'engine_delivered_ids',
      'engine_ledger',
      'engine_profiles',
    ]) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};
