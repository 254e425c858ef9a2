import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateEmailSegment, startTestService, type TestService } from './harness.ts';

// The audit trail over the API: who changed what, refusals included, values never kept, newest first, paged.

let t: TestService;
let dataflowId: string;

interface Event {
  token: { id: string; name: string };
  method: string;
  route: string;
  action: string;
  target: string | null;
  status: number;
  fields: string[];
}

const events = async (query = ''): Promise<{ items: Event[]; nextCursor: string | null }> => {
  const r = await t.call('GET', `/api/v1/audit-events${query}`, { token: t.adminToken });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as unknown as { items: Event[]; nextCursor: string | null };
};

beforeAll(async () => {
  t = await startTestService();
  dataflowId = await activateEmailSegment(t, {
    segmentId: 'seg-audit',
    segmentName: 'Audited',
    dataflowName: 'Audited flow',
    mappingName: 'Audited buyers',
  });
});

afterAll(async () => {
  await t?.close();
});

describe('audit trail', () => {
  it('records each change with its token, route, target and field names, never the values', async () => {
    const { items } = await events();
    // Newest first: the dataflow, then the destination, then the segment.
    expect(items.map((e) => `${e.method} ${e.route}`)).toEqual([
      'POST /api/v1/dataflows',
      'POST /api/v1/destinations',
      'POST /api/v1/segments',
    ]);
    expect(items[0]).toMatchObject({
      token: { name: 'admin' },
      action: 'Activate segments to a destination with a mapping and a schedule',
      target: dataflowId,
      status: 201,
      fields: ['name', 'destinationId', 'mapping', 'audiences'],
    });
    // The destination's credentials went in the body: only the field's name is kept.
    const destination = items[1]!;
    expect(destination.fields).toContain('credentials');
    expect(JSON.stringify(items)).not.toContain('demo-consumer-secret');
    // Reads and profile streams are not changes to record.
    await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken });
    const ingest = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: {
        segmentMembership: { ups: { 'seg-audit': { status: 'realized' } } },
        identityMap: { ECID: [{ id: 'e1' }], Email: [{ id: 'jane@example.com' }] },
      },
    });
    expect(ingest.status).toBe(202);
    expect((await events()).items).toHaveLength(3);
  });

  it('records a change refused for a permission, and not one refused as invalid', async () => {
    const created = await t.call('POST', '/api/v1/tokens', {
      token: t.adminToken,
      body: { name: 'reader', permissions: ['View Destinations'] },
    });
    expect(created.status).toBe(201);
    const reader = created.body.token as string;
    const refused = await t.call('PATCH', `/api/v1/dataflows/${dataflowId}`, {
      token: reader,
      body: { status: 'paused' },
    });
    expect(refused.status).toBe(403);
    const invalid = await t.call('PATCH', `/api/v1/dataflows/${dataflowId}`, {
      token: t.adminToken,
      body: { status: 'sleeping' },
    });
    expect(invalid.status).toBe(400);
    const { items } = await events('?limit=2');
    expect(items[0]).toMatchObject({
      token: { id: created.body.id, name: 'reader' },
      method: 'PATCH',
      route: '/api/v1/dataflows/:id',
      target: dataflowId,
      status: 403,
      fields: [],
    });
    expect(items[1]).toMatchObject({
      route: '/api/v1/tokens',
      target: created.body.id,
      status: 201,
      fields: ['name', 'permissions'],
    });
    // Reading the trail takes Manage Tokens.
    const denied = await t.call('GET', '/api/v1/audit-events', { token: reader });
    expect(denied.status).toBe(403);
  });

  it('pages newest first with a cursor, filters by target, and refuses a forged cursor', async () => {
    const all = (await events('?limit=1000')).items;
    const first = await events('?limit=2');
    expect(first.items).toEqual(all.slice(0, 2));
    expect(first.nextCursor).not.toBeNull();
    const second = await events(`?limit=2&cursor=${first.nextCursor}`);
    expect(second.items).toEqual(all.slice(2, 4));
    let cursor: string | null = first.nextCursor;
    const seen: Event[] = [...first.items];
    while (cursor !== null) {
      const page = await events(`?limit=2&cursor=${cursor}`);
      seen.push(...page.items);
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(all);

    const about = await events(`?target=${dataflowId}`);
    expect(about.items.map((e) => e.status)).toEqual([403, 201]);

    const forged = await t.call('GET', '/api/v1/audit-events?cursor=bm90LWEtY3Vyc29y', {
      token: t.adminToken,
    });
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ error: { details: [{ path: 'query.cursor' }] } });
  });

  it('names the query parameters sent to a file import, not the ones left to their defaults', async () => {
    const imported = await t.call('POST', '/api/v1/imports?mode=incremental', {
      token: t.adminToken,
      raw: `${JSON.stringify({
        segmentMembership: { ups: { 'seg-audit': { status: 'realized' } } },
        identityMap: { ECID: [{ id: 'e2' }], Email: [{ id: 'joe@example.com' }] },
      })}\n`,
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    const [latest] = (await events('?limit=1')).items;
    expect(latest).toMatchObject({ route: '/api/v1/imports', status: 200, target: null, fields: ['?mode'] });
    expect(JSON.stringify(latest)).not.toContain('joe@example.com');
  });
});
