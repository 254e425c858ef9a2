import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateEmailSegment, emailsAtX, profile, startTestService, type TestService } from './harness.ts';

// A service on a machine whose clock runs 10 minutes ahead of X's: X refuses its first OAuth timestamp, and from then
// on the service signs with X's time, says so, and delivers as usual.

const AHEAD_MS = 10 * 60_000;
let t: TestService;

beforeAll(async () => {
  t = await startTestService({}, { now: () => Date.now() + AHEAD_MS });
});
afterAll(async () => {
  await t?.close();
});

describe('a clock ahead of X', () => {
  it('verifies and delivers with X time, and reports the offset', async () => {
    const dataflowId = await activateEmailSegment(t, {
      segmentId: 'seg-clock',
      segmentName: 'Clock',
      dataflowName: 'Clock flow',
      mappingName: 'Clock audience',
    });
    const flow = await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken });
    const verify = await t.call('POST', `/api/v1/destinations/${flow.body.destinationId}/verify`, {
      token: t.adminToken,
    });
    expect(verify.body.ok).toBe(true);
    await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: [profile('clock@example.com', { 'seg-clock': 'realized' }, 'ecid-clock')],
    });
    expect(await emailsAtX(t, dataflowId, 'seg-clock')).toHaveLength(1);
    // One refusal taught every client of the process X's time.
    expect(t.emulator.admin.requests().filter((r) => r.status === 401)).toHaveLength(1);
    const metrics = await (await fetch(`${t.service.url}/metrics`)).text();
    const offset = Number(/^tca_x_clock_offset_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(Math.abs(offset + AHEAD_MS / 1000)).toBeLessThanOrEqual(2);
  });
});
