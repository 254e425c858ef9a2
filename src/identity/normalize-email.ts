import { accepted, rejected, type Normalized } from './identity-result.ts';
import { hasInvalidCharacters, isPrintableAscii, MAX_RAW_LENGTH } from './text-guards.ts';

/** RFC 5321 limits a forward path to 254 characters. */
export const MAX_EMAIL_LENGTH = 254;

const WHITESPACE = /\s/;
// RFC 5322 specials: outside a quoted local part no address holds them, and X's account addresses are never quoted,
// so `a,b@x.com` or `<jane@example.com>` is a paste or parsing slip that could never match.
const SPECIALS = /[(),:;<>[\]\\"]/;
// Invisible format characters (zero-width space and joiners, bidi marks, soft hyphen): a copy-paste artefact that
// changes the digest while the address looks right.
const FORMAT_CHARACTERS = /\p{Cf}/u;

/**
 * Normalizes an email address the way X's User Data rules say: trim, lowercase, nothing else (beyond composing the
 * accents of a non-ASCII address, NFC). Dots and `+tags` are kept, because X hashes the address as written and
 * stripping them would change the digest.
 *
 * @example
 * normalizeEmail('  Test.User+Promo@Example.COM '); // { ok: true, normalized: 'test.user+promo@example.com' }
 * normalizeEmail('no-at-sign.example.com');          // { ok: false, code: 'email_missing_at', … }
 */
export function normalizeEmail(raw: string): Normalized {
  if (raw.length > MAX_RAW_LENGTH) return tooLong();
  let value: string;
  if (isPrintableAscii(raw)) {
    // Fast path: nothing to trim, no whitespace or control characters to look for.
    value = raw.toLowerCase();
  } else {
    const trimmed = raw.trim();
    if (trimmed.length === 0) return rejected('empty', 'The email address is empty.');
    if (hasInvalidCharacters(trimmed)) {
      return rejected(
        'invalid_characters',
        'The email address contains a control character or invalid UTF-16.',
      );
    }
    if (WHITESPACE.test(trimmed)) {
      return rejected('email_whitespace', 'The email address contains whitespace; remove it.');
    }
    if (FORMAT_CHARACTERS.test(trimmed)) {
      return rejected(
        'invalid_characters',
        'The email address contains an invisible format character (e.g. a zero-width space); remove it.',
      );
    }
    // One spelling of each accented letter (NFC, as RFC 6532 asks of internationalized addresses): an address typed
    // on another keyboard may spell `é` as `e` plus a combining accent, which would hash differently.
    value = trimmed.normalize('NFC').toLowerCase();
  }
  if (value.length === 0) return rejected('empty', 'The email address is empty.');
  if (value.length > MAX_EMAIL_LENGTH) return tooLong();
  const at = value.indexOf('@');
  if (at === -1) return rejected('email_missing_at', 'The email address has no "@".');
  if (value.indexOf('@', at + 1) !== -1) {
    return rejected('email_multiple_at', 'The email address has more than one "@".');
  }
  if (at === 0) return rejected('email_empty_local_part', 'The email address has nothing before the "@".');
  if (at === value.length - 1)
    return rejected('email_empty_domain', 'The email address has nothing after the "@".');
  if (SPECIALS.test(value)) {
    return rejected(
      'invalid_characters',
      'The email address contains one of ( ) , : ; < > [ ] \\ " which no unquoted address holds; send the bare address.',
    );
  }
  const domainDot = value.indexOf('.', at + 1);
  if (domainDot === -1) {
    return rejected('email_domain_without_dot', 'The email domain has no dot (expected e.g. "example.com").');
  }
  if (domainDot === at + 1 || value.endsWith('.') || value.includes('..', at + 1)) {
    return rejected(
      'email_domain_invalid',
      'The email domain has an empty label (a leading, trailing or double dot).',
    );
  }
  return accepted(value);
}

function tooLong(): Normalized {
  return rejected('too_long', `The email address is longer than ${MAX_EMAIL_LENGTH} characters.`);
}
