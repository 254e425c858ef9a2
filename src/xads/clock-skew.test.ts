import { describe, expect, it } from 'vitest';
import { createEmulator, defaultDemoSeed } from '../emulator/index.ts';
import { CLOCK_SKEW_TOLERANCE_MS, ClockOffsets, XAdsClient } from './client.ts';
import { AuthError } from './errors.ts';
import { RateBudgets } from './rate-limit.ts';

// OAuth 1.0a timestamps must be near X's time: a machine whose clock is off gets 401s although its credentials are
// right. The client reads X's time from the refusal's `Date`, signs again with it, and keeps the offset.

const seed = defaultDemoSeed();
const X_TIME = Date.UTC(2026, 10, 29, 12, 0, 0);
const ACCOUNT = seed.accounts[0]!.id;
const CREDENTIALS = {
  consumerKey: seed.users[0]!.consumer_key,
  consumerSecret: seed.apps[0]!.consumer_secret,
  accessToken: seed.users[0]!.token,
  accessTokenSecret: seed.users[0]!.token_secret,
};

function setup(localOffsetMs: number, credentials = CREDENTIALS, maxRetries?: number) {
  const emulator = createEmulator({ seed, now: () => X_TIME });
  const offsets: number[] = [];
  const client = new XAdsClient({
    ...(maxRetries === undefined ? {} : { maxRetries }),
    baseUrl: 'http://x.emulator',
    credentials,
    fetch: (url, init) => emulator.fetch(new Request(url, init)),
    now: () => X_TIME + localOffsetMs,
    budgets: new RateBudgets(),
    sleep: async () => {},
    onClockSkew: (offset) => offsets.push(offset),
    clockOffsets: new ClockOffsets(),
  });
  const statuses = () => emulator.admin.requests().map((r) => r.status);
  return { client, offsets, statuses, emulator };
}

describe('clock skew', () => {
  it.each([
    ['ahead', 7 * 60_000 + 12_000],
    ['behind', -(3 * 3600_000)],
  ])('signs again with X time when this clock is %s of it, and keeps the offset', async (_, localOffset) => {
    const { client, offsets, statuses } = setup(localOffset);
    expect((await client.getAccount(ACCOUNT)).id).toBe(ACCOUNT);
    expect(statuses()).toEqual([401, 200]);
    // The Date header has whole seconds: the offset is X's time to within one.
    expect(Math.abs(client.clockOffsetMs + localOffset)).toBeLessThan(1000);
    expect(offsets).toEqual([client.clockOffsetMs]);
    // Later requests are signed right the first time.
    await client.getAccount(ACCOUNT);
    expect(statuses()).toEqual([401, 200, 200]);
  });

  it('leaves a clock within the tolerance alone', async () => {
    const { client, statuses } = setup(CLOCK_SKEW_TOLERANCE_MS - 5_000);
    await client.getAccount(ACCOUNT);
    expect(statuses()).toEqual([200]);
    expect(client.clockOffsetMs).toBe(0);
  });

  it('does not retry a refusal the clock does not explain, and retries one it does only once', async () => {
    const wrong = { ...CREDENTIALS, accessTokenSecret: 'not-the-secret' };
    const right = setup(0, wrong);
    await expect(right.client.getAccount(ACCOUNT)).rejects.toBeInstanceOf(AuthError);
    expect(right.statuses()).toEqual([401]);
    const skewed = setup(10 * 60_000, wrong);
    await expect(skewed.client.getAccount(ACCOUNT)).rejects.toBeInstanceOf(AuthError);
    expect(skewed.statuses()).toEqual([401, 401]);
  });

  it('does not count signing again with X time as one of the retries', async () => {
    const { client, statuses, emulator } = setup(10 * 60_000, CREDENTIALS, 1);
    // The request signed again meets a transient error: the one retry allowed is still there for it.
    emulator.admin.addFaults({ faults: [{ path: '/accounts/', after: 1, status: 503 }] });
    expect((await client.getAccount(ACCOUNT)).id).toBe(ACCOUNT);
    expect(statuses()).toEqual([401, 503, 200]);
  });
});
