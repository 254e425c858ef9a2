import { describe, expect, it } from 'vitest';
import { createEngine, type EngineXClient } from '../../src/engine/index.ts';
import { POSTGRES_BACKEND, SQLITE_BACKEND } from '../store/backends.ts';
import {
  identifiersAtX,
  EMAIL_MAPPING as MAPPING,
  emailHash,
  passThrough,
  emulatorClient,
  seededRandom,
  setup,
  usersRequests,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';

describe('several delivery workers on PostgreSQL', () => {
  let h: Harness | undefined;

  it('never delivers one audience from two workers at once, and delivers each change once', async () => {
    h = await setup(POSTGRES_BACKEND);
    expect(h.store.capabilities.skipLocked).toBe(true);
    const flow = await h.store.dataflows.create({
      sandboxId: 'prod',
      destinationId: h.destination.id,
      name: 'f',
      mapping: MAPPING,
    });
    const audiences = [];
    for (let i = 0; i < 6; i += 1) {
      audiences.push(
        await h.store.audiences.create({
          sandboxId: 'prod',
          dataflowId: flow.id,
          segmentId: `s${i}`,
          mappingName: `Audience ${i}`,
          startDate: 0,
        }),
      );
    }
    const profiles = Array.from({ length: 300 }, (_, i) => ({
      segmentMembership: { ups: { [`s${i % 6}`]: { status: 'realized' } } },
      identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `u${i}@x.com` }] },
    }));
    await h.engine.ingest(profiles, { sandboxId: 'prod' });

    // Track overlapping users requests per X audience across both workers.
    const inFlight = new Map<string, number>();
    let overlaps = 0;
    const client = emulatorClient(h.emulator, h.clock);
    const guarded: EngineXClient = {
      ...passThrough(client),
      postUsers: async (...args: Parameters<EngineXClient['postUsers']>) => {
        const key = args[1];
        inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
        if (inFlight.get(key)! > 1) overlaps += 1;
        await new Promise((resolve) => setImmediate(resolve));
        try {
          return await client.postUsers(...args);
        } finally {
          inFlight.set(key, inFlight.get(key)! - 1);
        }
      },
    };
    const workers = ['w1', 'w2'].map((workerId) =>
      createEngine({
        store: h!.store,
        clientFor: () => guarded,
        now: h!.clock.now,
        random: seededRandom(1),
        workerId,
      }),
    );
    const [a, b] = await Promise.all(workers.map((w) => w.flush()));
    expect(overlaps).toBe(0);
    // Every audience was delivered by exactly one of them (the other found it claimed or had nothing left).
    const delivered = [...a!.audiences, ...b!.audiences]
      .filter((r) => r.outcome === 'delivered')
      .map((r) => r.audienceId);
    expect(new Set(delivered).size).toBe(delivered.length);
    // Whatever one worker skipped goes out on the next pass.
    await workers[0]!.flush();
    for (const [i, audience] of audiences.entries()) {
      const expected = new Set(
        profiles
          .map((_, k) => k)
          .filter((k) => k % 6 === i)
          .map((k) => `email:${emailHash(`u${k}@x.com`)}`),
      );
      expect(await identifiersAtX(h, audience.id)).toEqual(expected);
    }
    expect(usersRequests(h.emulator)).toBe(6);
  });

  it('keeps the lease while X holds a request longer than the lease: a second worker does not deliver beside it', async () => {
    h = await setup(POSTGRES_BACKEND, { tuning: { leaseMs: 300 } });
    const audience = await oneAudienceWithMembers(h, 3);
    const client = emulatorClient(h.emulator, h.clock);
    const held = hold();
    const calls = { w1: 0, w2: 0 };
    const worker = (workerId: 'w1' | 'w2') =>
      createEngine({
        store: h!.store,
        clientFor: () => ({
          ...passThrough(client),
          postUsers: async (...args: Parameters<EngineXClient['postUsers']>) => {
            calls[workerId] += 1;
            if (workerId === 'w1') await held.promise;
            return client.postUsers(...args);
          },
        }),
        now: h!.clock.now,
        random: seededRandom(1),
        workerId,
        tuning: { leaseMs: 300 },
      });
    const [w1, w2] = [worker('w1'), worker('w2')];
    const first = w1.flush();
    await waitUntil('w1 to send its request', () => calls.w1 === 1);
    // The request outlasts the lease it was claimed with; the heartbeat renews it past the new time.
    h.clock.advance(1_000);
    await waitUntilAsync(
      'the heartbeat to renew the lease',
      async () => (await leaseOf(h!, audience.id)).until! > h!.clock.now(),
    );
    expect((await leaseOf(h, audience.id)).owner).toBe('w1');
    const second = await w2.flush();
    expect(calls.w2).toBe(0);
    expect(second.audiences.filter((r) => r.outcome === 'delivered')).toEqual([]);
    held.release();
    const report = await first;
    expect(report.audiences.map((r) => r.outcome)).toEqual(['delivered']);
    expect(await identifiersAtX(h, audience.id)).toEqual(emails(3));
    expect(usersRequests(h.emulator)).toBe(1);
    expect(await leaseOf(h, audience.id)).toEqual({ owner: null, until: null });
  });

  it('commits nothing when another worker took the audience over mid-request, and the next delivery re-sends it', async () => {
    h = await setup(POSTGRES_BACKEND, { tuning: { leaseMs: 300 } });
    const audience = await oneAudienceWithMembers(h, 2);
    const client = emulatorClient(h.emulator, h.clock);
    const held = hold();
    let sent = 0;
    const w1 = createEngine({
      store: h.store,
      clientFor: () => ({
        ...passThrough(client),
        postUsers: async (...args: Parameters<EngineXClient['postUsers']>) => {
          sent += 1;
          await held.promise;
          return client.postUsers(...args);
        },
      }),
      now: h.clock.now,
      random: seededRandom(1),
      workerId: 'w1',
      tuning: { leaseMs: 300 },
    });
    const first = w1.flush();
    await waitUntil('w1 to send its request', () => sent === 1);
    // As if w1 had stalled past its lease (a paused process) and w2 had claimed the audience.
    await h.store.db
      .updateTable('engine_audiences')
      .set({ lease_owner: 'w2', lease_until: h.clock.now() + 60_000 })
      .where('id', '=', audience.id)
      .execute();
    held.release();
    const report = await first;
    expect(report.audiences.filter((r) => r.outcome === 'delivered')).toEqual([]);
    // X took the request, but w1 committed nothing: the lease stays w2's and the change is still owed.
    expect(await leaseOf(h, audience.id)).toEqual({ owner: 'w2', until: h.clock.now() + 60_000 });
    const xId = (await xAudienceIdOf(h.store, audience.id))!;
    expect(xIdentifiers(h.emulator, xId)).toEqual(emails(2));
    // w2's lease lapses; the next delivery sends the owed change again, which X's set semantics make harmless.
    h.clock.advance(61_000);
    const next = await h.engine.flush();
    expect(next.audiences.map((r) => [r.outcome, r.added])).toEqual([['delivered', 2]]);
    expect(usersRequests(h.emulator)).toBe(2);
    expect(xIdentifiers(h.emulator, xId)).toEqual(emails(2));
    expect((await h.engine.flush()).audiences.map((r) => [r.outcome, r.requests])).toEqual([['idle', 0]]);
  });

  it('starts an audience over only under its lease: one another worker holds is left to its holder', async () => {
    h = await setup(POSTGRES_BACKEND);
    const audience = await oneAudienceWithMembers(h, 2);
    await h.engine.flush();
    const xId = (await xAudienceIdOf(h.store, audience.id))!;
    await h.store.db
      .updateTable('engine_audiences')
      .set({ lease_owner: 'w2', lease_until: h.clock.now() + 60_000 })
      .where('id', '=', audience.id)
      .execute();
    expect(await h.engine.recreateXAudiences(audience.dataflowId)).toBe(0);
    expect(await xAudienceIdOf(h.store, audience.id)).toBe(xId);
    expect(await leaseOf(h, audience.id)).toEqual({ owner: 'w2', until: h.clock.now() + 60_000 });

    h.clock.advance(61_000);
    expect(await h.engine.recreateXAudiences(audience.dataflowId)).toBe(1);
    expect(await xAudienceIdOf(h.store, audience.id)).toBeNull();
    const next = await h.engine.flush();
    expect(next.audiences.map((r) => [r.outcome, r.xAudience, r.added])).toEqual([
      ['delivered', 'created', 2],
    ]);
  });

  it('runs the background worker loop until stopped', async () => {
    h = await setup(POSTGRES_BACKEND, { tuning: { tickMs: 20 } });
    const flow = await h.store.dataflows.create({
      sandboxId: 'prod',
      destinationId: h.destination.id,
      name: 'f',
      mapping: MAPPING,
      maxBatchAgeSeconds: 60,
    });
    const audience = await h.store.audiences.create({
      sandboxId: 'prod',
      dataflowId: flow.id,
      segmentId: 's',
      mappingName: 'Background',
      startDate: 0,
    });
    await h.engine.ingest(
      [
        {
          segmentMembership: { ups: { s: { status: 'realized' } } },
          identityMap: { ECID: [{ id: 'e' }], Email: [{ id: 'bg@x.com' }] },
        },
      ],
      { sandboxId: 'prod' },
    );
    const worker = h.engine.startWorker();
    try {
      // Young batch: the worker waits for the aggregation window.
      h.clock.advance(61_000);
      const deadline = Date.now() + 20_000;
      while (
        (await xAudienceIdOf(h.store, audience.id)) === null ||
        (await identifiersAtX(h, audience.id)).size === 0
      ) {
        if (Date.now() > deadline) throw new Error('the worker did not deliver the aged batch in time');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await worker.stop();
    }
    expect(await identifiersAtX(h, audience.id)).toEqual(new Set([`email:${emailHash('bg@x.com')}`]));
  });
});

describe('the background worker loop', () => {
  let h: Harness | undefined;

  it('delivers while a health poll waits on X: the upkeep runs beside delivery, not before it', async () => {
    h = await setup(SQLITE_BACKEND);
    const { xIds, member } = await twoDeliveredAudiences(h);
    // From now on X holds every health poll until released.
    const client = emulatorClient(h.emulator, h.clock);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const polled: string[] = [];
    const engine = createEngine({
      store: h.store,
      clientFor: () => ({
        ...passThrough(client),
        getCustomAudience: async (a, id) => {
          polled.push(id);
          await held;
          return client.getCustomAudience(a, id);
        },
      }),
      now: h.clock.now,
      random: seededRandom(3),
      workerId: 'upkeep-test',
      tuning: { tickMs: 20 },
    });
    const worker = engine.startWorker();
    try {
      await waitUntil('the first health poll', () => polled.length === 1);
      await h.engine.ingest([member('second@x.com')], { sandboxId: 'prod' });
      // The batch ages past the aggregation window while the poll is held.
      h.clock.advance(901_000);
      // The audience not being polled gets its new member (the polled one waits for its poll: never both at once).
      const other = xIds.find((id) => id !== polled[0])!;
      await waitUntil('the second member at X', () => xIdentifiers(h!.emulator, other).size === 2);
      expect(xIdentifiers(h.emulator, polled[0]!).size).toBe(1);
      // No second upkeep pass started beside the held one.
      expect(polled).toHaveLength(1);
    } finally {
      release();
      await worker.stop();
    }
    // Released, the polls complete, and the polled audience's delivery follows.
    expect(polled).toHaveLength(2);
    await h.engine.flush();
    expect(xIdentifiers(h.emulator, polled[0]!).size).toBe(2);
  });

  it("keeps delivering other audiences while X holds one audience's request", async () => {
    h = await setup(SQLITE_BACKEND);
    const { xIds, member } = await twoDeliveredAudiences(h);
    const client = emulatorClient(h.emulator, h.clock);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = 0;
    const engine = createEngine({
      store: h.store,
      clientFor: () => ({
        ...passThrough(client),
        postUsers: async (...args: Parameters<EngineXClient['postUsers']>) => {
          if (args[1] === xIds[0]) {
            holding += 1;
            await held;
          }
          return client.postUsers(...args);
        },
      }),
      now: h.clock.now,
      random: seededRandom(5),
      workerId: 'lanes-test',
      tuning: { tickMs: 20 },
    });
    const worker = engine.startWorker();
    try {
      await h.engine.ingest([member('second@x.com', ['s'])], { sandboxId: 'prod' });
      h.clock.advance(901_000);
      await waitUntil('the first audience request to be held', () => holding === 1);
      // The other audience's change arrives, and ages, while that request is held.
      await h.engine.ingest([member('third@x.com', ['t'])], { sandboxId: 'prod' });
      h.clock.advance(901_000);
      await waitUntil('the other audience delivered', () => xIdentifiers(h!.emulator, xIds[1]!).size === 2);
      expect(xIdentifiers(h.emulator, xIds[0]!).size).toBe(1);
    } finally {
      release();
      await worker.stop();
    }
    expect(xIdentifiers(h.emulator, xIds[0]!).size).toBe(2);
  });
});

/** Waits until `done()` resolves true, checking every 20 ms, for at most 20 s. */
async function waitUntilAsync(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A promise released by hand. */
function hold(): { promise: Promise<void>; release: () => void } {
  let release: () => void = () => {};
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

async function leaseOf(h: Harness, audienceId: string) {
  const row = await h.store.db
    .selectFrom('engine_audiences')
    .select(['lease_owner', 'lease_until'])
    .where('id', '=', audienceId)
    .executeTakeFirstOrThrow();
  return { owner: row.lease_owner, until: row.lease_until === null ? null : Number(row.lease_until) };
}

const emails = (n: number) =>
  new Set(Array.from({ length: n }, (_, i) => `email:${emailHash(`m${i}@x.com`)}`));

/** One audience (segment s) with `n` members ingested, not yet delivered. */
async function oneAudienceWithMembers(h: Harness, n: number) {
  const flow = await h.store.dataflows.create({
    sandboxId: 'prod',
    destinationId: h.destination.id,
    name: 'f',
    mapping: MAPPING,
  });
  const audience = await h.store.audiences.create({
    sandboxId: 'prod',
    dataflowId: flow.id,
    segmentId: 's',
    mappingName: 'Leased',
    startDate: 0,
  });
  const profiles = Array.from({ length: n }, (_, i) => ({
    segmentMembership: { ups: { s: { status: 'realized' } } },
    identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `m${i}@x.com` }] },
  }));
  await h.engine.ingest(profiles, { sandboxId: 'prod' });
  return audience;
}

/** Waits until `done()` holds, checking every 20 ms, for at most 20 s. */
async function waitUntil(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Two audiences (segments s and t) of one dataflow, created at X with one member each. */
async function twoDeliveredAudiences(h: Harness) {
  const flow = await h.store.dataflows.create({
    sandboxId: 'prod',
    destinationId: h.destination.id,
    name: 'f',
    mapping: MAPPING,
  });
  const audiences = await Promise.all(
    ['s', 't'].map((segmentId) =>
      h.store.audiences.create({
        sandboxId: 'prod',
        dataflowId: flow.id,
        segmentId,
        mappingName: `Audience ${segmentId}`,
        startDate: 0,
      }),
    ),
  );
  const member = (email: string, segments = ['s', 't']) => ({
    segmentMembership: { ups: Object.fromEntries(segments.map((seg) => [seg, { status: 'realized' }])) },
    identityMap: { ECID: [{ id: email }], Email: [{ id: email }] },
  });
  await h.engine.ingest([member('first@x.com')], { sandboxId: 'prod' });
  await h.engine.flush();
  const xIds = await Promise.all(audiences.map(async (a) => (await xAudienceIdOf(h.store, a.id))!));
  return { audiences, xIds, member };
}
