import { X_IDENTIFIER_TYPES, type XIdentifierType } from './types.ts';
import type { IdentityResult, Normalized, NormalizeOptions } from './identity-result.ts';
import { isSha256Hex, sha256Hex } from './sha256-hex.ts';
import { normalizeEmail } from './normalize-email.ts';
import { normalizeDeviceId } from './normalize-device-id.ts';
import { normalizePhoneNumber } from './normalize-phone-number.ts';
import { normalizeHandle } from './normalize-handle.ts';
import { normalizeTwitterId } from './normalize-twitter-id.ts';
import { normalizePartnerUserId } from './normalize-partner-user-id.ts';
import { MAX_RAW_LENGTH } from './text-guards.ts';

const KNOWN_TYPES: ReadonlySet<string> = new Set(X_IDENTIFIER_TYPES);

/** Whether `s` names one of X's identifier types. */
export function isXIdentifierType(s: string): s is XIdentifierType {
  return KNOWN_TYPES.has(s);
}

/**
 * Turns one raw identifier into what X receives: normalized per X's User Data rules and SHA-256 hashed (lowercase hex,
 * no salt), or a rejection with a code from {@link IDENTITY_REJECTION_CODES}. Never throws, whatever the string.
 *
 * With `hashed: true` the value is declared already hashed (a `*_SHA256` namespace, or a mapping without "Apply
 * transformation"): it must be 64 hex characters, is lowercased, and is never hashed again. A plain value is never sent
 * unhashed. `partner_user_id` is the exception X makes: it is trimmed and sent as is, and `hashed` does not apply.
 *
 * @example
 * normalizeIdentity('handle', '@AdsAPI ');
 * // { ok: true, type: 'handle', normalized: 'adsapi',
 * //   sha256: '49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d', value: '49e0be2a…' }
 * normalizeIdentity('phone_number', '(212) 555-0100', { region: 'US' }); // normalized '+12125550100'
 * normalizeIdentity('email', 'ABC', { hashed: true }); // { ok: false, code: 'hash_invalid', … }
 */
export function normalizeIdentity(
  type: XIdentifierType,
  raw: string,
  options: NormalizeOptions = {},
): IdentityResult {
  // `null` from untyped callers means "no options" too.
  const opts: NormalizeOptions = options ?? {};
  // Callers outside TypeScript (CLI, API, files) can hand over anything; stay total.
  if (typeof raw !== 'string') {
    return { ok: false, type, code: 'not_text', message: 'The identifier is not text (a string).' };
  }
  if (!KNOWN_TYPES.has(type)) {
    return {
      ok: false,
      type,
      code: 'unsupported_type',
      message: `Unknown identifier type; expected one of ${X_IDENTIFIER_TYPES.join(', ')}.`,
    };
  }
  if (type === 'partner_user_id') {
    const result = normalizePartnerUserId(raw);
    if (!result.ok) return { ok: false, type, code: result.code, message: result.message };
    return { ok: true, type, normalized: result.normalized, sha256: null, value: result.normalized };
  }
  if (opts.hashed === true) return prehashed(type, raw);
  const result = normalizePlain(type, raw, opts);
  if (!result.ok) return { ok: false, type, code: result.code, message: result.message };
  const sha256 = sha256Hex(result.normalized);
  return { ok: true, type, normalized: result.normalized, sha256, value: sha256 };
}

function normalizePlain(type: XIdentifierType, raw: string, options: NormalizeOptions): Normalized {
  switch (type) {
    case 'email':
      return normalizeEmail(raw);
    case 'device_id':
      return normalizeDeviceId(raw, options);
    case 'phone_number':
      return normalizePhoneNumber(raw, options);
    case 'handle':
      return normalizeHandle(raw);
    case 'twitter_id':
      return normalizeTwitterId(raw);
    case 'partner_user_id':
      return normalizePartnerUserId(raw);
  }
}

function prehashed(type: XIdentifierType, raw: string): IdentityResult {
  const value = raw.length > MAX_RAW_LENGTH ? raw : raw.trim();
  if (value.length === 0)
    return { ok: false, type, code: 'empty', message: 'The hashed identifier is empty.' };
  if (!isSha256Hex(value)) {
    return {
      ok: false,
      type,
      code: 'hash_invalid',
      message:
        'A value declared hashed must be a SHA-256 digest (64 hex characters). If it is plain text, turn on "Apply transformation" so it is normalized and hashed.',
    };
  }
  const digest = value.toLowerCase();
  return { ok: true, type, normalized: digest, sha256: digest, value: digest };
}
