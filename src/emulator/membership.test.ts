import { describe, expect, it } from 'vitest';
import { AudienceMembership } from './membership.ts';

const h = (n: number): string => n.toString(16).padStart(64, '0');
const T0 = Date.UTC(2026, 0, 1);
const T1 = Date.UTC(2027, 0, 1);

describe('AudienceMembership', () => {
  it('adds a user once; re-adding the same identifiers is idempotent', () => {
    const m = new AudienceMembership();
    m.update({ email: [h(1)] }, T0, T1);
    m.update({ email: [h(1)] }, T0, T1);
    expect(m.size).toBe(1);
  });

  it('merges identifiers into the member any of them matches', () => {
    const m = new AudienceMembership();
    m.update({ email: [h(1)] }, T0, T1);
    m.update({ email: [h(1)], twitter_id: [h(2)] }, T0, T1);
    expect(m.size).toBe(1);
    expect(m.find('twitter_id', h(2))?.ids).toEqual({ email: [h(1)], twitter_id: [h(2)] });
  });

  it('joins two members when one Update names identifiers of both', () => {
    const m = new AudienceMembership();
    m.update({ email: [h(1)] }, T0, T1);
    m.update({ handle: [h(2)] }, T0, T1);
    m.update({ email: [h(1)], handle: [h(2)] }, T0, T1);
    expect(m.size).toBe(1);
    expect(m.find('email', h(1))).toBe(m.find('handle', h(2)));
  });

  it('Delete removes a member matched by any key it was added with, and all its keys', () => {
    const m = new AudienceMembership();
    m.update({ email: [h(1)], twitter_id: [h(2)], partner_user_id: ['crm-7'] }, T0, T1);
    m.update({ email: [h(3)] }, T0, T1);
    expect(m.delete({ twitter_id: [h(2)] })).toBe(1);
    expect(m.size).toBe(1);
    expect(m.find('email', h(1))).toBeUndefined();
    expect(m.find('partner_user_id', 'crm-7')).toBeUndefined();
    expect(m.delete({ email: [h(9)] })).toBe(0);
  });

  it('the latest Update sets the membership window', () => {
    const m = new AudienceMembership();
    m.update({ email: [h(1)] }, T0, T1);
    m.update({ email: [h(1)] }, T0 + 1000, T1 + 1000);
    expect(m.find('email', h(1))).toMatchObject({ effectiveAt: T0 + 1000, expiresAt: T1 + 1000 });
  });

  it('separates current, active and lapsed members', () => {
    const m = new AudienceMembership();
    m.update({ email: [h(1)] }, T0, T1);
    m.update({ email: [h(2)] }, T1, T1 + 1000);
    m.update({ email: [h(3)] }, T0, T0 + 1);
    const now = T0 + 10;
    expect([...m.current(now)]).toHaveLength(2);
    expect([...m.active(now)]).toHaveLength(1);
    expect(m.sweepExpired(now)).toBe(1);
    expect(m.size).toBe(2);
  });

  it('keeps every identifier indexed at volume', () => {
    const m = new AudienceMembership();
    for (let i = 0; i < 20_000; i += 1) m.update({ email: [h(i)] }, T0, T1);
    for (let i = 0; i < 20_000; i += 2) m.delete({ email: [h(i)] });
    expect(m.size).toBe(10_000);
  });
});
