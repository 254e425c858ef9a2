import { existsSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { StoreError } from './errors.ts';
import { SQLITE_PAGE_SIZE } from './sqlite-backend.ts';

/** A SQLite store file before or after `compactSqliteFile`. */
export interface SqliteFileShape {
  pageSize: number;
  /** The database file's size, without its WAL. */
  bytes: number;
}

/**
 * Rewrites a store's SQLite file (VACUUM) with the page size new files get (`SQLITE_PAGE_SIZE`), giving back the
 * space of deleted rows. A file made before 16 KiB pages were the default gets them this way. Nothing may use the file
 * meanwhile: the call refuses, changing nothing, while another connection holds it (a running service) or when the
 * disk lacks room for the copy VACUUM writes. VACUUM is one transaction: a crash leaves the file as it was.
 *
 * @example
 * compactSqliteFile('data/tca.db'); // { before: { pageSize: 4096, bytes: … }, after: { pageSize: 16384, bytes: … } }
 */
export function compactSqliteFile(path: string): { before: SqliteFileShape; after: SqliteFileShape } {
  if (!existsSync(path))
    throw new StoreError('not_found', `No SQLite store at ${path}`, {
      hint: 'Point TCA_DATA_DIR (or --data-dir) at the data directory, or TCA_DATABASE_URL at the file',
    });
  const database = new BetterSqlite3(path, { fileMustExist: true });
  try {
    // No waiting: a lock held by anyone else means the file is in use.
    database.pragma('busy_timeout = 0');
    // Leaving WAL mode needs the only connection (SQLite refuses, or answers with the mode it stays in); it also folds
    // the WAL into the file, so the file's size is the data's.
    let mode: unknown;
    let refusal: unknown;
    try {
      mode = database.pragma('journal_mode = DELETE', { simple: true });
    } catch (error) {
      refusal = error;
    }
    if (typeof mode !== 'string' || mode.toLowerCase() !== 'delete')
      throw new StoreError('conflict', `${path} is in use by another process`, {
        cause: refusal,
        hint: 'Stop the service (and any other tca process using this data directory), then compact again',
      });
    const before = shapeOf(database, path);
    // VACUUM writes a full copy before it replaces the file.
    const disk = statfsSync(dirname(path));
    const free = disk.bavail * disk.bsize;
    const needed = Math.ceil(before.bytes * 1.1);
    if (free < needed) {
      database.pragma('journal_mode = WAL');
      throw new StoreError('invalid_input', `Not enough free disk next to ${path} to rewrite it`, {
        details: { needBytes: needed, freeBytes: free },
        hint: 'Free disk space (VACUUM writes a copy as large as the file), then compact again',
      });
    }
    database.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    database.exec('VACUUM');
    database.pragma('journal_mode = WAL');
    return { before, after: shapeOf(database, path) };
  } finally {
    database.close();
  }
}

function shapeOf(database: BetterSqlite3.Database, path: string): SqliteFileShape {
  return { pageSize: database.pragma('page_size', { simple: true }) as number, bytes: statSync(path).size };
}
