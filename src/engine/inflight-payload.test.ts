import { describe, expect, it } from 'vitest';
import { inflightPayload, parseInflightPayload } from './delivery.ts';
import { serializeUser } from './xuser.ts';

describe('write-ahead payload', () => {
  const user = serializeUser({ email: ['4798b8bb'], phone_number: ['0a1b', '9f'] })!;

  it('embeds each sent user as JSON, not as a string of it, and reads it back as its canonical text', () => {
    const members: Array<[string, string | null]> = [
      ['12', user],
      ['13', null],
      ['member "quoted"', serializeUser({ partner_user_id: ['p "1"'] })],
    ];
    const payload = inflightPayload(members);
    expect(payload).toBe(
      `[["12",${user}],["13",null],["member \\"quoted\\"",{"partner_user_id":["p \\"1\\""]}]]`,
    );
    expect(JSON.parse(payload)).toEqual([
      ['12', JSON.parse(user)],
      ['13', null],
      ['member "quoted"', { partner_user_id: ['p "1"'] }],
    ]);
    expect(parseInflightPayload(payload)).toEqual(members);
    expect(parseInflightPayload(inflightPayload([]))).toEqual([]);
  });

  it('reads rows written with each sent user as a string', () => {
    const legacy = JSON.stringify([
      ['12', user],
      ['13', null],
    ]);
    expect(parseInflightPayload(legacy)).toEqual([
      ['12', user],
      ['13', null],
    ]);
  });
});
