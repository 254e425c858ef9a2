import { describe, expect, it } from 'vitest';
import { normalizePartnerUserId } from './normalize-partner-user-id.ts';

describe('normalizePartnerUserId', () => {
  it('trims but keeps case and inner characters', () => {
    expect(normalizePartnerUserId('  CRM-00042 / EU ')).toEqual({ ok: true, normalized: 'CRM-00042 / EU' });
    expect(normalizePartnerUserId('x'.repeat(255))).toEqual({ ok: true, normalized: 'x'.repeat(255) });
  });

  it.each([
    ['', 'empty'],
    [' \t ', 'empty'],
    ['x'.repeat(256), 'too_long'],
    ['a\u0007b', 'invalid_characters'],
    ['a\udc00b', 'invalid_characters'],
  ])('rejects %j with %s', (raw, code) => {
    expect(normalizePartnerUserId(raw)).toMatchObject({ ok: false, code });
  });
});
