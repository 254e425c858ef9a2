import { createInterface } from 'node:readline/promises';
import { Option, type Command } from 'commander';
import { WEBHOOK_FORMATS } from '../../config/index.ts';
import { ALERT_TYPES, RUN_NOTICE_TYPES } from '../../server/alert-types.ts';
import {
  action,
  connect,
  envSetting,
  examples,
  printJson,
  printTable,
  splitList,
  withConnection,
  EXIT,
  CliError,
  type GlobalOptions,
} from './api-client.ts';
import { emailDelivery, pagerDutyDelivery, testAlert, webhookDelivery, type Delivery } from './alerts.ts';

interface Destination {
  id: string;
  name: string;
  accountId: string;
  status: string;
  statusReason: string | null;
  hasCredentials: boolean;
}
interface VerifyResult {
  ok: boolean;
  checks: Array<{ id: string; label: string; status: string; message: string }>;
  resumedDataflowIds?: string[];
}

function printVerify(r: VerifyResult): void {
  for (const c of r.checks)
    process.stdout.write(`${c.status.toUpperCase().padEnd(7)} ${c.label}\n        ${c.message}\n`);
  process.stdout.write(
    r.ok ? 'Preflight passed.\n' : 'Preflight failed: fix the items marked FAIL and run verify again.\n',
  );
  // The dataflows X's refusal had paused deliver again from now on: say which, so nobody resumes them by hand.
  const resumed = r.resumedDataflowIds ?? [];
  if (resumed.length > 0)
    process.stdout.write(
      `Resumed ${resumed.length === 1 ? 'dataflow' : 'dataflows'} ${resumed.join(', ')}.\n`,
    );
}

/** `--alert-webhook-format`, for create and update. */
const webhookFormatOption = () =>
  new Option(
    '--alert-webhook-format <format>',
    'what the webhook takes: json, or a chat tool’s message',
  ).choices(WEBHOOK_FORMATS);

const pagerDutyKeyOption = (removable: boolean) =>
  new Option(
    '--alert-pagerduty-key <key>',
    `a PagerDuty Events API v2 routing key its alerts also open incidents with (kept secret)${removable ? '; `none` removes it' : ''}`,
  );

/** `--alert-types`, for create and update: which alert types the destination's own targets receive. */
const alertTypesOption = () =>
  new Option(
    '--alert-types <types>',
    `the alert types (comma-separated) its own webhook, PagerDuty key and recipients receive: ${ALERT_TYPES.join(', ')}; \`all\` (the default) or \`none\`; and the run notifications its webhook and recipients receive only when listed: ${RUN_NOTICE_TYPES.join(', ')}`,
  );

/** `--alert-types` as the API takes it: `all` is null (every type), `none` an empty list. */
function alertTypes(value: string | undefined): { alertTypes?: string[] | null } {
  if (value === undefined) return {};
  const given = value.trim().toLowerCase();
  if (given === 'all') return { alertTypes: null };
  if (given === 'none') return { alertTypes: [] };
  return { alertTypes: splitList(value) };
}

/** Where a destination's own alerts go, in words: its webhook, recipients and PagerDuty key, and which types. */
function ownAlertTargets(d: {
  alertWebhook: { origin: string; format: string } | null;
  alertEmailTo: string[];
  hasAlertPagerDutyKey: boolean;
  alertTypes: string[] | null;
}): string {
  const targets = [
    d.alertWebhook
      ? `${d.alertWebhook.origin}${d.alertWebhook.format === 'json' ? '' : ` (${d.alertWebhook.format})`}`
      : '',
    d.alertEmailTo.join(', '),
    d.hasAlertPagerDutyKey ? 'its own PagerDuty key' : '',
  ]
    .filter(Boolean)
    .join('; ');
  if (targets === '') return 'the installation’s targets only';
  if (d.alertTypes === null) return targets;
  return d.alertTypes.length === 0
    ? `the installation’s targets only (${targets} subscribed to no alert type)`
    : `${targets}, for ${d.alertTypes.join(', ')} only`;
}

/** `--alert-pagerduty-key` as the API takes it: `none` removes the key. */
const pagerDutyKey = (value: string | undefined) =>
  value === undefined
    ? {}
    : { alertPagerDutyRoutingKey: value.trim().toLowerCase() === 'none' ? null : value.trim() };

/** `--alert-email a@x,b@y` as the API takes it; `none` clears the list. */
/**
 * The four OAuth credentials from their flags, each else from its `TCA_X_…` variable when `fromEnv`; undefined when
 * none is given, refused when only some are.
 */
function credentialsOf(
  opts: { consumerKey?: string; consumerSecret?: string; accessToken?: string; accessTokenSecret?: string },
  fromEnv: boolean,
) {
  const env = (name: string) => (fromEnv ? envSetting(name) : undefined);
  const creds = {
    consumerKey: opts.consumerKey ?? env('TCA_X_CONSUMER_KEY'),
    consumerSecret: opts.consumerSecret ?? env('TCA_X_CONSUMER_SECRET'),
    accessToken: opts.accessToken ?? env('TCA_X_ACCESS_TOKEN'),
    accessTokenSecret: opts.accessTokenSecret ?? env('TCA_X_ACCESS_TOKEN_SECRET'),
  };
  const given = Object.values(creds).filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given < 4) {
    throw new CliError(
      'Give all four credentials (consumer key/secret, access token/secret), or none and use `tca destinations login`',
      EXIT.refused,
    );
  }
  return creds as { [K in keyof typeof creds]: string };
}

function alertEmails(value: string): string[] {
  if (value.trim().toLowerCase() === 'none') return [];
  return splitList(value);
}

/** `tca destinations create|list|update|verify|test-alert|test-email|test-pagerduty|login|delete`. */
export function registerDestinationsCommand(program: Command): void {
  const group = program.command('destinations').description('X Ads account connections');

  withConnection(
    group
      .command('list')
      .description('List destinations')
      .addHelpText('after', examples(['tca destinations list', 'tca destinations list --json'])),
  ).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      const r = await api.request<{ items: Destination[] }>('GET', '/api/v1/destinations');
      if (opts.json) printJson(r.items);
      else
        printTable(r.items as unknown as Array<Record<string, unknown>>, [
          'id',
          'name',
          'accountId',
          'status',
          'hasCredentials',
        ]);
    }),
  );

  withConnection(
    group
      .command('create')
      .description(
        'Create a destination; credentials can come from flags or environment, or later from `login`',
      )
      .requiredOption('--name <name>', 'connection name (X naming rules apply)')
      .requiredOption('--account-id <id>', 'X Ads account id, e.g. 18ce54d4x5t')
      .option('--description <text>', 'description')
      .option('--consumer-key <key>', 'app consumer key (or TCA_X_CONSUMER_KEY)')
      .option('--consumer-secret <secret>', 'app consumer secret (or TCA_X_CONSUMER_SECRET)')
      .option('--access-token <token>', 'user access token (or TCA_X_ACCESS_TOKEN)')
      .option('--access-token-secret <secret>', 'user access token secret (or TCA_X_ACCESS_TOKEN_SECRET)')
      .option('--api-base-url <url>', 'X Ads API base URL (default: the service’s)')
      .option('--marketing-action <action...>', 'marketing actions the destination is used for')
      .option('--alert-webhook <url>', 'webhook that receives this destination’s alerts')
      .addOption(webhookFormatOption())
      .option(
        '--alert-email <addresses>',
        'addresses (comma-separated) this destination’s alerts are also emailed to (needs TCA_SMTP_URL on the service)',
      )
      .addOption(pagerDutyKeyOption(false))
      .addOption(alertTypesOption())
      .addHelpText(
        'after',
        examples([
          'tca destinations create --name "Acme US" --account-id 18ce54d4x5t',
          'TCA_X_CONSUMER_KEY=… TCA_X_CONSUMER_SECRET=… TCA_X_ACCESS_TOKEN=… TCA_X_ACCESS_TOKEN_SECRET=… \\\n      tca destinations create --name "Acme US" --account-id 18ce54d4x5t --json',
        ]),
      ),
  ).action(
    action(
      async (
        opts: GlobalOptions & {
          name: string;
          accountId: string;
          description?: string;
          consumerKey?: string;
          consumerSecret?: string;
          accessToken?: string;
          accessTokenSecret?: string;
          apiBaseUrl?: string;
          marketingAction?: string[];
          alertWebhook?: string;
          alertWebhookFormat?: string;
          alertEmail?: string;
          alertPagerdutyKey?: string;
          alertTypes?: string;
        },
      ) => {
        const credentials = credentialsOf(opts, true);
        const api = await connect(opts);
        const d = await api.request<Destination>('POST', '/api/v1/destinations', {
          name: opts.name,
          accountId: opts.accountId,
          ...(opts.description !== undefined ? { description: opts.description } : {}),
          ...(credentials ? { credentials } : {}),
          ...(opts.apiBaseUrl !== undefined ? { apiBaseUrl: opts.apiBaseUrl } : {}),
          ...(opts.marketingAction !== undefined ? { marketingActions: opts.marketingAction } : {}),
          ...(opts.alertWebhook !== undefined ? { alertWebhookUrl: opts.alertWebhook } : {}),
          ...(opts.alertWebhookFormat !== undefined ? { alertWebhookFormat: opts.alertWebhookFormat } : {}),
          ...(opts.alertEmail !== undefined ? { alertEmailTo: alertEmails(opts.alertEmail) } : {}),
          ...pagerDutyKey(opts.alertPagerdutyKey),
          ...alertTypes(opts.alertTypes),
        });
        if (opts.json) printJson(d);
        else
          process.stdout.write(
            `Created destination ${d.id} (${d.name}); run \`tca destinations verify ${d.id}\`\n`,
          );
      },
    ),
  );

  withConnection(
    group
      .command('update <id>')
      .description(
        'Change a destination’s name, description, connection (account, API URL, credentials), marketing actions or ' +
          'where its alerts go; a new connection for an active destination is saved only when it passes the preflight',
      )
      .option('--name <name>', 'connection name (X naming rules apply)')
      .option('--description <text>', 'description')
      .option('--account-id <id>', 'another X Ads account id')
      .option('--api-base-url <url>', 'another X Ads API base URL (the emulator’s, or https://ads-api.x.com)')
      .option('--consumer-key <key>', 'app consumer key (the four credentials go together)')
      .option('--consumer-secret <secret>', 'app consumer secret')
      .option('--access-token <token>', 'user access token')
      .option('--access-token-secret <secret>', 'user access token secret')
      .option(
        '--credentials-from-env',
        'take the four credentials from TCA_X_CONSUMER_KEY, TCA_X_CONSUMER_SECRET, TCA_X_ACCESS_TOKEN and TCA_X_ACCESS_TOKEN_SECRET (flags given win)',
      )
      .option(
        '--marketing-action <action...>',
        'marketing actions the destination is used for (replaces them)',
      )
      .option('--alert-webhook <url>', 'webhook that receives this destination’s alerts; `none` removes it')
      .addOption(webhookFormatOption())
      .option(
        '--alert-email <addresses>',
        'addresses (comma-separated) its alerts are also emailed to, replacing the list; `none` clears it',
      )
      .addOption(pagerDutyKeyOption(true))
      .addOption(alertTypesOption())
      .addHelpText(
        'after',
        examples([
          'tca destinations update dst_123 --alert-email crm-owner@example.com,oncall@example.com',
          'tca destinations update dst_123 --alert-types dataflow_failed,dataflow_paused',
          'tca destinations update dst_123 --alert-webhook none --alert-email none',
          'tca destinations update dst_123 --alert-pagerduty-key "$TEAM_PAGERDUTY_KEY"',
          'tca destinations update dst_123 --api-base-url https://ads-api.x.com --credentials-from-env',
        ]),
      ),
  ).action(
    action(
      async (
        id: string,
        opts: GlobalOptions & {
          name?: string;
          description?: string;
          accountId?: string;
          apiBaseUrl?: string;
          consumerKey?: string;
          consumerSecret?: string;
          accessToken?: string;
          accessTokenSecret?: string;
          credentialsFromEnv?: boolean;
          marketingAction?: string[];
          alertWebhook?: string;
          alertWebhookFormat?: string;
          alertEmail?: string;
          alertPagerdutyKey?: string;
          alertTypes?: string;
        },
      ) => {
        const credentials = credentialsOf(opts, opts.credentialsFromEnv === true);
        const patch = {
          ...(opts.name !== undefined ? { name: opts.name } : {}),
          ...(opts.description !== undefined ? { description: opts.description } : {}),
          ...(opts.accountId !== undefined ? { accountId: opts.accountId } : {}),
          ...(opts.apiBaseUrl !== undefined ? { apiBaseUrl: opts.apiBaseUrl } : {}),
          ...(credentials ? { credentials } : {}),
          ...(opts.marketingAction !== undefined ? { marketingActions: opts.marketingAction } : {}),
          ...(opts.alertWebhook !== undefined
            ? {
                alertWebhookUrl: opts.alertWebhook.trim().toLowerCase() === 'none' ? null : opts.alertWebhook,
              }
            : {}),
          ...(opts.alertWebhookFormat !== undefined ? { alertWebhookFormat: opts.alertWebhookFormat } : {}),
          ...(opts.alertEmail !== undefined ? { alertEmailTo: alertEmails(opts.alertEmail) } : {}),
          ...pagerDutyKey(opts.alertPagerdutyKey),
          ...alertTypes(opts.alertTypes),
        };
        if (Object.keys(patch).length === 0)
          throw new CliError(
            'Nothing to change: give --name, --description, --account-id, --api-base-url, the four credentials, --marketing-action, --alert-webhook, --alert-webhook-format, --alert-email, --alert-pagerduty-key or --alert-types',
            EXIT.usage,
          );
        const connectionChanged =
          opts.accountId !== undefined || opts.apiBaseUrl !== undefined || credentials !== undefined;
        const api = await connect(opts);
        const d = await api.request<
          Destination & {
            alertWebhook: { origin: string; format: string } | null;
            alertEmailTo: string[];
            hasAlertPagerDutyKey: boolean;
            alertTypes: string[] | null;
          }
        >('PATCH', `/api/v1/destinations/${encodeURIComponent(id)}`, patch);
        if (opts.json) printJson(d);
        else
          process.stdout.write(
            `Updated destination ${d.id} (${d.name}): alerts to ${ownAlertTargets(d)}` +
              (connectionChanged
                ? d.status === 'active'
                  ? '; the new connection passed the preflight'
                  : `; the new connection is saved, as nothing worked before, but fails the preflight (status ${d.status}` +
                    `${d.statusReason ? `: ${d.statusReason}` : ''})`
                : '') +
              '\n',
          );
      },
    ),
  );

  withConnection(
    group
      .command('verify <id>')
      .description(
        'Run the preflight checklist (credentials, account access, approval, age, Partner Audience Manager, Audience API access)',
      )
      .addHelpText(
        'after',
        examples(['tca destinations verify dst_123', 'tca destinations verify dst_123 --json && echo ready']),
      ),
  ).action(
    action(async (id: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const r = await api.request<VerifyResult>(
        'POST',
        `/api/v1/destinations/${encodeURIComponent(id)}/verify`,
      );
      if (opts.json) printJson(r);
      else printVerify(r);
      return r.ok ? EXIT.ok : EXIT.refused;
    }),
  );

  // A test of where the destination's alerts go, by the route `POST /destinations/:id/<command>`.
  const testCommand = <T>(command: string, description: string, say: (r: Delivery<T>) => string) =>
    withConnection(
      group
        .command(`${command} <id>`)
        .description(description)
        .addHelpText('after', examples([`tca destinations ${command} dst_123`])),
    ).action(
      action(async (id: string, opts: GlobalOptions) =>
        testAlert(
          await connect(opts),
          `/api/v1/destinations/${encodeURIComponent(id)}/${command}`,
          opts,
          say,
        ),
      ),
    );
  testCommand(
    'test-alert',
    "Send a test notification to the destination's alert webhook (signed as alerts are)",
    webhookDelivery,
  );
  testCommand(
    'test-pagerduty',
    "Trigger and resolve a test incident with the destination's own PagerDuty routing key",
    pagerDutyDelivery,
  );
  testCommand('test-email', "Email a test alert to the destination's own alert recipients", emailDelivery);

  withConnection(
    group
      .command('login <id>')
      .description('Log in with X (PIN flow): prints the authorize URL, then asks for the PIN')
      .option('--consumer-key <key>', 'app consumer key (or TCA_X_CONSUMER_KEY)')
      .option('--consumer-secret <secret>', 'app consumer secret (or TCA_X_CONSUMER_SECRET)')
      .option('--pin <pin>', 'the PIN, when already known (skips the prompt; needs a login started before)')
      .addHelpText(
        'after',
        examples([
          'tca destinations login dst_123 --consumer-key KEY --consumer-secret SECRET',
          "tca destinations login dst_123                # the service's default X app (demo, TCA_X_CONSUMER_KEY)",
          'tca destinations login dst_123 --pin 1234567   # finish a login started earlier',
        ]),
      ),
  ).action(
    action(
      async (
        id: string,
        opts: GlobalOptions & { consumerKey?: string; consumerSecret?: string; pin?: string },
      ) => {
        const api = await connect(opts);
        const base = `/api/v1/destinations/${encodeURIComponent(id)}`;
        let pin = opts.pin;
        if (pin === undefined) {
          const consumerKey = opts.consumerKey ?? envSetting('TCA_X_CONSUMER_KEY');
          const consumerSecret = opts.consumerSecret ?? envSetting('TCA_X_CONSUMER_SECRET');
          if (!consumerKey !== !consumerSecret)
            throw new CliError(
              "Give both --consumer-key and --consumer-secret (or TCA_X_CONSUMER_KEY/SECRET), or neither to use the service's default X app",
              EXIT.refused,
            );
          const started = await api.request<{ authorizeUrl: string }>(
            'POST',
            `${base}/login`,
            consumerKey && consumerSecret ? { consumerKey, consumerSecret } : {},
          );
          process.stderr.write(
            `Open this page, authorize the app, and copy the PIN:\n  ${started.authorizeUrl}\n`,
          );
          if (!process.stdin.isTTY) {
            if (opts.json) printJson(started);
            process.stderr.write(`Then run: tca destinations login ${id} --pin <PIN>\n`);
            return;
          }
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          pin = (await rl.question('PIN: ')).trim();
          rl.close();
        }
        const d = await api.request<Destination>('POST', `${base}/login/complete`, { pin });
        if (opts.json) printJson(d);
        else
          process.stdout.write(
            `Logged in; destination ${d.id} is ${d.status}${d.statusReason ? ` (${d.statusReason})` : ''}\n`,
          );
        return d.status === 'active' ? EXIT.ok : EXIT.refused;
      },
    ),
  );

  withConnection(
    group
      .command('delete <id>')
      .description('Delete a destination no dataflow uses')
      .addHelpText('after', examples(['tca destinations delete dst_123'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      await api.request('DELETE', `/api/v1/destinations/${encodeURIComponent(id)}`);
      if (opts.json) printJson({ deleted: id });
      else process.stdout.write(`Deleted ${id}\n`);
    }),
  );
}
