import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type SqliteAccess, type Store } from '../store/index.ts';
import { EngineError } from './errors.ts';
import { groupCommit } from './group-commit.ts';

let dir: string;
let store: Store;
let sqlite: SqliteAccess;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tca-group-commit-'));
  store = await openStore({ dataDir: dir });
  sqlite = store.sqlite!;
  await sqlite.exclusive((database) =>
    database.exec('create table t (k text primary key, v integer not null)'),
  );
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = (k: string, v: number) => (database: BetterSqlite3.Database) =>
  database.prepare('insert into t (k, v) values (?, ?)').run(k, v).changes;

const rows = () =>
  sqlite.exclusive((database) => database.prepare('select k, v from t order by k').all()) as Promise<
    Array<{ k: string; v: number }>
  >;

describe('groupCommit', () => {
  it('commits concurrent units and resolves each with its own result', async () => {
    const results = await Promise.all(
      ['a', 'b', 'c'].map((k, i) => groupCommit(sqlite, { prepare: () => i, write: insert(k, i) })),
    );
    expect(results).toEqual([1, 1, 1]);
    expect(await rows()).toEqual([
      { k: 'a', v: 0 },
      { k: 'b', v: 1 },
      { k: 'c', v: 2 },
    ]);
  });

  it('rolls back and rejects only the unit that throws, in write or in prepare, and commits the others', async () => {
    const outcomes = await Promise.allSettled([
      groupCommit(sqlite, { prepare: () => null, write: insert('a', 1) }),
      groupCommit(sqlite, {
        prepare: () => null,
        write: (database) => {
          insert('b', 2)(database);
          throw new EngineError('invalid_input', 'unit b fails after writing');
        },
      }),
      groupCommit(sqlite, {
        prepare: () => {
          throw new EngineError('invalid_input', 'unit c fails before writing');
        },
        write: insert('c', 3),
      }),
      // Sees the writes of the units before it in the same group, like sequential transactions would.
      groupCommit(sqlite, {
        prepare: () => null,
        write: (database) => database.prepare('select count(*) as n from t').get() as { n: number },
      }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((outcomes[0] as PromiseFulfilledResult<number>).value).toBe(1);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(EngineError);
    expect((outcomes[3] as PromiseFulfilledResult<{ n: number }>).value).toEqual({ n: 1 });
    expect(await rows()).toEqual([{ k: 'a', v: 1 }]);
  });

  it('starts a new group for calls made after a group has run', async () => {
    await groupCommit(sqlite, { prepare: () => null, write: insert('a', 1) });
    await groupCommit(sqlite, { prepare: () => null, write: insert('b', 2) });
    expect((await rows()).map((r) => r.k)).toEqual(['a', 'b']);
  });
});
