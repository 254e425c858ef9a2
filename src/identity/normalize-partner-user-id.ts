import { accepted, rejected, type Normalized } from './identity-result.ts';
import { hasInvalidCharacters, MAX_RAW_LENGTH } from './text-guards.ts';

export const MAX_PARTNER_USER_ID_LENGTH = 255;

/**
 * Normalizes a partner user id: trimmed, non-empty, at most 255 characters. X takes this identifier as is, so it is
 * the one value that is never hashed; it is otherwise left untouched (case included).
 *
 * @example
 * normalizePartnerUserId(' crm-000123 '); // { ok: true, normalized: 'crm-000123' }
 */
export function normalizePartnerUserId(raw: string): Normalized {
  if (raw.length > MAX_RAW_LENGTH) return tooLong();
  const value = raw.trim();
  if (value.length === 0) return rejected('empty', 'The partner user id is empty.');
  if (value.length > MAX_PARTNER_USER_ID_LENGTH) return tooLong();
  if (hasInvalidCharacters(value)) {
    return rejected(
      'invalid_characters',
      'The partner user id contains a control character or invalid UTF-16.',
    );
  }
  return accepted(value);
}

function tooLong(): Normalized {
  return rejected('too_long', `A partner user id has at most ${MAX_PARTNER_USER_ID_LENGTH} characters.`);
}
