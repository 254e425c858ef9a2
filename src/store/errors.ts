/** What went wrong in the store, so callers can branch without parsing messages. */
export type StoreErrorCode =
  | 'invalid_config'
  | 'secret_key'
  | 'decrypt_failed'
  | 'migration_failed'
  | 'not_found'
  | 'conflict'
  | 'invalid_input';

/**
 * The store's only error type: `message` says what happened and where, `hint` says how to fix it.
 *
 * @example
 * throw new StoreError('secret_key', 'TCA_SECRET_KEY is not 32 bytes', { hint: 'Use 64 hex characters.' });
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(
    code: StoreErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(options.hint ? `${message}. ${options.hint}` : message, { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** True when a database error is a unique/primary-key violation, on either backend. */
export function isUniqueViolation(error: unknown): boolean {
  const code = codeOf(error);
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when a database error is a foreign-key violation, on either backend. */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = codeOf(error);
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** What makes the database refuse work for a while, by error code: SQLite's result codes and Node's system errors. */
const UNAVAILABLE: Record<string, string> = {
  SQLITE_FULL: 'the disk holding the database is full',
  SQLITE_IOERR: 'the disk holding the database failed to read or write',
  SQLITE_READONLY: 'the database file cannot be written',
  SQLITE_BUSY: 'another process holds the database',
  SQLITE_CANTOPEN: 'the database file cannot be opened',
  ENOSPC: 'the disk holding the database is full',
  EROFS: 'the database file is on a read-only file system',
  ECONNREFUSED: 'the database server refuses connections',
  ECONNRESET: 'the connection to the database server broke',
  ETIMEDOUT: 'the database server does not answer',
  ENOTFOUND: 'the database server name does not resolve',
};

/** PostgreSQL SQLSTATE classes and codes that mean the server cannot take work now. */
const UNAVAILABLE_SQLSTATE: Array<[RegExp, string]> = [
  [/^53100$/, 'the database server is out of disk space'],
  [/^53/, 'the database server is out of resources (memory or connections)'],
  [/^57P0[1-3]$/, 'the database server is shutting down or starting'],
  [/^08/, 'the connection to the database server failed'],
  [/^25006$/, 'the database server is read-only (a standby?)'],
];

/**
 * Why the database cannot take work now (a full disk, a server that is down…), for an error from either backend or
 * one that has it as its cause; undefined for any other error. Such a failure changed nothing (its transaction
 * rolled back) and the same request may succeed later.
 */
export function storeUnavailable(error: unknown): string | undefined {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth += 1) {
    const code = codeOf(e);
    if (code !== undefined) {
      // SQLite's extended codes (SQLITE_IOERR_WRITE…) share their primary code's meaning.
      const primary = code.startsWith('SQLITE_') ? code.split('_').slice(0, 2).join('_') : code;
      const reason = UNAVAILABLE[code] ?? UNAVAILABLE[primary];
      if (reason !== undefined) return `${reason} (${code})`;
      if (/^[0-9A-Z]{5}$/.test(code)) {
        const known = UNAVAILABLE_SQLSTATE.find(([pattern]) => pattern.test(code));
        if (known) return `${known[1]} (SQLSTATE ${code})`;
      }
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
