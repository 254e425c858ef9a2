import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { outboundProxyFromEnv, smtpRoute, type OutboundProxy } from '../net/outbound-proxy.ts';
import { parseUrlAllowList, type AllowedOrigin } from '../net/url-allow-list.ts';
import { SQLITE_CACHE_MB } from '../store/sqlite-defaults.ts';
import { isPostgresUrl } from '../store/store-url.ts';
import { readSetting } from './secret-env.ts';

/**
 * What an alert webhook receives: `json`, the notification as documented (for scripts and incident tools); or a chat
 * tool's own message: `slack` and `google-chat` take `{ text }` (Google Chat refuses any other field), `teams` an
 * Adaptive Card (a Teams workflow's "When a Teams webhook request is received").
 */
export const WEBHOOK_FORMATS = ['json', 'slack', 'teams', 'google-chat'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export const ROLES = ['api', 'worker', 'all'] as const;
export type Role = (typeof ROLES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** X's production Ads API host; used when `TCA_X_API_BASE_URL` is not set. */
export const X_API_DEFAULT_BASE_URL = 'https://ads-api.x.com';

/** Every setting of the service, validated once at start-up. */
export interface Config {
  dataDir: string;
  /** `postgres://…` or a SQLite file path; undefined means the store's default SQLite file inside `dataDir`. */
  databaseUrl: string | undefined;
  port: number;
  host: string;
  /** Key for credentials at rest; undefined means the store generates `secret.key` in `dataDir`. */
  secretKey: string | undefined;
  /** The key the database was written with, to rotate from at start-up (`TCA_SECRET_KEY_PREVIOUS`). A secret. */
  previousSecretKey: string | undefined;
  /** The X Ads API base URL for new destinations; `xApiBaseUrlExplicit` says whether the operator set it. */
  xApiBaseUrl: string;
  xApiBaseUrlExplicit: boolean;
  /**
   * The X app "Log in with X" uses when a request names none (`TCA_X_CONSUMER_KEY` + `TCA_X_CONSUMER_SECRET`); the
   * demo fills in the emulator's app. A secret: never logged.
   */
  xDefaultApp: { consumerKey: string; consumerSecret: string } | undefined;
  logLevel: LogLevel;
  role: Role;
  demo: boolean;
  /** Port of the built-in emulator in demo mode (0 picks a free port). */
  emulatorPort: number;
  limits: {
    maxBodyBytes: number;
    maxIngestItems: number;
    /**
     * A connection silent this long (nothing received or sent) is closed. A request has no limit on its total time,
     * so an upload of any size can take as long as it needs.
     */
    idleTimeoutSeconds: number;
    /**
     * Bytes of ingest bodies held at once; a request beyond it waits for room up to `ingestMaxWaitSeconds`, then gets
     * 503 with Retry-After, nothing of it read.
     */
    ingestMaxPendingBytes: number;
    ingestMaxWaitSeconds: number;
    /** File imports (uploads, URLs) a process runs at once; later ones wait their turn, unread. */
    maxConcurrentImports: number;
  };
  /** Worker threads that read and hash ingest bodies (0: on the main thread); see `defaultIngestThreads`. */
  ingestThreads: number;
  /** The SQLite connection's page cache in MiB (`TCA_SQLITE_CACHE_MB`); unused on PostgreSQL. */
  sqliteCacheMb: number;
  alerts: {
    /** A webhook that receives every alert, in addition to each destination's own webhook. */
    webhookUrl: string | undefined;
    /** What it takes (`TCA_ALERT_WEBHOOK_FORMAT`). */
    webhookFormat: WebhookFormat;
    /** Fire "exclusion rate exceeded" when a run excludes more than this share of the identities it received. */
    exclusionRateThreshold: number;
    /** Fire "dataflow delayed" when pending changes are older than this many minutes. */
    delayMinutes: number;
    /** How often the alert evaluator looks at dataflows. */
    checkIntervalSeconds: number;
    /** Signs every alert notification (`x-tca-signature`), when set. */
    webhookSecret: string | undefined;
    /**
     * PagerDuty Events API v2: every alert also triggers (and its clearing resolves) an incident of the service this
     * integration key routes to (through `pagerDutyUrl`). A secret: never logged, never stored.
     */
    pagerDuty: { routingKey: string } | undefined;
    /** Where PagerDuty events go (TCA_ALERT_PAGERDUTY_URL): the installation's and destinations' own keys alike. */
    pagerDutyUrl: string;
    /** A critical alert still firing is sent again every this many hours (0: once only). */
    repeatHours: number;
    /** The same for a warning (default 0: once only). */
    repeatWarningHours: number;
    /** Every alert is also emailed to `to`, from `from`, through the SMTP server at `smtpUrl` (a secret). */
    /** `proxy`: the egress proxy the SMTP server is reached through, when not directly (see `smtpRoute`). */
    email: { to: string[]; from: string; smtpUrl: string; proxy?: string } | undefined;
  };
  shutdownTimeoutSeconds: number;
  /** The audit feed returns events this many milliseconds old or older (an insert still landing is never passed). */
  auditFeedDelayMs: number;
  /** Where workers push the audit trail (a SIEM's HTTP input), when set. */
  auditForward: AuditForwardConfig | undefined;
  /**
   * The proxy outbound requests go through (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), when one is set. The `tca`
   * command routes every request by it (see `installOutboundProxy`); the service reports it.
   */
  outboundProxy: OutboundProxy | undefined;
  /** Origins a URL import may read from (`TCA_IMPORT_URL_ALLOW`); none: URL imports are refused. */
  importUrlAllow: AllowedOrigin[];
}

/** Pushing the audit trail to a collector (a SIEM's HTTP input). */
export interface AuditForwardConfig {
  url: string;
  /** `ndjson`: one event per line; `splunk`: Splunk HTTP Event Collector events. */
  format: 'ndjson' | 'splunk';
  /** Sent as `Authorization: Bearer …` (ndjson) or `Splunk …`; never logged. */
  token: string | undefined;
  /** How often to look for new events once caught up. */
  intervalMs: number;
}

/** Command-line overrides; a flag wins over its environment variable. */
export interface ConfigFlags {
  dataDir?: string;
  databaseUrl?: string;
  port?: string | number;
  host?: string;
  logLevel?: string;
  role?: string;
  demo?: boolean;
}

export interface ConfigProblem {
  variable: string;
  message: string;
}

/** Thrown by {@link loadConfig} with every invalid setting at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n'),
    );
  }
}

type Env = Record<string, string | undefined>;

/**
 * Reads and validates every setting. Flags override environment variables; unset values take their documented
 * defaults (docs/operations.md). Throws a {@link ConfigError} naming each bad variable with a valid example.
 *
 * @example
 * const config = loadConfig(process.env, { port: '9000' });
 * config.port; // 9000
 */
/** Where PagerDuty's Events API v2 takes events (its EU service: `https://events.eu.pagerduty.com/v2/enqueue`). */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export function loadConfig(env: Env, flags: ConfigFlags = {}, cwd: string = process.cwd()): Config {
  const problems: ConfigProblem[] = [];
  const read = (name: string, flag: string | number | undefined): string | undefined => {
    if (flag !== undefined) return String(flag);
    // Secrets may come from a file instead (`TCA_SECRET_KEY_FILE=/run/secrets/…`): see `FILE_SETTINGS`.
    const { value, problem } = readSetting(env, name, cwd);
    if (problem) problems.push(problem);
    return value;
  };

  const int = (
    name: string,
    raw: string | undefined,
    dflt: number,
    min: number,
    max: number,
    example: string,
  ) => {
    if (raw === undefined) return dflt;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push({
        variable: name,
        message: `must be a whole number from ${min} to ${max} (got "${raw}"); for example ${name}=${example}`,
      });
      return dflt;
    }
    return Number(raw);
  };
  const num = (
    name: string,
    raw: string | undefined,
    dflt: number,
    min: number,
    max: number,
    example: string,
  ) => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      problems.push({
        variable: name,
        message: `must be a number from ${min} to ${max} (got "${raw}"); for example ${name}=${example}`,
      });
      return dflt;
    }
    return n;
  };
  const url = (name: string, raw: string | undefined, protocols: string[], example: string) => {
    if (raw === undefined) return undefined;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) throw new TypeError('protocol');
      return raw.replace(/\/+$/, '');
    } catch {
      problems.push({
        variable: name,
        message: `must be a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL (got "${raw}"); for example ${name}=${example}`,
      });
      return undefined;
    }
  };
  const oneOf = <T extends string>(
    name: string,
    raw: string | undefined,
    values: readonly T[],
    dflt: T,
  ): T => {
    if (raw === undefined) return dflt;
    const v = raw.toLowerCase();
    if ((values as readonly string[]).includes(v)) return v as T;
    problems.push({
      variable: name,
      message: `must be one of ${values.join(', ')} (got "${raw}"); for example ${name}=${dflt}`,
    });
    return dflt;
  };

  const dataDirRaw = read('TCA_DATA_DIR', flags.dataDir) ?? './data';
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(cwd, dataDirRaw);

  const databaseRaw = read('TCA_DATABASE_URL', flags.databaseUrl);
  let databaseUrl: string | undefined;
  if (databaseRaw !== undefined) {
    if (isPostgresUrl(databaseRaw)) {
      databaseUrl = url(
        'TCA_DATABASE_URL',
        databaseRaw,
        ['postgres:', 'postgresql:'],
        'postgres://tca@db:5432/tca',
      );
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(databaseRaw)) {
      problems.push({
        variable: 'TCA_DATABASE_URL',
        message: `must be a postgres:// URL or a SQLite file path (got "${databaseRaw}"); for example TCA_DATABASE_URL=postgres://tca@db:5432/tca or TCA_DATABASE_URL=./data/tca.db`,
      });
    } else {
      databaseUrl = isAbsolute(databaseRaw) ? databaseRaw : resolve(cwd, databaseRaw);
    }
  }

  const port = int('TCA_PORT', read('TCA_PORT', flags.port), 8080, 0, 65535, '8080');
  const host = read('TCA_HOST', flags.host) ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(host)) {
    problems.push({
      variable: 'TCA_HOST',
      message: `must be a host name or IP address (got "${host}"); for example TCA_HOST=0.0.0.0`,
    });
  }

  /** A 32-byte key setting; `what` says which key it must be and `how` where to get one. */
  const secret = (name: string, what: string, how: string) => {
    const raw = read(name, undefined);
    if (raw !== undefined && !isValidSecretKey(raw))
      problems.push({
        variable: name,
        message: `must be ${what} as 64 hex characters or base64 (got a value of the wrong length); ${how}`,
      });
    return raw;
  };
  const secretKey = secret(
    'TCA_SECRET_KEY',
    '32 random bytes',
    'generate one with TCA_SECRET_KEY=$(openssl rand -hex 32)',
  );
  const previousSecretKey = secret(
    'TCA_SECRET_KEY_PREVIOUS',
    'the key the database was written with,',
    'for the generated key file: TCA_SECRET_KEY_PREVIOUS=$(cat data/secret.key)',
  );

  const xRaw = read('TCA_X_API_BASE_URL', undefined);
  const xApiBaseUrl = url('TCA_X_API_BASE_URL', xRaw, ['http:', 'https:'], X_API_DEFAULT_BASE_URL);

  const xDefaultApp = readDefaultApp(read, problems);

  const logLevel = oneOf('TCA_LOG_LEVEL', read('TCA_LOG_LEVEL', flags.logLevel), LOG_LEVELS, 'info');
  const role = oneOf('TCA_ROLE', read('TCA_ROLE', flags.role), ROLES, 'all');
  const demo = flags.demo ?? parseBool('TCA_DEMO', env['TCA_DEMO'], problems);

  const emulatorPort = int('TCA_EMULATOR_PORT', read('TCA_EMULATOR_PORT', undefined), 9090, 0, 65535, '9090');
  const maxBodyBytes = int(
    'TCA_MAX_BODY_BYTES',
    read('TCA_MAX_BODY_BYTES', undefined),
    5 * 1024 * 1024,
    1024,
    512 * 1024 * 1024,
    '5242880',
  );
  const maxIngestItems = int(
    'TCA_MAX_INGEST_ITEMS',
    read('TCA_MAX_INGEST_ITEMS', undefined),
    10_000,
    1,
    1_000_000,
    '10000',
  );
  const idleTimeoutSeconds = int(
    'TCA_IDLE_TIMEOUT_SECONDS',
    read('TCA_IDLE_TIMEOUT_SECONDS', undefined),
    120,
    1,
    86_400,
    '120',
  );
  const ingestMaxPendingBytes = int(
    'TCA_INGEST_MAX_PENDING_BYTES',
    read('TCA_INGEST_MAX_PENDING_BYTES', undefined),
    16 * 1024 * 1024,
    1024,
    64 * 1024 * 1024 * 1024,
    '16777216',
  );
  const ingestMaxWaitSeconds = int(
    'TCA_INGEST_MAX_WAIT_SECONDS',
    read('TCA_INGEST_MAX_WAIT_SECONDS', undefined),
    10,
    0,
    600,
    '10',
  );
  const maxConcurrentImports = int(
    'TCA_MAX_CONCURRENT_IMPORTS',
    read('TCA_MAX_CONCURRENT_IMPORTS', undefined),
    2,
    1,
    64,
    '2',
  );
  const ingestThreads = int(
    'TCA_INGEST_THREADS',
    read('TCA_INGEST_THREADS', undefined),
    defaultIngestThreads(),
    0,
    64,
    '2',
  );
  const sqliteCacheMb = int(
    'TCA_SQLITE_CACHE_MB',
    read('TCA_SQLITE_CACHE_MB', undefined),
    SQLITE_CACHE_MB,
    2,
    1024 * 1024,
    '512',
  );
  const webhookUrl = url(
    'TCA_ALERT_WEBHOOK_URL',
    read('TCA_ALERT_WEBHOOK_URL', undefined),
    ['http:', 'https:'],
    'https://hooks.example.com/tca',
  );
  const webhookFormat = oneOf(
    'TCA_ALERT_WEBHOOK_FORMAT',
    read('TCA_ALERT_WEBHOOK_FORMAT', undefined),
    WEBHOOK_FORMATS,
    'json',
  );
  const exclusionRateThreshold = num(
    'TCA_ALERT_EXCLUSION_RATE',
    read('TCA_ALERT_EXCLUSION_RATE', undefined),
    0.5,
    0,
    1,
    '0.5',
  );
  const delayMinutes = int(
    'TCA_ALERT_DELAY_MINUTES',
    read('TCA_ALERT_DELAY_MINUTES', undefined),
    150,
    1,
    100_000,
    '150',
  );
  const checkIntervalSeconds = int(
    'TCA_ALERT_CHECK_SECONDS',
    read('TCA_ALERT_CHECK_SECONDS', undefined),
    60,
    1,
    86_400,
    '60',
  );
  let webhookSecret = read('TCA_ALERT_WEBHOOK_SECRET', undefined);
  if (webhookSecret !== undefined && webhookSecret.length < 16) {
    problems.push({
      variable: 'TCA_ALERT_WEBHOOK_SECRET',
      message: `must be at least 16 characters (got ${webhookSecret.length}); for example TCA_ALERT_WEBHOOK_SECRET=$(openssl rand -hex 32)`,
    });
    webhookSecret = undefined;
  }
  const repeatHours = int(
    'TCA_ALERT_REPEAT_HOURS',
    read('TCA_ALERT_REPEAT_HOURS', undefined),
    4,
    0,
    168,
    '4',
  );
  const repeatWarningHours = int(
    'TCA_ALERT_REPEAT_WARNING_HOURS',
    read('TCA_ALERT_REPEAT_WARNING_HOURS', undefined),
    0,
    0,
    168,
    '24',
  );
  const pagerDutyKey = read('TCA_ALERT_PAGERDUTY_ROUTING_KEY', undefined)?.trim();
  if (pagerDutyKey !== undefined && pagerDutyKey !== '' && !/^[A-Za-z0-9]{32}$/.test(pagerDutyKey))
    problems.push({
      variable: 'TCA_ALERT_PAGERDUTY_ROUTING_KEY',
      message:
        "must be a PagerDuty Events API v2 integration key: 32 letters and digits (the service's Integrations tab, Events API V2)",
    });
  const pagerDutyUrl = url(
    'TCA_ALERT_PAGERDUTY_URL',
    read('TCA_ALERT_PAGERDUTY_URL', undefined),
    ['http:', 'https:'],
    'https://events.eu.pagerduty.com/v2/enqueue',
  );
  const pagerDuty =
    pagerDutyKey !== undefined && /^[A-Za-z0-9]{32}$/.test(pagerDutyKey)
      ? { routingKey: pagerDutyKey }
      : undefined;
  const email = alertEmailSettings(read, problems);
  const shutdownTimeoutSeconds = int(
    'TCA_SHUTDOWN_TIMEOUT_SECONDS',
    read('TCA_SHUTDOWN_TIMEOUT_SECONDS', undefined),
    30,
    1,
    3600,
    '30',
  );
  const auditFeedDelayMs = int(
    'TCA_AUDIT_FEED_DELAY_MS',
    read('TCA_AUDIT_FEED_DELAY_MS', undefined),
    2000,
    0,
    600_000,
    '2000',
  );

  const forwardUrl = url(
    'TCA_AUDIT_FORWARD_URL',
    read('TCA_AUDIT_FORWARD_URL', undefined),
    ['http:', 'https:'],
    'https://splunk.example.com:8088/services/collector/event',
  );
  const forwardFormat = oneOf(
    'TCA_AUDIT_FORWARD_FORMAT',
    read('TCA_AUDIT_FORWARD_FORMAT', undefined),
    ['ndjson', 'splunk'] as const,
    'ndjson',
  );
  const forwardToken = read('TCA_AUDIT_FORWARD_TOKEN', undefined);
  const forwardInterval = int(
    'TCA_AUDIT_FORWARD_INTERVAL_SECONDS',
    read('TCA_AUDIT_FORWARD_INTERVAL_SECONDS', undefined),
    10,
    1,
    3600,
    '10',
  );
  const auditForward: AuditForwardConfig | undefined =
    forwardUrl === undefined
      ? undefined
      : { url: forwardUrl, format: forwardFormat, token: forwardToken, intervalMs: forwardInterval * 1000 };

  const outbound = outboundProxyFromEnv(env);
  problems.push(...outbound.problems);
  // Alert emails leave through the egress proxy too (an HTTP CONNECT tunnel or SOCKS5), unless NO_PROXY names the server.
  const smtpProxy = email && outbound.proxy ? smtpRoute(outbound.proxy, email.smtpUrl) : null;
  if (email && smtpProxy !== null) email.proxy = smtpProxy;

  const importUrlAllow = parseUrlAllowList(read('TCA_IMPORT_URL_ALLOW', undefined));
  for (const message of importUrlAllow.problems) problems.push({ variable: 'TCA_IMPORT_URL_ALLOW', message });

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    dataDir,
    databaseUrl,
    port,
    host,
    secretKey,
    previousSecretKey,
    xApiBaseUrl: xApiBaseUrl ?? X_API_DEFAULT_BASE_URL,
    xApiBaseUrlExplicit: xApiBaseUrl !== undefined,
    xDefaultApp,
    logLevel,
    role,
    demo,
    emulatorPort,
    limits: {
      maxBodyBytes,
      maxIngestItems,
      idleTimeoutSeconds,
      ingestMaxPendingBytes,
      ingestMaxWaitSeconds,
      maxConcurrentImports,
    },
    ingestThreads,
    sqliteCacheMb,
    alerts: {
      webhookUrl,
      webhookFormat,
      exclusionRateThreshold,
      delayMinutes,
      checkIntervalSeconds,
      webhookSecret,
      pagerDuty,
      pagerDutyUrl: pagerDutyUrl ?? PAGERDUTY_EVENTS_URL,
      repeatHours,
      repeatWarningHours,
      email,
    },
    shutdownTimeoutSeconds,
    auditFeedDelayMs,
    auditForward,
    outboundProxy: outbound.proxy ?? undefined,
    importUrlAllow: importUrlAllow.origins,
  };
}

/**
 * One ingest thread per core beyond the first (the main thread serves HTTP and writes the store), at most 4: past
 * that, the single store writer is the limit.
 */
export function defaultIngestThreads(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}

/** Both app keys or neither; the secret never appears in a message. */
function readDefaultApp(
  read: (name: string, flag: undefined) => string | undefined,
  problems: ConfigProblem[],
): Config['xDefaultApp'] {
  const consumerKey = read('TCA_X_CONSUMER_KEY', undefined);
  const consumerSecret = read('TCA_X_CONSUMER_SECRET', undefined);
  if (consumerKey === undefined && consumerSecret === undefined) return undefined;
  const before = problems.length;
  if (consumerKey === undefined || consumerSecret === undefined) {
    const [missing, present] =
      consumerKey === undefined
        ? ['TCA_X_CONSUMER_KEY', 'TCA_X_CONSUMER_SECRET']
        : ['TCA_X_CONSUMER_SECRET', 'TCA_X_CONSUMER_KEY'];
    problems.push({
      variable: missing,
      message: `must be set together with ${present} (the X app's API key and API key secret); for example TCA_X_CONSUMER_KEY=xvz1evFS4wEEPTGEFPHBog TCA_X_CONSUMER_SECRET=<the app's secret>`,
    });
  }
  const check = (name: string, value: string | undefined, shown: boolean) => {
    if (value === undefined || /^[\x21-\x7e]{1,500}$/.test(value)) return;
    problems.push({
      variable: name,
      message: `must be 1–500 printable characters without spaces${shown ? ` (got "${value}")` : ''}; copy it from the app's "Keys and tokens" page in the X developer portal`,
    });
  };
  check('TCA_X_CONSUMER_KEY', consumerKey, true);
  check('TCA_X_CONSUMER_SECRET', consumerSecret, false);
  if (problems.length > before || consumerKey === undefined || consumerSecret === undefined) return undefined;
  return { consumerKey, consumerSecret };
}

function parseBool(name: string, raw: string | undefined, problems: ConfigProblem[]): boolean {
  if (raw === undefined || raw.trim() === '') return false;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  problems.push({
    variable: name,
    message: `must be true or false (got "${raw}"); for example ${name}=true`,
  });
  return false;
}

function isValidSecretKey(value: string): boolean {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return true;
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return false;
  return Buffer.from(value, 'base64').length === 32;
}

const EMAIL_ADDRESS = /^[^\s@,<>"]+@[^\s@,<>"]+\.[^\s@,<>"]+$/;

/**
 * `TCA_ALERT_EMAIL_FROM` and `TCA_SMTP_URL` (`smtp://` or `smtps://`, credentials in it) send alert emails, to
 * `TCA_ALERT_EMAIL_TO` (addresses, comma-separated) and to each destination's own recipients; without
 * `TCA_ALERT_EMAIL_TO` only the destinations' are emailed. Recipients alone are a mistake (nothing could send to
 * them). The SMTP URL is never echoed in a problem (it holds a password).
 */
function alertEmailSettings(
  read: (name: string, dflt: undefined) => string | undefined,
  problems: ConfigProblem[],
): { to: string[]; from: string; smtpUrl: string; proxy?: string } | undefined {
  const rawTo = read('TCA_ALERT_EMAIL_TO', undefined)?.trim();
  const from = read('TCA_ALERT_EMAIL_FROM', undefined)?.trim();
  const smtpUrl = read('TCA_SMTP_URL', undefined)?.trim();
  if (!rawTo && !from && !smtpUrl) return undefined;
  const before = problems.length;
  const to = (rawTo ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const bad = to.filter((a) => !EMAIL_ADDRESS.test(a));
  if (bad.length > 0)
    problems.push({
      variable: 'TCA_ALERT_EMAIL_TO',
      message: `not an email address: ${bad.join(', ')}`,
    });
  if (to.length > 50)
    problems.push({
      variable: 'TCA_ALERT_EMAIL_TO',
      message: `at most 50 addresses (got ${to.length}); use a list`,
    });
  if (!from || !EMAIL_ADDRESS.test(from.replace(/^.*<([^>]+)>\s*$/, '$1')))
    problems.push({
      variable: 'TCA_ALERT_EMAIL_FROM',
      message:
        'the sender of alert emails, an address your SMTP server may send from; for example TCA_ALERT_EMAIL_FROM="X Custom Audiences <tca@example.com>"',
    });
  if (!isSmtpUrl(smtpUrl))
    problems.push({
      variable: 'TCA_SMTP_URL',
      message:
        'the SMTP server that sends alert emails, an smtp:// (STARTTLS when offered) or smtps:// URL with its credentials; for example TCA_SMTP_URL=smtps://user:password@smtp.example.com:465 (value not shown: it holds a password)',
    });
  return problems.length === before ? { to, from: from!, smtpUrl: smtpUrl! } : undefined;
}

function isSmtpUrl(value: string | undefined): boolean {
  if (value === undefined) return false;
  try {
    return ['smtp:', 'smtps:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
