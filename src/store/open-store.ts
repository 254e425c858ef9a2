import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely, type Transaction } from 'kysely';
import type pg from 'pg';
import { POSTGRES_CAPABILITIES, SQLITE_CAPABILITIES, type Capabilities } from './capabilities.ts';
import { StoreError } from './errors.ts';
import { randomId, type IdGenerator } from './ids.ts';
import { insertMany, type InsertManyOptions } from './insert-many.ts';
import { migrateToLatest, migrationStatus } from './migrate.ts';
import { openPostgres } from './postgres-backend.ts';
import { noTableStatistics, PostgresTableStatistics, type TableStatistics } from './table-statistics.ts';
import { apiTokenRepository } from './repositories/api-tokens.ts';
import { auditEventRepository } from './repositories/audit-events.ts';
import { audienceRepository } from './repositories/audiences.ts';
import type { RepositoryContext } from './repositories/context.ts';
import { dataflowRepository } from './repositories/dataflows.ts';
import { destinationRepository } from './repositories/destinations.ts';
import { sandboxRepository } from './repositories/sandboxes.ts';
import { segmentRepository } from './repositories/segments.ts';
import type { Database } from './schema/index.ts';
import type { SecretBox } from './secret-box.ts';
import { loadSecretKey, parseSecretKey } from './secret-key.ts';
import { settleSecretKey, type KeyRotation } from './secret-key-rotation.ts';
import { TransactionGuard } from './transaction-guard.ts';
import { createPrivateFile, openSqlite, WalSync, type SqliteSynchronous } from './sqlite-backend.ts';
import { startSqliteCheckpointer, type SqliteCheckpointer } from './sqlite-checkpointer.ts';
import { isPostgresUrl } from './store-url.ts';

/** Name of the default SQLite file inside the data directory. */
export const SQLITE_FILE = 'tca.db';

export interface OpenStoreOptions {
  /** `postgres://…` / `postgresql://…`, a SQLite file path (or `sqlite:PATH`); default `dataDir/tca.db`. */
  url?: string | undefined;
  /** Holds the SQLite file and the generated `secret.key`. */
  dataDir: string;
  /** 32-byte key (64 hex or base64 characters), the value of TCA_SECRET_KEY; default `dataDir/secret.key`. */
  secretKey?: string | undefined;
  /**
   * The key the database was written with, when `secretKey` (or the key file) is a new one to rotate to (the value of
   * TCA_SECRET_KEY_PREVIOUS): the open re-encrypts the credentials under the new key. See `settleSecretKey`.
   */
  previousSecretKey?: string | undefined;
  /** Apply pending migrations at open (default true). */
  migrate?: boolean;
  now?: () => number;
  newId?: IdGenerator;
  randomBytes?: (size: number) => Buffer;
  sqlite?: {
    synchronous?: SqliteSynchronous;
    busyTimeoutMs?: number;
    /** Syncs a file to disk (default: fdatasync on the thread pool); tests replace it to watch when syncs happen. */
    fsync?: (path: string) => Promise<void>;
    /** Checkpoint the WAL on a worker thread (default true for a file); see `sqlite-checkpointer.ts`. */
    backgroundCheckpoints?: boolean;
    /** The connection's page cache in MiB (default `SQLITE_CACHE_MB`; `TCA_SQLITE_CACHE_MB`). */
    cacheMb?: number;
  };
  postgres?: { poolSize?: number };
  /** Receives errors of idle PostgreSQL connections (they are replaced automatically). */
  onBackgroundError?: (error: Error) => void;
}

/** The typed repositories, bound either to the store or to one transaction. */
export interface Repositories {
  sandboxes: ReturnType<typeof sandboxRepository>;
  apiTokens: ReturnType<typeof apiTokenRepository>;
  auditEvents: ReturnType<typeof auditEventRepository>;
  destinations: ReturnType<typeof destinationRepository>;
  segments: ReturnType<typeof segmentRepository>;
  dataflows: ReturnType<typeof dataflowRepository>;
  audiences: ReturnType<typeof audienceRepository>;
}

/** What `store.transaction` hands its callback: the transaction's query builder and repositories bound to it. */
export interface StoreTransaction extends Repositories {
  db: Transaction<Database>;
}

/**
 * Direct access to the SQLite connection for hot paths (prepared statements, many rows per transaction). Always go
 * through `exclusive`: it waits for the store's connection, so raw statements never land inside another caller's open
 * transaction. The callback is synchronous; wrap writes in `database.transaction(…)` to commit once.
 */
export interface SqliteAccess {
  database: BetterSqlite3.Database;
  exclusive<T>(fn: (database: BetterSqlite3.Database) => T): Promise<T>;
  /**
   * `exclusive` for a write transaction whose commit must be durable without blocking the thread on the disk: `fn`
   * commits without syncing, then the WAL is synced on the thread pool and the promise resolves after that sync, so
   * a resolved call survives power loss as with synchronous=FULL. Meanwhile the connection serves other callers, and
   * commits made during a sync share the next one. With synchronous=NORMAL configured it is plain `exclusive`.
   */
  exclusiveDurable<T>(fn: (database: BetterSqlite3.Database) => T): Promise<T>;
  /** WAL frames the background checkpointer has copied into the database file (0 without one). */
  checkpointedFrames(): number;
  /** Online backup to `path` (a consistent copy while the store keeps running). */
  backup(path: string): Promise<void>;
}

export interface Store extends Repositories {
  db: Kysely<Database>;
  capabilities: Capabilities;
  secrets: SecretBox;
  /** The key rotation this open made (`previousSecretKey`), or null. */
  keyRotation: KeyRotation | null;
  /** HMAC-SHA256 (hex) of a source profile identity; see {@link SecretBox.profileKeyHash}. */
  profileKeyHash(namespace: string, id: string): string;
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. Do not nest. */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /** {@link insertMany} on the store (or pass `tx.db` to the function itself inside a transaction). */
  insertMany<T extends keyof Database & string>(
    table: T,
    rows: Parameters<typeof insertMany<T>>[3],
    options?: InsertManyOptions,
  ): Promise<number>;
  /** Present on SQLite only. */
  sqlite: SqliteAccess | undefined;
  /** The connection pool, present on PostgreSQL only (e.g. for COPY). */
  pg: pg.Pool | undefined;
  /** Planner statistics of the bulk tables, kept current after large writes (PostgreSQL; a no-op on SQLite). */
  statistics: TableStatistics;
  now: () => number;
  newId: IdGenerator;
  /** Resolves when the database answers a query (for readiness checks). */
  ping(): Promise<void>;
  migrationStatus(): Promise<{ applied: string[]; pending: string[] }>;
  close(): Promise<void>;
}

function repositories(ctx: RepositoryContext): Repositories {
  return {
    sandboxes: sandboxRepository(ctx),
    apiTokens: apiTokenRepository(ctx),
    auditEvents: auditEventRepository(ctx),
    destinations: destinationRepository(ctx),
    segments: segmentRepository(ctx),
    dataflows: dataflowRepository(ctx),
    audiences: audienceRepository(ctx),
  };
}

/** The SQLite file a store URL names (`dataDir/tca.db` when none does); `:memory:` for an in-memory one. */
export function sqlitePath(url: string | undefined, dataDir: string): string {
  if (url === undefined || url === '') return join(dataDir, SQLITE_FILE);
  let path = url;
  if (path.startsWith('sqlite://')) path = path.slice('sqlite://'.length);
  else if (path.startsWith('sqlite:')) path = path.slice('sqlite:'.length);
  if (path === ':memory:') return path;
  if (path === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new StoreError(
      'invalid_config',
      `TCA_DATABASE_URL "${url}" is neither a postgres:// URL nor a SQLite file path`,
      {
        hint: 'Use postgres://user@host:5432/db, or a file path such as ./data/tca.db',
      },
    );
  }
  return isAbsolute(path) ? path : resolve(path);
}

/**
 * Opens the store: connects, applies pending migrations and checks that the secret key is the one the database was
 * written with.
 *
 * @example
 * const store = await openStore({ dataDir: './data' }); // SQLite at ./data/tca.db
 * const pgStore = await openStore({ dataDir: './data', url: 'postgres://postgres@127.0.0.1:5432/tca', secretKey });
 * const destination = await store.destinations.create({ sandboxId: 'prod', name: 'X', accountId: '18ce54d4x5t' });
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const { key } = loadSecretKey({ secretKey: options.secretKey, dataDir: options.dataDir });
  const random = options.randomBytes ?? cryptoRandomBytes;
  const previousKey =
    options.previousSecretKey === undefined
      ? undefined
      : parseSecretKey(options.previousSecretKey, 'TCA_SECRET_KEY_PREVIOUS');
  let secrets: SecretBox;
  let keyRotation: KeyRotation | null;
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomId;
  const guard = new TransactionGuard();

  let db: Kysely<Database>;
  let capabilities: Capabilities;
  let sqliteAccess: SqliteAccess | undefined;
  let pool: pg.Pool | undefined;
  let checkpointer: SqliteCheckpointer | undefined;
  if (isPostgresUrl(options.url)) {
    const backend = openPostgres(options.url as string, {
      poolSize: options.postgres?.poolSize ?? 10,
      onPoolError: options.onBackgroundError ?? (() => undefined),
      guard,
    });
    db = backend.db;
    pool = backend.pool;
    capabilities = POSTGRES_CAPABILITIES;
  } else {
    const path = sqlitePath(options.url, options.dataDir);
    const synchronous = options.sqlite?.synchronous ?? 'full';
    const background = path !== ':memory:' && options.sqlite?.backgroundCheckpoints !== false;
    const backend = openSqlite(path, {
      // With the worker checkpointing, the main connection's own threshold is a safety net only.
      walAutocheckpointBytes: background ? 64 * 1024 * 1024 : 4 * 1024 * 1024,
      synchronous,
      busyTimeoutMs: options.sqlite?.busyTimeoutMs ?? 5000,
      ...(options.sqlite?.cacheMb === undefined ? {} : { cacheMb: options.sqlite.cacheMb }),
      guard,
    });
    db = backend.db;
    const database = backend.database;
    if (background) {
      checkpointer = startSqliteCheckpointer(path, {
        onError: options.onBackgroundError ?? (() => undefined),
      });
    }
    capabilities = SQLITE_CAPABILITIES;
    const exclusive: SqliteAccess['exclusive'] = (fn) =>
      db.connection().execute(() => Promise.resolve(fn(database)));
    const walSync =
      synchronous === 'full' && path !== ':memory:'
        ? new WalSync(`${path}-wal`, options.sqlite?.fsync)
        : null;
    sqliteAccess = {
      database,
      exclusive,
      checkpointedFrames: () => checkpointer?.framesCheckpointed ?? 0,
      exclusiveDurable: async (fn) => {
        if (walSync === null) return exclusive(fn);
        const result = await exclusive((connection) => {
          connection.pragma('synchronous = NORMAL');
          try {
            return fn(connection);
          } finally {
            connection.pragma('synchronous = FULL');
          }
        });
        await walSync.sync();
        return result;
      },
      backup: async (path) => {
        await db.connection().execute(async () => {
          createPrivateFile(path);
          await database.backup(path);
        });
      },
    };
  }

  try {
    await sql`select 1`.execute(db);
    if (options.migrate !== false) await migrateToLatest(db);
    ({ secrets, rotation: keyRotation } = await settleSecretKey(db, key, {
      previousKey,
      write: options.migrate !== false,
      lockRows: capabilities.dialect === 'postgres',
      randomBytes: random,
    }));
  } catch (error) {
    await checkpointer?.stop();
    await db.destroy();
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      'invalid_config',
      `Cannot open the ${capabilities.dialect} database: ${String(error)}`,
      {
        cause: error,
        hint:
          capabilities.dialect === 'postgres'
            ? 'Check TCA_DATABASE_URL and that PostgreSQL accepts connections'
            : 'Check that TCA_DATA_DIR is writable',
      },
    );
  }

  let closing: Promise<void> | undefined;
  const context = (executor: Kysely<Database>): RepositoryContext => ({
    db: executor,
    now,
    newId,
    secrets,
    randomBytes: random,
  });

  return {
    db,
    capabilities,
    secrets,
    keyRotation,
    profileKeyHash: (namespace, id) => secrets.profileKeyHash(namespace, id),
    ...repositories(context(db)),
    transaction: (fn) =>
      guard.run((state) =>
        db.transaction().execute(async (trx) => {
          state.open = true;
          try {
            return await fn({ db: trx, ...repositories(context(trx)) });
          } finally {
            state.open = false;
          }
        }),
      ),
    insertMany: (table, rows, insertOptions) => insertMany(db, capabilities, table, rows, insertOptions),
    sqlite: sqliteAccess,
    pg: pool,
    statistics: pool
      ? new PostgresTableStatistics(pool, { onError: options.onBackgroundError ?? (() => undefined) })
      : noTableStatistics,
    now,
    newId,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    migrationStatus: () => migrationStatus(db),
    close: () =>
      (closing ??= (async () => {
        await checkpointer?.stop();
        await db.destroy();
      })()),
  };
}
