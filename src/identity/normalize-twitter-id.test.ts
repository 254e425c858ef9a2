import { describe, expect, it } from 'vitest';
import { normalizeTwitterId } from './normalize-twitter-id.ts';

describe('normalizeTwitterId', () => {
  it.each([
    ['143567', '143567'],
    [' 143567\n', '143567'],
    ['000143567', '143567'],
    ['18446744073709551615', '18446744073709551615'],
  ])('accepts %j as %j', (raw, normalized) => {
    expect(normalizeTwitterId(raw)).toEqual({ ok: true, normalized });
  });

  it.each([
    ['', 'empty'],
    ['0', 'twitter_id_invalid'],
    ['000', 'twitter_id_invalid'],
    ['-5', 'twitter_id_invalid'],
    ['+5', 'twitter_id_invalid'],
    ['1e5', 'twitter_id_invalid'],
    ['1 000', 'twitter_id_invalid'],
    ['1,000', 'twitter_id_invalid'],
    ['١٢٣', 'twitter_id_invalid'],
    ['123456789012345678901', 'too_long'],
    ['18446744073709551616', 'too_long'],
    ['99999999999999999999', 'too_long'],
  ])('rejects %j with %s', (raw, code) => {
    expect(normalizeTwitterId(raw)).toMatchObject({ ok: false, code });
  });
});
