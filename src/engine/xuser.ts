import { X_IDENTIFIER_TYPES } from '../identity/types.ts';
import type { XIdentifierType, XUser } from '../identity/types.ts';
import { hashPrefix } from '../store/hash-prefix.ts';

/**
 * One identifier of a user as the ledger indexes it: `type:value`, e.g. `email:4798b8bb…`. Values are SHA-256 hex
 * digests (or a partner_user_id, which X takes unhashed), so an identifier key never holds a raw e-mail or phone.
 */
export type IdentifierKey = `${XIdentifierType}:${string}`;

/**
 * The canonical form of a user: identifier types in X's order, values de-duplicated and sorted, empty types left out.
 * Two users with the same identifiers have the same canonical form, so the ledger compares users as strings.
 *
 * @example
 * canonicalUser({ phone_number: ['b', 'a', 'a'], email: [] }); // { phone_number: ['a', 'b'] }
 */
export function canonicalUser(user: XUser): XUser {
  const out: XUser = {};
  for (const type of X_IDENTIFIER_TYPES) {
    const values = user[type];
    if (!values || values.length === 0) continue;
    out[type] = values.length === 1 ? [...values] : [...new Set(values)].sort();
  }
  return out;
}

/** The canonical JSON text of a user (the ledger's stored form); `null` for "not a member". */
export function serializeUser(user: XUser | null): string | null {
  if (user === null) return null;
  const canonical = canonicalUser(user);
  return isEmptyUser(canonical) ? null : JSON.stringify(canonical);
}

/** Reads a stored user back; `null` stays `null`. */
export function parseUser(text: string | null | undefined): XUser | null {
  if (text === null || text === undefined || text === '') return null;
  return JSON.parse(text) as XUser;
}

export function isEmptyUser(user: XUser): boolean {
  for (const type of X_IDENTIFIER_TYPES) if ((user[type]?.length ?? 0) > 0) return false;
  return true;
}

/** Every identifier of a user as `type:value` keys, in canonical order. */
export function identifierKeys(user: XUser | null): IdentifierKey[] {
  if (!user) return [];
  const keys: IdentifierKey[] = [];
  for (const type of X_IDENTIFIER_TYPES) for (const value of user[type] ?? []) keys.push(`${type}:${value}`);
  return keys;
}

/**
 * The index keys (`hashPrefix`) of a user's identifiers, de-duplicated: what `engine_member_idents` holds for a member
 * whose delivered user this is.
 */
export function identifierPrefixes(user: XUser | null): number[] {
  return [...new Set(identifierKeys(user).map(hashPrefix))];
}

/** The number of identifiers a user carries. */
export function identifierCount(user: XUser | null): number {
  if (!user) return 0;
  let n = 0;
  for (const type of X_IDENTIFIER_TYPES) n += user[type]?.length ?? 0;
  return n;
}

/** The identifiers of `a` that are not in `b`, and not excluded by `keep` (identifier keys). */
export function subtractUser(a: XUser, b: XUser | null, keep?: ReadonlySet<string>): XUser {
  const out: XUser = {};
  for (const type of X_IDENTIFIER_TYPES) {
    const values = a[type];
    if (!values) continue;
    const other = b?.[type];
    const remaining = values.filter(
      (v) => !(other?.includes(v) ?? false) && !(keep?.has(`${type}:${v}`) ?? false),
    );
    if (remaining.length > 0) out[type] = remaining;
  }
  return out;
}

/** The identifiers present in both users. */
export function intersectUser(a: XUser, b: XUser): XUser {
  const out: XUser = {};
  for (const type of X_IDENTIFIER_TYPES) {
    const values = a[type];
    const other = b[type];
    if (!values || !other) continue;
    const both = values.filter((v) => other.includes(v));
    if (both.length > 0) out[type] = both;
  }
  return out;
}

/** The union of several users' identifiers, canonical. */
export function mergeUsers(users: readonly XUser[]): XUser {
  const merged: XUser = {};
  for (const user of users) {
    for (const type of X_IDENTIFIER_TYPES) {
      const values = user[type];
      if (!values) continue;
      const target = merged[type] ?? (merged[type] = []);
      target.push(...values);
    }
  }
  return canonicalUser(merged);
}
