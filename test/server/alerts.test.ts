import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts, type DataflowHealth } from '../../src/server/alerts.ts';
import { DEMO, profile, startTestService, waitFor, type TestService, type Json } from './harness.ts';

// Alerts reach a real webhook receiver on loopback: dataflow failed, paused (X refused the credentials), delayed
// (changes waiting past the threshold) and exclusion rate exceeded.

let t: TestService;
let receiver: Server;
const received: Array<{ path: string; body: Json }> = [];
let offsetMs = 0;
const now = () => Date.now() + offsetMs;

async function startReceiver(): Promise<string> {
  receiver = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(data) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}

const alertOf = (type: string, dataflowId: string) => () =>
  Promise.resolve(received.find((a) => a.body.type === type && a.body.dataflowId === dataflowId));

beforeAll(async () => {
  const url = await startReceiver();
  t = await startTestService(
    {
      TCA_ROLE: 'all',
      TCA_ALERT_WEBHOOK_URL: `${url}/global`,
      TCA_ALERT_CHECK_SECONDS: '1',
      TCA_ALERT_EXCLUSION_RATE: '0.5',
    },
    { now },
  );
  await t.call('POST', '/api/v1/segments', { token: t.adminToken, body: { id: 'seg-a', name: 'Alerted' } });
});

afterAll(async () => {
  await t?.close();
  await new Promise((r) => receiver?.close(r));
});

async function dataflow(
  name: string,
  extra: Record<string, unknown> = {},
  credentials = DEMO.credentials,
): Promise<{ id: string; destinationId: string }> {
  const d = await t.call('POST', '/api/v1/destinations', {
    token: t.adminToken,
    body: {
      name: `${name} destination`,
      accountId: DEMO.accountId,
      credentials,
      alertWebhookUrl: `${receiverUrl()}/destination`,
    },
  });
  const df = await t.call('POST', '/api/v1/dataflows', {
    token: t.adminToken,
    body: {
      name,
      destinationId: d.body.id,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [{ segmentId: 'seg-a' }],
      ...extra,
    },
  });
  expect(df.status, JSON.stringify(df.body)).toBe(201);
  return { id: df.body.id, destinationId: d.body.id };
}

const receiverUrl = () => `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

describe('alert webhooks', () => {
  it('fires "exclusion rate exceeded" to the global and the destination webhook', async () => {
    const { id } = await dataflow('Mostly bad emails');
    const body = Array.from({ length: 10 }, (_, i) =>
      profile(
        i < 8 ? `broken${i}(at)example.com` : `fine${i}@example.com`,
        { 'seg-a': 'realized' },
        `ex${i}`,
      ),
    );
    expect((await t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body })).status).toBe(202);
    const alert = await waitFor(alertOf('exclusion_rate_exceeded', id), 20_000, 'exclusion alert');
    expect(alert.body.details.rate).toBeGreaterThan(0.5);
    await waitFor(
      () =>
        Promise.resolve(
          received
            .filter((a) => a.body.type === 'exclusion_rate_exceeded' && a.body.dataflowId === id)
            .map((a) => a.path)
            .sort()
            .join() === '/destination,/global'
            ? true
            : undefined,
        ),
      10_000,
      'both webhooks',
    );
  });

  it('fires "paused" when X refuses the credentials during delivery', async () => {
    const { id } = await dataflow(
      'Revoked credentials',
      {},
      { ...DEMO.credentials, accessTokenSecret: 'revoked' },
    );
    await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('p@example.com', { 'seg-a': 'realized' }, 'p1'),
    });
    await t.call('POST', `/api/v1/dataflows/${id}/flush`, { token: t.adminToken });
    const alert = await waitFor(alertOf('dataflow_paused', id), 20_000, 'paused alert');
    expect(alert.body.severity).toBe('critical');
    expect(alert.body.message).toContain('paused');
  });

  it('fires "failed" when a dataflow fails', async () => {
    const { id } = await dataflow('Broken flow');
    await t.service.store.dataflows.update('prod', id, {
      status: 'failed',
      statusReason: 'audience could not be created',
    });
    const alert = await waitFor(alertOf('dataflow_failed', id), 20_000, 'failed alert');
    expect(alert.body.message).toContain('audience could not be created');
  });

  it('fires "delayed" when changes wait longer than the threshold', async () => {
    const { id } = await dataflow('Slow flow', { maxBatchAgeSeconds: 28_800 });
    await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('slow@example.com', { 'seg-a': 'realized' }, 'slow1'),
    });
    offsetMs = 3 * 3_600_000;
    const alert = await waitFor(alertOf('dataflow_delayed', id), 20_000, 'delayed alert');
    expect(alert.body.details.minutes).toBeGreaterThanOrEqual(150);
  });
});

describe('evaluateAlerts', () => {
  const base: DataflowHealth = {
    sandbox: 'prod',
    dataflowId: 'df1',
    dataflowName: 'A',
    destinationId: 'd1',
    webhookUrl: null,
    status: 'paused',
    statusReason: 'X answered 401',
    oldestPendingAt: null,
    lastRun: null,
  };
  it('fires once per condition until it clears', () => {
    const first = evaluateAlerts([base], new Set(), { exclusionRate: 0.5, delayMinutes: 150 }, 0);
    expect(first.alerts.map((a) => a.alert.type)).toEqual(['dataflow_paused']);
    const again = evaluateAlerts([base], first.active, { exclusionRate: 0.5, delayMinutes: 150 }, 1);
    expect(again.alerts).toEqual([]);
    const cleared = evaluateAlerts(
      [{ ...base, status: 'active' }],
      again.active,
      { exclusionRate: 0.5, delayMinutes: 150 },
      2,
    );
    const back = evaluateAlerts([base], cleared.active, { exclusionRate: 0.5, delayMinutes: 150 }, 3);
    expect(back.alerts.length).toBe(1);
  });
  it('does not alert on a pause a user asked for', () => {
    const r = evaluateAlerts(
      [{ ...base, statusReason: 'paused by a user' }],
      new Set(),
      { exclusionRate: 0.5, delayMinutes: 150 },
      0,
    );
    expect(r.alerts).toEqual([]);
  });
});
