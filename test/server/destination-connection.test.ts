/**
 * Changing a destination's connection (ads account, credentials) while its dataflows deliver: a change that would
 * break them is refused or checked first, and a failed check leaves the working connection in place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, defaultDemoSeed } from '../../src/emulator/index.ts';
import { describeFlush } from '../../src/server/flush-summary.ts';
import { activateEmailSegment, DEMO, profile, startTestService, type TestService } from './harness.ts';

let t: TestService;
let destinationId: string;
let dataflowId: string;
let xAudienceId: string;
const SEG = 'seg-loyal';

const members = () => t.emulator.admin.members(DEMO.accountId, xAudienceId).length;
const destination = async () =>
  (await t.call('GET', `/api/v1/destinations/${destinationId}`, { token: t.adminToken })).body;

/** A new destination whose access token secret X refuses, checked once: its id. */
async function refusedDestination(name: string): Promise<string> {
  const token = t.adminToken;
  const d = await t.call('POST', '/api/v1/destinations', {
    token,
    body: {
      name,
      accountId: DEMO.accountId,
      credentials: { ...DEMO.credentials, accessTokenSecret: 'wrong' },
    },
  });
  await t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, { token });
  return d.body.id as string;
}

async function deliver(email: string) {
  const token = t.adminToken;
  const ingested = await t.call('POST', '/api/v1/ingest/profiles', {
    token,
    body: profile(email, { [SEG]: 'realized' }),
  });
  expect(ingested.status).toBe(202);
  return t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token });
}

beforeAll(async () => {
  t = await startTestService();
  const token = t.adminToken;
  await t.call('POST', '/api/v1/segments', { token, body: { id: SEG, name: 'Loyal Customers' } });
  const d = await t.call('POST', '/api/v1/destinations', {
    token,
    body: { name: 'Acme US', accountId: DEMO.accountId, credentials: DEMO.credentials },
  });
  destinationId = d.body.id;
  expect((await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, { token })).body.ok).toBe(
    true,
  );
  const df = await t.call('POST', '/api/v1/dataflows', {
    token,
    body: {
      name: 'CRM to X',
      destinationId,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [{ segmentId: SEG, mappingName: 'Loyal Customers' }],
    },
  });
  expect(df.status, JSON.stringify(df.body)).toBe(201);
  dataflowId = df.body.id;
  const flushed = await deliver('first@example.com');
  expect(flushed.status).toBe(200);
  const auds = await t.call('GET', `/api/v1/audiences?dataflowId=${dataflowId}`, { token });
  xAudienceId = auds.body.items[0].xAudienceId;
  expect(xAudienceId).toEqual(expect.any(String));
  expect(members()).toBe(1);
});

afterAll(async () => {
  await t?.close();
});

describe('moving a destination to another ads account', () => {
  it('is refused (409) while its audiences live in the current account, naming them; nothing changes', async () => {
    const before = await destination();
    const patched = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { accountId: 'zz999' },
    });
    expect(patched.status).toBe(409);
    expect(patched.body.error.code).toBe('account_in_use');
    expect(patched.body.error.message).toContain(`account ${DEMO.accountId}`);
    expect(patched.body.error.message).toContain('create a new destination for account zz999');
    expect(patched.body.error.details).toEqual([
      {
        path: 'accountId',
        reason: expect.stringContaining(
          `dataflow ${dataflowId} ("CRM to X"), segment ${SEG}: X audience ${xAudienceId}`,
        ),
      },
    ]);
    const checked = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, {
      token: t.adminToken,
      body: { accountId: 'zz999' },
    });
    expect(checked.status).toBe(409);
    expect(checked.body.error.code).toBe('account_in_use');
    const after = await destination();
    expect(after).toMatchObject({ accountId: DEMO.accountId, status: 'active', updatedAt: before.updatedAt });

    // Deliveries go on to the audience in the account it lives in.
    const flushed = await deliver('second@example.com');
    expect(flushed.body.audiences[0]).toMatchObject({ outcome: 'delivered', requests: 1 });
    expect(members()).toBe(2);
  });

  it('is allowed where no audience has an X audience yet, once the new account passes the checks', async () => {
    const token = t.adminToken;
    const d = await t.call('POST', '/api/v1/destinations', {
      token,
      body: { name: 'Wrong account', accountId: '0000bad0', credentials: DEMO.credentials },
    });
    const unreachable = await t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, {
      token,
      body: { accountId: 'zz999' },
    });
    expect(unreachable.status).toBe(200);
    expect(unreachable.body).toMatchObject({ ok: false, saved: false, accountId: 'zz999' });
    expect((await t.call('GET', `/api/v1/destinations/${d.body.id}`, { token })).body.accountId).toBe(
      '0000bad0',
    );
    const moved = await t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, {
      token,
      body: { accountId: DEMO.accountId },
    });
    expect(moved.body).toMatchObject({ ok: true, saved: true, accountId: DEMO.accountId });
    expect((await t.call('GET', `/api/v1/destinations/${d.body.id}`, { token })).body).toMatchObject({
      accountId: DEMO.accountId,
      status: 'active',
    });
  });
});

describe('new credentials, checked before they replace the stored ones', () => {
  it('keeps the working credentials when the new ones fail the preflight', async () => {
    const before = await destination();
    const r = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, {
      token: t.adminToken,
      body: {
        credentials: { ...DEMO.credentials, consumerKey: 'wrong-key', consumerSecret: 'wrong-secret' },
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(r.body.saved).toBe(false);
    expect(r.body.checks[0]).toMatchObject({ id: 'credentials', status: 'fail' });
    expect(await destination()).toMatchObject({
      status: 'active',
      statusReason: null,
      updatedAt: before.updatedAt,
    });
    // The stored credentials still deliver.
    const flushed = await deliver('third@example.com');
    expect(flushed.body.audiences[0]).toMatchObject({ outcome: 'delivered', requests: 1 });
    expect(members()).toBe(3);
  });

  it('saves new credentials that pass', async () => {
    const r = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, {
      token: t.adminToken,
      body: { credentials: DEMO.credentials },
    });
    expect(r.body).toMatchObject({ ok: true, saved: true });
    expect(await destination()).toMatchObject({ status: 'active', hasCredentials: true });
  });

  it('refuses a malformed candidate with the field at fault', async () => {
    const r = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, {
      token: t.adminToken,
      body: { credentials: { consumerKey: 'only-this' } },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.map((d: { path: string }) => d.path)).toContain('credentials.consumerSecret');
  });
});

describe('new credentials by PATCH', () => {
  it('are refused (422) on a destination that works when they fail the preflight; nothing changes', async () => {
    const before = await destination();
    expect(before.status).toBe('active');
    const r = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: {
        name: 'Acme US (rotated)',
        credentials: { ...DEMO.credentials, accessTokenSecret: 'mistyped' },
      },
    });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('connection_check_failed');
    expect(r.body.error.message).toMatch(
      /^Refused: the new connection fails a check of the preflight \(and 5 could not run after it\)\. Nothing was saved/,
    );
    // The failed check only, with what X said: the checks it kept from running add nothing to fix.
    expect(r.body.error.details).toHaveLength(1);
    expect(r.body.error.details[0]).toMatchObject({ path: 'credentials' });
    expect(r.body.error.details[0].reason).toMatch(
      /^Check "Credentials are valid" failed: X refused the credentials/,
    );
    // The rest of the change waits with it: one request, one outcome.
    expect(await destination()).toMatchObject({
      name: before.name,
      status: 'active',
      updatedAt: before.updatedAt,
    });
    const flushed = await deliver('fourth@example.com');
    expect(flushed.body.audiences[0]).toMatchObject({ outcome: 'delivered', requests: 1 });
  });

  it('are saved with the rest of the change when they pass, and the destination stays active', async () => {
    const r = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { description: 'Keys rotated', credentials: DEMO.credentials },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ description: 'Keys rotated', status: 'active', hasCredentials: true });
  });

  it('are saved on a destination that does not work yet, then checked: its status says what X answered', async () => {
    const token = t.adminToken;
    const refused = await refusedDestination('Broken keys');
    expect((await t.call('GET', `/api/v1/destinations/${refused}`, { token })).body.status).toBe(
      'unauthorized',
    );
    const r = await t.call('PATCH', `/api/v1/destinations/${refused}`, {
      token,
      body: { credentials: { ...DEMO.credentials, accessTokenSecret: 'still-wrong' } },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'unauthorized',
      statusReason: expect.stringContaining('X refused'),
    });
    const fixed = await t.call('PATCH', `/api/v1/destinations/${refused}`, {
      token,
      body: { credentials: DEMO.credentials },
    });
    expect(fixed.body).toMatchObject({ status: 'active', statusReason: null });
  });
});

describe('moving a destination to another X API base URL', () => {
  it('checks the new URL first, then re-creates its audiences there with every member', async () => {
    const token = t.adminToken;
    const other = createEmulator({ seed: defaultDemoSeed() });
    const running = await other.listen({ port: 0, host: '127.0.0.1' });
    try {
      const seg = 'seg-moving';
      const flowId = await activateEmailSegment(t, {
        segmentId: seg,
        segmentName: 'Moving',
        dataflowName: 'Moving',
        mappingName: 'Moving Audience',
      });
      const moving = (await t.call('GET', `/api/v1/dataflows/${flowId}`, { token })).body.destinationId;
      await t.call('POST', `/api/v1/destinations/${moving}/verify`, { token });
      const emails = ['m1@example.com', 'm2@example.com', 'm3@example.com'];
      for (const email of emails)
        await t.call('POST', '/api/v1/ingest/profiles', {
          token,
          body: profile(email, { [seg]: 'realized' }),
        });
      await t.call('POST', `/api/v1/dataflows/${flowId}/flush`, { token });
      const first = (await t.call('GET', `/api/v1/audiences?dataflowId=${flowId}`, { token })).body.items[0];
      expect(t.emulator.admin.members(DEMO.accountId, first.xAudienceId)).toHaveLength(3);

      // A URL where nothing answers is refused, and the destination stays where it was.
      const dead = await t.call('PATCH', `/api/v1/destinations/${moving}`, {
        token,
        body: { apiBaseUrl: 'http://127.0.0.1:9' },
      });
      expect(dead.status).toBe(422);
      expect(dead.body.error.details).toEqual([
        { path: 'apiBaseUrl', reason: expect.stringContaining('Check network access to http://127.0.0.1:9') },
      ]);
      expect((await t.call('GET', `/api/v1/destinations/${moving}`, { token })).body.apiBaseUrl).toBe(
        t.emulatorUrl,
      );

      const moved = await t.call('PATCH', `/api/v1/destinations/${moving}`, {
        token,
        body: { apiBaseUrl: running.url },
      });
      expect(moved.status, JSON.stringify(moved.body)).toBe(200);
      expect(moved.body).toMatchObject({ apiBaseUrl: running.url, status: 'active' });
      // The next change finds the audience missing at the new URL and starts over there with every member.
      await t.call('POST', '/api/v1/ingest/profiles', {
        token,
        body: profile('m4@example.com', { [seg]: 'realized' }),
      });
      const flushed = await t.call('POST', `/api/v1/dataflows/${flowId}/flush`, { token });
      expect(flushed.status).toBe(200);
      // In the same pass: X confirms the audience is not there, so there is nothing to wait for.
      expect(flushed.body.audiences[0]).toMatchObject({
        outcome: 'delivered',
        xAudience: 'created',
        added: 4,
      });
      const after = (await t.call('GET', `/api/v1/audiences?dataflowId=${flowId}`, { token })).body.items[0];
      const atNew = other.admin.members(DEMO.accountId, after.xAudienceId);
      expect(atNew).toHaveLength(4);
      expect(other.admin.audience(DEMO.accountId, after.xAudienceId)?.name).toBe('Moving Audience');
    } finally {
      await running.close();
    }
  });
});

describe('destination status', () => {
  it('is one of the values the API document lists, unauthorized included', async () => {
    const doc = await t.call('GET', '/api/v1/openapi.json');
    const status = doc.body.components.schemas.Destination.properties.status;
    expect(status.enum).toEqual(['unverified', 'active', 'unauthorized', 'error']);
    const token = t.adminToken;
    const refused = await refusedDestination('Refused keys');
    // Responses are checked against their schema here: a status outside it would answer 500.
    const got = await t.call('GET', `/api/v1/destinations/${refused}`, { token });
    expect(got.status).toBe(200);
    expect(got.body.status).toBe('unauthorized');
    expect(status.enum).toContain(got.body.status);
  });
});

describe('Deliver now after a mapping name changed', () => {
  it('reports the rename it made at X rather than nothing waiting', async () => {
    const token = t.adminToken;
    const patched = await t.call('PATCH', `/api/v1/dataflows/${dataflowId}`, {
      token,
      body: { audiences: [{ segmentId: SEG, mappingName: 'Loyal Customers EU' }] },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const flushed = await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token });
    expect(flushed.status).toBe(200);
    expect(flushed.body.audiences[0]).toMatchObject({ xAudience: 'renamed', requests: 0 });
    expect(t.emulator.admin.audience(DEMO.accountId, xAudienceId)?.name).toBe('Loyal Customers EU');
    expect(describeFlush(flushed.body)).toBe('Renamed 1 X audience to its new mapping name.');
  });
});

describe('a 401 during delivery, then a destination that verifies', () => {
  const token = () => t.adminToken;
  const flow = async () => (await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: token() })).body;
  const flush = () => t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: token() });

  /** Delivers a new member while X refuses the credentials once: the dataflow pauses. */
  async function refusedDelivery(email: string) {
    t.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 401 }] });
    const flushed = await deliver(email);
    // The request worked, so 200; its status says nothing was delivered.
    expect(flushed.status).toBe(200);
    expect(flushed.body).toMatchObject({ dataflowId, status: 'incomplete', skipped: [] });
    expect(flushed.body.audiences).toEqual([
      expect.objectContaining({ outcome: 'paused', requests: 0, added: 0 }),
    ]);
    expect(describeFlush(flushed.body)).toMatch(
      /^Incomplete: 1 of 1 audience did not deliver; its changes wait\. Audience \S+ is paused: X Ads API returned HTTP 401 /,
    );
    expect((await flow()).status).toBe('paused');
  }

  /** The paused dataflow is active as soon as the request that verified answered, and delivers what waited. */
  async function deliversAgain(before: number) {
    expect(await flow()).toMatchObject({ status: 'active', statusReason: null });
    expect(await destination()).toMatchObject({ status: 'active', statusReason: null });
    const flushed = await flush();
    expect(flushed.body).toMatchObject({ status: 'delivered' });
    expect(flushed.body.audiences[0]).toMatchObject({ outcome: 'delivered', requests: 1, added: 1 });
    expect(members()).toBe(before + 1);
  }

  it('reports the flush incomplete, and the pause says what to fix once, without the clock', async () => {
    const before = members();
    await refusedDelivery('fifth@example.com');
    const paused = await flow();
    expect(paused.statusReason).toMatch(/^X refused the credentials \(401\): .+ \(UNAUTHORIZED_ACCESS\)$/);
    // The client signs a request X refused for its timestamp again with X's time: the clock is not the cause.
    expect(paused.statusReason).not.toMatch(/clock/i);
    expect(paused.statusReason.match(/refused the credentials/g)).toHaveLength(1);
    expect(paused.statusReason.match(/Log in again|Re-authorize/g)).toHaveLength(1);
    expect(await destination()).toMatchObject({ status: 'unauthorized', statusReason: paused.statusReason });
    // A flush of the paused dataflow sends nothing, and says so.
    const held = await flush();
    expect(held.status).toBe(200);
    expect(held.body).toMatchObject({
      status: 'incomplete',
      audiences: [expect.objectContaining({ outcome: 'paused', message: 'dataflow is paused' })],
    });
    expect(members()).toBe(before);
  });

  it('resumes it within the verify that passes: a read and a flush right after find it active', async () => {
    const before = members();
    const verified = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, {
      token: token(),
      body: {},
    });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ ok: true, resumedDataflowIds: [dataflowId] });
    await deliversAgain(before);
    // Nothing is paused now: a verify resumes nothing.
    const again = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, { token: token() });
    expect(again.body).toMatchObject({ ok: true, resumedDataflowIds: [] });
  });

  it('resumes it when new credentials sent to verify pass the checks and are saved', async () => {
    const before = members();
    await refusedDelivery('sixth@example.com');
    // Credentials that fail resume nothing, and the pause stays.
    const wrong = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, {
      token: token(),
      body: { credentials: { ...DEMO.credentials, accessTokenSecret: 'wrong' } },
    });
    expect(wrong.body).toMatchObject({ ok: false, saved: false });
    expect(wrong.body.resumedDataflowIds).toBeUndefined();
    expect((await flow()).status).toBe('paused');
    const verified = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, {
      token: token(),
      body: { credentials: DEMO.credentials },
    });
    expect(verified.body).toMatchObject({ ok: true, saved: true, resumedDataflowIds: [dataflowId] });
    await deliversAgain(before);
  });

  it('resumes it when a PATCH saves credentials on the refused destination and its preflight passes', async () => {
    const before = members();
    await refusedDelivery('seventh@example.com');
    const patched = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: token(),
      body: { credentials: DEMO.credentials },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({ status: 'active' });
    await deliversAgain(before);
  });
});

describe('an app X keeps off the Audience API', () => {
  const APP = { consumer_key: 'ck-no-audiences', consumer_secret: 'cs-no-audiences' };
  const ACCOUNT = 'noaud0001';
  const SEGMENT = 'seg-noaud';
  const credentials = {
    consumerKey: APP.consumer_key,
    consumerSecret: APP.consumer_secret,
    accessToken: 'tok-no-audiences',
    accessTokenSecret: 'tsec-no-audiences',
  };

  it('fails the preflight with what to do, so a verify never resumes a dataflow X pauses again at once', async () => {
    const token = t.adminToken;
    t.emulator.admin.seed({
      apps: [{ ...APP, audience_access: false }],
      users: [
        {
          user_id: '9001',
          consumer_key: APP.consumer_key,
          token: credentials.accessToken,
          token_secret: credentials.accessTokenSecret,
        },
      ],
      accounts: [
        {
          id: ACCOUNT,
          name: 'No audiences',
          created_at: '2020-01-01T00:00:00Z',
          access: [{ user_id: '9001', permissions: ['ACCOUNT_ADMIN'] }],
        },
      ],
    });
    await t.call('POST', '/api/v1/segments', { token, body: { id: SEGMENT, name: 'No audiences' } });
    const d = await t.call('POST', '/api/v1/destinations', {
      token,
      body: { name: 'No Audience API', accountId: ACCOUNT, credentials },
    });
    expect(d.status, JSON.stringify(d.body)).toBe(201);
    const id = d.body.id as string;
    const verify = () => t.call('POST', `/api/v1/destinations/${id}/verify`, { token });
    const status = async () => (await t.call('GET', `/api/v1/destinations/${id}`, { token })).body;

    const first = await verify();
    expect(first.status).toBe(200);
    expect(first.body.ok).toBe(false);
    expect(Object.keys(first.body).sort()).toEqual(['accountId', 'checks', 'ok']);
    expect(first.body.checks.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([
      ['credentials', 'pass'],
      ['account_access', 'pass'],
      ['approval_status', 'pass'],
      ['account_age', 'pass'],
      ['permissions', 'pass'],
      ['audience_api', 'fail'],
    ]);
    const check = first.body.checks.at(-1);
    expect(check).toMatchObject({ xCode: 'UNAUTHORIZED_CLIENT_APPLICATION' });
    expect(check.message).toContain('developer portal');
    // X answered: the app is not allowed, the credentials are fine.
    expect(await status()).toMatchObject({ status: 'error', statusReason: check.message });

    // A dataflow on it pauses at its first delivery, saying to fix the access at X, then verify.
    const df = await t.call('POST', '/api/v1/dataflows', {
      token,
      body: {
        name: 'No audiences flow',
        destinationId: id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: SEGMENT, mappingName: 'No Audiences' }],
      },
    });
    expect(df.status, JSON.stringify(df.body)).toBe(201);
    const flowId = df.body.id as string;
    await t.call('POST', '/api/v1/ingest/profiles', {
      token,
      body: profile('na1@example.com', { [SEGMENT]: 'realized' }),
    });
    const flushed = await t.call('POST', `/api/v1/dataflows/${flowId}/flush`, { token });
    expect(flushed.body.audiences[0]).toMatchObject({ outcome: 'paused' });
    const paused = (await t.call('GET', `/api/v1/dataflows/${flowId}`, { token })).body;
    expect(paused.status).toBe('paused');
    expect(paused.statusReason).toMatch(/then verify the destination/);
    expect(paused.statusReason).not.toMatch(/then update the destination/);
    expect(paused.statusReason).toMatch(/\(UNAUTHORIZED_CLIENT_APPLICATION\)$/);

    // Verify again: it still fails, and resumes nothing.
    const again = await verify();
    expect(again.body.ok).toBe(false);
    expect(again.body.resumedDataflowIds).toBeUndefined();
    expect((await t.call('GET', `/api/v1/dataflows/${flowId}`, { token })).body.status).toBe('paused');

    // X grants the access: the same credentials pass, the verify resumes the dataflow, and it delivers.
    t.emulator.admin.seed({ apps: [{ ...APP, audience_access: true }] });
    const granted = await verify();
    expect(granted.body).toMatchObject({ ok: true, resumedDataflowIds: [flowId] });
    expect(await status()).toMatchObject({ status: 'active', statusReason: null });
    const delivered = await t.call('POST', `/api/v1/dataflows/${flowId}/flush`, { token });
    expect(delivered.body.audiences[0]).toMatchObject({ outcome: 'delivered', added: 1 });
  });
});

describe("a destination's status after a verify, by what X answered", () => {
  it('stays as it was when X answers 503 or cannot be reached, and the answer says X could not be reached', async () => {
    const token = t.adminToken;
    expect(await destination()).toMatchObject({ status: 'active', statusReason: null });
    t.emulator.admin.addFaults({
      faults: [{ method: 'GET', path: `/accounts/${DEMO.accountId}$`, status: 503, times: 5 }],
    });
    const down = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, { token });
    t.emulator.admin.clearFaults();
    expect(down.body.ok).toBe(false);
    expect(down.body.checks[0]).toMatchObject({ id: 'credentials', status: 'fail' });
    expect(down.body.checks[0].message).toContain('X could not be reached');
    expect(down.body.checks[0].message).toContain('503');
    expect(down.body.failure).toBeUndefined();
    expect(await destination()).toMatchObject({ status: 'active', statusReason: null });
    // Deliveries go on.
    const flushed = await deliver('after-503@example.com');
    expect(flushed.body.audiences[0]).toMatchObject({ outcome: 'delivered' });

    // An API base URL where nothing answers: not a verdict on the credentials either.
    const nowhere = await t.call('POST', '/api/v1/destinations', {
      token,
      body: {
        name: 'Nowhere',
        accountId: DEMO.accountId,
        credentials: DEMO.credentials,
        apiBaseUrl: 'http://127.0.0.1:9',
      },
    });
    expect(nowhere.status, JSON.stringify(nowhere.body)).toBe(201);
    const unreached = await t.call('POST', `/api/v1/destinations/${nowhere.body.id}/verify`, { token });
    expect(unreached.body.ok).toBe(false);
    expect(unreached.body.checks[0].message).toContain('X could not be reached');
    const stored = (await t.call('GET', `/api/v1/destinations/${nowhere.body.id}`, { token })).body;
    expect(stored.status).not.toBe('unauthorized');
    expect(stored.status).toBe(nowhere.body.status);
  });

  it('is error, not unauthorized, when X answers 403 for an app without Ads API access', async () => {
    const token = t.adminToken;
    const app = { consumer_key: 'ck-no-ads', consumer_secret: 'cs-no-ads', ads_access: false };
    t.emulator.admin.seed({
      apps: [app],
      users: [
        { user_id: '9002', consumer_key: app.consumer_key, token: 'tok-no-ads', token_secret: 'tsec-no-ads' },
      ],
    });
    const d = await t.call('POST', '/api/v1/destinations', {
      token,
      body: {
        name: 'No Ads API',
        accountId: DEMO.accountId,
        credentials: {
          consumerKey: app.consumer_key,
          consumerSecret: app.consumer_secret,
          accessToken: 'tok-no-ads',
          accessTokenSecret: 'tsec-no-ads',
        },
      },
    });
    const r = await t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, { token });
    expect(r.body.checks[0]).toMatchObject({
      id: 'credentials',
      status: 'fail',
      xCode: 'UNAUTHORIZED_CLIENT_APPLICATION',
    });
    const stored = (await t.call('GET', `/api/v1/destinations/${d.body.id}`, { token })).body;
    expect(stored).toMatchObject({ status: 'error', statusReason: r.body.checks[0].message });
  });
});

describe('a 403 pause, the dataflow resumed by hand, then a delivery X accepts', () => {
  it('makes the destination active again, and the pause said to verify once the access is fixed', async () => {
    const token = t.adminToken;
    t.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 403 }] });
    const refused = await deliver('after-403@example.com');
    expect(refused.body.audiences[0]).toMatchObject({ outcome: 'paused' });
    const paused = (await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token })).body;
    expect(paused.status).toBe('paused');
    expect(paused.statusReason).toMatch(/then verify the destination/);
    expect(paused.statusReason).not.toMatch(/then update the destination/);
    expect(await destination()).toMatchObject({ status: 'error', statusReason: paused.statusReason });

    // Resumed by hand: the next delivery works, and the destination says so.
    const resumed = await t.call('PATCH', `/api/v1/dataflows/${dataflowId}`, {
      token,
      body: { status: 'active' },
    });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    const before = members();
    const flushed = await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token });
    expect(flushed.body.audiences[0]).toMatchObject({ outcome: 'delivered', added: 1 });
    expect(members()).toBe(before + 1);
    expect(await destination()).toMatchObject({ status: 'active', statusReason: null });
  });

  it('leaves a status a failed verify gave: one delivery does not overrule its checks', async () => {
    const token = t.adminToken;
    t.emulator.admin.seed({
      accounts: [
        {
          id: DEMO.accountId,
          name: 'Demo',
          approval_status: 'UNDER_REVIEW',
          access: [{ user_id: defaultDemoSeed().users[0]!.user_id, permissions: ['ACCOUNT_ADMIN'] }],
        },
      ],
    });
    try {
      const r = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, { token });
      expect(r.body.ok).toBe(false);
      const reason = r.body.checks.find((c: { id: string }) => c.id === 'approval_status').message;
      expect(await destination()).toMatchObject({ status: 'error', statusReason: reason });
      const flushed = await deliver('under-review@example.com');
      expect(flushed.body.audiences[0]).toMatchObject({ outcome: 'delivered' });
      expect(await destination()).toMatchObject({ status: 'error', statusReason: reason });
    } finally {
      t.emulator.admin.seed({ accounts: [defaultDemoSeed().accounts[0]!] });
    }
    const ok = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, { token });
    expect(ok.body.ok).toBe(true);
  });
});

describe('a dataflow on a destination that has no access token yet', () => {
  it('pauses at the first delivery saying to log in, and delivers once credentials that verify are saved', async () => {
    const token = t.adminToken;
    const seg = 'seg-no-token';
    await t.call('POST', '/api/v1/segments', { token, body: { id: seg, name: 'No Token Yet' } });
    const d = await t.call('POST', '/api/v1/destinations', {
      token,
      body: { name: 'Acme not logged in', accountId: DEMO.accountId },
    });
    expect(d.body).toMatchObject({ hasCredentials: false });
    const df = await t.call('POST', '/api/v1/dataflows', {
      token,
      body: {
        name: 'CRM to X, not logged in',
        destinationId: d.body.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: seg, mappingName: 'No Token Yet' }],
      },
    });
    expect(df.status, JSON.stringify(df.body)).toBe(201);
    const ingested = await t.call('POST', '/api/v1/ingest/profiles', {
      token,
      body: profile('no-token@example.com', { [seg]: 'realized' }),
    });
    expect(ingested.status).toBe(202);

    // Nothing can be signed: the flush answers, the dataflow pauses with what to do, and nothing reached X.
    const flushed = await t.call('POST', `/api/v1/dataflows/${df.body.id}/flush`, { token });
    expect(flushed.status, JSON.stringify(flushed.body)).toBe(200);
    expect(flushed.body).toMatchObject({
      status: 'incomplete',
      audiences: [expect.objectContaining({ outcome: 'paused', requests: 0 })],
    });
    const paused = (await t.call('GET', `/api/v1/dataflows/${df.body.id}`, { token })).body;
    expect(paused.status).toBe('paused');
    expect(paused.statusReason).toMatch(
      /^The destination has no X access token.+Log in with X.+\(MISSING_CREDENTIALS\)$/,
    );
    expect(paused.statusReason).not.toMatch(/X refused/);
    const dst = (await t.call('GET', `/api/v1/destinations/${d.body.id}`, { token })).body;
    expect(dst).toMatchObject({ status: 'unauthorized', statusReason: paused.statusReason });

    const verified = await t.call('POST', `/api/v1/destinations/${d.body.id}/verify`, {
      token,
      body: { credentials: DEMO.credentials },
    });
    expect(verified.body).toMatchObject({ ok: true, resumedDataflowIds: [df.body.id] });
    const delivered = await t.call('POST', `/api/v1/dataflows/${df.body.id}/flush`, { token });
    expect(delivered.body).toMatchObject({ status: 'delivered' });
    expect(delivered.body.audiences[0]).toMatchObject({ outcome: 'delivered', requests: 1, added: 1 });
  });
});
