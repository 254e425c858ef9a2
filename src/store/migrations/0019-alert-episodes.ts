import { sql, SqliteAdapter, type Kysely, type Migration } from 'kysely';

/**
 * One `alert_states` row per alert, not per condition (see `src/server/alerts.ts`): rows are keyed by the alert's id
 * (`alr_…`, the `alertId` its notifications carry), and `key`, the condition, is an ordinary column. A condition that
 * fires again after it resolved is a new alert with a row of its own, so the one before stays listed, resolved, with
 * its own times and acknowledgement until it is pruned (30 days after it resolved). At most one alert of a condition
 * is open (unresolved): a partial unique index on `key` says so. Existing rows keep the id their JSON names. SQLite
 * cannot change a primary key, so its table is copied into the new layout; PostgreSQL changes it in place.
 */
export const alertEpisodesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    if (db.getExecutor().adapter instanceof SqliteAdapter) {
      await sql`create table alert_states_by_id (
          id text primary key,
          key text not null,
          sandbox_id text not null,
          dataflow_id text not null,
          type text not null,
          alert text not null,
          urls text not null,
          fired_at bigint not null,
          resolved_at bigint,
          notified integer default 1 not null,
          last_notified_at bigint,
          acknowledged_at bigint,
          acknowledged_by text
        )`.execute(db);
      await sql`insert into alert_states_by_id (id, key, sandbox_id, dataflow_id, type, alert, urls, fired_at,
          resolved_at, notified, last_notified_at, acknowledged_at, acknowledged_by)
        select coalesce(json_extract(alert, '$.alertId'), key), key, sandbox_id, dataflow_id, type, alert, urls,
          fired_at, resolved_at, notified, last_notified_at, acknowledged_at, acknowledged_by
        from alert_states`.execute(db);
      await sql`drop table alert_states`.execute(db);
      await sql`alter table alert_states_by_id rename to alert_states`.execute(db);
      await db.schema
        .createIndex('alert_states_sandbox')
        .on('alert_states')
        .columns(['sandbox_id', 'fired_at'])
        .execute();
    } else {
      await sql`alter table alert_states add column id text`.execute(db);
      await sql`update alert_states set id = coalesce(alert::json ->> 'alertId', key)`.execute(db);
      await sql`alter table alert_states alter column id set not null`.execute(db);
      await sql`alter table alert_states drop constraint alert_states_pkey`.execute(db);
      await sql`alter table alert_states add constraint alert_states_pkey primary key (id)`.execute(db);
    }
    await sql`create unique index alert_states_open on alert_states (key) where resolved_at is null`.execute(
      db,
    );
    // Pruning finds the alerts resolved over 30 days ago.
    await db.schema.createIndex('alert_states_resolved').on('alert_states').column('resolved_at').execute();
  },

  async down(db: Kysely<unknown>) {
    // One row per condition again: each keeps its latest alert, and the earlier ones are lost.
    await sql`delete from alert_states where exists (select 1 from alert_states later
        where later.key = alert_states.key
          and (later.fired_at > alert_states.fired_at or (later.fired_at = alert_states.fired_at and later.id > alert_states.id)))`.execute(
      db,
    );
    await db.schema.dropIndex('alert_states_resolved').execute();
    await db.schema.dropIndex('alert_states_open').execute();
    if (db.getExecutor().adapter instanceof SqliteAdapter) {
      await sql`create table alert_states_by_key (
          key text primary key,
          sandbox_id text not null,
          dataflow_id text not null,
          type text not null,
          alert text not null,
          urls text not null,
          fired_at bigint not null,
          resolved_at bigint,
          notified integer default 1 not null,
          last_notified_at bigint,
          acknowledged_at bigint,
          acknowledged_by text
        )`.execute(db);
      await sql`insert into alert_states_by_key (key, sandbox_id, dataflow_id, type, alert, urls, fired_at,
          resolved_at, notified, last_notified_at, acknowledged_at, acknowledged_by)
        select key, sandbox_id, dataflow_id, type, alert, urls, fired_at, resolved_at, notified, last_notified_at,
          acknowledged_at, acknowledged_by
        from alert_states`.execute(db);
      await sql`drop table alert_states`.execute(db);
      await sql`alter table alert_states_by_key rename to alert_states`.execute(db);
      await db.schema
        .createIndex('alert_states_sandbox')
        .on('alert_states')
        .columns(['sandbox_id', 'fired_at'])
        .execute();
    } else {
      await sql`alter table alert_states drop constraint alert_states_pkey`.execute(db);
      await sql`alter table alert_states add constraint alert_states_pkey primary key (key)`.execute(db);
      await sql`alter table alert_states drop column id`.execute(db);
    }
  },
};
