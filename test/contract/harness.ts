import { createEmulator, defaultDemoSeed } from '../../src/emulator/index.ts';
import type { Emulator, EmulatorOptions } from '../../src/emulator/index.ts';
import { RateBudgets, XAdsClient } from '../../src/xads/index.ts';
import type { XAdsClientOptions, XCredentials } from '../../src/xads/index.ts';

/** How the client reaches the emulator: its fetch handler in-process, or real HTTP on loopback. */
export type Transport = 'in-process' | 'http';
export const TRANSPORTS: readonly Transport[] = ['in-process', 'http'];

export const DEMO = defaultDemoSeed();
export const ACCOUNT = DEMO.accounts[0]!.id;
export const APP = DEMO.apps[0]!;
export const USER = DEMO.users[0]!;
export const CREDENTIALS: XCredentials = {
  consumerKey: APP.consumer_key,
  consumerSecret: APP.consumer_secret,
  accessToken: USER.token,
  accessTokenSecret: USER.token_secret,
};
export const START = Date.UTC(2026, 10, 28, 12, 0, 0);

/** A clock both sides share; the client's sleep advances it instead of waiting. */
export class FakeClock {
  constructor(public ms: number) {}
  now = (): number => this.ms;
  sleep = async (ms: number): Promise<void> => {
    this.ms += Math.max(0, ms);
    await Promise.resolve();
  };
}

export interface Harness {
  transport: Transport;
  clock: FakeClock;
  emulator: Emulator;
  baseUrl: string;
  fetch: typeof globalThis.fetch;
  client(overrides?: Partial<XAdsClientOptions>): XAdsClient;
  close(): Promise<void>;
}

/** A fresh emulator (demo seed, fake clock) and a client factory wired to it over `transport`. */
export async function startHarness(transport: Transport, options: EmulatorOptions = {}): Promise<Harness> {
  const clock = new FakeClock(START);
  const emulator = createEmulator({ now: clock.now, ...options });
  let baseUrl = 'http://x-ads-emulator.invalid';
  let fetchFn: typeof globalThis.fetch = emulator.fetch as typeof globalThis.fetch;
  let close = async (): Promise<void> => {};
  if (transport === 'http') {
    const running = await emulator.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = running.url;
    fetchFn = globalThis.fetch.bind(globalThis);
    close = running.close;
  }
  let nonce = 0;
  return {
    transport,
    clock,
    emulator,
    baseUrl,
    fetch: fetchFn,
    client: (overrides = {}) =>
      new XAdsClient({
        baseUrl,
        credentials: CREDENTIALS,
        fetch: fetchFn,
        now: clock.now,
        sleep: clock.sleep,
        random: () => 0.5,
        nonce: () => `contract-nonce-${(nonce += 1)}`,
        budgets: new RateBudgets(),
        ...overrides,
      }),
    close,
  };
}

/** A lowercase SHA-256-shaped hex value for test identifiers. */
export function hex(n: number, prefix = ''): string {
  const body = n.toString(16);
  return (prefix + '0'.repeat(64)).slice(0, 64 - body.length) + body;
}
