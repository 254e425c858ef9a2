import type { Kysely } from 'kysely';
import { StoreError } from '../errors.ts';
import type { IdGenerator } from '../ids.ts';
import type { Database } from '../schema/index.ts';
import type { SecretBox } from '../secret-box.ts';

/** What every repository needs: a query executor (the store's or a transaction's), the clock, ids and secrets. */
export interface RepositoryContext {
  db: Kysely<Database>;
  now: () => number;
  newId: IdGenerator;
  secrets: SecretBox;
  randomBytes: (size: number) => Buffer;
}

export function parseJson<T>(text: string, where: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new StoreError('invalid_input', `Stored JSON in ${where} is not valid`, { cause });
  }
}

export function parseJsonOrNull<T>(text: string | null, where: string): T | null {
  return text === null ? null : parseJson<T>(text, where);
}

/** Drops keys whose value is `undefined`, so a patch only sets what it names. */
export function definedOnly<T extends Record<string, unknown>>(values: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}
