import { expect, it } from 'vitest';
import { activateEmailSegment, DEMO, profile, startTestService } from './harness.ts';

// The test service runs the API role only: no worker delivers, so what reaches X here is the request's own delivery.
it('finishes a delivery its request stopped waiting for before the service closes', async () => {
  const t = await startTestService();
  const token = t.adminToken;
  const dataflowId = await activateEmailSegment(t, {
    segmentId: 'seg-bg',
    segmentName: 'Background',
    dataflowName: 'Background flush',
    mappingName: 'Background',
  });
  const emails = ['bg.one@example.com', 'bg.two@example.com', 'bg.three@example.com'];
  const ingest = await t.call('POST', '/api/v1/ingest/profiles', {
    token,
    body: emails.map((email) => profile(email, { 'seg-bg': 'realized' })),
  });
  expect(ingest.body.accepted).toBe(3);

  const flush = await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush?wait=0`, { token });
  expect(flush.status).toBe(202);
  expect(flush.body).toMatchObject({ status: 'delivering', audienceIds: [expect.any(String)] });
  await t.close();

  const users = t.emulator.admin.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/users'));
  expect(users.map((r) => [r.status, r.users])).toEqual([[200, 3]]);
  const xAudienceId = /custom_audiences\/([^/]+)\/users$/.exec(users[0]!.path)![1]!;
  expect(t.emulator.admin.members(DEMO.accountId, xAudienceId)).toHaveLength(3);
});
