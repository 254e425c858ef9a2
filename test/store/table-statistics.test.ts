import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { PostgresTableStatistics } from '../../src/store/index.ts';
import { activateSegment, setup } from '../engine/harness.ts';
import { POSTGRES_ADMIN_URL, POSTGRES_BACKEND } from './backends.ts';

/** How often PostgreSQL has analyzed `table`, by anyone (ANALYZE or autovacuum). */
async function analyzeCount(pool: pg.Pool, table: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    'select analyze_count + autoanalyze_count as n from pg_stat_user_tables where relname = $1',
    [table],
  );
  return Number(rows[0]?.n ?? 0);
}

/** The scan nodes of `query`'s plan, with their index conditions. */
async function scans(pool: pg.Pool, query: string): Promise<Array<{ type: string; cond: string }>> {
  const { rows } = await pool.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
    `explain (format json) ${query}`,
  );
  const found: Array<{ type: string; cond: string }> = [];
  const walk = (node: PlanNode) => {
    if (node['Node Type'].endsWith('Scan'))
      found.push({ type: node['Node Type'], cond: node['Index Cond'] ?? node['Recheck Cond'] ?? '' });
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(rows[0]!['QUERY PLAN'][0]!.Plan);
  return found;
}
interface PlanNode {
  'Node Type': string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Plans?: PlanNode[];
}

/** A migrated store on a fresh database, and a pool of its own to look at it. */
async function freshStore() {
  const testStore = await POSTGRES_BACKEND.open();
  onTestFinished(() => testStore.cleanup());
  const pool = new pg.Pool({ connectionString: testStore.url, max: 2 });
  onTestFinished(() => pool.end());
  return { store: testStore.store, pool, url: testStore.url };
}

/** Inserts `count` profiles of `sandbox` straight into the table, as large imports leave it. */
async function insertProfiles(pool: pg.Pool, sandbox: string, from: number, count: number): Promise<void> {
  await pool.query(
    `insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at)
     select $1, 'k:' || md5(i::text), '{}', '[]', 0 from generate_series($2::int, $3::int) i`,
    [sandbox, from, from + count - 1],
  );
}

describe('planner statistics of the bulk tables (postgres)', () => {
  it('analyzes a table once its writes reach the minimum, then each time it grows by half', async () => {
    const { store, pool } = await freshStore();
    const statistics = new PostgresTableStatistics(store.pg!, {
      onError: (e) => expect.fail(e.message),
      minRows: 1000,
    });
    await insertProfiles(pool, 'prod', 1, 999);
    await statistics.wrote({ engine_profiles: 999 });
    expect(statistics.analyzed('engine_profiles')).toBe(0);
    expect(await analyzeCount(pool, 'engine_profiles')).toBe(0);

    await insertProfiles(pool, 'prod', 1000, 1001);
    await statistics.wrote({ engine_profiles: 1001 });
    expect(statistics.analyzed('engine_profiles')).toBe(1);
    expect(await analyzeCount(pool, 'engine_profiles')).toBe(1);

    // 2,000 rows known: the next run waits for 1,000 more (half of them), counted across calls.
    await statistics.wrote({ engine_profiles: 600 });
    expect(statistics.analyzed('engine_profiles')).toBe(1);
    await statistics.wrote({ engine_profiles: 400, engine_ledger: 10 });
    expect(statistics.analyzed('engine_profiles')).toBe(2);
    expect(statistics.analyzed('engine_ledger')).toBe(0);
  });

  it("gives the planner a sandbox's true size, so a lookup of many keys is not planned as a scan of a few rows", async () => {
    const { store, pool } = await freshStore();
    const statistics = new PostgresTableStatistics(store.pg!, { onError: (e) => expect.fail(e.message) });
    await insertProfiles(pool, 'prod', 1, 50_000);
    const sandboxRows = async () => {
      const { rows } = await pool.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(
        "explain (format json) select id from engine_profiles where sandbox_id = 'prod'",
      );
      return rows[0]!['QUERY PLAN'][0]!.Plan['Plan Rows'];
    };
    const keys = Array.from({ length: 1000 }, (_, i) => `'k:' || md5('${i * 50 + 1}')`).join(', ');
    const lookup = `select id from engine_profiles where sandbox_id = 'prod' and profile_key in (${keys})`;

    // Without statistics PostgreSQL takes the sandbox for a few hundred rows, and reads all of them through the index
    // on the sandbox alone for every chunk of keys looked up: an import slows with the square of its size.
    expect(await sandboxRows()).toBeLessThan(5000);
    expect(
      (await scans(pool, lookup)).some(
        (s) => s.cond.includes('sandbox_id') && !s.cond.includes('profile_key'),
      ),
    ).toBe(true);

    await statistics.wrote({ engine_profiles: 50_000 });
    expect(await sandboxRows()).toBeGreaterThan(40_000);
    expect(await sandboxRows()).toBeLessThan(60_000);
    expect(
      (await scans(pool, lookup)).some(
        (s) => s.cond.includes('sandbox_id') && !s.cond.includes('profile_key'),
      ),
    ).toBe(false);
  });

  it('says what to do, once, when the role may not analyze the table', async () => {
    const testStore = await POSTGRES_BACKEND.open();
    const role = `tca_stats_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    const asRole = new URL(testStore.url);
    asRole.username = role;
    const pool = new pg.Pool({ connectionString: asRole.toString(), max: 1 });
    try {
      await admin.query(`create role ${role} login`);
      const owner = new pg.Pool({ connectionString: testStore.url, max: 1 });
      await owner.query(`grant select on all tables in schema public to ${role}`);
      await owner.end();
      const errors: string[] = [];
      const statistics = new PostgresTableStatistics(pool, {
        onError: (e) => errors.push(e.message),
        minRows: 10,
      });

      await statistics.wrote({ engine_ledger: 20 });
      await statistics.wrote({ engine_ledger: 20 });
      expect(statistics.analyzed('engine_ledger')).toBe(0);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/may not ANALYZE engine_ledger/);
      expect(errors[0]).toMatch(/owner/);
    } finally {
      await pool.end();
      await testStore.cleanup();
      await admin.query(`drop role if exists ${role}`);
      await admin.end();
    }
  });

  it('reports a failed run without failing the writer, and tries again after more writes', async () => {
    const { pool, url } = await freshStore();
    // Runs that give up after 200 ms waiting for a lock.
    const impatient = new pg.Pool({ connectionString: url, max: 2, options: '-c lock_timeout=200' });
    onTestFinished(() => impatient.end());
    const errors: string[] = [];
    const statistics = new PostgresTableStatistics(impatient, {
      onError: (e) => errors.push(e.message),
      minRows: 10,
    });
    const locker = await pool.connect();
    await locker.query('begin');
    await locker.query('lock table engine_ledger in share update exclusive mode');
    await statistics.wrote({ engine_ledger: 20 });
    await locker.query('rollback');
    locker.release();
    expect(statistics.analyzed('engine_ledger')).toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/ANALYZE engine_ledger failed .*lock timeout.*tried again/);

    await statistics.wrote({ engine_ledger: 5 });
    expect(statistics.analyzed('engine_ledger')).toBe(0);
    await statistics.wrote({ engine_ledger: 5 });
    expect(statistics.analyzed('engine_ledger')).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it('keeps the statistics of an import and of a backfill current through the engine', async () => {
    const h = await setup(POSTGRES_BACKEND);
    const pool = new pg.Pool({ connectionString: h.testStore.url, max: 1 });
    onTestFinished(() => pool.end());
    const mapping = [
      {
        sourceType: 'namespace' as const,
        source: 'Email',
        target: 'email' as const,
        applyTransformation: true,
      },
    ];
    await activateSegment(h, { mapping, segmentId: 'seg', mappingName: 'Imported' });
    const lines = Array.from({ length: 12_000 }, (_, i) =>
      JSON.stringify({
        segmentMembership: { ups: { seg: { status: 'realized' }, later: { status: 'realized' } } },
        identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `u${i}@x.com` }] },
      }),
    );
    const file = join(h.testStore.dataDir, 'profiles.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    await h.engine.importFile(file, { sandboxId: 'prod', batchSize: 4000 });
    expect(await analyzeCount(pool, 'engine_profiles')).toBeGreaterThanOrEqual(1);
    const afterImport = await analyzeCount(pool, 'engine_ledger');
    expect(afterImport).toBeGreaterThanOrEqual(1);

    // A segment activated later is backfilled from the stored profiles: 12,000 new ledger rows at once.
    await activateSegment(h, { mapping, segmentId: 'later', mappingName: 'Later' });
    await h.engine.sync();
    expect(await analyzeCount(pool, 'engine_ledger')).toBeGreaterThan(afterImport);
  });
});
