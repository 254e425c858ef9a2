import * as crypto from 'node:crypto';

// The one-shot `crypto.hash` (Node >= 20.12) skips the Hash object and is several times faster than
// `createHash` for the short strings identifiers are; both produce the same digest of the UTF-8 bytes.
const oneShot: ((algorithm: string, data: string, encoding: 'hex') => string) | undefined =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (crypto as unknown as { hash: (a: string, d: string, e: 'hex') => string }).hash
    : undefined;

/**
 * SHA-256 of the UTF-8 bytes of `s`, as 64 lowercase hex characters, without salt (X's User Data rule).
 * This is the only place identifiers are hashed.
 *
 * @example
 * sha256Hex('adsapi'); // '49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d'
 */
export function sha256Hex(s: string): string {
  if (oneShot !== undefined) return oneShot('sha256', s, 'hex');
  return crypto.createHash('sha256').update(s, 'utf8').digest('hex');
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * Whether `s` has the shape of a SHA-256 hex digest (64 hex characters, any case).
 *
 * @example
 * isSha256Hex('49E0BE2AECCFB51A8DEE4C945C8A70A9AC500CF6F5CB08112575F74DB9B1470D'); // true
 */
export function isSha256Hex(s: string): boolean {
  return s.length === 64 && HEX64.test(s);
}
