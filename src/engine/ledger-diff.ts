import type { XUser } from '../identity/types.ts';
import {
  identifierKeys,
  intersectUser,
  isEmptyUser,
  mergeUsers,
  parseUser,
  serializeUser,
  subtractUser,
} from './xuser.ts';
import type { IdentifierKey } from './xuser.ts';

/**
 * One ledger entry as delivery sees it: the member's desired user (what X should hold for it, `null` = not a member)
 * and the user X last accepted for it. Both are canonical JSON text (see `serializeUser`).
 */
export interface LedgerEntry {
  member: string;
  desired: string | null;
  delivered: string | null;
  /** Re-send the desired user even when X already has it (expiry refresh, or its X record was wiped). */
  resend?: boolean;
  /** A user sent whose acceptance was never recorded (a crash): X may hold it. */
  sent?: string | null;
}

/** What one member needs sent to X so that X's state matches the desired one. */
export interface MemberChange {
  member: string;
  /** Identifiers to remove. Sent before every addition of the same delivery. */
  remove: XUser | null;
  /** The full desired user to (re-)add, or `null`. */
  add: XUser | null;
}

/**
 * The net change of a ledger entry. Because the ledger keeps only the latest desired state, a member added and
 * removed before delivery has `desired === delivered` and costs nothing, and a member changed twice costs one change.
 * An identity change removes the identifiers that went away and re-adds the full new user (X matches a Delete on any
 * identifier the user was added with, so the Update after it restores what stays).
 *
 * @example
 * planMemberChange({ member: 'm', desired: '{"email":["b"]}', delivered: '{"email":["a"]}' });
 * // { member: 'm', remove: { email: ['a'] }, add: { email: ['b'] } }
 */
export function planMemberChange(entry: LedgerEntry): MemberChange | null {
  const resend = entry.resend === true && entry.desired !== null;
  const sent = entry.sent ?? null;
  if (entry.desired === entry.delivered && !resend && sent === null) return null;
  const desired = parseUser(entry.desired);
  const delivered = mayHold(entry);
  let remove: XUser | null = null;
  if (delivered) {
    const gone = subtractUser(delivered, desired);
    if (!isEmptyUser(gone)) remove = gone;
  }
  // A Delete wipes the member's whole X record, so whatever it still wants is re-added after it.
  const add = desired && (entry.desired !== entry.delivered || resend || remove !== null) ? desired : null;
  if (!remove && !add) return null;
  return { member: entry.member, remove, add };
}

/** Every identifier X may hold for the member: the delivered user plus any sent one whose outcome is unknown. */
export function mayHold(entry: LedgerEntry): XUser | null {
  const delivered = parseUser(entry.delivered);
  const sent = parseUser(entry.sent ?? null);
  if (!sent) return delivered;
  return delivered ? mergeUsers([delivered, sent]) : sent;
}

/**
 * The member's delivered state after X accepted part or all of its change: after the removal only, X holds the
 * identifiers both states share (at most); after the addition, the desired user.
 */
export function deliveredAfter(
  entry: LedgerEntry,
  accepted: { remove: boolean; add: boolean },
  change: MemberChange,
): string | null {
  const removed = accepted.remove || change.remove === null;
  if (accepted.add || (change.add === null && removed)) return entry.desired;
  if (accepted.remove) {
    const delivered = parseUser(entry.delivered);
    const desired = parseUser(entry.desired);
    if (!delivered || !desired) return null;
    return serializeUser(intersectUser(delivered, desired));
  }
  return entry.delivered;
}

/** What X may still hold beyond the delivered state after a commit: nothing once the addition was accepted. */
export function sentAfter(entry: LedgerEntry, accepted: { remove: boolean; add: boolean }): string | null {
  const sent = entry.sent ?? null;
  if (sent === null || accepted.add) return null;
  if (accepted.remove) {
    const desired = parseUser(entry.desired);
    const maybe = parseUser(sent);
    return desired && maybe ? serializeUser(intersectUser(maybe, desired)) : null;
  }
  return sent;
}

/** Identifier keys a change's removal touches (X deletes every record any of them matches). */
export function removedKeys(change: MemberChange): IdentifierKey[] {
  return identifierKeys(change.remove);
}
