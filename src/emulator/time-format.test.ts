import { describe, expect, it } from 'vitest';
import { isoSeconds, parseIsoUtc } from './time-format.ts';

describe('time formats', () => {
  it('writes second precision with Z', () => {
    expect(isoSeconds(Date.UTC(2017, 7, 22, 23, 34, 26, 999))).toBe('2017-08-22T23:34:26Z');
  });

  it('reads ISO 8601 UTC, with or without fractions, and nothing else', () => {
    expect(parseIsoUtc('2018-05-15T00:00:00Z')).toBe(Date.UTC(2018, 4, 15));
    expect(parseIsoUtc('2018-05-15T00:00:00.250Z')).toBe(Date.UTC(2018, 4, 15, 0, 0, 0, 250));
    expect(parseIsoUtc('2018-05-15T00:00:00+00:00')).toBe(Date.UTC(2018, 4, 15));
    for (const bad of [
      '2018-05-15',
      '2018-05-15T00:00:00',
      '2018-05-15T00:00:00+02:00',
      '2018-02-30T00:00:00Z',
      'soon',
    ]) {
      expect(parseIsoUtc(bad), bad).toBeNull();
    }
  });
});
