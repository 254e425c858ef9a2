import { sql, type Kysely } from 'kysely';
import type { Capabilities } from './capabilities.ts';
import type { Database } from './schema/index.ts';

/**
 * Takes the lock named `name` until the open transaction `db` ends: transactions of every process that take the same
 * name run one at a time. On PostgreSQL an advisory transaction lock; SQLite, one writer at a time already, needs none.
 */
export async function lockUntilCommit(
  db: Kysely<Database>,
  capabilities: Capabilities,
  name: string,
): Promise<void> {
  if (capabilities.dialect !== 'postgres') return;
  await sql`select pg_advisory_xact_lock(hashtextextended(${name}, 0))`.execute(db);
}
