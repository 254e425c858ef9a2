import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, type Permission } from '../../src/server/permissions.ts';
import type { Route } from '../../src/server/route-def.ts';
import { buildRoutes } from '../../src/server/routes.ts';
import { DEMO, profile, startTestService, type TestService, type Json } from './harness.ts';

// Every route of the route table × (no token → 401, token lacking a required permission → 403, another sandbox → 404,
// valid → its success status). A route without a fixture fails the test, so new routes cannot go untested.

let t: TestService;
let seq = 0;
const uniq = (p: string) => `${p}${++seq}`;

interface Ctx {
  destinationId: string;
  dataflowId: string;
  segmentId: string;
}
let ctx: Ctx;

type Req = { path: string; body?: unknown; raw?: string; headers?: Record<string, string> };
type Fixture = (c: Ctx) => Promise<Req>;

const admin = () => t.adminToken;

async function freshDestination(): Promise<string> {
  const r = await t.call('POST', '/api/v1/destinations', {
    token: admin(),
    body: { name: uniq('Scratch '), accountId: DEMO.accountId, credentials: DEMO.credentials },
  });
  expect(r.status).toBe(201);
  return r.body.id as string;
}

async function freshDataflow(c: Ctx): Promise<string> {
  const r = await t.call('POST', '/api/v1/dataflows', { token: admin(), body: dataflowBody(c) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

const dataflowBody = (c: Ctx) => ({
  name: uniq('Flow '),
  destinationId: c.destinationId,
  mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
  audiences: [{ segmentId: c.segmentId }],
});

const FIXTURES: Record<string, Fixture> = {
  'GET /api/v1/me': async () => ({ path: '/api/v1/me' }),
  'GET /api/v1/settings': async () => ({ path: '/api/v1/settings' }),
  'GET /api/v1/sandboxes': async () => ({ path: '/api/v1/sandboxes' }),
  'POST /api/v1/sandboxes': async () => ({ path: '/api/v1/sandboxes', body: { name: uniq('sbx') } }),
  'GET /api/v1/tokens': async () => ({ path: '/api/v1/tokens' }),
  'POST /api/v1/tokens': async () => ({
    path: '/api/v1/tokens',
    body: { name: uniq('tok'), permissions: ['View Segments'] },
  }),
  'DELETE /api/v1/tokens/:id': async () => {
    const r = await t.call('POST', '/api/v1/tokens', {
      token: admin(),
      body: { name: uniq('tok'), permissions: ['View Segments'] },
    });
    return { path: `/api/v1/tokens/${r.body.id}` };
  },
  'GET /api/v1/audit-events': async () => ({ path: '/api/v1/audit-events?limit=5' }),
  'GET /api/v1/audit-events/feed': async () => ({ path: '/api/v1/audit-events/feed?limit=5' }),
  'GET /api/v1/destinations': async () => ({ path: '/api/v1/destinations' }),
  'POST /api/v1/destinations': async () => ({
    path: '/api/v1/destinations',
    body: { name: uniq('Dest '), accountId: DEMO.accountId, credentials: DEMO.credentials },
  }),
  'GET /api/v1/destinations/:id': async (c) => ({ path: `/api/v1/destinations/${c.destinationId}` }),
  'PATCH /api/v1/destinations/:id': async (c) => ({
    path: `/api/v1/destinations/${c.destinationId}`,
    body: { description: 'Updated' },
  }),
  'DELETE /api/v1/destinations/:id': async () => ({
    path: `/api/v1/destinations/${await freshDestination()}`,
  }),
  'POST /api/v1/destinations/:id/verify': async (c) => ({
    path: `/api/v1/destinations/${c.destinationId}/verify`,
  }),
  'POST /api/v1/destinations/:id/login': async () => ({
    path: `/api/v1/destinations/${await freshDestination()}/login`,
    body: { consumerKey: DEMO.credentials.consumerKey, consumerSecret: DEMO.credentials.consumerSecret },
  }),
  'POST /api/v1/destinations/:id/login/complete': async () => {
    const id = await freshDestination();
    const started = await t.call('POST', `/api/v1/destinations/${id}/login`, {
      token: admin(),
      body: { consumerKey: DEMO.credentials.consumerKey, consumerSecret: DEMO.credentials.consumerSecret },
    });
    expect(started.status).toBe(200);
    const pin = t.emulator.admin.authorize(started.body.requestToken as string);
    return { path: `/api/v1/destinations/${id}/login/complete`, body: { pin } };
  },
  'GET /api/v1/segments': async () => ({ path: '/api/v1/segments' }),
  'POST /api/v1/segments': async () => ({
    path: '/api/v1/segments',
    body: { id: uniq('seg-'), name: 'Weekend Shoppers' },
  }),
  'GET /api/v1/dataflows': async () => ({ path: '/api/v1/dataflows' }),
  'POST /api/v1/dataflows': async (c) => ({ path: '/api/v1/dataflows', body: dataflowBody(c) }),
  'GET /api/v1/dataflows/:id': async (c) => ({ path: `/api/v1/dataflows/${c.dataflowId}` }),
  'PATCH /api/v1/dataflows/:id': async (c) => ({
    path: `/api/v1/dataflows/${c.dataflowId}`,
    body: { maxBatchAgeSeconds: 120 },
  }),
  'DELETE /api/v1/dataflows/:id': async (c) => ({ path: `/api/v1/dataflows/${await freshDataflow(c)}` }),
  'GET /api/v1/dataflows/:id/plan': async (c) => ({ path: `/api/v1/dataflows/${c.dataflowId}/plan` }),
  'GET /api/v1/dataflows/:id/runs': async (c) => ({ path: `/api/v1/dataflows/${c.dataflowId}/runs` }),
  'POST /api/v1/dataflows/:id/flush': async (c) => ({ path: `/api/v1/dataflows/${c.dataflowId}/flush` }),
  'GET /api/v1/monitoring': async () => ({ path: '/api/v1/monitoring?range=7d' }),
  'GET /api/v1/audiences': async () => ({ path: '/api/v1/audiences' }),
  'GET /api/v1/alerts': async () => ({ path: '/api/v1/alerts?status=firing' }),
  'POST /api/v1/alerts/test': async () => ({ path: '/api/v1/alerts/test' }),
  'POST /api/v1/alerts/test-pagerduty': async () => ({ path: '/api/v1/alerts/test-pagerduty' }),
  'POST /api/v1/alerts/test-email': async () => ({ path: '/api/v1/alerts/test-email' }),
  'GET /api/v1/alerts/silences': async () => ({ path: '/api/v1/alerts/silences?expired=true' }),
  'POST /api/v1/alerts/silences': async (c) => ({
    path: '/api/v1/alerts/silences',
    body: { dataflowId: c.dataflowId, durationMinutes: 60, comment: 'planned maintenance' },
  }),
  'POST /api/v1/alerts/:id/acknowledge': async (c) => {
    // A firing alert of the sandbox, as the alert runner stores one.
    const alertId = uniq('alr_route');
    const sandbox = (await t.service.store.sandboxes.getByName('prod'))!;
    const alert = {
      id: alertId,
      alertId,
      status: 'firing',
      type: 'dataflow_paused',
      severity: 'critical',
      sandbox: 'prod',
      dataflowId: c.dataflowId,
      dataflowName: 'Flow',
      destinationId: c.destinationId,
      message: 'paused',
      text: '[CRITICAL] paused',
      firedAt: new Date().toISOString(),
      details: {},
    };
    await t.service.store.db
      .insertInto('alert_states')
      .values({
        id: alertId,
        key: `${alertId}:paused`,
        sandbox_id: sandbox.id,
        dataflow_id: c.dataflowId,
        type: alert.type,
        alert: JSON.stringify(alert),
        urls: '[]',
        fired_at: Date.now(),
        resolved_at: null,
        notified: 1,
        last_notified_at: null,
        acknowledged_at: null,
        acknowledged_by: null,
      })
      .execute();
    return { path: `/api/v1/alerts/${alertId}/acknowledge` };
  },
  'DELETE /api/v1/alerts/silences/:id': async () => {
    const r = await t.call('POST', '/api/v1/alerts/silences', {
      token: admin(),
      body: { durationMinutes: 30, comment: 'scratch' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return { path: `/api/v1/alerts/silences/${r.body.id}` };
  },
  'POST /api/v1/destinations/:id/test-alert': async () => {
    // A destination with an alert webhook (the service itself, on loopback: delivered or not, the answer is 200).
    const r = await t.call('POST', '/api/v1/destinations', {
      token: admin(),
      body: {
        name: uniq('Alerted '),
        accountId: DEMO.accountId,
        credentials: DEMO.credentials,
        alertWebhookUrl: `${t.service.url}/healthz`,
      },
    });
    return { path: `/api/v1/destinations/${r.body.id}/test-alert` };
  },
  'POST /api/v1/destinations/:id/test-email': async () => {
    // A destination with alert email recipients (the SMTP server is a closed port: not delivered, still 200).
    const r = await t.call('POST', '/api/v1/destinations', {
      token: admin(),
      body: { name: uniq('Mailed '), accountId: DEMO.accountId, alertEmailTo: ['crm-owner@example.com'] },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return { path: `/api/v1/destinations/${r.body.id}/test-email` };
  },
  'POST /api/v1/destinations/:id/test-pagerduty': async () => {
    // A destination with its own PagerDuty key (the Events API is a closed port: not delivered, still 200).
    const r = await t.call('POST', '/api/v1/destinations', {
      token: admin(),
      body: {
        name: uniq('Paged '),
        accountId: DEMO.accountId,
        alertPagerDutyRoutingKey: 'DestinationKey0123456789abcdefAB',
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return { path: `/api/v1/destinations/${r.body.id}/test-pagerduty` };
  },
  'GET /api/v1/dead-letters': async () => ({ path: '/api/v1/dead-letters' }),
  'POST /api/v1/dead-letters/replay': async (c) => ({
    path: '/api/v1/dead-letters/replay',
    body: { dataflowId: c.dataflowId },
  }),
  'POST /api/v1/ingest/profiles': async (c) => ({
    path: '/api/v1/ingest/profiles',
    body: profile(`${uniq('buyer')}@example.com`, { [c.segmentId]: 'realized' }),
  }),
  'POST /api/v1/privacy/erasures': async () => ({
    path: '/api/v1/privacy/erasures',
    body: { identities: [{ namespace: 'ECID', id: uniq('ecid-') }] },
  }),
  'PATCH /api/v1/segments/:id': async (c) => ({
    path: `/api/v1/segments/${c.segmentId}`,
    body: { description: uniq('described ') },
  }),
  'DELETE /api/v1/segments/:id': async () => {
    // A segment no dataflow activates: the valid call deletes it.
    const id = uniq('seg-scratch-');
    const r = await t.call('POST', '/api/v1/segments', { token: admin(), body: { id, name: 'Scratch' } });
    expect(r.status).toBe(201);
    return { path: `/api/v1/segments/${id}` };
  },
  'POST /api/v1/audiences/:id/activate-now': async (c) => {
    // A fresh audience each time: the valid call may then run, once.
    const dataflowId = await freshDataflow(c);
    const r = await t.call('GET', `/api/v1/audiences?dataflowId=${dataflowId}`, { token: admin() });
    return { path: `/api/v1/audiences/${r.body.items[0].id as string}/activate-now` };
  },
  'GET /api/v1/profile-keys': async () => ({ path: '/api/v1/profile-keys' }),
  // Setting what is already set changes nothing, so it is allowed even once the sandbox holds profiles.
  'PATCH /api/v1/profile-keys': async () => ({ path: '/api/v1/profile-keys', body: { namespaces: null } }),
  'POST /api/v1/profile-keys/rekey/finish': async () => {
    // A re-keying to end: the sandbox holds a profile, and its key namespaces change (away from the default).
    const ingest = await t.call('POST', '/api/v1/ingest/profiles', {
      token: admin(),
      body: profile('rekey@example.com', { 'seg-main': 'realized' }, 'ecid-rekey'),
    });
    expect(ingest.status).toBe(202);
    const keys = await t.call('GET', '/api/v1/profile-keys', { token: admin() });
    if (keys.body.rekey === null) {
      const change = await t.call('PATCH', '/api/v1/profile-keys', {
        token: admin(),
        body: { namespaces: keys.body.isDefault ? ['CRMID', 'ECID'] : null, rekey: true },
      });
      expect(change.status, JSON.stringify(change.body)).toBe(200);
    }
    return { path: '/api/v1/profile-keys/rekey/finish', body: { removeRemaining: false } };
  },
  'GET /api/v1/data-usage-policies': async () => ({ path: '/api/v1/data-usage-policies' }),
  'PUT /api/v1/data-usage-policies': async () => ({
    path: '/api/v1/data-usage-policies',
    body: { policies: [] },
  }),
  'GET /api/v1/field-labels': async () => ({ path: '/api/v1/field-labels' }),
  'PUT /api/v1/field-labels': async () => ({ path: '/api/v1/field-labels', body: { fields: [] } }),
  'GET /api/v1/consent-policies': async () => ({ path: '/api/v1/consent-policies' }),
  'GET /api/v1/consent-policies/preview': async (c) => ({
    path: `/api/v1/consent-policies/preview?destinationId=${c.destinationId}&segmentIds=${c.segmentId}`,
  }),
  'PUT /api/v1/consent-policies': async () => ({ path: '/api/v1/consent-policies', body: { policies: [] } }),
  'GET /api/v1/imports': async () => ({ path: '/api/v1/imports?limit=5' }),
  'GET /api/v1/imports/:key': async (c) => {
    const key = uniq('route-table-import-');
    const r = await t.call('POST', '/api/v1/imports', {
      token: admin(),
      raw: `profile_key,email,segment:${c.segmentId}\n${uniq('crm-')},${uniq('buyer')}@example.com,1\n`,
      headers: { 'content-type': 'text/csv', 'idempotency-key': key },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return { path: `/api/v1/imports/${key}` };
  },
  'POST /api/v1/imports/url': async (c) => ({
    path: '/api/v1/imports/url',
    body: { url: `${fileOrigin}/${uniq('export-')}.csv`, mode: 'mirror', segmentId: c.segmentId },
  }),
  'POST /api/v1/imports': async (c) => ({
    path: `/api/v1/imports?mode=mirror&segmentId=${c.segmentId}`,
    raw: `profile_key,email,segment:${c.segmentId}\n${uniq('crm-')},${uniq('buyer')}@example.com,1\n`,
    headers: { 'content-type': 'text/csv' },
  }),
};

const key = (r: Route) => `${r.method} ${r.path}`;
const tokensLacking = new Map<Permission, string>();
let otherSandboxToken: string;

async function tokenLacking(p: Permission): Promise<string> {
  const cached = tokensLacking.get(p);
  if (cached) return cached;
  const r = await t.call('POST', '/api/v1/tokens', {
    token: admin(),
    body: { name: `lacks ${p}`, permissions: PERMISSIONS.filter((x) => x !== p) },
  });
  expect(r.status).toBe(201);
  tokensLacking.set(p, r.body.token as string);
  return r.body.token as string;
}

/** Serves a one-row CSV at any path, for URL imports (another ETag each time: never the same object). */
let files: Server;
let fileOrigin = '';

beforeAll(async () => {
  let served = 0;
  files = createServer((req, res) => {
    served += 1;
    res
      .writeHead(200, { 'content-type': 'text/csv', etag: `"${served}"` })
      .end(`profile_key,email,segment:seg-main\ncrm-url-${served},url${served}@example.com,1\n`);
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  fileOrigin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  // An installation-wide alert webhook nobody answers at: delivered or not, a test of it answers 200.
  t = await startTestService({
    TCA_IMPORT_URL_ALLOW: fileOrigin,
    TCA_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/unreachable',
    TCA_ALERT_PAGERDUTY_ROUTING_KEY: 'RouteTableKey0123456789abcdefABC',
    TCA_ALERT_PAGERDUTY_URL: 'http://127.0.0.1:9/enqueue',
    TCA_ALERT_EMAIL_TO: 'oncall@example.com',
    TCA_ALERT_EMAIL_FROM: 'tca@example.com',
    TCA_SMTP_URL: 'smtp://127.0.0.1:9',
  });
  const segmentId = 'seg-main';
  expect(
    (
      await t.call('POST', '/api/v1/segments', {
        token: admin(),
        body: { id: segmentId, name: 'Loyal Customers' },
      })
    ).status,
  ).toBe(201);
  const destinationId = await freshDestination();
  ctx = { destinationId, segmentId, dataflowId: '' };
  ctx.dataflowId = await freshDataflow(ctx);
  expect(
    (await t.call('POST', '/api/v1/sandboxes', { token: admin(), body: { name: 'other' } })).status,
  ).toBe(201);
  const other = await t.call('POST', '/api/v1/tokens', {
    token: admin(),
    body: { name: 'other admin', permissions: [...PERMISSIONS], sandbox: 'other' },
  });
  expect(other.status).toBe(201);
  expect(other.body.sandbox).toBe('other');
  otherSandboxToken = other.body.token as string;
});

afterAll(async () => {
  await t?.close();
  await new Promise((r) => files?.close(r));
});

describe('route table', () => {
  it('has a fixture for every route', () => {
    const missing = t.service.app.routes.map(key).filter((k) => !(k in FIXTURES));
    expect(missing).toEqual([]);
  });

  it('lists every route in docs/api.md', async () => {
    const doc = await readFile(resolve(import.meta.dirname, '..', '..', 'docs', 'api.md'), 'utf8');
    for (const r of t.service.app.routes) expect(doc, key(r)).toContain(`| ${r.method} | \`${r.path}\` |`);
  });

  it('documents every route in the OpenAPI document', async () => {
    const doc = await t.call('GET', '/api/v1/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    for (const r of t.service.app.routes) {
      const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
      expect(doc.body.paths[path]?.[r.method.toLowerCase()], key(r)).toBeDefined();
      expect(doc.body.paths[path][r.method.toLowerCase()]['x-permissions']).toEqual([...r.permissions]);
    }
    // The headers a route reads are parameters, as its query is.
    const importParams = doc.body.paths['/api/v1/imports'].post.parameters as Array<{
      name: string;
      in: string;
    }>;
    expect(importParams.filter((p) => p.in === 'header').map((p) => p.name)).toEqual([
      'Idempotency-Key',
      'Content-Disposition',
    ]);
    // Every $ref resolves to a component.
    const refs = JSON.stringify(doc.body).match(/#\/components\/schemas\/[A-Za-z0-9_]+/g) ?? [];
    for (const ref of new Set(refs))
      expect(doc.body.components.schemas[ref.split('/').pop()!], ref).toBeDefined();
  });

  it('defines every component schema: none is only a reference, and every reference leads to a definition', async () => {
    const schemas = (await t.call('GET', '/api/v1/openapi.json')).body.components.schemas as Record<
      string,
      Json
    >;
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining(['Settings', 'Error', 'Destination', 'IngestResult']),
    );
    const bare = Object.entries(schemas).filter(([, s]) => Object.keys(s).length === 1 && '$ref' in s);
    expect(bare.map(([name, s]) => `${name} → ${s.$ref}`)).toEqual([]);
    expect(schemas.Settings!.type).toBe('object');
    expect(schemas.Error!.properties).toHaveProperty('error');
  });

  it('documents the 409 and 429 answers of the routes that give them', async () => {
    const paths = (await t.call('GET', '/api/v1/openapi.json')).body.paths as Record<string, Json>;
    const expected: Array<[string, string, string, string]> = [
      ['/api/v1/destinations/{id}', 'delete', '409', 'conflict'],
      ['/api/v1/segments/{id}', 'delete', '409', 'conflict'],
      ['/api/v1/audiences/{id}/activate-now', 'post', '429', 'too_soon'],
      ['/api/v1/imports', 'post', '409', 'import_conflict'],
      ['/api/v1/profile-keys', 'patch', '409', 'profile_keys_fixed'],
      ['/api/v1/ingest/profiles', 'post', '409', 'idempotency_conflict'],
    ];
    for (const [path, method, status, code] of expected) {
      const response = paths[path]![method].responses[status];
      expect(response, `${method} ${path} ${status}`).toBeDefined();
      expect(response.description).toContain(code);
      expect(response.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    }
  });

  // The same table the server mounts (built here too so each route gets a named test case).
  const TABLE = buildRoutes({ maxIngestItems: 10_000 });

  it('the server mounts exactly this table', () => {
    expect(t.service.app.routes.map(key)).toEqual(TABLE.map(key));
  });

  it.each(TABLE.map((r) => [key(r), r] as const))('%s: 401 / 403 / 404 / 2xx', async (_name, r) => {
    const fixture = FIXTURES[key(r)]!;
    const send = async (token: string | undefined, extraHeaders: Record<string, string> = {}) => {
      const req = await fixture(ctx);
      return t.call(r.method, req.path, {
        token,
        ...(req.body !== undefined ? { body: req.body } : {}),
        ...(req.raw !== undefined ? { raw: req.raw } : {}),
        headers: { ...(req.headers ?? {}), ...extraHeaders },
      });
    };
    const envelope = (res: { body: Json }) => {
      expect(res.body.error.code).toEqual(expect.any(String));
      expect(res.body.error.message).toEqual(expect.any(String));
      expect(Array.isArray(res.body.error.details)).toBe(true);
    };

    const none = await send(undefined);
    expect(none.status, `${key(r)} without a token`).toBe(401);
    envelope(none);
    const bad = await send('tca_not-a-real-token');
    expect(bad.status, `${key(r)} with an unknown token`).toBe(401);

    for (const p of r.permissions) {
      const res = await send(await tokenLacking(p));
      expect(res.status, `${key(r)} lacking ${p}`).toBe(403);
      envelope(res);
    }

    const selected = await send(admin(), { 'x-sandbox': 'other' });
    expect(selected.status, `${key(r)} selecting another sandbox`).toBe(404);
    envelope(selected);
    if (r.path.includes(':id')) {
      const res = await send(otherSandboxToken);
      expect(res.status, `${key(r)} with a token of another sandbox`).toBe(404);
      envelope(res);
    }

    const ok = await send(admin());
    expect(ok.status, `${key(r)} valid: ${JSON.stringify(ok.body)}`).toBe(r.status);
  });
});
