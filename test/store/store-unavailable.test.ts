import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { storeUnavailable } from '../../src/store/index.ts';
import { POSTGRES_ADMIN_URL } from './backends.ts';

// The errors that mean "the database cannot take work now", told apart from the others, as the databases raise them.

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

async function rejected(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('storeUnavailable', () => {
  it('names a SQLite database that cannot grow, and leaves other SQLite errors alone', () => {
    const db = new Database(':memory:');
    db.exec('create table t (id integer primary key, v blob)');
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    const full = caught(() => db.prepare('insert into t (v) values (zeroblob(100000))').run());
    expect(storeUnavailable(full)).toBe('the disk holding the database is full (SQLITE_FULL)');
    // An error that has it as its cause, as a wrapper would throw.
    expect(storeUnavailable(new Error('could not write the batch', { cause: full }))).toMatch(/SQLITE_FULL/);

    db.pragma('max_page_count = 1000000');
    db.prepare('insert into t (id, v) values (1, null)').run();
    const duplicate = caught(() => db.prepare('insert into t (id, v) values (1, null)').run());
    expect(storeUnavailable(duplicate)).toBeUndefined();
    expect(storeUnavailable(caught(() => db.prepare('select nope from t').all()))).toBeUndefined();
    db.close();
  });

  it('names a PostgreSQL server that refuses connections or writes, and leaves query errors alone', async () => {
    // A loopback port nothing listens on.
    const refused = await rejected(() =>
      new pg.Client({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 5000 }).connect(),
    );
    expect(storeUnavailable(refused)).toBe('the database server refuses connections (ECONNREFUSED)');

    const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await client.connect();
    try {
      await client.query('begin read only');
      const readOnly = await rejected(() => client.query('create temporary table refused (id int)'));
      expect(storeUnavailable(readOnly)).toBe(
        'the database server is read-only (a standby?) (SQLSTATE 25006)',
      );
      await client.query('rollback');
      expect(storeUnavailable(await rejected(() => client.query('select nope')))).toBeUndefined();
    } finally {
      await client.end();
    }
  });
});
