import { X_IDENTIFIER_TYPES } from '../identity/types.ts';
import type { Member } from './membership.ts';

const HEX_PREFIX = /^[0-9a-f]{8}/;

/**
 * A stable number in [0, 1) for an identifier value: the first 32 bits of a SHA-256 hex value, or an
 * FNV-1a hash of a free-text value (partner_user_id). Tests predict matches with it.
 *
 * @example
 * matchScore('49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d'); // 0x49e0be2a / 2**32 ≈ 0.2886
 */
export function matchScore(value: string): number {
  if (HEX_PREFIX.test(value)) return parseInt(value.slice(0, 8), 16) / 0x1_0000_0000;
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i += 1) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 0x1_0000_0000;
}

/**
 * Whether X "matches" a member at this match rate: true when any of its identifiers scores below the
 * rate, so a rate of 1 matches everyone and 0 nobody.
 */
export function isMemberMatched(member: Pick<Member, 'ids'>, matchRate: number): boolean {
  if (matchRate >= 1) return true;
  if (matchRate <= 0) return false;
  for (const type of X_IDENTIFIER_TYPES) {
    const values = member.ids[type];
    if (!values) continue;
    for (const value of values) if (matchScore(value) < matchRate) return true;
  }
  return false;
}
