import { accepted, rejected, type Normalized } from './identity-result.ts';
import { MAX_RAW_LENGTH } from './text-guards.ts';

const HANDLE = /^[a-z0-9_]{1,15}$/;

/**
 * Normalizes an X username: trim, strip one leading `@`, lowercase; the result must be 1 to 15 of `a-z 0-9 _`.
 * Hashing `@handle` with the `@` is the classic reason handle audiences never match.
 *
 * @example
 * normalizeHandle('@AdsAPI '); // { ok: true, normalized: 'adsapi' }
 */
export function normalizeHandle(raw: string): Normalized {
  if (raw.length > MAX_RAW_LENGTH) return tooLong();
  let value = raw.trim();
  if (value.startsWith('@')) value = value.slice(1);
  value = value.toLowerCase();
  if (value.length === 0) return rejected('empty', 'The handle is empty.');
  if (value.length > 15) return tooLong();
  if (!HANDLE.test(value)) {
    return rejected(
      'handle_invalid',
      'A handle may only contain letters, digits and "_" (after one leading "@").',
    );
  }
  return accepted(value);
}

function tooLong(): Normalized {
  return rejected('too_long', 'A handle has at most 15 characters.');
}
