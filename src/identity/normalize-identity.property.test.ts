import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import metadata from 'libphonenumber-js/min/metadata';
import { IDENTITY_REJECTION_CODES } from './identity-result.ts';
import { normalizeIdentity } from './normalize-identity.ts';
import { normalizePhoneNumber, normalizePhoneNumberWithParser } from './normalize-phone-number.ts';
import { X_IDENTIFIER_TYPES } from './types.ts';

const HEX64_LOWER = /^[0-9a-f]{64}$/;
const type = fc.constantFrom(...X_IDENTIFIER_TYPES);
// Every UTF-16 shape: full code points, lone surrogates, control characters, plus identifier-like text.
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom('a', 'Z', '0', '9', '@', '.', '+', '-', ' ', '_', '\u0000', '\ud800', '\udc00'),
    maxLength: 40,
  }),
  fc.emailAddress(),
  fc.tuple(fc.uuid(), fc.boolean()).map(([u, upper]) => (upper ? u.toUpperCase() : u)),
  fc.stringMatching(/^\+?[0-9 ()-]{0,20}$/),
);
const region = fc.option(fc.constantFrom('US', 'GB', 'DE', 'FR', 'IN', 'BR', 'JP', 'ZZ', 'us', ''), {
  nil: undefined,
});

describe('identity properties', () => {
  it('is total: any string gives a result or a rejection from the closed set', () => {
    fc.assert(
      fc.property(type, anyString, region, fc.boolean(), (t, raw, r, hashed) => {
        const result = normalizeIdentity(t, raw, { ...(r === undefined ? {} : { region: r }), hashed });
        if (result.ok) expect(typeof result.value).toBe('string');
        else expect(IDENTITY_REJECTION_CODES).toContain(result.code);
      }),
      { numRuns: 3000 },
    );
  });

  it('stays total on huge input', () => {
    for (const t of X_IDENTIFIER_TYPES) {
      for (const raw of ['a'.repeat(1_000_000), `${' '.repeat(100_000)}a@b.co`, '\ud800'.repeat(50_000)]) {
        expect(normalizeIdentity(t, raw).ok).toBe(false);
      }
    }
  });

  it('is idempotent: a normalized value normalizes to itself', () => {
    fc.assert(
      fc.property(type, anyString, region, (t, raw, r) => {
        const first = normalizeIdentity(t, raw, r === undefined ? {} : { region: r });
        if (!first.ok) return;
        const second = normalizeIdentity(t, first.normalized);
        expect(second).toEqual(first);
      }),
      { numRuns: 3000 },
    );
  });

  it('hashes are always 64 lowercase hex, and a hash declared hashed is a fixed point', () => {
    fc.assert(
      fc.property(
        type.filter((t) => t !== 'partner_user_id'),
        anyString,
        (t, raw) => {
          const plain = normalizeIdentity(t, raw);
          if (!plain.ok) return;
          expect(plain.sha256).toMatch(HEX64_LOWER);
          expect(plain.value).toBe(plain.sha256);
          const again = normalizeIdentity(t, plain.value, { hashed: true });
          expect(again).toMatchObject({
            ok: true,
            normalized: plain.value,
            sha256: plain.value,
            value: plain.value,
          });
          const upper = normalizeIdentity(t, plain.value.toUpperCase(), { hashed: true });
          expect(upper).toMatchObject({ ok: true, value: plain.value });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never sends a plain value unhashed', () => {
    fc.assert(
      fc.property(
        type.filter((t) => t !== 'partner_user_id'),
        anyString,
        fc.boolean(),
        (t, raw, hashed) => {
          const result = normalizeIdentity(t, raw, { hashed });
          if (result.ok) expect(result.value).toMatch(HEX64_LOWER);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('accepts generated email addresses, lowercased', () => {
    fc.assert(
      fc.property(fc.emailAddress({ size: 'small' }), (address) => {
        // Generated addresses may exceed X's 254-character limit; only those must be refused.
        const result = normalizeIdentity('email', ` ${address} `);
        if (address.length > 254) expect(result).toMatchObject({ ok: false, code: 'too_long' });
        else expect(result).toMatchObject({ ok: true, normalized: address.toLowerCase() });
      }),
    );
  });

  it('accepts any UUID in any case as a device ID, except the all-zero one', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.boolean(), (uuid, upper) => {
        const result = normalizeIdentity('device_id', upper ? uuid.toUpperCase() : uuid, {
          deviceKind: 'idfa',
        });
        if (uuid === '00000000-0000-0000-0000-000000000000') expect(result).toMatchObject({ ok: false });
        else expect(result).toMatchObject({ ok: true, normalized: uuid.toLowerCase() });
      }),
    );
  });

  it('the E.164 fast path agrees with the full phone parser', () => {
    const callingCodes = Object.keys(metadata.country_calling_codes);
    fc.assert(
      fc.property(
        fc.constantFrom(...callingCodes),
        fc.stringMatching(/^[0-9]{2,14}$/),
        (callingCode, national) => {
          const e164 = `+${callingCode}${national}`;
          expect(normalizePhoneNumber(e164)).toEqual(normalizePhoneNumberWithParser(e164));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('the national fast path agrees with the full phone parser', () => {
    const regions = Object.keys(metadata.countries);
    const separators = fc.constantFrom('', ' ', '-', '.', ') ', '/');
    fc.assert(
      fc.property(
        fc.constantFrom(...regions),
        fc.array(fc.tuple(fc.stringMatching(/^[0-9]{1,5}$/), separators), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (region, parts, bracket) => {
          const body = parts
            .map(([digits, sep]) => digits + sep)
            .join('')
            .trim();
          const raw = bracket ? `(${body}` : body;
          expect(normalizePhoneNumber(raw, { region })).toEqual(
            normalizePhoneNumberWithParser(raw, { region }),
          );
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('the fast paths agree with the parser on realistic numbers', () => {
    const cases: [string, string | undefined][] = [
      ['+12125550100', undefined],
      ['+14155550123', undefined],
      ['+447700900123', undefined],
      ['+4915112345678', undefined],
      ['+33612345678', undefined],
      ['+61412345678', undefined],
      ['+5511912345678', undefined],
      ['+919876543210', undefined],
      ['+8613800138000', undefined],
      ['(212) 555-0100', 'US'],
      ['212 555 0100', 'CA'],
      ['07700 900123', 'GB'],
      ['0151 1234 5678', 'DE'],
      ['06 12 34 56 78', 'FR'],
      ['0412 345 678', 'AU'],
      ['(11) 91234-5678', 'BR'],
      ['98765 43210', 'IN'],
      ['090-1234-5678', 'JP'],
      ['011 44 7700 900123', 'US'],
      ['8 (912) 345-67-89', 'RU'],
      ['06 1234 5678', 'IT'],
      ['55 1234 5678', 'MX'],
      ['011 15-2345-6789', 'AR'],
    ];
    for (const [raw, region] of cases) {
      const options = region === undefined ? {} : { region };
      const fast = normalizePhoneNumber(raw, options);
      expect(fast).toEqual(normalizePhoneNumberWithParser(raw, options));
    }
  });
});
