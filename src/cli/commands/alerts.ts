import { InvalidArgumentError, type Command } from 'commander';
import { ALERT_TYPES } from '../../server/alert-types.ts';
import {
  EXIT,
  action,
  connect,
  examples,
  printJson,
  printTable,
  withConnection,
  type Api,
  type GlobalOptions,
} from './api-client.ts';

/** `tca alerts`: the sandbox's alerts firing now and those resolved in the last 30 days. */
export function registerAlertsCommand(program: Command): void {
  const alerts = program.command('alerts');
  registerSilenceCommands(alerts);
  registerAcknowledgeCommand(alerts);
  withConnection(
    alerts
      .description('Alerts firing now and those resolved in the last 30 days, newest first')
      .option('--firing', 'only those firing now')
      .option('--resolved', 'only resolved ones')
      .option('--dataflow <id>', "only this dataflow's")
      .option('--limit <n>', 'at most this many (1-1000)', '100')
      .option(
        '--test',
        "send a test notification to the installation's webhook (TCA_ALERT_WEBHOOK_URL; admin)",
      )
      .option(
        '--test-pagerduty',
        "trigger and resolve a test incident with the installation's PagerDuty key (admin)",
      )
      .option('--test-email', "email a test alert to the installation's alert recipients (admin)")
      .addHelpText(
        'after',
        examples([
          'tca alerts --firing',
          'tca alerts --dataflow df_123 --json',
          'tca alerts --test',
          'tca alerts --test-pagerduty',
          'tca alerts --test-email',
          'tca alerts ack alr_123',
          'tca alerts silence --dataflow df_123 --for 2h --comment "planned maintenance"',
        ]),
      ),
  ).action(
    action(
      async (
        opts: GlobalOptions & {
          firing?: boolean;
          resolved?: boolean;
          dataflow?: string;
          limit: string;
          test?: boolean;
          testPagerduty?: boolean;
          testEmail?: boolean;
        },
      ) => {
        const api = await connect(opts);
        if (opts.test) return testAlert(api, '/api/v1/alerts/test', opts, webhookDelivery);
        if (opts.testEmail) return testAlert(api, '/api/v1/alerts/test-email', opts, emailDelivery);
        if (opts.testPagerduty)
          return testAlert(api, '/api/v1/alerts/test-pagerduty', opts, pagerDutyDelivery);
        const query = new URLSearchParams({ limit: opts.limit });
        if (opts.firing && !opts.resolved) query.set('status', 'firing');
        if (opts.resolved && !opts.firing) query.set('status', 'resolved');
        if (opts.dataflow) query.set('dataflowId', opts.dataflow);
        const r = await api.request<{ items: Array<Record<string, unknown>> }>(
          'GET',
          `/api/v1/alerts?${query}`,
        );
        if (opts.json) return printJson(r.items);
        // A firing alert a silence holds back says so, and so does one someone acknowledged.
        const rows = r.items.map((a) => ({
          ...a,
          status:
            a.status !== 'firing'
              ? a.status
              : a.notified === false
                ? 'firing (silenced)'
                : typeof a.acknowledgedBy === 'string'
                  ? `firing (acknowledged by ${a.acknowledgedBy})`
                  : a.status,
        }));
        printTable(rows, [
          'alertId',
          'status',
          'severity',
          'type',
          'dataflowName',
          'firedAt',
          'resolvedAt',
          'message',
        ]);
      },
    ),
  );
}

/** Minutes in a duration written `90m`, `2h`, `1d` or `1h30m` (a bare number is minutes). */
export function parseDuration(text: string): number {
  const bare = /^\d+$/.test(text.trim());
  const parts = [...text.trim().matchAll(/(\d+)\s*([mhd])/gi)];
  const whole = parts.map((p) => p[0]).join('');
  if (!bare && (parts.length === 0 || whole.replace(/\s/g, '') !== text.trim().replace(/\s/g, '')))
    throw new InvalidArgumentError('write it as 90m, 2h, 1d or 1h30m');
  const minutes = bare
    ? Number(text)
    : parts.reduce(
        (sum, [, n, unit]) =>
          sum + Number(n) * { m: 1, h: 60, d: 1440 }[unit!.toLowerCase() as 'm' | 'h' | 'd'],
        0,
      );
  if (minutes < 1) throw new InvalidArgumentError('at least one minute');
  return minutes;
}

function registerAcknowledgeCommand(alerts: Command): void {
  withConnection(
    alerts
      .command('ack <alertId>')
      .alias('acknowledge')
      .description(
        'Acknowledge a firing alert: you are on it. No reminder of it is sent from now on and its PagerDuty incident is acknowledged; it still resolves when its condition clears',
      )
      .addHelpText('after', examples(['tca alerts --firing', 'tca alerts ack alr_123'])),
  ).action(
    action(async (alertId: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const alert = await api.request<Record<string, unknown>>(
        'POST',
        `/api/v1/alerts/${encodeURIComponent(alertId)}/acknowledge`,
      );
      if (opts.json) return printJson(alert);
      process.stdout.write(
        `Acknowledged ${alertId} (${String(alert.type)} of ${String(alert.dataflowName)}) by ${String(alert.acknowledgedBy)} at ${String(alert.acknowledgedAt)}: no more reminders\n`,
      );
    }),
  );
}

function registerSilenceCommands(alerts: Command): void {
  withConnection(
    alerts
      .command('silence')
      .description(
        "Hold back the sandbox's alerts (of one dataflow or all, of one type or all) for a while: recorded, not sent",
      )
      .requiredOption('--comment <text>', 'why (shown with the silence)')
      .option('--for <duration>', 'how long: 90m, 2h, 1d (at most 30 days)', parseDuration)
      .option('--until <time>', 'when it ends (ISO-8601), instead of --for')
      .option('--starts <time>', 'when it starts (ISO-8601; default now), for a maintenance window ahead')
      .option('--dataflow <id>', "only this dataflow's alerts (default: every dataflow)")
      .option('--type <type>', `only this type: ${ALERT_TYPES.join(', ')}`)
      .addHelpText(
        'after',
        examples([
          'tca alerts silence --dataflow df_123 --type dataflow_paused --for 2h --comment "rotating the X app keys"',
          'tca alerts silence --starts 2026-12-01T22:00:00Z --for 4h --comment "warehouse backfill"',
        ]),
      ),
  ).action(
    action(
      async (
        opts: GlobalOptions & {
          comment: string;
          for?: number;
          until?: string;
          starts?: string;
          dataflow?: string;
          type?: string;
        },
      ) => {
        if ((opts.for === undefined) === (opts.until === undefined)) {
          process.stderr.write('tca: give either --for or --until\n');
          return EXIT.usage;
        }
        const api = await connect(opts);
        const silence = await api.request<Record<string, unknown>>('POST', '/api/v1/alerts/silences', {
          comment: opts.comment,
          ...(opts.for !== undefined ? { durationMinutes: opts.for } : { endsAt: opts.until }),
          ...(opts.starts !== undefined ? { startsAt: opts.starts } : {}),
          ...(opts.dataflow !== undefined ? { dataflowId: opts.dataflow } : {}),
          ...(opts.type !== undefined ? { type: opts.type } : {}),
        });
        if (opts.json) return printJson(silence);
        process.stdout.write(
          `Silenced ${describeSilence(silence)} from ${String(silence.startsAt)} until ${String(silence.endsAt)} (${String(silence.id)})\n`,
        );
      },
    ),
  );
  withConnection(
    alerts
      .command('silences')
      .description('Pending and active alert silences, soonest ending first')
      .option('--expired', 'also those that ended in the last 30 days')
      .addHelpText('after', examples(['tca alerts silences', 'tca alerts silences --expired --json'])),
  ).action(
    action(async (opts: GlobalOptions & { expired?: boolean }) => {
      const api = await connect(opts);
      const r = await api.request<{ items: Array<Record<string, unknown>> }>(
        'GET',
        `/api/v1/alerts/silences${opts.expired ? '?expired=true' : ''}`,
      );
      if (opts.json) return printJson(r.items);
      printTable(
        r.items.map((x) => ({ ...x, covers: describeSilence(x) })),
        ['id', 'state', 'covers', 'startsAt', 'endsAt', 'createdBy', 'comment'],
      );
    }),
  );
  withConnection(
    alerts
      .command('unsilence <id>')
      .description('End a silence now: the alerts it held back that still fire are sent')
      .addHelpText('after', examples(['tca alerts unsilence sil_123'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const silence = await api.request<Record<string, unknown>>(
        'DELETE',
        `/api/v1/alerts/silences/${encodeURIComponent(id)}`,
      );
      if (opts.json) return printJson(silence);
      // `dataflow_paused alerts of df_1 are sent again`, `every alert of every dataflow is sent again`.
      const verb = silence.type === null ? 'is' : 'are';
      process.stdout.write(`Ended ${String(silence.id)}: ${describeSilence(silence)} ${verb} sent again\n`);
    }),
  );
}

/** What a silence covers, in words: `dataflow_paused alerts of df_1`, `every alert of every dataflow`. */
function describeSilence(silence: Record<string, unknown>): string {
  const type = silence.type === null ? 'every alert' : `${String(silence.type)} alerts`;
  const of = silence.dataflowId === null ? 'every dataflow' : String(silence.dataflowId);
  return `${type} of ${of}`;
}

export type Delivery<T> = T & { delivered: boolean; error: string | null };

/** Whether the SMTP server accepted a test email, in words. */
export function emailDelivery(r: Delivery<{ to: string[] }>): string {
  return r.delivered
    ? `Delivered: the SMTP server accepted the test email to ${r.to.join(', ')}`
    : `Not delivered to ${r.to.join(', ')}: ${r.error ?? 'refused'}`;
}

/** Whether PagerDuty accepted a test incident (and it was resolved), in words. */
export function pagerDutyDelivery(r: Delivery<{ events: string }>): string {
  return r.delivered
    ? `Delivered: PagerDuty (${r.events}) accepted the test incident${r.error ? `; but ${r.error}` : ', now resolved'}`
    : `Not delivered to PagerDuty (${r.events}): ${r.error ?? 'refused'}`;
}

/** Whether a webhook (the installation's or a destination's) accepted its test notification, in words. */
export function webhookDelivery(r: Delivery<{ webhook: string }>): string {
  return r.delivered
    ? `Delivered: ${r.webhook} accepted the test notification`
    : `Not delivered to ${r.webhook}: ${r.error ?? 'refused'}`;
}

/**
 * Sends a test notification through `path` (the installation's webhook, a destination's, or PagerDuty) and prints
 * whether it was accepted, in `say`'s words; the exit code says so too.
 */
export async function testAlert<T>(
  api: Api,
  path: string,
  opts: GlobalOptions,
  say: (r: Delivery<T>) => string,
): Promise<number> {
  const r = await api.request<Delivery<T>>('POST', path);
  if (opts.json) printJson(r);
  else process.stdout.write(`${say(r)}\n`);
  return r.delivered ? EXIT.ok : EXIT.refused;
}
