import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, profile, startTestService, waitFor, type Json, type TestService } from './harness.ts';

// The monitoring overview over real HTTP: a service on loopback with the delivery worker and alert evaluation, the X
// emulator on loopback, three dataflows in three states (delivered with one user refused by X, paused because X
// refused the credentials, idle), and the overview's numbers checked against the runs and the audiences they sum.

let t: TestService;
const call = (method: string, path: string, body?: unknown, token = t.adminToken) =>
  t.call(method, path, { token, ...(body === undefined ? {} : { body }) });

async function dataflow(name: string, segmentId: string, credentials = DEMO.credentials): Promise<string> {
  const d = await call('POST', '/api/v1/destinations', {
    name: `${name} destination`,
    accountId: DEMO.accountId,
    credentials,
  });
  expect(d.status, JSON.stringify(d.body)).toBe(201);
  const df = await call('POST', '/api/v1/dataflows', {
    name,
    destinationId: d.body.id,
    mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
    audiences: [{ segmentId }],
  });
  expect(df.status, JSON.stringify(df.body)).toBe(201);
  return df.body.id as string;
}

let delivered: string;
let paused: string;
let idle: string;
/** When the Newsletter's profiles were sent: before the request, and after its answer. */
let newsSent: { from: number; to: number };

beforeAll(async () => {
  t = await startTestService({ TCA_ROLE: 'all', TCA_ALERT_CHECK_SECONDS: '1' });
  for (const id of ['seg-news', 'seg-loyal', 'seg-idle'])
    expect((await call('POST', '/api/v1/segments', { id, name: id })).status).toBe(201);
  delivered = await dataflow('Newsletter', 'seg-news');
  paused = await dataflow('Loyalty', 'seg-loyal', { ...DEMO.credentials, accessTokenSecret: 'revoked' });
  idle = await dataflow('Idle', 'seg-idle');

  // Newsletter: 8 members and 2 profiles whose email is not one (each excluded once, by the email's code: not again as
  // a profile left with nothing to export); X refuses one member (400 until bisected).
  const body = [
    ...Array.from({ length: 8 }, (_, i) =>
      profile(`member${i}@example.com`, { 'seg-news': 'realized' }, `n${i}`),
    ),
    ...Array.from({ length: 2 }, (_, i) =>
      profile(`broken${i}(at)example.com`, { 'seg-news': 'realized' }, `b${i}`),
    ),
  ];
  const from = Date.now();
  expect((await call('POST', '/api/v1/ingest/profiles', body)).status).toBe(202);
  newsSent = { from, to: Date.now() };
  t.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 4 }] });
  expect((await call('POST', `/api/v1/dataflows/${delivered}/flush`)).status).toBe(200);

  // Loyalty: X refuses the credentials, so the dataflow pauses with its change still waiting.
  await call(
    'POST',
    '/api/v1/ingest/profiles',
    profile('loyal@example.com', { 'seg-loyal': 'realized' }, 'l1'),
  );
  await call('POST', `/api/v1/dataflows/${paused}/flush`);
});

afterAll(async () => {
  await t?.close();
});

describe('GET /api/v1/monitoring', () => {
  it("sums each dataflow's runs over the window and says which need a look and why", async () => {
    // The paused alert is evaluated every second: wait until it is counted.
    const overview = await waitFor(
      async () => {
        const r = await call('GET', '/api/v1/monitoring');
        const row = (r.body.dataflows as Json[]).find((d) => d.dataflowId === paused);
        return row?.alertsFiring > 0 ? r : undefined;
      },
      20_000,
      'the paused alert',
    );
    expect(overview.status).toBe(200);
    const rows = new Map<string, Json>((overview.body.dataflows as Json[]).map((d) => [d.dataflowId, d]));
    expect([...rows.keys()].sort()).toEqual([delivered, paused, idle].sort());

    const news = rows.get(delivered);
    const runs = (await call('GET', `/api/v1/dataflows/${delivered}/runs`)).body.items as Json[];
    const sumOf = (field: string) => runs.reduce((n, r) => n + (r[field] as number), 0);
    expect(news).toMatchObject({
      name: 'Newsletter',
      destinationName: 'Newsletter destination',
      status: 'active',
      audiences: 1,
      profilesReceived: 10,
      identitiesActivated: 7,
      identitiesAdded: 7,
      identitiesRemoved: 0,
      identitiesExcluded: 2,
      identitiesFailed: 1,
      xRequests: sumOf('xRequests'),
      pendingChanges: 0,
      oldestPendingAt: null,
      nextDeliveryAt: null,
      nextDeliveryReason: null,
      alertsFiring: 0,
      attention: ['identities_failed'],
    });
    expect(news.activationRate).toBeCloseTo(7 / 10, 10);
    expect(news.identitiesFailed).toBe(sumOf('identitiesFailed'));
    expect(news.excludedByReason).toEqual({ email_missing_at: 2 });
    expect(Object.values(news.failedByCode as Record<string, number>)).toEqual([1]);
    expect(Date.parse(news.lastDeliveryAt)).toBeGreaterThan(Date.parse(overview.body.from));
    expect(news.lastRunAt).toBe(runs[0].runStart);
    // The runs with identities of one kind: the Newsletter's run failed one, excluded some and activated some.
    const runsWith = async (id: string, kind: string) =>
      (await call('GET', `/api/v1/dataflows/${id}/runs?with=${kind}`)).body.items as Json[];
    for (const kind of ['failed', 'excluded', 'activated'])
      expect((await runsWith(delivered, kind)).map((r) => r.runStart)).toEqual(runs.map((r) => r.runStart));
    // The Loyalty's run received a profile but activated nothing (X refused the credentials).
    const loyaltyRuns = (await call('GET', `/api/v1/dataflows/${paused}/runs`)).body.items as Json[];
    expect(loyaltyRuns.map((r) => r.profilesReceived)).toEqual([1]);
    expect(await runsWith(paused, 'activated')).toEqual([]);
    const unknownKind = await call('GET', `/api/v1/dataflows/${delivered}/runs?with=skipped`);
    expect(unknownKind.status).toBe(400);
    expect(unknownKind.body.error.details[0].path).toBe('query.with');
    // A window that ends before it starts is refused, as the overview's is, rather than answered empty.
    const reversed = await call(
      'GET',
      `/api/v1/dataflows/${delivered}/runs?from=${encodeURIComponent(new Date().toISOString())}&to=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`,
    );
    expect(reversed.status).toBe(400);
    expect(reversed.body.error.details).toEqual([
      { path: 'query.to', reason: 'the window must end after it starts' },
    ]);
    // When its profiles arrived, to the millisecond (not the start of their run's hour).
    expect(Date.parse(news.lastProfilesAt)).toBeGreaterThanOrEqual(newsSent.from);
    expect(Date.parse(news.lastProfilesAt)).toBeLessThanOrEqual(newsSent.to);

    const loyal = rows.get(paused);
    expect(loyal).toMatchObject({
      status: 'paused',
      pendingChanges: 1,
      identitiesActivated: 0,
      lastDeliveryAt: null,
      // Paused: its change waits until the dataflow resumes, so no time is given.
      nextDeliveryAt: null,
      nextDeliveryReason: null,
    });
    expect(loyal.statusReason).toMatch(/./);
    expect(loyal.attention).toEqual(['paused', 'alerts_firing']);
    expect(Date.parse(loyal.oldestPendingAt)).toBeLessThanOrEqual(Date.parse(overview.body.to));
    // Its alerts, and no other dataflow's, through the alerts list's dataflow filter.
    const own = (await call('GET', `/api/v1/alerts?dataflowId=${paused}`)).body.items as Json[];
    expect(own.map((a) => [a.dataflowId, a.type])).toEqual([[paused, 'dataflow_paused']]);
    expect((await call('GET', `/api/v1/alerts?dataflowId=${idle}`)).body.items).toEqual([]);
    const acked = await call('POST', `/api/v1/alerts/${own[0].alertId}/acknowledge`);
    expect(acked.status).toBe(200);
    const after = (await call('GET', `/api/v1/alerts?dataflowId=${paused}`)).body.items as Json[];
    expect(after[0].acknowledgedBy).toBe(acked.body.acknowledgedBy);

    expect(rows.get(idle)).toMatchObject({
      profilesReceived: 0,
      identitiesActivated: 0,
      activationRate: null,
      pendingChanges: 0,
      lastRunAt: null,
      lastProfilesAt: null,
      lastDeliveryAt: null,
      attention: [],
    });

    const all = [...rows.values()];
    const total = (field: string) => all.reduce((n, r) => n + (r[field] as number), 0);
    expect(overview.body.summary).toMatchObject({
      dataflows: 3,
      needingAttention: 2,
      profilesReceived: total('profilesReceived'),
      identitiesActivated: total('identitiesActivated'),
      identitiesExcluded: total('identitiesExcluded'),
      identitiesFailed: total('identitiesFailed'),
      xRequests: total('xRequests'),
      pendingChanges: 1,
      alertsFiring: total('alertsFiring'),
    });
    expect(overview.body.summary.activationRate).toBeCloseTo(7 / 10, 10);
    expect(Date.parse(overview.body.to) - Date.parse(overview.body.from)).toBe(86_400_000);
  });

  it('counts only the runs inside the window asked for', async () => {
    const week = await call('GET', '/api/v1/monitoring?range=7d');
    expect(Date.parse(week.body.to) - Date.parse(week.body.from)).toBe(7 * 86_400_000);
    expect(week.body.summary.profilesReceived).toBe(11);

    const hour = 3_600_000;
    const before = new Date(Date.now() - 3 * 24 * hour).toISOString();
    const past = await call(
      'GET',
      `/api/v1/monitoring?from=${encodeURIComponent(before)}&to=${encodeURIComponent(new Date(Date.now() - 2 * 24 * hour).toISOString())}`,
    );
    expect(past.status).toBe(200);
    expect(past.body.from).toBe(before);
    expect(past.body.summary).toMatchObject({
      profilesReceived: 0,
      identitiesActivated: 0,
      activationRate: null,
    });
    // What holds now stays in the overview whatever the window: changes waiting, alerts firing.
    expect(past.body.summary.pendingChanges).toBe(1);
    const row = (past.body.dataflows as Json[]).find((d) => d.dataflowId === delivered);
    expect(row).toMatchObject({ identitiesFailed: 0, lastRunAt: null, attention: [] });

    // A window that starts after a run started leaves that run out, though it overlaps it: counts are kept per hour,
    // and consecutive windows count each run once.
    const [run] = (await call('GET', `/api/v1/dataflows/${delivered}/runs`)).body.items as Json[];
    const runStart = Date.parse(run.runStart);
    const window = async (from: number, to: number) =>
      (
        (
          await call(
            'GET',
            `/api/v1/monitoring?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
          )
        ).body.dataflows as Json[]
      ).find((d) => d.dataflowId === delivered);
    expect(await window(runStart + 1, runStart + hour)).toMatchObject({
      profilesReceived: 0,
      identitiesFailed: 0,
      lastRunAt: null,
      attention: [],
    });
    expect(await window(runStart - hour, runStart)).toMatchObject({ profilesReceived: 0, lastRunAt: null });
    expect(await window(runStart, runStart + 1)).toMatchObject({
      profilesReceived: 10,
      identitiesFailed: 1,
      lastRunAt: run.runStart,
      attention: ['identities_failed'],
    });
  });

  it('refuses an empty or unknown window, naming the parameter', async () => {
    const now = new Date().toISOString();
    const reversed = await call(
      'GET',
      `/api/v1/monitoring?from=${encodeURIComponent(now)}&to=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`,
    );
    expect(reversed.status).toBe(400);
    expect(reversed.body.error.details).toEqual([
      { path: 'query.to', reason: 'the window must end after it starts' },
    ]);
    const toAlone = await call('GET', `/api/v1/monitoring?to=${encodeURIComponent(now)}`);
    expect(toAlone.status).toBe(400);
    expect(toAlone.body.error.details[0].path).toBe('query.from');
    const unknown = await call('GET', '/api/v1/monitoring?range=1y');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].path).toBe('query.range');
  });

  it("shows a sandbox's own dataflows only, to a token that may view destinations", async () => {
    expect((await call('POST', '/api/v1/sandboxes', { name: 'dev' })).status).toBe(201);
    const other = await call('POST', '/api/v1/tokens', {
      name: 'dev viewer',
      sandbox: 'dev',
      permissions: ['View Destinations'],
    });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    const dev = await call('GET', '/api/v1/monitoring', undefined, other.body.token);
    expect(dev.status).toBe(200);
    expect(dev.body.dataflows).toEqual([]);
    expect(dev.body.summary).toMatchObject({ dataflows: 0, pendingChanges: 0, alertsFiring: 0 });

    const ingestOnly = await call('POST', '/api/v1/tokens', {
      name: 'ingest',
      permissions: ['Ingest Profiles'],
    });
    const refused = await call('GET', '/api/v1/monitoring', undefined, ingestOnly.body.token);
    expect(refused.status).toBe(403);
  });

  it("says when each dataflow's waiting changes go out, by its audiences' delivery schedule", async () => {
    const sent = Date.now();
    expect(
      (
        await call(
          'POST',
          '/api/v1/ingest/profiles',
          profile('waiting@example.com', { 'seg-idle': 'realized' }, 'w1'),
        )
      ).status,
    ).toBe(202);
    const row = (((await call('GET', '/api/v1/monitoring')).body.dataflows as Json[]) ?? []).find(
      (d) => d.dataflowId === idle,
    );
    // One change is far from a request's worth: it goes when it has waited the aggregation window (900 s by default).
    expect(row).toMatchObject({ pendingChanges: 1, nextDeliveryReason: 'batch_window' });
    expect(Date.parse(row.nextDeliveryAt) - Date.parse(row.oldestPendingAt)).toBe(900_000);
    expect(Date.parse(row.oldestPendingAt)).toBeGreaterThanOrEqual(sent);
    const audiences = (await call('GET', `/api/v1/audiences?dataflowId=${idle}`)).body.items as Json[];
    expect(row.nextDeliveryAt).toBe(audiences[0].nextDeliveryAt);
  });

  it('takes a replayed dead letter out of the failed identities and the look it asked for', async () => {
    const letters = (await call('GET', `/api/v1/dead-letters?dataflowId=${delivered}`)).body.items as Json[];
    expect(letters).toHaveLength(1);
    const id = letters[0].id as string;
    // Named with another dataflow: refused, saying which id is of which dataflow, and nothing replayed.
    const elsewhere = await call('POST', '/api/v1/dead-letters/replay', { ids: [id], dataflowId: idle });
    expect(elsewhere.status, JSON.stringify(elsewhere.body)).toBe(404);
    expect(elsewhere.body.error).toMatchObject({
      code: 'not_found',
      message: expect.stringContaining(`Dead letter ${id} is not of dataflow ${idle}.`),
      details: [{ path: 'ids[0]', reason: `of dataflow ${delivered}, not ${idle}` }],
    });
    expect(
      (await call('GET', `/api/v1/dead-letters?dataflowId=${delivered}`)).body.items[0].replayedAt,
    ).toBeNull();

    const replayed = await call('POST', '/api/v1/dead-letters/replay', { ids: [id], dataflowId: delivered });
    expect(replayed.body).toEqual({ replayed: 1 });
    const rowOf = async () =>
      ((await call('GET', '/api/v1/monitoring')).body.dataflows as Json[]).find(
        (d) => d.dataflowId === delivered,
      );
    // Tried again: no longer failed, and nothing to look at while its new attempt goes out.
    expect(await rowOf()).toMatchObject({ identitiesFailed: 0, failedByCode: {}, attention: [] });
    expect((await call('POST', `/api/v1/dataflows/${delivered}/flush?wait=10`)).status).toBe(200);
    const row = await waitFor(
      async () => {
        const r = await rowOf();
        return r?.identitiesActivated === 8 ? r : undefined;
      },
      20_000,
      'the replayed member delivered',
    );
    expect(row).toMatchObject({ identitiesFailed: 0, identitiesExcluded: 2, attention: [] });
    expect(row.activationRate).toBeCloseTo(8 / 10, 10);
    const runs = (await call('GET', `/api/v1/dataflows/${delivered}/runs?with=failed`)).body.items as Json[];
    expect(runs).toEqual([]);
  });
});

describe('GET /api/v1/monitoring: audiences X will not target', () => {
  // Its own service: X here reports an audience PROCESSING for an hour after it changes, as it does for hours.
  let x: TestService;
  afterAll(async () => {
    await x?.close();
  });

  it('flags an audience too small to target, and not one X still processes', async () => {
    x = await startTestService({}, { xProcessingDelayMs: 3_600_000, engineTuning: { healthIntervalMs: 0 } });
    const as = (method: string, path: string, body?: unknown) =>
      x.call(method, path, { token: x.adminToken, ...(body === undefined ? {} : { body }) });
    expect((await as('POST', '/api/v1/segments', { id: 'seg-small', name: 'Small' })).status).toBe(201);
    const d = await as('POST', '/api/v1/destinations', {
      name: 'Small destination',
      accountId: DEMO.accountId,
      credentials: DEMO.credentials,
    });
    const df = await as('POST', '/api/v1/dataflows', {
      name: 'Small',
      destinationId: d.body.id,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [{ segmentId: 'seg-small' }],
    });
    expect(df.status, JSON.stringify(df.body)).toBe(201);
    await as(
      'POST',
      '/api/v1/ingest/profiles',
      profile('small@example.com', { 'seg-small': 'realized' }, 's1'),
    );
    expect((await as('POST', `/api/v1/dataflows/${df.body.id}/flush`)).status).toBe(200);
    await x.service.engine.pollHealth();
    const audience = (
      (await as('GET', `/api/v1/audiences?dataflowId=${df.body.id}`)).body.items as Json[]
    )[0]!;
    expect(audience).toMatchObject({ targetable: false, reasonsNotTargetable: ['PROCESSING', 'TOO_SMALL'] });
    const rowOf = async () =>
      ((await as('GET', '/api/v1/monitoring')).body.dataflows as Json[]).find(
        (r) => r.dataflowId === df.body.id,
      );
    expect((await rowOf())!.attention).toEqual([]);

    // Processed: X now says only that it is too small, which needs a look.
    x.emulator.admin.configure({ processingDelayMs: 0 });
    expect(x.emulator.admin.process()).toBeGreaterThan(0);
    await x.service.engine.pollHealth();
    const processed = (
      (await as('GET', `/api/v1/audiences?dataflowId=${df.body.id}`)).body.items as Json[]
    )[0]!;
    expect(processed).toMatchObject({ targetable: false, reasonsNotTargetable: ['TOO_SMALL'] });
    expect((await rowOf())!.attention).toEqual(['not_targetable']);
  });
});
