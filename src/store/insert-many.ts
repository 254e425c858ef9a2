import { CompiledQuery, type Insertable, type Kysely } from 'kysely';
import type { Capabilities } from './capabilities.ts';
import { StoreError } from './errors.ts';
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

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function quote(name: string): string {
  // Names come from table types, not from users; still, refuse anything that would need escaping.
  if (!IDENTIFIER.test(name)) {
    throw new StoreError('invalid_input', `"${name}" is not a plain lowercase SQL identifier`, {
      details: { name },
    });
  }
  return `"${name}"`;
}

/** The statement text for `rowCount` rows; cached, since a bulk load repeats the same shape thousands of times. */
function statementText(
  capabilities: Capabilities,
  table: string,
  columns: readonly string[],
  rowCount: number,
  conflict: OnConflict | undefined,
): string {
  const postgres = capabilities.dialect === 'postgres';
  let parameter = 0;
  const tuples: string[] = [];
  for (let row = 0; row < rowCount; row++) {
    tuples.push(`(${columns.map(() => (postgres ? `$${++parameter}` : '?')).join(', ')})`);
  }
  let text = `insert into ${quote(table)} (${columns.map(quote).join(', ')}) values ${tuples.join(', ')}`;
  if (conflict) {
    const target = `on conflict (${conflict.columns.map(quote).join(', ')})`;
    if (conflict.action === 'ignore') {
      text += ` ${target} do nothing`;
    } else {
      const keys = new Set(conflict.columns);
      const update = conflict.update ?? columns.filter((column) => !keys.has(column));
      text +=
        update.length === 0
          ? ` ${target} do nothing`
          : ` ${target} do update set ${update.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}`;
    }
  }
  return text;
}

/**
 * Inserts rows with multi-row `insert … values (…), (…)` statements sized to the backend's parameter limit, with an
 * optional `on conflict` clause (the same syntax on SQLite and PostgreSQL). Every row must have the keys of the first
 * row (a missing value is written as null). Run it inside `store.transaction` so a large batch commits, and syncs,
 * once. Returns the number of rows inserted or updated.
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
  const texts = new Map<number, string>();
  let written = 0;
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement) as unknown as Record<string, unknown>[];
    let text = texts.get(chunk.length);
    if (text === undefined) {
      text = statementText(capabilities, table, columns, chunk.length, options.onConflict);
      texts.set(chunk.length, text);
    }
    const parameters: unknown[] = [];
    for (const row of chunk) for (const column of columns) parameters.push(row[column] ?? null);
    const result = await db.executeQuery(CompiledQuery.raw(text, parameters));
    written += Number(result.numAffectedRows ?? 0n);
  }
  return written;
}
