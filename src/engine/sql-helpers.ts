import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Capabilities } from '../store/capabilities.ts';
import { lockUntilCommit } from '../store/transaction-lock.ts';
import type { Database } from '../store/schema/index.ts';

/** A query executor: the store's Kysely instance or an open transaction. */
export type Db = Kysely<Database>;

/** Null-safe equality, which SQLite spells `IS` and PostgreSQL `IS NOT DISTINCT FROM`. */
export function same(
  capabilities: Capabilities,
  a: RawBuilder<unknown>,
  b: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return capabilities.dialect === 'postgres' ? sql`(${a} is not distinct from ${b})` : sql`(${a} is ${b})`;
}

/** Null-safe inequality. */
export function differs(
  capabilities: Capabilities,
  a: RawBuilder<unknown>,
  b: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return capabilities.dialect === 'postgres' ? sql`(${a} is distinct from ${b})` : sql`(${a} is not ${b})`;
}

/**
 * A bound value with the type PostgreSQL needs inside `values (…)` lists (untyped parameters there default to
 * text). SQLite takes the value as is.
 */
export function typed(
  capabilities: Capabilities,
  value: unknown,
  type: 'text' | 'bigint' | 'integer',
): RawBuilder<unknown> {
  return capabilities.dialect === 'postgres' ? sql`cast(${value} as ${sql.raw(type)})` : sql`${value}`;
}

/** A column of `unnestRows`: its name, its PostgreSQL type and a value per row. */
export type UnnestColumn = [name: string, type: 'text' | 'bigint' | 'integer', values: readonly unknown[]];

/**
 * PostgreSQL: rows passed as one array per column and read back with `unnest(…) as v(…)`, for a `from` clause. A
 * statement then binds one parameter per column however many rows it carries, so PostgreSQL parses and plans it once
 * for them all, rather than a `values` list with a parameter per cell in chunks of the bound-parameter limit.
 *
 * @example
 * sql`update t set n = v.n from ${unnestRows('v', [['id', 'text', ['a', 'b']], ['n', 'bigint', [1, 2]]])} where t.id = v.id`;
 */
export function unnestRows(alias: string, columns: readonly UnnestColumn[]): RawBuilder<unknown> {
  const arrays = columns.map(([, type, values]) => sql`cast(${sql.val(values)} as ${sql.raw(type)}[])`);
  return sql`unnest(${sql.join(arrays)}) as ${sql.id(alias)}(${sql.join(columns.map(([name]) => sql.id(name)))})`;
}

/** Splits rows so that a statement never exceeds the backend's bound-parameter limit (or `maxRows`). */
export function chunkRows<T>(
  rows: readonly T[],
  paramsPerRow: number,
  capabilities: Capabilities,
  maxRows = 500,
): T[][] {
  const size = Math.max(
    1,
    Math.min(maxRows, Math.floor(capabilities.maxParameters / Math.max(1, paramsPerRow)) - 1),
  );
  return chunksOf(rows, size);
}

/** `rows` in slices of `size`. */
export function chunksOf<T>(rows: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/** Runs a statement and returns its rows. */
export async function rows<T>(db: Db, query: RawBuilder<T>): Promise<T[]> {
  const result = await query.execute(db);
  return result.rows;
}

/**
 * Serializes the transactions that read a sandbox's profiles and write them back (ingest, file imports, erasure, a
 * mirror import's removals) across processes sharing a PostgreSQL database, until the transaction ends. Without it two
 * batches that meet the same person plan from the same stored state and the later commit drops what the earlier one
 * wrote (a segment joined, an identifier changed), or they deadlock on each other's rows. Call it first in the
 * transaction. SQLite takes one writer at a time already.
 */
export async function lockSandboxProfiles(
  db: Db,
  capabilities: Capabilities,
  sandboxId: string,
): Promise<void> {
  await lockUntilCommit(db, capabilities, `tca.profiles:${sandboxId}`);
}

/** A PostgreSQL deadlock or serialization failure: the transaction was rolled back and may be run again as is. */
export function isTransientConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/**
 * Runs `transaction` again, up to twice, when PostgreSQL rolled it back for a deadlock or a serialization failure with
 * another process's transaction (`isTransientConflict`): nothing of it was kept, and a run of it holds no state of the
 * run before.
 */
export async function retryTransientConflicts<T>(transaction: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await transaction();
    } catch (error) {
      if (attempt >= 3 || !isTransientConflict(error)) throw error;
    }
  }
}
