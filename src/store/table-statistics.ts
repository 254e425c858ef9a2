import type pg from 'pg';

/** The tables written in bulk whose planner statistics the store keeps current on PostgreSQL. */
export type BulkTable = 'engine_profiles' | 'engine_ledger' | 'engine_member_idents' | 'engine_import_seen';

/** Rows written to each bulk table by one committed transaction. */
export type BulkWrites = Partial<Record<BulkTable, number>>;

export interface TableStatistics {
  /**
   * Counts rows a committed transaction wrote; when a table has grown by half (and by at least `minRows`) since
   * its statistics were taken, runs ANALYZE on it and resolves after. A no-op on SQLite.
   */
  wrote(rows: BulkWrites): Promise<void>;
  /** ANALYZE runs made by this store so far, per table (for tests and diagnostics). */
  analyzed(table: BulkTable): number;
}

/** SQLite's planner takes an indexed equality for selective without statistics: nothing to keep. */
export const noTableStatistics: TableStatistics = {
  wrote: async () => {},
  analyzed: () => 0,
};

interface TableState {
  /** Rows written since the statistics this process knows of were taken. */
  written: number;
  /** Rows the statistics counted (`pg_class.reltuples`), once read. */
  known: number | null;
  running: Promise<void> | null;
  runs: number;
  /** The role may not analyze the table: left to autovacuum from then on. */
  disabled: boolean;
}

/**
 * PostgreSQL's planner statistics for the engine's bulk tables, kept current by the writers themselves.
 *
 * The engine looks rows up by key within a sandbox or an audience (`sandbox_id = $1 and profile_key in (…)`, an
 * update joined to a list of members). Without statistics, or with statistics taken when the table was small or
 * before the sandbox or audience existed, the planner takes the sandbox or audience for a few hundred rows and scans
 * all of its rows for every chunk of keys instead of probing the index: an import or a delivery then slows with the
 * square of its size. Autovacuum would fix the statistics, but only after a tenth of the table changed, a minute
 * later at best, and not at all where it is switched off. So every process counts the rows it writes and runs
 * ANALYZE when a table has grown by half since the statistics it knows of (by `minRows` at least): about
 * log1.5(N / minRows) runs while a table grows to N rows, each reading a fixed sample (30,000 rows by default). Estimates
 * within a factor of two are all the plans need.
 */
export class PostgresTableStatistics implements TableStatistics {
  readonly #pool: pg.Pool;
  readonly #onError: (error: Error) => void;
  readonly #minRows: number;
  readonly #tables = new Map<BulkTable, TableState>();

  constructor(pool: pg.Pool, options: { onError: (error: Error) => void; minRows?: number }) {
    this.#pool = pool;
    this.#onError = options.onError;
    this.#minRows = options.minRows ?? 10_000;
  }

  async wrote(rows: BulkWrites): Promise<void> {
    const runs: Array<Promise<void>> = [];
    for (const [table, count] of Object.entries(rows) as Array<[BulkTable, number]>) {
      if (!(count > 0)) continue;
      const state = this.#state(table);
      state.written += count;
      if (state.disabled) continue;
      // A run in progress takes the rows written meanwhile into the next decision.
      if (state.running) {
        runs.push(state.running);
        continue;
      }
      runs.push((state.running = this.#refresh(table, state).finally(() => (state.running = null))));
    }
    await Promise.all(runs);
  }

  analyzed(table: BulkTable): number {
    return this.#tables.get(table)?.runs ?? 0;
  }

  #state(table: BulkTable): TableState {
    let state = this.#tables.get(table);
    if (!state) {
      state = { written: 0, known: null, running: null, runs: 0, disabled: false };
      this.#tables.set(table, state);
    }
    return state;
  }

  async #refresh(table: BulkTable, state: TableState): Promise<void> {
    try {
      if (state.known === null) {
        // PostgreSQL skips, with a mere warning, a table the role may not analyze.
        if (!(await this.#mayAnalyze(table))) {
          state.disabled = true;
          this.#onError(
            new Error(
              `The database role may not ANALYZE ${table}, so its planner statistics are left to autovacuum, and large imports into it may slow down. Make the service's role the table's owner, or run ANALYZE ${table} after large imports.`,
            ),
          );
          return;
        }
        state.known = await this.#reltuples(table);
      }
      if (state.written < Math.max(this.#minRows, state.known / 2)) return;
      const counted = state.written;
      // The name is one of `BulkTable`'s, never input.
      await this.#pool.query(`analyze ${table}`);
      state.runs += 1;
      state.known = await this.#reltuples(table);
      state.written -= counted;
    } catch (error) {
      // Tried again once as many rows more were written.
      state.written = 0;
      const reason = error instanceof Error ? error.message : String(error);
      this.#onError(
        new Error(
          `ANALYZE ${table} failed (${reason}); it is tried again after more writes. Until then run ANALYZE ${table} by hand if large imports into it slow down.`,
        ),
      );
    }
  }

  /** Whether the role owns the table, is a superuser, or (PostgreSQL 17) holds its MAINTAIN privilege. */
  async #mayAnalyze(table: BulkTable): Promise<boolean> {
    const { rows } = await this.#pool.query<{ ok: boolean }>(
      `select pg_has_role(c.relowner, 'USAGE') or r.rolsuper
         or (current_setting('server_version_num')::int >= 170000 and has_table_privilege(c.oid, 'MAINTAIN')) as ok
       from pg_class c, pg_roles r where c.oid = to_regclass($1) and r.rolname = current_user`,
      [table],
    );
    return rows[0]?.ok === true;
  }

  /** The table's row count as its statistics have it: 0 before its first ANALYZE (-1 there since PostgreSQL 14). */
  async #reltuples(table: BulkTable): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(
      'select greatest(reltuples, 0)::float8 as n from pg_class where oid = to_regclass($1)',
      [table],
    );
    return rows[0]?.n ?? 0;
  }
}
