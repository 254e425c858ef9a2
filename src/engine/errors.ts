/** What went wrong in the engine, so callers (the service, the CLI) can branch without parsing messages. */
export type EngineErrorCode =
  | 'not_found'
  /** The change conflicts with what is stored (profile keys once profiles exist). */
  | 'conflict'
  /** A sandbox's profile keys are being re-keyed already: one re-keying at a time. */
  | 'rekey_in_progress'
  /** Allowed again later ("Activate now" once per 24 hours); the details say when. */
  | 'too_soon'
  | 'invalid_input'
  | 'invalid_file'
  /** The file or upload being imported failed to read to its end. */
  | 'source_failed'
  | 'store_missing_feature'
  | 'delivery_failed'
  | 'stopped'
  /** Evaluated profiles were made under a mapping that has changed since: evaluate them again. */
  | 'context_changed';

/**
 * The engine's only error type: `message` says what happened and where, `hint` how to fix it, `details` carries
 * JSON paths or ids for API error envelopes.
 *
 * @example
 * throw new EngineError('not_found', 'Dataflow df_1 does not exist in sandbox prod', { hint: 'List dataflows first' });
 */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  readonly code: EngineErrorCode;
  readonly hint: string | undefined;
  readonly details: Array<{ path: string; reason: string }>;
  /** For `too_soon`: when (epoch ms) the refused action is allowed again. */
  readonly retryAt: number | undefined;

  constructor(
    code: EngineErrorCode,
    message: string,
    options: {
      hint?: string;
      cause?: unknown;
      details?: Array<{ path: string; reason: string }>;
      retryAt?: number;
    } = {},
  ) {
    super(options.hint ? `${message}. ${options.hint}` : message, { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? [];
    this.retryAt = options.retryAt;
  }
}
