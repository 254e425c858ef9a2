import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES, MAX_OPERATIONS, parseUsersBody } from './users-body.ts';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const HASH = '4798b8bbdcf6f2a52e527f46a3d7a7c9aefb541afda03af79c74809ecc6376f3';

function parse(body: unknown, bytes?: number) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return parseUsersBody(text, bytes ?? Buffer.byteLength(text), NOW);
}

const op = (params: Record<string, unknown>, type = 'Update') => ({ operation_type: type, params });

describe('parseUsersBody', () => {
  it('accepts the documented example shape and counts user objects', () => {
    const result = parse([
      op({ users: [{ email: [HASH], handle: [HASH] }, { twitter_id: [HASH] }] }),
      op({ users: [{ partner_user_id: ['crm-1'] }] }, 'Delete'),
    ]);
    expect(result).toMatchObject({ ok: true, userCount: 3 });
  });

  it('defaults effective_at to now and expires_at to 13 months later', () => {
    const result = parse([op({ users: [{ email: [HASH] }] })]);
    if (!result.ok) throw new Error('expected ok');
    expect(result.operations[0]).toMatchObject({
      effectiveAt: NOW,
      expiresAt: Date.UTC(2027, 11, 28, 12, 0, 0),
    });
  });

  it('accepts exactly 2500 operations and rejects 2501 at request level', () => {
    const one = op({ users: [{ email: [HASH] }] });
    expect(parse(Array.from({ length: MAX_OPERATIONS }, () => one)).ok).toBe(true);
    const over = parse(Array.from({ length: MAX_OPERATIONS + 1 }, () => one));
    expect(over).toMatchObject({ ok: false, level: 'request', status: 400, operationCount: 2501 });
  });

  it('rejects a body over 5,000,000 bytes with 413', () => {
    expect(parse([op({ users: [{ email: [HASH] }] })], MAX_BODY_BYTES + 1)).toMatchObject({
      ok: false,
      level: 'request',
      status: 413,
    });
    expect(parse([op({ users: [{ email: [HASH] }] })], MAX_BODY_BYTES).ok).toBe(true);
  });

  it.each([
    ['invalid JSON', '[{'],
    ['a non-array top level', { operation_type: 'Update' }],
    ['an empty array', []],
  ])('rejects %s at request level', (_label, body) => {
    expect(parse(body)).toMatchObject({ ok: false, level: 'request', status: 400 });
  });

  it.each([
    ['uppercase hex', { email: [HASH.toUpperCase()] }],
    ['a short hash', { email: ['abc'] }],
    ['an unknown identifier key', { ip_address: ['1.2.3.4'] }],
    ['an empty identifier array', { email: [] }],
    ['a non-string value', { email: [42] }],
    ['no identifiers', {}],
    ['an empty partner_user_id', { partner_user_id: [''] }],
  ])('rejects a user with %s, aligned by operation index', (_label, user) => {
    const result = parse([op({ users: [{ email: [HASH] }] }), op({ users: [user] })]);
    expect(result).toMatchObject({ ok: false, level: 'operation', operationCount: 2 });
    if (result.ok || result.level !== 'operation') return;
    expect(result.operationErrors[0]).toBeNull();
    expect(result.operationErrors[1]?.[0]?.code).toBe('INVALID_PARAMETER');
  });

  it.each([
    ['a lowercase operation type', { operation_type: 'update', params: { users: [{ email: [HASH] }] } }],
    ['missing params', { operation_type: 'Update' }],
    ['empty users', op({ users: [] })],
    ['a bad effective_at', op({ effective_at: 'yesterday', users: [{ email: [HASH] }] })],
    [
      'expires_at not after effective_at',
      op({
        effective_at: '2026-12-01T00:00:00Z',
        expires_at: '2026-12-01T00:00:00Z',
        users: [{ email: [HASH] }],
      }),
    ],
    ['an unknown params key', op({ users: [{ email: [HASH] }], list_type: 'EMAIL' })],
  ])('rejects an operation with %s', (_label, operation) => {
    expect(parse([operation])).toMatchObject({ ok: false, level: 'operation' });
  });

  it('accepts explicit second-precision timestamps', () => {
    const result = parse([
      op({
        effective_at: '2026-12-01T00:00:00Z',
        expires_at: '2027-01-01T07:00:00Z',
        users: [{ email: [HASH] }],
      }),
    ]);
    if (!result.ok) throw new Error('expected ok');
    expect(result.operations[0]?.expiresAt).toBe(Date.UTC(2027, 0, 1, 7));
  });
});
