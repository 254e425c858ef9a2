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
