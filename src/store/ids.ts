import { randomUUID } from 'node:crypto';

/** Makes a new text id with a prefix that says what it names, e.g. `dst_…` for a destination. */
export type IdGenerator = (prefix: IdPrefix) => string;

/** The prefixes of the store's ids; the engine may use its own prefixes through the same generator. */
export type IdPrefix = 'sbx' | 'tok' | 'dst' | 'df' | 'aud' | (string & {});

/**
 * The default id generator: the prefix and a random UUID without dashes (122 random bits).
 *
 * @example
 * randomId('dst'); // 'dst_3f2b9c0e6d7a4e1b9a8c7d6e5f4a3b2c'
 */
export const randomId: IdGenerator = (prefix) => `${prefix}_${randomUUID().replaceAll('-', '')}`;

/** A deterministic generator for tests: `dst_000001`, `dst_000002`, … (one counter per prefix). */
export function sequentialIds(): IdGenerator {
  const counters = new Map<string, number>();
  return (prefix) => {
    const next = (counters.get(prefix) ?? 0) + 1;
    counters.set(prefix, next);
    return `${prefix}_${String(next).padStart(6, '0')}`;
  };
}
