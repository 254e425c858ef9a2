import { describe, expect, it } from 'vitest';
import {
  isKnownPhoneRegion,
  normalizePhoneNumber,
  normalizePhoneNumberWithParser,
} from './normalize-phone-number.ts';

describe('normalizePhoneNumber', () => {
  it.each([
    ['+11234567890', undefined, '+11234567890'],
    ['+12125550100', undefined, '+12125550100'],
    ['+1 (212) 555-0100', undefined, '+12125550100'],
    ['(212) 555-0100', 'US', '+12125550100'],
    ['212.555.0100', 'us', '+12125550100'],
    ['1-212-555-0100', 'US', '+12125550100'],
    ['+1 212 555 0100 ext. 12', undefined, '+12125550100'],
    ['020 7946 0958', 'GB', '+442079460958'],
    ['+44 (0) 20 7946 0958', undefined, '+442079460958'],
    ['+4402079460958', undefined, '+442079460958'],
    ['00 44 20 7946 0958', 'GB', '+442079460958'],
    ['011 44 20 7946 0958', 'US', '+442079460958'],
    ['015112345678', 'DE', '+4915112345678'],
    ['06 12 34 56 78', 'FR', '+33612345678'],
    ['+39 06 1234 5678', undefined, '+390612345678'],
    ['+33 6 12 34 56 78', 'US', '+33612345678'],
  ])('accepts %j (region %s) as %j', (raw, region, normalized) => {
    expect(normalizePhoneNumber(raw, region === undefined ? {} : { region })).toEqual({
      ok: true,
      normalized,
    });
  });

  it.each([
    ['', undefined, 'empty'],
    ['555-0100', undefined, 'phone_needs_region'],
    ['2125550100', undefined, 'phone_needs_region'],
    ['2125550100', 'ZZ', 'region_unknown'],
    ['2125550100', 'USA', 'region_unknown'],
    ['+1 800 FLOWERS', undefined, 'phone_invalid'],
    ['call me', 'US', 'phone_invalid'],
    ['+999 1234567', undefined, 'phone_invalid'],
    ['+1 212 555', undefined, 'phone_invalid'],
    ['12345', 'US', 'phone_invalid'],
    ['+1212555010000000', undefined, 'phone_invalid'],
    ['+', undefined, 'phone_invalid'],
    ['+1\u0000212', undefined, 'phone_invalid'],
    [`+1${'2'.repeat(70)}`, undefined, 'too_long'],
  ])('rejects %j (region %s) with %s', (raw, region, code) => {
    expect(normalizePhoneNumber(raw, region === undefined ? {} : { region })).toMatchObject({
      ok: false,
      code,
    });
  });

  it('lets the parser decide national digits that start with the region calling code', () => {
    const raw = '306000000000';
    expect(normalizePhoneNumber(raw, { region: 'GR' })).toEqual(
      normalizePhoneNumberWithParser(raw, { region: 'GR' }),
    );
    expect(normalizePhoneNumber(raw, { region: 'GR' })).toMatchObject({ normalized: '+306000000000' });
  });

  it('knows regions by ISO 3166-1 alpha-2 code', () => {
    expect(isKnownPhoneRegion('US')).toBe(true);
    expect(isKnownPhoneRegion('gb')).toBe(true);
    expect(isKnownPhoneRegion('XX')).toBe(false);
    expect(isKnownPhoneRegion('')).toBe(false);
  });
});
