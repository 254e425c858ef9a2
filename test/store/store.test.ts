import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_SANDBOX_ID,
  insertMany,
  migrateToLatest,
  openStore,
  sequentialIds,
  StoreError,
  type Store,
} from '../../src/store/index.ts';
import { MIGRATIONS } from '../../src/store/migrations/index.ts';
import { OUTBOX_TARGET_CONTEXT, openColumn } from '../../src/store/sealed-columns.ts';
import { BACKENDS, createPostgresDatabase, type TestStore } from './backends.ts';

const run = promisify(execFile);
const KEY = randomBytes(32).toString('hex');

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StoreError) return error;
    throw error;
  }
  throw new Error('expected a StoreError, but the promise resolved');
}

/** A clock the test moves by hand. */
function manualClock(start = 1_790_000_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

const mapping = [
  { sourceType: 'namespace' as const, source: 'Email', target: 'email', applyTransformation: true },
];

for (const backend of BACKENDS) {
  describe(`store on ${backend.name}`, () => {
    const clock = manualClock();
    let shared: TestStore;
    let store: Store;
    let sandboxCounter = 0;

    /** A sandbox of the test's own, so tests on the shared database never see each other's rows. */
    const newSandbox = async () => (await store.sandboxes.create({ name: `test-${++sandboxCounter}` })).id;

    beforeAll(async () => {
      shared = await backend.open({ secretKey: KEY, now: clock.now, newId: sequentialIds() });
      store = shared.store;
    });
    afterAll(async () => {
      await shared.cleanup();
    });

    describe('opening and migrations', () => {
      const extra: TestStore[] = [];
      afterEach(async () => {
        await Promise.all(extra.splice(0).map((t) => t.cleanup()));
      });

      it('describes the backend with capability flags', () => {
        expect(store.capabilities.dialect).toBe(backend.name);
        expect(store.capabilities.singleWriter).toBe(backend.name === 'sqlite');
        expect(store.capabilities.skipLocked).toBe(backend.name === 'postgres');
        expect(store.capabilities.maxParameters).toBeGreaterThan(30_000);
        expect(store.sqlite === undefined).toBe(backend.name !== 'sqlite');
        expect(store.pg === undefined).toBe(backend.name !== 'postgres');
      });

      it('applies every registered migration on a fresh database and seeds the prod sandbox', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        const status = await store.migrationStatus();
        expect(status.pending).toEqual([]);
        expect(status.applied).toEqual(MIGRATIONS.map(([name]) => name));
        const prod = await store.sandboxes.get(DEFAULT_SANDBOX_ID);
        expect(prod?.name).toBe('prod');
      });

      it('re-opens an existing database without re-running migrations and keeps the data', async () => {
        const t = await backend.open({ secretKey: KEY });
        extra.push(t);
        const created = await t.store.segments.create({
          sandboxId: 'prod',
          id: 'seg-persist',
          name: 'Persisted',
        });
        await t.store.close();
        const again = await t.reopen();
        expect(await migrateToLatest(again.db)).toEqual([]);
        expect(await again.segments.get('prod', 'seg-persist')).toEqual(created);
        const prods = await again.db
          .selectFrom('sandboxes')
          .select('id')
          .where('name', '=', 'prod')
          .execute();
        expect(prods).toHaveLength(1);
      });

      it('generates secret.key (mode 0600) when no key is configured, and reuses it on re-open', async () => {
        const t = await backend.open({ secretKey: undefined });
        extra.push(t);
        const path = join(t.dataDir, 'secret.key');
        expect(statSync(path).mode & 0o777).toBe(0o600);
        const content = readFileSync(path, 'utf8');
        const destination = await t.store.destinations.create({
          sandboxId: 'prod',
          name: 'X',
          accountId: 'a1',
          credentials: { consumerKey: 'ck', consumerSecret: 'cs' },
        });
        await t.store.close();
        const again = await t.reopen({ secretKey: undefined });
        expect(readFileSync(path, 'utf8')).toBe(content);
        expect(await again.destinations.getCredentials('prod', destination.id)).toEqual({
          consumerKey: 'ck',
          consumerSecret: 'cs',
        });
      });

      it('refuses to open with a different secret key than the database was written with', async () => {
        const t = await backend.open({ secretKey: KEY });
        extra.push(t);
        await t.store.close();
        const error = await rejection(t.reopen({ secretKey: randomBytes(32).toString('base64') }));
        expect(error.code).toBe('secret_key');
        expect(error.message).toMatch(/TCA_SECRET_KEY/);
      });

      it('seals at the next open an alert webhook and alert targets written in the clear before they were sealed', async () => {
        const t = await backend.open();
        extra.push(t);
        const destination = await t.store.destinations.create({
          sandboxId: 'prod',
          name: 'legacy webhook',
          accountId: '18ce54d4x5t',
        });
        const url = 'https://hooks.example.com/services/T1/B2/legacy-token';
        // As a version before sealing wrote them.
        await t.store.db
          .updateTable('destinations')
          .set({ alert_webhook_url: url })
          .where('id', '=', destination.id)
          .execute();
        await t.store.db
          .insertInto('alert_outbox')
          .values({
            id: 'ntf_legacy',
            type: 'dataflow_paused',
            url: `slack+${url}`,
            body: '{}',
            created_at: 1,
            next_attempt_at: 1,
            attempts: 0,
            last_error: null,
          })
          .execute();
        // Read as it is meanwhile.
        expect((await t.store.destinations.get('prod', destination.id))?.alertWebhookUrl).toBe(url);
        await t.store.close();

        const reopened = await t.reopen();
        const raw = await reopened.db
          .selectFrom('destinations')
          .select('alert_webhook_url')
          .where('id', '=', destination.id)
          .executeTakeFirstOrThrow();
        expect(raw.alert_webhook_url).toMatch(/^v1\./);
        expect((await reopened.destinations.get('prod', destination.id))?.alertWebhookUrl).toBe(url);
        const queued = await reopened.db.selectFrom('alert_outbox').select('url').executeTakeFirstOrThrow();
        expect(queued.url).toMatch(/^v1\./);
        expect(openColumn(reopened.secrets, queued.url, OUTBOX_TARGET_CONTEXT)).toBe(`slack+${url}`);
        await reopened.db.deleteFrom('alert_outbox').execute();
        await reopened.close();
      });

      it('rotates to a new secret key: credentials encrypted again, profile keys unchanged, the old key refused after', async () => {
        const keys = [0, 1, 2].map(() => randomBytes(32).toString('base64'));
        const t = await backend.open({ secretKey: keys[0] });
        extra.push(t);
        const destination = await t.store.destinations.create({
          sandboxId: 'prod',
          name: 'rotating',
          accountId: '18ce54d4x5t',
          credentials: { consumerKey: 'ck', consumerSecret: 'cs-rotate' },
          alertWebhookUrl: 'https://hooks.example.com/services/T1/B2/token-rotate',
          alertPagerDutyKey: 'RotatingTeamKey0123456789abcdefA',
        });
        const profileKey = t.store.profileKeyHash('ECID', 'ecid-1');
        const firstId = t.store.secrets.keyId;
        expect(t.store.keyRotation).toBeNull();
        await t.store.close();
        const sealedWith = async (store: Store) =>
          (
            await store.db
              .selectFrom('destinations')
              .select('credentials')
              .where('id', '=', destination.id)
              .executeTakeFirstOrThrow()
          ).credentials!.split('.')[1];

        // A new key alone is refused, with how to rotate.
        const refused = await rejection(t.reopen({ secretKey: keys[1] }));
        expect(refused.code).toBe('secret_key');
        expect(refused.hint).toContain('TCA_SECRET_KEY_PREVIOUS');
        // A previous key that is not the database's is refused too, and changes nothing.
        const wrongPrevious = await rejection(t.reopen({ secretKey: keys[1], previousSecretKey: keys[2] }));
        expect(wrongPrevious.code).toBe('secret_key');

        for (const [step, [from, to]] of [
          [keys[0], keys[1]],
          [keys[1], keys[2]],
        ].entries()) {
          const rotated = await t.reopen({ secretKey: to, previousSecretKey: from });
          expect(rotated.keyRotation).toEqual({
            from: step === 0 ? firstId : expect.any(String),
            to: rotated.secrets.keyId,
            credentials: 1,
            alertTargets: 2,
          });
          expect(await sealedWith(rotated)).toBe(rotated.secrets.keyId);
          // The alert webhook is a secret too: sealed again under the new key, and still the same URL.
          const webhook = await rotated.db
            .selectFrom('destinations')
            .select('alert_webhook_url')
            .where('id', '=', destination.id)
            .executeTakeFirstOrThrow();
          expect(webhook.alert_webhook_url!.split('.')[1]).toBe(rotated.secrets.keyId);
          expect((await rotated.destinations.get('prod', destination.id))?.alertWebhookUrl).toBe(
            'https://hooks.example.com/services/T1/B2/token-rotate',
          );
          expect(await rotated.destinations.getAlertPagerDutyKey('prod', destination.id)).toBe(
            'RotatingTeamKey0123456789abcdefA',
          );
          expect(await rotated.destinations.getCredentials('prod', destination.id)).toEqual({
            consumerKey: 'ck',
            consumerSecret: 'cs-rotate',
          });
          // Profile keys are hashes that cannot be made again: they keep the first key's HMAC key.
          expect(rotated.profileKeyHash('ECID', 'ecid-1')).toBe(profileKey);
          await rotated.close();
          // Opened again with both keys: nothing left to rotate. With the new key alone: the same state.
          const again = await t.reopen({ secretKey: to, previousSecretKey: from });
          expect(again.keyRotation).toBeNull();
          await again.close();
          const alone = await t.reopen({ secretKey: to });
          expect(alone.profileKeyHash('ECID', 'ecid-1')).toBe(profileKey);
          expect(await alone.destinations.getCredentials('prod', destination.id)).toMatchObject({
            consumerSecret: 'cs-rotate',
          });
          await alone.close();
          // The key rotated from no longer opens the database.
          expect((await rejection(t.reopen({ secretKey: from }))).code).toBe('secret_key');
        }
      });

      // PostgreSQL only: processes share it over connections. On SQLite one file lock serializes the processes, and the
      // synchronous driver cannot hold several connections of one process in concurrent transactions.
      it.skipIf(backend.name === 'sqlite')(
        'rotates once when several processes open with the same keys at the same time',
        async () => {
          const [oldKey, newKey] = [0, 1].map(() => randomBytes(32).toString('base64'));
          const t = await backend.open({ secretKey: oldKey });
          extra.push(t);
          for (const name of ['a', 'b', 'c'])
            await t.store.destinations.create({
              sandboxId: 'prod',
              name,
              accountId: '18ce54d4x5t',
              credentials: { consumerKey: name, consumerSecret: `secret-${name}` },
            });
          await t.store.close();
          const opened = await Promise.all(
            [0, 1, 2].map(() => t.reopen({ secretKey: newKey, previousSecretKey: oldKey })),
          );
          expect(opened.filter((s) => s.keyRotation !== null)).toHaveLength(1);
          for (const store of opened) {
            for (const d of await store.destinations.list('prod'))
              expect((await store.destinations.getCredentials('prod', d.id))?.consumerSecret).toBe(
                `secret-${d.name}`,
              );
            await store.close();
          }
        },
      );

      it('names TCA_SECRET_KEY when the configured key is malformed', async () => {
        const error = await rejection(
          openStore({ dataDir: shared.dataDir, url: shared.url, secretKey: 'too-short' }),
        );
        expect(error.code).toBe('secret_key');
        expect(error.message).toMatch(/^TCA_SECRET_KEY must be a 32-byte key/);
      });
    });

    describe('durability', () => {
      it('keeps a committed transaction when the writing process is killed right after the commit', async () => {
        const t = await backend.open({ secretKey: KEY });
        try {
          await t.store.close();
          const script = join(import.meta.dirname, 'fixtures', 'commit-then-hang.ts');
          const child = spawn(
            process.execPath,
            ['--import', 'tsx', script, t.dataDir, t.url, KEY, 'seg-durable'],
            {
              stdio: ['ignore', 'pipe', 'inherit'],
            },
          );
          const exited = new Promise<NodeJS.Signals | null>((resolve) =>
            child.on('exit', (_code, signal) => resolve(signal)),
          );
          await new Promise<void>((resolve, reject) => {
            const deadline = setTimeout(() => reject(new Error('child did not commit within 30 s')), 30_000);
            let output = '';
            child.stdout.on('data', (chunk: Buffer) => {
              output += chunk.toString();
              if (output.includes('committed')) {
                clearTimeout(deadline);
                resolve();
              }
            });
          });
          child.kill('SIGKILL');
          expect(await exited).toBe('SIGKILL');
          const reopened = await t.reopen();
          expect((await reopened.segments.get('prod', 'seg-durable'))?.name).toBe(
            'committed before the kill',
          );
        } finally {
          await t.cleanup();
        }
      });
    });

    describe('sandboxes', () => {
      it('creates, finds by id and name, lists, and refuses duplicate names', async () => {
        const sandbox = await store.sandboxes.create({ name: 'dev-sandboxes' });
        expect(sandbox.id).toMatch(/^sbx_/);
        expect(await store.sandboxes.get(sandbox.id)).toEqual(sandbox);
        expect(await store.sandboxes.getByName('dev-sandboxes')).toEqual(sandbox);
        expect(await store.sandboxes.get('sbx_missing')).toBeUndefined();
        expect((await store.sandboxes.list()).map((s) => s.id)).toContain(sandbox.id);
        expect((await rejection(store.sandboxes.create({ name: 'dev-sandboxes' }))).code).toBe('conflict');
      });

      it('keeps the profile key namespaces: null (the default) until set, then the list given', async () => {
        const sandbox = await store.sandboxes.create({ name: 'keyed-sandbox' });
        expect(sandbox.profileKeyNamespaces).toBeNull();
        expect(await store.sandboxes.setProfileKeyNamespaces(sandbox.id, ['CUSTOMERID', 'ECID'])).toBe(true);
        expect((await store.sandboxes.get(sandbox.id))?.profileKeyNamespaces).toEqual(['CUSTOMERID', 'ECID']);
        expect(await store.sandboxes.setProfileKeyNamespaces(sandbox.id, null)).toBe(true);
        expect((await store.sandboxes.get(sandbox.id))?.profileKeyNamespaces).toBeNull();
        expect(await store.sandboxes.setProfileKeyNamespaces('sbx_missing', ['ECID'])).toBe(false);
      });
    });

    describe('api tokens', () => {
      it('issues a prefixed random token, stores only its SHA-256, and authenticates it', async () => {
        const sandboxId = await newSandbox();
        const { token, apiToken } = await store.apiTokens.create({
          sandboxId,
          name: 'ci',
          permissions: ['View Destinations', 'Ingest Profiles'],
        });
        expect(token).toMatch(/^tca_[A-Za-z0-9_-]{43}$/);
        expect(apiToken.tokenPrefix).toBe(token.slice(0, 8));
        expect(apiToken.permissions).toEqual(['View Destinations', 'Ingest Profiles']);
        const rows = await store.db
          .selectFrom('api_tokens')
          .selectAll()
          .where('id', '=', apiToken.id)
          .execute();
        expect(JSON.stringify(rows)).not.toContain(token);
        expect(rows[0]?.token_hash).toMatch(/^[0-9a-f]{64}$/);
        expect(await store.apiTokens.authenticate(token)).toEqual(apiToken);
        expect(await store.apiTokens.authenticate(`${token}x`)).toBeUndefined();
        expect(await store.apiTokens.authenticate('not-a-token')).toBeUndefined();
      });

      it('records use, lists per sandbox, and stops authenticating a revoked token', async () => {
        const sandboxId = await newSandbox();
        const other = await newSandbox();
        const { token, apiToken } = await store.apiTokens.create({ sandboxId, name: 'ops', permissions: [] });
        await store.apiTokens.touch(apiToken.id, 1_234);
        expect((await store.apiTokens.get(sandboxId, apiToken.id))?.lastUsedAt).toBe(1_234);
        expect(await store.apiTokens.get(other, apiToken.id)).toBeUndefined();
        expect(await store.apiTokens.list(other)).toEqual([]);
        expect(await store.apiTokens.revoke(other, apiToken.id)).toBe(false);
        expect(await store.apiTokens.revoke(sandboxId, apiToken.id)).toBe(true);
        expect(await store.apiTokens.revoke(sandboxId, apiToken.id)).toBe(false);
        expect(await store.apiTokens.authenticate(token)).toBeUndefined();
        const [listed] = await store.apiTokens.list(sandboxId);
        expect(listed?.revokedAt).toBe(clock.now());
      });
    });

    describe('audit events', () => {
      const event = (sandboxId: string, target: string | null) => ({
        sandboxId,
        tokenId: 'tok_x',
        tokenName: 'ops',
        method: 'PATCH',
        route: '/api/v1/dataflows/:id',
        action: 'Change a dataflow',
        target,
        status: 200,
        fields: ['mapping'],
      });

      it('lists a sandbox newest first, after a cursor, by target, and prunes the old ones', async () => {
        const sandboxId = await newSandbox();
        const other = await newSandbox();
        const start = clock.now();
        // Two events in one millisecond: the id breaks the tie, so a page boundary between them loses neither.
        const a = await store.auditEvents.record(event(sandboxId, 'df_1'));
        const b = await store.auditEvents.record(event(sandboxId, 'df_2'));
        clock.advance(1000);
        const c = await store.auditEvents.record(event(sandboxId, 'df_1'));
        await store.auditEvents.record(event(other, 'df_1'));
        const all = await store.auditEvents.list(sandboxId, { limit: 10 });
        expect(all.map((e) => e.id)).toEqual([c.id, ...[a.id, b.id].sort().reverse()]);
        expect(all[0]).toMatchObject({
          at: start + 1000,
          fields: ['mapping'],
          status: 200,
          tokenName: 'ops',
        });
        const page1 = await store.auditEvents.list(sandboxId, { limit: 2 });
        const page2 = await store.auditEvents.list(sandboxId, { limit: 2, after: page1[1]! });
        expect([...page1, ...page2]).toEqual(all);
        expect(
          (await store.auditEvents.list(sandboxId, { limit: 10, target: 'df_1' })).map((e) => e.id),
        ).toEqual([c.id, a.id]);
        expect(await store.auditEvents.prune(start + 1)).toBeGreaterThanOrEqual(2);
        expect((await store.auditEvents.list(sandboxId, { limit: 10 })).map((e) => e.id)).toEqual([c.id]);
      });

      it('feeds oldest first after a cursor, only what is older than the bound, one sandbox or all', async () => {
        const sandboxId = await newSandbox();
        const other = await newSandbox();
        const a = await store.auditEvents.record(event(sandboxId, 'df_1'));
        const b = await store.auditEvents.record(event(other, 'df_2'));
        clock.advance(1000);
        const c = await store.auditEvents.record(event(sandboxId, 'df_3'));
        const now = clock.now();
        const mine = await store.auditEvents.feed(sandboxId, { limit: 10, before: now + 1 });
        expect(mine.map((e) => e.id)).toEqual([a.id, c.id]);
        // An event as recent as the bound is held back until it is older.
        expect(
          (await store.auditEvents.feed(sandboxId, { limit: 10, before: now })).map((e) => e.id),
        ).toEqual([a.id]);
        expect(
          (await store.auditEvents.feed(sandboxId, { limit: 10, after: a, before: now + 1 })).map(
            (e) => e.id,
          ),
        ).toEqual([c.id]);
        // Every sandbox (other tests' events too): ours in time order, the tie of a and b broken by id.
        const everyone = (await store.auditEvents.feed(null, { limit: 10_000, before: now + 1 })).map(
          (e) => e.id,
        );
        const ours = everyone.filter((id) => [a.id, b.id, c.id].includes(id));
        expect(ours).toEqual([...[a.id, b.id].sort(), c.id]);
        const afterFirst = await store.auditEvents.feed(null, {
          limit: 10_000,
          after: { at: a.at, id: ours[0]! },
          before: now + 1,
        });
        expect(afterFirst.map((e) => e.id).filter((id) => ours.includes(id))).toEqual(ours.slice(1));
        expect(
          (await store.auditEvents.list(null, { limit: 10_000 })).filter((e) =>
            [a.id, b.id, c.id].includes(e.id),
          ),
        ).toHaveLength(3);
      });
    });

    describe('destinations', () => {
      const secret = () => `cs-${randomBytes(12).toString('hex')}`;

      it('creates, reads, lists, updates and deletes within a sandbox', async () => {
        const sandboxId = await newSandbox();
        const created = await store.destinations.create({
          sandboxId,
          name: 'X Ads',
          description: 'Main account',
          accountId: '18ce54d4x5t',
          apiBaseUrl: 'http://127.0.0.1:9090',
          marketingActions: ['Email Targeting'],
          alertWebhookUrl: 'http://127.0.0.1:9999/hook',
          alertEmailTo: ['crm-owner@example.com'],
        });
        expect(created).toMatchObject({
          sandboxId,
          name: 'X Ads',
          description: 'Main account',
          accountId: '18ce54d4x5t',
          hasCredentials: false,
          apiBaseUrl: 'http://127.0.0.1:9090',
          marketingActions: ['Email Targeting'],
          alertWebhookUrl: 'http://127.0.0.1:9999/hook',
          alertEmailTo: ['crm-owner@example.com'],
          alertTypes: null,
          status: 'unverified',
          statusReason: null,
          createdAt: clock.now(),
        });
        expect(created.id).toMatch(/^dst_/);
        expect(await store.destinations.get(sandboxId, created.id)).toEqual(created);
        expect(await store.destinations.list(sandboxId)).toEqual([created]);

        clock.advance(1000);
        const updated = await store.destinations.update(sandboxId, created.id, {
          status: 'unauthorized',
          statusReason: 'X answered 401: re-authorize',
          description: null,
        });
        expect(updated).toEqual({
          ...created,
          status: 'unauthorized',
          statusReason: 'X answered 401: re-authorize',
          description: null,
          updatedAt: created.updatedAt + 1000,
        });
        // Which alert types its own targets receive: a list, none, or back to every type.
        for (const alertTypes of [['dataflow_failed', 'dataflow_paused'], [], null]) {
          const subscribed = await store.destinations.update(sandboxId, created.id, { alertTypes });
          expect(subscribed?.alertTypes).toEqual(alertTypes);
          expect((await store.destinations.get(sandboxId, created.id))?.alertTypes).toEqual(alertTypes);
        }
        expect(await store.destinations.delete(sandboxId, created.id)).toBe(true);
        expect(await store.destinations.get(sandboxId, created.id)).toBeUndefined();
        expect(await store.destinations.delete(sandboxId, created.id)).toBe(false);
      });

      it('never returns credentials from get/list, and decrypts them only through getCredentials', async () => {
        const sandboxId = await newSandbox();
        const credentials = {
          consumerKey: 'ck',
          consumerSecret: secret(),
          accessToken: 'at',
          accessTokenSecret: secret(),
        };
        const destination = await store.destinations.create({
          sandboxId,
          name: 'X',
          accountId: 'a',
          credentials,
        });
        expect(destination.hasCredentials).toBe(true);
        expect(JSON.stringify(await store.destinations.list(sandboxId))).not.toContain(
          credentials.consumerSecret,
        );
        expect(JSON.stringify(destination)).not.toContain('credentials"');
        expect(await store.destinations.getCredentials(sandboxId, destination.id)).toEqual(credentials);

        const next = {
          consumerKey: 'ck',
          consumerSecret: secret(),
          extra: { requestToken: 'rt', requestTokenSecret: secret() },
        };
        expect(await store.destinations.setCredentials(sandboxId, destination.id, next)).toBe(true);
        expect(await store.destinations.getCredentials(sandboxId, destination.id)).toEqual(next);
        expect(await store.destinations.setCredentials(sandboxId, destination.id, null)).toBe(true);
        expect(await store.destinations.getCredentials(sandboxId, destination.id)).toBeUndefined();
        expect((await store.destinations.get(sandboxId, destination.id))?.hasCredentials).toBe(false);
      });

      it('stores credentials encrypted: the raw secret is not in the table', async () => {
        const sandboxId = await newSandbox();
        const consumerSecret = secret();
        const accessTokenSecret = secret();
        const destination = await store.destinations.create({
          sandboxId,
          name: 'X',
          accountId: 'a',
          credentials: { consumerKey: 'ck', consumerSecret, accessToken: 'at', accessTokenSecret },
        });
        const row = await store.db
          .selectFrom('destinations')
          .selectAll()
          .where('id', '=', destination.id)
          .executeTakeFirstOrThrow();
        expect(row.credentials).toMatch(/^v1\.[0-9a-f]{16}\.[A-Za-z0-9_-]+$/);
        const dump = JSON.stringify(await store.db.selectFrom('destinations').selectAll().execute());
        expect(dump).not.toContain(consumerSecret);
        expect(dump).not.toContain(accessTokenSecret);
      });

      it('binds sealed credentials to their destination: a copied blob does not open', async () => {
        const sandboxId = await newSandbox();
        const a = await store.destinations.create({
          sandboxId,
          name: 'A',
          accountId: 'a',
          credentials: { consumerKey: 'ck', consumerSecret: secret() },
        });
        const b = await store.destinations.create({ sandboxId, name: 'B', accountId: 'b' });
        const { credentials } = await store.db
          .selectFrom('destinations')
          .select('credentials')
          .where('id', '=', a.id)
          .executeTakeFirstOrThrow();
        await store.db.updateTable('destinations').set({ credentials }).where('id', '=', b.id).execute();
        expect((await rejection(store.destinations.getCredentials(sandboxId, b.id))).code).toBe(
          'decrypt_failed',
        );
      });

      it('is invisible from another sandbox', async () => {
        const sandboxId = await newSandbox();
        const other = await newSandbox();
        const destination = await store.destinations.create({
          sandboxId,
          name: 'X',
          accountId: 'a',
          credentials: { consumerKey: 'ck', consumerSecret: 'cs' },
        });
        expect(await store.destinations.get(other, destination.id)).toBeUndefined();
        expect(await store.destinations.list(other)).toEqual([]);
        expect(await store.destinations.update(other, destination.id, { name: 'stolen' })).toBeUndefined();
        expect(await store.destinations.setCredentials(other, destination.id, null)).toBe(false);
        expect(await store.destinations.getCredentials(other, destination.id)).toBeUndefined();
        expect(await store.destinations.delete(other, destination.id)).toBe(false);
        expect((await store.destinations.get(sandboxId, destination.id))?.name).toBe('X');
        expect(await store.destinations.getCredentials(sandboxId, destination.id)).toEqual({
          consumerKey: 'ck',
          consumerSecret: 'cs',
        });
      });

      it('cannot be deleted while a dataflow uses it', async () => {
        const sandboxId = await newSandbox();
        const destination = await store.destinations.create({ sandboxId, name: 'X', accountId: 'a' });
        await store.dataflows.create({ sandboxId, destinationId: destination.id, name: 'df', mapping });
        const error = await rejection(store.destinations.delete(sandboxId, destination.id));
        expect(error.code).toBe('conflict');
        expect(await store.destinations.get(sandboxId, destination.id)).toBeDefined();
      });
    });

    describe('segments', () => {
      it('creates with the ups namespace by default, refuses duplicates, upserts, filters, updates and deletes', async () => {
        const sandboxId = await newSandbox();
        const created = await store.segments.create({
          sandboxId,
          id: 'seg-a',
          name: 'Loyal',
          sizeEstimate: 1200,
        });
        expect(created).toEqual({
          sandboxId,
          id: 'seg-a',
          namespace: 'ups',
          name: 'Loyal',
          description: null,
          sizeEstimate: 1200,
          labels: [],
          createdAt: clock.now(),
          updatedAt: clock.now(),
        });
        expect((await rejection(store.segments.create({ sandboxId, id: 'seg-a', name: 'again' }))).code).toBe(
          'conflict',
        );

        clock.advance(500);
        const upserted = await store.segments.upsert({
          sandboxId,
          id: 'seg-a',
          name: 'Loyal v2',
          description: 'd',
        });
        expect(upserted).toMatchObject({
          name: 'Loyal v2',
          description: 'd',
          sizeEstimate: null,
          createdAt: created.createdAt,
        });
        expect(upserted.updatedAt).toBe(created.createdAt + 500);
        await store.segments.upsert({ sandboxId, id: 'seg-b', namespace: 'csv', name: 'Uploaded' });

        expect((await store.segments.list(sandboxId)).map((s) => s.id)).toEqual(['seg-a', 'seg-b']);
        expect((await store.segments.list(sandboxId, { namespace: 'csv' })).map((s) => s.id)).toEqual([
          'seg-b',
        ]);
        expect((await store.segments.list(sandboxId, { ids: ['seg-b', 'nope'] })).map((s) => s.id)).toEqual([
          'seg-b',
        ]);
        expect(await store.segments.list(sandboxId, { ids: [] })).toEqual([]);
        expect((await store.segments.update(sandboxId, 'seg-b', { sizeEstimate: 5 }))?.sizeEstimate).toBe(5);
        expect((await store.segments.update(sandboxId, 'seg-b', { labels: ['C2', 'I1'] }))?.labels).toEqual([
          'C2',
          'I1',
        ]);
        // An upsert (a source re-registering its segment) keeps the labels set here.
        await store.segments.upsert({ sandboxId, id: 'seg-b', namespace: 'csv', name: 'Uploaded again' });
        expect((await store.segments.get(sandboxId, 'seg-b'))?.labels).toEqual(['C2', 'I1']);
        expect(await store.segments.delete(sandboxId, 'seg-b')).toBe(true);
        expect(await store.segments.get(sandboxId, 'seg-b')).toBeUndefined();
      });

      it('keeps the same segment id apart in two sandboxes', async () => {
        const a = await newSandbox();
        const b = await newSandbox();
        await store.segments.create({ sandboxId: a, id: 'shared', name: 'In A' });
        expect(await store.segments.get(b, 'shared')).toBeUndefined();
        expect(await store.segments.update(b, 'shared', { name: 'x' })).toBeUndefined();
        expect(await store.segments.delete(b, 'shared')).toBe(false);
        await store.segments.create({ sandboxId: b, id: 'shared', name: 'In B' });
        expect((await store.segments.get(a, 'shared'))?.name).toBe('In A');
        expect((await store.segments.get(b, 'shared'))?.name).toBe('In B');
      });
    });

    describe('dataflows', () => {
      it('creates with the documented defaults and round-trips every field', async () => {
        const sandboxId = await newSandbox();
        const destination = await store.destinations.create({ sandboxId, name: 'X', accountId: 'a' });
        const dataflow = await store.dataflows.create({
          sandboxId,
          destinationId: destination.id,
          name: 'Weekly',
          mapping,
        });
        expect(dataflow).toEqual({
          id: expect.stringMatching(/^df_/) as unknown,
          sandboxId,
          destinationId: destination.id,
          name: 'Weekly',
          description: null,
          mapping,
          maxBatchAgeSeconds: 900,
          cadenceMode: 'off',
          cadenceWindowSeconds: 21_600,
          status: 'active',
          statusReason: null,
          onAudienceRemoval: 'delete',
          noDataAlertHours: null,
          createdAt: clock.now(),
          updatedAt: clock.now(),
        });
        expect(await store.dataflows.get(sandboxId, dataflow.id)).toEqual(dataflow);

        const custom = await store.dataflows.create({
          sandboxId,
          destinationId: destination.id,
          name: 'Custom',
          description: 'hourly',
          mapping: [],
          maxBatchAgeSeconds: 60,
          cadenceMode: 'x_cadence',
          cadenceWindowSeconds: 3600,
          status: 'paused',
          statusReason: 'set up',
          onAudienceRemoval: 'keep',
          noDataAlertHours: 26,
        });
        expect(await store.dataflows.get(sandboxId, custom.id)).toEqual(custom);
        expect(custom).toMatchObject({
          maxBatchAgeSeconds: 60,
          cadenceMode: 'x_cadence',
          onAudienceRemoval: 'keep',
          noDataAlertHours: 26,
        });
        expect(await store.dataflows.update(sandboxId, custom.id, { noDataAlertHours: null })).toMatchObject({
          noDataAlertHours: null,
        });
        const outOfRange = await rejection(
          store.dataflows.update(sandboxId, custom.id, { noDataAlertHours: 721 }),
        );
        expect(outOfRange).toMatchObject({ code: 'invalid_input', details: { path: 'noDataAlertHours' } });
      });

      it('enforces the aggregation window 60–28800 s in the repository and in the database', async () => {
        const sandboxId = await newSandbox();
        const destination = await store.destinations.create({ sandboxId, name: 'X', accountId: 'a' });
        for (const maxBatchAgeSeconds of [59, 28_801, 1.5]) {
          const error = await rejection(
            store.dataflows.create({
              sandboxId,
              destinationId: destination.id,
              name: 'bad',
              mapping,
              maxBatchAgeSeconds,
            }),
          );
          expect(error.code).toBe('invalid_input');
          expect(error.details).toEqual({ path: 'maxBatchAgeSeconds' });
        }
        const dataflow = await store.dataflows.create({
          sandboxId,
          destinationId: destination.id,
          name: 'edge',
          mapping,
          maxBatchAgeSeconds: 28_800,
        });
        expect(
          (await rejection(store.dataflows.update(sandboxId, dataflow.id, { maxBatchAgeSeconds: 30 }))).code,
        ).toBe('invalid_input');
        await expect(
          store.db
            .updateTable('dataflows')
            .set({ max_batch_age_seconds: 30 })
            .where('id', '=', dataflow.id)
            .execute(),
        ).rejects.toThrow();
        expect((await store.dataflows.get(sandboxId, dataflow.id))?.maxBatchAgeSeconds).toBe(28_800);
      });

      it('refuses a destination from another sandbox', async () => {
        const sandboxId = await newSandbox();
        const other = await newSandbox();
        const foreign = await store.destinations.create({ sandboxId: other, name: 'X', accountId: 'a' });
        const error = await rejection(
          store.dataflows.create({ sandboxId, destinationId: foreign.id, name: 'df', mapping }),
        );
        expect(error.code).toBe('not_found');
        expect(await store.dataflows.list(sandboxId)).toEqual([]);
      });

      it('lists by sandbox, destination and status, hides deleted ones, and lists across sandboxes for workers', async () => {
        const a = await newSandbox();
        const b = await newSandbox();
        const dA = await store.destinations.create({ sandboxId: a, name: 'X', accountId: 'a' });
        const dA2 = await store.destinations.create({ sandboxId: a, name: 'X2', accountId: 'a' });
        const dB = await store.destinations.create({ sandboxId: b, name: 'X', accountId: 'b' });
        const one = await store.dataflows.create({ sandboxId: a, destinationId: dA.id, name: '1', mapping });
        const two = await store.dataflows.create({
          sandboxId: a,
          destinationId: dA2.id,
          name: '2',
          mapping,
          status: 'paused',
        });
        const gone = await store.dataflows.create({ sandboxId: a, destinationId: dA.id, name: '3', mapping });
        const three = await store.dataflows.create({
          sandboxId: b,
          destinationId: dB.id,
          name: '4',
          mapping,
        });
        await store.dataflows.update(a, gone.id, { status: 'deleted', statusReason: 'removed by user' });

        const ids = (list: { id: string }[]) => list.map((d) => d.id);
        expect(ids(await store.dataflows.list(a))).toEqual([one.id, two.id]);
        expect(ids(await store.dataflows.list(a, { includeDeleted: true }))).toEqual([
          one.id,
          two.id,
          gone.id,
        ]);
        expect(ids(await store.dataflows.list(a, { destinationId: dA.id }))).toEqual([one.id]);
        expect(ids(await store.dataflows.list(a, { statuses: ['paused'] }))).toEqual([two.id]);
        expect(await store.dataflows.list(a, { statuses: [] })).toEqual([]);
        const active = ids(await store.dataflows.listAcrossSandboxes(['active']));
        expect(active).toEqual(expect.arrayContaining([one.id, three.id]));
        expect(active).not.toContain(two.id);
        expect(active).not.toContain(gone.id);
        expect(await store.dataflows.get(b, one.id)).toBeUndefined();
        expect(await store.dataflows.update(b, one.id, { status: 'paused' })).toBeUndefined();
        expect(await store.dataflows.delete(b, one.id)).toBe(false);
      });

      it('updates only the fields given', async () => {
        const sandboxId = await newSandbox();
        const destination = await store.destinations.create({ sandboxId, name: 'X', accountId: 'a' });
        const dataflow = await store.dataflows.create({
          sandboxId,
          destinationId: destination.id,
          name: 'df',
          mapping,
        });
        clock.advance(10);
        const updated = await store.dataflows.update(sandboxId, dataflow.id, {
          status: 'failed',
          statusReason: 'X answered 403',
          mapping: [],
        });
        expect(updated).toEqual({
          ...dataflow,
          status: 'failed',
          statusReason: 'X answered 403',
          mapping: [],
          updatedAt: dataflow.updatedAt + 10,
        });
      });
    });

    describe('audiences', () => {
      async function dataflowIn(sandboxId: string) {
        const destination = await store.destinations.create({ sandboxId, name: 'X', accountId: 'a' });
        return store.dataflows.create({ sandboxId, destinationId: destination.id, name: 'df', mapping });
      }

      it('activates segments on a dataflow and tracks the X audience, state and health', async () => {
        const sandboxId = await newSandbox();
        const dataflow = await dataflowIn(sandboxId);
        const audience = await store.audiences.create({
          sandboxId,
          dataflowId: dataflow.id,
          segmentId: 'seg-1',
          mappingName: 'Loyal customers',
          startDate: 1_790_000_000_000,
          ttlDays: 30,
        });
        expect(audience).toEqual({
          id: expect.stringMatching(/^aud_/) as unknown,
          sandboxId,
          dataflowId: dataflow.id,
          segmentId: 'seg-1',
          mappingName: 'Loyal customers',
          startDate: 1_790_000_000_000,
          endDate: null,
          existingXAudienceId: null,
          ttlDays: 30,
          removeMembersAtEnd: false,
          xAudienceId: null,
          xAudienceName: null,
          state: 'pending_create',
          audienceSize: null,
          targetable: null,
          reasonsNotTargetable: null,
          healthCheckedAt: null,
          lastDeliveryAt: null,
          createdAt: clock.now(),
          updatedAt: clock.now(),
        });
        const attached = await store.audiences.create({
          sandboxId,
          dataflowId: dataflow.id,
          segmentId: 'seg-2',
          mappingName: 'Churn risk',
          startDate: 1,
          endDate: 2,
          existingXAudienceId: '1nmth',
          removeMembersAtEnd: true,
        });
        expect(attached).toMatchObject({
          existingXAudienceId: '1nmth',
          endDate: 2,
          removeMembersAtEnd: true,
        });
        expect(
          await store.audiences.update(sandboxId, attached.id, { removeMembersAtEnd: false }),
        ).toMatchObject({ removeMembersAtEnd: false, endDate: 2 });

        const active = await store.audiences.update(sandboxId, audience.id, {
          xAudienceId: '1abcd',
          xAudienceName: 'Loyal customers (2)',
          state: 'active',
          lastDeliveryAt: 99,
        });
        expect(active).toMatchObject({
          xAudienceId: '1abcd',
          xAudienceName: 'Loyal customers (2)',
          state: 'active',
          lastDeliveryAt: 99,
        });

        expect(
          await store.audiences.recordHealth(sandboxId, audience.id, {
            audienceSize: 0,
            targetable: false,
            reasonsNotTargetable: ['TOO_SMALL', 'PROCESSING'],
            checkedAt: 123,
          }),
        ).toBe(true);
        expect(await store.audiences.get(sandboxId, audience.id)).toMatchObject({
          audienceSize: 0,
          targetable: false,
          reasonsNotTargetable: ['TOO_SMALL', 'PROCESSING'],
          healthCheckedAt: 123,
        });
        await store.audiences.recordHealth(sandboxId, audience.id, {
          audienceSize: 250_000,
          targetable: true,
          reasonsNotTargetable: [],
          checkedAt: 124,
        });
        expect(await store.audiences.get(sandboxId, audience.id)).toMatchObject({
          targetable: true,
          audienceSize: 250_000,
        });

        const ids = (list: { id: string }[]) => list.map((a) => a.id);
        expect(ids(await store.audiences.list(sandboxId, { dataflowId: dataflow.id }))).toEqual([
          audience.id,
          attached.id,
        ]);
        expect(ids(await store.audiences.list(sandboxId, { segmentIds: ['seg-2'] }))).toEqual([attached.id]);
        expect(ids(await store.audiences.list(sandboxId, { states: ['active'] }))).toEqual([audience.id]);
        expect(await store.audiences.delete(sandboxId, attached.id)).toBe(true);
        expect(await store.audiences.get(sandboxId, attached.id)).toBeUndefined();
      });

      it('refuses a dataflow from another sandbox and hides audiences across sandboxes', async () => {
        const sandboxId = await newSandbox();
        const other = await newSandbox();
        const dataflow = await dataflowIn(sandboxId);
        const error = await rejection(
          store.audiences.create({
            sandboxId: other,
            dataflowId: dataflow.id,
            segmentId: 's',
            mappingName: 'm',
            startDate: 0,
          }),
        );
        expect(error.code).toBe('not_found');
        const audience = await store.audiences.create({
          sandboxId,
          dataflowId: dataflow.id,
          segmentId: 's',
          mappingName: 'm',
          startDate: 0,
        });
        expect(await store.audiences.get(other, audience.id)).toBeUndefined();
        expect(await store.audiences.list(other)).toEqual([]);
        expect(await store.audiences.update(other, audience.id, { state: 'removed' })).toBeUndefined();
        expect(
          await store.audiences.recordHealth(other, audience.id, {
            audienceSize: 1,
            targetable: true,
            reasonsNotTargetable: null,
            checkedAt: 1,
          }),
        ).toBe(false);
        expect(await store.audiences.delete(other, audience.id)).toBe(false);
        expect((await store.audiences.get(sandboxId, audience.id))?.state).toBe('pending_create');
      });

      it('rejects a non-positive TTL, and goes away with its dataflow', async () => {
        const sandboxId = await newSandbox();
        const dataflow = await dataflowIn(sandboxId);
        const base = { sandboxId, dataflowId: dataflow.id, segmentId: 's', mappingName: 'm', startDate: 0 };
        expect((await rejection(store.audiences.create({ ...base, ttlDays: 0 }))).code).toBe('invalid_input');
        const audience = await store.audiences.create(base);
        expect(await store.dataflows.delete(sandboxId, dataflow.id)).toBe(true);
        expect(await store.audiences.get(sandboxId, audience.id)).toBeUndefined();
      });
    });

    describe('transactions and bulk writes', () => {
      it('commits everything written through the transaction repositories', async () => {
        const sandboxId = await newSandbox();
        const result = await store.transaction(async (tx) => {
          const destination = await tx.destinations.create({ sandboxId, name: 'X', accountId: 'a' });
          const dataflow = await tx.dataflows.create({
            sandboxId,
            destinationId: destination.id,
            name: 'df',
            mapping,
          });
          await tx.audiences.create({
            sandboxId,
            dataflowId: dataflow.id,
            segmentId: 's',
            mappingName: 'm',
            startDate: 0,
          });
          return dataflow.id;
        });
        expect(await store.audiences.list(sandboxId, { dataflowId: result })).toHaveLength(1);
      });

      it('rolls back every write when the callback throws', async () => {
        const sandboxId = await newSandbox();
        const failure = new StoreError('invalid_input', 'stop here');
        await expect(
          store.transaction(async (tx) => {
            await tx.segments.create({ sandboxId, id: 'rolled-back', name: 'x' });
            expect(await tx.segments.get(sandboxId, 'rolled-back')).toBeDefined();
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.segments.get(sandboxId, 'rolled-back')).toBeUndefined();
      });

      it('refuses store-level queries and nested transactions inside a transaction, instead of hanging', async () => {
        const sandboxId = await newSandbox();
        const attempts = [
          () => store.segments.get(sandboxId, 'x'),
          () => store.db.selectFrom('segments').selectAll().execute(),
          () => sql`select 1`.execute(store.db),
          () => store.transaction(() => Promise.resolve(1)),
          ...(store.sqlite ? [() => store.sqlite?.exclusive(() => 1)] : []),
        ];
        for (const attempt of attempts) {
          const error = await rejection(
            store.transaction(async (tx) => {
              await tx.segments.create({ sandboxId, id: 'inside', name: 'x' });
              await attempt();
            }),
          );
          expect(error.code).toBe('invalid_input');
          expect(error.message).toMatch(/tx\.db/);
        }
        expect(await store.segments.get(sandboxId, 'inside')).toBeUndefined();
        // Work started after the transaction, from the same async context, is not affected.
        await store.transaction(async (tx) => tx.segments.create({ sandboxId, id: 'after', name: 'x' }));
        expect(await store.segments.get(sandboxId, 'after')).toBeDefined();
      });

      it('serializes concurrent writers without losing any', async () => {
        const sandboxId = await newSandbox();
        await Promise.all(
          Array.from({ length: 25 }, (_, i) =>
            store.transaction(async (tx) => {
              await tx.segments.create({ sandboxId, id: `c-${String(i).padStart(2, '0')}`, name: `n${i}` });
              await tx.segments.update(sandboxId, `c-${String(i).padStart(2, '0')}`, { sizeEstimate: i });
            }),
          ),
        );
        const segments = await store.segments.list(sandboxId);
        expect(segments).toHaveLength(25);
        expect(segments.map((s) => s.sizeEstimate)).toEqual(Array.from({ length: 25 }, (_, i) => i));
      });

      it('inserts many rows in parameter-sized statements, with ignore and update on conflict', async () => {
        const sandboxId = await newSandbox();
        const rows = Array.from({ length: 5_000 }, (_, i) => ({
          sandbox_id: sandboxId,
          id: `bulk-${i}`,
          namespace: 'ups',
          name: `Segment ${i}`,
          description: null,
          size_estimate: i,
          created_at: 1,
          updated_at: 1,
        }));
        // 8 columns: the parameter limits alone would allow 4000+ rows per statement; the cap keeps it at 1000.
        const written = await store.transaction((tx) =>
          insertMany(tx.db, store.capabilities, 'segments', rows, { maxRowsPerStatement: 1000 }),
        );
        expect(written).toBe(5_000);

        const changed = rows.slice(0, 10).map((row) => ({ ...row, name: 'renamed', updated_at: 2 }));
        await store.insertMany('segments', changed, {
          onConflict: { columns: ['sandbox_id', 'id'], action: 'ignore' },
        });
        expect((await store.segments.get(sandboxId, 'bulk-0'))?.name).toBe('Segment 0');
        await store.insertMany('segments', changed, {
          onConflict: { columns: ['sandbox_id', 'id'], action: 'update', update: ['name', 'updated_at'] },
        });
        expect(await store.segments.get(sandboxId, 'bulk-0')).toMatchObject({
          name: 'renamed',
          updatedAt: 2,
          createdAt: 1,
        });
        const count = await store.db
          .selectFrom('segments')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('sandbox_id', '=', sandboxId)
          .executeTakeFirstOrThrow();
        expect(count.n).toBe(5_000);
        expect(await store.insertMany('segments', [])).toBe(0);
        const badColumn = {
          ...rows[0],
          'name; drop table segments': 'x',
        } as unknown as (typeof rows)[number];
        expect((await rejection(store.insertMany('segments', [badColumn]))).code).toBe('invalid_input');
      });

      it('reads bigint aggregates back as numbers on every backend', async () => {
        const sandboxId = await newSandbox();
        await store.segments.create({ sandboxId, id: 'a', name: 'a', sizeEstimate: 2 ** 40 });
        await store.segments.create({ sandboxId, id: 'b', name: 'b', sizeEstimate: 3 });
        const row = await store.db
          .selectFrom('segments')
          .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('size_estimate').as('total')])
          .where('sandbox_id', '=', sandboxId)
          .executeTakeFirstOrThrow();
        expect(row).toEqual({ n: 2, total: 2 ** 40 + 3 });
      });
    });

    if (backend.name === 'sqlite') {
      describe('sqlite specifics', () => {
        const dirs: string[] = [];
        afterEach(() => {
          for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
        });

        it('runs in WAL mode with full sync, foreign keys and a busy timeout', () => {
          const database = store.sqlite?.database;
          expect(database?.pragma('journal_mode', { simple: true })).toBe('wal');
          expect(database?.pragma('synchronous', { simple: true })).toBe(2);
          expect(database?.pragma('foreign_keys', { simple: true })).toBe(1);
          expect(database?.pragma('busy_timeout', { simple: true })).toBe(5000);
        });

        it('keeps raw secrets out of the database file and its WAL', async () => {
          const consumerSecret = `cs-${randomBytes(16).toString('hex')}`;
          const sandboxId = await newSandbox();
          await store.destinations.create({
            sandboxId,
            name: 'X',
            accountId: 'a',
            credentials: { consumerKey: 'ck', consumerSecret },
          });
          const files = [shared.url, `${shared.url}-wal`].filter((file) => existsSync(file));
          expect(files.length).toBeGreaterThan(0);
          const needle = Buffer.from(consumerSecret);
          for (const file of files) expect(readFileSync(file).includes(needle)).toBe(false);
          // The check above is meaningful: the plain name of the same row is in the files.
          expect(files.some((file) => readFileSync(file).includes(Buffer.from(sandboxId)))).toBe(true);
        });

        it('creates tca.db in the data directory by default and accepts sqlite: URLs', async () => {
          const dir = mkdtempSync(join(tmpdir(), 'tca-store-default-'));
          dirs.push(dir);
          const byDefault = await openStore({ dataDir: dir, secretKey: KEY });
          await byDefault.close();
          expect(existsSync(join(dir, 'tca.db'))).toBe(true);
          const byUrl = await openStore({
            dataDir: dir,
            secretKey: KEY,
            url: `sqlite:${join(dir, 'other.db')}`,
          });
          await byUrl.close();
          expect(existsSync(join(dir, 'other.db'))).toBe(true);
          const error = await rejection(
            openStore({ dataDir: dir, secretKey: KEY, url: 'mysql://localhost/db' }),
          );
          expect(error.code).toBe('invalid_config');
          expect(error.message).toMatch(/TCA_DATABASE_URL/);
        });

        it('runs raw statements exclusively: never inside another caller’s open transaction', async () => {
          const sandboxId = await newSandbox();
          const access = store.sqlite;
          if (!access) throw new StoreError('invalid_config', 'sqlite access missing');
          const order: string[] = [];
          let release!: () => void;
          const gate = new Promise<void>((resolve) => (release = resolve));
          let started!: () => void;
          const inside = new Promise<void>((resolve) => (started = resolve));
          const transaction = store
            .transaction(async (tx) => {
              await tx.segments.create({ sandboxId, id: 'tx', name: 'tx' });
              started();
              await gate;
              order.push('transaction');
              throw new StoreError('invalid_input', 'roll back');
            })
            .catch((error: unknown) => error);
          await inside;
          const raw = access.exclusive((database) => {
            order.push('raw');
            database
              .prepare(
                'insert into segments (sandbox_id, id, namespace, name, created_at, updated_at) values (?, ?, ?, ?, ?, ?)',
              )
              .run(sandboxId, 'raw', 'ups', 'raw', 1, 1);
            return database.inTransaction;
          });
          release();
          expect(await raw).toBe(false);
          expect(await transaction).toBeInstanceOf(StoreError);
          expect(order).toEqual(['transaction', 'raw']);
          expect((await store.segments.list(sandboxId)).map((s) => s.id)).toEqual(['raw']);
        });

        it('makes an online backup that opens with the same data', async () => {
          const sandboxId = await newSandbox();
          await store.segments.create({ sandboxId, id: 'backed-up', name: 'b' });
          const dir = mkdtempSync(join(tmpdir(), 'tca-store-backup-'));
          dirs.push(dir);
          await store.sqlite?.backup(join(dir, 'tca.db'));
          expect(statSync(join(dir, 'tca.db')).mode & 0o777).toBe(0o600);
          const restored = await openStore({ dataDir: dir, secretKey: KEY });
          try {
            expect((await restored.segments.get(sandboxId, 'backed-up'))?.name).toBe('b');
          } finally {
            await restored.close();
          }
        });

        it('migrates once when several processes open a new file at the same time', async () => {
          const dir = mkdtempSync(join(tmpdir(), 'tca-store-procs-'));
          dirs.push(dir);
          const script = join(import.meta.dirname, 'fixtures', 'open-store-child.ts');
          const outputs = await Promise.all(
            Array.from({ length: 3 }, () =>
              run(process.execPath, ['--import', 'tsx', script, dir, join(dir, 'tca.db'), KEY], {
                timeout: 60_000,
              }),
            ),
          );
          for (const { stdout } of outputs) {
            expect(JSON.parse(stdout)).toEqual({ applied: MIGRATIONS.map(([name]) => name), pending: [] });
          }
          const check = await openStore({ dataDir: dir, secretKey: KEY });
          try {
            const applied = await sql<{ n: number }>`select count(*) as n from kysely_migration`.execute(
              check.db,
            );
            expect(applied.rows[0]?.n).toBe(MIGRATIONS.length);
            expect(await check.sandboxes.list()).toHaveLength(1);
          } finally {
            await check.close();
          }
        });
      });
    }

    if (backend.name === 'postgres') {
      describe('postgres specifics', () => {
        it('migrates once when several stores open a new database at the same time', async () => {
          const database = await createPostgresDatabase('tca_store_race');
          const dataDir = mkdtempSync(join(tmpdir(), 'tca-store-race-'));
          const stores: Store[] = [];
          try {
            const opened = await Promise.allSettled(
              Array.from({ length: 5 }, () => openStore({ dataDir, url: database.url, secretKey: KEY })),
            );
            for (const result of opened) {
              if (result.status === 'fulfilled') stores.push(result.value);
            }
            expect(opened.map((r) => r.status)).toEqual(Array(5).fill('fulfilled'));
            const first = stores[0];
            if (!first) throw new StoreError('invalid_config', 'no store opened');
            const applied = await sql<{ n: number }>`select count(*) as n from kysely_migration`.execute(
              first.db,
            );
            expect(applied.rows[0]?.n).toBe(MIGRATIONS.length);
            expect(await first.sandboxes.list()).toHaveLength(1);
          } finally {
            await Promise.allSettled(stores.map((s) => s.close()));
            await database.drop();
            rmSync(dataDir, { recursive: true, force: true });
          }
        });

        it('claims rows with skip locked, as its capabilities say', async () => {
          const sandboxId = await newSandbox();
          for (const id of ['q1', 'q2']) await store.segments.create({ sandboxId, id, name: id });
          let release!: () => void;
          const gate = new Promise<void>((resolve) => (release = resolve));
          let locked!: () => void;
          const holding = new Promise<void>((resolve) => (locked = resolve));
          const first = store.transaction(async (tx) => {
            const rows = await sql<{
              id: string;
            }>`select id from segments where sandbox_id = ${sandboxId} order by id limit 1 for update skip locked`.execute(
              tx.db,
            );
            locked();
            await gate;
            return rows.rows.map((r) => r.id);
          });
          await holding;
          const second = await store.transaction(async (tx) => {
            const rows = await sql<{
              id: string;
            }>`select id from segments where sandbox_id = ${sandboxId} order by id limit 1 for update skip locked`.execute(
              tx.db,
            );
            return rows.rows.map((r) => r.id);
          });
          release();
          expect(await first).toEqual(['q1']);
          expect(second).toEqual(['q2']);
        });
      });
    }
  });
}
