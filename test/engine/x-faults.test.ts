import { describe, expect, it } from 'vitest';
import {
  identifiersAtX,
  ACCOUNT_ID,
  EMAIL_MAPPING as MAPPING,
  emailHash,
  setup,
  usersRequests,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';
import { BACKENDS } from '../store/backends.ts';
import { createEngine } from '../../src/engine/index.ts';
import { RateBudgets, TransientError, XAdsClient } from '../../src/xads/index.ts';
import { CREDENTIALS, passThrough, seededRandom } from './harness.ts';
import type { EngineXClient } from '../../src/engine/x-port.ts';

const member = (i: number, segment = 'seg', status: 'realized' | 'exited' = 'realized') => ({
  segmentMembership: { ups: { [segment]: { status } } },
  identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `u${i}@x.com` }] },
});

const emails = (from: number, to: number) =>
  new Set(Array.from({ length: to - from }, (_, i) => `email:${emailHash(`u${from + i}@x.com`)}`));

async function flowWith(h: Harness, options: { existingXAudienceId?: string; keep?: boolean } = {}) {
  const flow = await h.store.dataflows.create({
    sandboxId: 'prod',
    destinationId: h.destination.id,
    name: 'flow',
    mapping: MAPPING,
    ...(options.keep ? { onAudienceRemoval: 'keep' as const } : {}),
  });
  const audience = await h.store.audiences.create({
    sandboxId: 'prod',
    dataflowId: flow.id,
    segmentId: 'seg',
    mappingName: 'Loyal',
    startDate: 0,
    ...(options.existingXAudienceId ? { existingXAudienceId: options.existingXAudienceId } : {}),
  });
  return { flow, audience };
}

async function ingest(h: Harness, count: number, from = 0) {
  await h.engine.ingest(
    Array.from({ length: count }, (_, i) => member(from + i)),
    { sandboxId: 'prod' },
  );
}

/** A flow whose X audience holds `held` members already, with `pending` more waiting for the next delivery. */
async function heldThenPending(backend: (typeof BACKENDS)[number], held: number, pending: number) {
  const h = await setup(backend);
  const { audience, flow } = await flowWith(h);
  await ingest(h, held);
  await h.engine.flush();
  const xId = (await xAudienceIdOf(h.store, audience.id))!;
  await ingest(h, pending, held);
  return { h, audience, flow, xId };
}

for (const backend of BACKENDS) {
  describe(`X faults during delivery (${backend.name})`, () => {
    for (const fault of [
      { name: '500', spec: { status: 500 } },
      { name: '502', spec: { status: 502 } },
      { name: '504 without a body', spec: { status: 504 } },
      { name: 'a dropped connection', spec: { drop: true } },
      { name: 'a short success_count', spec: { countMismatch: true } },
      { name: 'a 200 with an HTML body', spec: { status: 200, body: '<html><body>Gateway</body></html>' } },
      { name: 'a 200 with a JSON body lacking counts', spec: { status: 200, body: { data: {} } } },
    ]) {
      it(`keeps what ${fault.name} mid-flush left pending, backs off, and delivers it next`, async () => {
        const h = await setup(backend, { tuning: { pageSize: 10, requestMaxBytes: 500 } });
        const { audience, flow } = await flowWith(h);
        await ingest(h, 20);
        h.emulator.admin.addFaults({
          faults: [{ method: 'POST', path: '/users$', after: 1, ...fault.spec }],
        });
        const first = (await h.engine.flush()).audiences[0]!;
        expect(first.outcome).toBe('retrying');
        const xId = (await xAudienceIdOf(h.store, audience.id))!;
        const atX = xIdentifiers(h.emulator, xId).size;
        const pending = (await h.engine.plan(flow.id)).totals.pendingAdds;
        // Nothing X did not confirm is counted delivered (X may have applied the failed request: it is sent again).
        expect(first.added).toBeLessThanOrEqual(atX);
        expect(20 - first.added).toBe(pending);
        expect(pending).toBeGreaterThan(0);
        const row = await h.store.db
          .selectFrom('engine_audiences')
          .select(['failures', 'next_attempt_at'])
          .where('id', '=', audience.id)
          .executeTakeFirstOrThrow();
        expect(row.failures).toBe(1);
        await h.engine.flush();
        expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 20));
        expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(0);
      });
    }

    it('waits a minute on a 429 without x-rate-limit-reset, without counting a failure', async () => {
      const h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingest(h, 3);
      h.emulator.admin.addFaults({
        faults: [
          {
            method: 'POST',
            path: '/users$',
            status: 429,
            headers: { 'x-rate-limit-reset': '', 'x-rate-limit-remaining': '', 'x-rate-limit-limit': '' },
          },
        ],
      });
      const first = (await h.engine.flush()).audiences[0]!;
      expect(first).toMatchObject({ outcome: 'retrying', rateLimited: true });
      expect(first.nextAttemptAt).toBeGreaterThanOrEqual(h.clock.now() + 60_000);
      expect(first.nextAttemptAt).toBeLessThanOrEqual(h.clock.now() + 62_000);
      const row = await h.store.db
        .selectFrom('engine_audiences')
        .select('failures')
        .where('id', '=', audience.id)
        .executeTakeFirstOrThrow();
      expect(row.failures).toBe(0);
      expect(await h.engine.dueAudiences()).toEqual([]);
      h.clock.advance(62_000);
      await h.engine.flush();
      expect(await identifiersAtX(h, audience.id)).toEqual(emails(0, 3));
    });

    it('waits for x-rate-limit-reset on a 429 that names it', async () => {
      const h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingest(h, 3);
      const reset = Math.floor(h.clock.now() / 1000) + 300;
      h.emulator.admin.addFaults({
        faults: [
          { method: 'POST', path: '/users$', status: 429, headers: { 'x-rate-limit-reset': String(reset) } },
        ],
      });
      const first = (await h.engine.flush()).audiences[0]!;
      expect(first).toMatchObject({ outcome: 'retrying', rateLimited: true });
      expect(first.nextAttemptAt).toBeGreaterThanOrEqual(reset * 1000);
      expect(first.nextAttemptAt).toBeLessThanOrEqual(reset * 1000 + 1000);
      h.clock.advance(reset * 1000 + 1000 - h.clock.now());
      await h.engine.flush();
      expect(await identifiersAtX(h, audience.id)).toEqual(emails(0, 3));
    });

    it('bisects a refused users request of an audience X holds already, delivering everyone but the one refused', async () => {
      const { h, xId } = await heldThenPending(backend, 6, 8);
      // 8 → 4 → 2 → 1 members.
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 4 }] });
      const report = (await h.engine.flush()).audiences[0]!;
      expect(report).toMatchObject({ outcome: 'delivered', deadLettered: 1, added: 7 });
      expect(xIdentifiers(h.emulator, xId).size).toBe(13);
    });

    it('stops, dead-lettering nobody, when X refuses users requests whatever members they carry', async () => {
      const { h, flow, xId } = await heldThenPending(backend, 6, 8);
      const refused = h.emulator.admin.requests().length;
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 1000 }] });
      const report = (await h.engine.flush()).audiences[0]!;
      expect(report).toMatchObject({ outcome: 'error', deadLettered: 0, added: 0 });
      expect(report.message).toMatch(/^X refused members sent to the audience.*Fix the cause, then resume/);
      // 8, 4, 2, then two members alone: not the 15 requests of a bisection down to every member.
      const sent = h.emulator.admin.requests().slice(refused);
      expect(sent.filter((r) => r.path.endsWith('/users')).map((r) => r.status)).toEqual([
        400, 400, 400, 400, 400,
      ]);
      const df = await h.store.dataflows.get('prod', flow.id);
      expect(df).toMatchObject({ status: 'failed', statusReason: report.message });
      expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(8);
      expect(await h.engine.deadLetters('prod', { dataflowId: flow.id })).toEqual([]);

      h.emulator.admin.clearFaults();
      await h.store.dataflows.update('prod', flow.id, { status: 'active', statusReason: null });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({
        outcome: 'delivered',
        added: 8,
        requests: 1,
      });
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 14));
    });

    it('sends the members X does not name in operation_errors at once, and narrows down those it names', async () => {
      const { h, xId } = await heldThenPending(backend, 8, 8);
      const before = h.emulator.admin.requests().length;
      // X names the first operation's third user; the request is refused as a whole.
      const body = {
        operation_errors: [[{ code: 'INVALID_PARAMETER', message: 'bad user', user_index: 2 }]],
      };
      h.emulator.admin.addFaults({
        faults: [
          { method: 'POST', path: '/users$', status: 400, body },
          { method: 'POST', path: '/users$', status: 400, body, after: 1 },
        ],
      });
      const report = (await h.engine.flush()).audiences[0]!;
      expect(report).toMatchObject({ outcome: 'delivered', deadLettered: 1, added: 7 });
      // The refused request, the seven others together, then the one named, refused again on its own.
      const users = h.emulator.admin
        .requests()
        .slice(before)
        .filter((r) => r.path.endsWith('/users'));
      expect(users.map((r) => r.status)).toEqual([400, 200, 400]);
      expect(xIdentifiers(h.emulator, xId).size).toBe(15);
    });

    it('pauses on a 403 mid-run and resumes when the destination verifies', async () => {
      const h = await setup(backend, { tuning: { pageSize: 10, requestMaxBytes: 500 } });
      const { audience, flow } = await flowWith(h);
      await ingest(h, 20);
      h.emulator.admin.addFaults({
        faults: [{ method: 'POST', path: '/users$', status: 403, after: 1 }],
      });
      const first = (await h.engine.flush()).audiences[0]!;
      expect(first.outcome).toBe('paused');
      expect((await h.store.dataflows.get('prod', flow.id))?.status).toBe('paused');
      const pending = (await h.engine.plan(flow.id)).totals.pendingAdds;
      expect(pending).toBe(20 - first.added);
      h.clock.advance(1000);
      await h.store.destinations.update('prod', h.destination.id, { description: 'fixed' });
      expect(await h.engine.resumePaused()).toEqual([flow.id]);
      await h.engine.flush();
      expect(await identifiersAtX(h, audience.id)).toEqual(emails(0, 20));
    });

    it('stops the dataflow with what to fix when the X audience to attach to does not exist, creating none', async () => {
      const h = await setup(backend);
      const { audience, flow } = await flowWith(h, { existingXAudienceId: 'nope1' });
      await ingest(h, 2);
      const report = (await h.engine.flush()).audiences[0]!;
      expect(report.outcome).toBe('error');
      expect(report.message).toMatch(/X audience nope1 to attach to does not exist.*existingXAudienceId/);
      const df = await h.store.dataflows.get('prod', flow.id);
      expect(df?.status).toBe('failed');
      expect(df?.statusReason).toBe(report.message);
      expect(await h.engine.dueAudiences()).toEqual([]);
      expect(await xAudienceIdOf(h.store, audience.id)).toBeNull();
      expect(await h.client.listCustomAudiences(ACCOUNT_ID, { withDeleted: true })).toEqual([]);
      expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(2);
    });

    it('retries an attach that meets an HTML 404, and attaches once X answers', async () => {
      const h = await setup(backend);
      const existing = await h.client.createCustomAudience(ACCOUNT_ID, { name: 'By hand' });
      const { audience, flow } = await flowWith(h, { existingXAudienceId: existing.id });
      await ingest(h, 2);
      h.emulator.admin.addFaults({
        faults: [
          { method: 'GET', path: `/custom_audiences/${existing.id}$`, status: 404, body: '<html>x</html>' },
        ],
      });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'retrying' });
      expect((await h.store.dataflows.get('prod', flow.id))?.status).toBe('active');
      await h.engine.flush();
      expect(await xAudienceIdOf(h.store, audience.id)).toBe(existing.id);
      expect(xIdentifiers(h.emulator, existing.id)).toEqual(emails(0, 2));
    });

    it('stops the dataflow when an attached X audience is deleted at X, making no other one', async () => {
      const h = await setup(backend);
      const existing = await h.client.createCustomAudience(ACCOUNT_ID, { name: 'By hand' });
      const { flow } = await flowWith(h, { existingXAudienceId: existing.id });
      await ingest(h, 2);
      await h.engine.flush();
      await h.client.deleteCustomAudience(ACCOUNT_ID, existing.id);
      await ingest(h, 1, 2);
      const report = (await h.engine.flush()).audiences[0]!;
      expect(report.outcome).toBe('error');
      expect(report.message).toContain(`X audience ${existing.id} to attach to does not exist`);
      expect((await h.store.dataflows.get('prod', flow.id))?.status).toBe('failed');
      expect(await h.client.listCustomAudiences(ACCOUNT_ID)).toEqual([]);
    });

    it('removal: deletes at X (already gone is fine) or keeps', async () => {
      const h = await setup(backend);
      const { audience } = await flowWith(h);
      const { audience: kept } = await flowWith(h, { keep: true });
      await h.store.audiences.update('prod', kept.id, { mappingName: 'Kept' });
      await ingest(h, 2);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      const keptX = (await xAudienceIdOf(h.store, kept.id))!;
      await h.client.deleteCustomAudience(ACCOUNT_ID, xId);
      await h.store.audiences.update('prod', audience.id, { state: 'removing' });
      await h.store.audiences.update('prod', kept.id, { state: 'removing' });
      const report = await h.engine.flush();
      expect(report.audiences.map((a) => a.outcome)).toEqual(['removed', 'removed']);
      expect((await h.client.getCustomAudience(ACCOUNT_ID, keptX)).deleted).toBe(false);
      expect(xIdentifiers(h.emulator, keptX)).toEqual(emails(0, 2));
      expect(usersRequests(h.emulator)).toBeGreaterThan(0);
    });
    it('renames to " (2)" when a deleted audience holds the new name', async () => {
      const h = await setup(backend, { deletedAudiencesKeepNames: true });
      const { audience } = await flowWith(h);
      await ingest(h, 2);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      const old = await h.client.createCustomAudience(ACCOUNT_ID, { name: 'Loyal EU' });
      await h.client.deleteCustomAudience(ACCOUNT_ID, old.id);
      await h.store.audiences.update('prod', audience.id, { mappingName: 'Loyal EU' });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ xAudience: 'renamed' });
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId)).name).toBe('Loyal EU (2)');
      expect((await h.store.audiences.get('prod', audience.id))?.xAudienceName).toBe('Loyal EU (2)');
      expect((await h.engine.plan(audience.dataflowId)).audiences[0]?.action).toBe('none');
    });

    it('recreates under the new name, with every member, an audience deleted at X before its rename', async () => {
      const h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingest(h, 3);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      await h.client.deleteCustomAudience(ACCOUNT_ID, xId);
      await h.store.audiences.update('prod', audience.id, { mappingName: 'Loyal EU' });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({
        outcome: 'delivered',
        xAudience: 'created',
        added: 3,
      });
      const after = (await xAudienceIdOf(h.store, audience.id))!;
      expect(after).not.toBe(xId);
      expect((await h.client.getCustomAudience(ACCOUNT_ID, after)).name).toBe('Loyal EU');
      expect(xIdentifiers(h.emulator, after)).toEqual(emails(0, 3));
    });
    it('keeps changes pending when a users request times out, though X applies it later, and sends them again', async () => {
      const { h, flow, xId } = await heldThenPending(backend, 3, 2);
      const impatient = new XAdsClient({
        baseUrl: 'http://x-emulator.test',
        credentials: CREDENTIALS,
        fetch: (input, init) => h.emulator.fetch(new Request(input, init)),
        now: h.clock.now,
        budgets: new RateBudgets(),
        maxRetries: 0,
        timeoutMs: 20,
        sleep: async () => {},
      });
      const engine = createEngine({
        store: h.store,
        clientFor: () => impatient,
        now: h.clock.now,
        random: seededRandom(3),
        workerId: 'impatient',
      });
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', delayMs: 200 }] });
      const report = (await engine.flush()).audiences[0]!;
      expect(report).toMatchObject({ outcome: 'retrying', added: 0, requests: 0 });
      expect(report.message).toMatch(/timed out/);
      expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(2);
      // X applies the request after all, once its delay is over.
      const deadline = Date.now() + 10_000;
      while (xIdentifiers(h.emulator, xId).size < 5 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 5));
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'delivered', added: 2 });
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 5));
      expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(0);
    });
    it('a removal X refuses with a 401 waits for the destination to verify, not asked again at every tick', async () => {
      const h = await setup(backend);
      const { audience, flow } = await flowWith(h);
      await ingest(h, 2);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      await h.store.audiences.update('prod', audience.id, { state: 'removing' });
      h.emulator.admin.addFaults({
        faults: [{ method: 'DELETE', path: '/custom_audiences/', status: 401, times: 100 }],
      });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'paused' });
      expect((await h.store.dataflows.get('prod', flow.id))?.status).toBe('paused');
      h.clock.advance(1000);
      const deletes = () => h.emulator.admin.requests().filter((r) => r.method === 'DELETE').length;
      // Asked again at once, then after a minute, five…: not at every tick of the worker.
      expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      await h.engine.flush();
      const asked = deletes();
      for (let tick = 0; tick < 50; tick += 1) {
        h.clock.advance(1000);
        if ((await h.engine.dueAudiences()).length > 0) await h.engine.flush();
      }
      expect(deletes()).toBe(asked);
      expect(await h.engine.dueAudiences()).toEqual([]);
      h.emulator.admin.clearFaults();
      await h.store.destinations.update('prod', h.destination.id, { description: 'fixed' });
      expect(await h.engine.resumePaused()).toEqual([flow.id]);
      // Once the destination verifies, the removal goes at once.
      expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      await h.engine.flush();
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId, { withDeleted: true })).deleted).toBe(true);
      expect((await h.store.audiences.get('prod', audience.id))?.state).toBe('removed');
    });
    it('deletes at X the audience a create whose answer was lost made, when the segment is removed before the next pass', async () => {
      const h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingest(h, 2);
      const lossy: EngineXClient = {
        ...passThrough(h.client),
        createCustomAudience: async (accountId, input) => {
          await h.client.createCustomAudience(accountId, input);
          throw new TransientError({ message: 'The request timed out', reason: 'timeout' });
        },
      };
      const engine = createEngine({
        store: h.store,
        clientFor: () => lossy,
        now: h.clock.now,
        random: seededRandom(3),
        workerId: 'lossy',
      });
      expect((await engine.flush()).audiences[0]).toMatchObject({ outcome: 'retrying' });
      expect((await h.client.listCustomAudiences(ACCOUNT_ID)).map((a) => a.name)).toEqual(['Loyal']);
      await h.store.audiences.update('prod', audience.id, { state: 'removing' });
      // The dry-run plan says so before it happens.
      expect((await h.engine.plan(audience.dataflowId)).audiences[0]?.action).toBe('delete');
      h.clock.advance(3_600_000);
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'removed' });
      expect(await h.client.listCustomAudiences(ACCOUNT_ID)).toEqual([]);
    });
    it('in X cadence mode sends an identity change when its schedule says, the window since the last addition', async () => {
      const h = await setup(backend);
      const flow = await h.store.dataflows.create({
        sandboxId: 'prod',
        destinationId: h.destination.id,
        name: 'flow',
        mapping: MAPPING,
        cadenceMode: 'x_cadence',
      });
      const audience = await h.store.audiences.create({
        sandboxId: 'prod',
        dataflowId: flow.id,
        segmentId: 'seg',
        mappingName: 'Loyal',
        startDate: 0,
      });
      await ingest(h, 2);
      await h.engine.flush(); // additions pushed now
      h.clock.advance(6 * 3_600_000);
      await h.engine.ingest([member(1, 'seg', 'exited')], { sandboxId: 'prod' });
      h.clock.advance(900_000);
      await h.engine.flush(); // a removal pushed now
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 1));
      // e0's email changes: a Delete of the old one and an Update of the new one, counted as an addition.
      await h.engine.ingest(
        [
          {
            segmentMembership: { ups: { seg: { status: 'realized' } } },
            identityMap: { ECID: [{ id: 'e0' }], Email: [{ id: 'new0@x.com' }] },
          },
        ],
        { sandboxId: 'prod' },
      );
      h.clock.advance(900_000);
      const outlook = (await h.engine.deliveryOutlook([audience.id])).get(audience.id);
      expect(outlook).toMatchObject({ adds: 1, removes: 0, nextDeliveryReason: 'batch_window' });
      expect(outlook?.nextDeliveryAt).toBeLessThanOrEqual(h.clock.now());
      expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'delivered', requests: 1 });
      expect(xIdentifiers(h.emulator, xId)).toEqual(new Set([`email:${emailHash('new0@x.com')}`]));
      expect(await h.engine.dueAudiences()).toEqual([]);
    });
    it('bisecting a refused request keeps a member whose X record another one’s removal wipes', async () => {
      const h = await setup(backend);
      const { audience } = await flowWith(h);
      const profile = (ecid: string, emails: string[], status: 'realized' | 'exited' = 'realized') => ({
        segmentMembership: { ups: { seg: { status } } },
        identityMap: { ECID: [{ id: ecid }], Email: emails.map((id) => ({ id })) },
      });
      // Two people share an email: X holds them as one record.
      await h.engine.ingest([profile('a', ['shared@x.com']), profile('b', ['shared@x.com'])], {
        sandboxId: 'prod',
      });
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      // b gains an email, then a leaves: a's Delete wipes the record b is in, so b must be sent after it.
      h.clock.advance(1000);
      await h.engine.ingest([profile('b', ['shared@x.com', 'b2@x.com'])], { sandboxId: 'prod' });
      h.clock.advance(1000);
      await h.engine.ingest([profile('a', ['shared@x.com'], 'exited')], { sandboxId: 'prod' });
      // The request holding both is refused, and the one that follows: they are sent one by one.
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 2 }] });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'delivered', deadLettered: 0 });
      const b = new Set([`email:${emailHash('shared@x.com')}`, `email:${emailHash('b2@x.com')}`]);
      expect(xIdentifiers(h.emulator, xId)).toEqual(b);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(b);
    });
  });
}
