import fc from 'fast-check';
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

describe('AudienceMembership against a naive model', () => {
  type Op = {
    kind: 'Update' | 'Delete';
    user: Partial<Record<'email' | 'handle' | 'partner_user_id', string[]>>;
  };

  /** Reference semantics by linear scans: members sharing any identifier with a user are that user. */
  function naive(ops: Op[]): string[] {
    let members: Array<Map<string, Set<string>>> = [];
    const keys = (user: Op['user']) =>
      Object.entries(user).flatMap(([t, vs]) => (vs ?? []).map((v) => `${t}:${v}`));
    const has = (m: Map<string, Set<string>>, key: string) => {
      const [t, v] = key.split(':') as [string, string];
      return m.get(t)?.has(v) ?? false;
    };
    for (const op of ops) {
      const k = keys(op.user);
      const hit = members.filter((m) => k.some((key) => has(m, key)));
      members = members.filter((m) => !hit.includes(m));
      if (op.kind === 'Delete') continue;
      const merged = new Map<string, Set<string>>();
      for (const m of [...hit, new Map(Object.entries(op.user).map(([t, vs]) => [t, new Set(vs)]))]) {
        for (const [t, vs] of m)
          for (const v of vs) (merged.get(t) ?? merged.set(t, new Set()).get(t)!).add(v);
      }
      members.push(merged);
    }
    return members.map((m) => canonical(Object.fromEntries([...m].map(([t, vs]) => [t, [...vs]])))).sort();
  }

  function canonical(ids: Record<string, string[] | undefined>): string {
    return JSON.stringify(
      Object.entries(ids)
        .filter(([, vs]) => vs && vs.length > 0)
        .map(([t, vs]) => [t, [...vs!].sort()])
        .sort(),
    );
  }

  it('agrees on every sequence of Updates and Deletes', () => {
    const value = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const user = fc
      .record(
        {
          email: fc.uniqueArray(value, { minLength: 1, maxLength: 2 }),
          handle: fc.uniqueArray(value, { minLength: 1, maxLength: 2 }),
          partner_user_id: fc.uniqueArray(value, { minLength: 1, maxLength: 2 }),
        },
        { requiredKeys: [] },
      )
      .filter((u) => Object.keys(u).length > 0);
    const op = fc.record({ kind: fc.constantFrom<'Update' | 'Delete'>('Update', 'Update', 'Delete'), user });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const m = new AudienceMembership();
        for (const o of ops) {
          if (o.kind === 'Update') m.update(o.user, T0, T1);
          else m.delete(o.user);
        }
        const actual = [...m.current(T0)].map((member) => canonical(member.ids)).sort();
        expect(actual).toEqual(naive(ops));
      }),
      { numRuns: 300 },
    );
  });
});
