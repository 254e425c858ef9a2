import { createHash } from 'node:crypto';

/** A 64-digit lowercase hex text (a SHA-256 digest as the engine writes them). */
function isHex64(text: string, from: number): boolean {
  if (text.length - from !== 64) return false;
  for (let i = from; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * A 52-bit integer lookup key for a text that names a hash (a profile key `k:<hex>`, an identifier key
 * `email:<hex>`): the first 13 hex digits of the hash, or of a SHA-256 of the whole text when the part after the last
 * `:` is not a 64-digit hex hash. Integers make indexes several times smaller than the 64-digit texts, so a commit
 * rewrites fewer index pages; two texts can share a prefix, so a lookup by prefix always checks the full text (or
 * treats a match as a candidate only).
 */
export function hashPrefix(text: string): number {
  const from = text.lastIndexOf(':') + 1;
  if (isHex64(text, from)) return Number.parseInt(text.slice(from, from + 13), 16);
  return Number.parseInt(createHash('sha256').update(text).digest('hex').slice(0, 13), 16);
}
