import { Migrator, type Kysely, type Migration } from 'kysely';
import { StoreError } from './errors.ts';
import { MIGRATIONS } from './migrations/index.ts';
import type { Database } from './schema/index.ts';

type Registry = ReadonlyArray<readonly [name: string, migration: Migration]>;

function migrator(db: Kysely<Database>, registry: Registry): Migrator {
  let previous = '';
  for (const [name] of registry) {
    if (name <= previous) {
      throw new StoreError('migration_failed', `Migration "${name}" is listed after "${previous}"`, {
        hint: 'Keep src/store/migrations/index.ts in ascending name order with unique names',
      });
    }
    previous = name;
  }
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(Object.fromEntries(registry)) },
    // The store (0001–0099) and the engine (0100–0199) number independently, so a new store migration may sort before
    // an engine migration that already ran.
    allowUnorderedMigrations: true,
  });
}

/**
 * Applies every pending migration. Safe under concurrent starts: PostgreSQL serializes migrators with an advisory
 * lock, SQLite with its write lock. Returns the names applied by this call.
 */
export async function migrateToLatest(
  db: Kysely<Database>,
  registry: Registry = MIGRATIONS,
): Promise<string[]> {
  const { error, results } = await migrator(db, registry).migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    throw new StoreError(
      'migration_failed',
      `Database migration ${failed ?? ''} failed: ${String(error)}`.replace('  ', ' '),
      {
        cause: error,
        hint: 'The database is left at the last successful migration; fix the cause and restart',
        details: { migration: failed },
      },
    );
  }
  return (results ?? [])
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName);
}

/** Which migrations the database has and which are still to run. */
export async function migrationStatus(
  db: Kysely<Database>,
  registry: Registry = MIGRATIONS,
): Promise<{ applied: string[]; pending: string[] }> {
  const migrations = await migrator(db, registry).getMigrations();
  return {
    applied: migrations.filter((m) => m.executedAt !== undefined).map((m) => m.name),
    pending: migrations.filter((m) => m.executedAt === undefined).map((m) => m.name),
  };
}
