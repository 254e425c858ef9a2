import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { compactSqliteFile, openStore, StoreError } from '../../src/store/index.ts';
import { SQLITE_PAGE_SIZE } from '../../src/store/sqlite-backend.ts';
import type { DoctorCheck } from '../../src/cli/commands/doctor.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const KEY = randomBytes(32).toString('hex');
const CREDENTIALS = { consumerKey: 'ck', consumerSecret: 'cs', accessToken: 'at', accessTokenSecret: 'ats' };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A store as an older installation left it: 4 KiB pages, a destination with credentials, and 8 MB of rows deleted
 * since (free pages that only a rewrite gives back).
 */
async function olderStore(): Promise<{ dir: string; file: string; destinationId: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tca-compact-'));
  dirs.push(dir);
  const file = join(dir, 'tca.db');
  const seed = new BetterSqlite3(file);
  seed.pragma('page_size = 4096');
  seed.pragma('journal_mode = WAL');
  seed.close();
  const store = await openStore({ dataDir: dir, secretKey: KEY });
  const destination = await store.destinations.create({
    sandboxId: 'prod',
    name: 'Older',
    accountId: '18ce54d4x5t',
    credentials: CREDENTIALS,
    status: 'active',
  });
  await store.sqlite!.exclusive((db) => {
    db.exec('create table scratch (v blob)');
    const insert = db.prepare('insert into scratch (v) values (?)');
    db.transaction(() => {
      for (let i = 0; i < 2000; i += 1) insert.run(randomBytes(4096));
    })();
    db.exec('drop table scratch');
  });
  await store.close();
  return { dir, file, destinationId: destination.id };
}

function tca(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'tca.js'), ...args], {
      env: { ...process.env, TCA_LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  await new Promise((closed) => server.close(closed));
  return port;
}

describe('compacting a SQLite store', () => {
  it('rewrites an older file with 16 KiB pages and without its free pages, keeping every row and the WAL mode', async () => {
    const older = await olderStore();
    const { before, after } = compactSqliteFile(older.file);
    expect(before.pageSize).toBe(4096);
    expect(after.pageSize).toBe(SQLITE_PAGE_SIZE);
    // The 8 MB deleted are given back.
    expect(before.bytes - after.bytes).toBeGreaterThan(7 * 1024 * 1024);
    expect(after.bytes).toBe(statSync(older.file).size);

    const store = await openStore({ dataDir: older.dir, secretKey: KEY });
    try {
      expect(await store.sqlite!.exclusive((db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
      expect(await store.destinations.getCredentials('prod', older.destinationId)).toEqual(CREDENTIALS);
      expect(await store.migrationStatus()).toMatchObject({ pending: [] });
    } finally {
      await store.close();
    }
  });

  it('refuses while another connection holds the file, and leaves the file and that connection as they were', async () => {
    const older = await olderStore();
    const running = await openStore({ dataDir: older.dir, secretKey: KEY });
    try {
      let refused: unknown;
      try {
        compactSqliteFile(older.file);
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(StoreError);
      expect(refused).toMatchObject({
        code: 'conflict',
        message: expect.stringContaining('Stop the service'),
      });
      const sqlite = running.sqlite!;
      expect(await sqlite.exclusive((db) => db.pragma('page_size', { simple: true }))).toBe(4096);
      expect(await sqlite.exclusive((db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
      // The running store still writes.
      await running.destinations.create({
        sandboxId: 'prod',
        name: 'After',
        accountId: '18ce54d4x5t',
        credentials: CREDENTIALS,
        status: 'active',
      });
      expect(await running.destinations.list('prod')).toHaveLength(2);
    } finally {
      await running.close();
    }
  });

  it('runs as `tca store compact`: a summary, JSON, and exit 1 with the reason while the store is in use', async () => {
    const older = await olderStore();
    // `tca doctor` points an older file to the command, and is content once it ran.
    const closed = await closedPort();
    const doctorEnv = {
      TCA_DATA_DIR: older.dir,
      TCA_SECRET_KEY: KEY,
      TCA_URL: `http://127.0.0.1:${closed}`,
      TCA_X_API_BASE_URL: `http://127.0.0.1:${closed}`,
    };
    const storeCheck = async () =>
      (
        JSON.parse((await tca(['doctor', '--json'], doctorEnv)).stdout) as { checks: DoctorCheck[] }
      ).checks.find((c) => c.id === 'store');
    expect(await storeCheck()).toMatchObject({
      status: 'warn',
      message: expect.stringContaining('4 KiB pages, where new files have 16 KiB'),
      hint: expect.stringContaining('tca store compact'),
    });

    const running = await openStore({ dataDir: older.dir, secretKey: KEY });
    const busy = await tca(['store', 'compact', '--data-dir', older.dir]);
    await running.close();
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain('is in use by another process');

    const json = await tca(['store', 'compact', '--data-dir', older.dir, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      path: older.file,
      before: { pageSize: 4096 },
      after: { pageSize: SQLITE_PAGE_SIZE },
    });
    const again = await tca(['store', 'compact', '--data-dir', older.dir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/tca\.db: [\d.]+ MB in 16 KiB pages -> [\d.]+ MB in 16 KiB pages\n$/);

    expect(await storeCheck()).toMatchObject({ status: 'pass' });

    const missing = await tca(['store', 'compact', '--data-dir', join(older.dir, 'nowhere')]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('No SQLite store at');
  });
});
