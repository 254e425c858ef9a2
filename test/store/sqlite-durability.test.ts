import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { migrateToLatest, openStore } from '../../src/store/index.ts';
import { hashPrefix } from '../../src/store/hash-prefix.ts';
import { MIGRATIONS } from '../../src/store/migrations/index.ts';
import { SQLITE_PAGE_SIZE, WalSync } from '../../src/store/sqlite-backend.ts';
import { SQLITE_CACHE_MB } from '../../src/store/sqlite-defaults.ts';
import { COUNTER_UPSERT_SQL } from '../../src/engine/run-counters.ts';
import { BACKENDS, SQLITE_BACKEND, type Backend, type TestStore } from './backends.ts';

const KEY = randomBytes(32).toString('hex');
/** The names of the engine's migrations from `first` on (those a database made before it still lacks). */
const namesFrom = (first: string) => MIGRATIONS.map(([name]) => name).filter((name) => name >= first);

/** A fake fsync whose calls finish when the test says so. */
function manualFsync() {
  const calls: Array<{ path: string; finish: () => void }> = [];
  return {
    calls,
    fsync: (path: string) => new Promise<void>((resolve) => calls.push({ path, finish: resolve })),
  };
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const opened: TestStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.cleanup()));
});

/** A store of `backend`, closed after the test, migrated up to (not including) the migration numbered `first`. */
async function migratedBefore(backend: Backend, first: string) {
  const t = await backend.open({ secretKey: KEY, migrate: false });
  opened.push(t);
  await migrateToLatest(
    t.store.db,
    MIGRATIONS.filter(([name]) => name < first),
  );
  return t.store.db;
}

describe('WalSync', () => {
  it('shares syncs: calls made while one runs wait for one fresh sync that starts after it', async () => {
    const disk = manualFsync();
    const wal = new WalSync('/data/tca.db-wal', disk.fsync);
    const settled: string[] = [];
    const first = wal.sync().then(() => settled.push('first'));
    const second = wal.sync().then(() => settled.push('second'));
    const third = wal.sync().then(() => settled.push('third'));
    expect(disk.calls).toHaveLength(1);

    disk.calls[0]!.finish();
    await first;
    await until(() => disk.calls.length === 2, 'the second sync');
    // The first sync may have started before the later callers' commits: they are not done yet.
    expect(settled).toEqual(['first']);
    disk.calls[1]!.finish();
    await Promise.all([second, third]);
    expect(settled).toEqual(['first', 'second', 'third']);
    expect(disk.calls.map((c) => c.path)).toEqual(['/data/tca.db-wal', '/data/tca.db-wal']);
  });

  it('passes a failed sync to its callers and starts afresh for the next call', async () => {
    let fail = true;
    const wal = new WalSync('/x-wal', () => (fail ? Promise.reject(new Error('EIO')) : Promise.resolve()));
    await expect(wal.sync()).rejects.toThrow('EIO');
    fail = false;
    await expect(wal.sync()).resolves.toBeUndefined();
  });
});

describe('SQLite durable commits off the main thread', () => {
  it('resolves exclusiveDurable only after the WAL sync, with FULL restored for other statements', async () => {
    const disk = manualFsync();
    const t = await SQLITE_BACKEND.open({ secretKey: KEY, sqlite: { fsync: disk.fsync } });
    opened.push(t);
    const sqlite = t.store.sqlite!;
    await sqlite.exclusive((db) => db.exec('create table t (k integer primary key, v text)'));

    let done = false;
    const write = sqlite
      .exclusiveDurable((db) => db.prepare("insert into t (v) values ('a')").run().changes)
      .then((changes) => {
        done = true;
        return changes;
      });
    await until(() => disk.calls.length === 1, 'the WAL sync');
    expect(disk.calls[0]!.path).toBe(`${t.url}-wal`);
    // Committed (other statements on the connection see it) but not acknowledged before the disk confirms.
    expect(await sqlite.exclusive((db) => db.prepare('select count(*) as n from t').get())).toEqual({ n: 1 });
    expect(done).toBe(false);
    expect(await sqlite.exclusive((db) => db.pragma('synchronous', { simple: true }))).toBe(2);

    disk.calls[0]!.finish();
    expect(await write).toBe(1);
  });

  it('gives a new file 16 KiB pages, and opens a file made with another page size as it is', async () => {
    const fresh = await SQLITE_BACKEND.open({ secretKey: KEY });
    opened.push(fresh);
    const pageSize = (t: TestStore) =>
      t.store.sqlite!.exclusive((db) => db.pragma('page_size', { simple: true }) as number);
    expect(await pageSize(fresh)).toBe(SQLITE_PAGE_SIZE);
    // The safety-net checkpoint threshold is a WAL size (64 MiB), in pages of the file's size.
    const threshold = (sqlite: NonNullable<TestStore['store']['sqlite']>) =>
      sqlite.exclusive((db) => db.pragma('wal_autocheckpoint', { simple: true }));
    expect(await threshold(fresh.store.sqlite!)).toBe(4096);

    // A file made before (4 KiB pages, in WAL mode) keeps its size: changing it would rewrite the whole file.
    const dir = mkdtempSync(join(tmpdir(), 'tca-page-size-'));
    const old = new BetterSqlite3(join(dir, 'tca.db'));
    old.pragma('page_size = 4096');
    old.pragma('journal_mode = WAL');
    old.exec('create table kept (v text)');
    old.close();
    const store = await openStore({ dataDir: dir, secretKey: KEY });
    try {
      expect(await store.sqlite!.exclusive((db) => db.pragma('page_size', { simple: true }))).toBe(4096);
      expect(await threshold(store.sqlite!)).toBe(16_384);
      expect(await store.destinations.list('prod')).toEqual([]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives the connection the page cache configured, in MiB', async () => {
    const cacheKib = (t: TestStore) =>
      t.store.sqlite!.exclusive((db) => db.pragma('cache_size', { simple: true }) as number);
    const fresh = await SQLITE_BACKEND.open({ secretKey: KEY });
    opened.push(fresh);
    // Negative: KiB rather than pages.
    expect(await cacheKib(fresh)).toBe(-SQLITE_CACHE_MB * 1024);
    const small = await SQLITE_BACKEND.open({ secretKey: KEY, sqlite: { cacheMb: 8 } });
    opened.push(small);
    expect(await cacheKib(small)).toBe(-8 * 1024);
  });

  it('makes a new store file, its WAL and shared memory readable by the owner alone, in a directory of its own', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tca-modes-'));
    const dir = join(parent, 'data');
    const store = await openStore({ dataDir: dir, secretKey: KEY });
    try {
      await store.destinations.list('prod');
      const mode = (name: string) => statSync(join(dir, name)).mode & 0o777;
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(['tca.db', 'tca.db-wal', 'tca.db-shm'].map(mode)).toEqual([0o600, 0o600, 0o600]);
    } finally {
      await store.close();
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('checkpoints the WAL on its worker thread while the connection keeps committing', async () => {
    const t = await SQLITE_BACKEND.open({ secretKey: KEY });
    opened.push(t);
    const sqlite = t.store.sqlite!;
    await sqlite.exclusive((db) => db.exec('create table t (k integer primary key, v text)'));
    const insert = (db: Parameters<Parameters<typeof sqlite.exclusive>[0]>[0]) =>
      db.transaction(() => {
        const statement = db.prepare('insert into t (v) values (?)');
        for (let i = 0; i < 200; i += 1) statement.run(randomBytes(200).toString('hex'));
      })();
    for (let i = 0; i < 20; i += 1) await sqlite.exclusiveDurable(insert);
    // The main connection's own threshold (64 MB of WAL) is far above what these commits wrote.
    await until(() => sqlite.checkpointedFrames() > 0, 'a background checkpoint');
    expect(await sqlite.exclusive((db) => db.prepare('select count(*) as n from t').get())).toEqual({
      n: 4000,
    });
  });
});

describe.each(BACKENDS)('migration 0102 on $name', (backend) => {
  it('gives profiles ids in arrival order and renumbers ledger members to them', async () => {
    const t = await backend.open({ secretKey: KEY, migrate: false });
    opened.push(t);
    const db = t.store.db;
    const before0102 = MIGRATIONS.filter(([name]) => name < '0102');
    await migrateToLatest(db, before0102);
    await sql`insert into engine_audiences (id, sandbox_id, dataflow_id, destination_id, segment_id, lifecycle, updated_at)
      values ('aud_1', 'prod', 'df_1', 'dst_1', 'seg', 'active', 1)`.execute(db);
    for (const [key, at] of [
      ['k:bbb', 1],
      ['k:aaa', 2],
    ] as const) {
      await sql`insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at)
        values ('prod', ${key}, '{}', '["seg"]', ${at})`.execute(db);
      await sql`insert into engine_ledger (audience_id, member, desired, delivered, updated_at)
        values ('aud_1', ${key}, 'u', 'u', 1)`.execute(db);
      await sql`insert into engine_delivered_ids (audience_id, ident, member) values ('aud_1', ${`email:${key}`}, ${key})`.execute(
        db,
      );
    }

    expect(
      await migrateToLatest(
        db,
        MIGRATIONS.filter(([name]) => name < '0106'),
      ),
    ).toContain('0102-engine-profile-ids');

    const profiles = await db
      .selectFrom('engine_profiles')
      .select(['id', 'profile_key'])
      .orderBy('id')
      .execute();
    expect(profiles.map((p) => p.profile_key)).toEqual(['k:bbb', 'k:aaa']);
    const idOf = new Map(profiles.map((p) => [p.profile_key, String(p.id)]));
    const ledger = await db.selectFrom('engine_ledger').select('member').orderBy('member').execute();
    expect(ledger.map((r) => r.member).sort()).toEqual([idOf.get('k:bbb'), idOf.get('k:aaa')].sort());
    const { rows: idents } = await sql<{
      ident: string;
      member: string;
    }>`select ident, member from engine_delivered_ids`.execute(db);
    for (const row of idents) expect(row.member).toBe(idOf.get(row.ident.slice('email:'.length)));

    // New profiles continue the sequence, and the key stays unique per sandbox.
    const inserted = await sql<{
      id: number;
    }>`insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at)
      values ('prod', 'k:ccc', '{}', '[]', 3) returning id`.execute(db);
    expect(Number(inserted.rows[0]!.id)).toBeGreaterThan(Math.max(...profiles.map((p) => Number(p.id))));
    await expect(
      sql`insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at)
        values ('prod', 'k:ccc', '{}', '[]', 4)`.execute(db),
    ).rejects.toThrow();
  });
});

describe.each(BACKENDS)('migration 0106 on $name', (backend) => {
  it('re-keys the delivered-identifier index by hash prefix and keeps every profile findable', async () => {
    const db = await migratedBefore(backend, '0106');
    const hashes = Array.from({ length: 3 }, () => randomBytes(32).toString('hex'));
    for (const [i, hash] of hashes.entries()) {
      await sql`insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at)
        values ('prod', ${`k:${hash}`}, '{}', '[]', ${i})`.execute(db);
      await sql`insert into engine_delivered_ids (audience_id, ident, member)
        values ('aud_1', ${`email:${hash}`}, ${String(i + 1)})`.execute(db);
    }
    await sql`insert into engine_audiences (id, sandbox_id, dataflow_id, destination_id, segment_id, lifecycle, updated_at)
      values ('aud_1', 'prod', 'df_1', 'dst_1', 'seg', 'active', 1)`.execute(db);
    // A partner id is not a hash: its index key comes from a digest of the whole identifier key.
    await sql`insert into engine_delivered_ids (audience_id, ident, member)
      values ('aud_1', 'partner_user_id:crm-7', '1')`.execute(db);

    expect(
      await migrateToLatest(
        db,
        MIGRATIONS.filter(([name]) => name <= '0106-engine-compact-indexes'),
      ),
    ).toEqual(['0106-engine-compact-indexes']);

    const idents = await db
      .selectFrom('engine_member_idents')
      .select(['ident', 'member'])
      .orderBy('member')
      .orderBy('ident')
      .execute();
    const expected = [
      ...hashes.map((hash, i) => ({ ident: hashPrefix(`email:${hash}`), member: String(i + 1) })),
      { ident: hashPrefix('partner_user_id:crm-7'), member: '1' },
    ];
    const order = (a: { ident: number; member: string }, b: { ident: number; member: string }) =>
      a.member.localeCompare(b.member) || a.ident - b.ident;
    expect(idents.map((r) => ({ ident: Number(r.ident), member: r.member }))).toEqual(expected.sort(order));
    expect(hashPrefix(`email:${hashes[0]!}`)).toBe(Number.parseInt(hashes[0]!.slice(0, 13), 16));
    await expect(sql`select 1 from engine_delivered_ids`.execute(db)).rejects.toThrow();
    // The audience's index was migrated whole, so it counts as built.
    expect(await db.selectFrom('engine_audiences').select(['id', 'idents_indexed']).execute()).toEqual([
      { id: 'aud_1', idents_indexed: 1 },
    ]);

    if (backend.name === 'sqlite') {
      const { rows } = await sql<{
        profile_key: string;
        key_prefix: number;
      }>`select profile_key, key_prefix from engine_profiles order by id`.execute(db);
      expect(rows.map((r) => r.key_prefix)).toEqual(rows.map((r) => hashPrefix(r.profile_key)));
    }
  });
});

describe.each(BACKENDS)('migration 0109 on $name', (backend) => {
  it('clusters the ledger and the mirror-import rows on their keys (SQLite), keeping every row and index', async () => {
    const db = await migratedBefore(backend, '0109');
    await sql`insert into engine_ledger (audience_id, member, desired, delivered, sent, pending, pending_since, resend, expires_at, dead, updated_at)
      values ('aud_1', '1', '{"email":["a"]}', null, null, 1, 5, 0, null, null, 5),
             ('aud_1', '2', '{"email":["b"]}', '{"email":["b"]}', null, 0, null, 1, 99, '{"email":["x"]}', 6)`.execute(
      db,
    );
    await sql`insert into engine_import_seen (import_id, profile_key) values ('imp_1', 'k:a'), ('imp_1', 'k:b')`.execute(
      db,
    );

    expect(
      await migrateToLatest(
        db,
        MIGRATIONS.filter(([name]) => name < '0110'),
      ),
    ).toEqual(['0109-engine-clustered-tables']);

    expect(await db.selectFrom('engine_ledger').selectAll().orderBy('member').execute()).toEqual([
      {
        audience_id: 'aud_1',
        member: '1',
        desired: '{"email":["a"]}',
        delivered: null,
        sent: null,
        pending: 1,
        pending_since: 5,
        resend: 0,
        expires_at: null,
        dead: null,
        updated_at: 5,
      },
      {
        audience_id: 'aud_1',
        member: '2',
        desired: '{"email":["b"]}',
        delivered: '{"email":["b"]}',
        sent: null,
        pending: 0,
        pending_since: null,
        resend: 1,
        expires_at: 99,
        dead: '{"email":["x"]}',
        updated_at: 6,
      },
    ]);
    expect(
      (await db.selectFrom('engine_import_seen').select('profile_key').orderBy('profile_key').execute()).map(
        (r) => r.profile_key,
      ),
    ).toEqual(['k:a', 'k:b']);
    // The key still refuses a second row for a member.
    await expect(
      sql`insert into engine_ledger (audience_id, member, updated_at) values ('aud_1', '1', 7)`.execute(db),
    ).rejects.toThrow();

    if (backend.name === 'sqlite') {
      const { rows } = await sql<{ name: string; sql: string | null }>`
        select name, sql from sqlite_master where tbl_name in ('engine_ledger', 'engine_import_seen') order by name`.execute(
        db,
      );
      const byName = new Map(rows.map((r) => [r.name, r.sql ?? '']));
      expect(byName.get('engine_ledger')).toMatch(/without rowid$/i);
      expect(byName.get('engine_import_seen')).toMatch(/without rowid$/i);
      // No separate key index any more; the partial indexes are back.
      expect([...byName.keys()].filter((n) => n.startsWith('sqlite_autoindex'))).toEqual([]);
      expect(byName.get('engine_ledger_pending')).toMatch(/where pending = 1/i);
      expect(byName.get('engine_ledger_expiry')).toMatch(/where expires_at is not null/i);
      // The pending index serves the delivery's page reads.
      const { rows: plan } = await sql<{ detail: string }>`explain query plan
        select member from engine_ledger where audience_id = 'aud_1' and pending = 1
        order by pending_since, member limit 10`.execute(db);
      expect(plan.map((p) => p.detail).join(' ')).toContain('engine_ledger_pending');
    }
  });
});

describe.each(BACKENDS)('migration 0003 on $name', (backend) => {
  it('moves the profile key namespaces to each sandbox, from its oldest tracked dataflow', async () => {
    const t = await backend.open({ secretKey: KEY, migrate: false });
    opened.push(t);
    const db = t.store.db;
    await migrateToLatest(
      db,
      MIGRATIONS.filter(([name]) => name !== '0003-sandbox-profile-keys'),
    );
    for (const id of ['sbx_keyed', 'sbx_empty', 'sbx_default'])
      await sql`insert into sandboxes (id, name, created_at) values (${id}, ${id}, 1)`.execute(db);
    await sql`insert into destinations (id, sandbox_id, name, account_id, status, created_at, updated_at)
      values ('dst_1', 'sbx_keyed', 'd', 'acc', 'active', 1, 1)`.execute(db);
    // The oldest dataflow is deleted (not tracked): the next one's preference is the sandbox's.
    for (const [id, status, keys, at] of [
      ['df_gone', 'deleted', '["EMAIL"]', 1],
      ['df_first', 'paused', '["CUSTOMERID","ECID"]', 2],
      ['df_second', 'active', '["ECID"]', 3],
    ] as const) {
      await sql`insert into dataflows (id, sandbox_id, destination_id, name, mapping, status, profile_key_namespaces, created_at, updated_at)
        values (${id}, 'sbx_keyed', 'dst_1', ${id}, '[]', ${status}, ${keys}, ${at}, ${at})`.execute(db);
    }

    // A dataflow created with the default namespaces leaves its sandbox on the default.
    await sql`insert into destinations (id, sandbox_id, name, account_id, status, created_at, updated_at)
      values ('dst_2', 'sbx_default', 'd', 'acc', 'active', 1, 1)`.execute(db);
    await sql`insert into dataflows (id, sandbox_id, destination_id, name, mapping, status, profile_key_namespaces, created_at, updated_at)
      values ('df_default', 'sbx_default', 'dst_2', 'df', '[]', 'active', '["ECID","CRMID"]', 1, 1)`.execute(
      db,
    );

    expect(await migrateToLatest(db)).toEqual(['0003-sandbox-profile-keys']);

    const sandboxes = await db
      .selectFrom('sandboxes')
      .select(['id', 'profile_key_namespaces'])
      .where('id', 'in', ['sbx_keyed', 'sbx_empty', 'sbx_default'])
      .orderBy('id')
      .execute();
    expect(sandboxes).toEqual([
      { id: 'sbx_default', profile_key_namespaces: null },
      { id: 'sbx_empty', profile_key_namespaces: null },
      { id: 'sbx_keyed', profile_key_namespaces: '["CUSTOMERID","ECID"]' },
    ]);
    await expect(sql`select profile_key_namespaces from dataflows`.execute(db)).rejects.toThrow();
    expect((await t.store.sandboxes.get('sbx_keyed'))?.profileKeyNamespaces).toEqual(['CUSTOMERID', 'ECID']);
  });
});

describe.each(BACKENDS)('migrations 0018 and 0110 on $name', (backend) => {
  it('start every sandbox at key generation 0 with no re-keying, and every profile keyed under it', async () => {
    const t = await backend.open({ secretKey: KEY, migrate: false });
    opened.push(t);
    const db = t.store.db;
    await migrateToLatest(
      db,
      MIGRATIONS.filter(([name]) => name < '0018' || (name >= '0100' && name < '0110')),
    );
    await sql`insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at)
      values ('prod', 'k:aaa', '{}', '[]', 1)`.execute(db);
    expect(await migrateToLatest(db, MIGRATIONS)).toEqual([
      '0018-sandbox-profile-rekey',
      '0019-alert-episodes',
      ...namesFrom('0110'),
    ]);
    expect(
      await db
        .selectFrom('sandboxes')
        .select(['profile_key_generation', 'profile_key_rekey'])
        .where('id', '=', 'prod')
        .execute(),
    ).toEqual([{ profile_key_generation: 0, profile_key_rekey: null }]);
    expect(await db.selectFrom('engine_profiles').select(['profile_key', 'key_gen']).execute()).toEqual([
      { profile_key: 'k:aaa', key_gen: 0 },
    ]);
  });
});

describe.each(BACKENDS)('migration 0019 on $name', (backend) => {
  it('keys alerts by their id and keeps every row: a condition may then have several alerts, one of them firing', async () => {
    const t = await backend.open({ secretKey: KEY, migrate: false });
    opened.push(t);
    const db = t.store.db;
    await migrateToLatest(
      db,
      MIGRATIONS.filter(([name]) => name !== '0019-alert-episodes'),
    );
    // As the layout before it kept them: one row per condition, the alert's id only in its JSON.
    const alert = (alertId: string, type: string) =>
      JSON.stringify({ id: alertId, alertId, status: 'firing', type, dataflowId: 'df_1', firedAt: '' });
    await sql`insert into alert_states (key, sandbox_id, dataflow_id, type, alert, urls, fired_at, resolved_at,
        notified, last_notified_at, acknowledged_at, acknowledged_by) values
      ('df_1:paused', 'prod', 'df_1', 'dataflow_paused', ${alert('alr_paused', 'dataflow_paused')}, 'v1.sealed', 1000,
        2000, 1, 1000, 1500, 'on-call'),
      ('df_1:failed', 'prod', 'df_1', 'dataflow_failed', ${alert('alr_failed', 'dataflow_failed')}, '[]', 3000,
        null, 0, null, null, null)`.execute(db);
    expect(await migrateToLatest(db, MIGRATIONS)).toEqual(['0019-alert-episodes']);
    const rows = await db.selectFrom('alert_states').selectAll().orderBy('fired_at').execute();
    expect(
      rows.map((r) => ({
        ...r,
        fired_at: Number(r.fired_at),
        resolved_at: r.resolved_at === null ? null : Number(r.resolved_at),
        notified: Number(r.notified),
        last_notified_at: r.last_notified_at === null ? null : Number(r.last_notified_at),
        acknowledged_at: r.acknowledged_at === null ? null : Number(r.acknowledged_at),
      })),
    ).toEqual([
      {
        id: 'alr_paused',
        key: 'df_1:paused',
        sandbox_id: 'prod',
        dataflow_id: 'df_1',
        type: 'dataflow_paused',
        alert: alert('alr_paused', 'dataflow_paused'),
        urls: 'v1.sealed',
        fired_at: 1000,
        resolved_at: 2000,
        notified: 1,
        last_notified_at: 1000,
        acknowledged_at: 1500,
        acknowledged_by: 'on-call',
      },
      {
        id: 'alr_failed',
        key: 'df_1:failed',
        sandbox_id: 'prod',
        dataflow_id: 'df_1',
        type: 'dataflow_failed',
        alert: alert('alr_failed', 'dataflow_failed'),
        urls: '[]',
        fired_at: 3000,
        resolved_at: null,
        notified: 0,
        last_notified_at: null,
        acknowledged_at: null,
        acknowledged_by: null,
      },
    ]);
    const row = (id: string, key: string, resolvedAt: number | null) => ({
      id,
      key,
      sandbox_id: 'prod',
      dataflow_id: 'df_1',
      type: 'dataflow_paused',
      alert: alert(id, 'dataflow_paused'),
      urls: '[]',
      fired_at: 4000,
      resolved_at: resolvedAt,
      last_notified_at: null,
      acknowledged_at: null,
      acknowledged_by: null,
    });
    // The paused condition fires again: a new alert beside the resolved one, and it resolves too.
    await db
      .insertInto('alert_states')
      .values(row('alr_paused_2', 'df_1:paused', null))
      .execute();
    await db
      .updateTable('alert_states')
      .set({ resolved_at: 5000 })
      .where('id', '=', 'alr_paused_2')
      .execute();
    await db
      .insertInto('alert_states')
      .values(row('alr_paused_3', 'df_1:paused', null))
      .execute();
    // A second firing alert of a condition is refused; a second row under an id, too.
    await expect(
      db
        .insertInto('alert_states')
        .values(row('alr_paused_4', 'df_1:paused', null))
        .execute(),
    ).rejects.toThrow(/unique|duplicate/i);
    await expect(
      db
        .insertInto('alert_states')
        .values(row('alr_failed', 'df_1:other', 6000))
        .execute(),
    ).rejects.toThrow(/unique|duplicate/i);
    const paused = await db
      .selectFrom('alert_states')
      .select(['id', 'resolved_at'])
      .where('key', '=', 'df_1:paused')
      .orderBy('id')
      .execute();
    expect(paused.map((r) => [r.id, r.resolved_at === null ? null : Number(r.resolved_at)])).toEqual([
      ['alr_paused', 2000],
      ['alr_paused_2', 5000],
      ['alr_paused_3', null],
    ]);
  });
});

describe.each(BACKENDS)('migration 0111 on $name', (backend) => {
  it('leaves the counters before it without a time, and the next count of one gives it its time', async () => {
    const db = await migratedBefore(backend, '0111');
    await sql`insert into engine_run_counters (dataflow_id, hour, audience_id, metric, code, value)
      values ('df_1', 3600000, '', 'profiles_received', '', 5)`.execute(db);
    expect(await migrateToLatest(db, MIGRATIONS)).toEqual(namesFrom('0111'));
    const counter = () => db.selectFrom('engine_run_counters').select(['value', 'last_at']).execute();
    expect((await counter()).map((r) => [Number(r.value), r.last_at])).toEqual([[5, null]]);
    const count = (value: number, at: number) =>
      sql`insert into engine_run_counters (dataflow_id, hour, audience_id, metric, code, value, last_at)
        values ('df_1', 3600000, '', 'profiles_received', '', ${value}, ${at})
        on conflict (dataflow_id, hour, audience_id, metric, code) do update set ${sql.raw(COUNTER_UPSERT_SQL)}`.execute(
        db,
      );
    await count(2, 4_000_000);
    expect((await counter()).map((r) => [Number(r.value), Number(r.last_at)])).toEqual([[7, 4_000_000]]);
    // A count that carries an earlier time (another worker's, committed later) keeps the later one.
    await count(1, 3_900_000);
    expect((await counter()).map((r) => [Number(r.value), Number(r.last_at)])).toEqual([[8, 4_000_000]]);
  });
});

describe.each(BACKENDS)('migration 0113 on $name', (backend) => {
  it('clears the expiry of members X holds nothing of, and keeps the others', async () => {
    const db = await migratedBefore(backend, '0113');
    const user = '{"email":["e"]}';
    await sql`insert into engine_ledger (audience_id, member, desired, delivered, expires_at, updated_at) values
      ('aud_1', '1', ${user}, ${user}, 5000, 1),
      ('aud_1', '2', null, null, 5000, 1),
      ('aud_1', '3', null, ${user}, 5000, 1)`.execute(db);
    expect(await migrateToLatest(db, MIGRATIONS)).toEqual(namesFrom('0113'));
    const rows = await db
      .selectFrom('engine_ledger')
      .select(['member', 'expires_at'])
      .orderBy('member')
      .execute();
    expect(rows.map((r) => [r.member, r.expires_at === null ? null : Number(r.expires_at)])).toEqual([
      ['1', 5000],
      ['2', null],
      ['3', 5000],
    ]);
  });
});

describe.each(BACKENDS)('migration 0114 on $name', (backend) => {
  it('leaves the imports before it without a key generation, and a new one records the one it starts under', async () => {
    const db = await migratedBefore(backend, '0114');
    const row = (key: string) => ({
      sandbox_id: 'prod',
      key,
      id: `imp_${key}`,
      format: 'ndjson',
      mode: 'mirror',
      segment_id: 'seg',
      key_namespace: 'ECID',
      status: 'interrupted',
      attempts: 1,
      batch_size: 10,
      rows_committed: 10,
      digest: '',
      report: 'null',
      error: null,
      created_at: 1,
      updated_at: 1,
      finished_at: null,
    });
    await db.insertInto('engine_imports').values(row('before')).execute();
    expect(await migrateToLatest(db, MIGRATIONS)).toEqual(namesFrom('0114'));
    await db
      .insertInto('engine_imports')
      .values({ ...row('after'), key_gen: 3 })
      .execute();
    const rows = await db.selectFrom('engine_imports').select(['key', 'key_gen']).orderBy('key').execute();
    expect(rows.map((r) => [r.key, r.key_gen === null ? null : Number(r.key_gen)])).toEqual([
      ['after', 3],
      ['before', null],
    ]);
  });
});

describe.each(BACKENDS)('migration 0118 on $name', (backend) => {
  it('makes a sandbox that holds profiles look its later key namespaces up, and leaves an empty one as it was', async () => {
    const db = await migratedBefore(backend, '0118');
    await sql`insert into sandboxes (id, name, created_at) values ('sbx_empty', 'sbx_empty', 1)`.execute(db);
    await sql`insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at)
      values ('prod', 'k:aaa', '{}', '[]', 1)`.execute(db);
    expect(await migrateToLatest(db, MIGRATIONS)).toEqual(namesFrom('0118'));
    expect(
      await db
        .selectFrom('sandboxes')
        .select(['id', 'profile_key_aliases'])
        .where('id', 'in', ['prod', 'sbx_empty'])
        .orderBy('id')
        .execute(),
    ).toEqual([
      { id: 'prod', profile_key_aliases: 1 },
      { id: 'sbx_empty', profile_key_aliases: 0 },
    ]);
  });
});
