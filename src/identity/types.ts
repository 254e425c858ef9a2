/** The identifier types X's Custom Audience users endpoint accepts (API v12). */
export const X_IDENTIFIER_TYPES = [
  'email',
  'device_id',
  'phone_number',
  'handle',
  'twitter_id',
  'partner_user_id',
] as const;

export type XIdentifierType = (typeof X_IDENTIFIER_TYPES)[number];

/**
 * One user object of a users-endpoint operation: every value is a lowercase SHA-256 hex digest, except
 * `partner_user_id`, which X takes as is.
 */
export type XUser = Partial<Record<XIdentifierType, string[]>>;
