import { describe, expect, it } from 'vitest';
import hashVectors from './hash-vectors.json' with { type: 'json' };
import { normalizeIdentity } from './normalize-identity.ts';
import { IDENTITY_REJECTION_CODES, type NormalizeOptions } from './identity-result.ts';
import { isXIdentifierType } from './normalize-identity.ts';
import type { XIdentifierType } from './types.ts';

interface HashVector {
  type: XIdentifierType;
  raw: string;
  normalized: string;
  sha256: string;
}

const vectors = (hashVectors as { hash: HashVector[] }).hash;

describe('published hash vectors', () => {
  it('has vectors to check', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(11);
  });
  for (const v of vectors) {
    it(`${v.type} ${JSON.stringify(v.raw)}`, () => {
      const result = normalizeIdentity(v.type, v.raw);
      expect(result).toEqual({
        ok: true,
        type: v.type,
        normalized: v.normalized,
        sha256: v.sha256,
        value: v.sha256,
      });
    });
    it(`${v.type} ${JSON.stringify(v.raw)} declared hashed is a fixed point`, () => {
      const result = normalizeIdentity(v.type, v.sha256.toUpperCase(), { hashed: true });
      expect(result).toMatchObject({ ok: true, normalized: v.sha256, sha256: v.sha256, value: v.sha256 });
    });
  }
});

describe('normalizeIdentity', () => {
  it('sends partner_user_id unhashed and ignores the hashed flag', () => {
    expect(normalizeIdentity('partner_user_id', ' CRM-42 ')).toEqual({
      ok: true,
      type: 'partner_user_id',
      normalized: 'CRM-42',
      sha256: null,
      value: 'CRM-42',
    });
    expect(normalizeIdentity('partner_user_id', 'CRM-42', { hashed: true })).toMatchObject({
      ok: true,
      value: 'CRM-42',
    });
  });

  it('never passes a plain value through when declared hashed', () => {
    for (const type of ['email', 'device_id', 'phone_number', 'handle', 'twitter_id'] as const) {
      expect(normalizeIdentity(type, 'jane@example.com', { hashed: true })).toMatchObject({
        ok: false,
        code: 'hash_invalid',
      });
      expect(normalizeIdentity(type, 'a'.repeat(63), { hashed: true })).toMatchObject({
        ok: false,
        code: 'hash_invalid',
      });
      expect(normalizeIdentity(type, 'g'.repeat(64), { hashed: true })).toMatchObject({
        ok: false,
        code: 'hash_invalid',
      });
      expect(normalizeIdentity(type, '   ', { hashed: true })).toMatchObject({ ok: false, code: 'empty' });
    }
  });

  it('does not rehash a digest given as a plain email (it is not an address)', () => {
    const digest = '49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d';
    expect(normalizeIdentity('email', digest)).toMatchObject({ ok: false, code: 'email_missing_at' });
  });

  it('trims and lowercases a pre-hashed value', () => {
    const digest = '49E0BE2AECCFB51A8DEE4C945C8A70A9AC500CF6F5CB08112575F74DB9B1470D';
    expect(normalizeIdentity('handle', ` ${digest}\n`, { hashed: true })).toMatchObject({
      ok: true,
      value: digest.toLowerCase(),
    });
  });

  it('rejects unknown types at run time with a closed code', () => {
    const result = normalizeIdentity('ip_address' as XIdentifierType, '127.0.0.1');
    expect(result).toMatchObject({ ok: false, code: 'unsupported_type' });
    expect(isXIdentifierType('ip_address')).toBe(false);
    expect(isXIdentifierType('email')).toBe(true);
  });

  it('rejects a non-string value without throwing', () => {
    expect(normalizeIdentity('email', 42 as unknown as string)).toMatchObject({
      ok: false,
      code: 'not_text',
    });
  });

  it('stays total when untyped callers pass odd options', () => {
    const odd = [
      null,
      { region: 5 },
      { deviceKind: 7 },
      { deviceKind: 'imei' },
      { hashed: 'yes' },
    ] as unknown as NormalizeOptions[];
    for (const options of odd) {
      for (const type of ['email', 'device_id', 'phone_number'] as const) {
        expect(() => normalizeIdentity(type, '4b61639e-47cc-4056-a16a-c8217e029462', options)).not.toThrow();
        expect(() => normalizeIdentity(type, '2125550100', options)).not.toThrow();
      }
    }
  });

  it('passes the device kind and region through', () => {
    expect(normalizeIdentity('device_id', 'af3802a465767e36', { deviceKind: 'gaid' })).toMatchObject({
      ok: false,
      code: 'device_id_kind_mismatch',
    });
    expect(normalizeIdentity('phone_number', '020 7946 0958', { region: 'GB' })).toMatchObject({
      ok: true,
      normalized: '+442079460958',
    });
  });

  it('only ever returns codes from the closed set', () => {
    const inputs = ['', ' ', 'x', '@', 'a@b', '\u0000', '\ud800', 'x'.repeat(10_000), '+1', '0'.repeat(30)];
    for (const type of [
      'email',
      'device_id',
      'phone_number',
      'handle',
      'twitter_id',
      'partner_user_id',
    ] as const) {
      for (const raw of inputs) {
        const result = normalizeIdentity(type, raw);
        if (!result.ok) expect(IDENTITY_REJECTION_CODES).toContain(result.code);
      }
    }
  });
});
