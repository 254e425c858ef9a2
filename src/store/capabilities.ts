/**
 * What a backend can do. Code branches on these flags, never on the backend's name, so a new backend only has to
 * describe itself.
 */
export interface Capabilities {
  dialect: 'sqlite' | 'postgres';
  /**
   * One writer at a time for the whole database (SQLite). Work distribution needs no row locks, and long write
   * transactions block every other writer, so keep them short.
   */
  singleWriter: boolean;
  /** `select … for update skip locked` is available, so several workers can claim rows concurrently (PostgreSQL). */
  skipLocked: boolean;
  /** Largest number of bound parameters in one statement. */
  maxParameters: number;
}

export const SQLITE_CAPABILITIES: Capabilities = Object.freeze({
  dialect: 'sqlite',
  singleWriter: true,
  skipLocked: false,
  // SQLITE_MAX_VARIABLE_NUMBER defaults to 32766 since SQLite 3.32.
  maxParameters: 32766,
});

export const POSTGRES_CAPABILITIES: Capabilities = Object.freeze({
  dialect: 'postgres',
  singleWriter: false,
  skipLocked: true,
  // The wire protocol counts parameters in an Int16.
  maxParameters: 65535,
});
