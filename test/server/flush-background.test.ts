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

it('waits out a rate limit that resets within the wait, and says when the next attempt is when it does not', async () => {
  const t = await startTestService();
  try {
    const token = t.adminToken;
    const dataflowId = await activateEmailSegment(t, {
      segmentId: 'seg-limited',
      segmentName: 'Limited',
      dataflowName: 'Rate-limited flush',
      mappingName: 'Limited',
    });
    const ingest = (emails: string[]) =>
      t.call('POST', '/api/v1/ingest/profiles', {
        token,
        body: emails.map((email) => profile(email, { 'seg-limited': 'realized' })),
      });
    await ingest(['limited.one@example.com', 'limited.two@example.com']);
    const users = () =>
      t.emulator.admin
        .requests()
        .filter((r) => r.method === 'POST' && r.path.endsWith('/users'))
        .map((r) => r.status);

    // Two 429s in a row, each saying the window resets within a second: the flush waits them out and delivers.
    t.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 429, times: 2 }] });
    const began = Date.now();
    const flush = await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush?wait=20`, { token });
    expect(flush.status).toBe(200);
    expect(flush.body).toMatchObject({
      status: 'delivered',
      audiences: [{ outcome: 'delivered', requests: 1, added: 2, xAudience: 'created' }],
    });
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(users()).toEqual([429, 429, 200]);

    // A reset past the wait: answered at once, the audience retried when X's window resets.
    await ingest(['limited.three@example.com']);
    const reset = Math.ceil(Date.now() / 1000) + 600;
    t.emulator.admin.addFaults({
      faults: [
        { method: 'POST', path: '/users$', status: 429, headers: { 'x-rate-limit-reset': String(reset) } },
      ],
    });
    const held = await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush?wait=5`, { token });
    expect(held.status).toBe(200);
    expect(held.body).toMatchObject({
      status: 'incomplete',
      audiences: [{ outcome: 'retrying', rateLimited: true }],
    });
    const next = held.body.audiences[0].nextAttemptAt as number;
    expect(next).toBeGreaterThanOrEqual(reset * 1000);
    expect(next).toBeLessThan(reset * 1000 + 1_000);
  } finally {
    await t.close();
  }
});
