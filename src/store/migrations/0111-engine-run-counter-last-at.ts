import type { Kysely, Migration } from 'kysely';

/**
 * When each hourly counter last grew (epoch ms): an hourly run knows its profiles arrived within an hour, this knows
 * when the latest did, which the monitoring overview shows and the `dataflow_no_data` alert counts from. Null for
 * counters written before it; readers then fall back to the start of the counter's hour.
 */
export const engineRunCounterLastAtMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_run_counters').addColumn('last_at', 'bigint').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('engine_run_counters').dropColumn('last_at').execute();
  },
};
