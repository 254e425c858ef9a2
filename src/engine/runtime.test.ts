import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../xads/pack-user-changes.ts';
import { DEFAULT_TUNING, resolveTuning } from './runtime.ts';

describe('resolveTuning', () => {
  it("flushes at 25,000 pending members by default, a full request at X's body limit", () => {
    expect(DEFAULT_TUNING.requestMaxBytes).toBe(MAX_BODY_BYTES);
    expect(resolveTuning().fullRequestUsers).toBe(25_000);
  });

  it('counts a smaller request as full sooner, unless the count is given too', () => {
    expect(resolveTuning({ requestMaxBytes: 3000 })).toMatchObject({
      requestMaxBytes: 3000,
      fullRequestUsers: 15,
    });
    expect(resolveTuning({ requestMaxBytes: 100 }).fullRequestUsers).toBe(1);
    expect(resolveTuning({ requestMaxBytes: 3000, fullRequestUsers: 40 }).fullRequestUsers).toBe(40);
    expect(resolveTuning({ pageSize: 10 })).toMatchObject({ pageSize: 10, fullRequestUsers: 25_000 });
  });
});
