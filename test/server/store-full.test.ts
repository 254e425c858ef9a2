import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, profile, startTestService, type TestService } from './harness.ts';

// A store that cannot grow (SQLite told the database may not get any larger, as a full disk would): the API answers
// 503 with why and when to try again, keeps nothing of the request, and takes the same request once there is room.

let t: TestService;
let dataflowId: string;

beforeAll(async () => {
  t = await startTestService();
  const call = (method: string, path: string, body: unknown) =>
    t.call(method, path, { token: t.adminToken, body });
  expect((await call('POST', '/api/v1/segments', { id: 'seg-full', name: 'Full disk' })).status).toBe(201);
  const destination = await call('POST', '/api/v1/destinations', {
    name: 'Full disk destination',
    accountId: DEMO.accountId,
    credentials: DEMO.credentials,
  });
  const dataflow = await call('POST', '/api/v1/dataflows', {
    name: 'Full disk',
    destinationId: destination.body.id,
    mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
    audiences: [{ segmentId: 'seg-full' }],
  });
  expect(dataflow.status, JSON.stringify(dataflow.body)).toBe(201);
  dataflowId = dataflow.body.id as string;
});

afterAll(async () => {
  await t?.close();
});

describe('a store that cannot take writes', () => {
  it('answers 503 with the reason and Retry-After, keeps nothing, and accepts the same request once it can', async () => {
    const database = t.service.store.sqlite!.database;
    const pages = database.pragma('page_count', { simple: true }) as number;
    database.pragma(`max_page_count = ${pages}`);
    const body = Array.from({ length: 3000 }, (_, i) =>
      profile(`full${i}@example.com`, { 'seg-full': 'realized' }, `full${i}`),
    );
    const ingest = () =>
      t.call('POST', '/api/v1/ingest/profiles', {
        token: t.adminToken,
        body,
        headers: { 'x-request-id': 'full-disk-1' },
      });

    const refused = await ingest();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.body.error).toMatchObject({
      code: 'store_unavailable',
      details: [{ path: '$', reason: 'the disk holding the database is full (SQLITE_FULL)' }],
    });
    expect(refused.body.error.message).toMatch(/Nothing of this request was kept: send it again later/);
    const pending = await t.call('GET', `/api/v1/audiences?dataflowId=${dataflowId}`, {
      token: t.adminToken,
    });
    expect(pending.body.items.map((a: { pendingAdds: number }) => a.pendingAdds)).toEqual([0]);

    database.pragma('max_page_count = 4294967294');
    const accepted = await ingest();
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect(accepted.body).toMatchObject({ accepted: 3000, duplicate: false });
    const after = await t.call('GET', `/api/v1/audiences?dataflowId=${dataflowId}`, { token: t.adminToken });
    expect(after.body.items.map((a: { pendingAdds: number }) => a.pendingAdds)).toEqual([3000]);
  });
});
