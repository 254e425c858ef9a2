import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  outboxTarget,
  acknowledgeAlert,
  createSilence,
  endSilence,
  listAlerts,
  listSilences,
  startAlerts,
  USER_PAUSE_REASON,
  webhookTarget,
  type Alert,
  type DataflowHealth,
} from '../../src/server/alerts.ts';
import { createLogger } from '../../src/server/logger.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { BACKENDS, type TestStore } from '../store/backends.ts';
import { startSmtpReceiver } from '../fixtures/smtp-receiver.ts';

// The alert runner on a real store (SQLite and PostgreSQL) with a real webhook receiver on loopback: several workers
// and restarts send each notification once, a refused notification is retried with backoff and in order, and one no
// webhook accepts within a day is dropped.

/** A webhook receiver that refuses (503) while `refusing` is set. */
async function startReceiver(): Promise<{
  url: string;
  accepted: Array<Alert & Record<string, unknown>>;
  /** The x-tca-notification-id of each accepted notification. */
  ids: string[];
  refused: number;
  refusing: boolean;
  close(): Promise<void>;
}> {
  const state = {
    accepted: [] as Array<Alert & Record<string, unknown>>,
    ids: [] as string[],
    refused: 0,
    refusing: false,
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (state.refusing) {
        state.refused += 1;
        res.writeHead(503).end();
        return;
      }
      state.accepted.push(JSON.parse(body) as Alert & Record<string, unknown>);
      state.ids.push(String(req.headers['x-tca-notification-id']));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

const paused: DataflowHealth = {
  sandboxId: 'sbx_test',
  sandbox: 'test',
  dataflowId: 'df_a',
  dataflowName: 'CRM to X',
  destinationId: 'dst_a',
  webhookUrl: null,
  emailTo: [],
  pagerDutyDestinationId: null,
  alertTypes: null,
  noData: null,
  recentRuns: [],
  status: 'paused',
  statusReason: 'X answered 401: re-authorize the destination',
  oldestPendingAt: null,
  lastRun: null,
  audiences: [],
};

describe.each(BACKENDS)('alert runner on $name', (backend) => {
  let db: TestStore;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let health: DataflowHealth[] = [];
  let clock = Date.parse('2026-11-30T12:00:00Z');
  const metrics = createMetrics({ defaultMetrics: false });
  type RunnerOptions = Parameters<typeof startAlerts>[0];
  /**
   * An alert runner of `health` on the test clock, checking only when told; `targets` says where its alerts go
   * (default: the receiver, with metrics).
   */
  const runner = (
    owner: string,
    targets: Omit<
      RunnerOptions,
      'store' | 'owner' | 'collect' | 'thresholds' | 'intervalMs' | 'logger' | 'now'
    > = {
      globalWebhookUrl: receiver.url,
      metrics,
    },
  ) =>
    startAlerts({
      store: db.store,
      owner,
      collect: () => Promise.resolve(health),
      thresholds: { exclusionRate: 0.5, delayMinutes: 60 },
      intervalMs: 3_600_000,
      logger: createLogger('silent'),
      now: () => clock,
      ...targets,
    });
  // Targets are sealed at rest (a webhook URL is a secret): no row holds one in the clear.
  const outbox = async () => {
    const rows = await db.store.db.selectFrom('alert_outbox').selectAll().execute();
    for (const row of rows) expect(row.url).toMatch(/^v1\./);
    return rows.map((row) => ({ ...row, url: outboxTarget(db.store.secrets, row.url) }));
  };

  beforeAll(async () => {
    db = await backend.open();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await db?.cleanup();
    await receiver?.close();
  });

  it('sends each notification once, however many workers evaluate and however often they restart', async () => {
    const a = runner('worker-a');
    const b = runner('worker-b');
    health = [paused];
    expect((await a.check()).map((n) => [n.type, n.status])).toEqual([['dataflow_paused', 'firing']]);
    // B finds the lease taken: it neither evaluates nor sends.
    expect(await b.check()).toEqual([]);
    expect(await b.deliver()).toBe(0);
    expect(await a.deliver()).toBe(1);
    expect(await a.check()).toEqual([]);
    expect(receiver.accepted.map((n) => n.status)).toEqual(['firing']);

    // A stops (hands the lease back); a restarted worker knows the alert fires already.
    await a.stop();
    const c = runner('worker-c');
    expect(await c.check()).toEqual([]);
    health = [{ ...paused, status: 'active', statusReason: null }];
    const [resolved] = await c.check();
    expect(resolved).toMatchObject({ status: 'resolved', alertId: receiver.accepted[0]!.alertId });
    expect(await c.deliver()).toBe(1);
    expect(await b.check()).toEqual([]);
    expect(receiver.accepted.map((n) => n.status)).toEqual(['firing', 'resolved']);
    await Promise.all([b.stop(), c.stop()]);
  });

  it('retries a refused notification with backoff and in order, and drops one not accepted within a day', async () => {
    const before = receiver.accepted.length;
    const w = runner('worker-d');
    receiver.refusing = true;
    health = [paused];
    await w.check();
    health = [{ ...paused, status: 'active', statusReason: null }];
    await w.check();
    // Firing, then resolved: the first refusal holds the second back, so their order stays.
    expect(await w.deliver()).toBe(0);
    expect(receiver.refused).toBe(1);
    const [first] = (await outbox()).sort((x, y) => x.id.localeCompare(y.id));
    expect(Number(first!.attempts)).toBe(1);
    expect(first!.last_error).toBe('HTTP 503');
    // Not due before the backoff has passed.
    clock += 10_000;
    expect(await w.deliver()).toBe(0);
    expect(receiver.refused).toBe(1);
    receiver.refusing = false;
    clock += 30_000;
    expect(await w.deliver()).toBe(2);
    expect(receiver.accepted.slice(before).map((n) => n.status)).toEqual(['firing', 'resolved']);
    expect(await outbox()).toEqual([]);

    // A webhook down for a day: the notification is dropped and counted.
    receiver.refusing = true;
    health = [paused];
    await w.check();
    for (let i = 0; i < 40 && (await outbox()).length > 0; i += 1) {
      clock += 3_600_000;
      await w.deliver();
    }
    expect(await outbox()).toEqual([]);
    const dropped = await metrics.alertsSent.get();
    expect(
      dropped.values.find((v) => v.labels.outcome === 'dropped' && v.labels.type === 'dataflow_paused')
        ?.value,
    ).toBe(1);
    receiver.refusing = false;
    await w.stop();
  });

  it('triggers a PagerDuty incident per alert and resolves it, the routing key added as sent and never stored', async () => {
    const routingKey = 'R0ut1ngKey0123456789abcdefABCDEF';
    const pd = await startReceiver();
    const w = runner('worker-pd', {
      globalWebhookUrl: undefined,
      pagerDuty: { routingKey },
      pagerDutyUrl: pd.url,
    });
    try {
      const d = { ...paused, dataflowId: 'df_pd', dataflowName: 'Paged flow', sandbox: 'prod' };
      health = [paused, d];
      const [fired] = await w.check();
      const queued = (await outbox()).filter((r) => r.url === `pagerduty+${pd.url}`);
      expect(queued).toHaveLength(1);
      expect(queued[0]!.body).not.toContain(routingKey);
      pd.refusing = true;
      expect(await w.deliver()).toBe(0);
      expect((await outbox())[0]!.last_error).toBe('HTTP 503');
      pd.refusing = false;
      clock += 30_000;
      expect(await w.deliver()).toBe(1);
      expect(pd.accepted).toEqual([
        {
          routing_key: routingKey,
          event_action: 'trigger',
          dedup_key: fired!.alertId,
          client: 'X Custom Audiences',
          payload: {
            summary: fired!.text,
            source: 'tca/prod',
            severity: 'critical',
            timestamp: fired!.firedAt,
            component: 'Paged flow',
            group: 'prod',
            class: 'dataflow_paused',
            custom_details: {
              message: fired!.message,
              dataflowId: 'df_pd',
              destinationId: 'dst_a',
              reason: paused.statusReason,
            },
          },
        },
      ]);
      health = [paused];
      await w.check();
      expect(await w.deliver()).toBe(1);
      expect(pd.accepted[1]).toEqual({
        routing_key: routingKey,
        event_action: 'resolve',
        dedup_key: fired!.alertId,
      });
    } finally {
      await w.stop();
      await pd.close();
    }
  });

  it("pages a destination's own PagerDuty key besides the installation's, read from the store as each event is sent", async () => {
    const installationKey = 'Inst4llat1onKey0123456789abcdefA';
    const ownKey = 'TeamOwnKey0123456789abcdefABCDEF';
    const pd = await startReceiver();
    const destination = await db.store.destinations.create({
      sandboxId: 'prod',
      name: 'paged team',
      accountId: '18ce54d4x5t',
      alertPagerDutyKey: ownKey,
    });
    const w = runner('worker-own-pd', {
      globalWebhookUrl: undefined,
      pagerDuty: { routingKey: installationKey },
      pagerDutyUrl: pd.url,
    });
    try {
      const d = {
        ...paused,
        dataflowId: 'df_own_pd',
        destinationId: destination.id,
        pagerDutyDestinationId: destination.id,
      };
      health = [paused, d];
      const [fired] = (await w.check()).filter((a) => a.dataflowId === 'df_own_pd');
      // Two events queued, neither holding a key.
      const queued = (await outbox()).filter((r) => r.url.startsWith('pagerduty'));
      expect(queued.map((r) => r.url).sort()).toEqual([
        `pagerduty+${pd.url}`,
        `pagerduty@${destination.id}+${pd.url}`,
      ]);
      for (const row of queued) expect(row.body).not.toMatch(/Key0123456789/);
      expect(await w.deliver()).toBe(2);
      expect(
        pd.accepted.map((e) => {
          const event = e as unknown as { routing_key: string; dedup_key: string };
          return [event.routing_key, event.dedup_key];
        }),
      ).toEqual([
        [installationKey, fired!.alertId],
        [ownKey, fired!.alertId],
      ]);
      // The key taken off before the resolution is sent: that event is held back, saying why; the installation's goes.
      await db.store.destinations.update('prod', destination.id, { alertPagerDutyKey: null });
      health = [paused];
      await w.check();
      expect(await w.deliver()).toBe(1);
      const [held] = (await outbox()).filter((r) => r.url.startsWith('pagerduty@'));
      expect(held!.last_error).toBe(`destination ${destination.id} no longer has a PagerDuty routing key`);
      await db.store.db.deleteFrom('alert_outbox').execute();
    } finally {
      await w.stop();
      await pd.close();
    }
  });

  it('sends a critical alert still firing again every repeat interval, not while silenced, and never a warning', async () => {
    const w = runner('worker-r', {
      globalWebhookUrl: receiver.url,
      repeatMs: 4 * 3_600_000,
    });
    // df_a, paused since the tests above, is reminded of too: these look at their own dataflows only.
    const mine = (list: Alert[]) => list.filter((n) => n.dataflowId !== 'df_a');
    try {
      const before = receiver.accepted.length;
      const critical = { ...paused, dataflowId: 'df_r', dataflowName: 'Reminded' };
      // A warning: delayed for two hours past the threshold.
      const warning = {
        ...paused,
        dataflowId: 'df_w',
        dataflowName: 'Waiting',
        status: 'active',
        statusReason: null,
        oldestPendingAt: clock - 3 * 3_600_000,
      };
      health = [paused, critical, warning];
      const fired = mine(await w.check());
      expect(fired.map((n) => [n.dataflowId, n.severity])).toEqual([
        ['df_r', 'critical'],
        ['df_w', 'warning'],
      ]);
      clock += 3 * 3_600_000;
      expect(mine(await w.check())).toEqual([]);
      clock += 3_600_000;
      const [reminder, ...more] = mine(await w.check());
      expect(more).toEqual([]);
      expect(reminder).toMatchObject({
        alertId: fired[0]!.alertId,
        status: 'firing',
        reminder: true,
        firedAt: fired[0]!.firedAt,
        message: `Still firing since ${fired[0]!.firedAt}: ${fired[0]!.message}`,
      });
      expect(reminder!.id).not.toBe(fired[0]!.id);
      expect(mine(await w.check())).toEqual([]);
      // Silenced when the next one is due: none, until the silence is over.
      await createSilence(db.store.db, {
        id: 'sil_r',
        sandboxId: 'sbx_test',
        dataflowId: 'df_r',
        type: null,
        startsAt: clock,
        endsAt: clock + 5 * 3_600_000,
        comment: 'on it',
        createdBy: 'ops',
        createdAt: clock,
      });
      clock += 4 * 3_600_000;
      expect(mine(await w.check())).toEqual([]);
      clock += 3_600_000;
      expect(mine(await w.check()).map((n) => [n.dataflowId, n.reminder])).toEqual([['df_r', true]]);
      health = [paused];
      await w.check();
      await w.deliver();
      expect(
        mine(receiver.accepted.slice(before)).map((n) => [n.dataflowId, n.status, n.reminder ?? false]),
      ).toEqual(
        expect.arrayContaining([
          ['df_r', 'firing', false],
          ['df_r', 'firing', true],
          ['df_r', 'resolved', false],
          ['df_w', 'firing', false],
          ['df_w', 'resolved', false],
        ]),
      );
      expect(mine(receiver.accepted.slice(before))).toHaveLength(6);
    } finally {
      await w.stop();
    }
  });

  it('acknowledges an alert: no more reminders, webhooks told and its PagerDuty incident acknowledged once, and it still resolves', async () => {
    const routingKey = 'Ack0wledgeKey0123456789abcdefABC';
    const pd = await startReceiver();
    const w = runner('worker-k', {
      globalWebhookUrl: receiver.url,
      pagerDuty: { routingKey },
      pagerDutyUrl: pd.url,
      repeatMs: 4 * 3_600_000,
    });
    const mine = (list: Alert[]) => list.filter((n) => n.dataflowId === 'df_k');
    try {
      const before = receiver.accepted.length;
      health = [paused, { ...paused, dataflowId: 'df_k', dataflowName: 'Acknowledged' }];
      const [fired] = mine(await w.check());
      await w.deliver();
      expect(pd.accepted.map((e) => e['event_action'])).toEqual(['trigger']);

      const ack = { sandboxId: 'sbx_test', alertId: fired!.alertId, by: 'on-call', at: clock };
      const queuedBefore = (await outbox()).length;
      const acknowledgedAs = { acknowledgedAt: new Date(clock).toISOString(), acknowledgedBy: 'on-call' };
      expect(await acknowledgeAlert(db.store, ack)).toMatchObject(acknowledgedAs);
      // Again, by someone else: it stays acknowledged as it was.
      expect(await acknowledgeAlert(db.store, { ...ack, by: 'someone else', at: clock + 1 })).toMatchObject(
        acknowledgedAs,
      );
      // One notification queued for each target its firing went to, once.
      const queued = await outbox();
      expect(queued).toHaveLength(queuedBefore + 2);
      expect(queued.filter((r) => r.body.includes('"acknowledge"')).map((r) => r.url)).toEqual([
        `pagerduty+${pd.url}`,
      ]);
      await w.deliver();
      const [told] = mine(receiver.accepted.slice(before)).filter((n) => n.status === 'acknowledged');
      expect(told).toMatchObject({
        id: `${fired!.alertId}-ack`,
        alertId: fired!.alertId,
        type: 'dataflow_paused',
        acknowledgedBy: 'on-call',
        acknowledgedAt: new Date(clock).toISOString(),
        firedAt: fired!.firedAt,
        text: `[ACKNOWLEDGED by on-call] ${fired!.message}`,
      });
      expect(pd.accepted[1]).toEqual({
        routing_key: routingKey,
        event_action: 'acknowledge',
        dedup_key: fired!.alertId,
      });
      const listed = (await listAlerts(db.store.db, 'sbx_test', { status: 'firing' })).find(
        (a) => a.alert.alertId === fired!.alertId,
      );
      expect(listed).toMatchObject({
        acknowledgedAt: new Date(clock).toISOString(),
        acknowledgedBy: 'on-call',
      });

      // Past the repeat interval twice: no reminder of it.
      clock += 9 * 3_600_000;
      expect(mine(await w.check())).toEqual([]);
      health = [paused];
      const [resolved] = mine(await w.check());
      expect(resolved).toMatchObject({ status: 'resolved', alertId: fired!.alertId });
      await w.deliver();
      expect(pd.accepted.map((e) => e['event_action'])).toEqual(['trigger', 'acknowledge', 'resolve']);
      expect(mine(receiver.accepted.slice(before)).map((n) => [n.status, n.reminder ?? false])).toEqual([
        ['firing', false],
        ['acknowledged', false],
        ['resolved', false],
      ]);

      expect(await acknowledgeAlert(db.store, ack)).toBe('resolved');
      expect(await acknowledgeAlert(db.store, { ...ack, alertId: 'alr_unknown' })).toBe('not_found');
      expect(await acknowledgeAlert(db.store, { ...ack, sandboxId: 'sbx_other' })).toBe('not_found');
    } finally {
      await w.stop();
      await pd.close();
    }
  });

  it('keeps an audience-not-targetable alert firing, unchanged and unsent, while its dataflow is paused or its health unknown', async () => {
    const w = runner('worker-t', { globalWebhookUrl: receiver.url, warningRepeatMs: 3_600_000 });
    const mine = (list: Alert[]) =>
      list.filter((n) => n.dataflowId === 'df_t' && n.type === 'audience_not_targetable');
    const small = {
      id: 'aud_t',
      name: 'Buyers',
      xAudienceId: 'x_t',
      size: null,
      targetable: false as boolean | null,
      reasons: ['TOO_SMALL'],
    };
    const active: DataflowHealth = {
      ...paused,
      dataflowId: 'df_t',
      dataflowName: 'Small audience',
      status: 'active',
      statusReason: null,
      audiences: [small],
    };
    const firing = async () =>
      (await listAlerts(db.store.db, 'sbx_test', { dataflowId: 'df_t', status: 'firing' })).map(
        (a) => a.alert,
      );
    try {
      health = [paused, active];
      const [fired] = mine(await w.check());
      expect(fired).toMatchObject({ type: 'audience_not_targetable', status: 'firing' });
      // Paused a little while (by a user, or by X refusing the credentials): its audience's health is not checked
      // meanwhile, so the alert stays as it is; no reminder either.
      for (const statusReason of [USER_PAUSE_REASON, 'X answered 401']) {
        health = [paused, { ...active, status: 'paused', statusReason }];
        clock += 2 * 3_600_000;
        expect(mine(await w.check())).toEqual([]);
        expect(await firing()).toEqual(expect.arrayContaining([fired]));
      }
      // Resumed, its health not yet known again (a recreated audience): still the same alert.
      health = [paused, { ...active, audiences: [{ ...small, targetable: null, reasons: [] }] }];
      expect(mine(await w.check())).toEqual([]);
      // Known again, still not targetable: the same alert, reminded of now that it is known to fire.
      health = [paused, active];
      const [reminder, ...more] = mine(await w.check());
      expect(more).toEqual([]);
      expect(reminder).toMatchObject({ alertId: fired!.alertId, reminder: true });
      // Targetable: resolved.
      health = [paused, { ...active, audiences: [{ ...small, targetable: true, reasons: [], size: 150 }] }];
      expect(mine(await w.check()).map((n) => [n.status, n.alertId])).toEqual([['resolved', fired!.alertId]]);
      // A dataflow gone takes its alert with it.
      health = [paused, active];
      const [again] = mine(await w.check());
      health = [paused];
      expect(mine(await w.check()).map((n) => [n.status, n.alertId])).toEqual([['resolved', again!.alertId]]);
      await w.deliver();
    } finally {
      await w.stop();
    }
  });

  it('emails every alert through the SMTP server: firing, reminded and resolved, retried while the server refuses', async () => {
    const smtp = await startSmtpReceiver();
    const w = runner('worker-m', {
      globalWebhookUrl: undefined,
      email: {
        to: ['oncall@example.com', 'data-team@example.com'],
        from: 'tca@example.com',
        smtpUrl: smtp.url,
      },
      repeatMs: 4 * 3_600_000,
    });
    const mine = (list: Alert[]) => list.filter((n) => n.dataflowId === 'df_m');
    try {
      health = [paused, { ...paused, dataflowId: 'df_m', dataflowName: 'Mailed' }];
      const [fired] = mine(await w.check());
      // The server says "try again later": kept, and sent once it accepts.
      smtp.refusing = true;
      await w.deliver();
      expect(smtp.refused).toBe(1);
      const [waiting] = (await outbox()).filter((r) => r.url.startsWith('mailto:'));
      expect(waiting!.last_error).toMatch(/^SMTP smtp:\/\/127\.0\.0\.1:\d+: 451 /);
      expect(waiting!.last_error).not.toContain('secret');
      smtp.refusing = false;
      clock += 30_000;
      await w.deliver();
      const mails = () => smtp.received.filter((m) => m.headers['x-tca-alert-id'] === fired!.alertId);
      expect(mails()).toHaveLength(1);
      const [mail] = mails();
      expect(mail).toMatchObject({
        from: 'tca@example.com',
        to: ['oncall@example.com', 'data-team@example.com'],
      });
      expect(mail!.headers['subject']).toContain('[CRITICAL]');
      expect(mail!.headers['message-id']).toBe(`<${fired!.id}@x-custom-audiences>`);
      expect(mail!.body).toContain(`Alert id:    ${fired!.alertId}`);
      expect(mail!.body).toContain('Dataflow:    Mailed (df_m)');
      expect(mail!.body).toContain(`tca alerts ack ${fired!.alertId}`);

      // A reminder four hours on, its acknowledgement, then its resolution: the same alert id, said as such.
      clock += 4 * 3_600_000;
      expect(mine(await w.check()).map((n) => n.reminder)).toEqual([true]);
      await w.deliver();
      const ack = { sandboxId: 'sbx_test', alertId: fired!.alertId, by: 'ops-token', at: clock };
      expect(await acknowledgeAlert(db.store, ack)).toMatchObject({ acknowledgedBy: 'ops-token' });
      health = [paused];
      await w.check();
      await w.deliver();
      expect(mails().map((m) => m.headers['x-tca-alert-status'])).toEqual([
        'firing',
        'firing',
        'acknowledged',
        'resolved',
      ]);
      expect(mails()[1]!.body).toContain('still firing (a reminder)');
      expect(mails()[2]!.headers['subject']).toBe(`[ACKNOWLEDGED by ops-token] ${fired!.message}`);
      expect(mails()[2]!.body).toContain('acknowledged by ops-token, still firing');
      // Quoted-printable: long lines arrive with soft breaks.
      expect(mails()[2]!.body.replace(/=\r?\n/g, '')).toContain(
        `Acknowledged: ${new Date(clock).toISOString()} by ops-token`,
      );
      expect(mails()[2]!.body).not.toContain('tca alerts ack');
      expect(mails()[3]!.headers['subject']).toContain('[RESOLVED]');
      expect(mails()[3]!.body).not.toContain('tca alerts ack');

      // A destination with recipients of its own: one email to everyone, each address once.
      health = [
        paused,
        {
          ...paused,
          dataflowId: 'df_m',
          dataflowName: 'Mailed',
          emailTo: ['crm-owner@example.com', 'oncall@example.com'],
        },
      ];
      const [again] = mine(await w.check());
      await w.deliver();
      const own = smtp.received.filter((m) => m.headers['x-tca-alert-id'] === again!.alertId);
      expect(own).toHaveLength(1);
      expect(own[0]!.to).toEqual(['oncall@example.com', 'data-team@example.com', 'crm-owner@example.com']);
      health = [paused];
      await w.check();
      await w.deliver();
    } finally {
      await w.stop();
      await smtp.close();
    }
  });

  it('reminds of a warning still firing when warnings repeat too, and never of an exclusion rate', async () => {
    const w = runner('worker-wr', {
      globalWebhookUrl: receiver.url,
      repeatMs: 4 * 3_600_000,
      warningRepeatMs: 24 * 3_600_000,
    });
    const mine = (list: Alert[]) => list.filter((n) => n.dataflowId === 'df_wr');
    try {
      const delayed: DataflowHealth = {
        ...paused,
        dataflowId: 'df_wr',
        dataflowName: 'Slow',
        status: 'active',
        statusReason: null,
        oldestPendingAt: clock - 2 * 3_600_000,
        lastRun: { runId: 'run-1', activated: 1, excluded: 9, failed: 0, pending: 0 },
      };
      // Held back by design (an 8-hour window, or X cadence mode's), two hours of waiting are not late.
      health = [paused, { ...delayed, dueAt: clock + 6 * 3_600_000 }];
      expect(mine(await w.check()).map((n) => n.type)).toEqual(['exclusion_rate_exceeded']);
      health = [paused, { ...delayed, dueAt: clock - 30 * 60_000 }];
      expect(mine(await w.check())).toEqual([]);
      health = [paused, delayed];
      expect(mine(await w.check()).map((n) => [n.type, n.reminder ?? false])).toEqual([
        ['dataflow_delayed', false],
      ]);
      // Past the critical interval, not the warnings': nothing.
      clock += 5 * 3_600_000;
      health = [paused, { ...delayed, oldestPendingAt: clock - 7 * 3_600_000 }];
      expect(mine(await w.check())).toEqual([]);
      clock += 20 * 3_600_000;
      health = [paused, { ...delayed, oldestPendingAt: clock - 27 * 3_600_000 }];
      const reminded = mine(await w.check());
      expect(reminded.map((n) => [n.type, n.reminder])).toEqual([['dataflow_delayed', true]]);
      expect(reminded[0]!.text).toMatch(/^\[WARNING\] Still firing since /);
      health = [paused];
      await w.check();
      await w.deliver();
    } finally {
      await w.stop();
    }
  });

  it("sends a chat tool's own message to a webhook of its format: Slack text, a Teams card", async () => {
    const slack = await startReceiver();
    const teams = await startReceiver();
    const w = runner('worker-f', {
      globalWebhookUrl: webhookTarget(slack.url, 'slack'),
    });
    try {
      const chatty = {
        ...paused,
        dataflowId: 'df_f',
        dataflowName: 'Chatty',
        webhookUrl: webhookTarget(teams.url, 'teams'),
      };
      health = [paused, chatty];
      const [fired] = (await w.check()).filter((n) => n.dataflowId === 'df_f');
      // Where it went is kept for its resolution, sealed: a chat webhook's URL is a secret.
      const states = await db.store.db.selectFrom('alert_states').select('urls').execute();
      expect(states.length).toBeGreaterThan(0);
      for (const { urls } of states) {
        expect(urls).toMatch(/^v1\./);
        expect(urls).not.toContain(new URL(teams.url).host);
      }
      health = [paused];
      await w.check();
      await w.deliver();
      // Slack takes { text } only: the one-line text of the firing, then of the resolved notification.
      expect(slack.accepted.slice(-2)).toEqual([
        { text: fired!.text },
        { text: `[RESOLVED] ${fired!.message}` },
      ]);
      expect(teams.accepted).toHaveLength(2);
      // Each still named by an id of its own, the same on a retry.
      expect(new Set(teams.ids).size).toBe(2);
      expect(teams.ids.every((id) => /^ntf_[0-9a-z]+$/.test(id))).toBe(true);
      const card = (n: unknown) =>
        (
          n as {
            attachments: Array<{ contentType: string; content: { body: Array<Record<string, unknown>> } }>;
          }
        ).attachments[0]!;
      expect(teams.accepted[0]).toMatchObject({ type: 'message' });
      expect(card(teams.accepted[0]).contentType).toBe('application/vnd.microsoft.card.adaptive');
      const [title, facts] = card(teams.accepted[0]).content.body;
      expect(title).toMatchObject({ type: 'TextBlock', text: fired!.text, color: 'Attention' });
      expect(facts!['facts']).toEqual(
        expect.arrayContaining([
          { title: 'Dataflow', value: 'Chatty (df_f)' },
          { title: 'Alert id', value: fired!.alertId },
        ]),
      );
      expect(card(teams.accepted[1]).content.body[0]).toMatchObject({ color: 'Good' });
    } finally {
      await w.stop();
      await slack.close();
      await teams.close();
    }
  });

  it('holds back what a silence covers: sent if it still fires when the silence ends, never if it cleared', async () => {
    const w = runner('worker-e');
    const before = receiver.accepted.length;
    const sent = () => receiver.accepted.slice(before).map((n) => [n.dataflowId, n.type, n.status]);
    const b = { ...paused, dataflowId: 'df_b', dataflowName: 'Loyalty' };
    const c = { ...paused, dataflowId: 'df_c', dataflowName: 'Churn' };
    const silence = (id: string, dataflowId: string | null, type: string | null, minutes: number) =>
      createSilence(db.store.db, {
        id,
        sandboxId: 'sbx_test',
        dataflowId,
        type,
        startsAt: clock,
        endsAt: clock + minutes * 60_000,
        comment: 'rotating the X credentials',
        createdBy: 'ops',
        createdAt: clock,
      });
    await silence('sil_b', 'df_b', 'dataflow_paused', 60);
    // Another type of df_c's: it does not cover df_c's pause.
    await silence('sil_c', 'df_c', 'dataflow_delayed', 60);
    health = [paused, b, c];
    expect((await w.check()).map((n) => n.dataflowId)).toEqual(['df_c']);
    await w.deliver();
    expect(sent()).toEqual([['df_c', 'dataflow_paused', 'firing']]);
    const listed = await listAlerts(db.store.db, 'sbx_test', { status: 'firing' });
    expect(listed.find((a) => a.alert.dataflowId === 'df_b')?.notified).toBe(false);
    expect(listed.find((a) => a.alert.dataflowId === 'df_c')?.notified).toBe(true);
    const silenced = await metrics.alertsSent.get();
    expect(silenced.values.find((v) => v.labels.outcome === 'silenced')?.value).toBe(1);

    // Within the window: still held back. Once it runs out, df_b's alert fires as it was (same id and time).
    clock += 30 * 60_000;
    expect(await w.check()).toEqual([]);
    const firedAt = listed.find((a) => a.alert.dataflowId === 'df_b')!.alert.firedAt;
    clock += 31 * 60_000;
    const released = await w.check();
    expect(released).toEqual([expect.objectContaining({ dataflowId: 'df_b', status: 'firing', firedAt })]);
    expect(await w.check()).toEqual([]);
    health = [paused];
    await w.check();
    await w.deliver();
    expect(sent().slice(0, 2)).toEqual([
      ['df_c', 'dataflow_paused', 'firing'],
      ['df_b', 'dataflow_paused', 'firing'],
    ]);
    expect(sent().slice(2).sort()).toEqual([
      ['df_b', 'dataflow_paused', 'resolved'],
      ['df_c', 'dataflow_paused', 'resolved'],
    ]);

    // A silence of every dataflow and type: an alert that fires and clears inside it is never sent, not even resolved.
    await silence('sil_all', null, null, 120);
    health = [paused, b];
    expect(await w.check()).toEqual([]);
    health = [paused];
    expect(await w.check()).toEqual([]);
    await w.deliver();
    expect(sent()).toHaveLength(4);
    // Ended early, it stops holding back at the next evaluation.
    health = [paused, c];
    expect(await w.check()).toEqual([]);
    expect(await listSilences(db.store.db, 'sbx_test', { now: clock })).toEqual([
      expect.objectContaining({ id: 'sil_all', dataflowId: null, type: null }),
    ]);
    const ended = await endSilence(db.store.db, 'sbx_test', 'sil_all', clock);
    expect(ended?.endsAt).toBe(clock);
    expect(await endSilence(db.store.db, 'other', 'sil_all', clock)).toBeNull();
    expect(await listSilences(db.store.db, 'sbx_test', { now: clock })).toEqual([]);
    // Ended ones, most recently ended first (sil_r, of the reminders test above, ended before these).
    expect(
      (await listSilences(db.store.db, 'sbx_test', { now: clock, expired: true })).map((x) => x.id),
    ).toEqual(['sil_all', 'sil_b', 'sil_c', 'sil_r']);
    expect((await w.check()).map((n) => [n.dataflowId, n.status])).toEqual([['df_c', 'firing']]);
    await w.stop();
  });
  it('sends run notifications once per run, only to the destination targets that list them', async () => {
    const w = runner('worker-n', {
      globalWebhookUrl: `${receiver.url}?installation`,
      pagerDuty: { routingKey: 'installation-key' },
      pagerDutyUrl: `${receiver.url}?pagerduty`,
    });
    // What the tests before left firing resolves first.
    health = [];
    await w.check();
    while ((await w.deliver()) > 0);
    const before = receiver.accepted.length;
    const hour = 3_600_000;
    const run = (runId: string, endsAt: number, activated: number, failed = 0) => ({
      runId,
      endsAt,
      activated,
      added: activated - 1,
      removed: 1,
      excluded: 2,
      failed,
    });
    const flow: DataflowHealth = {
      ...paused,
      dataflowId: 'df_runs',
      dataflowName: 'Runs',
      status: 'active',
      statusReason: null,
      webhookUrl: receiver.url,
      pagerDutyDestinationId: 'dst_a',
      alertTypes: ['dataflow_failed', 'dataflow_run_started', 'dataflow_run_succeeded'],
      recentRuns: [run('r2', clock + hour / 2, 5), run('r1', clock - hour / 2, 10)],
    };
    health = [flow];
    expect((await w.check()).map((n) => [n.type, n.status, n.severity, n.details['runId']])).toEqual([
      ['dataflow_run_started', 'notice', 'info', 'r2'],
      ['dataflow_run_succeeded', 'notice', 'info', 'r1'],
    ]);
    // Only the destination's own webhook: never the installation's targets, nor any PagerDuty service.
    const notices = (await outbox()).filter((row) => row.type.startsWith('dataflow_run_'));
    expect(notices.map((row) => row.url)).toEqual([receiver.url, receiver.url]);
    // Each run once, and nothing kept as an alert.
    expect(await w.check()).toEqual([]);
    const listed = await listAlerts(db.store.db, 'sbx_test');
    expect(listed.filter((a) => a.alert.dataflowId === 'df_runs')).toEqual([]);

    // The next hour: r3 opens; r2 ended with a failure, so no success is told of it.
    clock += hour;
    health = [{ ...flow, recentRuns: [run('r3', clock + hour / 2, 1), run('r2', clock - hour / 2, 5, 1)] }];
    expect((await w.check()).map((n) => [n.type, n.details['runId']])).toEqual([
      ['dataflow_run_started', 'r3'],
    ]);
    // Every alert type (null) is not a subscription to run notifications, nor is a paused dataflow's run news.
    clock += hour;
    const r4 = [run('r4', clock + hour / 2, 3)];
    health = [{ ...flow, alertTypes: null, recentRuns: r4 }];
    expect(await w.check()).toEqual([]);
    health = [{ ...flow, status: 'paused', statusReason: USER_PAUSE_REASON, recentRuns: r4 }];
    expect(await w.check()).toEqual([]);
    // A success is news for a run's length after its end: a dataflow that starts listing the type is not told of
    // a run that ended two hours ago (it is kept as told), only of the next one.
    const quiet = { ...flow, dataflowId: 'df_quiet', alertTypes: ['dataflow_run_succeeded' as const] };
    const runs = { ...flow, alertTypes: null, recentRuns: r4 };
    health = [runs, { ...quiet, recentRuns: [run('q1', clock - 2 * hour, 4)] }];
    expect(await w.check()).toEqual([]);
    health = [
      runs,
      { ...quiet, recentRuns: [run('q2', clock - hour + 1, 4), run('q1', clock - 2 * hour, 4)] },
    ];
    expect((await w.check()).map((n) => [n.type, n.details['runId']])).toEqual([
      ['dataflow_run_succeeded', 'q2'],
    ]);
    // Told of q2, it hears of q3 even 90 minutes after its end (the service was down meanwhile).
    clock += 3 * hour;
    health = [runs, { ...quiet, recentRuns: [run('q3', clock - 1.5 * hour, 6)] }];
    expect((await w.check()).map((n) => [n.type, n.details['runId']])).toEqual([
      ['dataflow_run_succeeded', 'q3'],
    ]);
    expect(await w.check()).toEqual([]);

    // Each dataflow's last noticed run is kept per type, until the dataflow is gone.
    const noticed = () =>
      db.store.db
        .selectFrom('store_meta')
        .selectAll()
        .where('key', 'like', 'run_notice:%')
        .orderBy('key')
        .execute();
    expect(await noticed()).toEqual([
      { key: 'run_notice:df_quiet:dataflow_run_succeeded', value: 'q3' },
      { key: 'run_notice:df_runs:dataflow_run_started', value: 'r3' },
      { key: 'run_notice:df_runs:dataflow_run_succeeded', value: 'r1' },
    ]);
    health = [];
    await w.check();
    expect(await noticed()).toEqual([]);

    expect(await w.deliver()).toBe(5);
    const sent = receiver.accepted.slice(before);
    expect(sent.map((n) => [n.type, n.status, n.text])).toEqual([
      [
        'dataflow_run_started',
        'notice',
        '[INFO] Dataflow "Runs" started run r2: 5 identities activated so far',
      ],
      [
        'dataflow_run_succeeded',
        'notice',
        '[INFO] Dataflow "Runs" completed run r1: 10 identities activated (9 added, 1 removed), 2 excluded, none failed',
      ],
      [
        'dataflow_run_started',
        'notice',
        '[INFO] Dataflow "Runs" started run r3: 1 identities activated so far',
      ],
      [
        'dataflow_run_succeeded',
        'notice',
        '[INFO] Dataflow "Runs" completed run q2: 4 identities activated (3 added, 1 removed), 2 excluded, none failed',
      ],
      [
        'dataflow_run_succeeded',
        'notice',
        '[INFO] Dataflow "Runs" completed run q3: 6 identities activated (5 added, 1 removed), 2 excluded, none failed',
      ],
    ]);
    await w.stop();
  });

  it('keeps every alert of a condition that fires again, each with its own id, times, acknowledgement and incident, for 30 days', async () => {
    const routingKey = 'Ep1sodeKey0123456789abcdefABCDEF';
    const pd = await startReceiver();
    const w = runner('worker-e', {
      globalWebhookUrl: receiver.url,
      pagerDuty: { routingKey },
      pagerDutyUrl: pd.url,
    });
    const mine = (list: Alert[]) => list.filter((n) => n.dataflowId === 'df_e');
    const listed = async (status?: 'firing' | 'resolved') =>
      (await listAlerts(db.store.db, 'sbx_test', { dataflowId: 'df_e', status })).map((a) => ({
        alertId: a.alert.alertId,
        firedAt: a.alert.firedAt,
        resolvedAt: a.resolvedAt,
        acknowledgedBy: a.acknowledgedBy,
      }));
    const iso = (ms: number) => new Date(ms).toISOString();
    try {
      const pausedE = { ...paused, dataflowId: 'df_e', dataflowName: 'Episodes' };
      // Paused, acknowledged, resolved.
      health = [paused, pausedE];
      const firstAt = clock;
      const [first] = mine(await w.check());
      expect(
        await acknowledgeAlert(db.store, {
          sandboxId: 'sbx_test',
          alertId: first!.alertId,
          by: 'on-call',
          at: clock,
        }),
      ).toMatchObject({ acknowledgedBy: 'on-call' });
      clock += 600_000;
      const firstResolvedAt = clock;
      health = [paused];
      expect(mine(await w.check()).map((n) => [n.status, n.alertId])).toEqual([['resolved', first!.alertId]]);
      // Paused again an hour on: a new alert, the first one kept as it was.
      clock += 3_600_000;
      const secondAt = clock;
      health = [paused, pausedE];
      const [second] = mine(await w.check());
      expect(second).toMatchObject({ status: 'firing', type: 'dataflow_paused' });
      expect(second!.alertId).not.toBe(first!.alertId);
      expect(await listed()).toEqual([
        { alertId: second!.alertId, firedAt: iso(secondAt), resolvedAt: null, acknowledgedBy: null },
        {
          alertId: first!.alertId,
          firedAt: iso(firstAt),
          resolvedAt: iso(firstResolvedAt),
          acknowledgedBy: 'on-call',
        },
      ]);
      expect((await listed('firing')).map((a) => a.alertId)).toEqual([second!.alertId]);
      expect((await listed('resolved')).map((a) => a.alertId)).toEqual([first!.alertId]);
      // The resolved one is refused acknowledgement; the firing one is not.
      const ack = { sandboxId: 'sbx_test', by: 'ops', at: clock };
      expect(await acknowledgeAlert(db.store, { ...ack, alertId: first!.alertId })).toBe('resolved');
      expect(await acknowledgeAlert(db.store, { ...ack, alertId: second!.alertId })).toMatchObject({
        acknowledgedBy: 'ops',
      });
      // Still firing: nothing fires again, however often it is evaluated.
      expect(mine(await w.check())).toEqual([]);
      clock += 600_000;
      const secondResolvedAt = clock;
      health = [paused];
      expect(mine(await w.check()).map((n) => [n.status, n.alertId])).toEqual([
        ['resolved', second!.alertId],
      ]);
      await w.deliver();
      // PagerDuty: one incident per alert, each triggered, acknowledged and resolved under its own key.
      expect(
        pd.accepted
          .filter((e) => e['dedup_key'] === first!.alertId || e['dedup_key'] === second!.alertId)
          .map((e) => [e['event_action'], e['dedup_key']]),
      ).toEqual([
        ['trigger', first!.alertId],
        ['acknowledge', first!.alertId],
        ['resolve', first!.alertId],
        ['trigger', second!.alertId],
        ['acknowledge', second!.alertId],
        ['resolve', second!.alertId],
      ]);
      // Each kept 30 days after it resolved: the first goes, the second stays.
      clock = firstResolvedAt + 30 * 86_400_000 + 60_000;
      await w.check();
      expect(await listed()).toEqual([
        {
          alertId: second!.alertId,
          firedAt: iso(secondAt),
          resolvedAt: iso(secondResolvedAt),
          acknowledgedBy: 'ops',
        },
      ]);
      clock = secondResolvedAt + 30 * 86_400_000 + 60_000;
      await w.check();
      expect(await listed()).toEqual([]);
      await w.deliver();
    } finally {
      await w.stop();
      await pd.close();
    }
  });
});
