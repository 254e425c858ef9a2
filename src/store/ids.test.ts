import { describe, expect, it } from 'vitest';
import { randomId, sequentialIds } from './ids.ts';

describe('ids', () => {
  it('makes prefixed random ids with 32 hex characters', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomId('dst')));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^dst_[0-9a-f]{32}$/);
  });

  it('counts per prefix in the sequential generator', () => {
    const next = sequentialIds();
    expect([next('df'), next('df'), next('aud')]).toEqual(['df_000001', 'df_000002', 'aud_000001']);
  });
});
