import { describe, expect, it } from 'vitest';
import { deliveredAfter, planMemberChange } from './ledger-diff.ts';
import { serializeUser } from './xuser.ts';

const u = (email: string[], phone?: string[]) =>
  serializeUser(phone ? { email, phone_number: phone } : { email });

describe('planMemberChange', () => {
  it('costs nothing when the member was added and removed before delivery', () => {
    expect(planMemberChange({ member: 'm', desired: null, delivered: null })).toBeNull();
  });

  it('costs nothing when the desired state equals the delivered one', () => {
    expect(planMemberChange({ member: 'm', desired: u(['a']), delivered: u(['a']) })).toBeNull();
  });

  it('adds a new member', () => {
    expect(planMemberChange({ member: 'm', desired: u(['a']), delivered: null })).toEqual({
      member: 'm',
      remove: null,
      add: { email: ['a'] },
    });
  });

  it('removes an exited member with every identifier it was delivered with', () => {
    expect(planMemberChange({ member: 'm', desired: null, delivered: u(['a'], ['p']) })).toEqual({
      member: 'm',
      remove: { email: ['a'], phone_number: ['p'] },
      add: null,
    });
  });

  it('removes old identifiers and re-adds the whole new user on an identity change', () => {
    expect(planMemberChange({ member: 'm', desired: u(['a'], ['q']), delivered: u(['a'], ['p']) })).toEqual({
      member: 'm',
      remove: { phone_number: ['p'] },
      add: { email: ['a'], phone_number: ['q'] },
    });
  });

  it('only adds when identifiers were added', () => {
    expect(planMemberChange({ member: 'm', desired: u(['a', 'b']), delivered: u(['a']) })).toEqual({
      member: 'm',
      remove: null,
      add: { email: ['a', 'b'] },
    });
  });

  it('re-sends an unchanged member when asked to (refresh)', () => {
    expect(planMemberChange({ member: 'm', desired: u(['a']), delivered: u(['a']), resend: true })).toEqual({
      member: 'm',
      remove: null,
      add: { email: ['a'] },
    });
    expect(planMemberChange({ member: 'm', desired: null, delivered: null, resend: true })).toBeNull();
  });
});

describe('deliveredAfter', () => {
  const entry = { member: 'm', desired: u(['a'], ['q']), delivered: u(['a'], ['p']) };
  const change = planMemberChange(entry)!;

  it('is the desired state once the addition was accepted', () => {
    expect(deliveredAfter(entry, { remove: true, add: true }, change)).toBe(entry.desired);
  });

  it('is the shared identifiers when only the removal was accepted', () => {
    expect(deliveredAfter(entry, { remove: true, add: false }, change)).toBe(u(['a']));
  });

  it('is unchanged when nothing was accepted', () => {
    expect(deliveredAfter(entry, { remove: false, add: false }, change)).toBe(entry.delivered);
  });

  it('is null once an exit was accepted', () => {
    const exit = { member: 'm', desired: null, delivered: u(['a']) };
    expect(deliveredAfter(exit, { remove: true, add: false }, planMemberChange(exit)!)).toBeNull();
  });
});

describe('unknown outcomes (a crash between X acceptance and the commit)', () => {
  it('removes identifiers a crashed send may have left when the member has exited since', () => {
    expect(planMemberChange({ member: 'm', desired: null, delivered: null, sent: u(['a']) })).toEqual({
      member: 'm',
      remove: { email: ['a'] },
      add: null,
    });
  });

  it('re-adds the whole desired user after removing a stale sent identifier', () => {
    expect(
      planMemberChange({ member: 'm', desired: u(['b']), delivered: u(['b']), sent: u(['a', 'b']) }),
    ).toEqual({
      member: 'm',
      remove: { email: ['a'] },
      add: { email: ['b'] },
    });
  });

  it('settles when the sent user is what is desired and delivered', () => {
    expect(
      planMemberChange({ member: 'm', desired: u(['b']), delivered: u(['b']), sent: u(['b']) }),
    ).toBeNull();
  });

  it('forgets the sent user once an addition is accepted, keeps what is still desired after a removal', async () => {
    const { sentAfter } = await import('./ledger-diff.ts');
    const entry = { member: 'm', desired: u(['a']), delivered: null, sent: u(['a', 'z']) };
    expect(sentAfter(entry, { remove: false, add: true })).toBeNull();
    expect(sentAfter(entry, { remove: true, add: false })).toBe(u(['a']));
    expect(sentAfter(entry, { remove: false, add: false })).toBe(entry.sent);
  });
});
