/**
 * Plain-language descriptions of the codes a run reports: why identities were excluded (identity rules, segment
 * origin) and why deliveries failed (X error codes and error kinds). Unknown codes are shown as they are.
 */
const DESCRIPTIONS: Record<string, string> = {
  // Exclusions decided before anything is sent.
  no_mappable_identifier:
    'The profile has no value for any mapped source, so there is nothing X could match.',
  consent_denied:
    "A consent policy applies to this destination and neither the profile's consent attribute nor an alternative of the policy holds an allowed value (see Settings).",
  segment_namespace_not_supported:
    'The profile qualified through a segment that is not a Segmentation Service audience; X accepts only those.',
  unsupported_type: 'The mapping targets an identifier type X does not accept.',
  not_text: 'The source value is not text (for example a number or an object).',
  empty: 'The source value is empty.',
  too_long: 'The source value is longer than any valid identifier.',
  invalid_characters: 'The source value contains characters no identifier of this type can hold.',
  email_missing_at: 'Not an email address: there is no "@".',
  email_multiple_at: 'Not an email address: there is more than one "@".',
  email_empty_local_part: 'Not an email address: nothing before the "@".',
  email_empty_domain: 'Not an email address: nothing after the "@".',
  email_domain_without_dot: 'Not an email address: the domain has no dot.',
  email_domain_invalid: 'Not an email address: the domain is malformed.',
  email_whitespace: 'Not an email address: it contains spaces inside.',
  device_id_invalid: 'Not an IDFA, GAID or Android ID.',
  device_id_kind_mismatch:
    'The device id does not have the shape its namespace implies (IDFA vs GAID vs Android ID).',
  device_id_zero: 'An all-zero advertising id (limit-ad-tracking); X cannot match it.',
  phone_invalid: 'Not a valid phone number.',
  phone_needs_region: 'The phone number has no country code and no default region is configured.',
  region_unknown: 'The configured region is not a known country code.',
  handle_invalid: 'Not a valid X handle.',
  twitter_id_invalid: 'Not a numeric X user id.',
  hash_invalid:
    'The source is declared hashed but the value is not a SHA-256 hex digest; tick "Apply transformation" if it holds plain values.',
  // Failures reported by X or on the way there.
  RATE_LIMITED: 'X rate-limited the requests beyond the retry budget.',
  TRANSIENT: 'X or the network failed repeatedly (timeouts or 5xx) beyond the retry budget.',
  AUTH: 'X refused the credentials; log in with X again on the connection.',
  UNAUTHORIZED_ACCESS: 'X refused the credentials; log in with X again on the connection.',
  PERMISSION: 'The authorized user lacks permission on the ads account (Partner Audience Manager).',
  NOT_FOUND: 'X does not know the audience or the account any more.',
  VALIDATION: 'X rejected the request as invalid.',
  INVALID_PARAMETER: 'X rejected a parameter of the request.',
  TOO_MANY_USERS: 'The request carried more users than X accepts in one call.',
  ACCOUNT_NOT_FOUND: 'The ads account is not reachable with these credentials.',
  UNKNOWN: 'An unexpected error; the dead letters keep the affected changes for replay.',
};

export function describeReason(code: string): string {
  return DESCRIPTIONS[code] ?? DESCRIPTIONS[code.toUpperCase()] ?? code.replace(/_/g, ' ');
}
