import { closeSync, mkdirSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type DialectAdapter,
  type SqliteDialectConfig,
} from 'kysely';
import type { Database } from './schema/index.ts';
import { SQLITE_CACHE_MB } from './sqlite-defaults.ts';
import type { TransactionGuard } from './transaction-guard.ts';

/** How hard SQLite syncs commits to disk; see docs/storage.md. */
export type SqliteSynchronous = 'full' | 'normal';

/**
 * `begin immediate` takes the write lock when the transaction starts. A plain `begin` takes it at the first write,
 * and if another connection wrote in between, SQLite fails at once with SQLITE_BUSY instead of waiting busy_timeout.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #guard: TransactionGuard;
  constructor(config: SqliteDialectConfig, guard: TransactionGuard) {
    super(config);
    this.#guard = guard;
  }
  override acquireConnection(): Promise<DatabaseConnection> {
    this.#guard.check();
    return super.acquireConnection();
  }
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * SQLite runs DDL inside transactions, so each migration is all-or-nothing, and with `begin immediate` two processes
 * starting on the same new file apply migrations one after the other instead of interleaving.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #guard: TransactionGuard;
  constructor(config: SqliteDialectConfig, guard: TransactionGuard) {
    super(config);
    this.#config = config;
    this.#guard = guard;
  }
  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.#config, this.#guard);
  }
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** The page size of a new SQLite file. */
export const SQLITE_PAGE_SIZE = 16_384;

export interface SqliteBackend {
  db: Kysely<Database>;
  database: BetterSqlite3.Database;
}

/**
 * Creates `path` readable by its owner alone, when it does not exist: a store file (or a copy of one) holds hashed
 * identifiers and sealed credentials. An existing file keeps the mode its operator gave it.
 */
export function createPrivateFile(path: string): void {
  closeSync(openSync(path, 'a', 0o600));
}

/** Opens (creating if needed) the SQLite file with the pragmas the store relies on. */
export function openSqlite(
  path: string,
  options: {
    synchronous: SqliteSynchronous;
    busyTimeoutMs: number;
    guard: TransactionGuard;
    /** WAL size at which a commit checkpoints on this connection (default 4 MiB, SQLite's own 1,000 pages of 4 KiB). */
    walAutocheckpointBytes?: number;
    /** The page cache in MiB (default `SQLITE_CACHE_MB`). */
    cacheMb?: number;
  },
): SqliteBackend {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // SQLite gives the WAL and shared-memory files the mode of the database file.
    createPrivateFile(path);
  }
  const database = new BetterSqlite3(path);
  // A new file gets 16 KiB pages (an existing one keeps its own): ledger rows of a few hundred bytes then share a
  // page with dozens of others, and a delivery commit, which grows each row it settles, splits and rewrites a quarter
  // as many pages (13% less delivery time in the engine bench). Set before WAL, which fixes the size.
  database.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
  // WAL: readers never block the writer and a commit appends to the log instead of rewriting pages.
  database.pragma('journal_mode = WAL');
  // FULL syncs the WAL at every commit, so an acknowledged ingest survives power loss, not only a process crash.
  database.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  database.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs))}`);
  database.pragma('foreign_keys = ON');
  // Deleted and overwritten content is zeroed, not left in a page's free space or on the free-page list: an erased
  // person's hashed identifiers (an unsalted SHA-256 of an email can be looked up in a dictionary) leave the file with
  // the rows that held them, once the WAL holding their old pages is checkpointed and reused.
  database.pragma('secure_delete = ON');
  // Negative: in KiB rather than pages.
  database.pragma(`cache_size = -${Math.max(1, Math.trunc(options.cacheMb ?? SQLITE_CACHE_MB)) * 1024}`);
  // SQLite counts the threshold in pages, and a file made before keeps its smaller ones.
  const pageSize = database.pragma('page_size', { simple: true }) as number;
  const walBytes = Math.max(0, options.walAutocheckpointBytes ?? 4 * 1024 * 1024);
  database.pragma(`wal_autocheckpoint = ${Math.ceil(walBytes / pageSize)}`);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database }, options.guard) });
  return { db, database };
}

/**
 * Syncs a WAL file to disk on libuv's thread pool, so the main thread keeps running while the disk works. Calls made
 * while a sync runs share the next one (it starts after the running one ends, so it covers their commits too).
 */
export class WalSync {
  readonly #path: string;
  readonly #fsync: (path: string) => Promise<void>;
  #running: Promise<void> | null = null;
  #next: Promise<void> | null = null;

  constructor(walPath: string, fsync: (path: string) => Promise<void> = fdatasyncFile) {
    this.#path = walPath;
    this.#fsync = fsync;
  }

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    if (this.#running === null) return this.#start();
    // The running sync may have started before the caller's commit: wait for a fresh one.
    return (this.#next ??= this.#running.then(
      () => this.#afterRunning(),
      () => this.#afterRunning(),
    ));
  }

  #afterRunning(): Promise<void> {
    this.#next = null;
    return this.#start();
  }

  #start(): Promise<void> {
    const run = this.#fsync(this.#path).finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }
}

/** Opens the file for each sync: SQLite may recreate the WAL, and a handle kept open could point at the old one. */
async function fdatasyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
