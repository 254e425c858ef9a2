import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateEmailSegment, startTestService, waitFor, type TestService } from './harness.ts';

// The audit trail over the API: who changed what, refusals included, values never kept, newest first, paged.

let t: TestService;
let dataflowId: string;

interface Event {
  id: string;
  sandbox: string;
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

  it('feeds a poller oldest first: each event once, none before it is 2 s old, across sandboxes for the admin', async () => {
    const feed = async (query: string, token = t.adminToken) => {
      const r = await t.call('GET', `/api/v1/audit-events/feed${query}`, { token });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body as unknown as { items: Event[]; cursor: string | null };
    };
    // Everything recorded so far, read page by page from the oldest, is the trail newest-first reversed.
    const all = (await events('?limit=1000')).items;
    const read: Event[] = [];
    let cursor: string | null = null;
    await waitFor(
      async () => {
        const page = await feed(`?limit=3${cursor === null ? '' : `&after=${cursor}`}`);
        read.push(...page.items);
        cursor = page.cursor;
        return read.length >= all.length ? true : undefined;
      },
      20_000,
      'the feed to catch up',
    );
    expect(read).toEqual([...all].reverse());

    // A new change: not in the feed while it is younger than the delay, then exactly once.
    const created = await t.call('POST', '/api/v1/segments', {
      token: t.adminToken,
      body: { id: 'seg-fed', name: 'Fed' },
    });
    expect(created.status).toBe(201);
    const young = await feed(`?after=${cursor}`);
    expect(young).toEqual({ items: [], cursor });
    const next = await waitFor(
      async () => {
        const page = await feed(`?after=${cursor}`);
        return page.items.length > 0 ? page : undefined;
      },
      20_000,
      'the new event',
    );
    expect(next.items.map((e) => [e.route, e.target, e.sandbox])).toEqual([
      ['/api/v1/segments', 'seg-fed', 'prod'],
    ]);
    expect((await feed(`?after=${next.cursor}`)).items).toEqual([]);

    // Another sandbox: its changes are its own, and only an admin reads every sandbox's.
    await t.call('POST', '/api/v1/sandboxes', { token: t.adminToken, body: { name: 'audit-other' } });
    const other = await t.call('POST', '/api/v1/tokens', {
      token: t.adminToken,
      body: {
        name: 'other auditor',
        sandbox: 'audit-other',
        permissions: ['Manage Tokens', 'Manage Segments'],
      },
    });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    const otherToken = other.body.token as string;
    await t.call('POST', '/api/v1/segments', {
      token: otherToken,
      body: { id: 'seg-elsewhere', name: 'Elsewhere' },
    });
    const everywhere = await waitFor(
      async () => {
        const page = await feed(`?allSandboxes=true&after=${next.cursor}`);
        return page.items.some((e) => e.sandbox === 'audit-other') ? page : undefined;
      },
      20_000,
      'the other sandbox in the feed',
    );
    expect(everywhere.items.map((e) => `${e.sandbox} ${e.method} ${e.route}`)).toEqual([
      'prod POST /api/v1/sandboxes',
      'prod POST /api/v1/tokens',
      'audit-other POST /api/v1/segments',
    ]);
    expect((await feed(`?after=${next.cursor}`)).items.map((e) => e.sandbox)).toEqual(['prod', 'prod']);
    expect((await feed('', otherToken)).items.map((e) => e.target)).toEqual(['seg-elsewhere']);
    const newest = (await events('?allSandboxes=true&limit=1')).items[0]!;
    expect(newest).toMatchObject({ sandbox: 'audit-other', target: 'seg-elsewhere' });

    const notAdmin = await t.call('GET', '/api/v1/audit-events/feed?allSandboxes=true', {
      token: otherToken,
    });
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.body).toMatchObject({ error: { code: 'forbidden' } });
    expect(
      (await t.call('GET', '/api/v1/audit-events?allSandboxes=true', { token: otherToken })).status,
    ).toBe(403);
    const forged = await t.call('GET', '/api/v1/audit-events/feed?after=bm90LWEtY3Vyc29y', {
      token: t.adminToken,
    });
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ error: { details: [{ path: 'query.after' }] } });
  });
});
