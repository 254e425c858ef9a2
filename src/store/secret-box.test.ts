import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StoreError } from './errors.ts';
import { SecretBox } from './secret-box.ts';

const key = Buffer.alloc(32, 7);

describe('SecretBox', () => {
  it('round-trips any text, and never contains the plaintext', () => {
    const box = new SecretBox(key);
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string(), (plaintext, context) => {
        const sealed = box.seal(plaintext, context);
        expect(box.open(sealed, context)).toBe(plaintext);
        expect(sealed.startsWith(`v1.${box.keyId}.`)).toBe(true);
      }),
    );
    expect(box.seal('consumer-secret-value')).not.toContain('consumer-secret-value');
  });

  it('uses a fresh 12-byte IV for every seal', () => {
    const box = new SecretBox(key);
    const a = box.seal('same');
    const b = box.seal('same');
    expect(a).not.toBe(b);
    const payload = Buffer.from(a.split('.')[2] ?? '', 'base64url');
    expect(payload.length).toBe(12 + 'same'.length + 16);
  });

  it('takes its IV from the injected randomness', () => {
    const ivs: number[] = [];
    const box = new SecretBox(key, {
      randomBytes: (size) => {
        ivs.push(size);
        return Buffer.alloc(size, 1);
      },
    });
    expect(box.seal('x')).toBe(box.seal('x'));
    expect(ivs).toEqual([12, 12]);
  });

  it('refuses another context, a tampered value and a truncated value', () => {
    const box = new SecretBox(key);
    const sealed = box.seal('secret', 'destination:dst_1');
    expect(() => box.open(sealed, 'destination:dst_2')).toThrow(StoreError);
    const [v, id, payload] = sealed.split('.') as [string, string, string];
    const bytes = Buffer.from(payload, 'base64url');
    bytes[14] = (bytes[14] ?? 0) ^ 1;
    expect(() => box.open(`${v}.${id}.${bytes.toString('base64url')}`, 'destination:dst_1')).toThrow(
      /failed authentication/,
    );
    expect(() => box.open(`${v}.${id}.AAAA`, 'destination:dst_1')).toThrow(/truncated/);
    expect(() => box.open('v2.x.y')).toThrow(/format/);
  });

  it('names the key mismatch when a value was sealed under another key', () => {
    const sealed = new SecretBox(randomBytes(32)).seal('secret');
    const error = (() => {
      try {
        new SecretBox(key).open(sealed);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('secret_key');
    expect((error as StoreError).message).toMatch(/TCA_SECRET_KEY/);
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(() => new SecretBox(Buffer.alloc(16))).toThrow(StoreError);
  });

  it('hashes profile keys with a key of its own: stable, keyed, and separated by namespace', () => {
    const box = new SecretBox(key);
    const hash = box.profileKeyHash('ECID', '12345');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(box.profileKeyHash('ECID', '12345')).toBe(hash);
    expect(new SecretBox(randomBytes(32)).profileKeyHash('ECID', '12345')).not.toBe(hash);
    expect(box.profileKeyHash('ECI', 'D12345')).not.toBe(hash);
    expect(box.profileKeyHash('CRMID', '12345')).not.toBe(hash);
  });

  it('derives a key id that does not reveal the key', () => {
    const box = new SecretBox(key);
    expect(box.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(key.toString('hex')).not.toContain(box.keyId);
  });
});
