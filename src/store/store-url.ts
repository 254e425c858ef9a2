/**
 * Whether a store URL names PostgreSQL (anything else is a SQLite file path). URL schemes are case-insensitive. A
 * module of its own, without the store's dependencies, so that configuration can ask it too.
 *
 * @example
 * isPostgresUrl('postgres://tca@db:5432/tca'); // true
 * isPostgresUrl('./data/tca.db'); // false
 */
export const isPostgresUrl = (url: string | undefined): boolean =>
  url !== undefined && /^postgres(ql)?:\/\//i.test(url);
