import {
  Kysely,
  PostgresDialect,
  PostgresDriver,
  type DatabaseConnection,
  type Driver,
  type PostgresDialectConfig,
} from 'kysely';
import pg from 'pg';
import type { Database } from './schema/index.ts';
import type { TransactionGuard } from './transaction-guard.ts';

class GuardedPostgresDriver extends PostgresDriver {
  readonly #guard: TransactionGuard;
  constructor(config: PostgresDialectConfig, guard: TransactionGuard) {
    super(config);
    this.#guard = guard;
  }
  override acquireConnection(): Promise<DatabaseConnection> {
    this.#guard.check();
    return super.acquireConnection();
  }
}

class GuardedPostgresDialect extends PostgresDialect {
  readonly #config: PostgresDialectConfig;
  readonly #guard: TransactionGuard;
  constructor(config: PostgresDialectConfig, guard: TransactionGuard) {
    super(config);
    this.#config = config;
    this.#guard = guard;
  }
  override createDriver(): Driver {
    return new GuardedPostgresDriver(this.#config, this.#guard);
  }
}

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
  options: { poolSize: number; onPoolError: (error: Error) => void; guard: TransactionGuard },
): PostgresBackend {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize, types, application_name: 'tca' });
  // An idle client that loses its connection emits 'error' on the pool; unhandled, it would end the process.
  pool.on('error', options.onPoolError);
  const db = new Kysely<Database>({ dialect: new GuardedPostgresDialect({ pool }, options.guard) });
  return { db, pool };
}
