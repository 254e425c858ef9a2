import { describe, expect, it } from 'vitest';
import { createEmulator, defaultDemoSeed } from '../../src/emulator/index.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { observeXApiWarnings } from '../../src/server/x-connection.ts';
import { XAdsClient, type XApiWarning } from '../../src/xads/client.ts';
import { RateBudgets } from '../../src/xads/rate-limit.ts';

// X sends `x-api-warn` with every answer to a deprecated version or endpoint: the client passes it on, and the service
// counts each one and logs each distinct one once.

const seed = defaultDemoSeed();
const ACCOUNT = seed.accounts[0]!.id;

function client(apiVersion: 11 | 12, warnings: XApiWarning[]) {
  const emulator = createEmulator({ seed });
  return new XAdsClient({
    baseUrl: 'http://x.emulator',
    apiVersion,
    credentials: {
      consumerKey: seed.users[0]!.consumer_key,
      consumerSecret: seed.apps[0]!.consumer_secret,
      accessToken: seed.users[0]!.token,
      accessTokenSecret: seed.users[0]!.token_secret,
    },
    fetch: (url, init) => emulator.fetch(new Request(url, init)),
    budgets: new RateBudgets(),
    onApiWarning: (event) => warnings.push(event),
  });
}

describe("X's deprecation warnings", () => {
  it('are passed on with the version in use and the current one', async () => {
    const warnings: XApiWarning[] = [];
    await client(11, warnings).getAccount(ACCOUNT);
    expect(warnings).toEqual([
      {
        warning: 'API version 11 is not the current version (12)',
        version: 11,
        current: '12',
        path: `/11/accounts/${ACCOUNT}`,
      },
    ]);
    const none: XApiWarning[] = [];
    await client(12, none).getAccount(ACCOUNT);
    expect(none).toEqual([]);
  });

  it('are counted each time and logged once each by the service', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const logged: string[] = [];
    const observe = observeXApiWarnings(metrics, { warn: (_fields, message) => logged.push(message) });
    const warnings: XApiWarning[] = [];
    const old = client(11, warnings);
    for (let i = 0; i < 3; i += 1) await old.getAccount(ACCOUNT);
    for (const warning of warnings) observe(warning);
    observe({ ...warnings[0]!, warning: 'The endpoint GET accounts/:id/x is deprecated' });
    expect(await metrics.registry.getSingleMetricAsString('tca_x_api_warnings_total')).toMatch(
      /^tca_x_api_warnings_total 4$/m,
    );
    expect(logged).toEqual([
      'X warns of a deprecation on Ads API version 11 (current: 12): "API version 11 is not the current version (12)"; upgrade the service before X ends it',
      'X warns of a deprecation on Ads API version 11 (current: 12): "The endpoint GET accounts/:id/x is deprecated"; upgrade the service before X ends it',
    ]);
  });
});
