import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, profile, startTestService, waitFor, type TestService } from './harness.ts';

let t: TestService;
let destinationId: string;
const SEG = 'seg-loyal';
const SEG2 = 'seg-cart';

/** Creates a dataflow to the test destination, mapping Email, with `audiences`. */
const createDataflow = (name: string, audiences: unknown[]) =>
  t.call('POST', '/api/v1/dataflows', {
    token: t.adminToken,
    body: {
      name,
      destinationId,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences,
    },
  });

const ledgerRows = async () =>
  Number(
    (
      await t.service.store.db
        .selectFrom('engine_ledger')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

beforeAll(async () => {
  t = await startTestService({ TCA_MAX_BODY_BYTES: '65536', TCA_MAX_INGEST_ITEMS: '50' });
  const token = t.adminToken;
  await t.call('POST', '/api/v1/segments', { token, body: { id: SEG, name: 'Loyal Customers' } });
  await t.call('POST', '/api/v1/segments', { token, body: { id: SEG2, name: 'Cart Abandoners' } });
  await t.call('POST', '/api/v1/segments', {
    token,
    body: { id: 'seg-aam', namespace: 'aam', name: 'From Audience Manager' },
  });
  const d = await t.call('POST', '/api/v1/destinations', {
    token,
    body: {
      name: 'Acme US',
      accountId: DEMO.accountId,
      credentials: DEMO.credentials,
      alertWebhookUrl: null,
    },
  });
  destinationId = d.body.id;
  const df = await t.call('POST', '/api/v1/dataflows', {
    token,
    body: {
      name: 'CRM to X',
      destinationId,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [{ segmentId: SEG }, { segmentId: SEG2, mappingName: 'Cart Abandoners 30d' }],
    },
  });
  expect(df.status, JSON.stringify(df.body)).toBe(201);
});

afterAll(async () => {
  await t?.close();
});

describe('errors', () => {
  it('answers unknown routes with 404 and the envelope', async () => {
    const r = await t.call('GET', '/api/v1/nothing-here', { token: t.adminToken });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('route_not_found');
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const r = await t.call('PUT', '/api/v1/destinations', { token: t.adminToken, body: {} });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, POST');
    expect(r.body.error.code).toBe('method_not_allowed');
  });

  it('refuses an oversize body with 413 before reading it all', async () => {
    const big = 'x'.repeat(70_000);
    const r = await t.call('POST', '/api/v1/segments', { token: t.adminToken, body: { id: 's', name: big } });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('payload_too_large');
  });

  it('refuses too many ingest items with 413', async () => {
    const items = Array.from({ length: 51 }, (_, i) => profile(`u${i}@example.com`, { [SEG]: 'realized' }));
    const r = await t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body: items });
    expect(r.status).toBe(413);
    const nd = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      raw: items.map((i) => JSON.stringify(i)).join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(nd.status).toBe(413);
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const r = await t.call('POST', '/api/v1/dataflows', {
      token: t.adminToken,
      raw: '{"name":',
      headers: { 'content-type': 'application/json' },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_json');
  });

  it('lists every dataflow problem at once', async () => {
    const r = await t.call('POST', '/api/v1/dataflows', {
      token: t.adminToken,
      body: {
        name: 'Bad',
        destinationId: 'dst_nope',
        mapping: [
          { sourceType: 'namespace', source: 'Email', target: 'partner_user_id', applyTransformation: false },
        ],
        audiences: [
          { segmentId: 'seg-unknown' },
          { segmentId: SEG, mappingName: 'Buyers: US/EU' },
          { segmentId: 'seg-aam' },
          { segmentId: SEG2, startDate: '2026-03-01', endDate: '2026-02-01' },
          { segmentId: 'seg-later', removeMembersAtEnd: true },
        ],
      },
    });
    expect(r.status).toBe(400);
    const paths = (r.body.error.details as Array<{ path: string }>).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'destinationId',
        'audiences[0].segmentId',
        'audiences[1].mappingName',
        'audiences[2].segmentId',
        'audiences[3].endDate',
        'audiences[4].removeMembersAtEnd',
      ]),
    );
    expect(paths.some((p) => p.startsWith('mapping[0]'))).toBe(true);
  });

  it('refuses a mapping that maps the same source to the same target twice, naming both rows, and saves nothing', async () => {
    const email = { sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true };
    const before = await t.call('GET', '/api/v1/dataflows', { token: t.adminToken });
    // Namespaces are read without case at ingest: Email and email are the same source.
    const created = await t.call('POST', '/api/v1/dataflows', {
      token: t.adminToken,
      body: {
        name: 'Twice',
        destinationId,
        mapping: [email, { ...email, source: 'email' }],
        audiences: [{ segmentId: SEG }],
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(400);
    expect(created.body.error).toMatchObject({
      code: 'validation_failed',
      details: [
        {
          path: 'mapping[1].source',
          reason:
            'maps the namespace "email" to email again: mapping[0] ("Email" → email) already does (namespace names ' +
            'match without regard to case). Remove one of the two rows',
        },
      ],
    });
    const after = await t.call('GET', '/api/v1/dataflows', { token: t.adminToken });
    expect(after.body.items).toHaveLength(before.body.items.length);

    // An update of the mapping gets the same rule; the stored mapping stays as it was.
    const flow = await createDataflow('Mapped once', [{ segmentId: SEG }]);
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);
    const crm = {
      sourceType: 'attribute',
      source: 'crm.id',
      target: 'partner_user_id',
      applyTransformation: false,
    };
    const updated = await t.call('PATCH', `/api/v1/dataflows/${flow.body.id}`, {
      token: t.adminToken,
      body: { mapping: [email, crm, { ...email }, crm] },
    });
    expect(updated.status, JSON.stringify(updated.body)).toBe(400);
    expect(updated.body.error.details).toEqual([
      {
        path: 'mapping[2].source',
        reason: expect.stringContaining('mapping[0] ("Email" → email) already does.'),
      },
      {
        path: 'mapping[3].source',
        reason: expect.stringContaining('maps the attribute "crm.id" to partner_user_id again: mapping[1]'),
      },
    ]);
    const unchanged = await t.call('GET', `/api/v1/dataflows/${flow.body.id}`, { token: t.adminToken });
    expect(unchanged.body.mapping).toEqual([email]);
    expect(unchanged.body.updatedAt).toBe(flow.body.updatedAt);
    // Attribute paths are read exactly: crm.id and crm.ID are two fields.
    const distinct = await t.call('PATCH', `/api/v1/dataflows/${flow.body.id}`, {
      token: t.adminToken,
      body: { mapping: [email, crm, { ...crm, source: 'crm.ID' }] },
    });
    expect(distinct.status, JSON.stringify(distinct.body)).toBe(200);
  });

  it('refuses dates that are not on the calendar, naming the field, and creates nothing', async () => {
    const before = await t.call('GET', '/api/v1/dataflows', { token: t.adminToken });
    const r = await createDataflow('Impossible dates', [
      // February 30th used to become March 2nd; month 13 used to end in a 500.
      { segmentId: SEG, startDate: '2027-02-30' },
      { segmentId: SEG2, startDate: '2027-13-45', endDate: '2028-00-10' },
    ]);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error.code).toBe('validation_failed');
    const paths = (r.body.error.details as Array<{ path: string }>).map((d) => d.path);
    expect(paths).toEqual(['audiences[0].startDate', 'audiences[1].startDate', 'audiences[1].endDate']);
    const after = await t.call('GET', '/api/v1/dataflows', { token: t.adminToken });
    expect(after.body.items).toHaveLength(before.body.items.length);
  });

  it('refuses fields a request does not take, saying which it may have meant, and changes nothing', async () => {
    const created = await createDataflow('Typos', [{ segmentId: SEG }]);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const r = await t.call('PATCH', `/api/v1/dataflows/${id}`, {
      token: t.adminToken,
      body: { maxBatchAgeSecond: 3600, audiences: [{ segmentId: SEG, end_date: '2030-01-01' }] },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error.details).toEqual([
      { path: 'maxBatchAgeSecond', reason: 'unknown field: did you mean "maxBatchAgeSeconds"?' },
      { path: 'audiences[0].end_date', reason: 'unknown field: did you mean "endDate"?' },
    ]);
    const after = await t.call('GET', `/api/v1/dataflows/${id}`, { token: t.adminToken });
    expect(after.body.maxBatchAgeSeconds).toBe(created.body.maxBatchAgeSeconds);
    expect(after.body.updatedAt).toBe(created.body.updatedAt);
  });

  it('refuses query parameters a route does not take, saying which it may have meant', async () => {
    const filtered = await t.call('GET', '/api/v1/alerts?stauts=firing', { token: t.adminToken });
    expect(filtered.status, JSON.stringify(filtered.body)).toBe(400);
    expect(filtered.body.error.details).toEqual([
      { path: 'query.stauts', reason: 'unknown parameter: did you mean "status"?' },
    ]);
    const created = await createDataflow('Query typos', [{ segmentId: SEG }]);
    const id = created.body.id as string;
    // A route that takes no parameters: `force` would change nothing, so the delete is refused, not done.
    const removed = await t.call('DELETE', `/api/v1/dataflows/${id}?force=true`, { token: t.adminToken });
    expect(removed.status, JSON.stringify(removed.body)).toBe(400);
    expect(removed.body.error.details).toEqual([
      { path: 'query.force', reason: 'unknown parameter: this route takes no parameters' },
    ]);
    expect((await t.call('GET', `/api/v1/dataflows/${id}`, { token: t.adminToken })).status).toBe(200);
    expect((await t.call('GET', '/api/v1/alerts?status=firing', { token: t.adminToken })).status).toBe(200);
  });

  it('keeps the settings a segment listed again in a PATCH leaves out, and clears only those sent as null', async () => {
    const created = await createDataflow('Kept settings', [
      {
        segmentId: SEG,
        mappingName: 'Loyal EU',
        startDate: '2099-01-01',
        endDate: '2099-02-01',
        ttlDays: 30,
        removeMembersAtEnd: true,
      },
    ]);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const patch = (audiences: unknown[]) =>
      t.call('PATCH', `/api/v1/dataflows/${id}`, { token: t.adminToken, body: { audiences } });
    const settings = async () => {
      const a = (await t.call('GET', `/api/v1/dataflows/${id}`, { token: t.adminToken })).body.audiences[0];
      return [a.mappingName, a.startDate, a.endDate, a.ttlDays, a.removeMembersAtEnd];
    };
    const stored = ['Loyal EU', '2099-01-01', '2099-02-01', 30, true];

    // Adding a segment while listing the first by its id alone changes nothing of the first.
    const added = await patch([{ segmentId: SEG }, { segmentId: SEG2 }]);
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(await settings()).toEqual(stored);

    // Checked against what the audience will have: a start after the stored end, an end cleared under the removal.
    const late = await patch([{ segmentId: SEG, startDate: '2099-03-01' }, { segmentId: SEG2 }]);
    expect(late.status).toBe(400);
    expect(late.body.error.details).toEqual([
      { path: 'audiences[0].startDate', reason: expect.stringContaining('2099-02-01') },
    ]);
    const cleared = await patch([{ segmentId: SEG, endDate: null }, { segmentId: SEG2 }]);
    expect(cleared.status).toBe(400);
    expect(cleared.body.error.details).toEqual([
      { path: 'audiences[0].endDate', reason: expect.stringContaining('removeMembersAtEnd') },
    ]);
    expect(await settings()).toEqual(stored);

    const off = await patch([
      { segmentId: SEG, endDate: null, ttlDays: null, removeMembersAtEnd: false },
      { segmentId: SEG2 },
    ]);
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect(await settings()).toEqual(['Loyal EU', '2099-01-01', null, null, false]);
  });

  it('refuses an end date before the start the audience gets when startDate is left out, and changes nothing', async () => {
    const create = (name: string, audience: Record<string, string>) =>
      createDataflow(name, [{ segmentId: SEG, ...audience }]);
    // POST: startDate defaults to today, so an end date in the past ends the audience before it starts.
    const before = await t.call('GET', '/api/v1/dataflows', { token: t.adminToken });
    const past = await create('Ended already', { endDate: '2020-01-01' });
    expect(past.status, JSON.stringify(past.body)).toBe(400);
    expect(past.body.error.details).toEqual([
      { path: 'audiences[0].endDate', reason: expect.stringContaining('must not be before startDate') },
    ]);
    const after = await t.call('GET', '/api/v1/dataflows', { token: t.adminToken });
    expect(after.body.items).toHaveLength(before.body.items.length);

    // PATCH: an audience sent without startDate keeps its stored start, and the end date is checked against it.
    const created = await create('Starts later', { startDate: '2099-01-10' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const patched = await t.call('PATCH', `/api/v1/dataflows/${id}`, {
      token: t.adminToken,
      body: { audiences: [{ segmentId: SEG, endDate: '2099-01-05' }] },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(400);
    expect(patched.body.error.details).toEqual([
      { path: 'audiences[0].endDate', reason: expect.stringContaining('2099-01-10') },
    ]);
    const kept = await t.call('GET', `/api/v1/dataflows/${id}`, { token: t.adminToken });
    expect(kept.body.audiences[0]).toMatchObject({ startDate: '2099-01-10', endDate: null });
    // An end date on or after the stored start is taken.
    const ok = await t.call('PATCH', `/api/v1/dataflows/${id}`, {
      token: t.adminToken,
      body: { audiences: [{ segmentId: SEG, endDate: '2099-01-10' }] },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.audiences[0]).toMatchObject({ startDate: '2099-01-10', endDate: '2099-01-10' });
    expect((await t.call('DELETE', `/api/v1/dataflows/${id}`, { token: t.adminToken })).status).toBe(204);
  });

  it('lists schema problems of several fields at once', async () => {
    const r = await t.call('POST', '/api/v1/dataflows', {
      token: t.adminToken,
      body: {
        name: '',
        destinationId: 5,
        mapping: [{ sourceType: 'x', source: '', target: 'fax' }],
        audiences: [],
      },
    });
    expect(r.status).toBe(400);
    const paths = (r.body.error.details as Array<{ path: string }>).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'destinationId',
        'mapping[0].sourceType',
        'mapping[0].target',
        'audiences',
      ]),
    );
  });
});

describe('destinations', () => {
  it('never returns credentials', async () => {
    const list = await t.call('GET', '/api/v1/destinations', { token: t.adminToken });
    const one = await t.call('GET', `/api/v1/destinations/${destinationId}`, { token: t.adminToken });
    for (const secret of Object.values(DEMO.credentials)) {
      expect(JSON.stringify(list.body)).not.toContain(secret);
      expect(JSON.stringify(one.body)).not.toContain(secret);
    }
    expect(one.body.hasCredentials).toBe(true);
  });

  it('runs the preflight against the emulator and records the status', async () => {
    const r = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, { token: t.adminToken });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    expect(r.body.checks.map((c: { id: string }) => c.id)).toContain('permissions');
    const d = await t.call('GET', `/api/v1/destinations/${destinationId}`, { token: t.adminToken });
    expect(d.body.status).toBe('active');
  });

  it('reports a failing preflight with what to fix', async () => {
    const d = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: {
        name: 'Wrong keys',
        accountId: DEMO.accountId,
        credentials: { ...DEMO.credentials, accessTokenSecret: 'wrong' },
      },
    });
    const r = await t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, { token: t.adminToken });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(r.body.checks[0]).toMatchObject({ id: 'credentials', status: 'fail' });
    const after = await t.call('GET', `/api/v1/destinations/${d.body.id}`, { token: t.adminToken });
    expect(after.body.status).toBe('unauthorized');
  });

  it('refuses names that break X naming rules, naming the field and suggesting a name once', async () => {
    const r = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: { name: 'US, European 5h0pP3rs', accountId: DEMO.accountId },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].path).toBe('name');
    const reason = r.body.error.details[0].reason as string;
    expect(reason).toMatch(
      /^The destination name contains characters X does not accept: "," at position 2\./,
    );
    expect(reason).toMatch(/Suggestion: "US European 5h0pP3rs"\.$/);
    expect(reason.split('US European 5h0pP3rs')).toHaveLength(2);
    expect(reason).not.toContain('audience name');
  });

  it('refuses alert email recipients on a service that sends no email, naming the settings, and changes nothing', async () => {
    const r = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { name: 'Renamed', alertEmailTo: ['crm-owner@example.com'] },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].path).toBe('alertEmailTo');
    expect(r.body.error.details[0].reason).toContain('TCA_ALERT_EMAIL_FROM and TCA_SMTP_URL');
    const d = await t.call('GET', `/api/v1/destinations/${destinationId}`, { token: t.adminToken });
    expect(d.body).toMatchObject({ name: 'Acme US', alertEmailTo: [] });
  });

  it('refuses URL imports on a service that lists no origin to read, naming the setting', async () => {
    const r = await t.call('POST', '/api/v1/imports/url', {
      token: t.adminToken,
      body: { url: 'https://exports.s3.amazonaws.com/vip.csv?X-Amz-Signature=secret' },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0]).toMatchObject({ path: 'url' });
    expect(r.body.error.details[0].reason).toContain('TCA_IMPORT_URL_ALLOW');
    expect(JSON.stringify(r.body)).not.toContain('secret');
  });

  it('completes the PIN login and stores working credentials', async () => {
    const d = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: { name: 'Login flow', accountId: DEMO.accountId },
    });
    const start = await t.call('POST', `/api/v1/destinations/${d.body.id}/login`, {
      token: t.adminToken,
      body: { consumerKey: DEMO.credentials.consumerKey, consumerSecret: DEMO.credentials.consumerSecret },
    });
    expect(start.status).toBe(200);
    expect(start.body.authorizeUrl).toContain('oauth/authorize');
    const wrong = await t.call('POST', `/api/v1/destinations/${d.body.id}/login/complete`, {
      token: t.adminToken,
      body: { pin: '0000000' },
    });
    expect(wrong.status).toBe(400);
    const pin = t.emulator.admin.authorize(start.body.requestToken);
    const done = await t.call('POST', `/api/v1/destinations/${d.body.id}/login/complete`, {
      token: t.adminToken,
      body: { pin },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.status).toBe('active');
    expect(done.body.hasCredentials).toBe(true);

    // Logging in again, as an X user without access to the ads account: X issues tokens, but they would not work, so
    // the connection keeps the ones it has. Starting the login changed nothing either.
    t.emulator.admin.seed({
      apps: [],
      users: [
        {
          user_id: '900000001',
          screen_name: 'no_access',
          consumer_key: DEMO.credentials.consumerKey,
          token: '900000001-token',
          token_secret: '900000001-secret',
        },
      ],
      accounts: [],
    });
    const again = await t.call('POST', `/api/v1/destinations/${d.body.id}/login`, {
      token: t.adminToken,
      body: { consumerKey: DEMO.credentials.consumerKey, consumerSecret: DEMO.credentials.consumerSecret },
    });
    expect(again.status).toBe(200);
    const verify = () => t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, { token: t.adminToken });
    expect((await verify()).body.ok).toBe(true);
    const refused = await t.call('POST', `/api/v1/destinations/${d.body.id}/login/complete`, {
      token: t.adminToken,
      body: { pin: t.emulator.admin.authorize(again.body.requestToken, '900000001') },
    });
    expect(refused.status, JSON.stringify(refused.body)).toBe(400);
    expect(refused.body.error.details[0].path).toBe('pin');
    expect(refused.body.error.details[0].reason).toContain('nothing was saved');
    expect((await verify()).body.ok).toBe(true);
    const kept = await t.call('GET', `/api/v1/destinations/${d.body.id}`, { token: t.adminToken });
    expect(kept.body.status).toBe('active');
    // The login is over: its PIN cannot be used again.
    const twice = await t.call('POST', `/api/v1/destinations/${d.body.id}/login/complete`, {
      token: t.adminToken,
      body: { pin: '1234567' },
    });
    expect(twice.status).toBe(400);
    expect(twice.body.error.details[0].reason).toContain('no login in progress');
  });
});

describe('tokens and sandboxes', () => {
  it('revoked tokens stop working', async () => {
    const c = await t.call('POST', '/api/v1/tokens', {
      token: t.adminToken,
      body: { name: 'short-lived', permissions: ['View Segments'] },
    });
    expect((await t.call('GET', '/api/v1/segments', { token: c.body.token })).status).toBe(200);
    expect((await t.call('DELETE', `/api/v1/tokens/${c.body.id}`, { token: t.adminToken })).status).toBe(204);
    expect((await t.call('GET', '/api/v1/segments', { token: c.body.token })).status).toBe(401);
  });

  it('a token cannot grant what it does not hold', async () => {
    const c = await t.call('POST', '/api/v1/tokens', {
      token: t.adminToken,
      body: { name: 'token admin', permissions: ['Manage Tokens'] },
    });
    const r = await t.call('POST', '/api/v1/tokens', {
      token: c.body.token,
      body: { name: 'escalate', permissions: ['Manage Destinations'] },
    });
    expect(r.status).toBe(403);
    const other = await t.call('POST', '/api/v1/tokens', {
      token: c.body.token,
      body: { name: 'x', permissions: ['Manage Tokens'], sandbox: 'prod2' },
    });
    expect(other.status).toBe(403);
  });

  it('stores tokens hashed', async () => {
    const rows = await t.service.store.db.selectFrom('api_tokens').select(['token_hash']).execute();
    for (const r of rows) expect(r.token_hash).not.toContain(t.adminToken);
    expect(rows.some((r) => r.token_hash === t.adminToken)).toBe(false);
  });
});

describe('ingest', () => {
  it('accepts one object, an array, and NDJSON', async () => {
    const one = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('one@example.com', { [SEG]: 'realized' }, 'e1'),
    });
    expect(one.status).toBe(202);
    expect(one.body).toMatchObject({ received: 1, accepted: 1, duplicate: false, rejected: [] });
    const arr = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: [
        profile('two@example.com', { [SEG]: 'realized' }, 'e2'),
        profile('three@example.com', { [SEG2]: 'existing' }, 'e3'),
      ],
    });
    expect(arr.status).toBe(202);
    expect(arr.body.accepted).toBe(2);
    const nd = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      raw: [
        profile('four@example.com', { [SEG]: 'realized' }, 'e4'),
        profile('five@example.com', { [SEG]: 'exited' }, 'e5'),
      ]
        .map((p) => JSON.stringify(p))
        .join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(nd.status).toBe(202);
    expect(nd.body.accepted).toBe(2);
  });

  it('rejects bad items one by one with index, path and reason; good neighbours go through', async () => {
    const r = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      raw: [
        JSON.stringify(profile('six@example.com', { [SEG]: 'realized' }, 'e6')),
        '',
        JSON.stringify({ segmentMembership: { ups: { [SEG]: { status: 'exiting' } } }, identityMap: {} }),
        '{ not json',
        JSON.stringify(profile('seven@example.com', { [SEG]: 'realized' }, 'e7')),
      ].join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(2);
    expect(r.body.rejected.map((x: { index: number }) => x.index)).toEqual([1, 2]);
    // NDJSON items also name their line: a blank line is no item, so index and line differ.
    expect(r.body.rejected).toEqual([
      { index: 1, line: 3, path: `$.segmentMembership.ups["${SEG}"].status`, reason: expect.any(String) },
      { index: 2, line: 4, path: '$', reason: 'not valid JSON' },
    ]);
    const none = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      raw: '\n{ "email": "jane@example.com",\n',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(none.status).toBe(400);
    expect(none.body.error.details).toEqual([{ path: '[0]', reason: 'line 2: not valid JSON' }]);
  });

  it('answers 400 when every item is rejected, and writes nothing', async () => {
    const before = await ledgerRows();
    const r = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: [{ nope: 1 }, 42],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.map((d: { path: string }) => d.path.slice(0, 3))).toEqual(
      expect.arrayContaining(['[0]', '[1]']),
    );
    expect(await ledgerRows()).toBe(before);
  });

  it('answers 415 to a body of another content type, and writes nothing', async () => {
    const before = await ledgerRows();
    const r = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      raw: JSON.stringify(profile('plain@example.com', { [SEG]: 'realized' }, 'e-plain')),
      headers: { 'content-type': 'text/plain' },
    });
    expect(r.status).toBe(415);
    expect(r.body.error.code).toBe('unsupported_media_type');
    expect(r.body.error.details).toEqual([{ path: 'content-type', reason: 'unsupported: text/plain' }]);
    expect(await ledgerRows()).toBe(before);
  });

  it('takes compressed bodies; the limit holds for what they expand to, and broken or unknown ones are refused', async () => {
    const send = async (body: Buffer, encoding: string, type = 'application/x-ndjson') => {
      const res = await fetch(`${t.service.url}/api/v1/ingest/profiles`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${t.adminToken}`,
          'content-type': type,
          'content-encoding': encoding,
        },
        body: new Uint8Array(body),
      });
      return {
        status: res.status,
        body: (await res.json()) as {
          accepted?: number;
          requestId?: string;
          error?: { code: string; details: unknown[] };
        },
      };
    };
    const ndjson = (tag: string) =>
      Buffer.from(
        [1, 2, 3]
          .map((i) => JSON.stringify(profile(`${tag}${i}@example.com`, { [SEG]: 'realized' }, `${tag}${i}`)))
          .join('\n'),
      );
    const zipped = await send(gzipSync(ndjson('gz')), 'gzip');
    expect(zipped.status, JSON.stringify(zipped.body)).toBe(202);
    expect(zipped.body.accepted).toBe(3);
    expect((await send(deflateSync(ndjson('df')), 'deflate')).body.accepted).toBe(3);
    expect((await send(brotliCompressSync(ndjson('br')), 'br')).body.accepted).toBe(3);
    // Compressed or not, the same profiles are the same request.
    const plain = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      raw: ndjson('gz').toString(),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(plain.body).toMatchObject({ duplicate: true, requestId: zipped.body.requestId });

    const before = await ledgerRows();
    // 1 MB of spaces is 1 KB gzipped: over the 64 KiB limit once expanded.
    const bomb = await send(gzipSync(Buffer.alloc(1 << 20, ' ')), 'gzip');
    expect(bomb.status).toBe(413);
    expect(bomb.body.error?.code).toBe('payload_too_large');
    const broken = await send(Buffer.from('not gzip at all'), 'gzip');
    expect(broken.status).toBe(400);
    expect(broken.body.error?.details).toEqual([
      { path: 'content-encoding', reason: 'incorrect header check' },
    ]);
    const unknown = await send(ndjson('x'), 'compress');
    expect(unknown.status).toBe(415);
    expect(unknown.body.error?.details).toEqual([
      { path: 'content-encoding', reason: 'unsupported: compress' },
    ]);
    expect(await ledgerRows()).toBe(before);
  });

  it('is idempotent: the same body (or Idempotency-Key) twice changes nothing', async () => {
    const body = [
      profile('idem@example.com', { [SEG]: 'realized' }, 'e-idem'),
      profile('idem2@example.com', { [SEG2]: 'realized' }, 'e-idem2'),
    ];
    const first = await t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body });
    expect(first.body.duplicate).toBe(false);
    const rows = await ledgerRows();
    const again = await t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body });
    expect(again.status).toBe(202);
    expect(again.body.duplicate).toBe(true);
    expect(again.body.requestId).toBe(first.body.requestId);
    expect(await ledgerRows()).toBe(rows);

    const keyed = { 'idempotency-key': 'batch-77' };
    const k1 = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('k@example.com', { [SEG]: 'realized' }, 'ek'),
      headers: keyed,
    });
    const k2 = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('k@example.com', { [SEG]: 'realized' }, 'ek'),
      headers: keyed,
    });
    expect([k1.body.duplicate, k2.body.duplicate]).toEqual([false, true]);
  });

  it('refuses an Idempotency-Key sent again with another body (409), and keeps none of it', async () => {
    const keyed = { 'idempotency-key': 'reuse-1' };
    const a = profile('reuse-a@example.com', { [SEG]: 'realized' }, 'e-reuse-a');
    const first = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: a,
      headers: keyed,
    });
    expect(first.body).toMatchObject({ received: 1, accepted: 1, duplicate: false });
    const rows = await ledgerRows();

    const other = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: [
        profile('reuse-b@example.com', { [SEG]: 'realized' }, 'e-reuse-b'),
        profile('reuse-c@example.com', { [SEG]: 'realized' }, 'e-reuse-c'),
      ],
      headers: keyed,
    });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
    expect(other.body.error.message).toContain('new key');
    expect(other.body.error.details).toEqual([
      { path: 'idempotency-key', reason: 'used before with another body' },
    ]);
    expect(await ledgerRows()).toBe(rows);

    // A true retry, plain or compressed, is still the first request.
    const retry = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: a,
      headers: keyed,
    });
    expect(retry.status).toBe(202);
    expect(retry.body).toMatchObject({ accepted: 1, duplicate: true, requestId: 'reuse-1' });
    const zipped = await fetch(`${t.service.url}/api/v1/ingest/profiles`, {
      method: 'POST',
      headers: {
        ...keyed,
        authorization: `Bearer ${t.adminToken}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: new Uint8Array(gzipSync(JSON.stringify(a))),
    });
    expect(zipped.status).toBe(202);
    expect(await zipped.json()).toMatchObject({ duplicate: true, requestId: 'reuse-1' });
    expect(await ledgerRows()).toBe(rows);
  });

  it('makes accepted profiles deliverable: flush fills the emulator audience', async () => {
    const df = (await t.call('GET', '/api/v1/dataflows', { token: t.adminToken })).body.items[0];
    // Before: the changes wait, and each audience says until when (the aggregation window after the oldest).
    const waiting = await t.call('GET', `/api/v1/audiences?dataflowId=${df.id}`, { token: t.adminToken });
    const queued = waiting.body.items.find((a: { segmentId: string }) => a.segmentId === SEG);
    expect(queued.pendingAdds).toBeGreaterThan(0);
    expect(queued.nextDeliveryReason).toBe('batch_window');
    expect(Date.parse(queued.nextDeliveryAt) - Date.parse(queued.oldestPendingAt)).toBe(
      df.maxBatchAgeSeconds * 1000,
    );
    const flush = await t.call('POST', `/api/v1/dataflows/${df.id}/flush`, { token: t.adminToken });
    expect(flush.status).toBe(200);
    const auds = await t.call('GET', `/api/v1/audiences?dataflowId=${df.id}`, { token: t.adminToken });
    const loyal = auds.body.items.find((a: { segmentId: string }) => a.segmentId === SEG);
    expect(loyal.xAudienceId).toEqual(expect.any(String));
    expect(loyal).toMatchObject({
      pendingAdds: 0,
      oldestPendingAt: null,
      nextDeliveryAt: null,
      nextDeliveryReason: null,
    });
    const members = t.emulator.admin.members(DEMO.accountId, loyal.xAudienceId);
    expect(members.length).toBeGreaterThanOrEqual(5);
    const cart = auds.body.items.find((a: { segmentId: string }) => a.segmentId === SEG2);
    expect(cart.name).toBe('Cart Abandoners 30d');
    const plan = await t.call('GET', `/api/v1/dataflows/${df.id}/plan`, { token: t.adminToken });
    expect(plan.body.totals).toMatchObject({ pendingAdds: 0, pendingRemoves: 0 });
    const runs = await t.call('GET', `/api/v1/dataflows/${df.id}/runs`, { token: t.adminToken });
    expect(runs.body.items.length).toBeGreaterThan(0);
    expect(runs.body.items[0].identitiesAdded).toBeGreaterThan(0);
    // What each audience's delivery did, since it finished within the wait.
    expect(flush.body).toMatchObject({ dataflowId: df.id, status: 'delivered', skipped: [] });
    expect(flush.body.audiences.find((a: { audienceId: string }) => a.audienceId === loyal.id)).toMatchObject(
      {
        outcome: 'delivered',
        requests: 1,
      },
    );
  });

  it('lets a delivery outlast the wait: 202, and it goes on in the background', async () => {
    const token = t.adminToken;
    const df = (await t.call('GET', '/api/v1/dataflows', { token })).body.items[0];
    const auds = await t.call('GET', `/api/v1/audiences?dataflowId=${df.id}`, { token });
    const loyal = auds.body.items.find((a: { segmentId: string }) => a.segmentId === SEG);
    const atX = () => t.emulator.admin.members(DEMO.accountId, loyal.xAudienceId).length;
    const before = atX();

    // A wait out of range is refused, and nothing is delivered.
    const bad = await t.call('POST', `/api/v1/dataflows/${df.id}/flush?wait=301`, { token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'query.wait' })]);

    const added = await t.call('POST', '/api/v1/ingest/profiles', {
      token,
      body: [
        profile('late.one@example.com', { [SEG]: 'realized' }),
        profile('late.two@example.com', { [SEG]: 'realized' }),
      ],
    });
    expect(added.body.accepted).toBe(2);
    expect(atX()).toBe(before);
    const flush = await t.call('POST', `/api/v1/dataflows/${df.id}/flush?wait=0`, { token });
    expect(flush.status).toBe(202);
    expect(flush.body).toEqual({
      dataflowId: df.id,
      status: 'delivering',
      audienceIds: auds.body.items.map((a: { id: string }) => a.id).sort(),
    });
    await waitFor(async () => (atX() === before + 2 ? true : undefined), 20_000, 'the background delivery');
  });

  it('pauses and resumes a dataflow', async () => {
    const df = (await t.call('GET', '/api/v1/dataflows', { token: t.adminToken })).body.items[0];
    const p = await t.call('PATCH', `/api/v1/dataflows/${df.id}`, {
      token: t.adminToken,
      body: { status: 'paused' },
    });
    expect(p.body.status).toBe('paused');
    const r = await t.call('PATCH', `/api/v1/dataflows/${df.id}`, {
      token: t.adminToken,
      body: { status: 'active' },
    });
    expect(r.body.status).toBe('active');
  });
});

describe('observability', () => {
  it('serves health, readiness and Prometheus metrics', async () => {
    expect((await t.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await t.call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.migrations.ok).toBe(true);
    const m = await t.call('GET', '/metrics');
    expect(m.status).toBe(200);
    for (const name of [
      'tca_ingested_profiles_total',
      'tca_identities',
      'tca_x_requests_total',
      'tca_x_request_duration_seconds',
      'tca_pending_changes',
      'tca_rate_limit_waits_total',
    ]) {
      expect(m.body).toContain(name);
    }
    expect(m.body).toMatch(/tca_ingested_profiles_total\{outcome="accepted"\} [1-9]/);
    // Node.js's own metrics carry the product's prefix once: tca_process_…, tca_nodejs_….
    expect(m.body).toMatch(/^tca_process_cpu_seconds_total \d/m);
    expect(m.body).toMatch(/^tca_nodejs_heap_size_used_bytes \d/m);
    expect(m.body).not.toContain('tca_process_process_');
  });
});

describe('dead letters', () => {
  it('says what a page size must be, whatever is wrong with it', async () => {
    for (const limit of ['abc', '0', '2.5', '5000']) {
      const r = await t.call('GET', `/api/v1/dead-letters?limit=${limit}`, { token: t.adminToken });
      expect(r.status, limit).toBe(400);
      expect(r.body.error.details, limit).toEqual([
        { path: expect.stringContaining('limit'), reason: 'must be a whole number from 1 to 1000' },
      ]);
    }
  });

  it('refuses to replay ids the sandbox never had, naming each', async () => {
    const r = await t.call('POST', '/api/v1/dead-letters/replay', {
      token: t.adminToken,
      body: { ids: ['dl_nope', 'dl_gone'] },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(404);
    expect(r.body.error).toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('dl_nope, dl_gone'),
      details: [
        { path: 'ids[0]', reason: 'no dead letter with this id' },
        { path: 'ids[1]', reason: 'no dead letter with this id' },
      ],
    });
  });
});

describe('activate now', () => {
  it('queues every member of an audience again, then answers 429 with Retry-After for 24 hours', async () => {
    const token = t.adminToken;
    const audiences = await t.call('GET', '/api/v1/audiences', { token });
    const audience = (audiences.body.items as Array<{ id: string; segmentId: string }>).find(
      (a) => a.segmentId === SEG,
    )!;
    const first = await t.call('POST', `/api/v1/audiences/${audience.id}/activate-now`, { token });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body).toMatchObject({ audienceId: audience.id, queued: expect.any(Number) });
    const next = Date.parse(first.body.nextAllowedAt as string);
    expect(next - Date.now()).toBeGreaterThan(23 * 3_600_000);

    const again = await t.call('POST', `/api/v1/audiences/${audience.id}/activate-now`, { token });
    expect(again.status).toBe(429);
    expect(again.body.error.code).toBe('too_soon');
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(23 * 3600);
    expect(again.body.error.details[0]).toEqual({ path: 'nextAllowedAt', reason: first.body.nextAllowedAt });

    const unknown = await t.call('POST', '/api/v1/audiences/aud_nope/activate-now', { token });
    expect(unknown.status).toBe(404);
  });
});

describe('guardrails', () => {
  it('refuses more than 250 segments or 50 mapping rows in a dataflow, saying how to split', async () => {
    const token = t.adminToken;
    const body = (segments: number, rows: number) => ({
      name: 'Too big',
      destinationId,
      mapping: Array.from({ length: rows }, (_, i) => ({
        sourceType: 'attribute',
        source: `person.email${i}`,
        target: 'email',
        applyTransformation: true,
      })),
      audiences: Array.from({ length: segments }, (_, i) => ({ segmentId: `seg-${i}` })),
    });
    const segments = await t.call('POST', '/api/v1/dataflows', { token, body: body(251, 1) });
    expect(segments.status).toBe(400);
    expect(segments.body.error.details).toContainEqual({
      path: 'audiences',
      reason: expect.stringContaining('at most 250 segments per dataflow'),
    });
    const rows = await t.call('POST', '/api/v1/dataflows', { token, body: body(1, 51) });
    expect(rows.status).toBe(400);
    expect(rows.body.error.details).toContainEqual({
      path: 'mapping',
      reason: expect.stringContaining('at most 50 mapping rows'),
    });
  });

  it("refuses a sandbox's 101st destination", async () => {
    const sandbox = await t.call('POST', '/api/v1/sandboxes', {
      token: t.adminToken,
      body: { name: 'guarded' },
    });
    expect(sandbox.status).toBe(201);
    const minted = await t.call('POST', '/api/v1/tokens', {
      token: t.adminToken,
      body: { name: 'guard', permissions: ['Manage Destinations', 'View Destinations'], sandbox: 'guarded' },
    });
    const token = minted.body.token as string;
    const create = (i: number) =>
      t.call('POST', '/api/v1/destinations', {
        token,
        body: { name: `Dest ${i}`, accountId: DEMO.accountId },
      });
    for (let i = 0; i < 100; i += 1) expect((await create(i)).status).toBe(201);
    const over = await create(100);
    expect(over.status).toBe(400);
    expect(over.body.error.details[0].reason).toContain('at most 100 destinations');
  });
});

describe('names and segment ids', () => {
  const detailsOf = (r: { body: { error: { details: Array<{ path: string; reason: string }> } } }) =>
    r.body.error.details;

  it('refuses a blank dataflow name or one with control characters on create and update, and changes nothing', async () => {
    const blank = await createDataflow('   ', [{ segmentId: SEG }]);
    expect(blank.status, JSON.stringify(blank.body)).toBe(400);
    expect(detailsOf(blank)).toEqual([
      { path: 'name', reason: 'The dataflow name is empty. Choose a new dataflow name.' },
    ]);
    const tabbed = await createDataflow('CRM\tto X', [{ segmentId: SEG }]);
    expect(tabbed.status).toBe(400);
    expect(detailsOf(tabbed)).toEqual([
      {
        path: 'name',
        reason:
          'The dataflow name contains control characters: "\\t" at position 3. Use spaces instead of tabs and line breaks. Suggestion: "CRM to X".',
      },
    ]);

    // Spaces around a name are not part of it: stored trimmed. X's characters are fine: it never reaches X.
    const created = await createDataflow('  Nightly: CRM, US/EU  ', [
      { segmentId: SEG, mappingName: ' Loyal US ' },
    ]);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.name).toBe('Nightly: CRM, US/EU');
    expect(created.body.audiences[0].mappingName).toBe('Loyal US');
    const id = created.body.id as string;
    const patch = (body: unknown) =>
      t.call('PATCH', `/api/v1/dataflows/${id}`, { token: t.adminToken, body });
    for (const name of ['  ', '\n', 'Nightly\nCRM']) {
      const r = await patch({ name, status: 'paused' });
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(detailsOf(r).map((d) => d.path)).toEqual(['name']);
    }
    const kept = await t.call('GET', `/api/v1/dataflows/${id}`, { token: t.adminToken });
    expect(kept.body).toMatchObject({ name: 'Nightly: CRM, US/EU', status: 'active' });
    const renamed = await patch({ name: ' Nightly CRM ' });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    expect(renamed.body.name).toBe('Nightly CRM');
    expect((await t.call('DELETE', `/api/v1/dataflows/${id}`, { token: t.adminToken })).status).toBe(204);
  });

  it('suggests a mapping name with a space where each refused character was', async () => {
    const r = await createDataflow('Suggested', [
      { segmentId: SEG, mappingName: 'Buyers,US EU' },
      { segmentId: SEG2, mappingName: 'Acme: US/EU' },
    ]);
    expect(r.status).toBe(400);
    const reasons = detailsOf(r).map((d) => [d.path, d.reason.replace(/^.*(Suggestion: .*)$/, '$1')]);
    expect(reasons).toEqual([
      ['audiences[0].mappingName', 'Suggestion: "Buyers US EU".'],
      ['audiences[1].mappingName', 'Suggestion: "Acme US EU".'],
    ]);
  });

  it('refuses a blank segment id and name, and names with tabs or line breaks, on create and update', async () => {
    const blank = await t.call('POST', '/api/v1/segments', {
      token: t.adminToken,
      body: { id: '   ', name: '   ', namespace: 'ups' },
    });
    expect(blank.status, JSON.stringify(blank.body)).toBe(400);
    expect(blank.body.error.code).toBe('validation_failed');
    expect(detailsOf(blank)).toEqual([
      { path: 'id', reason: expect.stringContaining('The segment id is empty') },
      { path: 'name', reason: 'The segment name is empty. Choose a new segment name.' },
    ]);
    for (const name of ['Loyal\tCustomers', 'Loyal\nCustomers']) {
      const r = await t.call('POST', '/api/v1/segments', {
        token: t.adminToken,
        body: { id: 'seg-control', name },
      });
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(detailsOf(r)).toEqual([
        {
          path: 'name',
          reason: expect.stringMatching(/control characters: .* Suggestion: "Loyal Customers"\.$/),
        },
      ]);
    }
    // An id is matched exactly against segmentMembership: never trimmed, refused with the trimmed one suggested.
    const spaced = await t.call('POST', '/api/v1/segments', {
      token: t.adminToken,
      body: { id: ' seg-spaced ', name: 'Spaced' },
    });
    expect(spaced.status).toBe(400);
    expect(detailsOf(spaced)).toEqual([
      { path: 'id', reason: expect.stringMatching(/whitespace around it.*Suggestion: "seg-spaced"\.$/) },
    ]);
    const listed = await t.call('GET', '/api/v1/segments', { token: t.adminToken });
    const ids = (listed.body.items as Array<{ id: string }>).map((s) => s.id);
    expect(ids.filter((id) => id.trim() === '' || id.includes('control') || id.includes('spaced'))).toEqual(
      [],
    );

    // A name is stored trimmed; an update is checked as a create is.
    const created = await t.call('POST', '/api/v1/segments', {
      token: t.adminToken,
      body: { id: 'seg-trimmed', name: '  Trimmed: US/EU ' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.name).toBe('Trimmed: US/EU');
    for (const name of ['  ', 'Two\nlines']) {
      const r = await t.call('PATCH', '/api/v1/segments/seg-trimmed', {
        token: t.adminToken,
        body: { name, labels: ['C2'] },
      });
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(detailsOf(r).map((d) => d.path)).toEqual(['name']);
    }
    const renamed = await t.call('PATCH', '/api/v1/segments/seg-trimmed', {
      token: t.adminToken,
      body: { name: ' Renamed ' },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Renamed', labels: [] });
  });

  it('stores destination names trimmed, and refuses blank ones on update', async () => {
    const created = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: { name: '  Acme EU  ', accountId: DEMO.accountId },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.name).toBe('Acme EU');
    const id = created.body.id as string;
    for (const name of ['   ', 'Acme\tEU']) {
      const r = await t.call('PATCH', `/api/v1/destinations/${id}`, { token: t.adminToken, body: { name } });
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(detailsOf(r).map((d) => d.path)).toEqual(['name']);
    }
    const renamed = await t.call('PATCH', `/api/v1/destinations/${id}`, {
      token: t.adminToken,
      body: { name: ' Acme Europe ' },
    });
    expect(renamed.body.name).toBe('Acme Europe');
    expect((await t.call('DELETE', `/api/v1/destinations/${id}`, { token: t.adminToken })).status).toBe(204);
  });

  it('keeps names stored before the checks working: changes that leave the name out are taken', async () => {
    const me = await t.call('GET', '/api/v1/me', { token: t.adminToken });
    const sandbox = await t.service.store.sandboxes.getByName(me.body.sandbox as string);
    await t.service.store.segments.create({ sandboxId: sandbox!.id, id: 'seg-legacy', name: 'Old\tname ' });
    const labelled = await t.call('PATCH', '/api/v1/segments/seg-legacy', {
      token: t.adminToken,
      body: { labels: ['C2'] },
    });
    expect(labelled.status, JSON.stringify(labelled.body)).toBe(200);
    expect(labelled.body).toMatchObject({ name: 'Old\tname ', labels: ['C2'] });
    const flow = await createDataflow('Legacy name', [{ segmentId: SEG }]);
    expect(flow.status).toBe(201);
    const id = flow.body.id as string;
    await t.service.store.dataflows.update(sandbox!.id, id, { name: '  ' });
    const paused = await t.call('PATCH', `/api/v1/dataflows/${id}`, {
      token: t.adminToken,
      body: { status: 'paused' },
    });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body).toMatchObject({ name: '  ', status: 'paused' });
    expect((await t.call('DELETE', `/api/v1/dataflows/${id}`, { token: t.adminToken })).status).toBe(204);
    expect((await t.call('DELETE', '/api/v1/segments/seg-legacy', { token: t.adminToken })).status).toBe(204);
  });
});

describe('segment deletion', () => {
  const segment = (id: string) =>
    t.call('POST', '/api/v1/segments', { token: t.adminToken, body: { id, name: `Segment ${id}` } });
  const remove = (id: string) => t.call('DELETE', `/api/v1/segments/${id}`, { token: t.adminToken });
  const segmentIds = async () =>
    (
      (await t.call('GET', '/api/v1/segments', { token: t.adminToken })).body.items as Array<{ id: string }>
    ).map((s) => s.id);

  it('answers 404 for a segment the sandbox does not have', async () => {
    const r = await remove('seg-never');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
  });

  it('refuses (409) while a dataflow of any status activates it, naming each, then deletes it once none does', async () => {
    expect((await segment('seg-doomed')).status).toBe(201);
    const active = await createDataflow('Doomed active', [{ segmentId: 'seg-doomed' }, { segmentId: SEG }]);
    const paused = await createDataflow('Doomed paused', [{ segmentId: 'seg-doomed' }]);
    expect([active.status, paused.status]).toEqual([201, 201]);
    const pausedId = paused.body.id as string;
    const activeId = active.body.id as string;
    await t.call('PATCH', `/api/v1/dataflows/${pausedId}`, {
      token: t.adminToken,
      body: { status: 'paused' },
    });

    const refused = await remove('seg-doomed');
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'conflict',
      message: 'The segment is activated by 2 dataflows; remove it from them first',
    });
    expect(refused.body.error.details).toEqual(
      expect.arrayContaining([
        {
          path: 'id',
          reason: expect.stringContaining(`activated by dataflow ${activeId} ("Doomed active", active)`),
        },
        {
          path: 'id',
          reason: expect.stringContaining(`activated by dataflow ${pausedId} ("Doomed paused", paused)`),
        },
      ]),
    );
    expect(refused.body.error.details[0].reason).toContain('--remove-segment seg-doomed');
    expect(await segmentIds()).toContain('seg-doomed');

    // Removed from one dataflow (its X audience goes), the other deleted: nothing activates it any more.
    const removed = await t.call('PATCH', `/api/v1/dataflows/${activeId}`, {
      token: t.adminToken,
      body: { audiences: [{ segmentId: SEG }] },
    });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    const still = await remove('seg-doomed');
    expect(still.status).toBe(409);
    expect(still.body.error.details).toEqual([
      { path: 'id', reason: expect.stringContaining(`dataflow ${pausedId}`) },
    ]);
    expect((await t.call('DELETE', `/api/v1/dataflows/${pausedId}`, { token: t.adminToken })).status).toBe(
      204,
    );

    const deleted = await remove('seg-doomed');
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect(await segmentIds()).not.toContain('seg-doomed');
    expect((await remove('seg-doomed')).status).toBe(404);
    // The dataflow that activated it goes on with its other segment.
    const flow = await t.call('GET', `/api/v1/dataflows/${activeId}`, { token: t.adminToken });
    expect(flow.body.audiences.map((a: { segmentId: string }) => a.segmentId)).toEqual([SEG]);
    expect((await t.call('DELETE', `/api/v1/dataflows/${activeId}`, { token: t.adminToken })).status).toBe(
      204,
    );

    // Recorded in the audit trail as other deletions are; the refusals changed nothing, so they are not.
    const audit = await t.call('GET', '/api/v1/audit-events?target=seg-doomed', { token: t.adminToken });
    expect(audit.body.items).toEqual([
      expect.objectContaining({
        method: 'DELETE',
        route: '/api/v1/segments/:id',
        action: 'Delete a segment that no dataflow activates',
        target: 'seg-doomed',
        status: 204,
      }),
      expect.objectContaining({ method: 'POST', route: '/api/v1/segments', target: 'seg-doomed' }),
    ]);

    // The id can be registered again.
    expect((await segment('seg-doomed')).status).toBe(201);
    expect((await remove('seg-doomed')).status).toBe(204);
  });

  it('needs Manage Segments', async () => {
    expect((await segment('seg-guarded')).status).toBe(201);
    const reader = await t.call('POST', '/api/v1/tokens', {
      token: t.adminToken,
      body: { name: 'segment reader', permissions: ['View Segments'] },
    });
    const r = await t.call('DELETE', '/api/v1/segments/seg-guarded', { token: reader.body.token as string });
    expect(r.status).toBe(403);
    expect(await segmentIds()).toContain('seg-guarded');
  });
});
