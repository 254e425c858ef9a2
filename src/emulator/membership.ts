import { X_IDENTIFIER_TYPES } from '../identity/types.ts';
import type { XIdentifierType, XUser } from '../identity/types.ts';

/** One person in an audience: every identifier X has seen for them, and when the membership applies. */
export interface Member {
  ids: XUser;
  effectiveAt: number;
  expiresAt: number;
}

/**
 * The members of one custom audience, as a set of people keyed by every identifier they were added with
 * (docs.x.com audiences: "users will be matched on any keys that were present when adding users").
 *
 * One Map per identifier type points each value at its member, so Update and Delete cost O(identifiers
 * in the request), never a scan of the audience.
 */
export class AudienceMembership {
  readonly #index = new Map<XIdentifierType, Map<string, Member>>(
    X_IDENTIFIER_TYPES.map((type) => [type, new Map<string, Member>()]),
  );
  readonly #members = new Set<Member>();

  /** Number of member records, lapsed ones included until the next sweep. */
  get size(): number {
    return this.#members.size;
  }

  /**
   * Adds a user, or merges its identifiers into the member(s) any of them already points at (several
   * matched members become one). The latest Update's window wins.
   */
  update(user: XUser, effectiveAt: number, expiresAt: number): void {
    let target: Member | undefined;
    for (const type of X_IDENTIFIER_TYPES) {
      const values = user[type];
      if (!values) continue;
      const index = this.#index.get(type)!;
      for (const value of values) {
        const found = index.get(value);
        if (found === undefined || found === target) continue;
        if (target === undefined) target = found;
        else this.#absorb(target, found);
      }
    }
    if (target === undefined) {
      target = { ids: {}, effectiveAt, expiresAt };
      this.#members.add(target);
    }
    target.effectiveAt = effectiveAt;
    target.expiresAt = expiresAt;
    for (const type of X_IDENTIFIER_TYPES) {
      const values = user[type];
      if (values) this.#addIds(target, type, values);
    }
  }

  /** Removes every member matched by any identifier of `user`; returns how many were removed. */
  delete(user: XUser): number {
    let removed = 0;
    for (const type of X_IDENTIFIER_TYPES) {
      const values = user[type];
      if (!values) continue;
      const index = this.#index.get(type)!;
      for (const value of values) {
        const found = index.get(value);
        if (found === undefined) continue;
        this.#remove(found);
        removed += 1;
      }
    }
    return removed;
  }

  /** The member an identifier points at, if any. */
  find(type: XIdentifierType, value: string): Member | undefined {
    return this.#index.get(type)!.get(value);
  }

  /** Drops members whose membership has lapsed at `now`; returns how many. */
  sweepExpired(now: number): number {
    let removed = 0;
    for (const member of this.#members) {
      if (member.expiresAt <= now) {
        this.#remove(member);
        removed += 1;
      }
    }
    return removed;
  }

  /** Members not yet expired at `now` (those whose `effectiveAt` is still ahead included). */
  *current(now: number): IterableIterator<Member> {
    for (const member of this.#members) if (member.expiresAt > now) yield member;
  }

  /** Members in effect at `now`: effective_at <= now < expires_at. */
  *active(now: number): IterableIterator<Member> {
    for (const member of this.#members) if (member.effectiveAt <= now && member.expiresAt > now) yield member;
  }

  #addIds(member: Member, type: XIdentifierType, values: readonly string[]): void {
    const index = this.#index.get(type)!;
    let list = member.ids[type];
    for (const value of values) {
      if (index.get(value) === member) continue;
      index.set(value, member);
      if (list === undefined) {
        list = [];
        member.ids[type] = list;
      }
      list.push(value);
    }
  }

  #absorb(target: Member, other: Member): void {
    this.#members.delete(other);
    for (const type of X_IDENTIFIER_TYPES) {
      const values = other.ids[type];
      if (values) this.#addIds(target, type, values);
    }
  }

  #remove(member: Member): void {
    if (!this.#members.delete(member)) return;
    for (const type of X_IDENTIFIER_TYPES) {
      const values = member.ids[type];
      if (!values) continue;
      const index = this.#index.get(type)!;
      for (const value of values) if (index.get(value) === member) index.delete(value);
    }
  }
}
