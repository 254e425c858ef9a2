import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { SQLITE_CACHE_MB } from '../store/sqlite-defaults.ts';
import { isPostgresUrl } from '../store/store-url.ts';
import { ConfigError, defaultIngestThreads, loadConfig, X_API_DEFAULT_BASE_URL } from './load-config.ts';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({}, {}, '/srv/tca');
    expect(c).toMatchObject({
      dataDir: '/srv/tca/data',
      databaseUrl: undefined,
      port: 8080,
      host: '127.0.0.1',
      secretKey: undefined,
      xApiBaseUrl: X_API_DEFAULT_BASE_URL,
      xApiBaseUrlExplicit: false,
      logLevel: 'info',
      role: 'all',
      demo: false,
      limits: {
        maxBodyBytes: 5 * 1024 * 1024,
        maxIngestItems: 10_000,
        idleTimeoutSeconds: 120,
        ingestMaxPendingBytes: 16 * 1024 * 1024,
        ingestMaxWaitSeconds: 10,
        maxConcurrentImports: 2,
      },
      ingestThreads: defaultIngestThreads(),
    });
    expect(defaultIngestThreads()).toBe(Math.max(0, Math.min(4, availableParallelism() - 1)));
  });

  it('reads the environment and lets flags win', () => {
    const c = loadConfig(
      {
        TCA_PORT: '9000',
        TCA_DATA_DIR: '/var/lib/tca',
        TCA_LOG_LEVEL: 'DEBUG',
        TCA_X_API_BASE_URL: 'http://127.0.0.1:9090/',
        TCA_DATABASE_URL: 'postgres://tca@db:5432/tca',
        TCA_SQLITE_CACHE_MB: '64',
      },
      { port: '9001', role: 'worker' },
    );
    expect(c).toMatchObject({
      port: 9001,
      dataDir: '/var/lib/tca',
      logLevel: 'debug',
      role: 'worker',
      xApiBaseUrl: 'http://127.0.0.1:9090',
      xApiBaseUrlExplicit: true,
      databaseUrl: 'postgres://tca@db:5432/tca',
      sqliteCacheMb: 64,
    });
    expect(loadConfig({}).sqliteCacheMb).toBe(SQLITE_CACHE_MB);
  });

  it('takes a PostgreSQL URL whatever the case of its scheme, as the store does', () => {
    const c = loadConfig({ TCA_DATABASE_URL: 'PostgreSQL://tca@db:5432/tca' }, {}, '/srv/tca');
    expect(c.databaseUrl).toMatch(/^postgresql:\/\/tca@db:5432\/tca$/i);
    expect(isPostgresUrl(c.databaseUrl)).toBe(true);
    expect(loadConfig({ TCA_DATABASE_URL: 'data/tca.db' }, {}, '/srv/tca').databaseUrl).toBe(
      '/srv/tca/data/tca.db',
    );
  });

  it('reports every bad setting at once, naming the variable and a valid value', () => {
    let error: unknown;
    try {
      loadConfig({
        TCA_PORT: 'eighty',
        TCA_LOG_LEVEL: 'loud',
        TCA_SECRET_KEY: 'short',
        TCA_X_API_BASE_URL: 'ftp://x',
        TCA_DATABASE_URL: 'mysql://db/tca',
        TCA_MAX_INGEST_ITEMS: '0',
        TCA_INGEST_THREADS: '-1',
        TCA_INGEST_MAX_WAIT_SECONDS: 'forever',
        TCA_ALERT_EXCLUSION_RATE: '2',
        TCA_ALERT_WEBHOOK_SECRET: 'hunter2',
        TCA_DEMO: 'maybe',
        TCA_SQLITE_CACHE_MB: '1',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.map((p) => p.variable).sort()).toEqual(
      [
        'TCA_ALERT_EXCLUSION_RATE',
        'TCA_ALERT_WEBHOOK_SECRET',
        'TCA_DATABASE_URL',
        'TCA_DEMO',
        'TCA_INGEST_MAX_WAIT_SECONDS',
        'TCA_INGEST_THREADS',
        'TCA_LOG_LEVEL',
        'TCA_MAX_INGEST_ITEMS',
        'TCA_PORT',
        'TCA_SECRET_KEY',
        'TCA_SQLITE_CACHE_MB',
        'TCA_X_API_BASE_URL',
      ].sort(),
    );
    expect(problems.find((p) => p.variable === 'TCA_PORT')!.message).toContain('TCA_PORT=8080');
    // A secret too short is refused without being echoed.
    expect(problems.find((p) => p.variable === 'TCA_ALERT_WEBHOOK_SECRET')!.message).not.toContain('hunter2');
    expect((error as ConfigError).message).toContain('TCA_LOG_LEVEL');
  });

  it('reminds of critical alerts every 4 hours unless told otherwise (0: never), at most weekly', () => {
    expect(loadConfig({}).alerts.repeatHours).toBe(4);
    expect(loadConfig({ TCA_ALERT_REPEAT_HOURS: '0' }).alerts.repeatHours).toBe(0);
    expect(() => loadConfig({ TCA_ALERT_REPEAT_HOURS: '200' })).toThrow(/TCA_ALERT_REPEAT_HOURS/);
  });

  it('sends alerts to PagerDuty only with an integration key, refused without being echoed when malformed', () => {
    expect(loadConfig({}).alerts.pagerDuty).toBeUndefined();
    const key = 'R0ut1ngKey0123456789abcdefABCDEF';
    const us = loadConfig({ TCA_ALERT_PAGERDUTY_ROUTING_KEY: key }).alerts;
    expect([us.pagerDuty, us.pagerDutyUrl]).toEqual([
      { routingKey: key },
      'https://events.pagerduty.com/v2/enqueue',
    ]);
    const eu = loadConfig({
      TCA_ALERT_PAGERDUTY_ROUTING_KEY: ` ${key}\n`,
      TCA_ALERT_PAGERDUTY_URL: 'https://events.eu.pagerduty.com/v2/enqueue',
    }).alerts;
    expect([eu.pagerDuty, eu.pagerDutyUrl]).toEqual([
      { routingKey: key },
      'https://events.eu.pagerduty.com/v2/enqueue',
    ]);
    let error: unknown;
    try {
      loadConfig({ TCA_ALERT_PAGERDUTY_ROUTING_KEY: 'pd-secret-but-not-a-key' });
    } catch (e) {
      error = e;
    }
    const problem = (error as ConfigError).problems[0]!;
    expect(problem.variable).toBe('TCA_ALERT_PAGERDUTY_ROUTING_KEY');
    expect(problem.message).toContain('32 letters and digits');
    expect(problem.message).not.toContain('pd-secret');
  });

  it('emails alerts with a sender and an SMTP URL, to recipients if given, never echoing the URL', () => {
    expect(loadConfig({}).alerts.email).toBeUndefined();
    expect(
      loadConfig({
        TCA_ALERT_EMAIL_TO: ' oncall@example.com, data-team@example.com ',
        TCA_ALERT_EMAIL_FROM: 'X Custom Audiences <tca@example.com>',
        TCA_SMTP_URL: 'smtps://mailer:pw@smtp.example.com:465',
      }).alerts.email,
    ).toEqual({
      to: ['oncall@example.com', 'data-team@example.com'],
      from: 'X Custom Audiences <tca@example.com>',
      smtpUrl: 'smtps://mailer:pw@smtp.example.com:465',
    });
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (e) {
        return (e as ConfigError).problems;
      }
      return [];
    };
    const missing = problems({ TCA_ALERT_EMAIL_TO: 'oncall@example.com' });
    expect(missing.map((p) => p.variable)).toEqual(['TCA_ALERT_EMAIL_FROM', 'TCA_SMTP_URL']);
    // No installation recipients: only the destinations' own are emailed.
    expect(
      loadConfig({
        TCA_ALERT_EMAIL_FROM: 'tca@example.com',
        TCA_SMTP_URL: 'smtp://smtp.example.com:587',
      }).alerts.email,
    ).toEqual({ to: [], from: 'tca@example.com', smtpUrl: 'smtp://smtp.example.com:587' });
    const wrong = problems({
      TCA_ALERT_EMAIL_TO: 'oncall@example.com, not-an-address',
      TCA_ALERT_EMAIL_FROM: 'tca@example.com',
      TCA_SMTP_URL: 'https://mailer:hunter2@smtp.example.com',
    });
    expect(wrong.map((p) => p.variable)).toEqual(['TCA_ALERT_EMAIL_TO', 'TCA_SMTP_URL']);
    expect(wrong[0]!.message).toContain('not-an-address');
    expect(JSON.stringify(wrong)).not.toContain('hunter2');
  });

  it('repeats warnings only when asked to', () => {
    expect(loadConfig({}).alerts.repeatWarningHours).toBe(0);
    expect(loadConfig({ TCA_ALERT_REPEAT_WARNING_HOURS: '24' }).alerts.repeatWarningHours).toBe(24);
    expect(() => loadConfig({ TCA_ALERT_REPEAT_WARNING_HOURS: '200' })).toThrow(
      /TCA_ALERT_REPEAT_WARNING_HOURS/,
    );
  });

  it('reads what the installation webhook takes, json by default', () => {
    expect(loadConfig({}).alerts.webhookFormat).toBe('json');
    expect(loadConfig({ TCA_ALERT_WEBHOOK_FORMAT: 'teams' }).alerts.webhookFormat).toBe('teams');
    expect(() => loadConfig({ TCA_ALERT_WEBHOOK_FORMAT: 'discord' })).toThrow(/TCA_ALERT_WEBHOOK_FORMAT/);
  });

  it('reads the origins URL imports may read, and names each entry that is not one', () => {
    expect(loadConfig({}).importUrlAllow).toEqual([]);
    expect(loadConfig({ TCA_IMPORT_URL_ALLOW: 'https://*.s3.amazonaws.com' }).importUrlAllow).toEqual([
      { protocol: 'https:', host: 's3.amazonaws.com', subdomains: true, port: '443' },
    ]);
    try {
      loadConfig({ TCA_IMPORT_URL_ALLOW: 'https://storage.googleapis.com/bucket' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([
        {
          variable: 'TCA_IMPORT_URL_ALLOW',
          message:
            '"https://storage.googleapis.com/bucket" has more than an origin (scheme, host and port only)',
        },
      ]);
    }
  });

  it('forwards the audit trail only when TCA_AUDIT_FORWARD_URL is set, and checks its settings', () => {
    expect(loadConfig({}).auditForward).toBeUndefined();
    expect(
      loadConfig({
        TCA_AUDIT_FORWARD_URL: 'https://splunk.example.com:8088/services/collector/event',
        TCA_AUDIT_FORWARD_FORMAT: 'Splunk',
        TCA_AUDIT_FORWARD_TOKEN: 'hec-token',
      }).auditForward,
    ).toEqual({
      url: 'https://splunk.example.com:8088/services/collector/event',
      format: 'splunk',
      token: 'hec-token',
      intervalMs: 10_000,
    });
    let error: unknown;
    try {
      loadConfig({
        TCA_AUDIT_FORWARD_URL: 'syslog://siem:514',
        TCA_AUDIT_FORWARD_FORMAT: 'cef',
        TCA_AUDIT_FORWARD_INTERVAL_SECONDS: '0',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.variable)).toEqual([
      'TCA_AUDIT_FORWARD_URL',
      'TCA_AUDIT_FORWARD_FORMAT',
      'TCA_AUDIT_FORWARD_INTERVAL_SECONDS',
    ]);
  });

  it('sends alert emails through the egress proxy unless NO_PROXY names the SMTP server', () => {
    const mail = {
      TCA_ALERT_EMAIL_FROM: 'tca@example.com',
      TCA_SMTP_URL: 'smtps://mailer:pw@smtp.example.com:465',
      HTTPS_PROXY: 'http://egress:3128',
    };
    expect(loadConfig(mail).alerts.email?.proxy).toBe('http://egress:3128');
    expect(loadConfig({ ...mail, NO_PROXY: 'smtp.example.com' }).alerts.email?.proxy).toBeUndefined();
    expect(loadConfig({ ...mail, HTTPS_PROXY: undefined }).alerts.email?.proxy).toBeUndefined();
  });

  it('reads the egress proxy, and lists a bad one with the other problems, without its password', () => {
    expect(loadConfig({}).outboundProxy).toBeUndefined();
    expect(
      loadConfig({ HTTPS_PROXY: 'http://egress:3128', NO_PROXY: '.corp.example' }).outboundProxy,
    ).toEqual({
      https: 'http://egress:3128',
      http: null,
      noProxy: ['.corp.example'],
    });
    let error: unknown;
    try {
      loadConfig({ TCA_PORT: 'eighty', HTTPS_PROXY: 'socks4://me:pw-secret@egress:1080' });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).problems.map((p) => p.variable)).toEqual(['TCA_PORT', 'HTTPS_PROXY']);
    expect((error as ConfigError).message).not.toContain('pw-secret');
  });

  it('reads the key to rotate from, refusing one that is not a key', () => {
    const previous = 'cd'.repeat(32);
    expect(loadConfig({ TCA_SECRET_KEY_PREVIOUS: previous }).previousSecretKey).toBe(previous);
    expect(() => loadConfig({ TCA_SECRET_KEY_PREVIOUS: 'old-key' })).toThrow(
      /TCA_SECRET_KEY_PREVIOUS: must be the key/,
    );
  });

  it('accepts a 32-byte key as hex or base64', () => {
    expect(loadConfig({ TCA_SECRET_KEY: 'ab'.repeat(32) }).secretKey).toBe('ab'.repeat(32));
    const b64 = Buffer.alloc(32, 7).toString('base64');
    expect(loadConfig({ TCA_SECRET_KEY: b64 }).secretKey).toBe(b64);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ TCA_PORT: '', TCA_X_API_BASE_URL: ' ' }).port).toBe(8080);
  });

  describe('default X app for "Log in with X"', () => {
    it('is unset by default and read from TCA_X_CONSUMER_KEY / TCA_X_CONSUMER_SECRET', () => {
      expect(loadConfig({}).xDefaultApp).toBeUndefined();
      expect(
        loadConfig({ TCA_X_CONSUMER_KEY: ' ck-123 ', TCA_X_CONSUMER_SECRET: 'cs-456' }).xDefaultApp,
      ).toEqual({ consumerKey: 'ck-123', consumerSecret: 'cs-456' });
    });

    it('needs both keys, and names the missing one', () => {
      const problems = (env: Record<string, string>) => {
        try {
          loadConfig(env);
        } catch (e) {
          return (e as ConfigError).problems;
        }
        return [];
      };
      expect(problems({ TCA_X_CONSUMER_KEY: 'ck-123' }).map((p) => p.variable)).toEqual([
        'TCA_X_CONSUMER_SECRET',
      ]);
      expect(problems({ TCA_X_CONSUMER_SECRET: 'cs-456' }).map((p) => p.variable)).toEqual([
        'TCA_X_CONSUMER_KEY',
      ]);
    });

    it('refuses malformed values without echoing the secret', () => {
      let error: unknown;
      try {
        loadConfig({ TCA_X_CONSUMER_KEY: 'ck 123', TCA_X_CONSUMER_SECRET: 'top secret value' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const { problems, message } = error as ConfigError;
      expect(problems.map((p) => p.variable)).toEqual(['TCA_X_CONSUMER_KEY', 'TCA_X_CONSUMER_SECRET']);
      expect(message).toContain('ck 123');
      expect(message).not.toContain('top secret value');
    });
  });
});
