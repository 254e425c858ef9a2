import { describe, expect, it } from 'vitest';
import { normalizeHandle } from './normalize-handle.ts';

describe('normalizeHandle', () => {
  it.each([
    ['jack', 'jack'],
    ['@AdsAPI ', 'adsapi'],
    ['  @X_Dev_123', 'x_dev_123'],
    ['a', 'a'],
    ['@abcdefghijklmno', 'abcdefghijklmno'],
  ])('accepts %j as %j', (raw, normalized) => {
    expect(normalizeHandle(raw)).toEqual({ ok: true, normalized });
  });

  it.each([
    ['', 'empty'],
    ['@', 'empty'],
    ['@@jack', 'handle_invalid'],
    ['@ jack', 'handle_invalid'],
    ['jack.dorsey', 'handle_invalid'],
    ['jack-dorsey', 'handle_invalid'],
    ['jäck', 'handle_invalid'],
    ['abcdefghijklmnop', 'too_long'],
  ])('rejects %j with %s', (raw, code) => {
    expect(normalizeHandle(raw)).toMatchObject({ ok: false, code });
  });
});
