import { describe, expect, it } from 'vitest';
import { addMonthsUtc } from './add-months-utc.ts';

describe('addMonthsUtc', () => {
  it('adds calendar months, clamping to the last day of the month', () => {
    expect(addMonthsUtc(Date.UTC(2026, 10, 28, 12), 13)).toBe(Date.UTC(2027, 11, 28, 12));
    expect(addMonthsUtc(Date.UTC(2027, 0, 31), 13)).toBe(Date.UTC(2028, 1, 29));
    expect(addMonthsUtc(Date.UTC(2026, 0, 31, 9, 30), 13)).toBe(Date.UTC(2027, 1, 28, 9, 30));
  });
});
