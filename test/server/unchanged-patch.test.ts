import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, startTestService, type TestService } from './harness.ts';

// A PATCH that changes nothing (`{}`, or every field as stored) answers the resource as it is: its updatedAt stays, and
// the audit trail, which lists changes, gets no event. A PATCH that changes something still moves both.

let t: TestService;
let sandboxId: string;
let destinationId: string;
let dataflowId: string;
const SEG = 'seg-same';
const SEG2 = 'seg-other';

const call = (method: string, path: string, body?: unknown) =>
  t.call(method, path, { token: t.adminToken, ...(body === undefined ? {} : { body }) });

/** The ids of the audit events, newest first. */
const auditIds = async (): Promise<string[]> => {
  const r = await call('GET', '/api/v1/audit-events?limit=1000');
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body.items as Array<{ id: string }>).map((e) => e.id);
};

/** Sleeps past the clock's millisecond, so a write would move updatedAt. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

beforeAll(async () => {
  t = await startTestService();
  for (const [id, name] of [
    [SEG, 'Same'],
    [SEG2, 'Other'],
  ] as const) {
    const s = await call('POST', '/api/v1/segments', { id, name, labels: ['C9'] });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
  }
  const d = await call('POST', '/api/v1/destinations', {
    name: 'Same dest',
    accountId: DEMO.accountId,
    credentials: DEMO.credentials,
    marketingActions: ['Analytics'],
    alertWebhookUrl: null,
  });
  expect(d.status, JSON.stringify(d.body)).toBe(201);
  destinationId = d.body.id as string;
  const df = await call('POST', '/api/v1/dataflows', {
    name: 'Same flow',
    destinationId,
    mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
    audiences: [{ segmentId: SEG, mappingName: 'Same buyers', endDate: '2099-12-31' }],
    noDataAlertHours: 26,
  });
  expect(df.status, JSON.stringify(df.body)).toBe(201);
  dataflowId = df.body.id as string;
  sandboxId = (await t.service.store.sandboxes.getByName('prod'))!.id;
});

afterAll(async () => {
  await t?.close();
});

describe('a PATCH that changes nothing', () => {
  it('leaves a dataflow, its updatedAt and the audit trail as they were: {} and its own settings sent back', async () => {
    const before = await call('GET', `/api/v1/dataflows/${dataflowId}`);
    const trail = await auditIds();
    await tick();
    const same = before.body;
    for (const body of [
      {},
      { name: ` ${same.name} `, status: 'active', noDataAlertHours: 26, onAudienceRemoval: 'delete' },
      { mapping: same.mapping, maxBatchAgeSeconds: same.maxBatchAgeSeconds },
      // What `tca dataflows update --add-segment` of a segment it activates sent: the audiences as they are.
      {
        audiences: same.audiences.map(({ xAudienceId: _x, ...a }: Record<string, unknown>) => a),
      },
      { audiences: [{ segmentId: SEG }] },
    ]) {
      const r = await call('PATCH', `/api/v1/dataflows/${dataflowId}`, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body, JSON.stringify(body)).toEqual(before.body);
    }
    expect((await call('GET', `/api/v1/dataflows/${dataflowId}`)).body).toEqual(before.body);
    expect(await auditIds()).toEqual(trail);
  });

  it('still changes a dataflow when one field differs, moving updatedAt and recording it', async () => {
    const before = await call('GET', `/api/v1/dataflows/${dataflowId}`);
    const trail = await auditIds();
    await tick();
    for (const body of [
      { noDataAlertHours: 27 },
      { audiences: [{ segmentId: SEG, endDate: null }] },
      { audiences: [{ segmentId: SEG }, { segmentId: SEG2 }] },
    ]) {
      const previous = (await call('GET', `/api/v1/dataflows/${dataflowId}`)).body.updatedAt;
      await tick();
      const r = await call('PATCH', `/api/v1/dataflows/${dataflowId}`, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.updatedAt, JSON.stringify(body)).not.toBe(previous);
    }
    const after = await call('GET', `/api/v1/dataflows/${dataflowId}`);
    expect(after.body).toMatchObject({
      noDataAlertHours: 27,
      audiences: [
        { segmentId: SEG, endDate: null },
        { segmentId: SEG2, mappingName: 'Other' },
      ],
    });
    expect(after.body.updatedAt).not.toBe(before.body.updatedAt);
    const added = await auditIds();
    expect(added.slice(3)).toEqual(trail);
    expect(added).toHaveLength(trail.length + 3);
  });

  it('leaves a destination, its updatedAt and the audit trail as they were', async () => {
    const before = await call('GET', `/api/v1/destinations/${destinationId}`);
    const trail = await auditIds();
    await tick();
    for (const body of [
      {},
      {
        name: before.body.name,
        accountId: before.body.accountId,
        apiBaseUrl: before.body.apiBaseUrl,
        marketingActions: ['Analytics'],
        alertWebhookUrl: null,
        alertEmailTo: [],
        alertPagerDutyRoutingKey: null,
        alertTypes: before.body.alertTypes,
      },
    ]) {
      const r = await call('PATCH', `/api/v1/destinations/${destinationId}`, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body, JSON.stringify(body)).toEqual(before.body);
    }
    expect((await call('GET', `/api/v1/destinations/${destinationId}`)).body).toEqual(before.body);
    expect(await auditIds()).toEqual(trail);

    const renamed = await call('PATCH', `/api/v1/destinations/${destinationId}`, { name: 'Renamed dest' });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    expect(renamed.body.updatedAt).not.toBe(before.body.updatedAt);
    expect(await auditIds()).toHaveLength(trail.length + 1);
  });

  it('leaves a segment, its stored updatedAt and the audit trail as they were', async () => {
    const stored = (await t.service.store.segments.get(sandboxId, SEG))!;
    const trail = await auditIds();
    await tick();
    for (const body of [{}, { name: 'Same', description: '', labels: ['c9'] }]) {
      const r = await call('PATCH', `/api/v1/segments/${SEG}`, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body, JSON.stringify(body)).toMatchObject({ id: SEG, name: 'Same', labels: ['C9'] });
    }
    expect((await t.service.store.segments.get(sandboxId, SEG))!.updatedAt).toBe(stored.updatedAt);
    expect(await auditIds()).toEqual(trail);

    const relabelled = await call('PATCH', `/api/v1/segments/${SEG}`, { labels: ['C9', 'C3'] });
    expect(relabelled.status, JSON.stringify(relabelled.body)).toBe(200);
    expect((await t.service.store.segments.get(sandboxId, SEG))!.updatedAt).not.toBe(stored.updatedAt);
    expect(await auditIds()).toHaveLength(trail.length + 1);
  });
});
