import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig, type Config, type ConfigFlags } from '../../config/index.ts';
import { describeNetworkFailure } from '../../net/network-failure.ts';
import { describeOutboundProxy, isLoopbackUrl } from '../../net/outbound-proxy.ts';
import { CLOCK_SKEW_TOLERANCE_MS } from '../../xads/client.ts';
import type { XCredentials } from '../../xads/index.ts';
import type { Store } from '../../store/index.ts';
import { EXIT, action, examples, printJson, type GlobalOptions } from './api-client.ts';

/** One finding of `tca doctor`. */
export interface DoctorCheck {
  id: 'config' | 'store' | 'egress' | 'x_api' | 'destinations' | 'alerts' | 'service';
  label: string;
  status: 'pass' | 'warn' | 'fail' | 'skipped';
  message: string;
  /** What to do, for a warning or a failure. */
  hint?: string;
}

const LABELS: Record<DoctorCheck['id'], string> = {
  config: 'Configuration is valid',
  store: 'The store opens with the configured key',
  egress: 'Outbound requests',
  x_api: "X's Ads API is reachable and the clock agrees with X's",
  destinations: "Every destination passes X's preflight",
  alerts: 'No alert is firing and their webhooks accept them',
  service: 'The service answers',
};

const check = (id: DoctorCheck['id'], status: DoctorCheck['status'], message: string, hint?: string) =>
  ({ id, label: LABELS[id], status, message, ...(hint ? { hint } : {}) }) satisfies DoctorCheck;

/** A destination with every credential X's preflight needs, read from the store. */
interface Connectable {
  id: string;
  name: string;
  accountId: string;
  apiBaseUrl: string | null;
  credentials: XCredentials;
}

/**
 * Opens the store as `tca start` would, but changes nothing: no migration, no key recorded or rotated. Every
 * destination's credentials are decrypted; the ones complete enough for X's preflight come back with the finding.
 */
async function checkStore(
  config: Config,
): Promise<{ finding: DoctorCheck; connectable: Connectable[] | null; alerts: DoctorCheck }> {
  const unread = check('alerts', 'skipped', 'Needs the store');
  const finding = (f: DoctorCheck) => ({ finding: f, connectable: null, alerts: unread });
  const sqliteFile = config.databaseUrl === undefined ? join(config.dataDir, 'tca.db') : null;
  if (sqliteFile !== null && !existsSync(sqliteFile))
    return finding(
      check('store', 'warn', `No database yet at ${sqliteFile}`, 'The first `tca start` creates it.'),
    );
  if (config.secretKey === undefined && !existsSync(join(config.dataDir, 'secret.key')))
    return finding(
      check(
        'store',
        'fail',
        `No secret key: TCA_SECRET_KEY is not set and ${join(config.dataDir, 'secret.key')} does not exist`,
        'Set TCA_SECRET_KEY (or TCA_SECRET_KEY_FILE) to the key the database was written with, or restore secret.key',
      ),
    );
  const { openStore, SQLITE_PAGE_SIZE } = await import('../../store/index.ts');
  const options = { url: config.databaseUrl, dataDir: config.dataDir, migrate: false };
  let store;
  try {
    store = await openStore({ ...options, secretKey: config.secretKey });
  } catch (error) {
    const e = error as { code?: string; message: string; hint?: string };
    // Written with the previous key: the next start rotates it.
    if (e.code === 'secret_key' && config.previousSecretKey !== undefined) {
      const previous = await openStore({ ...options, secretKey: config.previousSecretKey }).catch(() => null);
      if (previous) {
        await previous.close();
        return finding(
          check(
            'store',
            'warn',
            'The database is on TCA_SECRET_KEY_PREVIOUS: the next `tca start` rotates it to TCA_SECRET_KEY',
            'Stop every process of the installation first, then start them all with both keys.',
          ),
        );
      }
    }
    return finding(check('store', 'fail', withoutHint(e), e.hint));
  }
  try {
    const where = config.databaseUrl === undefined ? sqliteFile! : 'PostgreSQL';
    const { pending } = await store.migrationStatus();
    // Every destination's credentials must open under the key.
    let credentials = 0;
    const connectable: Connectable[] = [];
    for (const sandbox of await store.sandboxes.list()) {
      for (const destination of await store.destinations.list(sandbox.id)) {
        if (!destination.hasCredentials) continue;
        const c = await store.destinations.getCredentials(sandbox.id, destination.id);
        credentials += 1;
        if (c?.accessToken === undefined || c.accessTokenSecret === undefined) continue;
        const { id, name, accountId, apiBaseUrl } = destination;
        connectable.push({
          id,
          name,
          accountId,
          apiBaseUrl,
          credentials: { ...c, accessToken: c.accessToken, accessTokenSecret: c.accessTokenSecret },
        });
      }
    }
    const opened = `${where}, key ${store.secrets.keyId}, ${credentials} destination credential${credentials === 1 ? '' : 's'} readable`;
    const alerts = pending.some((m) => m === '0010-alerts' || m === '0011-alert-silences')
      ? check('alerts', 'skipped', 'Needs the pending migrations')
      : await checkAlerts(config, store);
    // A file made before new files got 16 KiB pages keeps its own until it is compacted.
    const pageSize = store.sqlite
      ? await store.sqlite.exclusive((db) => db.pragma('page_size', { simple: true }) as number)
      : SQLITE_PAGE_SIZE;
    if (pending.length === 0 && pageSize < SQLITE_PAGE_SIZE)
      return {
        finding: check(
          'store',
          'warn',
          `${opened}; ${pageSize / 1024} KiB pages, where new files have ${SQLITE_PAGE_SIZE / 1024} KiB`,
          'Delivery commits run faster on larger pages: stop the service, back up, and run `tca store compact` (docs/storage.md#compacting).',
        ),
        connectable,
        alerts,
      };
    if (pending.length === 0) return { finding: check('store', 'pass', opened), connectable, alerts };
    return finding(
      check(
        'store',
        'warn',
        `${opened}; ${pending.length} migration${pending.length === 1 ? '' : 's'} pending`,
        'The next `tca start` applies them; back up first (docs/operations.md#backups).',
      ),
    );
  } catch (error) {
    const e = error as { message: string; hint?: string };
    return finding(check('store', 'fail', withoutHint(e), e.hint));
  } finally {
    await store.close();
  }
}

/** Alerts firing now, and notifications a webhook has not accepted, as the store keeps them. */
async function checkAlerts(config: Config, store: Store): Promise<DoctorCheck> {
  const { alertCounts, outboxTarget, webhookName } = await import('../../server/alerts.ts');
  const { firing } = await alertCounts(store.db);
  const stuck = await store.db
    .selectFrom('alert_outbox')
    .select(['url', 'attempts', 'last_error'])
    .where('attempts', '>', 0)
    .orderBy('id')
    .execute();
  const webhooks =
    config.alerts.webhookUrl !== undefined ||
    config.alerts.pagerDuty !== undefined ||
    config.alerts.email !== undefined ||
    (await store.db
      .selectFrom('destinations')
      .select('id')
      .where((eb) =>
        eb.or([
          eb('alert_webhook_url', 'is not', null),
          eb('alert_email_to', '!=', '[]'),
          eb('alert_pagerduty_key', 'is not', null),
        ]),
      )
      .executeTakeFirst()) !== undefined;
  const types = Object.entries(firing);
  const count = types.reduce((n, [, c]) => n + c, 0);
  const problems: string[] = [];
  if (count > 0)
    problems.push(
      `${count} alert${count === 1 ? '' : 's'} firing (${types.map(([type, n]) => `${type}: ${n}`).join(', ')})`,
    );
  // The mail server is asked for a login, not sent anything: a wrong password shows here, not at the first incident.
  const smtp = config.alerts.email
    ? await (await import('../../server/alert-email.ts')).verifySmtp(config.alerts.email)
    : null;
  if (smtp !== null) problems.push(`alert emails cannot be sent (${smtp})`);
  // Recipients named while the service emailed, which it no longer does: nobody tells them anything now.
  const unmailed = config.alerts.email
    ? []
    : await store.db
        .selectFrom('destinations')
        .select('id')
        .where('alert_email_to', '!=', '[]')
        .orderBy('id')
        .execute();
  if (unmailed.length > 0)
    problems.push(
      `${unmailed.length} destination${unmailed.length === 1 ? ' names' : 's name'} alert email recipients (${unmailed.map((d) => d.id).join(', ')}), but this service sends no email`,
    );
  if (stuck.length > 0) {
    const first = stuck[0]!;
    problems.push(
      `${stuck.length} notification${stuck.length === 1 ? '' : 's'} not accepted yet (${webhookName(outboxTarget(store.secrets, first.url))}: ${first.last_error ?? 'refused'}, ${Number(first.attempts)} attempt${Number(first.attempts) === 1 ? '' : 's'})`,
    );
  }
  if (problems.length > 0)
    return check(
      'alerts',
      'warn',
      problems.join('; '),
      smtp !== null
        ? 'Check TCA_SMTP_URL (host, port, login) and that this host may reach it; `tca alerts --test-email` sends one.'
        : unmailed.length > 0
          ? 'Set TCA_ALERT_EMAIL_FROM and TCA_SMTP_URL, or clear the recipients (tca destinations update <id> --alert-email none).'
          : stuck.length > 0
            ? 'Check the webhook (tca destinations test-alert <id>); notifications are retried for a day.'
            : 'See them with `tca alerts --firing`; each says what to fix.',
    );
  return check(
    'alerts',
    'pass',
    webhooks
      ? 'None firing, none waiting'
      : "None firing; no alert webhook is set (TCA_ALERT_WEBHOOK_URL, TCA_ALERT_PAGERDUTY_ROUTING_KEY, TCA_ALERT_EMAIL_TO or a destination's), so alerts are only logged and listed",
  );
}

/**
 * The preflight `tca destinations verify` runs (the service's own, over the X client), for every destination with
 * complete credentials, straight from the store (the service need not run): credentials, account access, approval,
 * age, the audience permission and the app's Audience API access. Each is verified at its own API base URL; those at `unreachable` (the X API base
 * URL the X check could not reach) are not tried again, and named.
 */
async function checkDestinations(
  config: Config,
  connectable: readonly Connectable[],
  unreachable: string | null,
): Promise<DoctorCheck> {
  if (connectable.length === 0) return check('destinations', 'pass', 'No destination has credentials yet');
  const { createXConnection } = await import('../../server/x-connection.ts');
  const x = createXConnection({});
  const failing: string[] = [];
  const notTried: string[] = [];
  for (const destination of connectable) {
    const apiBaseUrl = destination.apiBaseUrl ?? config.xApiBaseUrl;
    if (apiBaseUrl === unreachable) {
      notTried.push(destination.id);
      continue;
    }
    const result = await x.verify({
      apiBaseUrl,
      accountId: destination.accountId,
      credentials: destination.credentials,
    });
    const failed = result.checks.find((c) => c.status === 'fail');
    if (failed) failing.push(`${destination.id} (${destination.name}): ${failed.message}`);
  }
  const tried = connectable.length - notTried.length;
  if (tried === 0) return check('destinations', 'skipped', `Needs ${unreachable} reachable`);
  const skipped =
    notTried.length === 0 ? '' : `; ${notTried.length} not verified (${unreachable} unreachable)`;
  return failing.length === 0
    ? check('destinations', 'pass', `${tried} of ${tried} verify${skipped}`)
    : check(
        'destinations',
        'fail',
        `${failing.length} of ${tried} fail: ${failing.join('; ')}${skipped}`,
        'Fix what each names (`tca destinations verify <id>` shows every check), then run `tca doctor` again.',
      );
}

/**
 * Where the X check looks: the demo's built-in emulator when the configuration is the demo's (`tca start --demo`
 * with no X API base URL of its own), else the X API base URL new destinations use. The demo's destinations hold
 * the address its emulator last served on (another port when `TCA_EMULATOR_PORT` was set, or taken, at its start):
 * that one, when there is one, rather than the port this process's configuration names.
 */
function xTarget(config: Config, connectable: readonly Connectable[] | null): { url: string; name: string } {
  if (config.demo && !config.xApiBaseUrlExplicit) {
    const stored = connectable?.find((d) => d.apiBaseUrl !== null && isLoopbackUrl(new URL(d.apiBaseUrl)));
    const url = stored?.apiBaseUrl?.replace(/\/+$/, '') ?? `http://127.0.0.1:${config.emulatorPort}`;
    return { url, name: `${url} (the demo's built-in X emulator)` };
  }
  return { url: config.xApiBaseUrl, name: config.xApiBaseUrl };
}

/**
 * Any answer from X's API host proves the way there; its `Date` tells how far this clock is from X's. `unreachable`
 * is the base URL that did not answer (null when it did).
 */
async function checkXApi(
  config: Config,
  connectable: readonly Connectable[] | null,
): Promise<{ finding: DoctorCheck; unreachable: string | null }> {
  const target = xTarget(config, connectable);
  const unreached = (...finding: Parameters<typeof check>) => ({
    finding: check(...finding),
    unreachable: target.url,
  });
  const answered = (...finding: Parameters<typeof check>) => ({
    finding: check(...finding),
    unreachable: null,
  });
  const url = `${target.url}/12/accounts`;
  const started = Date.now();
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    await response.body?.cancel();
  } catch (error) {
    const failure = describeNetworkFailure(error);
    if (target.url !== config.xApiBaseUrl)
      return unreached(
        'x_api',
        'warn',
        `${target.name} could not be reached: ${failure.reason}`,
        'Start the demo with `tca start --demo` (or `npm start`); it serves the emulator while it runs.',
      );
    return unreached(
      'x_api',
      'fail',
      `${target.name} could not be reached: ${failure.reason}`,
      failure.hint ??
        'Check the network path to X (firewall, DNS); behind an egress proxy set HTTPS_PROXY (docs/operations.md#behind-an-egress-proxy).',
    );
  }
  const elapsed = Date.now() - started;
  const reached = `${target.name} answered HTTP ${response.status} in ${elapsed} ms`;
  const xTime = Date.parse(response.headers.get('date') ?? '');
  if (!Number.isFinite(xTime)) return answered('x_api', 'pass', `${reached} (no Date to compare clocks)`);
  // The answer's Date is between the request and the response: compare with the middle.
  const offset = xTime - (started + elapsed / 2);
  const seconds = Math.round(offset / 1000);
  if (Math.abs(offset) >= CLOCK_SKEW_TOLERANCE_MS)
    return answered(
      'x_api',
      'warn',
      `${reached}; this clock is ${Math.abs(seconds)} s ${seconds < 0 ? 'ahead of' : 'behind'} X's`,
      "Sync the clock (NTP). X refuses OAuth timestamps far from its time; the service then signs with X's time, but a wrong clock skews every other time it records.",
    );
  return answered('x_api', 'pass', `${reached}; the clock agrees with X's (within ${Math.abs(seconds)} s)`);
}

async function checkService(env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const url = (env['TCA_URL'] ?? `http://127.0.0.1:${env['TCA_PORT'] ?? '8080'}`).replace(/\/+$/, '');
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json().catch(() => ({}))) as {
      checks?: Record<string, { ok: boolean; message: string }>;
    };
    if (response.ok) return check('service', 'pass', `${url} is ready`);
    const failing = Object.entries(body.checks ?? {})
      .filter(([, c]) => !c.ok)
      .map(([name, c]) => `${name}: ${c.message}`);
    return check(
      'service',
      'fail',
      `${url} is not ready (HTTP ${response.status})${failing.length > 0 ? `: ${failing.join('; ')}` : ''}`,
      'See the service log; docs/troubleshooting.md lists what each check means.',
    );
  } catch (error) {
    return check(
      'service',
      'warn',
      `Nothing answers at ${url} (${describeNetworkFailure(error).reason})`,
      'Start it with `tca start`, or set TCA_URL to where it runs.',
    );
  }
}

/** Every check, in order; the ones that need a valid configuration are skipped without one. */
export async function diagnose(env: NodeJS.ProcessEnv, flags: ConfigFlags = {}): Promise<DoctorCheck[]> {
  let config: Config;
  try {
    config = loadConfig(env, flags);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const problems = error.problems.map((p) => `${p.variable}: ${p.message}`).join('; ');
    return [
      check(
        'config',
        'fail',
        problems,
        'Fix the variables named; docs/operations.md#settings lists every one.',
      ),
      ...(['store', 'egress', 'x_api', 'destinations', 'alerts'] as const).map((id) =>
        check(id, 'skipped', 'Needs a valid configuration'),
      ),
      await checkService(env),
    ];
  }
  const proxy = config.outboundProxy ? describeOutboundProxy(config.outboundProxy) : null;
  const egress = proxy
    ? `Through ${[proxy.https && `${proxy.https} (https)`, proxy.http && `${proxy.http} (http)`].filter(Boolean).join(' and ')}; directly to loopback${proxy.noProxy.length > 0 ? ` and ${proxy.noProxy.join(', ')}` : ''}`
    : 'Direct (no HTTPS_PROXY or HTTP_PROXY)';
  const store = await checkStore(config);
  const xApi = await checkXApi(config, store.connectable);
  const destinations =
    store.connectable !== null
      ? await checkDestinations(config, store.connectable, xApi.unreachable)
      : check('destinations', 'skipped', 'Needs the store');
  // X unreachable from a demo installation (every destination on a loopback emulator): say how to check the demo.
  const demoOnly =
    !config.demo &&
    xApi.unreachable !== null &&
    (store.connectable?.length ?? 0) > 0 &&
    store.connectable!.every((d) => d.apiBaseUrl !== null && isLoopbackUrl(new URL(d.apiBaseUrl)));
  const xFinding = demoOnly
    ? {
        ...xApi.finding,
        hint: `${xApi.finding.hint ?? ''} Every destination here is on a local emulator: for the demo (\`npm start\`), run \`tca doctor --demo\`.`.trim(),
      }
    : xApi.finding;
  return [
    check('config', 'pass', `Role ${config.role}, data in ${config.dataDir}`),
    store.finding,
    check('egress', 'pass', egress),
    xFinding,
    destinations,
    store.alerts,
    await checkService(env),
  ];
}

const MARKS: Record<DoctorCheck['status'], string> = { pass: 'ok', warn: 'WARN', fail: 'FAIL', skipped: '-' };

/** `tca doctor`: checks an installation from where it runs, changing nothing. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      "Check this installation: configuration, store and key, the way to X and the clock, every destination's preflight, the running service",
    )
    .option('--json', 'print the checks as JSON')
    .option('--demo', 'check a demo installation (`tca start --demo`): its built-in X emulator stands for X')
    .addHelpText(
      'after',
      examples([
        'tca doctor                                   # with the environment `tca start` runs with',
        'HTTPS_PROXY=http://egress:3128 tca doctor    # would X be reachable through this proxy?',
        'tca doctor --demo                            # the demo `npm start` runs, with its emulator',
        'tca doctor --json | jq \'.checks[] | select(.status == "fail")\'',
      ]),
    )
    .action(
      action(async (opts: GlobalOptions & { demo?: boolean }) => {
        const checks = await diagnose(process.env, opts.demo ? { demo: true } : {});
        const ok = checks.every((c) => c.status !== 'fail');
        if (opts.json) printJson({ ok, checks });
        else {
          for (const c of checks) {
            process.stdout.write(`${MARKS[c.status].padEnd(4)}  ${c.label}: ${c.message}\n`);
            if (c.hint && (c.status === 'fail' || c.status === 'warn'))
              process.stdout.write(`      ${c.hint}\n`);
          }
        }
        return ok ? EXIT.ok : EXIT.refused;
      }),
    );
}

/** A store error's message without the hint it ends with (the check shows the hint on its own). */
function withoutHint(e: { message: string; hint?: string | undefined }): string {
  const tail = e.hint === undefined ? '' : `. ${e.hint}`;
  return tail !== '' && e.message.endsWith(tail) ? e.message.slice(0, -tail.length) : e.message;
}
