import { createEmulator, defaultDemoSeed, type Emulator } from '../../src/emulator/index.ts';
import { createEngine, type Engine, type EngineTuning, type EngineXClient } from '../../src/engine/index.ts';
import { sha256Hex } from '../../src/identity/index.ts';
import type { MappingRow } from '../../src/audience/mapping-rules.ts';
import type { Audience, Dataflow, Destination, Store } from '../../src/store/index.ts';
import { RateBudgets, XAdsClient } from '../../src/xads/index.ts';
import { onTestFinished } from 'vitest';
import type { Backend, TestStore } from '../store/backends.ts';

export const ACCOUNT_ID = '18ce54d4x5t';

/** The mapping most tests activate with: the Email namespace, normalized and hashed, to X's `email`. */
export const EMAIL_MAPPING = [
  { sourceType: 'namespace' as const, source: 'Email', target: 'email' as const, applyTransformation: true },
];
export const CREDENTIALS = {
  consumerKey: 'demo-consumer-key',
  consumerSecret: 'demo-consumer-secret',
  accessToken: '2417045708-demo-access-token',
  accessTokenSecret: 'demo-access-token-secret',
};

export interface Clock {
  t: number;
  now(): number;
  advance(ms: number): void;
}

export function makeClock(start = Date.UTC(2026, 5, 1, 12, 0, 0)): Clock {
  const clock: Clock = {
    t: start,
    now: () => clock.t,
    advance: (ms) => {
      clock.t += ms;
    },
  };
  return clock;
}

export interface Harness {
  engine: Engine;
  emulator: Emulator;
  store: Store;
  clock: Clock;
  destination: Destination;
  client: XAdsClient;
  testStore: TestStore;
  /** Closes and removes the store; done for the test when it finishes, so needed only to close it earlier. */
  cleanup(): Promise<void>;
}

/** A client talking to the emulator in process, on the harness clock, with no real waiting (nor retries). */
export function emulatorClient(
  emulator: Emulator,
  clock: Clock,
  fetchUrl = 'http://x-emulator.test',
  maxRetries = 0,
): XAdsClient {
  return new XAdsClient({
    baseUrl: fetchUrl,
    credentials: CREDENTIALS,
    fetch: (input, init) => emulator.fetch(new Request(input, init)),
    now: clock.now,
    budgets: new RateBudgets(),
    maxRetries,
    sleep: async () => {},
  });
}

/** An engine on a fresh store of `backend` with the emulator in process; call it in a test, which cleans it up. */
export async function setup(
  backend: Backend,
  options: {
    tuning?: Partial<EngineTuning>;
    clock?: Clock;
    /** The client's own retries of a retryable failure (none by default; the service's client makes 3). */
    clientRetries?: number;
    /** The emulator's `deletedAudiencesKeepNames`. */
    deletedAudiencesKeepNames?: boolean;
  } = {},
): Promise<Harness> {
  const clock = options.clock ?? makeClock();
  const emulator = createEmulator({
    now: clock.now,
    seed: defaultDemoSeed(),
    random: seededRandom(7),
    deletedAudiencesKeepNames: options.deletedAudiencesKeepNames ?? false,
  });
  const testStore = await backend.open({ now: clock.now });
  let closed: Promise<void> | undefined;
  const cleanup = () => (closed ??= testStore.cleanup());
  onTestFinished(cleanup);
  const store = testStore.store;
  const destination = await store.destinations.create({
    sandboxId: 'prod',
    name: 'X demo',
    accountId: ACCOUNT_ID,
    credentials: CREDENTIALS,
    status: 'active',
  });
  const client = emulatorClient(emulator, clock, undefined, options.clientRetries);
  const engine = createEngine({
    store,
    clientFor: () => client,
    now: clock.now,
    random: seededRandom(11),
    workerId: 'test-worker',
    ...(options.tuning ? { tuning: options.tuning } : {}),
  });
  return {
    engine,
    emulator,
    store,
    clock,
    destination,
    client,
    testStore,
    cleanup,
  };
}

export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every identifier of an X audience as `type:value`, read through the emulator's admin API. */
export function xIdentifiers(emulator: Emulator, xAudienceId: string): Set<string> {
  const out = new Set<string>();
  for (const member of emulator.admin.members(ACCOUNT_ID, xAudienceId)) {
    for (const [type, values] of Object.entries(member)) {
      if (!Array.isArray(values)) continue;
      for (const value of values as string[]) out.add(`${type}:${value}`);
    }
  }
  return out;
}

/** Users requests X received (POST …/users). */
export function usersRequests(emulator: Emulator): number {
  return emulator.admin
    .requests()
    .filter((r) => r.method === 'POST' && r.path.endsWith('/users') && r.status < 300).length;
}

/** Every identifier the X audience of `audienceId` holds (`xIdentifiers`), read through the emulator's admin API. */
export async function identifiersAtX(
  h: Pick<Harness, 'emulator' | 'store'>,
  audienceId: string,
): Promise<Set<string>> {
  return xIdentifiers(h.emulator, (await xAudienceIdOf(h.store, audienceId))!);
}

export const emailHash = (email: string) => sha256Hex(email.trim().toLowerCase());
export const phoneHash = (e164: string) => sha256Hex(e164);

export async function xAudienceIdOf(store: Store, audienceId: string): Promise<string | null> {
  const row = await store.db
    .selectFrom('dataflow_audiences')
    .select('x_audience_id')
    .where('id', '=', audienceId)
    .executeTakeFirst();
  return row?.x_audience_id ?? null;
}

/** A dataflow to the harness's destination with one audience of `segmentId`, exporting from the start. */
export async function activateSegment(
  h: Harness,
  options: { mapping: MappingRow[]; segmentId: string; mappingName: string },
): Promise<{ flow: Dataflow; audience: Audience }> {
  const flow = await h.store.dataflows.create({
    sandboxId: 'prod',
    destinationId: h.destination.id,
    name: 'f',
    mapping: options.mapping,
  });
  const audience = await h.store.audiences.create({
    sandboxId: 'prod',
    dataflowId: flow.id,
    segmentId: options.segmentId,
    mappingName: options.mappingName,
    startDate: 0,
  });
  return { flow, audience };
}

/** An X client that hands every call to `client`: spread it and replace the calls a test watches or holds. */
export function passThrough(client: EngineXClient): EngineXClient {
  return {
    createCustomAudience: (a, i) => client.createCustomAudience(a, i),
    getCustomAudience: (a, id, o) => client.getCustomAudience(a, id, o),
    findCustomAudienceByName: (a, name) => client.findCustomAudienceByName(a, name),
    updateCustomAudience: (a, id, i) => client.updateCustomAudience(a, id, i),
    deleteCustomAudience: (a, id) => client.deleteCustomAudience(a, id),
    listCustomAudiences: (a, o) => client.listCustomAudiences(a, o),
    verify: (a) => client.verify(a),
    postUsers: (...args: Parameters<EngineXClient['postUsers']>) => client.postUsers(...args),
  };
}
