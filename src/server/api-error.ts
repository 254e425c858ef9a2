/** One problem with a request: where (a JSON path such as `mapping[2].target`, or a header/parameter name) and why. */
export interface ErrorDetail {
  path: string;
  reason: string;
}

/**
 * The only error type handlers throw. The error handler turns it into
 * `{ error: { code, message, details: [{ path, reason }] } }` with `status`.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];
  readonly headers: Record<string, string>;

  constructor(options: {
    status: number;
    code: string;
    message: string;
    details?: ErrorDetail[];
    headers?: Record<string, string>;
  }) {
    super(options.message);
    this.status = options.status;
    this.code = options.code;
    this.details = options.details ?? [];
    this.headers = options.headers ?? {};
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details: ErrorDetail[] };
}

export const badRequest = (message: string, details: ErrorDetail[] = [], code = 'invalid_request') =>
  new ApiError({ status: 400, code, message, details });

export const notFound = (what: string, id?: string) =>
  new ApiError({
    status: 404,
    code: 'not_found',
    message: id === undefined ? `${what} not found` : `${what} "${id}" not found in this sandbox`,
  });

export const conflict = (message: string, details: ErrorDetail[] = []) =>
  new ApiError({ status: 409, code: 'conflict', message, details });

/** An activation, or a change to one, that would break data-usage policies: every violation, with what to do. */
export const policyViolation = (details: ErrorDetail[]) =>
  new ApiError({
    status: 409,
    code: 'policy_violation',
    message: `Refused: ${details.length} data-usage policy violation${details.length === 1 ? '' : 's'} (see details)`,
    details,
  });

/**
 * A new ads account for a destination whose audiences already live in its current one: deliveries would address them
 * in the new account, where X has no such audience.
 */
export const accountInUse = (input: { from: string; to: string; details: ErrorDetail[] }) =>
  new ApiError({
    status: 409,
    code: 'account_in_use',
    message:
      `Refused: ${input.details.length} activated audience${input.details.length === 1 ? ' has its' : 's have their'} ` +
      `X audience in ads account ${input.from}, so the destination cannot move to account ${input.to}. ` +
      'Remove those audiences from their dataflows (or delete the dataflows) first, or create a new destination ' +
      `for account ${input.to}. Nothing was changed.`,
    details: input.details,
  });

/**
 * New credentials, account or API URL for a destination that works, refused because they fail the preflight: each
 * failed check, at the field it is about. Nothing was saved.
 */
export const connectionCheckFailed = (
  checks: ReadonlyArray<{
    id: string;
    label: string;
    status: string;
    message: string;
    xCode?: string | undefined;
  }>,
  /** The change included a new API base URL: a check X never answered is about that URL. */
  newApiBaseUrl = false,
) => {
  const failed = checks.filter((c) => c.status === 'fail');
  const skipped = checks.filter((c) => c.status === 'skipped').length;
  return new ApiError({
    status: 422,
    code: 'connection_check_failed',
    message:
      `Refused: the new connection fails ${failed.length === 1 ? 'a check' : `${failed.length} checks`} of the preflight` +
      `${skipped > 0 ? ` (and ${skipped} could not run after ${failed.length === 1 ? 'it' : 'them'})` : ''}. ` +
      'Nothing was saved: the destination keeps its working connection and deliveries go on with it. Fix what the ' +
      'details say and send the change again (POST /api/v1/destinations/:id/verify runs the same checks alone).',
    details: failed.map((c) => ({
      path:
        newApiBaseUrl && c.xCode === undefined
          ? 'apiBaseUrl'
          : c.id === 'credentials' || c.id === 'audience_api'
            ? 'credentials'
            : 'accountId',
      reason: `Check "${c.label}" failed: ${c.message}`,
    })),
  });
};

export const unauthorized = (message: string) =>
  new ApiError({
    status: 401,
    code: 'unauthorized',
    message,
    headers: { 'www-authenticate': 'Bearer realm="tca"' },
  });

export const forbidden = (permission: string) =>
  new ApiError({
    status: 403,
    code: 'forbidden',
    message: `This token lacks the "${permission}" permission; create a token that has it (tca tokens create --permission "${permission}")`,
    details: [{ path: 'authorization', reason: `missing permission: ${permission}` }],
  });

/** A body whose content type (or encoding) the route does not read: `message` names what it takes. */
export const unsupportedMediaType = (message: string, details: ErrorDetail[] = []) =>
  new ApiError({ status: 415, code: 'unsupported_media_type', message, details });

export const payloadTooLarge = (message: string, details: ErrorDetail[] = []) =>
  new ApiError({ status: 413, code: 'payload_too_large', message, details });

export const upstreamError = (message: string, details: ErrorDetail[] = []) =>
  new ApiError({ status: 502, code: 'upstream_error', message, details });
