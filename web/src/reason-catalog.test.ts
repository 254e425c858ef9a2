import { describe, expect, it } from 'vitest';
import { EXCLUSION_CODES } from '../../src/engine/profile-state.ts';
import { IDENTITY_REJECTION_CODES } from '../../src/identity/identity-result.ts';
import { describeReason } from './reason-catalog.ts';

describe('reason catalog', () => {
  it('describes every exclusion code a run can report in words, not the code', () => {
    for (const code of [...Object.values(EXCLUSION_CODES), ...IDENTITY_REJECTION_CODES]) {
      const description = describeReason(code);
      expect(description, code).not.toBe(code.replace(/_/g, ' '));
      expect(description.endsWith('.'), code).toBe(true);
    }
  });
});
