import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteAccess } from '../store/index.ts';

/**
 * One unit of work of a group: `prepare` runs on the connection before the group's transaction (reads and pure
 * work), `write` inside it. `write` must leave what it captured unchanged (build its result afresh), since it runs
 * a second time when its group has to be retried unit by unit.
 */
export interface GroupedWork<P, T> {
  prepare(database: BetterSqlite3.Database): P;
  write(database: BetterSqlite3.Database, prepared: P): T;
}

interface Queued {
  prepare(database: BetterSqlite3.Database): unknown;
  write(database: BetterSqlite3.Database, prepared: unknown): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Work waiting for the connection, per connection: calls made meanwhile join it. */
const waiting = new WeakMap<SqliteAccess, Queued[]>();

/**
 * Runs `work` in a transaction shared with the other grouped work that is waiting for the connection at the same
 * time, so concurrent callers pay for one commit (one WAL sync) instead of one each. Every unit still commits or
 * fails on its own: when a unit throws, the group is rolled back and its units run again one transaction each, so
 * the failing one rejects with its error and the others commit. Resolves once the unit's writes have committed,
 * so the result is durable like a transaction of its own.
 *
 * @example
 * const result = await groupCommit(store.sqlite, {
 *   prepare: (database) => readContext(database),
 *   write: (database, context) => applyBatch(database, context),
 * });
 */
export function groupCommit<P, T>(sqlite: SqliteAccess, work: GroupedWork<P, T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const unit: Queued = {
      prepare: work.prepare,
      write: work.write as Queued['write'],
      resolve: resolve as (value: unknown) => void,
      reject,
    };
    const group = waiting.get(sqlite);
    if (group) {
      group.push(unit);
      return;
    }
    const units = [unit];
    waiting.set(sqlite, units);
    // Collect the calls of this turn of the event loop (e.g. requests whose bodies arrived together) first.
    setImmediate(() => {
      sqlite
        .exclusiveDurable((database) => {
          // From here on, new calls start the next group.
          waiting.delete(sqlite);
          return runGroup(database, units);
        })
        .then(
          (outcomes) =>
            outcomes.forEach((outcome, i) => {
              if (outcome.ok) units[i]!.resolve(outcome.value);
              else units[i]!.reject(outcome.error);
            }),
          (error: unknown) => units.forEach((u) => u.reject(error)),
        );
    });
  });
}

function runGroup(database: BetterSqlite3.Database, units: readonly Queued[]): Outcome[] {
  const prepared = units.map((unit): Outcome => {
    try {
      return { ok: true, value: unit.prepare(database) };
    } catch (error) {
      return { ok: false, error };
    }
  });
  const ready = units.flatMap((unit, i) => {
    const before = prepared[i]!;
    return before.ok ? [{ unit, prepared: before.value }] : [];
  });
  const written = new Map<Queued, Outcome>();
  try {
    // No savepoint per unit: a savepoint copies every page it touches first to a statement journal, which costs
    // more than it saves. Units run as in one transaction of their own, one after the other.
    database.transaction(() => {
      for (const { unit, prepared: value } of ready)
        written.set(unit, { ok: true, value: unit.write(database, value) });
    })();
  } catch {
    // Rare: something failed and the whole group rolled back. Run each unit in a transaction of its own, so only
    // the units that fail fail (a unit's `write` starts from the same state, so it can run again).
    written.clear();
    for (const { unit, prepared: value } of ready) {
      try {
        written.set(unit, { ok: true, value: database.transaction(() => unit.write(database, value))() });
      } catch (error) {
        written.set(unit, { ok: false, error });
      }
    }
  }
  return units.map((unit, i) => written.get(unit) ?? prepared[i]!);
}
