import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './harness.ts';

let worker: TestService;
beforeAll(async () => {
  worker = await startTestService({ TCA_ROLE: 'worker' });
});
afterAll(async () => {
  await worker?.close();
});

describe('--role worker', () => {
  it('serves health, readiness and metrics but no API', async () => {
    expect((await worker.call('GET', '/healthz')).status).toBe(200);
    expect((await worker.call('GET', '/readyz')).status).toBe(200);
    expect((await worker.call('GET', '/metrics')).status).toBe(200);
    const api = await worker.call('GET', '/api/v1/destinations', { token: worker.adminToken });
    expect(api.status).toBe(404);
    expect(api.body.error.message).toContain('worker role');
  });

  it('issues no admin token: the process that serves the API does, when it starts', async () => {
    expect(worker.adminToken).toBeUndefined();
    expect(existsSync(join(worker.dir, 'admin-token'))).toBe(false);
  });
});
