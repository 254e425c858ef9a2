import type { XIdentifierType } from './types.ts';

/**
 * Every reason an identifier can be refused, as a closed set so that run reports and the API can count them.
 * The message that goes with a code explains the rule and how to fix the value; it never repeats the value.
 */
export const IDENTITY_REJECTION_CODES = [
  'unsupported_type',
  'not_text',
  'empty',
  'too_long',
  'invalid_characters',
  'email_missing_at',
  'email_multiple_at',
  'email_empty_local_part',
  'email_empty_domain',
  'email_domain_without_dot',
  'email_domain_invalid',
  'email_whitespace',
  'device_id_invalid',
  'device_id_kind_mismatch',
  'device_id_zero',
  'phone_invalid',
  'phone_needs_region',
  'region_unknown',
  'handle_invalid',
  'twitter_id_invalid',
  'hash_invalid',
] as const;

export type IdentityRejectionCode = (typeof IDENTITY_REJECTION_CODES)[number];

/** The three device identifier kinds X matches under `device_id`. */
export type DeviceKind = 'idfa' | 'gaid' | 'android_id';

export interface NormalizeOptions {
  /** ISO 3166-1 alpha-2 region used for phone numbers written without a `+` country code, e.g. `US`. */
  region?: string;
  /** The value is already a SHA-256 digest (a `*_SHA256` namespace, or a mapping without "Apply transformation"). */
  hashed?: boolean;
  /** The device identifier kind implied by the source namespace (IDFA, GAID); when absent the shape decides. */
  deviceKind?: DeviceKind;
}

export type IdentityResult =
  | {
      ok: true;
      type: XIdentifierType;
      /** The normalized plain value, or the lowercased digest for pre-hashed input. */
      normalized: string;
      /** Lowercase hex SHA-256 of `normalized`; `null` for `partner_user_id`, which X takes unhashed. */
      sha256: string | null;
      /** What is sent to X: the digest, or the normalized value for `partner_user_id`. */
      value: string;
    }
  | { ok: false; type: XIdentifierType; code: IdentityRejectionCode; message: string };

/** The outcome of one per-type normalizer, before hashing. */
export type Normalized =
  { ok: true; normalized: string } | { ok: false; code: IdentityRejectionCode; message: string };

export function rejected(code: IdentityRejectionCode, message: string): Normalized {
  return { ok: false, code, message };
}

export function accepted(normalized: string): Normalized {
  return { ok: true, normalized };
}
