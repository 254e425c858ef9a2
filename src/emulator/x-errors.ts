/**
 * X's error envelope (docs.x.com "Error codes and responses"): `{ errors: [{ code, message, parameter? }],
 * request: { params } }`, with the HTTP statuses X documents for each code.
 */
export interface XErrorItem {
  code: string;
  message: string;
  parameter?: string;
  [extra: string]: unknown;
}

export type RequestParams = Record<string, string | string[]>;

/** The statuses X documents per error code; codes the emulator chooses itself are listed too. */
export const X_ERROR_STATUS: Readonly<Record<string, number>> = {
  INVALID_PARAMETER: 400,
  MISSING_PARAMETER: 400,
  EXCLUSIVE_PARAMETERS: 400,
  UNAUTHORIZED_ACCESS: 401,
  ACCOUNT_NOT_FOUND: 403,
  ACTION_NOT_ALLOWED: 403,
  UNAUTHORIZED_CLIENT_APPLICATION: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  CANCELLED_REQUEST: 408,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  LOCK_ACQUISITION_TIMEOUT: 423,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
};

/** The JSON body of an error response. */
export function errorBody(errors: XErrorItem[], params: RequestParams = {}): string {
  return JSON.stringify({ errors, request: { params } });
}

/** A JSON error response whose status follows the first error's code. */
export function errorResponse(
  error: XErrorItem,
  params: RequestParams = {},
  init: { status?: number; headers?: Record<string, string> } = {},
): Response {
  const status = init.status ?? X_ERROR_STATUS[error.code] ?? 400;
  return new Response(errorBody([error], params), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...init.headers },
  });
}

/** A 200 JSON response. */
export function jsonResponse(
  body: unknown,
  init: { status?: number; headers?: Record<string, string> } = {},
): Response {
  return new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { 'content-type': 'application/json; charset=utf-8', ...init.headers },
  });
}

/** The default body of an injected fault with this status: X's envelope, or nothing for a gateway timeout. */
export function defaultFaultBody(status: number): string | null {
  const byStatus: Record<number, XErrorItem> = {
    400: { code: 'INVALID_PARAMETER', message: 'Injected fault: invalid parameter' },
    401: {
      code: 'UNAUTHORIZED_ACCESS',
      message: 'Injected fault: this request is not properly authenticated',
    },
    403: { code: 'ACCOUNT_NOT_FOUND', message: 'Injected fault: account not found' },
    404: { code: 'NOT_FOUND', message: 'Injected fault: not found' },
    408: { code: 'CANCELLED_REQUEST', message: 'Injected fault: the request was cancelled' },
    423: { code: 'LOCK_ACQUISITION_TIMEOUT', message: 'Injected fault: could not acquire a lock' },
    429: { code: 'TOO_MANY_REQUESTS', message: 'Injected fault: rate limit exceeded' },
    500: { code: 'INTERNAL_ERROR', message: 'Injected fault: internal error' },
    503: { code: 'SERVICE_UNAVAILABLE', message: 'Injected fault: service unavailable' },
  };
  if (status === 504) return null;
  const error = byStatus[status] ?? { code: 'INTERNAL_ERROR', message: `Injected fault: HTTP ${status}` };
  return errorBody([error]);
}
