import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore, type OpenStoreOptions, type Store } from '../../src/store/index.ts';

/** The PostgreSQL server the test suites use (trust auth on loopback). */
export const POSTGRES_ADMIN_URL =
  process.env.TCA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A fresh PostgreSQL database on the server `adminUrl` points at (its role may create databases); `drop()` removes it
 * even if connections are still open.
 */
export async function createPostgresDatabase(
  prefix = 'tca_test',
  adminUrl = POSTGRES_ADMIN_URL,
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface TestStore {
  store: Store;
  dataDir: string;
  /** The database URL, or the SQLite file path. */
  url: string;
  /** Opens another store on the same database and data directory (e.g. to test re-opening). */
  reopen(options?: Partial<OpenStoreOptions>): Promise<Store>;
  /** Closes every store opened here and removes the database and the data directory. */
  cleanup(): Promise<void>;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** A store on a brand-new database and data directory. */
  open(options?: Partial<OpenStoreOptions>): Promise<TestStore>;
}

function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'tca-store-'));
}

async function track(
  base: OpenStoreOptions,
  overrides: Partial<OpenStoreOptions>,
  removeDatabase: () => Promise<void>,
): Promise<TestStore> {
  const opened: Store[] = [];
  const open = async (more: Partial<OpenStoreOptions> = {}) => {
    const store = await openStore({ ...base, ...overrides, ...more });
    opened.push(store);
    return store;
  };
  const store = await open();
  return {
    store,
    dataDir: base.dataDir,
    url: base.url ?? '',
    reopen: open,
    async cleanup() {
      await Promise.allSettled(opened.map((s) => s.close()));
      await removeDatabase();
      rmSync(base.dataDir, { recursive: true, force: true });
    },
  };
}

export const SQLITE_BACKEND: Backend = {
  name: 'sqlite',
  async open(options = {}) {
    const dataDir = tempDataDir();
    return track({ dataDir, url: join(dataDir, 'tca.db') }, options, async () => {});
  },
};

export const POSTGRES_BACKEND: Backend = {
  name: 'postgres',
  async open(options = {}) {
    const dataDir = tempDataDir();
    const database = await createPostgresDatabase('tca_store');
    try {
      return await track({ dataDir, url: database.url }, options, () => database.drop());
    } catch (error) {
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
  },
};

/** Every backend a store suite runs against. */
export const BACKENDS: readonly Backend[] = [SQLITE_BACKEND, POSTGRES_BACKEND];
