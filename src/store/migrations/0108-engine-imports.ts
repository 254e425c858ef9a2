import type { Kysely, Migration } from 'kysely';

/**
 * One row per file import (migration 0108), so an interrupted import can be resumed: the rows it committed and a digest
 * of them (to check that a resumed file starts with the same rows) and its report so far are written in the
 * same transaction as each batch. A completed import keeps its report, so sending the file again with its key returns
 * the report instead of importing twice.
 */
export const engineImportsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('engine_imports')
      .addColumn('sandbox_id', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull().unique())
      .addColumn('format', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('segment_id', 'text')
      .addColumn('key_namespace', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('batch_size', 'integer', (c) => c.notNull())
      .addColumn('rows_committed', 'bigint', (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('report', 'text', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .addPrimaryKeyConstraint('engine_imports_pk', ['sandbox_id', 'key'])
      .execute();
    await db.schema
      .createIndex('engine_imports_created')
      .on('engine_imports')
      .columns(['sandbox_id', 'created_at'])
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('engine_imports').ifExists().execute();
  },
};
