import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import type { XUser } from '../identity/types.ts';
import { ValidationError } from './errors.ts';
import {
  formatXTimestamp,
  MAX_BODY_BYTES,
  MAX_OPERATIONS_PER_REQUEST,
  packUserChanges,
  planUserRequests,
} from './pack-user-changes.ts';
import type { PackedRequest, UserChange } from './types.ts';

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

function checkInvariants(
  requests: PackedRequest[],
  maxOps = MAX_OPERATIONS_PER_REQUEST,
  maxBytes = MAX_BODY_BYTES,
) {
  for (const r of requests) {
    expect(r.body).toBe(JSON.stringify(r.operations));
    expect(r.bytes).toBe(Buffer.byteLength(r.body));
    expect(r.bytes).toBeLessThanOrEqual(maxBytes);
    expect(r.operations.length).toBeLessThanOrEqual(maxOps);
    expect(r.userCount).toBe(r.operations.reduce((n, op) => n + op.params.users.length, 0));
    expect(r.changeIndexes).toEqual(r.operationChangeIndexes.flat());
    expect(r.operationChangeIndexes.map((m) => m.length)).toEqual(
      r.operations.map((o) => o.params.users.length),
    );
  }
}

describe('formatXTimestamp', () => {
  it('uses second precision with Z', () => {
    expect(formatXTimestamp(new Date('2018-05-15T00:00:00.999Z'))).toBe('2018-05-15T00:00:00Z');
  });
});

describe('packUserChanges', () => {
  it('packs every user sharing (operation, effective_at, expires_at) into one operation object', () => {
    const effectiveAt = new Date('2018-05-15T00:00:00Z');
    const expiresAt = new Date('2019-01-01T07:00:00.500Z');
    const changes: UserChange[] = [
      { operation: 'Update', user: { email: [hash('a')] }, effectiveAt, expiresAt },
      { operation: 'Update', user: { email: [hash('b')] }, effectiveAt, expiresAt },
      { operation: 'Delete', user: { handle: [hash('c')] } },
      { operation: 'Update', user: { email: [hash('d')] } },
      { operation: 'Delete', user: { partner_user_id: ['p-1'] } },
    ];
    const requests = packUserChanges(changes);
    checkInvariants(requests);
    expect(requests).toHaveLength(1);
    const [r] = requests;
    expect(r!.operations).toEqual([
      {
        operation_type: 'Delete',
        params: { users: [{ handle: [hash('c')] }, { partner_user_id: ['p-1'] }] },
      },
      {
        operation_type: 'Update',
        params: {
          effective_at: '2018-05-15T00:00:00Z',
          expires_at: '2019-01-01T07:00:00Z',
          users: [{ email: [hash('a')] }, { email: [hash('b')] }],
        },
      },
      { operation_type: 'Update', params: { users: [{ email: [hash('d')] }] } },
    ]);
    expect(r!.operationChangeIndexes).toEqual([[2, 4], [0, 1], [3]]);
    expect(r!.changeIndexes).toEqual([2, 4, 0, 1, 3]);
    expect(r!.userCount).toBe(5);
  });

  it('returns no request for no changes', () => {
    expect(packUserChanges([])).toEqual([]);
  });

  it('drops empty identifier arrays and undefined keys', () => {
    const [r] = packUserChanges([
      {
        operation: 'Update',
        user: { email: [], handle: [hash('h')], phone_number: undefined } as unknown as XUser,
      },
    ]);
    expect(r!.body).toBe(`[{"operation_type":"Update","params":{"users":[{"handle":["${hash('h')}"]}]}}]`);
  });

  it("takes a user's serialized text when the caller holds it, unless the user needed cleaning", () => {
    const user: XUser = { email: [hash('a')], phone_number: [hash('p')] };
    const json = JSON.stringify(user);
    const held = packUserChanges([{ operation: 'Update', user, json }]);
    checkInvariants(held);
    expect(held).toEqual(packUserChanges([{ operation: 'Update', user }]));
    // The text is what the body carries: one that differs from the user shows it was taken as given.
    const spaced = `{"email": ["${hash('a')}"]}`;
    const [taken] = packUserChanges([{ operation: 'Update', user: { email: [hash('a')] }, json: spaced }]);
    expect(taken!.body).toContain(spaced);
    expect(taken!.bytes).toBe(Buffer.byteLength(taken!.body));
    // A user with an empty identifier list is cleaned first, so its text no longer describes it and is not used.
    const untidy = { email: [hash('a')], handle: [] } as XUser;
    const [cleaned] = packUserChanges([{ operation: 'Update', user: untidy, json: JSON.stringify(untidy) }]);
    expect(cleaned!.body).not.toContain('handle');
    checkInvariants([cleaned!]);
  });

  describe('ordering', () => {
    const u = (s: string): XUser => ({ email: [hash(s)] });

    it('puts Deletes before Updates for unrelated users', () => {
      const [r] = packUserChanges([
        { operation: 'Update', user: u('a') },
        { operation: 'Delete', user: u('b') },
      ]);
      expect(r!.operations.map((o) => o.operation_type)).toEqual(['Delete', 'Update']);
    });

    it('keeps an Update then a Delete of the same user in input order', () => {
      const [r] = packUserChanges([
        { operation: 'Update', user: { email: [hash('a')], twitter_id: [hash('1')] } },
        { operation: 'Delete', user: { twitter_id: [hash('1')] } },
        { operation: 'Delete', user: u('z') },
      ]);
      expect(r!.operations.map((o) => o.operation_type)).toEqual(['Delete', 'Update', 'Delete']);
      expect(r!.operationChangeIndexes).toEqual([[2], [0], [1]]);
    });

    it('keeps a Delete then an Update of the same user in input order (one phase)', () => {
      const [r] = packUserChanges([
        { operation: 'Delete', user: u('a') },
        { operation: 'Update', user: u('a') },
      ]);
      expect(r!.operationChangeIndexes).toEqual([[0], [1]]);
      expect(r!.operations.map((o) => o.operation_type)).toEqual(['Delete', 'Update']);
    });

    it('opens a new phase for each alternation on the same user', () => {
      const [r] = packUserChanges([
        { operation: 'Update', user: u('a') },
        { operation: 'Delete', user: u('a') },
        { operation: 'Update', user: u('a') },
        { operation: 'Update', user: u('b') },
      ]);
      expect(r!.operations.map((o) => o.operation_type)).toEqual(['Update', 'Delete', 'Update']);
      expect(r!.operationChangeIndexes).toEqual([[0, 3], [1], [2]]);
    });

    it('replays to the same membership as the input order (property)', () => {
      const arbitraryChange = fc.record({
        operation: fc.constantFrom<'Update' | 'Delete'>('Update', 'Delete'),
        ids: fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 3 }),
        expiry: fc.constantFrom(undefined, 1, 2),
      });
      fc.assert(
        fc.property(fc.array(arbitraryChange, { maxLength: 40 }), (raw) => {
          const changes: UserChange[] = raw.map((c) => ({
            operation: c.operation,
            user: { partner_user_id: c.ids.map(String) },
            ...(c.expiry ? { expiresAt: new Date(Date.UTC(2030, 0, c.expiry)) } : {}),
          }));
          const requests = packUserChanges(changes, { maxOperations: 2, maxBytes: 300 });
          checkInvariants(requests, 2, 300);
          // Every change sent exactly once.
          expect(requests.flatMap((r) => r.changeIndexes).sort((a, b) => a - b)).toEqual(
            changes.map((_, i) => i),
          );
          // A set model keyed by identifier value: membership must match the input replayed in order.
          const apply = (list: Array<{ operation: string; ids: string[] }>) => {
            const members = new Set<string>();
            for (const c of list) {
              for (const id of c.ids) {
                if (c.operation === 'Update') members.add(id);
                else members.delete(id);
              }
            }
            return [...members].sort();
          };
          const expected = apply(
            changes.map((c) => ({ operation: c.operation, ids: c.user.partner_user_id! })),
          );
          const sent = requests.flatMap((r) =>
            r.operations.flatMap((op) =>
              op.params.users.map((user) => ({ operation: op.operation_type, ids: user.partner_user_id! })),
            ),
          );
          expect(apply(sent)).toEqual(expected);
        }),
        { numRuns: 300 },
      );
    });
  });

  describe('operation limit', () => {
    const withDistinctExpiry = (n: number): UserChange[] =>
      Array.from({ length: n }, (_, i) => ({
        operation: 'Update' as const,
        user: { twitter_id: [hash(String(i))] },
        expiresAt: new Date(Date.UTC(2030, 0, 1, 0, 0, i)),
      }));

    it('sends exactly 2500 operation objects in one request', () => {
      const requests = packUserChanges(withDistinctExpiry(2500));
      checkInvariants(requests);
      expect(requests).toHaveLength(1);
      expect(requests[0]!.operations).toHaveLength(2500);
    });

    it('splits 2501 operation objects into 2500 + 1', () => {
      const requests = packUserChanges(withDistinctExpiry(2501));
      checkInvariants(requests);
      expect(requests.map((r) => r.operations.length)).toEqual([2500, 1]);
      expect(requests[1]!.changeIndexes).toEqual([2500]);
    });
  });

  describe('byte limit', () => {
    // Fills a body to exactly `target` bytes: n email users plus one partner_user_id user padded with a
    // two-byte character so bytes and string length differ.
    function changesOfSize(target: number): UserChange[] {
      const email = (i: number): XUser => ({ email: [hash(`user${i}@example.com`)] });
      const prefix = '[{"operation_type":"Update","params":{"users":[';
      const suffix = ']}}]';
      const oneUser = JSON.stringify(email(0)).length; // ASCII
      const padUserBase = Buffer.byteLength(JSON.stringify({ partner_user_id: [''] }));
      const n = Math.floor((target - prefix.length - suffix.length - padUserBase - 1) / (oneUser + 1)) - 1;
      let remaining = target - prefix.length - suffix.length - n * (oneUser + 1) - padUserBase;
      const pad = 'é'.repeat(Math.floor(remaining / 2)) + 'x'.repeat(remaining % 2);
      remaining -= Buffer.byteLength(pad);
      expect(remaining).toBe(0);
      const changes: UserChange[] = Array.from({ length: n }, (_, i) => ({
        operation: 'Update',
        user: email(i),
      }));
      changes.push({ operation: 'Update', user: { partner_user_id: [pad] } });
      return changes;
    }

    it('sends a body of exactly 5,000,000 bytes in one request', () => {
      const changes = changesOfSize(MAX_BODY_BYTES);
      const requests = packUserChanges(changes);
      checkInvariants(requests);
      expect(requests).toHaveLength(1);
      expect(requests[0]!.bytes).toBe(MAX_BODY_BYTES);
      expect(requests[0]!.userCount).toBe(changes.length);
    });

    it('splits a body one byte over 5,000,000', () => {
      const changes = changesOfSize(MAX_BODY_BYTES + 1);
      const requests = packUserChanges(changes);
      checkInvariants(requests);
      expect(requests).toHaveLength(2);
      expect(requests[1]!.changeIndexes).toEqual([changes.length - 1]);
      expect(requests.reduce((n, r) => n + r.userCount, 0)).toBe(changes.length);
    });

    it('accounts for the comma and a new operation header when splitting across groups', () => {
      const changes: UserChange[] = [
        { operation: 'Delete', user: { email: [hash('a')] } },
        { operation: 'Update', user: { email: [hash('b')] } },
      ];
      const both = packUserChanges(changes)[0]!.bytes;
      expect(packUserChanges(changes, { maxBytes: both })).toHaveLength(1);
      const split = packUserChanges(changes, { maxBytes: both - 1 });
      expect(split).toHaveLength(2);
      checkInvariants(split, MAX_OPERATIONS_PER_REQUEST, both - 1);
    });
  });

  describe('rejections', () => {
    it('reports invalid changes as data, and packs the rest', () => {
      const { requests, rejected } = planUserRequests(
        [
          { operation: 'Update', user: {} },
          { operation: 'Update', user: { ip_address: ['1.2.3.4'] } as unknown as XUser },
          { operation: 'Upsert' as 'Update', user: { email: [hash('a')] } },
          { operation: 'Update', user: { email: [hash('a')] }, effectiveAt: new Date('x') },
          {
            operation: 'Update',
            user: { email: [hash('a')] },
            effectiveAt: new Date('2030-01-01T00:00:00.100Z'),
            expiresAt: new Date('2030-01-01T00:00:00.900Z'),
          },
          { operation: 'Update', user: { email: [42 as unknown as string] } },
          { operation: 'Update', user: { partner_user_id: ['x'.repeat(200)] } },
          { operation: 'Update', user: { email: [hash('ok')] } },
        ],
        { maxBytes: 150 },
      );
      expect(rejected.map((r) => [r.index, r.code])).toEqual([
        [0, 'NO_IDENTIFIERS'],
        [1, 'UNKNOWN_IDENTIFIER'],
        [2, 'INVALID_OPERATION'],
        [3, 'INVALID_TIME'],
        [4, 'EXPIRES_NOT_AFTER_EFFECTIVE'],
        [5, 'INVALID_IDENTIFIER_VALUE'],
        [6, 'USER_TOO_LARGE'],
      ]);
      expect(requests.flatMap((r) => r.changeIndexes)).toEqual([7]);
    });

    it('packUserChanges throws a ValidationError naming the change indexes', () => {
      try {
        packUserChanges([
          { operation: 'Update', user: { email: [hash('a')] } },
          { operation: 'Delete', user: {} },
        ]);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        const e = error as ValidationError;
        expect(e.retryable).toBe(false);
        expect(e.details).toEqual([
          expect.objectContaining({ source: 'client', code: 'NO_IDENTIFIERS', changeIndex: 1 }),
        ]);
      }
    });
  });
});
