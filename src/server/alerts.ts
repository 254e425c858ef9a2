import { createHmac, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, Store } from '../store/index.ts';
import { alertPagerDutyKeyOf } from '../store/repositories/destinations.ts';
import { ALERT_TARGETS_CONTEXT, OUTBOX_TARGET_CONTEXT, openColumn } from '../store/sealed-columns.ts';
import type { SecretBox } from '../store/secret-box.ts';
import type { Logger } from './logger.ts';
import type { ServiceMetrics } from './metrics.ts';
import { describeNetworkFailure } from '../net/network-failure.ts';
import { releaseLease, swapMeta, takeLease, type Leased } from './meta-lease.ts';
import { createMailer, EMAIL_PREFIX, emailTarget, type AlertEmail } from './alert-email.ts';
import { PAGERDUTY_EVENTS_URL, WEBHOOK_FORMATS, type WebhookFormat } from '../config/index.ts';
import { notTargetableAfterProcessing, type AlertType, type RunNoticeType } from './alert-types.ts';

/*
 * Alerts: conditions evaluated from the dataflows' health, kept in the store (`alert_states`), and sent to webhooks
 * through an outbox (`alert_outbox`). Kept in the store, a condition fires once however many workers evaluate and
 * however often the service restarts, and its clearing is sent as a `resolved` notification; a notification waits in
 * the outbox, retried with backoff, until its webhook accepts it. One worker at a time evaluates and sends (a lease in
 * `store_meta`).
 */

export type { AlertType } from './alert-types.ts';

/** What the evaluator needs to know about one dataflow. */
export interface DataflowHealth {
  sandboxId: string;
  /** The sandbox's name, as alerts show it. */
  sandbox: string;
  dataflowId: string;
  dataflowName: string;
  destinationId: string;
  /** The destination's alert webhook, if any. */
  webhookUrl: string | null;
  /** The destination's own alert email recipients. */
  emailTo: string[];
  /** The destination, when it has a PagerDuty routing key of its own. */
  pagerDutyDestinationId: string | null;
  /** The alert types the destination's own targets (webhook, recipients, PagerDuty key) receive; null: every type. */
  alertTypes: readonly string[] | null;
  status: string;
  statusReason: string | null;
  /** Epoch ms of the oldest undelivered change. */
  oldestPendingAt: number | null;
  /**
   * When the earliest of its audiences' waiting changes were due at X by their schedule (the aggregation window, or X
   * cadence mode's window); the delay is counted from here, so changes a dataflow holds back by design are not late.
   * Absent or null: counted from `oldestPendingAt`.
   */
  dueAt?: number | null;
  /**
   * When the dataflow expects profiles (`noDataAlertHours`): that many hours, and since when none arrived (when the
   * last did, or when it started to expect them). Null: it expects none (not set, or no audience of
   * it is scheduled now).
   */
  noData: { hours: number; since: number } | null;
  /**
   * The latest hourly run with identities in it among those that started in the last two hours. `pending`: the
   * changes waiting for delivery, now for the open run, at its last sample for an ended one; they are not yet
   * activated, but not excluded either.
   */
  lastRun: { runId: string; activated: number; excluded: number; failed: number; pending: number } | null;
  /** The runs of the last day with identities activated, excluded or failed, newest first (run notifications). */
  recentRuns: Array<{
    runId: string;
    /** Epoch ms the run's hour ends: it is open until then. */
    endsAt: number;
    activated: number;
    added: number;
    removed: number;
    excluded: number;
    failed: number;
  }>;
  /** The dataflow's X audiences as their last health check found them. */
  audiences: Array<{
    id: string;
    name: string;
    xAudienceId: string | null;
    size: number | null;
    /** Null before the first health check. */
    targetable: boolean | null;
    reasons: string[];
  }>;
}

/** What to do about a reason X gives for an audience not being targetable. */
const NOT_TARGETABLE_HINTS: Record<string, string> = {
  TOO_SMALL:
    'X targets an audience once it matches at least 100 users: add members, or identifiers X can match',
};

/** A notification as webhooks receive it. */
export interface Alert {
  /** This notification's id: a notification sent again (a retry after a timeout) carries the same one. */
  id: string;
  /** The alert this notification is about: its `firing` and its `resolved` notification share it. */
  alertId: string;
  /**
   * `acknowledged`: someone took the alert on (sent once, to where its firing went; PagerDuty acknowledges).
   * `notice`: a run notification (see `RUN_NOTICE_TYPES`), news that neither fires nor resolves.
   */
  status: 'firing' | 'resolved' | 'acknowledged' | 'notice';
  type: AlertType;
  /** `info` for run notifications only. */
  severity: 'critical' | 'warning' | 'info';
  sandbox: string;
  dataflowId: string;
  dataflowName: string;
  destinationId: string;
  message: string;
  /** One line for chat webhooks that display a `text` field. */
  text: string;
  firedAt: string;
  /** When the condition cleared (`resolved` notifications only). */
  resolvedAt?: string;
  /** When and by whom it was acknowledged (`acknowledged` notifications only). */
  acknowledgedAt?: string;
  acknowledgedBy?: string;
  /** True on a reminder: the alert, still firing, sent again (see `TCA_ALERT_REPEAT_HOURS`). */
  reminder?: boolean;
  details: Record<string, unknown>;
}

export interface AlertThresholds {
  /** Share of a run's identities that may be excluded before alerting (0..1). */
  exclusionRate: number;
  delayMinutes: number;
}

/** Pauses a user asked for are not worth an alert; the engine's (401/403) are. */
export const USER_PAUSE_REASON = 'paused by a user';

/** A condition that holds now. */
export interface AlertCondition {
  /** Names the condition: the same condition evaluated again has the same key. */
  key: string;
  sandboxId: string;
  webhookUrl: string | null;
  /** The destination's own alert email recipients. */
  emailTo: string[];
  /** The destination, when its alerts also go to its own PagerDuty routing key. */
  pagerDutyDestinationId: string | null;
  alert: Pick<
    Alert,
    'type' | 'severity' | 'sandbox' | 'dataflowId' | 'dataflowName' | 'destinationId' | 'message' | 'details'
  >;
}

/** The conditions that hold for these dataflows now. */
export function evaluateConditions(
  health: readonly DataflowHealth[],
  thresholds: AlertThresholds,
  now: number,
): AlertCondition[] {
  const conditions: AlertCondition[] = [];
  for (const h of health) {
    const raise = (
      key: string,
      type: AlertType,
      severity: Alert['severity'],
      message: string,
      details: Record<string, unknown>,
    ) => {
      // The destination's own targets get the types it subscribed to; the installation's get every type.
      const own = h.alertTypes === null || h.alertTypes.includes(type);
      conditions.push({
        key,
        sandboxId: h.sandboxId,
        webhookUrl: own ? h.webhookUrl : null,
        emailTo: own ? h.emailTo : [],
        pagerDutyDestinationId: own ? h.pagerDutyDestinationId : null,
        alert: {
          type,
          severity,
          sandbox: h.sandbox,
          dataflowId: h.dataflowId,
          dataflowName: h.dataflowName,
          destinationId: h.destinationId,
          message,
          details,
        },
      });
    };
    if (h.status === 'failed') {
      raise(
        `${h.dataflowId}:failed`,
        'dataflow_failed',
        'critical',
        `Dataflow "${h.dataflowName}" failed: ${h.statusReason ?? 'see its runs'}`,
        { reason: h.statusReason },
      );
    }
    if (h.status === 'paused' && h.statusReason !== USER_PAUSE_REASON) {
      raise(
        `${h.dataflowId}:paused`,
        'dataflow_paused',
        'critical',
        `Dataflow "${h.dataflowName}" is paused: ${h.statusReason ?? 'no reason given'}`,
        { reason: h.statusReason },
      );
    }
    if (h.status === 'active' && h.oldestPendingAt !== null) {
      const minutes = (now - h.oldestPendingAt) / 60_000;
      const dueAt = h.dueAt ?? h.oldestPendingAt;
      const late = (now - dueAt) / 60_000;
      if (late > thresholds.delayMinutes) {
        const past = dueAt > h.oldestPendingAt ? `, ${Math.floor(late)} past their delivery time` : '';
        raise(
          `${h.dataflowId}:delayed`,
          'dataflow_delayed',
          'warning',
          `Dataflow "${h.dataflowName}" has changes waiting ${Math.floor(minutes)} minutes${past} (threshold ${thresholds.delayMinutes})`,
          {
            oldestPendingAt: new Date(h.oldestPendingAt).toISOString(),
            dueAt: new Date(dueAt).toISOString(),
            minutes: Math.floor(minutes),
            minutesLate: Math.floor(late),
          },
        );
      }
    }
    // X's processing takes hours (PROCESSING meanwhile): an audience still not targetable after it needs a look.
    if (h.status === 'active') {
      for (const a of h.audiences) {
        if (!notTargetableAfterProcessing(a)) continue;
        const hints = a.reasons.map((r) => NOT_TARGETABLE_HINTS[r]).filter((x) => x !== undefined);
        raise(
          `${h.dataflowId}:${a.id}:not_targetable`,
          'audience_not_targetable',
          'warning',
          `Audience "${a.name}" of dataflow "${h.dataflowName}" is not targetable at X (${a.reasons.join(', ')})${hints.length > 0 ? `: ${hints.join('; ')}` : ''}`,
          { audienceId: a.id, xAudienceId: a.xAudienceId, reasons: a.reasons, size: a.size },
        );
      }
    }
    if (h.status === 'active' && h.noData !== null) {
      const hours = Math.floor((now - h.noData.since) / 3_600_000);
      if (hours >= h.noData.hours) {
        raise(
          `${h.dataflowId}:no_data`,
          'dataflow_no_data',
          'warning',
          `Dataflow "${h.dataflowName}" received no profiles in the last ${hours} hours (it expects some within ${h.noData.hours}): check its source, the AEP dataflow or the import that feeds it`,
          { since: new Date(h.noData.since).toISOString(), hours, threshold: h.noData.hours },
        );
      }
    }
    if (h.lastRun) {
      // Activations are counted when X accepts them and exclusions when profiles arrive: what waits for its
      // aggregation window counts against the exclusions too, or a run would read as all excluded until delivered.
      const total = h.lastRun.activated + h.lastRun.excluded + h.lastRun.failed + h.lastRun.pending;
      const rate = total === 0 ? 0 : h.lastRun.excluded / total;
      if (total > 0 && rate > thresholds.exclusionRate) {
        raise(
          `${h.dataflowId}:exclusion:${h.lastRun.runId}`,
          'exclusion_rate_exceeded',
          'warning',
          `Dataflow "${h.dataflowName}" excluded ${(rate * 100).toFixed(1)}% of identities in run ${h.lastRun.runId} (threshold ${(thresholds.exclusionRate * 100).toFixed(1)}%)`,
          { runId: h.lastRun.runId, excluded: h.lastRun.excluded, pending: h.lastRun.pending, total, rate },
        );
      }
    }
  }
  return conditions;
}

/** A run notification due now: sent once per run (see `RUN_NOTICE_TYPES`). */
export interface RunNotice {
  /** The dataflow and type: the run last noticed is kept under it, so each run is noticed once. */
  key: string;
  runId: string;
  /**
   * False for the success of a run that ended over an hour ago: told only to a dataflow told of an earlier run of the
   * type (the service was down meanwhile), not to one that has just started listing the type.
   */
  news: boolean;
  sandboxId: string;
  /** The destination's own webhook and recipients (never the installation's targets, nor PagerDuty). */
  webhookUrl: string | null;
  emailTo: string[];
  alert: Pick<
    Alert,
    'type' | 'severity' | 'sandbox' | 'dataflowId' | 'dataflowName' | 'destinationId' | 'message' | 'details'
  >;
}

/** How long after its end a run's success is news to anyone: one hourly run. */
const RUN_NOTICE_FRESH_MS = 3_600_000;

/**
 * The run notifications the destinations asked for (by listing their types in `alertTypes`): `dataflow_run_started`
 * for the open run (the current hour) once it has counted identities (activated, excluded or failed),
 * `dataflow_run_succeeded` for the latest run that ended with identities counted and none failed (only exclusions
 * count: the run did its work, and its details say what it left out). A success is news within a run's length of its
 * end; later, only a dataflow told of an earlier run hears of it (see `RunNotice.news`).
 */
export function evaluateRunNotices(health: readonly DataflowHealth[], now: number): RunNotice[] {
  const notices: RunNotice[] = [];
  for (const h of health) {
    if (h.status !== 'active' || h.alertTypes === null) continue;
    if (h.webhookUrl === null && h.emailTo.length === 0) continue;
    const notice = (
      type: RunNoticeType,
      run: DataflowHealth['recentRuns'][number],
      message: string,
      news = true,
    ) =>
      notices.push({
        key: `${h.dataflowId}:${type}`,
        runId: run.runId,
        news,
        sandboxId: h.sandboxId,
        webhookUrl: h.webhookUrl,
        emailTo: h.emailTo,
        alert: {
          type,
          severity: 'info',
          sandbox: h.sandbox,
          dataflowId: h.dataflowId,
          dataflowName: h.dataflowName,
          destinationId: h.destinationId,
          message,
          details: {
            runId: run.runId,
            activated: run.activated,
            added: run.added,
            removed: run.removed,
            excluded: run.excluded,
            failed: run.failed,
          },
        },
      });
    const open = h.recentRuns.find((r) => r.endsAt > now);
    if (open && h.alertTypes.includes('dataflow_run_started'))
      notice(
        'dataflow_run_started',
        open,
        `Dataflow "${h.dataflowName}" started run ${open.runId}: ${open.activated} identities activated so far`,
      );
    const ended = h.recentRuns.find((r) => r.endsAt <= now);
    if (ended && ended.failed === 0 && h.alertTypes.includes('dataflow_run_succeeded'))
      notice(
        'dataflow_run_succeeded',
        ended,
        `Dataflow "${h.dataflowName}" completed run ${ended.runId}: ${ended.activated} identities activated (${ended.added} added, ${ended.removed} removed), ${ended.excluded} excluded, none failed`,
        now - ended.endsAt < RUN_NOTICE_FRESH_MS,
      );
  }
  return notices;
}

/** A firing alert as the store keeps it. */
export interface FiringAlert {
  /** The alert's id (its `alertId`): its row. */
  id: string;
  /** Its condition. */
  key: string;
  sandboxId: string;
  type: string;
  /** False while a silence holds its firing notification back (none was sent). */
  notified: boolean;
  /** When its firing notification, or its latest reminder, was queued (null: never, or before reminders existed). */
  lastNotifiedAt: number | null;
  /** When someone acknowledged it (null: not acknowledged); no reminder is sent after. */
  acknowledgedAt: number | null;
  /** The `firing` notification, as sent. */
  alert: Alert;
  urls: string[];
}

/**
 * The conditions that cannot be told now (see `evaluateConditions`): an audience's `audience_not_targetable` while its
 * dataflow is not active (paused or failed: its health is not checked meanwhile) or before a health check says how
 * X sees it. An alert of one keeps firing as it is, neither resolved nor sent again, until the condition can be told.
 */
export function undeterminedConditions(health: readonly DataflowHealth[]): Set<string> {
  const keys = new Set<string>();
  for (const h of health)
    for (const a of h.audiences)
      if (h.status !== 'active' || a.targetable === null) keys.add(`${h.dataflowId}:${a.id}:not_targetable`);
  return keys;
}

/**
 * What changed since the last evaluation: the conditions that newly hold fire; the firing alerts whose condition no
 * longer holds are resolved, except exclusion-rate alerts, which belong to one run and are only forgotten (they fire
 * once per run and have nothing to clear). A firing alert whose condition is `undetermined` keeps firing.
 */
export function planAlerts(
  conditions: readonly AlertCondition[],
  firing: readonly FiringAlert[],
  undetermined: ReadonlySet<string> = new Set(),
): { fire: AlertCondition[]; resolve: FiringAlert[]; forget: FiringAlert[] } {
  const holding = new Set([...conditions.map((c) => c.key), ...undetermined]);
  const known = new Set(firing.map((f) => f.key));
  const ended = firing.filter((f) => !holding.has(f.key));
  return {
    fire: conditions.filter((c) => !known.has(c.key)),
    resolve: ended.filter((f) => f.type !== 'exclusion_rate_exceeded'),
    forget: ended.filter((f) => f.type === 'exclusion_rate_exceeded'),
  };
}

/**
 * The signature header of a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the shared
 * secret. A receiver recomputes it, compares in constant time, and refuses a `t` more than a few minutes old.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * Posts one notification to a webhook (signed when there is a secret); null when the webhook accepted it (2xx), else
 * why not.
 */
export async function postNotification(
  url: string,
  body: string,
  id: string,
  options: { secret: string | undefined; fetch: typeof globalThis.fetch; now: number },
): Promise<string | null> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'tca-alerts',
    'x-tca-notification-id': id,
  };
  if (options.secret)
    headers['x-tca-signature'] = signatureHeader(options.secret, body, Math.floor(options.now / 1000));
  try {
    const res = await options.fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return res.ok ? null : `HTTP ${res.status}`;
  } catch (error) {
    return describeNetworkFailure(error).reason;
  }
}

/** A test notification (type `test`, severity warning, of no dataflow), as a receiver would get an alert. */
export function testAlert(input: {
  id: string;
  sandbox: string;
  destinationId: string;
  message: string;
  now: number;
}): Alert {
  return {
    id: input.id,
    alertId: input.id,
    status: 'firing',
    type: 'test',
    severity: 'warning',
    sandbox: input.sandbox,
    dataflowId: '',
    dataflowName: '',
    destinationId: input.destinationId,
    message: input.message,
    text: `[TEST] ${input.message}`,
    firedAt: new Date(input.now).toISOString(),
    details: {},
  };
}

/**
 * Sends a test notification to a destination's alert webhook (or the installation's), as alerts are sent (signed,
 * same headers), and says whether the webhook accepted it.
 */
export async function sendTestAlert(options: {
  url: string;
  id: string;
  sandbox: string;
  /** The destination whose webhook is tested; null for the installation's (TCA_ALERT_WEBHOOK_URL). */
  destination: { id: string; name: string } | null;
  /** What the webhook takes (default `json`). */
  format?: WebhookFormat;
  secret: string | undefined;
  fetch?: typeof globalThis.fetch;
  now: number;
}): Promise<{ webhook: string; delivered: boolean; error: string | null; notification: Alert }> {
  const message = options.destination
    ? `Test alert for destination "${options.destination.name}": this webhook receives its alerts`
    : 'Test alert of the installation: this webhook receives every alert';
  const alert = testAlert({
    id: options.id,
    sandbox: options.sandbox,
    destinationId: options.destination?.id ?? '',
    message,
    now: options.now,
  });
  const error = await postNotification(options.url, webhookBody(alert, options.format ?? 'json'), alert.id, {
    secret: options.secret,
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    now: options.now,
  });
  // Named by its origin: the URL is a secret.
  const webhook = webhookName(webhookTarget(options.url, options.format ?? 'json'));
  return { webhook, delivered: error === null, error, notification: alert };
}

/** A window in which a sandbox's alerts (of one dataflow or all, of one type or all) are recorded but not sent. */
export interface AlertSilence {
  id: string;
  sandboxId: string;
  /** Null: every dataflow of the sandbox. */
  dataflowId: string | null;
  /** Null: every alert type. */
  type: string | null;
  startsAt: number;
  endsAt: number;
  comment: string;
  createdBy: string;
  createdAt: number;
}

/** The longest a silence may last: an alert silenced for longer is better fixed, or its threshold changed. */
export const MAX_SILENCE_MS = 30 * 86_400_000;

/** Whether a silence holds back an alert of this sandbox, dataflow and type at `at`. */
export function silences(
  silence: Pick<AlertSilence, 'sandboxId' | 'dataflowId' | 'type' | 'startsAt' | 'endsAt'>,
  alert: { sandboxId: string; dataflowId: string; type: string },
  at: number,
): boolean {
  return (
    silence.sandboxId === alert.sandboxId &&
    (silence.dataflowId === null || silence.dataflowId === alert.dataflowId) &&
    (silence.type === null || silence.type === alert.type) &&
    silence.startsAt <= at &&
    at < silence.endsAt
  );
}

type SilenceRow = {
  id: string;
  sandbox_id: string;
  dataflow_id: string | null;
  type: string | null;
  starts_at: number | string;
  ends_at: number | string;
  comment: string;
  created_by: string;
  created_at: number | string;
};

const silenceOf = (r: SilenceRow): AlertSilence => ({
  id: r.id,
  sandboxId: r.sandbox_id,
  dataflowId: r.dataflow_id,
  type: r.type,
  startsAt: Number(r.starts_at),
  endsAt: Number(r.ends_at),
  comment: r.comment,
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
});

/** Records a silence (checked by the caller); the next evaluation applies it. */
export async function createSilence(db: Kysely<Database>, silence: AlertSilence): Promise<AlertSilence> {
  await db
    .insertInto('alert_silences')
    .values({
      id: silence.id,
      sandbox_id: silence.sandboxId,
      dataflow_id: silence.dataflowId,
      type: silence.type,
      starts_at: silence.startsAt,
      ends_at: silence.endsAt,
      comment: silence.comment,
      created_by: silence.createdBy,
      created_at: silence.createdAt,
    })
    .execute();
  return silence;
}

/**
 * A sandbox's silences, soonest ending first: those active or still to start, and with `expired` those that ended in
 * the last 30 days too (ended early or run out), newest first after them.
 */
export async function listSilences(
  db: Kysely<Database>,
  sandboxId: string,
  options: { expired?: boolean; now: number },
): Promise<AlertSilence[]> {
  const rows = await db
    .selectFrom('alert_silences')
    .selectAll()
    .where('sandbox_id', '=', sandboxId)
    .where('ends_at', '>', options.expired ? options.now - KEEP_RESOLVED_MS : options.now)
    .execute();
  const all = rows.map(silenceOf);
  const current = all.filter((x) => x.endsAt > options.now).sort((a, b) => a.endsAt - b.endsAt);
  const ended = all.filter((x) => x.endsAt <= options.now).sort((a, b) => b.endsAt - a.endsAt);
  return [...current, ...ended];
}

/**
 * Ends a silence now (one still to start is called off: it never starts); kept, ended, for the listing. Null when
 * the sandbox has no silence with this id; an ended one is returned as it is.
 */
export async function endSilence(
  db: Kysely<Database>,
  sandboxId: string,
  id: string,
  now: number,
): Promise<AlertSilence | null> {
  const row = await db
    .selectFrom('alert_silences')
    .selectAll()
    .where('sandbox_id', '=', sandboxId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) return null;
  const silence = silenceOf(row);
  if (silence.endsAt <= now) return silence;
  await db.updateTable('alert_silences').set({ ends_at: now }).where('id', '=', id).execute();
  return { ...silence, endsAt: now };
}

/** The silences in force at `at`, in every sandbox. */
async function activeSilences(db: Kysely<Database>, at: number): Promise<AlertSilence[]> {
  const rows = await db
    .selectFrom('alert_silences')
    .selectAll()
    .where('starts_at', '<=', at)
    .where('ends_at', '>', at)
    .execute();
  return rows.map(silenceOf);
}

/** The outbox target of a webhook: its URL, prefixed `<format>+` for a chat format. */
export const webhookTarget = (url: string, format: WebhookFormat = 'json'): string =>
  format === 'json' ? url : `${format}+${url}`;

/** A webhook target's format and URL (a bare URL is `json`). */
function splitTarget(target: string): { format: WebhookFormat; url: string } {
  for (const format of WEBHOOK_FORMATS)
    if (format !== 'json' && target.startsWith(`${format}+`))
      return { format, url: target.slice(format.length + 1) };
  return { format: 'json', url: target };
}

/** A notification as a webhook of this format takes it. */
export function webhookBody(alert: Alert, format: WebhookFormat): string {
  if (format === 'slack' || format === 'google-chat') return JSON.stringify({ text: alert.text });
  if (format === 'json') return JSON.stringify(alert);
  const state =
    alert.status === 'acknowledged' ? `acknowledged by ${alert.acknowledgedBy ?? 'someone'}` : alert.status;
  const facts = [
    {
      title: 'Alert',
      value: `${alert.type} (${alert.severity}), ${alert.reminder ? 'still firing' : state}`,
    },
    { title: 'Sandbox', value: alert.sandbox },
    ...(alert.dataflowId !== ''
      ? [{ title: 'Dataflow', value: `${alert.dataflowName} (${alert.dataflowId})` }]
      : []),
    ...(alert.destinationId !== '' ? [{ title: 'Destination', value: alert.destinationId }] : []),
    { title: 'Fired at', value: alert.firedAt },
    ...(alert.resolvedAt ? [{ title: 'Resolved at', value: alert.resolvedAt }] : []),
    { title: 'Alert id', value: alert.alertId },
  ];
  const color =
    alert.status === 'resolved' || alert.status === 'notice'
      ? 'Good'
      : alert.severity === 'critical' && alert.status === 'firing'
        ? 'Attention'
        : 'Warning';
  return JSON.stringify({
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', text: alert.text, weight: 'Bolder', wrap: true, color },
            { type: 'FactSet', facts },
          ],
        },
      },
    ],
  });
}

/**
 * Outbox rows for PagerDuty are addressed `pagerduty+<Events API URL>` (the installation's routing key) or
 * `pagerduty@<destination id>+<Events API URL>` (the destination's own key): their body is the event without its
 * routing key, which is added when it is sent, from the configuration or the destination's sealed key.
 */
const PAGERDUTY_PREFIX = 'pagerduty+';

/** The PagerDuty target of a destination's own routing key. */
export const destinationPagerDutyTarget = (destinationId: string, eventsUrl: string): string =>
  `pagerduty@${destinationId}+${eventsUrl}`;

/** A PagerDuty target's Events API URL, and the destination whose key it takes (null: the installation's). */
function pagerDutyTarget(target: string): { destinationId: string | null; url: string } | null {
  if (target.startsWith(PAGERDUTY_PREFIX))
    return { destinationId: null, url: target.slice(PAGERDUTY_PREFIX.length) };
  const own = /^pagerduty@([^+]+)\+(.+)$/s.exec(target);
  return own ? { destinationId: own[1]!, url: own[2]! } : null;
}

/** Where an outbox row goes, as logs and `tca doctor` name it: a webhook's origin, or PagerDuty. */
export function webhookName(url: string): string {
  if (url.startsWith(EMAIL_PREFIX)) return `email to ${url.slice(EMAIL_PREFIX.length)}`;
  const pagerDuty = pagerDutyTarget(url);
  if (pagerDuty)
    return pagerDuty.destinationId === null
      ? `PagerDuty (${new URL(pagerDuty.url).origin})`
      : `PagerDuty of ${pagerDuty.destinationId} (${new URL(pagerDuty.url).origin})`;
  const target = splitTarget(url);
  return target.format === 'json' ? new URL(url).origin : `${new URL(target.url).origin} (${target.format})`;
}

/**
 * An alert notification as a PagerDuty Events API v2 event, without its routing key: a firing alert triggers an
 * incident keyed by its `alertId` (so a repeat is deduplicated), its resolution resolves that incident.
 */
export function pagerDutyEvent(alert: Alert): Record<string, unknown> {
  if (alert.status === 'resolved') return { event_action: 'resolve', dedup_key: alert.alertId };
  if (alert.status === 'acknowledged') return { event_action: 'acknowledge', dedup_key: alert.alertId };
  return {
    event_action: 'trigger',
    dedup_key: alert.alertId,
    client: 'X Custom Audiences',
    payload: {
      summary: alert.text.length > 1024 ? `${alert.text.slice(0, 1023)}…` : alert.text,
      source: `tca/${alert.sandbox}`,
      severity: alert.severity,
      timestamp: alert.firedAt,
      component: alert.dataflowName,
      group: alert.sandbox,
      class: alert.type,
      custom_details: {
        message: alert.message,
        dataflowId: alert.dataflowId,
        destinationId: alert.destinationId,
        ...alert.details,
      },
    },
  };
}

/**
 * Checks a PagerDuty integration: triggers a test incident (severity `info`, its own dedup key) and resolves it at
 * once; says whether PagerDuty accepted the trigger, and why not (or why the resolve failed).
 */
export async function sendPagerDutyTest(options: {
  routingKey: string;
  url: string;
  id: string;
  sandbox: string;
  fetch?: typeof globalThis.fetch;
  now: number;
}): Promise<{ events: string; delivered: boolean; error: string | null }> {
  const post = options.fetch ?? globalThis.fetch.bind(globalThis);
  const dedupKey = `tca-test-${options.id}`;
  const send = (event: Record<string, unknown>) =>
    postNotification(options.url, JSON.stringify({ routing_key: options.routingKey, ...event }), dedupKey, {
      secret: undefined,
      fetch: post,
      now: options.now,
    });
  const events = new URL(options.url).origin;
  const triggered = await send({
    event_action: 'trigger',
    dedup_key: dedupKey,
    client: 'X Custom Audiences',
    payload: {
      summary: `[TEST] Test event of X Custom Audiences (sandbox ${options.sandbox}): this service receives its alerts`,
      source: `tca/${options.sandbox}`,
      severity: 'info',
      timestamp: new Date(options.now).toISOString(),
      class: 'test',
    },
  });
  if (triggered !== null) return { events, delivered: false, error: triggered };
  const resolved = await send({ event_action: 'resolve', dedup_key: dedupKey });
  return {
    events,
    delivered: true,
    error:
      resolved === null
        ? null
        : `the test incident was opened but not resolved (${resolved}): resolve it in PagerDuty`,
  };
}

const LEASE_KEY = 'alerts';
/** `store_meta` keys of the run each dataflow was last notified of, per run notification type. */
const RUN_NOTICE_PREFIX = 'run_notice:';
const INITIAL: Leased = { owner: null, until: 0 };
const LEASE_MS = 120_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Retries back off from 30 s, doubling, to at most an hour; a notification no webhook accepted in a day is dropped. */
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 3_600_000;
const GIVE_UP_MS = 86_400_000;
/** Resolved alerts are kept this long for `GET /api/v1/alerts`. */
const KEEP_RESOLVED_MS = 30 * 86_400_000;
/** Notifications sent per pass, and read to find them. */
const SEND_BATCH = 100;
const OUTBOX_READ = 1000;

class LeaseLost extends Error {}

let outboxSequence = 0;
/** Outbox ids sort in the order notifications were queued: time, then a counter, then randomness. */
function outboxId(at: number): string {
  outboxSequence = (outboxSequence + 1) % 36 ** 4;
  return `ntf_${at.toString(36).padStart(9, '0')}${outboxSequence.toString(36).padStart(4, '0')}${randomBytes(6).toString('hex')}`;
}

/**
 * Evaluates alerts periodically and sends each notification as JSON to the destination's webhook and the global one.
 * `check()` evaluates (the notifications it queued), `deliver()` sends what is due; the timer runs both. `fetch` is a
 * parameter so tests can use a real loopback receiver.
 */
export function startAlerts(options: {
  store: Store;
  /** This worker, for the lease. */
  owner: string;
  collect: () => Promise<DataflowHealth[]>;
  thresholds: AlertThresholds;
  globalWebhookUrl: string | undefined;
  /** Signs every notification (`x-tca-signature`) when set. */
  webhookSecret?: string | undefined;
  /** PagerDuty Events API v2: every alert also triggers an incident, resolved when the alert is. */
  pagerDuty?: { routingKey: string } | undefined;
  /** Where PagerDuty events go, the installation's and destinations' own (TCA_ALERT_PAGERDUTY_URL). */
  pagerDutyUrl?: string | undefined;
  /** Every alert is also emailed to these recipients through this SMTP server. */
  email?: AlertEmail | undefined;
  /** A critical alert still firing is sent again this long after it was last sent (0 or omitted: never). */
  repeatMs?: number;
  /** The same for a warning (`TCA_ALERT_REPEAT_WARNING_HOURS`); default 0: a warning is sent once. */
  warningRepeatMs?: number;
  intervalMs: number;
  logger: Logger;
  metrics?: ServiceMetrics;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
}): { check(): Promise<Alert[]>; deliver(): Promise<number>; stop(): Promise<void> } {
  const { store, owner, logger } = options;
  const db = store.db;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const now = options.now ?? Date.now;
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const mailer = options.email ? createMailer(options.email) : null;
  const pagerDutyUrl = options.pagerDutyUrl ?? PAGERDUTY_EVENTS_URL;

  const check = async (): Promise<Alert[]> => {
    const held = await takeLease(db, LEASE_KEY, INITIAL, owner, now(), LEASE_MS);
    if (held === null) return [];
    const health = await options.collect();
    const conditions = evaluateConditions(health, options.thresholds, now());
    const undetermined = undeterminedConditions(health);
    const notices = evaluateRunNotices(health, now());
    try {
      return await store.transaction(async (tx) => {
        // Written only while the lease is still this worker's: renewed here, in the same transaction.
        if ((await swapMeta(tx.db, LEASE_KEY, held.text, { owner, until: now() + LEASE_MS })) === null)
          throw new LeaseLost();
        const at = now();
        const firing = await readFiring(tx.db, store.secrets);
        const plan = planAlerts(conditions, firing, undetermined);
        const silenced = await activeSilences(tx.db, at);
        const isSilenced = (alert: { sandboxId: string; dataflowId: string; type: string }) =>
          silenced.some((silence) => silences(silence, alert, at));
        const queued: Alert[] = [];
        for (const condition of plan.fire) {
          const alertId = store.newId('alr');
          const alert: Alert = {
            id: alertId,
            alertId,
            status: 'firing',
            ...condition.alert,
            text: `[${condition.alert.severity.toUpperCase()}] ${condition.alert.message}`,
            firedAt: new Date(at).toISOString(),
          };
          const pagerDuty = options.pagerDuty ? `${PAGERDUTY_PREFIX}${pagerDutyUrl}` : null;
          // The destination's own PagerDuty service too: the team that owns it is paged as well.
          const ownPagerDuty =
            condition.pagerDutyDestinationId !== null
              ? destinationPagerDutyTarget(condition.pagerDutyDestinationId, pagerDutyUrl)
              : null;
          // One email to the installation's recipients and the destination's together.
          const recipients = options.email ? [...new Set([...options.email.to, ...condition.emailTo])] : [];
          const email = recipients.length > 0 ? emailTarget(recipients) : null;
          const urls = [
            ...new Set(
              [condition.webhookUrl, options.globalWebhookUrl, pagerDuty, ownPagerDuty, email].filter(
                (u): u is string => typeof u === 'string' && u !== '',
              ),
            ),
          ];
          const held = isSilenced({ sandboxId: condition.sandboxId, ...alert });
          const row = {
            sandbox_id: condition.sandboxId,
            dataflow_id: alert.dataflowId,
            type: alert.type,
            alert: JSON.stringify(alert),
            urls: store.secrets.seal(JSON.stringify(urls), ALERT_TARGETS_CONTEXT),
            fired_at: at,
            resolved_at: null,
            notified: held ? 0 : 1,
            last_notified_at: held ? null : at,
            acknowledged_at: null,
            acknowledged_by: null,
          };
          // A condition that fired and resolved before fires again as a new alert, with a row of its own: the earlier
          // one stays listed, resolved. Only a condition with no firing alert fires (a unique index says so too).
          await tx.db
            .insertInto('alert_states')
            .values({ id: alertId, key: condition.key, ...row })
            .execute();
          if (held) {
            options.metrics?.alertsSent.inc({ type: alert.type, outcome: 'silenced' });
            logger.info(
              { alert: alert.type, dataflowId: alert.dataflowId, alertId },
              `alert silenced: ${alert.message}`,
            );
            continue;
          }
          await enqueue(tx.db, store.secrets, alert, urls, at);
          queued.push(alert);
          logger.warn({ alert: alert.type, dataflowId: alert.dataflowId, alertId }, alert.message);
        }
        // Firing alerts to send now, unless a silence covers them: one a silence held back, now that it is over
        // (ended early or run out); and one last sent `repeatMs` (a warning: `warningRepeatMs`) ago or more, as a
        // reminder (its own id, the alert's `alertId`, saying since when it fires). An exclusion-rate alert is about
        // a past run: nothing of it still fires to remind of. Nor is one whose condition cannot be told now: it is
        // sent again, if it still fires, once it can.
        const ending = new Set([...plan.resolve, ...plan.forget]);
        for (const still of firing) {
          if (undetermined.has(still.key)) continue;
          const every =
            still.type === 'exclusion_rate_exceeded'
              ? 0
              : still.alert.severity === 'critical'
                ? (options.repeatMs ?? 0)
                : (options.warningRepeatMs ?? 0);
          const remind =
            still.notified &&
            still.acknowledgedAt === null &&
            every > 0 &&
            still.lastNotifiedAt !== null &&
            at - still.lastNotifiedAt >= every;
          if (
            (still.notified && !remind) ||
            ending.has(still) ||
            isSilenced({ sandboxId: still.sandboxId, ...still.alert })
          )
            continue;
          const since = still.alert.firedAt;
          const alert: Alert = remind
            ? {
                ...still.alert,
                id: `${still.alert.alertId}-r${at.toString(36)}`,
                message: `Still firing since ${since}: ${still.alert.message}`,
                text: `[${still.alert.severity.toUpperCase()}] Still firing since ${since}: ${still.alert.message}`,
                reminder: true,
              }
            : still.alert;
          await tx.db
            .updateTable('alert_states')
            .set({ notified: 1, last_notified_at: at })
            .where('id', '=', still.id)
            .execute();
          await enqueue(tx.db, store.secrets, alert, still.urls, at);
          queued.push(alert);
          logger.warn(
            { alert: alert.type, dataflowId: alert.dataflowId, alertId: alert.alertId },
            remind ? alert.message : `${alert.message} (its silence is over)`,
          );
        }
        for (const ended of plan.resolve) {
          const resolved: Alert = {
            ...ended.alert,
            id: `${ended.alert.alertId}-resolved`,
            status: 'resolved',
            message: `Resolved: ${ended.alert.message}`,
            text: `[RESOLVED] ${ended.alert.message}`,
            resolvedAt: new Date(at).toISOString(),
          };
          await tx.db
            .updateTable('alert_states')
            .set({ resolved_at: at })
            .where('id', '=', ended.id)
            .execute();
          // Its resolution goes where its firing went: nowhere, when a silence held that back.
          if (!ended.notified) continue;
          await enqueue(tx.db, store.secrets, resolved, ended.urls, at);
          queued.push(resolved);
          logger.info(
            { alert: resolved.type, dataflowId: resolved.dataflowId, alertId: resolved.alertId },
            resolved.message,
          );
        }
        for (const ended of plan.forget)
          await tx.db
            .updateTable('alert_states')
            .set({ resolved_at: at })
            .where('id', '=', ended.id)
            .execute();
        // The run each dataflow was last notified of, per type: each run once.
        const noticed = new Map(
          (
            await tx.db
              .selectFrom('store_meta')
              .select(['key', 'value'])
              .where('key', 'like', `${RUN_NOTICE_PREFIX}%`)
              .execute()
          ).map((row) => [row.key, row.value]),
        );
        for (const notice of notices) {
          const metaKey = `${RUN_NOTICE_PREFIX}${notice.key}`;
          if (noticed.get(metaKey) === notice.runId) continue;
          const told = noticed.has(metaKey);
          await tx.db
            .insertInto('store_meta')
            .values({ key: metaKey, value: notice.runId })
            .onConflict((oc) => oc.column('key').doUpdateSet({ value: notice.runId }))
            .execute();
          // An old success for a dataflow never told of a run of the type: kept as told, not sent.
          if (!notice.news && !told) continue;
          const recipients = options.email ? notice.emailTo : [];
          const urls = [notice.webhookUrl, recipients.length > 0 ? emailTarget(recipients) : null].filter(
            (u): u is string => u !== null && u !== '',
          );
          if (urls.length === 0 || isSilenced({ sandboxId: notice.sandboxId, ...notice.alert })) continue;
          const id = store.newId('ntc');
          const alert: Alert = {
            id,
            alertId: id,
            status: 'notice',
            ...notice.alert,
            text: `[INFO] ${notice.alert.message}`,
            firedAt: new Date(at).toISOString(),
          };
          await enqueue(tx.db, store.secrets, alert, urls, at);
          queued.push(alert);
          logger.info({ alert: alert.type, dataflowId: alert.dataflowId }, alert.message);
        }
        // The runs last noticed of dataflows that are gone are not needed any more.
        const present = new Set(health.map((h) => h.dataflowId));
        const gone = [...noticed.keys()].filter(
          (key) => !present.has(key.slice(RUN_NOTICE_PREFIX.length).split(':')[0]!),
        );
        if (gone.length > 0) await tx.db.deleteFrom('store_meta').where('key', 'in', gone).execute();
        await tx.db
          .deleteFrom('alert_states')
          .where('resolved_at', '<', at - KEEP_RESOLVED_MS)
          .execute();
        await tx.db
          .deleteFrom('alert_silences')
          .where('ends_at', '<', at - KEEP_RESOLVED_MS)
          .execute();
        return queued;
      });
    } catch (error) {
      if (error instanceof LeaseLost) return [];
      throw error;
    }
  };

  /** Sends the notifications that are due, oldest first; the number accepted. */
  const deliver = async (): Promise<number> => {
    if ((await takeLease(db, LEASE_KEY, INITIAL, owner, now(), LEASE_MS)) === null) return 0;
    // Each webhook gets its notifications in the order they were queued: one not yet due (waiting out a backoff),
    // or refused in this pass, holds back those after it.
    const queued = await db.selectFrom('alert_outbox').selectAll().orderBy('id').limit(OUTBOX_READ).execute();
    const held = new Set<string>();
    let accepted = 0;
    let sent = 0;
    for (const row of queued) {
      if (stopped || sent >= SEND_BATCH) break;
      const target = outboxTarget(store.secrets, row.url);
      if (held.has(target)) continue;
      if (Number(row.next_attempt_at) > now()) {
        held.add(target);
        continue;
      }
      sent += 1;
      const parsed = JSON.parse(row.body) as Partial<Alert> & { dedup_key?: string; event_action?: string };
      // A notification's own id; a PagerDuty event's dedup key and action; a chat message (which carries no id of
      // its own) its outbox row's, the same for every attempt.
      const id =
        parsed.id ?? (parsed.dedup_key !== undefined ? `${parsed.dedup_key}-${parsed.event_action}` : row.id);
      const pagerDuty = pagerDutyTarget(target);
      const emailed = target.startsWith(EMAIL_PREFIX);
      // A PagerDuty event or an email queued before its setting was taken out cannot be sent.
      const routingKey = pagerDuty
        ? pagerDuty.destinationId === null
          ? (options.pagerDuty?.routingKey ?? null)
          : await alertPagerDutyKeyOf({ db, secrets: store.secrets }, pagerDuty.destinationId)
        : null;
      const failure =
        pagerDuty && routingKey === null
          ? pagerDuty.destinationId === null
            ? 'TCA_ALERT_PAGERDUTY_ROUTING_KEY is no longer set'
            : `destination ${pagerDuty.destinationId} no longer has a PagerDuty routing key`
          : emailed
            ? mailer
              ? await mailer.send(parsed as Alert, target.slice(EMAIL_PREFIX.length))
              : 'TCA_SMTP_URL is no longer set'
            : await postNotification(
                pagerDuty ? pagerDuty.url : splitTarget(target).url,
                pagerDuty ? JSON.stringify({ routing_key: routingKey, ...parsed }) : row.body,
                id,
                { secret: pagerDuty ? undefined : options.webhookSecret, fetch: doFetch, now: now() },
              );
      if (failure === null) {
        await db.deleteFrom('alert_outbox').where('id', '=', row.id).execute();
        options.metrics?.alertsSent.inc({ type: row.type, outcome: 'sent' });
        accepted += 1;
        continue;
      }
      held.add(target);
      const attempts = Number(row.attempts) + 1;
      const at = now();
      const origin = webhookName(target);
      options.metrics?.alertsSent.inc({ type: row.type, outcome: 'failed' });
      if (at - Number(row.created_at) >= GIVE_UP_MS) {
        await db.deleteFrom('alert_outbox').where('id', '=', row.id).execute();
        options.metrics?.alertsSent.inc({ type: row.type, outcome: 'dropped' });
        logger.error(
          { type: row.type, notificationId: id, webhook: origin, attempts, error: failure },
          'alert notification dropped: its webhook did not accept it within a day',
        );
        continue;
      }
      const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempts - 1, 16));
      await db
        .updateTable('alert_outbox')
        .set({ attempts, next_attempt_at: at + delay, last_error: failure })
        .where('id', '=', row.id)
        .execute();
      logger.warn(
        {
          type: row.type,
          notificationId: id,
          webhook: origin,
          attempts,
          retryInSeconds: delay / 1000,
          error: failure,
        },
        'alert webhook did not accept the notification; retrying',
      );
    }
    return accepted;
  };

  const tick = () => {
    if (stopped || running) return;
    running = (async () => {
      try {
        await check();
      } catch (error) {
        logger.error({ error: (error as Error).message }, 'alert evaluation failed');
      }
      try {
        await deliver();
      } catch (error) {
        logger.error({ error: (error as Error).message }, 'alert delivery failed');
      }
    })().finally(() => {
      running = null;
    });
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return {
    check,
    deliver,
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (running) await running;
      mailer?.close();
      await releaseLease(db, LEASE_KEY, INITIAL, owner);
    },
  };
}

/** The targets an alert was sent to, as `alert_states.urls` keeps them (sealed: a webhook URL is a secret). */
function alertTargets(secrets: SecretBox, stored: string): string[] {
  return JSON.parse(openColumn(secrets, stored, ALERT_TARGETS_CONTEXT)) as string[];
}

/** An outbox row's target, as `alert_outbox.url` keeps it sealed (see `webhookTarget`). */
export function outboxTarget(secrets: SecretBox, stored: string): string {
  return openColumn(secrets, stored, OUTBOX_TARGET_CONTEXT);
}

/**
 * Queues an alert's notification for each of `urls` (a PagerDuty target gets it as an Events API event). Each row's
 * target is sealed: a webhook URL is a secret.
 */
async function enqueue(
  tx: Kysely<Database>,
  secrets: SecretBox,
  alert: Alert,
  urls: readonly string[],
  at: number,
): Promise<void> {
  if (urls.length === 0) return;
  // The notification itself, for JSON webhooks and emails (a `mailto:` target has no chat format), made once.
  const body = JSON.stringify(alert);
  await tx
    .insertInto('alert_outbox')
    .values(
      urls.map((url) => {
        const { format } = splitTarget(url);
        return {
          id: outboxId(at),
          type: alert.type,
          url: secrets.seal(url, OUTBOX_TARGET_CONTEXT),
          body: pagerDutyTarget(url)
            ? JSON.stringify(pagerDutyEvent(alert))
            : format === 'json'
              ? body
              : webhookBody(alert, format),
          created_at: at,
          next_attempt_at: at,
          last_error: null,
        };
      }),
    )
    .execute();
}

/** The notification that someone took a firing alert on: its own id, the same `alertId`, who and when. */
export function acknowledgedNotification(alert: Alert, by: string, at: number): Alert {
  return {
    ...alert,
    id: `${alert.alertId}-ack`,
    status: 'acknowledged',
    message: `Acknowledged by ${by}: ${alert.message}`,
    text: `[ACKNOWLEDGED by ${by}] ${alert.message}`,
    acknowledgedAt: new Date(at).toISOString(),
    acknowledgedBy: by,
  };
}

/**
 * Acknowledges a firing alert of the sandbox: no reminder of it is sent from now on, and an `acknowledged`
 * notification goes where its firing went (webhooks, email; PagerDuty acknowledges its incident), queued in the same
 * transaction. It still resolves when its condition clears.
 * Acknowledging it again changes nothing. Returns the alert as `listAlerts` does; `not_found` for an alert the
 * sandbox does not have, `resolved` for one that has cleared.
 */
export async function acknowledgeAlert(
  store: Store,
  input: { sandboxId: string; alertId: string; by: string; at: number },
): Promise<ListedAlert | 'not_found' | 'resolved'> {
  return store.transaction(async (tx) => {
    const row = await tx.db
      .selectFrom('alert_states')
      .select(['id', 'urls', ...LISTED_COLUMNS])
      .where('sandbox_id', '=', input.sandboxId)
      .where('id', '=', input.alertId)
      .executeTakeFirst();
    if (!row) return 'not_found';
    if (row.resolved_at !== null) return 'resolved';
    if (row.acknowledged_at !== null) return listed(row);
    await tx.db
      .updateTable('alert_states')
      .set({ acknowledged_at: input.at, acknowledged_by: input.by })
      .where('id', '=', row.id)
      .execute();
    const acknowledged = listed({ ...row, acknowledged_at: input.at, acknowledged_by: input.by });
    // Nobody heard of the alert if a silence held its firing notification back: nobody is told it was taken on.
    if (!acknowledged.notified) return acknowledged;
    const notification = acknowledgedNotification(acknowledged.alert, input.by, input.at);
    await enqueue(tx.db, store.secrets, notification, alertTargets(store.secrets, row.urls), input.at);
    return acknowledged;
  });
}

/** The alerts firing now, as the store keeps them. */
async function readFiring(db: Kysely<Database>, secrets: SecretBox): Promise<FiringAlert[]> {
  const rows = await db
    .selectFrom('alert_states')
    .select([
      'id',
      'key',
      'sandbox_id',
      'type',
      'alert',
      'urls',
      'notified',
      'last_notified_at',
      'fired_at',
      'acknowledged_at',
    ])
    .where('resolved_at', 'is', null)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    key: r.key,
    sandboxId: r.sandbox_id,
    type: r.type,
    notified: Number(r.notified) === 1,
    lastNotifiedAt:
      r.last_notified_at !== null
        ? Number(r.last_notified_at)
        : Number(r.notified) === 1
          ? Number(r.fired_at)
          : null,
    acknowledgedAt: r.acknowledged_at === null ? null : Number(r.acknowledged_at),
    alert: JSON.parse(r.alert) as Alert,
    urls: alertTargets(secrets, r.urls),
  }));
}

/** An alert as the store keeps it, for the API. */
export interface ListedAlert {
  alert: Alert;
  resolvedAt: string | null;
  notified: boolean;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
}

const LISTED_COLUMNS = ['alert', 'resolved_at', 'notified', 'acknowledged_at', 'acknowledged_by'] as const;

const isoOrNull = (ms: number | string | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

function listed(r: {
  alert: string;
  resolved_at: number | string | null;
  notified: number | string;
  acknowledged_at: number | string | null;
  acknowledged_by: string | null;
}): ListedAlert {
  return {
    alert: JSON.parse(r.alert) as Alert,
    resolvedAt: isoOrNull(r.resolved_at),
    notified: Number(r.notified) === 1,
    acknowledgedAt: isoOrNull(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by,
  };
}

/**
 * Alerts of a sandbox for the API: those firing and those resolved in the last 30 days, newest first; each time a
 * condition fired is an alert of its own.
 */
export async function listAlerts(
  db: Kysely<Database>,
  sandboxId: string,
  options: {
    status?: 'firing' | 'resolved' | undefined;
    dataflowId?: string | undefined;
    limit?: number;
  } = {},
): Promise<ListedAlert[]> {
  let query = db
    .selectFrom('alert_states')
    .select(LISTED_COLUMNS)
    .where('sandbox_id', '=', sandboxId)
    .orderBy('fired_at', 'desc')
    .orderBy('id', 'desc')
    .limit(options.limit ?? 100);
  if (options.dataflowId !== undefined) query = query.where('dataflow_id', '=', options.dataflowId);
  if (options.status === 'firing') query = query.where('resolved_at', 'is', null);
  if (options.status === 'resolved') query = query.where('resolved_at', 'is not', null);
  return (await query.execute()).map(listed);
}

/** Firing alerts by type and notifications waiting in the outbox, for the metrics. */
export async function alertCounts(
  db: Kysely<Database>,
): Promise<{ firing: Record<string, number>; waiting: number }> {
  const firing: Record<string, number> = {};
  const rows = await db
    .selectFrom('alert_states')
    .select((eb) => ['type', eb.fn.countAll<number>().as('n')])
    .where('resolved_at', 'is', null)
    .groupBy('type')
    .execute();
  for (const r of rows) firing[r.type] = Number(r.n);
  const waiting = await db
    .selectFrom('alert_outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { firing, waiting: Number(waiting.n) };
}
