import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema/index.ts';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * Type parsers for this pool only: bigint (timestamps, counts, `count(*)`) and numeric (`sum(…)`) come back as
 * numbers, as they do from SQLite. Epoch milliseconds and counts stay far below 2^53.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  },
} as unknown as pg.CustomTypesConfig;

export interface PostgresBackend {
  db: Kysely<Database>;
  pool: pg.Pool;
}

export function openPostgres(
  url: string,
  options: { poolSize: number; onPoolError: (error: Error) => void },
): PostgresBackend {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize, types });
  // An idle client that loses its connection emits 'error' on the pool; unhandled, it would end the process.
  pool.on('error', options.onPoolError);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool };
}
