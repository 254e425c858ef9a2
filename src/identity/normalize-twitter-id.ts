import { accepted, rejected, type Normalized } from './identity-result.ts';
import { MAX_RAW_LENGTH } from './text-guards.ts';

const DIGITS = /^[0-9]+$/;
// X user ids are unsigned 64-bit integers: at most 20 decimal digits.
const MAX_DIGITS = 20;
const MAX_ID = '18446744073709551615';

/**
 * Normalizes an X user id to a standard integer: trimmed, digits only, no sign, leading zeros removed (X hashes the
 * canonical decimal form, so `0143567` and `143567` are the same user), at most 20 digits, not zero.
 *
 * @example
 * normalizeTwitterId(' 143567 '); // { ok: true, normalized: '143567' }
 * normalizeTwitterId('-5');       // { ok: false, code: 'twitter_id_invalid', … }
 */
export function normalizeTwitterId(raw: string): Normalized {
  if (raw.length > MAX_RAW_LENGTH) return tooLong();
  const value = raw.trim();
  if (value.length === 0) return rejected('empty', 'The X user id is empty.');
  if (!DIGITS.test(value)) {
    return rejected(
      'twitter_id_invalid',
      'An X user id is a plain integer: digits only, no sign or separators.',
    );
  }
  let start = 0;
  while (start < value.length - 1 && value.charCodeAt(start) === 0x30) start += 1;
  const canonical = start === 0 ? value : value.slice(start);
  if (canonical === '0') return rejected('twitter_id_invalid', 'An X user id is never zero.');
  // Equal lengths compare as numbers: 20 digits above 2^64 - 1 name no user.
  if (canonical.length > MAX_DIGITS || (canonical.length === MAX_DIGITS && canonical > MAX_ID))
    return tooLong();
  return accepted(canonical);
}

function tooLong(): Normalized {
  return rejected('too_long', `An X user id has at most ${MAX_DIGITS} digits (at most ${MAX_ID}).`);
}
