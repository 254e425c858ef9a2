import { describe, expect, it } from 'vitest';
import { RATE_LIMIT_JITTER_MS, RATE_LIMIT_MAX_WAIT_MS } from '../../src/engine/schedule.ts';
import { BACKENDS } from '../store/backends.ts';
import {
  identifiersAtX,
  EMAIL_MAPPING as MAPPING,
  activateSegment,
  emailHash,
  makeClock,
  setup,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';

// What runs count (AEP's activated / excluded / failed per identity) and when a delivery X holds back goes again.

const HOUR = 3_600_000;

/** A member of `seg` with these emails (none: no Email namespace at all), and a sharing consent when given. */
function member(ecid: string, emails: string[], share?: 'y' | 'n') {
  return {
    segmentMembership: { ups: { seg: { status: 'realized' } } },
    identityMap: {
      ECID: [{ id: ecid }],
      ...(emails.length > 0 ? { Email: emails.map((id) => ({ id })) } : {}),
    },
    ...(share === undefined ? {} : { attributes: { 'consents.share.val': share } }),
  };
}

const members = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => member(`e${from + i}`, [`u${from + i}@x.com`]));

const emails = (from: number, to: number) =>
  new Set(Array.from({ length: to - from }, (_, i) => `email:${emailHash(`u${from + i}@x.com`)}`));

async function failuresOf(h: Harness, audienceId: string): Promise<number> {
  const row = await h.store.db
    .selectFrom('engine_audiences')
    .select('failures')
    .where('id', '=', audienceId)
    .executeTakeFirstOrThrow();
  return Number(row.failures);
}

for (const backend of BACKENDS) {
  describe(`run metrics and rate limits (${backend.name})`, () => {
    it('counts each excluded identity or profile once, and sums the ingest answer over the dataflows', async () => {
      const h = await setup(backend);
      const one = await activateSegment(h, { mapping: MAPPING, segmentId: 'seg', mappingName: 'One' });
      const two = await activateSegment(h, { mapping: MAPPING, segmentId: 'seg', mappingName: 'Two' });
      const result = await h.engine.ingest(
        [
          // Its only identity is rejected: counted once, by its code, not again as a profile with nothing to send.
          member('e1', ['no-at-sign.example.com']),
          // No identity the mapping reads at all.
          member('e2', []),
          member('e3', ['u3@x.com']),
          // One rejected identity beside one sent.
          member('e4', ['also-no-at.example.com', 'u4@x.com']),
        ],
        { sandboxId: 'prod' },
      );
      // Summed over the two dataflows that take the profiles.
      expect(result.excluded).toEqual({ email_missing_at: 4, no_mappable_identifier: 2 });
      await h.engine.flush();
      for (const { flow, audience } of [one, two]) {
        const [run] = await h.engine.runs(flow.id);
        expect(run).toMatchObject({
          profilesReceived: 4,
          identitiesAdded: 2,
          identitiesExcluded: 3,
          excludedByReason: { email_missing_at: 2, no_mappable_identifier: 1 },
        });
        expect(run!.activationRate).toBeCloseTo(2 / 5, 10);
        expect(run!.audiences).toEqual([
          expect.objectContaining({
            audienceId: audience.id,
            identitiesExcluded: 3,
            excludedByReason: { email_missing_at: 2, no_mappable_identifier: 1 },
          }),
        ]);
      }
    });

    it('counts a profile without consent once, and not at all when it had no identity to send', async () => {
      const h = await setup(backend);
      await h.store.destinations.update('prod', h.destination.id, {
        marketingActions: ['Cross Site Targeting'],
      });
      await h.engine.setConsentPolicies('prod', [
        {
          name: 'Ads need sharing consent',
          marketingActions: ['Cross Site Targeting'],
          attribute: 'consents.share.val',
        },
      ]);
      const { flow } = await activateSegment(h, { mapping: MAPPING, segmentId: 'seg', mappingName: 'One' });
      const result = await h.engine.ingest(
        [
          member('e1', ['no-at-sign.example.com'], 'n'),
          member('e2', ['also-no-at.example.com', 'u2@x.com'], 'n'),
          member('e3', [], 'n'),
          member('e4', ['u4@x.com'], 'y'),
        ],
        { sandboxId: 'prod' },
      );
      expect(result.excluded).toEqual({ email_missing_at: 2, consent_denied: 2 });
      const [run] = await h.engine.runs(flow.id);
      expect(run).toMatchObject({ identitiesExcluded: 4 });
    });

    it('waits out a 429 until X says the window resets, without climbing the back-off of failures', async () => {
      const h = await setup(backend);
      const { audience } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'seg',
        mappingName: 'One',
      });
      await h.engine.ingest(members(0, 3), { sandboxId: 'prod' });
      await h.engine.flush();
      await h.engine.ingest(members(3, 2), { sandboxId: 'prod' });
      // Each 429 says the window resets within a second.
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 429, times: 2 }] });
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        const [report] = (await h.engine.flush()).audiences;
        expect(report, `attempt ${attempt}`).toMatchObject({ outcome: 'retrying', rateLimited: true });
        const wait = report!.nextAttemptAt! - h.clock.now();
        expect(wait, `attempt ${attempt}`).toBeGreaterThanOrEqual(0);
        expect(wait, `attempt ${attempt}`).toBeLessThan(1_000 + RATE_LIMIT_JITTER_MS);
        expect(await failuresOf(h, audience.id)).toBe(0);
        expect(await h.engine.dueAudiences()).toEqual([]);
        h.clock.advance(2_000);
        expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      }
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'delivered', added: 2 });
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 5));

      // A reset further away than any window of X's is waited for at most that long, and asked again then.
      await h.engine.ingest(members(5, 1), { sandboxId: 'prod' });
      const far = String(Math.floor(h.clock.now() / 1000) + 6 * 3600);
      h.emulator.admin.addFaults({
        faults: [{ method: 'POST', path: '/users$', status: 429, headers: { 'x-rate-limit-reset': far } }],
      });
      const [held] = (await h.engine.flush()).audiences;
      expect(held).toMatchObject({ outcome: 'retrying', rateLimited: true });
      expect(held!.nextAttemptAt! - h.clock.now()).toBeGreaterThanOrEqual(RATE_LIMIT_MAX_WAIT_MS);
      expect(held!.nextAttemptAt! - h.clock.now()).toBeLessThan(
        RATE_LIMIT_MAX_WAIT_MS + RATE_LIMIT_JITTER_MS,
      );
      expect(await failuresOf(h, audience.id)).toBe(0);
    });

    it('lets a flush that waits deliver once a rate limit resets within its wait', async () => {
      // Time passes while the flush waits: the clock of X and of its client goes on with the real one.
      const clock = makeClock();
      const origin = Date.now();
      const start = clock.t;
      clock.now = () => start + (Date.now() - origin);
      const h = await setup(backend, { clock });
      const { audience, flow } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'seg',
        mappingName: 'One',
      });
      await h.engine.ingest(members(0, 3), { sandboxId: 'prod' });
      await h.engine.flush();
      await h.engine.ingest(members(3, 2), { sandboxId: 'prod' });
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 429, times: 1 }] });
      const started = await h.engine.startFlush({ dataflowId: flow.id }, { waitMs: 10_000 });
      const { audiences } = await started.done;
      expect(audiences).toEqual([
        expect.objectContaining({ audienceId: audience.id, outcome: 'delivered', requests: 1, added: 2 }),
      ]);
      expect(await identifiersAtX(h, audience.id)).toEqual(emails(0, 5));

      // A reset past the wait is not waited for: the flush answers at once that the audience goes again then.
      await h.engine.ingest(members(5, 1), { sandboxId: 'prod' });
      const reset = Math.floor(h.clock.now() / 1000) + 120;
      h.emulator.admin.addFaults({
        faults: [
          { method: 'POST', path: '/users$', status: 429, headers: { 'x-rate-limit-reset': String(reset) } },
        ],
      });
      const began = Date.now();
      const later = await (await h.engine.startFlush({ dataflowId: flow.id }, { waitMs: 10_000 })).done;
      expect(Date.now() - began).toBeLessThan(5_000);
      expect(later.audiences[0]).toMatchObject({ outcome: 'retrying', rateLimited: true });
      expect(later.audiences[0]!.nextAttemptAt).toBeGreaterThanOrEqual(reset * 1000);
    });

    it('takes a replayed dead letter out of the failed count of its run; a refusal again counts in the new run', async () => {
      const h = await setup(backend);
      const { audience, flow } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'seg',
        mappingName: 'One',
      });
      await h.engine.ingest(members(0, 2), { sandboxId: 'prod' });
      // The request of both is refused, then the first half alone: one member is dead-lettered.
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 2 }] });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ deadLettered: 1, added: 1 });
      const refusedRun = (await h.engine.runs(flow.id))[0]!;
      expect(refusedRun).toMatchObject({ identitiesFailed: 1, identitiesAdded: 1 });
      expect(refusedRun.audiences[0]).toMatchObject({ identitiesFailed: 1 });
      const window = { from: refusedRun.startedAt, to: refusedRun.startedAt + 4 * HOUR };
      expect((await h.engine.runTotals([flow.id], window)).get(flow.id)).toMatchObject({
        identitiesFailed: 1,
        unreplayedDeadLetters: 1,
      });

      // Two hours later the cause is fixed and the letter replayed: its identity leaves the failed count of the
      // run that counted it, and is activated in the run of its new attempt.
      h.clock.advance(2 * HOUR);
      const [letter] = await h.engine.deadLetters('prod');
      expect(await h.engine.replayDeadLetters('prod', { ids: [letter!.id] })).toBe(1);
      const replayed = (await h.engine.runs(flow.id)).find((r) => r.startedAt === refusedRun.startedAt)!;
      expect(replayed).toMatchObject({ identitiesFailed: 0, failedByCode: {}, identitiesAdded: 1 });
      expect(replayed.audiences[0]).toMatchObject({ identitiesFailed: 0, failedByCode: {} });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'delivered', added: 1 });
      const runs = await h.engine.runs(flow.id);
      expect(
        runs.map((r) => [r.startedAt - refusedRun.startedAt, r.identitiesAdded, r.identitiesFailed]),
      ).toEqual([
        [2 * HOUR, 1, 0],
        [0, 1, 0],
      ]);
      expect(runs[1]!.activationRate).toBe(1);
      expect((await h.engine.runTotals([flow.id], window)).get(flow.id)).toMatchObject({
        identitiesActivated: 2,
        identitiesFailed: 0,
        unreplayedDeadLetters: 0,
      });
      expect(await identifiersAtX(h, audience.id)).toEqual(emails(0, 2));

      // A member X refuses again after its replay is failed once, in the run of its last attempt.
      await h.engine.ingest(members(2, 1), { sandboxId: 'prod' });
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 1 }] });
      await h.engine.flush();
      h.clock.advance(HOUR);
      expect(await h.engine.replayDeadLetters('prod', { dataflowId: flow.id })).toBe(1);
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 1 }] });
      await h.engine.flush();
      const last = await h.engine.runs(flow.id);
      expect(last.map((r) => [r.startedAt - refusedRun.startedAt, r.identitiesFailed])).toEqual([
        [3 * HOUR, 1],
        [2 * HOUR, 0],
        [0, 0],
      ]);
      expect((await h.engine.runTotals([flow.id], window)).get(flow.id)).toMatchObject({
        identitiesFailed: 1,
        unreplayedDeadLetters: 1,
      });
    });

    it('refuses to replay ids of another dataflow than the one named, naming each, and replays nothing', async () => {
      const h = await setup(backend);
      const { flow } = await activateSegment(h, { mapping: MAPPING, segmentId: 'seg', mappingName: 'One' });
      const other = await activateSegment(h, { mapping: MAPPING, segmentId: 'other', mappingName: 'Two' });
      await h.engine.ingest(members(0, 1), { sandboxId: 'prod' });
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 1 }] });
      await h.engine.flush();
      const [letter] = await h.engine.deadLetters('prod');
      expect(letter!.dataflowId).toBe(flow.id);
      const refused = h.engine.replayDeadLetters('prod', {
        ids: ['dl_nope', letter!.id],
        dataflowId: other.flow.id,
      });
      await expect(refused).rejects.toThrow(
        `No dead letter dl_nope in this sandbox; Dead letter ${letter!.id} is not of dataflow ${other.flow.id}`,
      );
      await expect(refused).rejects.toMatchObject({
        code: 'not_found',
        details: [
          { path: 'ids[0]', reason: 'no dead letter with this id' },
          { path: 'ids[1]', reason: `of dataflow ${flow.id}, not ${other.flow.id}` },
        ],
      });
      expect((await h.engine.deadLetters('prod'))[0]!.replayedAt).toBeNull();
      expect(await h.engine.replayDeadLetters('prod', { ids: [letter!.id], dataflowId: flow.id })).toBe(1);
    });

    it('sums the runs that start in a monitoring window, not one that started before it', async () => {
      const h = await setup(backend);
      const { flow } = await activateSegment(h, { mapping: MAPPING, segmentId: 'seg', mappingName: 'One' });
      const hour = h.clock.now();
      expect(hour % HOUR).toBe(0);
      h.clock.advance(10 * 60_000);
      await h.engine.ingest(members(0, 2), { sandboxId: 'prod' });
      const received = async (from: number, to: number) =>
        (await h.engine.runTotals([flow.id], { from, to })).get(flow.id)!.profilesReceived;
      // 12:30–13:30 overlaps the 12:00 run but does not hold its start; 12:00–12:30 does.
      expect(await received(hour + HOUR / 2, hour + 1.5 * HOUR)).toBe(0);
      expect(await received(hour, hour + HOUR / 2)).toBe(2);
      // Consecutive windows count each run once: 11:00–12:00 ends where the 12:00 run starts.
      expect(await received(hour - HOUR, hour)).toBe(0);
      expect(await received(hour, hour + HOUR)).toBe(2);
    });
  });
}
