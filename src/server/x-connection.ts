import {
  DEFAULT_BASE_URL,
  DEFAULT_OAUTH_BASE_URL,
  XAdsClient,
  accessToken,
  authorizeUrl,
  requestToken,
  type XAdsRequestEvent,
  type XAdsWaitEvent,
  type XApiWarning,
} from '../xads/index.ts';
import type { XConnectionPort } from './ports.ts';
import type { ServiceMetrics } from './metrics.ts';
import { xEndpointLabel } from './metrics.ts';

/**
 * X's OAuth endpoints live on api.x.com while the Ads API is on ads-api.x.com; any other base URL (the emulator, a
 * proxy) serves both.
 */
export function oauthBaseUrl(apiBaseUrl: string): string {
  const normalized = apiBaseUrl.replace(/\/+$/, '');
  return normalized === DEFAULT_BASE_URL.replace(/\/+$/, '') ? DEFAULT_OAUTH_BASE_URL : normalized;
}

/** Records every X request in the metrics (status, endpoint, latency). */
export function observeXRequests(metrics: ServiceMetrics): (event: XAdsRequestEvent) => void {
  return (event) => {
    const endpoint = xEndpointLabel(event.method, event.path);
    metrics.xRequests.inc({
      status: event.status === undefined ? 'network' : String(event.status),
      endpoint,
    });
    metrics.deliveryLatency.observe({ endpoint }, event.durationMs / 1000);
  };
}

/**
 * Records every wait X's rate limits force: the client pacing itself before a request, sleeping before retrying a
 * 429, or handing the wait back to the engine (which retries the audience later).
 */
export function observeXWaits(metrics: ServiceMetrics): (event: XAdsWaitEvent) => void {
  return (event) => {
    const scope = xEndpointLabel(event.method, event.path);
    metrics.rateLimitWaits.inc({ scope, reason: event.reason });
    metrics.rateLimitWaitSeconds.inc({ scope, reason: event.reason }, Math.max(0, event.waitMs) / 1000);
  };
}

/**
 * Reports a clock the X client found off (X refused its OAuth timestamps): the offset as a gauge, and a warning, since
 * the machine's clock needs fixing (NTP) even though the client now signs with X's time.
 */
export function observeXClock(
  metrics: ServiceMetrics,
  logger?: { warn(fields: object, message: string): void },
): (offsetMs: number) => void {
  return (offsetMs) => {
    metrics.xClockOffset.set(offsetMs / 1000);
    logger?.warn(
      { offsetSeconds: Math.round(offsetMs / 1000) },
      "this machine's clock differs from X's: X refused its OAuth timestamps, so requests are now signed with X's time; sync the clock (NTP)",
    );
  };
}

/**
 * Reports X's deprecation warnings: every one in the metrics, each distinct one logged once per process (X repeats it
 * on every answer), since the fix is an upgrade before the version's end of life.
 */
export function observeXApiWarnings(
  metrics: ServiceMetrics,
  logger?: { warn(fields: object, message: string): void },
): (event: XApiWarning) => void {
  return (event) => {
    metrics.xApiWarnings.inc();
    if (loggedWarnings.has(event.warning)) return;
    loggedWarnings.add(event.warning);
    logger?.warn(
      { warning: event.warning, version: event.version, current: event.current, path: event.path },
      `X warns of a deprecation on Ads API version ${event.version}${event.current ? ` (current: ${event.current})` : ''}: "${event.warning}"; upgrade the service before X ends it`,
    );
  };
}
const loggedWarnings = new Set<string>();

/** The preflight checklist and the PIN login, over the X client. */
export function createXConnection(options: {
  fetch?: typeof globalThis.fetch;
  now?: () => number;
  metrics?: ServiceMetrics;
  logger?: { warn(fields: object, message: string): void };
}): XConnectionPort {
  const common = {
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.now ? { now: options.now } : {}),
  };
  return {
    async verify({ apiBaseUrl, accountId, credentials }) {
      if (!credentials) {
        const skipped = (id: string, label: string) => ({
          id,
          label,
          status: 'skipped' as const,
          message: 'Not checked: the destination has no access token yet.',
        });
        return {
          accountId,
          ok: false,
          failure: 'credentials',
          checks: [
            {
              id: 'credentials',
              label: 'Credentials are valid',
              status: 'fail',
              message:
                'The destination has no access token yet. Log in with X (PIN flow) or paste the access token and secret.',
            },
            skipped('account_access', 'The ads account is accessible'),
            skipped('approval_status', 'The ads account is approved (approval_status ACCEPTED)'),
            skipped('account_age', 'The ads account is older than 14 days'),
            skipped('permissions', 'The user may manage partner audiences'),
            skipped('audience_api', 'The app may use the Audience API (custom audiences)'),
          ],
        };
      }
      const client = new XAdsClient({
        baseUrl: apiBaseUrl,
        credentials,
        maxRetries: 1,
        timeoutMs: 15_000,
        ...common,
        ...(options.metrics
          ? {
              onRequest: observeXRequests(options.metrics),
              onWait: observeXWaits(options.metrics),
              onClockSkew: observeXClock(options.metrics, options.logger),
              onApiWarning: observeXApiWarnings(options.metrics, options.logger),
            }
          : {}),
      });
      const result = await client.verify(accountId);
      return {
        accountId: result.accountId,
        ok: result.ok,
        ...(result.failure === undefined ? {} : { failure: result.failure }),
        checks: result.checks.map((c) => ({
          id: c.id,
          label: c.label,
          status: c.status,
          message: c.message,
          ...(c.xCode === undefined ? {} : { xCode: c.xCode }),
        })),
      };
    },
    async loginStart({ apiBaseUrl, consumerKey, consumerSecret }) {
      const base = oauthBaseUrl(apiBaseUrl);
      const t = await requestToken({ consumerKey, consumerSecret }, { baseUrl: base, ...common });
      return {
        authorizeUrl: authorizeUrl(t.token, { baseUrl: base }),
        requestToken: t.token,
        requestTokenSecret: t.tokenSecret,
      };
    },
    async loginComplete({
      apiBaseUrl,
      consumerKey,
      consumerSecret,
      requestToken: token,
      requestTokenSecret,
      pin,
    }) {
      const base = oauthBaseUrl(apiBaseUrl);
      const r = await accessToken(
        { consumerKey, consumerSecret },
        { token, tokenSecret: requestTokenSecret },
        pin,
        {
          baseUrl: base,
          ...common,
        },
      );
      return { accessToken: r.credentials.accessToken, accessTokenSecret: r.credentials.accessTokenSecret };
    },
  };
}
