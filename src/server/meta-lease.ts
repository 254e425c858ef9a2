import type { Kysely } from 'kysely';
import type { Database } from '../store/index.ts';

/*
 * A row of `store_meta` holding JSON state and a lease on it, so that of several workers one at a time does a job
 * (forwarding the audit trail, evaluating alerts). Every write is a compare-and-swap on the row's text: a worker
 * whose lease another took over cannot overwrite what that one wrote.
 */

/** The lease part of a state row: who holds it, until when (epoch ms). */
export interface Leased {
  owner: string | null;
  until: number;
}

export interface MetaState<T> {
  /** The row's text as read: what a swap expects. */
  text: string;
  state: T;
}

/** The row `key` (created with `initial` when missing). */
export async function readMeta<T>(db: Kysely<Database>, key: string, initial: T): Promise<MetaState<T>> {
  await db
    .insertInto('store_meta')
    .values({ key, value: JSON.stringify(initial) })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db
    .selectFrom('store_meta')
    .select('value')
    .where('key', '=', key)
    .executeTakeFirstOrThrow();
  return { text: row.value, state: JSON.parse(row.value) as T };
}

/** Replaces the row's state only if it is still `expected`; the new text, or null when another worker moved it. */
export async function swapMeta<T>(
  db: Kysely<Database>,
  key: string,
  expected: string,
  next: T,
): Promise<string | null> {
  const text = JSON.stringify(next);
  const result = await db
    .updateTable('store_meta')
    .set({ value: text })
    .where('key', '=', key)
    .where('value', '=', expected)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1 ? text : null;
}

/**
 * Takes the lease for `owner`, or renews it once half of it has passed (so an idle holder does not write every time
 * it looks). The state while held, or null when another worker holds a lease that has not run out.
 */
export async function takeLease<T extends Leased>(
  db: Kysely<Database>,
  key: string,
  initial: T,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<MetaState<T> | null> {
  const read = await readMeta(db, key, initial);
  const { state } = read;
  if (state.owner !== owner && state.until > now) return null;
  if (state.owner === owner && state.until - now > leaseMs / 2) return read;
  const next = { ...state, owner, until: now + leaseMs };
  const text = await swapMeta(db, key, read.text, next);
  return text === null ? null : { text, state: next };
}

/** Hands the lease back, so another worker carries on at once instead of after it runs out. */
export async function releaseLease<T extends Leased>(
  db: Kysely<Database>,
  key: string,
  initial: T,
  owner: string,
): Promise<void> {
  const { text, state } = await readMeta(db, key, initial);
  if (state.owner === owner) await swapMeta(db, key, text, { ...state, owner: null, until: 0 });
}
