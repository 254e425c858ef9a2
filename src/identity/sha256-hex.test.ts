import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSha256Hex, sha256Hex } from './sha256-hex.ts';

describe('sha256Hex', () => {
  it('hashes the UTF-8 bytes to lowercase hex without salt', () => {
    expect(sha256Hex('adsapi')).toBe('49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const unicode = 'élodie@exämple.fr 🙂';
    expect(sha256Hex(unicode)).toBe(createHash('sha256').update(Buffer.from(unicode, 'utf8')).digest('hex'));
  });

  it('recognizes digests of either case only', () => {
    expect(isSha256Hex(sha256Hex('x'))).toBe(true);
    expect(isSha256Hex(sha256Hex('x').toUpperCase())).toBe(true);
    expect(isSha256Hex(`${sha256Hex('x')}0`)).toBe(false);
    expect(isSha256Hex('z'.repeat(64))).toBe(false);
  });
});
