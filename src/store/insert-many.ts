import { sql, type Insertable, type Kysely } from 'kysely';
import type { Capabilities } from './capabilities.ts';
import type { Database } from './schema/index.ts';

export type OnConflict =
  /** Skip rows whose key already exists. */
  | { columns: readonly string[]; action: 'ignore' }
  /** Overwrite `update` columns (default: every inserted column outside the key) with the new row's values. */
  | { columns: readonly string[]; action: 'update'; update?: readonly string[] };

export interface InsertManyOptions {
  onConflict?: OnConflict;
  /** Upper bound on rows per statement (default 500); the parameter limit of the backend may lower it. */
  maxRowsPerStatement?: number;
}

type LooseDatabase = Record<string, Record<string, unknown>>;

/**
 * Inserts rows with multi-row `insert … values (…), (…)` statements sized to the backend's parameter limit, with an
 * optional `on conflict` clause (same syntax on SQLite and PostgreSQL). Every row must have the same keys. Run it inside
 * `store.transaction` so a large batch commits (and syncs) once. Returns the number of rows written.
 *
 * @example
 * await store.transaction((tx) =>
 *   insertMany(tx.db, store.capabilities, 'segments', rows, { onConflict: { columns: ['sandbox_id', 'id'], action: 'ignore' } }),
 * );
 */
export async function insertMany<T extends keyof Database & string>(
  db: Kysely<Database>,
  capabilities: Capabilities,
  table: T,
  rows: readonly Insertable<Database[T]>[],
  options: InsertManyOptions = {},
): Promise<number> {
  const first = rows[0];
  if (first === undefined) return 0;
  const columns = Object.keys(first);
  const perStatement = Math.max(
    1,
    Math.min(
      options.maxRowsPerStatement ?? 500,
      Math.floor(capabilities.maxParameters / Math.max(1, columns.length)),
    ),
  );
  const loose = db as unknown as Kysely<LooseDatabase>;
  const conflict = options.onConflict;
  let written = 0;
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement) as unknown as Record<string, unknown>[];
    let query = loose.insertInto(table).values(chunk);
    if (conflict?.action === 'ignore') {
      query = query.onConflict((oc) => oc.columns([...conflict.columns]).doNothing());
    } else if (conflict?.action === 'update') {
      const keys = new Set(conflict.columns);
      const update = conflict.update ?? columns.filter((column) => !keys.has(column));
      query = query.onConflict((oc) =>
        oc
          .columns([...conflict.columns])
          // Column names are only known at run time here, so the typed update object cannot be expressed.
          .doUpdateSet(
            Object.fromEntries(update.map((column) => [column, sql.ref(`excluded.${column}`)])) as never,
          ),
      );
    }
    const result = await query.executeTakeFirst();
    written += Number(result.numInsertedOrUpdatedRows ?? 0n);
  }
  return written;
}
