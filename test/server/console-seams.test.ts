import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XAdsClient } from '../../src/xads/index.ts';
import { createLogger } from '../../src/server/logger.ts';
import { DEMO, profile, startTestService, type Json, type TestService } from './harness.ts';

// What the console relies on: check statuses of the preflight, which X audience a dataflow uses versus the one it was
// asked to attach to, and "Log in with X" with the service's default app.

const SEG_ATTACH = 'seg-attach';
const SEG_CREATE = 'seg-create';

let t: TestService;
let plain: TestService;
const logLines: string[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  t = await startTestService(
    {
      TCA_X_CONSUMER_KEY: DEMO.credentials.consumerKey,
      TCA_X_CONSUMER_SECRET: DEMO.credentials.consumerSecret,
    },
    { logger: createLogger('trace', sink) },
  );
  plain = await startTestService();
});

afterAll(async () => {
  await t?.close();
  await plain?.close();
});

const statuses = (checks: Array<{ id: string; status: string }>) =>
  Object.fromEntries(checks.map((c) => [c.id, c.status]));

describe('preflight check statuses', () => {
  it('reports checks that could not run as skipped, not failed', async () => {
    const d = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: { name: 'No tokens yet', accountId: DEMO.accountId },
    });
    const r = await t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, { token: t.adminToken });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(statuses(r.body.checks)).toEqual({
      credentials: 'fail',
      account_access: 'skipped',
      approval_status: 'skipped',
      account_age: 'skipped',
      permissions: 'skipped',
      audience_api: 'skipped',
    });
  });

  it('passes the X client statuses through when X refuses the credentials', async () => {
    const d = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: {
        name: 'Refused keys',
        accountId: DEMO.accountId,
        credentials: { ...DEMO.credentials, accessTokenSecret: 'wrong' },
      },
    });
    const r = await t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, { token: t.adminToken });
    expect(statuses(r.body.checks)).toMatchObject({ credentials: 'fail', permissions: 'skipped' });
    for (const c of r.body.checks) expect(['pass', 'fail', 'warn', 'skipped']).toContain(c.status);
  });
});

describe('existingXAudienceId and xAudienceId', () => {
  let dataflowId: string;
  let existingId: string;

  beforeAll(async () => {
    const client = new XAdsClient({ baseUrl: t.emulatorUrl, credentials: DEMO.credentials });
    existingId = (await client.createCustomAudience(DEMO.accountId, { name: 'Made in Ads Manager' })).id;
    const token = t.adminToken;
    await t.call('POST', '/api/v1/segments', { token, body: { id: SEG_ATTACH, name: 'Newsletter Readers' } });
    await t.call('POST', '/api/v1/segments', { token, body: { id: SEG_CREATE, name: 'Big Spenders' } });
    const d = await t.call('POST', '/api/v1/destinations', {
      token,
      body: { name: 'Seams', accountId: DEMO.accountId, credentials: DEMO.credentials },
    });
    const df = await t.call('POST', '/api/v1/dataflows', {
      token,
      body: {
        name: 'Attach and create',
        destinationId: d.body.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: SEG_ATTACH, existingXAudienceId: existingId }, { segmentId: SEG_CREATE }],
      },
    });
    expect(df.status, JSON.stringify(df.body)).toBe(201);
    dataflowId = df.body.id;
  });

  const audienceOf = (body: Json, segmentId: string) =>
    (body.audiences as Json[]).find((a) => a.segmentId === segmentId);

  it('returns what the user asked to attach to apart from the X audience in use', async () => {
    const before = await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken });
    expect(audienceOf(before.body, SEG_ATTACH)).toMatchObject({
      existingXAudienceId: existingId,
      xAudienceId: null,
    });
    expect(audienceOf(before.body, SEG_CREATE)).toMatchObject({
      existingXAudienceId: null,
      xAudienceId: null,
    });

    const ingest = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: [
        profile('reader@example.com', { [SEG_ATTACH]: 'realized' }),
        profile('spender@example.com', { [SEG_CREATE]: 'realized' }),
      ],
    });
    expect(ingest.status).toBe(202);
    expect(
      (await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: t.adminToken })).status,
    ).toBe(200);

    const after = await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken });
    expect(audienceOf(after.body, SEG_ATTACH)).toMatchObject({
      existingXAudienceId: existingId,
      xAudienceId: existingId,
    });
    const created = audienceOf(after.body, SEG_CREATE);
    expect(created.existingXAudienceId).toBeNull();
    expect(created.xAudienceId).toEqual(expect.any(String));
    expect(created.xAudienceId).not.toBe(existingId);

    const list = await t.call('GET', `/api/v1/audiences?dataflowId=${dataflowId}`, { token: t.adminToken });
    const listed = (list.body.items as Json[]).find((a) => a.segmentId === SEG_CREATE);
    expect(listed).toMatchObject({ xAudienceId: created.xAudienceId, existingXAudienceId: null });
  });

  it('refuses the read-only xAudienceId on PATCH, so a read-modify-write cannot attach a created audience', async () => {
    const current = await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken });
    const r = await t.call('PATCH', `/api/v1/dataflows/${dataflowId}`, {
      token: t.adminToken,
      body: { audiences: current.body.audiences },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.map((d: Json) => d.path)).toEqual(
      expect.arrayContaining(['audiences[1].xAudienceId']),
    );
    const post = await t.call('POST', '/api/v1/dataflows', {
      token: t.adminToken,
      body: {
        name: 'Legacy client',
        destinationId: current.body.destinationId,
        mapping: current.body.mapping,
        audiences: [{ segmentId: SEG_CREATE, xAudienceId: existingId }],
      },
    });
    expect(post.status).toBe(400);
    expect(post.body.error.details[0].reason).toMatch(/existingXAudienceId/);
  });

  it('keeps the attach target when PATCH omits it or repeats it, and refuses a change', async () => {
    const current = await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken });
    const createdId = audienceOf(current.body, SEG_CREATE).xAudienceId as string;
    const echo = (current.body.audiences as Json[]).map(({ xAudienceId: _inUse, ...rest }) => rest);
    const same = await t.call('PATCH', `/api/v1/dataflows/${dataflowId}`, {
      token: t.adminToken,
      body: { audiences: echo },
    });
    expect(same.status, JSON.stringify(same.body)).toBe(200);
    expect(audienceOf(same.body, SEG_CREATE)).toMatchObject({
      existingXAudienceId: null,
      xAudienceId: createdId,
    });

    const changed = await t.call('PATCH', `/api/v1/dataflows/${dataflowId}`, {
      token: t.adminToken,
      body: {
        audiences: [
          { segmentId: SEG_ATTACH },
          { segmentId: SEG_CREATE, mappingName: 'Big Spenders', existingXAudienceId: existingId },
        ],
      },
    });
    expect(changed.status).toBe(400);
    expect(changed.body.error.details).toEqual([
      { path: 'audiences[1].existingXAudienceId', reason: expect.stringMatching(/cannot change/) },
    ]);
    const after = await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken });
    expect(audienceOf(after.body, SEG_CREATE)).toMatchObject({
      existingXAudienceId: null,
      xAudienceId: createdId,
    });
    expect(audienceOf(after.body, SEG_ATTACH)).toMatchObject({ existingXAudienceId: existingId });
  });
});

describe('"Log in with X" with the default app', () => {
  it('says whether the service has a default X app', async () => {
    const withApp = await t.call('GET', '/api/v1/settings', { token: t.adminToken });
    expect(withApp.status).toBe(200);
    expect(withApp.body).toEqual({
      xLogin: { defaultApp: true },
      importUrls: { origins: [] },
      auditForward: null,
      outboundProxy: null,
      alertWebhook: null,
      alertPagerDuty: null,
      alertEmail: null,
    });
    expect(JSON.stringify(withApp.body)).not.toContain(DEMO.credentials.consumerKey);
    const without = await plain.call('GET', '/api/v1/settings', { token: plain.adminToken });
    expect(without.body).toEqual({
      xLogin: { defaultApp: false },
      importUrls: { origins: [] },
      auditForward: null,
      outboundProxy: null,
      alertWebhook: null,
      alertPagerDuty: null,
      alertEmail: null,
    });
    expect((await plain.call('GET', '/api/v1/settings')).status).toBe(401);
  });

  it('logs in with the default app when the request names none, and never logs its secret', async () => {
    const d = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: { name: 'One click', accountId: DEMO.accountId },
    });
    // No body at all is the same as {}.
    const bare = await t.call('POST', `/api/v1/destinations/${d.body.id}/login`, { token: t.adminToken });
    expect(bare.status, JSON.stringify(bare.body)).toBe(200);
    const start = await t.call('POST', `/api/v1/destinations/${d.body.id}/login`, {
      token: t.adminToken,
      body: {},
    });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const pin = t.emulator.admin.authorize(start.body.requestToken);
    const done = await t.call('POST', `/api/v1/destinations/${d.body.id}/login/complete`, {
      token: t.adminToken,
      body: { pin },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({ status: 'active', hasCredentials: true });
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('')).not.toContain(DEMO.credentials.consumerSecret);
  });

  it('without a default app, asks for the app keys; one key alone is refused', async () => {
    const d = await plain.call('POST', '/api/v1/destinations', {
      token: plain.adminToken,
      body: { name: 'Needs keys', accountId: DEMO.accountId },
    });
    const none = await plain.call('POST', `/api/v1/destinations/${d.body.id}/login`, {
      token: plain.adminToken,
      body: {},
    });
    expect(none.status).toBe(400);
    expect(none.body.error.details[0]).toMatchObject({
      path: 'consumerKey',
      reason: expect.stringMatching(/TCA_X_CONSUMER_KEY/),
    });
    const halfHere = await plain.call('POST', `/api/v1/destinations/${d.body.id}/login`, {
      token: plain.adminToken,
      body: { consumerKey: DEMO.credentials.consumerKey },
    });
    expect(halfHere.status).toBe(400);
    expect(halfHere.body.error.details[0].path).toBe('consumerSecret');
  });
});
