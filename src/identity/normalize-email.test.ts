import { describe, expect, it } from 'vitest';
import { normalizeEmail } from './normalize-email.ts';

describe('normalizeEmail', () => {
  it.each([
    ['jane@example.com', 'jane@example.com'],
    ['  Test.User+Promo@Example.COM ', 'test.user+promo@example.com'],
    ['\tJANE@EXAMPLE.CO.UK\n', 'jane@example.co.uk'],
    ['first.last+tag+more@sub.example.org', 'first.last+tag+more@sub.example.org'],
    ['\ufeffjane@example.com', 'jane@example.com'],
    ['ÉLODIE@EXAMPLE.FR', 'élodie@example.fr'],
    // E and a combining acute accent: the same address as the one above, spelled with two code points.
    ['E\u0301LODIE@example.fr', 'élodie@example.fr'],
    ['jose\u0301@example.com', 'josé@example.com'],
  ])('accepts %j as %j', (raw, normalized) => {
    expect(normalizeEmail(raw)).toEqual({ ok: true, normalized });
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['jane.example.com', 'email_missing_at'],
    ['jane@@example.com', 'email_multiple_at'],
    ['jane@work@example.com', 'email_multiple_at'],
    ['@example.com', 'email_empty_local_part'],
    ['jane@', 'email_empty_domain'],
    ['jane@localhost', 'email_domain_without_dot'],
    ['jane@.example.com', 'email_domain_invalid'],
    ['jane@example.com.', 'email_domain_invalid'],
    ['jane@example..com', 'email_domain_invalid'],
    ['jane doe@example.com', 'email_whitespace'],
    ['jane@exa\u00a0mple.com', 'email_whitespace'],
    ['jane\u0000@example.com', 'invalid_characters'],
    ['jane\ud800@example.com', 'invalid_characters'],
    ['a,b@x.com', 'invalid_characters'],
    ['"a,b"@x.com', 'invalid_characters'],
    ['<jane@example.com>', 'invalid_characters'],
    ['mailto:jane@example.com', 'invalid_characters'],
    ['jane@example.com;', 'invalid_characters'],
    ['ja(ne)@example.com', 'invalid_characters'],
    ['jane@[192.0.2.1]', 'invalid_characters'],
    ['jane@exa,mple.com', 'invalid_characters'],
    ['jane\\x@example.com', 'invalid_characters'],
    ['jane@example.com\u200b', 'invalid_characters'],
    ['ja\u200dne@example.com', 'invalid_characters'],
    [`${'a'.repeat(243)}@example.com`, 'too_long'],
    [`${' '.repeat(5000)}jane@example.com`, 'too_long'],
  ])('rejects %j with %s', (raw, code) => {
    expect(normalizeEmail(raw)).toMatchObject({ ok: false, code });
  });

  it('accepts exactly 254 characters', () => {
    const address = `${'a'.repeat(242)}@example.com`;
    expect(address).toHaveLength(254);
    expect(normalizeEmail(address)).toEqual({ ok: true, normalized: address });
  });
});
