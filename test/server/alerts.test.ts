import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  evaluateConditions,
  planAlerts,
  signatureHeader,
  type DataflowHealth,
  type FiringAlert,
} from '../../src/server/alerts.ts';
import { DEMO, profile, startTestService, waitFor, type TestService, type Json } from './harness.ts';
import { startSmtpReceiver } from '../fixtures/smtp-receiver.ts';

// Alerts reach a real webhook receiver on loopback: dataflow failed, paused (X refused the credentials), delayed
// (changes waiting past the threshold) and exclusion rate exceeded; a cleared condition is sent as resolved; every
// notification is signed with the shared secret.

const SECRET = 'alert-secret-0123456789';
let t: TestService;
let receiver: Server;
const received: Array<{ path: string; body: Json; raw: string; headers: IncomingHttpHeaders }> = [];
let offsetMs = 0;
const now = () => Date.now() + offsetMs;

async function startReceiver(): Promise<string> {
  receiver = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(data), raw: data, headers: req.headers });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}

const alertOf =
  (type: string, dataflowId: string, status = 'firing') =>
  () =>
    Promise.resolve(
      received.find(
        (a) => a.body.type === type && a.body.dataflowId === dataflowId && a.body.status === status,
      ),
    );

let smtp: Awaited<ReturnType<typeof startSmtpReceiver>>;

beforeAll(async () => {
  const url = await startReceiver();
  smtp = await startSmtpReceiver();
  t = await startTestService(
    {
      TCA_ALERT_EMAIL_TO: 'oncall@example.com',
      TCA_ALERT_EMAIL_FROM: 'X Custom Audiences <tca@example.com>',
      TCA_SMTP_URL: smtp.url,
      TCA_ROLE: 'all',
      TCA_ALERT_WEBHOOK_URL: `${url}/global`,
      TCA_ALERT_CHECK_SECONDS: '1',
      TCA_ALERT_EXCLUSION_RATE: '0.5',
      TCA_ALERT_WEBHOOK_SECRET: SECRET,
      // No installation key: only destinations' own keys page, through this loopback Events API.
      TCA_ALERT_PAGERDUTY_URL: `${url}/pagerduty`,
    },
    // The hours this file moves forward pass for X too.
    { now, xNow: now },
  );
  await t.call('POST', '/api/v1/segments', { token: t.adminToken, body: { id: 'seg-a', name: 'Alerted' } });
});

afterAll(async () => {
  await t?.close();
  await new Promise((r) => receiver?.close(r));
  await smtp?.close();
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

  it('judges a run whose changes wait for their aggregation window by all it counted, not by its exclusions alone', async () => {
    const flow = async (name: string, segmentId: string) => {
      await t.call('POST', '/api/v1/segments', { token: t.adminToken, body: { id: segmentId, name } });
      return (await dataflow(name, { audiences: [{ segmentId }] })).id;
    };
    const ingest = async (segmentId: string, bad: number, good: number) => {
      const body = Array.from({ length: bad + good }, (_, i) =>
        profile(
          i < bad ? `broken${i}(at)example.com` : `${segmentId}-${i}@example.com`,
          { [segmentId]: 'realized' },
          `${segmentId}-${i}`,
        ),
      );
      expect((await t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body })).status).toBe(
        202,
      );
    };
    // 2 of 10 profiles without a valid email: 2 exclusions (each email, counted once: not again as a profile left
    // with no identifier) beside 8 adds waiting for the 15-minute window; nothing activated yet.
    const mostlyGood = await flow('Mostly good emails', 'seg-good');
    await ingest('seg-good', 2, 8);
    await waitFor(
      async () => {
        const runs = await t.call('GET', `/api/v1/dataflows/${mostlyGood}/runs`, { token: t.adminToken });
        const latest = (runs.body.items as Json[])[0];
        return latest?.identitiesExcluded === 2 && latest.identitiesActivated === 0 ? true : undefined;
      },
      20_000,
      'the exclusions counted',
    );
    // A dataflow that does exclude most of its identities alerts: the check that says so judged both.
    const mostlyBad = await flow('Mostly bad emails too', 'seg-bad');
    await ingest('seg-bad', 8, 2);
    await waitFor(alertOf('exclusion_rate_exceeded', mostlyBad), 20_000, 'exclusion alert');
    expect(
      received.filter((a) => a.body.type === 'exclusion_rate_exceeded' && a.body.dataflowId === mostlyGood),
    ).toEqual([]);
  });

  it('fires "paused" when X refuses the credentials during delivery', async () => {
    const { id, destinationId } = await dataflow(
      'Revoked credentials',
      {},
      { ...DEMO.credentials, accessTokenSecret: 'revoked' },
    );
    // Its destination's owner is emailed too.
    const patched = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { alertEmailTo: ['crm-owner@example.com', 'oncall@example.com'] },
    });
    expect(patched.body.alertEmailTo).toEqual(['crm-owner@example.com', 'oncall@example.com']);
    await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('p@example.com', { 'seg-a': 'realized' }, 'p1'),
    });
    await t.call('POST', `/api/v1/dataflows/${id}/flush`, { token: t.adminToken });
    const alert = await waitFor(alertOf('dataflow_paused', id), 20_000, 'paused alert');
    expect(alert.body.severity).toBe('critical');
    expect(alert.body.message).toContain('paused');
    // Emailed too, to the installation's recipients.
    const mail = await waitFor(
      () => Promise.resolve(smtp.received.find((m) => m.headers['x-tca-alert-id'] === alert.body.alertId)),
      20_000,
      'the alert email',
    );
    // One email to the installation's recipients and the destination's, each once.
    expect(mail.to).toEqual(['oncall@example.com', 'crm-owner@example.com']);
    // The one-line text, cut at 200 characters.
    expect(mail.headers['subject']).toBe(
      alert.body.text.length > 200 ? `${alert.body.text.slice(0, 199)}…` : alert.body.text,
    );
  });

  it('keeps each pause of a dataflow as an alert of its own: listed, resolved and refused acknowledgement apart', async () => {
    const { id, destinationId } = await dataflow('Paused twice');
    /** X refuses the next users request: the flush pauses the dataflow, and a `dataflow_paused` alert fires. */
    const pause = async (email: string) => {
      t.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', times: 1, status: 401 }] });
      await t.call('POST', '/api/v1/ingest/profiles', {
        token: t.adminToken,
        body: profile(email, { 'seg-a': 'realized' }, email),
      });
      await t.call('POST', `/api/v1/dataflows/${id}/flush`, { token: t.adminToken });
    };
    const firings = () =>
      received.filter(
        (a) =>
          a.path === '/global' &&
          a.body.type === 'dataflow_paused' &&
          a.body.dataflowId === id &&
          a.body.status === 'firing',
      );
    const resolution = (alertId: string) => () =>
      Promise.resolve(
        received.find(
          (a) => a.path === '/global' && a.body.alertId === alertId && a.body.status === 'resolved',
        ),
      );
    /** The destination verifies: its dataflows resume, and the alert resolves. */
    const verify = async (alertId: string) => {
      const verified = await t.call('POST', `/api/v1/destinations/${destinationId}/verify`, {
        token: t.adminToken,
      });
      expect(verified.status, JSON.stringify(verified.body)).toBe(200);
      await waitFor(resolution(alertId), 20_000, `${alertId} resolved`);
    };

    await pause('twice1@example.com');
    const first = await waitFor(() => Promise.resolve(firings()[0]), 20_000, 'the first paused alert');
    await verify(first.body.alertId);
    await pause('twice2@example.com');
    const second = await waitFor(() => Promise.resolve(firings()[1]), 20_000, 'the second paused alert');
    // Firing again after it resolved: a new alert.
    expect(second.body.alertId).not.toBe(first.body.alertId);
    const listed = async (query: string) =>
      (await t.call('GET', `/api/v1/alerts?dataflowId=${id}${query}`, { token: t.adminToken })).body
        .items as Json[];
    expect((await listed('')).map((a) => [a.alertId, a.status])).toEqual([
      [second.body.alertId, 'firing'],
      [first.body.alertId, 'resolved'],
    ]);
    // The earlier one has resolved: nothing left to acknowledge (409, not 404); the firing one is acknowledged.
    const ack = (alertId: string) =>
      t.call('POST', `/api/v1/alerts/${alertId}/acknowledge`, { token: t.adminToken });
    const refused = await ack(first.body.alertId);
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error.code).toBe('conflict');
    expect((await ack(second.body.alertId)).body).toMatchObject({
      alertId: second.body.alertId,
      acknowledgedBy: expect.any(String),
    });
    await verify(second.body.alertId);
    // Both listed, each with its own times and acknowledgement.
    const resolved = await listed('&status=resolved');
    expect(resolved.map((a) => a.alertId)).toEqual([second.body.alertId, first.body.alertId]);
    const [secondListed, firstListed] = resolved;
    expect(firstListed).toMatchObject({ firedAt: first.body.firedAt, acknowledgedAt: null });
    expect(secondListed).toMatchObject({ firedAt: second.body.firedAt, acknowledgedAt: expect.any(String) });
    expect(Date.parse(firstListed!.resolvedAt)).toBeLessThanOrEqual(Date.parse(secondListed!.firedAt));
    expect((await listed('&status=firing')).map((a) => a.alertId)).toEqual([]);
    expect(firings()).toHaveLength(2);
  });

  it("pages a destination's own PagerDuty service with its write-only, sealed routing key: trigger, resolve, test", async () => {
    const key = 'R0ut1ngKeyOfTheCrmTeam0000000001';
    expect(key).toHaveLength(32);
    const { id, destinationId } = await dataflow('Paged flow');
    const bad = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { alertPagerDutyRoutingKey: 'not a key' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('alertPagerDutyRoutingKey');
    const set = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { alertPagerDutyRoutingKey: key },
    });
    expect(set.body.hasAlertPagerDutyKey).toBe(true);
    // Never shown, sealed at rest.
    const listed = await t.call('GET', '/api/v1/destinations', { token: t.adminToken });
    expect(JSON.stringify(listed.body)).not.toContain(key);
    const row = await t.service.store.db
      .selectFrom('destinations')
      .select('alert_pagerduty_key')
      .where('id', '=', destinationId)
      .executeTakeFirstOrThrow();
    expect(row.alert_pagerduty_key).toMatch(/^v1\./);

    const events = (alertId: string) =>
      received.filter((r) => r.path === '/pagerduty' && r.body.dedup_key === alertId).map((r) => r.body);
    await t.service.store.dataflows.update('prod', id, {
      status: 'failed',
      statusReason: 'X refused the audience',
    });
    const alert = await waitFor(alertOf('dataflow_failed', id), 20_000, 'failed alert');
    const [trigger] = await waitFor(
      () => Promise.resolve(events(alert.body.alertId).length > 0 ? events(alert.body.alertId) : undefined),
      20_000,
      'the incident at PagerDuty',
    );
    expect(trigger).toMatchObject({
      routing_key: key,
      event_action: 'trigger',
      payload: { severity: 'critical', component: 'Paged flow' },
    });
    await t.service.store.dataflows.update('prod', id, { status: 'active', statusReason: null });
    await waitFor(
      () => Promise.resolve(events(alert.body.alertId).find((e) => e.event_action === 'resolve')),
      20_000,
      'its resolution at PagerDuty',
    );
    expect(events(alert.body.alertId).every((e) => e.routing_key === key)).toBe(true);

    // Tested on request: a test incident, triggered and resolved with the same key.
    const tested = await t.call('POST', `/api/v1/destinations/${destinationId}/test-pagerduty`, {
      token: t.adminToken,
    });
    expect(tested.status, JSON.stringify(tested.body)).toBe(200);
    expect(tested.body).toEqual({ events: receiverUrl(), delivered: true, error: null });
    const test = received.filter(
      (r) => r.path === '/pagerduty' && String(r.body.dedup_key).startsWith('tca-test-'),
    );
    expect(test.map((r) => [r.body.event_action, r.body.routing_key])).toEqual([
      ['trigger', key],
      ['resolve', key],
    ]);
    // Removed: nothing to test, and a 400 says what to set.
    const removed = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { alertPagerDutyRoutingKey: null },
    });
    expect(removed.body.hasAlertPagerDutyKey).toBe(false);
    const none = await t.call('POST', `/api/v1/destinations/${destinationId}/test-pagerduty`, {
      token: t.adminToken,
    });
    expect(none.status).toBe(400);
    expect(none.body.error.details[0].path).toBe('alertPagerDutyRoutingKey');
  });

  it('fires "failed" when a dataflow fails', async () => {
    const { id } = await dataflow('Broken flow');
    await t.service.store.dataflows.update('prod', id, {
      status: 'failed',
      statusReason: 'audience could not be created',
    });
    const alert = await waitFor(alertOf('dataflow_failed', id), 20_000, 'failed alert');
    expect(alert.body.message).toContain('audience could not be created');
    expect(alert.body.text).toBe(`[CRITICAL] ${alert.body.message}`);
    const listed = await t.call('GET', '/api/v1/alerts?status=firing', { token: t.adminToken });
    expect(listed.body.items.find((a: Json) => a.alertId === alert.body.alertId)).toMatchObject({
      status: 'firing',
      type: 'dataflow_failed',
      resolvedAt: null,
    });
    const metrics = await fetch(`${t.service.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/tca_alerts_firing\{type="dataflow_failed"\} [1-9]/);

    // Cleared: the same alert, resolved, to the same webhooks; it fires no more.
    await t.service.store.dataflows.update('prod', id, { status: 'active', statusReason: null });
    const resolved = await waitFor(alertOf('dataflow_failed', id, 'resolved'), 20_000, 'resolved alert');
    expect(resolved.body).toMatchObject({
      alertId: alert.body.alertId,
      status: 'resolved',
      severity: 'critical',
    });
    expect(resolved.body.id).not.toBe(alert.body.id);
    expect(resolved.body.text).toMatch(/^\[RESOLVED\] /);
    expect(Date.parse(resolved.body.resolvedAt)).toBeGreaterThanOrEqual(Date.parse(alert.body.firedAt));
    const paths = (status: string) =>
      received
        .filter((a) => a.body.alertId === alert.body.alertId && a.body.status === status)
        .map((a) => a.path)
        .sort();
    await waitFor(
      () => Promise.resolve(paths('resolved').length === 2 ? true : undefined),
      10_000,
      'both webhooks resolved',
    );
    expect(paths('resolved')).toEqual(paths('firing'));
    const after = await t.call('GET', '/api/v1/alerts?status=resolved', { token: t.adminToken });
    expect(after.body.items.find((a: Json) => a.alertId === alert.body.alertId)?.resolvedAt).toBe(
      resolved.body.resolvedAt,
    );
  });

  it("sends a destination's own webhook and recipients only the alert types it subscribed to", async () => {
    const { id, destinationId } = await dataflow('Subscribed flow');
    const refused = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { alertTypes: ['dataflow_failed', 'dataflow_on_fire'] },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details[0].path).toMatch(/^alertTypes/);
    const patched = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { alertTypes: ['dataflow_failed', 'dataflow_failed'], alertEmailTo: ['crm-owner@example.com'] },
    });
    expect(patched.body.alertTypes).toEqual(['dataflow_failed']);
    const listed = await t.call('GET', '/api/v1/destinations', { token: t.adminToken });
    expect(listed.body.items.find((d: Json) => d.id === destinationId).alertTypes).toEqual([
      'dataflow_failed',
    ]);

    // Paused: the installation's webhook and recipients only.
    await t.service.store.dataflows.update('prod', id, { status: 'paused', statusReason: 'X answered 403' });
    const paused = await waitFor(alertOf('dataflow_paused', id), 20_000, 'paused alert');
    expect(paused.path).toBe('/global');
    const pausedMail = await waitFor(
      () => Promise.resolve(smtp.received.find((m) => m.headers['x-tca-alert-id'] === paused.body.alertId)),
      20_000,
      'the paused alert email',
    );
    expect(pausedMail.to).toEqual(['oncall@example.com']);
    // Failed, which it subscribed to: its own webhook and recipients too.
    await t.service.store.dataflows.update('prod', id, { status: 'failed', statusReason: 'planned failure' });
    const failed = await waitFor(
      () =>
        Promise.resolve(
          received.find(
            (a) => a.path === '/destination' && a.body.type === 'dataflow_failed' && a.body.dataflowId === id,
          ),
        ),
      20_000,
      'failed alert at the destination webhook',
    );
    const failedMail = await waitFor(
      () => Promise.resolve(smtp.received.find((m) => m.headers['x-tca-alert-id'] === failed.body.alertId)),
      20_000,
      'the failed alert email',
    );
    expect(failedMail.to).toEqual(['oncall@example.com', 'crm-owner@example.com']);
    // A webhook's notifications go in the order they fired: had the paused one been queued for the destination's
    // webhook, it would have arrived before the failed one.
    const atDestination = received.filter((a) => a.path === '/destination' && a.body.dataflowId === id);
    expect(atDestination.map((a) => a.body.type)).toEqual(['dataflow_failed']);

    // Every type again (null), and cleared.
    const every = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { alertTypes: null },
    });
    expect(every.body.alertTypes).toBeNull();
    await t.service.store.dataflows.update('prod', id, { status: 'active', statusReason: null });
    await waitFor(alertOf('dataflow_failed', id, 'resolved'), 20_000, 'failed resolved');
  });

  it('tells a destination that subscribed to run notifications of a run that starts, by webhook and email', async () => {
    const { id, destinationId } = await dataflow('Run news');
    const subscribed = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { alertTypes: ['dataflow_run_started'], alertEmailTo: ['news@example.com'] },
    });
    expect(subscribed.body.alertTypes).toEqual(['dataflow_run_started']);
    const ingest = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('news@example.com', { 'seg-a': 'realized' }, 'news1'),
    });
    expect(ingest.status).toBe(202);
    expect((await t.call('POST', `/api/v1/dataflows/${id}/flush`, { token: t.adminToken })).status).toBe(200);

    const notice = await waitFor(alertOf('dataflow_run_started', id, 'notice'), 20_000, 'the run notice');
    expect(notice.path).toBe('/destination');
    expect(notice.body).toMatchObject({ severity: 'info', details: { runId: expect.any(String) } });
    expect(notice.body.text).toMatch(
      /^\[INFO\] Dataflow "Run news" started run \S+: \d+ identities activated so far$/,
    );
    const mail = await waitFor(
      () => Promise.resolve(smtp.received.find((m) => m.headers['x-tca-alert-id'] === notice.body.alertId)),
      20_000,
      'the run notice email',
    );
    // The destination's own recipients only: the installation's get no run notifications.
    expect(mail.to).toEqual(['news@example.com']);
    // Nothing of it went to the installation's webhook, and it is no alert to list.
    expect(received.filter((a) => a.path === '/global' && a.body.type === 'dataflow_run_started')).toEqual(
      [],
    );
    const listed = await t.call('GET', `/api/v1/alerts?dataflowId=${id}`, { token: t.adminToken });
    expect(listed.body.items).toEqual([]);
  });

  it('holds back a silenced alert, lists it as not notified, and sends it once the silence is ended', async () => {
    const { id } = await dataflow('Maintenance flow');
    const call = (method: string, path: string, body?: unknown) =>
      t.call(method, path, { token: t.adminToken, ...(body === undefined ? {} : { body }) });
    // Refused with every problem named, and nothing created.
    const bad = await call('POST', '/api/v1/alerts/silences', {
      dataflowId: 'df_nope',
      endsAt: '2020-01-01T00:00:00Z',
      comment: 'x',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([
      { path: 'endsAt', reason: 'must be after startsAt' },
      { path: 'dataflowId', reason: 'no dataflow df_nope in this sandbox' },
    ]);
    const both = await call('POST', '/api/v1/alerts/silences', {
      durationMinutes: 5,
      endsAt: new Date(now() + 60_000).toISOString(),
      comment: 'x',
    });
    expect(both.status).toBe(400);
    expect(both.body.error.details[0]).toMatchObject({
      path: 'endsAt',
      reason: 'give either endsAt or durationMinutes',
    });
    const long = await call('POST', '/api/v1/alerts/silences', { durationMinutes: 43_200, comment: 'x' });
    expect(long.status).toBe(201);
    await call('DELETE', `/api/v1/alerts/silences/${long.body.id}`);
    expect((await call('DELETE', '/api/v1/alerts/silences/sil_nope')).status).toBe(404);

    const made = await call('POST', '/api/v1/alerts/silences', {
      dataflowId: id,
      type: 'dataflow_failed',
      durationMinutes: 120,
      comment: 'moving the audience to a new account',
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({
      dataflowId: id,
      type: 'dataflow_failed',
      state: 'active',
      createdBy: 'admin',
    });
    expect(Date.parse(made.body.endsAt) - Date.parse(made.body.startsAt)).toBe(120 * 60_000);
    const listed = await call('GET', '/api/v1/alerts/silences');
    expect(listed.body.items.map((x: Json) => x.id)).toEqual([made.body.id]);

    await t.service.store.dataflows.update('prod', id, { status: 'failed', statusReason: 'planned' });
    const held = await waitFor(
      async () =>
        (await call('GET', '/api/v1/alerts?status=firing')).body.items.find(
          (a: Json) => a.dataflowId === id && a.type === 'dataflow_failed',
        ),
      20_000,
      'the silenced alert listed',
    );
    expect(held.notified).toBe(false);
    // Evaluated a few more times, still nothing sent.
    const metricsText = () => fetch(`${t.service.url}/metrics`).then((r) => r.text());
    await waitFor(
      async () => ((await metricsText()).match(/outcome="silenced"/) ? true : undefined),
      10_000,
      'the silenced counter',
    );
    expect(await alertOf('dataflow_failed', id)()).toBeUndefined();

    const ended = await call('DELETE', `/api/v1/alerts/silences/${made.body.id}`);
    expect(ended.body.state).toBe('ended');
    const sent = await waitFor(alertOf('dataflow_failed', id), 20_000, 'the alert, once the silence ended');
    expect(sent.body).toMatchObject({ alertId: held.alertId, firedAt: held.firedAt });
    expect((await call('GET', '/api/v1/alerts/silences')).body.items).toEqual([]);
    expect(
      (await call('GET', '/api/v1/alerts/silences?expired=true')).body.items.map((x: Json) => x.id),
    ).toContain(made.body.id);
    await t.service.store.dataflows.update('prod', id, { status: 'active', statusReason: null });
  });

  it("sends a test notification to a destination's webhook on request, and says why one was not delivered", async () => {
    const d = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: {
        name: 'Tested destination',
        accountId: DEMO.accountId,
        credentials: DEMO.credentials,
        alertWebhookUrl: `${receiverUrl()}/tested`,
      },
    });
    const sent = await t.call('POST', `/api/v1/destinations/${d.body.id}/test-alert`, {
      token: t.adminToken,
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    // Named by its origin: the URL is a secret.
    expect(sent.body).toMatchObject({ webhook: new URL(receiverUrl()).origin, delivered: true, error: null });
    expect(JSON.stringify(sent.body)).not.toContain('/tested');
    const got = received.find((r) => r.path === '/tested')!;
    expect(got.body).toMatchObject({ type: 'test', destinationId: d.body.id, id: sent.body.notification.id });
    expect(got.body.message).toContain('Tested destination');
    expect(d.body.alertWebhook).toEqual({ origin: new URL(receiverUrl()).origin, format: 'json' });

    // A Google Chat webhook takes { text } only.
    const chat = await t.call('PATCH', `/api/v1/destinations/${d.body.id}`, {
      token: t.adminToken,
      body: { alertWebhookUrl: `${receiverUrl()}/chat`, alertWebhookFormat: 'google-chat' },
    });
    expect(chat.body.alertWebhook).toEqual({ origin: new URL(receiverUrl()).origin, format: 'google-chat' });
    await t.call('POST', `/api/v1/destinations/${d.body.id}/test-alert`, { token: t.adminToken });
    const text = received.find((r) => r.path === '/chat')!;
    expect(text.body).toEqual({
      text: expect.stringMatching(/^\[TEST\] Test alert for destination "Tested destination"/),
    });
    const unknown = await t.call('PATCH', `/api/v1/destinations/${d.body.id}`, {
      token: t.adminToken,
      body: { alertWebhookFormat: 'discord' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].path).toBe('alertWebhookFormat');

    // A webhook nobody answers at: not delivered, and why.
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    await t.call('PATCH', `/api/v1/destinations/${d.body.id}`, {
      token: t.adminToken,
      body: { alertWebhookUrl: `http://127.0.0.1:${closed}/gone` },
    });
    const failed = await t.call('POST', `/api/v1/destinations/${d.body.id}/test-alert`, {
      token: t.adminToken,
    });
    expect(failed.body.delivered).toBe(false);
    expect(failed.body.error).toMatch(/refused|connect/i);

    // No webhook: a 400 that says what to set.
    await t.call('PATCH', `/api/v1/destinations/${d.body.id}`, {
      token: t.adminToken,
      body: { alertWebhookUrl: null },
    });
    const none = await t.call('POST', `/api/v1/destinations/${d.body.id}/test-alert`, {
      token: t.adminToken,
    });
    expect(none.status).toBe(400);
    expect(none.body.error.details[0].path).toBe('alertWebhookUrl');
  });

  it("keeps a destination's alert webhook secret: sealed at rest, shown by its origin only, kept by a change of format", async () => {
    const secretPath = '/services/T0001/B0002/slack-token-xyz';
    const d = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: {
        name: 'Secret webhook',
        accountId: DEMO.accountId,
        credentials: DEMO.credentials,
        alertWebhookUrl: `${receiverUrl()}${secretPath}`,
        alertWebhookFormat: 'slack',
      },
    });
    expect(d.status, JSON.stringify(d.body)).toBe(201);
    const origin = new URL(receiverUrl()).origin;
    expect(d.body.alertWebhook).toEqual({ origin, format: 'slack' });
    const viewer = await t.call('POST', '/api/v1/tokens', {
      token: t.adminToken,
      body: { name: 'webhook viewer', permissions: ['View Destinations'] },
    });
    for (const token of [t.adminToken, viewer.body.token as string]) {
      const listed = await t.call('GET', '/api/v1/destinations', { token });
      expect(listed.status).toBe(200);
      expect(JSON.stringify(listed.body)).not.toContain('slack-token-xyz');
      const one = await t.call('GET', `/api/v1/destinations/${d.body.id}`, { token });
      expect(one.body.alertWebhook).toEqual({ origin, format: 'slack' });
      expect(one.body).not.toHaveProperty('alertWebhookUrl');
    }
    // At rest: sealed, bound to its destination.
    const row = await t.service.store.db
      .selectFrom('destinations')
      .select('alert_webhook_url')
      .where('id', '=', d.body.id)
      .executeTakeFirstOrThrow();
    expect(row.alert_webhook_url).toMatch(/^v1\./);
    expect(row.alert_webhook_url).not.toContain('slack-token-xyz');

    // A change of format alone keeps the URL, which still receives the test alert.
    const patched = await t.call('PATCH', `/api/v1/destinations/${d.body.id}`, {
      token: t.adminToken,
      body: { alertWebhookFormat: 'google-chat' },
    });
    expect(patched.body.alertWebhook).toEqual({ origin, format: 'google-chat' });
    const sent = await t.call('POST', `/api/v1/destinations/${d.body.id}/test-alert`, {
      token: t.adminToken,
    });
    expect(sent.body).toMatchObject({ webhook: `${origin} (google-chat)`, delivered: true });
    expect(received.some((r) => r.path === secretPath)).toBe(true);
    await t.call('DELETE', `/api/v1/destinations/${d.body.id}`, { token: t.adminToken });
  });

  it("emails a test alert to the installation's recipients, and names the SMTP server, never its login", async () => {
    const settings = await t.call('GET', '/api/v1/settings', { token: t.adminToken });
    expect(settings.body.alertEmail).toEqual({
      to: ['oncall@example.com'],
      smtp: smtp.url.replace('user:secret@', ''),
      proxy: null,
    });
    const before = smtp.received.length;
    const r = await t.call('POST', '/api/v1/alerts/test-email', { token: t.adminToken });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ to: ['oncall@example.com'], delivered: true, error: null });
    const mail = smtp.received
      .slice(before)
      .find(
        (m) => m.headers['x-tca-alert-status'] === 'firing' && /^\[TEST\] /.test(m.headers['subject'] ?? ''),
      );
    expect(mail).toBeDefined();
    expect(mail!.headers['from']).toContain('tca@example.com');
    smtp.refusing = true;
    try {
      const refused = await t.call('POST', '/api/v1/alerts/test-email', { token: t.adminToken });
      expect(refused.body.delivered).toBe(false);
      expect(refused.body.error).toMatch(/451 /);
    } finally {
      smtp.refusing = false;
    }
  });

  it("emails a test alert to a destination's own recipients, and refuses a destination without any", async () => {
    const made = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: {
        name: 'Mailed destination',
        accountId: DEMO.accountId,
        alertEmailTo: ['crm-owner@example.com'],
      },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body.alertEmailTo).toEqual(['crm-owner@example.com']);
    const before = smtp.received.length;
    const r = await t.call('POST', `/api/v1/destinations/${made.body.id}/test-email`, {
      token: t.adminToken,
    });
    expect(r.body).toEqual({ to: ['crm-owner@example.com'], delivered: true, error: null });
    const mail = smtp.received.slice(before).find((m) => /^\[TEST\] /.test(m.headers['subject'] ?? ''));
    expect(mail?.to).toEqual(['crm-owner@example.com']);
    expect(mail?.headers['subject']).toContain('Mailed destination');

    const bad = await t.call('PATCH', `/api/v1/destinations/${made.body.id}`, {
      token: t.adminToken,
      body: { alertEmailTo: ['crm-owner@example.com', 'not an address'] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('alertEmailTo[1]');
    const cleared = await t.call('PATCH', `/api/v1/destinations/${made.body.id}`, {
      token: t.adminToken,
      body: { alertEmailTo: [] },
    });
    expect(cleared.body.alertEmailTo).toEqual([]);
    const none = await t.call('POST', `/api/v1/destinations/${made.body.id}/test-email`, {
      token: t.adminToken,
    });
    expect(none.status).toBe(400);
    expect(none.body.error.details[0]).toMatchObject({ path: 'alertEmailTo' });
    expect(none.body.error.details[0].reason).toContain('PATCH alertEmailTo');
  });

  it('refuses a PagerDuty test without a routing key, naming the variable to set', async () => {
    const r = await t.call('POST', '/api/v1/alerts/test-pagerduty', { token: t.adminToken });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].path).toBe('TCA_ALERT_PAGERDUTY_ROUTING_KEY');
  });

  it("names the installation's webhook to the admin by its origin only, and says notifications are signed", async () => {
    const settings = await t.call('GET', '/api/v1/settings', { token: t.adminToken });
    expect(settings.body.alertWebhook).toEqual({ origin: receiverUrl(), signed: true, format: 'json' });
    expect(JSON.stringify(settings.body)).not.toContain('/global');
  });

  it("sends a test notification to the installation's webhook for the admin", async () => {
    const sent = await t.call('POST', '/api/v1/alerts/test', { token: t.adminToken });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toMatchObject({ webhook: new URL(receiverUrl()).origin, delivered: true, error: null });
    const got = await waitFor(
      () =>
        Promise.resolve(
          received.find((r) => r.path === '/global' && r.body.id === sent.body.notification.id),
        ),
      5_000,
      'the test notification',
    );
    expect(got.body).toMatchObject({ type: 'test', message: expect.stringContaining('every alert') });
  });

  it('signs every notification with the shared secret', () => {
    expect(received.length).toBeGreaterThan(0);
    // PagerDuty's events are not signed: their routing key is what PagerDuty checks.
    for (const r of received.filter((x) => x.path !== '/pagerduty')) {
      const header = String(r.headers['x-tca-signature']);
      const at = Number(/^t=(\d+),/.exec(header)?.[1]);
      expect(header).toBe(signatureHeader(SECRET, r.raw, at));
      expect(Math.abs(at - Date.now() / 1000 - offsetMs / 1000)).toBeLessThan(60);
      // A chat tool's message has no id of its own: the header still names the notification.
      if ('text' in r.body && !('id' in r.body)) expect(r.headers['x-tca-notification-id']).toMatch(/^alr_/);
      else expect(r.headers['x-tca-notification-id']).toBe(r.body.id);
    }
  });

  it('fires "audience not targetable" once X has processed an audience too small to target', async () => {
    const { id } = await dataflow('Small audience');
    await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('small@example.com', { 'seg-a': 'realized' }, 'small1'),
    });
    await t.call('POST', `/api/v1/dataflows/${id}/flush`, { token: t.adminToken });
    await t.service.engine.pollHealth();
    const alert = await waitFor(alertOf('audience_not_targetable', id), 20_000, 'not targetable alert');
    expect(alert.body.severity).toBe('warning');
    expect(alert.body.message).toMatch(
      /^Audience ".+" of dataflow "Small audience" is not targetable at X \(TOO_SMALL\)/,
    );
    expect(alert.body.message).toContain('at least 100 users');
    expect(alert.body.details).toMatchObject({ reasons: ['TOO_SMALL'], size: null });
  });

  it('fires "delayed" when changes are late past the threshold: past their window, as X keeps failing', async () => {
    // X fails every users request: the worker backs off and the change stays pending.
    t.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 503, times: 10_000 }] });
    try {
      const { id } = await dataflow('Slow flow', { maxBatchAgeSeconds: 3_600 });
      await t.call('POST', '/api/v1/ingest/profiles', {
        token: t.adminToken,
        body: profile('slow@example.com', { 'seg-a': 'realized' }, 'slow1'),
      });
      const audiences = await t.call('GET', `/api/v1/audiences?dataflowId=${id}`, { token: t.adminToken });
      const oldest = Date.parse(audiences.body.items[0].oldestPendingAt);
      // Five hours on, the change was due four hours ago (an hour's window): 240 minutes late, over the 150.
      offsetMs = 5 * 3_600_000;
      const alert = await waitFor(alertOf('dataflow_delayed', id), 20_000, 'delayed alert');
      expect(alert.body.details).toMatchObject({
        oldestPendingAt: new Date(oldest).toISOString(),
        dueAt: new Date(oldest + 3_600_000).toISOString(),
      });
      expect(alert.body.details.minutes).toBeGreaterThanOrEqual(300);
      expect(alert.body.details.minutesLate).toBe(alert.body.details.minutes - 60);
      expect(alert.body.message).toMatch(/has changes waiting \d+ minutes, \d+ past their delivery time/);
    } finally {
      t.emulator.admin.clearFaults();
    }
  });

  it('fires "no data" when a dataflow that expects profiles gets none for its hours, and resolves when some arrive', async () => {
    const { id } = await dataflow('Daily export flow', { noDataAlertHours: 2 });
    const shown = await t.call('GET', `/api/v1/dataflows/${id}`, { token: t.adminToken });
    expect(shown.body.noDataAlertHours).toBe(2);
    const tooMany = await t.call('PATCH', `/api/v1/dataflows/${id}`, {
      token: t.adminToken,
      body: { noDataAlertHours: 721 },
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details[0].path).toBe('noDataAlertHours');
    await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('daily@example.com', { 'seg-a': 'realized' }, 'daily1'),
    });
    // Four hours on, nothing more arrived.
    offsetMs += 4 * 3_600_000;
    const alert = await waitFor(alertOf('dataflow_no_data', id), 20_000, 'no-data alert');
    expect(alert.body.severity).toBe('warning');
    expect(alert.body.details.threshold).toBe(2);
    // Counted from when the profile arrived, not from the end of its hour.
    expect(alert.body.details.hours).toBe(4);
    expect(alert.body.message).toContain(
      `received no profiles in the last ${alert.body.details.hours} hours`,
    );
    // The source sends again: resolved.
    await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: profile('daily2@example.com', { 'seg-a': 'realized' }, 'daily2'),
    });
    const resolved = await waitFor(alertOf('dataflow_no_data', id, 'resolved'), 20_000, 'no-data resolved');
    expect(resolved.body.alertId).toBe(alert.body.alertId);
    const off = await t.call('PATCH', `/api/v1/dataflows/${id}`, {
      token: t.adminToken,
      body: { noDataAlertHours: null },
    });
    expect(off.body.noDataAlertHours).toBeNull();
  });

  it('tells a destination that asked of a run that only excluded profiles: started, then succeeded', async () => {
    const d = await t.call('POST', '/api/v1/destinations', {
      token: t.adminToken,
      body: {
        name: 'Run news destination',
        accountId: DEMO.accountId,
        credentials: DEMO.credentials,
        alertWebhookUrl: `${receiverUrl()}/run-news`,
        alertTypes: ['dataflow_run_started', 'dataflow_run_succeeded'],
      },
    });
    expect(d.status, JSON.stringify(d.body)).toBe(201);
    const df = await t.call('POST', '/api/v1/dataflows', {
      token: t.adminToken,
      body: {
        name: 'Nothing to send',
        destinationId: d.body.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: 'seg-a' }],
      },
    });
    expect(df.status, JSON.stringify(df.body)).toBe(201);
    const id = df.body.id as string;
    // Every profile's email is malformed: the run excludes them all and activates nothing.
    const body = Array.from({ length: 3 }, (_, i) =>
      profile(`nothing${i}(at)example.com`, { 'seg-a': 'realized' }, `nothing${i}`),
    );
    expect((await t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body })).status).toBe(202);
    const started = await waitFor(alertOf('dataflow_run_started', id, 'notice'), 20_000, 'run started');
    expect(started.path).toBe('/run-news');
    expect(started.body.details).toMatchObject({ activated: 0, failed: 0 });
    expect(started.body.details.excluded).toBeGreaterThanOrEqual(3);
    // The hour ends: the run succeeded, with what it excluded.
    offsetMs += 3_600_000;
    const succeeded = await waitFor(alertOf('dataflow_run_succeeded', id, 'notice'), 20_000, 'run succeeded');
    expect(succeeded.body.details.runId).toBe(started.body.details.runId);
    expect(succeeded.body.message).toMatch(
      /: 0 identities activated \(0 added, 0 removed\), \d+ excluded, none failed$/,
    );

    // Another run, and the service is down from its last hour until 2.5 hours after it ended (the clock jumps): the
    // dataflow was told of the run before, so it still hears of this one's success.
    const more = Array.from({ length: 2 }, (_, i) =>
      profile(`later${i}(at)example.com`, { 'seg-a': 'realized' }, `later${i}`),
    );
    expect(
      (await t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body: more })).status,
    ).toBe(202);
    const noticeOf = (type: string, runMatches: (runId: string) => boolean) => () =>
      Promise.resolve(
        received.find(
          (a) => a.body.type === type && a.body.dataflowId === id && runMatches(a.body.details.runId),
        ),
      );
    const next = await waitFor(
      noticeOf('dataflow_run_started', (runId) => runId !== started.body.details.runId),
      20_000,
      'the next run started',
    );
    offsetMs += 3.5 * 3_600_000;
    const late = await waitFor(
      noticeOf('dataflow_run_succeeded', (runId) => runId === next.body.details.runId),
      20_000,
      'the success of the run that ended while the service was down',
    );
    expect(late.path).toBe('/run-news');
  });
});

describe('planAlerts', () => {
  const base: DataflowHealth = {
    sandboxId: 'sbx_1',
    sandbox: 'prod',
    dataflowId: 'df1',
    dataflowName: 'A',
    destinationId: 'd1',
    webhookUrl: null,
    emailTo: [],
    pagerDutyDestinationId: null,
    alertTypes: null,
    noData: null,
    recentRuns: [],
    status: 'paused',
    statusReason: 'X answered 401',
    oldestPendingAt: null,
    lastRun: null,
    audiences: [],
  };
  const thresholds = { exclusionRate: 0.5, delayMinutes: 150 };
  /** What the store would hold after acting on a plan. */
  const firingAfter = (firing: FiringAlert[], health: DataflowHealth[]) => {
    const conditions = evaluateConditions(health, thresholds, 0);
    const plan = planAlerts(conditions, firing);
    const ended = new Set([...plan.resolve, ...plan.forget].map((f) => f.key));
    const next = firing.filter((f) => !ended.has(f.key));
    for (const c of plan.fire)
      next.push({
        id: `alr_${c.key}`,
        key: c.key,
        sandboxId: c.sandboxId,
        type: c.alert.type,
        notified: true,
        lastNotifiedAt: 0,
        acknowledgedAt: null,
        urls: [],
        alert: { ...c.alert } as FiringAlert['alert'],
      });
    return { plan, next };
  };
  it('fires once per condition, resolves it when it clears, and fires it again when it comes back', () => {
    const first = firingAfter([], [base]);
    expect(first.plan.fire.map((c) => c.alert.type)).toEqual(['dataflow_paused']);
    const again = firingAfter(first.next, [base]);
    expect(again.plan.fire).toEqual([]);
    expect(again.plan.resolve).toEqual([]);
    const cleared = firingAfter(again.next, [{ ...base, status: 'active' }]);
    expect(cleared.plan.resolve.map((f) => f.key)).toEqual(['df1:paused']);
    const back = firingAfter(cleared.next, [base]);
    expect(back.plan.fire.length).toBe(1);
  });
  it('resolves the alerts of a dataflow that is gone', () => {
    const first = firingAfter([], [base]);
    expect(firingAfter(first.next, []).plan.resolve.map((f) => f.key)).toEqual(['df1:paused']);
  });
  it('forgets an exclusion-rate alert without resolving it: it belongs to its run', () => {
    const run = { runId: 'r1', activated: 1, excluded: 9, failed: 0, pending: 0 };
    const first = firingAfter([], [{ ...base, status: 'active', lastRun: run }]);
    expect(first.plan.fire.map((c) => c.key)).toEqual(['df1:exclusion:r1']);
    const next = firingAfter(first.next, [
      { ...base, status: 'active', lastRun: { ...run, runId: 'r2', excluded: 0 } },
    ]);
    expect(next.plan.resolve).toEqual([]);
    expect(next.plan.forget.map((f) => f.key)).toEqual(['df1:exclusion:r1']);
  });
  it('counts the changes waiting for delivery against the exclusions, not as excluded', () => {
    const rate = (lastRun: DataflowHealth['lastRun']) =>
      evaluateConditions([{ ...base, status: 'active', lastRun }], thresholds, 0).map((c) => c.alert.type);
    // Exclusions are counted on arrival, activations once X accepts them: 4 excluded beside 2,681 waiting is 0.15%.
    expect(rate({ runId: 'r1', activated: 0, excluded: 4, failed: 0, pending: 2681 })).toEqual([]);
    expect(rate({ runId: 'r1', activated: 0, excluded: 8, failed: 0, pending: 2 })).toEqual([
      'exclusion_rate_exceeded',
    ]);
  });
  it('alerts on an audience X processed and will not target, not on one still processing', () => {
    const audience = {
      id: 'aud1',
      name: 'Buyers',
      xAudienceId: 'x1',
      size: null,
      targetable: false,
      reasons: ['PROCESSING', 'TOO_SMALL'],
    };
    const active = { ...base, status: 'active', statusReason: null };
    expect(evaluateConditions([{ ...active, audiences: [audience] }], thresholds, 0)).toEqual([]);
    const small = firingAfter([], [{ ...active, audiences: [{ ...audience, reasons: ['TOO_SMALL'] }] }]);
    expect(small.plan.fire.map((c) => [c.key, c.alert.type])).toEqual([
      ['df1:aud1:not_targetable', 'audience_not_targetable'],
    ]);
    const grown = firingAfter(small.next, [
      { ...active, audiences: [{ ...audience, targetable: true, reasons: [], size: 150 }] },
    ]);
    expect(grown.plan.resolve.map((f) => f.key)).toEqual(['df1:aud1:not_targetable']);
  });

  it('alerts when an active dataflow expecting profiles has had none for its hours', () => {
    const active = { ...base, status: 'active', statusReason: null };
    const hour = 3_600_000;
    const at = (hours: number) =>
      evaluateConditions([{ ...active, noData: { hours: 24, since: 0 } }], thresholds, hours * hour);
    expect(at(23.9)).toEqual([]);
    const [fired] = at(25.5);
    expect(fired).toMatchObject({
      key: 'df1:no_data',
      alert: { type: 'dataflow_no_data', severity: 'warning', details: { hours: 25, threshold: 24 } },
    });
    expect(fired!.alert.message).toBe(
      'Dataflow "A" received no profiles in the last 25 hours (it expects some within 24): check its source, the AEP dataflow or the import that feeds it',
    );
    // Not while paused (nothing is expected of it), nor without an expectation.
    expect(evaluateConditions([{ ...base, noData: { hours: 24, since: 0 } }], thresholds, 30 * hour)).toEqual(
      expect.not.arrayContaining([expect.objectContaining({ key: 'df1:no_data' })]),
    );
    expect(evaluateConditions([{ ...active, noData: null }], thresholds, 30 * hour)).toEqual([]);
  });

  it('does not alert on a pause a user asked for', () => {
    expect(evaluateConditions([{ ...base, statusReason: 'paused by a user' }], thresholds, 0)).toEqual([]);
  });

  it("sends a destination's own targets only the types it subscribed to; the condition holds either way", () => {
    const targets = {
      webhookUrl: 'https://hooks.example.com/a',
      emailTo: ['team@example.com'],
      pagerDutyDestinationId: 'd1',
    };
    const run = { runId: 'r1', activated: 1, excluded: 9, failed: 0, pending: 0 };
    const health: DataflowHealth = { ...base, ...targets, lastRun: run, alertTypes: ['dataflow_paused'] };
    const routed = evaluateConditions([health], thresholds, 0).map((c) => [
      c.alert.type,
      c.webhookUrl,
      c.emailTo,
      c.pagerDutyDestinationId,
    ]);
    expect(routed).toEqual([
      ['dataflow_paused', targets.webhookUrl, targets.emailTo, 'd1'],
      // Still a condition (the installation's targets get it), without the destination's own targets.
      ['exclusion_rate_exceeded', null, [], null],
    ]);
    // None subscribed: the destination's targets get nothing; null: every type.
    const none = evaluateConditions([{ ...health, alertTypes: [] }], thresholds, 0);
    expect(none.map((c) => c.webhookUrl ?? c.pagerDutyDestinationId ?? c.emailTo[0] ?? null)).toEqual([
      null,
      null,
    ]);
    const every = evaluateConditions([{ ...health, alertTypes: null }], thresholds, 0);
    expect(every.map((c) => c.webhookUrl)).toEqual([targets.webhookUrl, targets.webhookUrl]);
  });
});
