/**
 * X Ads API client for List Custom Audiences: OAuth 1.0a signing, the audience endpoints, batch packing for
 * the users endpoint, the error taxonomy, rate-limit budgets, the preflight checklist and PIN login.
 *
 * @example
 * import { XAdsClient, packUserChanges } from './xads/index.ts';
 * const client = new XAdsClient({ credentials });
 * const check = await client.verify('18ce54d4x5t');
 * for (const request of packUserChanges(changes)) await client.postUsers('18ce54d4x5t', audienceId, request);
 */
export {
  XAdsClient,
  ClockOffsets,
  CLOCK_SKEW_TOLERANCE_MS,
  DEFAULT_API_VERSION,
  DEFAULT_BASE_URL,
  sharedClockOffsets,
} from './client.ts';
export type {
  CustomAudiencePage,
  FetchLike,
  XAdsApi,
  ListCustomAudiencesOptions,
  XAdsClientOptions,
  XAdsRequestEvent,
  XAdsWaitEvent,
  XApiWarning,
} from './client.ts';
export type {
  AuthenticatedUserAccess,
  CustomAudience,
  PackedRequest,
  UserChange,
  UserOperation,
  UserOperationType,
  UsersResult,
  XAccount,
  XApiVersion,
  XCredentials,
} from './types.ts';
export {
  AuthError,
  errorFromResponse,
  isXAdsError,
  NotFoundError,
  parseErrorDetails,
  parseRetryAfter,
  rateLimitRetryAt,
  PermissionError,
  RateLimitedError,
  TransientError,
  ValidationError,
  XAdsError,
} from './errors.ts';
export type { TransientReason, XAdsErrorKind, XErrorDetail } from './errors.ts';
export {
  changeIndexesForError,
  formatXTimestamp,
  MAX_BODY_BYTES,
  MAX_OPERATIONS_PER_REQUEST,
  packUserChanges,
  planUserRequests,
} from './pack-user-changes.ts';
export type { PackOptions, PackRejection, PackRejectionCode, PackResult } from './pack-user-changes.ts';
export {
  backoffDelay,
  effectiveWindow,
  endpointFamily,
  parseRateLimitHeaders,
  RateBudgets,
  sharedRateBudgets,
} from './rate-limit.ts';
export type { BudgetKey, EndpointFamily, RateLimitInfo, RateLimitWindow } from './rate-limit.ts';
export { verifyAccount } from './verify.ts';
export type {
  VerifyCheck,
  VerifyCheckId,
  VerifyFailure,
  VerifyResult,
  VerifySource,
  VerifyStatus,
} from './verify.ts';
export { accessToken, authorizeUrl, DEFAULT_OAUTH_BASE_URL, requestToken } from './pin-login.ts';
export type { AccessTokenResult, AppCredentials, PinLoginOptions, RequestToken } from './pin-login.ts';
export {
  hmacSha1Signature,
  parseAuthorizationHeader,
  percentEncode,
  queryParams,
  signatureBaseString,
  signatureBaseUrl,
  signedOAuthParams,
  signatureParams,
  signRequest,
  verifySignature,
} from './oauth1.ts';
export type { OAuthConsumer, OAuthParams, OAuthToken, SignRequestInput } from './oauth1.ts';
