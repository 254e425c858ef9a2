import { createHash } from 'node:crypto';

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * A 52-bit integer lookup key for a text that names a hash (a profile key `k:<hex>`, an identifier key
 * `email:<hex>`): the first 13 hex digits of the hash, or of a SHA-256 of the whole text when the part after the last
 * `:` is not a 64-digit hex hash. Integers make indexes several times smaller than the 64-digit texts, so a commit
 * rewrites fewer index pages; two texts can share a prefix, so a lookup by prefix always checks the full text (or
 * treats a match as a candidate only).
 */
export function hashPrefix(text: string): number {
  const value = text.slice(text.lastIndexOf(':') + 1);
  const hex = HEX64.test(value) ? value : createHash('sha256').update(text).digest('hex');
  return Number.parseInt(hex.slice(0, 13), 16);
}
