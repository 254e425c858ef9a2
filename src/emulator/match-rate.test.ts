import { describe, expect, it } from 'vitest';
import { isMemberMatched, matchScore } from './match-rate.ts';

describe('matchScore / isMemberMatched', () => {
  it('reads the first 32 bits of a hex digest', () => {
    expect(matchScore('80000000' + '0'.repeat(56))).toBe(0.5);
    expect(matchScore('0'.repeat(64))).toBe(0);
  });

  it('is stable for free-text partner ids', () => {
    expect(matchScore('crm-1')).toBe(matchScore('crm-1'));
    expect(matchScore('crm-1')).toBeGreaterThanOrEqual(0);
    expect(matchScore('crm-1')).toBeLessThan(1);
  });

  it('matches a member when any identifier scores below the rate', () => {
    const low = '10000000' + '0'.repeat(56);
    const high = 'f0000000' + '0'.repeat(56);
    expect(isMemberMatched({ ids: { email: [high] } }, 0.5)).toBe(false);
    expect(isMemberMatched({ ids: { email: [high], handle: [low] } }, 0.5)).toBe(true);
    expect(isMemberMatched({ ids: { email: [high] } }, 1)).toBe(true);
    expect(isMemberMatched({ ids: { email: [low] } }, 0)).toBe(false);
  });

  it('matches about rate × n members of random hashes', () => {
    let matched = 0;
    for (let i = 0; i < 10_000; i += 1) {
      const hex = ((i * 2654435761) >>> 0).toString(16).padStart(8, '0') + '0'.repeat(56);
      if (isMemberMatched({ ids: { email: [hex] } }, 0.3)) matched += 1;
    }
    expect(matched).toBeGreaterThan(2700);
    expect(matched).toBeLessThan(3300);
  });
});
