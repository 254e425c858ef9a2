import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createEmulator, defaultDemoSeed, type Emulator } from '../../src/emulator/index.ts';
import { createLogger } from '../../src/server/logger.ts';
import { startService, type Service } from '../../src/server/service.ts';
import { activateEmailSegment, callerFor, emailsAtX, profile, type TestService } from './harness.ts';

// Rotating the secret key of a running installation: the service stops, starts again with the new key and the old
// one as TCA_SECRET_KEY_PREVIOUS, and carries on where it was, with the same X audience and the same profiles.

let dir: string;
let emulator: Emulator;
let emulatorUrl: string;
let closeEmulator: () => Promise<void>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tca-rotation-'));
  emulator = createEmulator({ seed: defaultDemoSeed(), processingDelayMs: 0 });
  const running = await emulator.listen({ port: 0, host: '127.0.0.1' });
  emulatorUrl = running.url;
  closeEmulator = running.close;
});
afterAll(async () => {
  await closeEmulator?.();
  await rm(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string> = {}): Promise<{ service: Service; t: TestService }> {
  const config = loadConfig({
    TCA_DATA_DIR: dir,
    TCA_PORT: '0',
    TCA_LOG_LEVEL: 'silent',
    TCA_X_API_BASE_URL: emulatorUrl,
    TCA_ROLE: 'api',
    ...env,
  });
  const service = await startService(config, { staticDir: null, logger: createLogger('silent') });
  const dataDir = env['TCA_DATA_DIR'] ?? dir;
  const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const t = {
    service,
    emulator,
    emulatorUrl,
    adminToken,
    dir: dataDir,
    call: callerFor(service.url),
  } as TestService;
  return { service, t };
}

const ingest = (t: TestService, profiles: unknown[]) =>
  t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body: profiles });

describe('secret key rotation (TCA_SECRET_KEY_PREVIOUS)', () => {
  it('re-encrypts the credentials under the new key and keeps every profile the same profile', async () => {
    const first = await start();
    const dataflowId = await activateEmailSegment(first.t, {
      segmentId: 'seg-rot',
      segmentName: 'Rotation',
      dataflowName: 'Rotation flow',
      mappingName: 'Rotation audience',
    });
    expect(
      (
        await ingest(first.t, [
          profile('ann@example.com', { 'seg-rot': 'realized' }, 'ecid-ann'),
          profile('bob@example.com', { 'seg-rot': 'realized' }, 'ecid-bob'),
        ])
      ).status,
    ).toBe(202);
    expect(await emailsAtX(first.t, dataflowId, 'seg-rot')).toHaveLength(2);
    await first.service.close();

    // The generated key file is the key the database was written with.
    const oldKey = readFileSync(join(dir, 'secret.key'), 'utf8').trim();
    const newKey = randomBytes(32).toString('hex');
    const refused = await start({ TCA_SECRET_KEY: newKey }).then(
      () => null,
      (e: unknown) => e as { code: string; hint: string },
    );
    expect(refused).toMatchObject({
      code: 'secret_key',
      hint: expect.stringContaining('TCA_SECRET_KEY_PREVIOUS'),
    });

    const rotated = await start({ TCA_SECRET_KEY: newKey, TCA_SECRET_KEY_PREVIOUS: oldKey });
    expect(rotated.service.store.keyRotation).toMatchObject({ credentials: 1 });
    // Bob exits under the new key: he is the profile he was (his key is a keyed hash), so X loses him; and the
    // delivery reads the destination's credentials, encrypted again.
    await ingest(rotated.t, [profile('bob@example.com', { 'seg-rot': 'exited' }, 'ecid-bob')]);
    const left = await emailsAtX(rotated.t, dataflowId, 'seg-rot');
    expect(left).toHaveLength(1);
    const flow = await rotated.t.call('GET', `/api/v1/dataflows/${dataflowId}`, {
      token: rotated.t.adminToken,
    });
    const verify = await rotated.t.call('POST', `/api/v1/destinations/${flow.body.destinationId}/verify`, {
      token: rotated.t.adminToken,
    });
    expect(verify.body.ok).toBe(true);
    await rotated.service.close();

    // From now on the new key alone opens it, and the old one no longer does.
    const after = await start({ TCA_SECRET_KEY: newKey });
    expect(after.service.store.keyRotation).toBeNull();
    await after.service.close();
    await expect(start({ TCA_SECRET_KEY: oldKey })).rejects.toMatchObject({ code: 'secret_key' });
  });

  it('reports a process left on the old key as not ready once another process has rotated it', async () => {
    const own = join(dir, 'second');
    const key = randomBytes(32).toString('hex');
    const stale = await start({ TCA_DATA_DIR: own, TCA_SECRET_KEY: key });
    expect((await stale.t.call('GET', '/readyz')).status).toBe(200);
    // Another process of the installation starts with a new key and this one as the previous: it rotates.
    const next = randomBytes(32).toString('hex');
    const rotating = await start({ TCA_DATA_DIR: own, TCA_SECRET_KEY: next, TCA_SECRET_KEY_PREVIOUS: key });
    expect(rotating.service.store.keyRotation).not.toBeNull();
    const ready = await stale.t.call('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.secret_key).toMatchObject({
      ok: false,
      message: expect.stringContaining('restart it with TCA_SECRET_KEY set to the new key'),
    });
    expect((await rotating.t.call('GET', '/readyz')).body.checks.secret_key.ok).toBe(true);
    await stale.service.close();
    await rotating.service.close();
  });
});
