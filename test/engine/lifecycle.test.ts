import { describe, expect, it } from 'vitest';
import type { MappingRow } from '../../src/audience/mapping.ts';
import { createEngine } from '../../src/engine/index.ts';
import { packUserChanges, TransientError, type XAdsClient } from '../../src/xads/index.ts';
import { BACKENDS } from '../store/backends.ts';
import {
  identifiersAtX,
  EMAIL_MAPPING as MAPPING,
  ACCOUNT_ID,
  emailHash,
  seededRandom,
  setup,
  usersRequests,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';

const DAY = 86_400_000;

const member = (
  ecid: string,
  email: string,
  segment: string,
  status: 'realized' | 'exited' = 'realized',
) => ({
  segmentMembership: { ups: { [segment]: { status } } },
  identityMap: { ECID: [{ id: ecid }], Email: [{ id: email }] },
});

async function flowWith(
  h: Harness,
  options: {
    mappingName?: string;
    existingXAudienceId?: string;
    ttlDays?: number;
    cadence?: boolean;
    keep?: boolean;
    mapping?: MappingRow[];
  } = {},
) {
  const flow = await h.store.dataflows.create({
    sandboxId: 'prod',
    destinationId: h.destination.id,
    name: 'flow',
    mapping: options.mapping ?? MAPPING,
    ...(options.cadence ? { cadenceMode: 'x_cadence' as const } : {}),
    ...(options.keep ? { onAudienceRemoval: 'keep' as const } : {}),
  });
  const audience = await h.store.audiences.create({
    sandboxId: 'prod',
    dataflowId: flow.id,
    segmentId: 'seg',
    mappingName: options.mappingName ?? 'Loyal',
    startDate: 0,
    ...(options.existingXAudienceId ? { existingXAudienceId: options.existingXAudienceId } : {}),
    ...(options.ttlDays ? { ttlDays: options.ttlDays } : {}),
  });
  return { flow, audience };
}

type PostUsers = XAdsClient['postUsers'];

/** Another engine on the harness's store, whose users requests go through `postUsers` (handed the real call). */
function engineSendingThrough(
  h: Harness,
  workerId: string,
  postUsers: (send: PostUsers, ...args: Parameters<PostUsers>) => ReturnType<PostUsers>,
) {
  return engineWithClient(
    h,
    workerId,
    replacing(
      h.client,
      'postUsers',
      (send) =>
        (...args) =>
          postUsers(send, ...args),
    ),
  );
}

function engineWithClient(h: Harness, workerId: string, client: XAdsClient) {
  return createEngine({
    store: h.store,
    clientFor: () => client,
    now: h.clock.now,
    random: seededRandom(5),
    workerId,
  });
}

type AsyncMethod = 'postUsers' | 'createCustomAudience' | 'updateCustomAudience';

/**
 * `client` with one method replaced by `replace(real)`. The client keeps private state, so its other methods run on
 * the client itself, not on the proxy.
 */
function replacing<K extends AsyncMethod>(
  client: XAdsClient,
  method: K,
  replace: (real: XAdsClient[K]) => XAdsClient[K],
): XAdsClient {
  const replaced = replace((client[method] as (...a: unknown[]) => unknown).bind(client) as XAdsClient[K]);
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === method) return replaced;
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * `call` whose first request's answer is lost (a timeout on our side): that request reaches X only later, just before
 * the next one (after `meanwhile`).
 */
function firstAnswerLost<A extends unknown[], R>(
  call: (...args: A) => Promise<R>,
  meanwhile: () => void = () => {},
): (...args: A) => Promise<R> {
  let late: (() => Promise<R>) | null | undefined;
  return async (...args) => {
    if (late === undefined) {
      late = () => call(...args);
      throw new TransientError({ message: 'The request timed out', reason: 'timeout' });
    }
    if (late !== null) {
      await late();
      late = null;
      meanwhile();
    }
    return call(...args);
  };
}

/** Another worker's first users request is applied by X, but its answer never comes back (the process dies waiting). */
async function requestAppliedButNeverAnswered(h: Harness): Promise<void> {
  let applied = false;
  const doomed = engineSendingThrough(h, 'doomed-worker', async (send, ...args) => {
    await send(...args);
    applied = true;
    return new Promise<never>(() => {});
  });
  void doomed.flush();
  const deadline = Date.now() + 10_000;
  while (!applied && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  expect(applied).toBe(true);
}

async function ingestMembers(h: Harness, count: number, from = 0, segment = 'seg') {
  const profiles = Array.from({ length: count }, (_, i) =>
    member(`e${from + i}`, `u${from + i}@x.com`, segment),
  );
  return h.engine.ingest(profiles, { sandboxId: 'prod' });
}

/** Another flush sends X nothing: every change was delivered and settled. */
async function expectNothingLeftToSend(h: Harness): Promise<void> {
  const requests = usersRequests(h.emulator);
  await h.engine.flush();
  expect(usersRequests(h.emulator)).toBe(requests);
}

const expectedEmails = (from: number, to: number) =>
  new Set(Array.from({ length: to - from }, (_, i) => `email:${emailHash(`u${from + i}@x.com`)}`));

for (const backend of BACKENDS) {
  describe(`audience lifecycle and delivery behaviour (${backend.name})`, () => {
    let h: Harness | undefined;

    it('suffixes the name when a deleted audience holds it, renames, and deletes on removal', async () => {
      h = await setup(backend, { deletedAudiencesKeepNames: true });
      const old = await h.client.createCustomAudience(ACCOUNT_ID, { name: 'Loyal' });
      await h.client.deleteCustomAudience(ACCOUNT_ID, old.id);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 3);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId)).name).toBe('Loyal (2)');
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 3));

      await h.store.audiences.update('prod', audience.id, { mappingName: 'Loyal EU' });
      expect((await h.engine.plan(audience.dataflowId)).audiences[0]?.action).toBe('rename');
      await h.engine.flush();
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId)).name).toBe('Loyal EU');

      await h.store.audiences.update('prod', audience.id, { state: 'removing' });
      expect((await h.engine.plan(audience.dataflowId)).audiences[0]?.action).toBe('delete');
      await h.engine.flush();
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId, { withDeleted: true })).deleted).toBe(true);
      expect((await h.store.audiences.get('prod', audience.id))?.state).toBe('removed');
    });

    it('names the X audience after the trimmed mapping name, on create and on rename', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h, { mappingName: '  Loyal  ' });
      await ingestMembers(h, 1);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId)).name).toBe('Loyal');
      expect((await h.engine.plan(audience.dataflowId)).audiences[0]?.action).toBe('none');

      await h.store.audiences.update('prod', audience.id, { mappingName: ' Loyal EU ' });
      expect((await h.engine.plan(audience.dataflowId)).audiences[0]?.action).toBe('rename');
      await h.engine.flush();
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId)).name).toBe('Loyal EU');
      expect((await h.engine.plan(audience.dataflowId)).audiences[0]?.action).toBe('none');
      expect(await xAudienceIdOf(h.store, audience.id)).toBe(xId);
    });

    it('looks a name up before creating: a live audience holding it means a suffix, with no create refused', async () => {
      h = await setup(backend);
      await h.client.createCustomAudience(ACCOUNT_ID, { name: 'Loyal', description: 'made by hand' });
      const { audience } = await flowWith(h);
      await ingestMembers(h, 1);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId)).name).toBe('Loyal (2)');
      const refused = h.emulator.admin
        .requests()
        .filter((r) => r.method === 'POST' && r.path.endsWith('/custom_audiences') && r.status >= 400);
      expect(refused).toEqual([]);
    });

    it('adopts its own audience when a create whose answer was lost reaches X after the retry looked the name up', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 2);
      // The retry looks the name up and finds nothing; the first create lands just before the retry's.
      const client = replacing(h.client, 'createCustomAudience', (create) => firstAnswerLost(create));
      const engine = engineWithClient(h, 'timeouts', client);
      expect((await engine.flush()).audiences[0]).toMatchObject({ outcome: 'retrying' });
      h.clock.advance(3_600_000);
      expect((await engine.flush()).audiences[0]).toMatchObject({ outcome: 'delivered', added: 2 });
      const mine = (await h.client.listCustomAudiences(ACCOUNT_ID, { withDeleted: true })).filter((a) =>
        a.name.startsWith('Loyal'),
      );
      expect(mine.map((a) => a.name)).toEqual(['Loyal']);
      expect(await xAudienceIdOf(h.store, audience.id)).toBe(mine[0]!.id);
      expect(xIdentifiers(h.emulator, mine[0]!.id)).toEqual(expectedEmails(0, 2));
    });

    it('takes a rename refused because its own lost earlier rename landed first as done, not as a taken name', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 1);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      await h.store.audiences.update('prod', audience.id, { mappingName: 'Loyal EU' });
      // X may refuse a name its holder asks for again.
      const refusedOnce = () =>
        h!.emulator.admin.addFaults({
          faults: [
            {
              method: 'PUT',
              path: '/custom_audiences/',
              status: 400,
              body: { errors: [{ code: 'INVALID_PARAMETER', message: 'Name taken', parameter: 'name' }] },
            },
          ],
        });
      const client = replacing(h.client, 'updateCustomAudience', (update) =>
        firstAnswerLost(update, refusedOnce),
      );
      const engine = engineWithClient(h, 'timeouts', client);
      expect((await engine.flush()).audiences[0]).toMatchObject({ outcome: 'retrying' });
      h.clock.advance(3_600_000);
      await engine.flush();
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId)).name).toBe('Loyal EU');
      expect((await h.engine.plan(audience.dataflowId)).audiences[0]?.action).toBe('none');
      const names = (await h.client.listCustomAudiences(ACCOUNT_ID, { withDeleted: true })).map(
        (a) => a.name,
      );
      expect(names.filter((name) => name.startsWith('Loyal'))).toEqual(['Loyal EU']);
    });

    it('reads a refusal on parameter "name" by the name, not its wording: taken by a deleted audience, or invalid', async () => {
      h = await setup(backend);
      const old = await h.client.createCustomAudience(ACCOUNT_ID, { name: 'Loyal' });
      await h.client.deleteCustomAudience(ACCOUNT_ID, old.id);
      const nameRefused = (message: string) => ({
        method: 'POST',
        path: '/custom_audiences$',
        status: 400,
        body: {
          errors: [{ code: 'INVALID_PARAMETER', message, parameter: 'name' }],
          request: { params: {} },
        },
      });
      h.emulator.admin.addFaults({ faults: [nameRefused('Invalid name')] });
      const { audience } = await flowWith(h);
      await ingestMembers(h, 1);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect((await h.client.getCustomAudience(ACCOUNT_ID, xId)).name).toBe('Loyal (2)');

      // A name no audience holds, refused all the same: the user is told, nothing is retried.
      const other = await flowWith(h, { mappingName: 'Frequent' });
      await h.engine.ingest([member('f0', 'f0@x.com', 'seg')], { sandboxId: 'prod' });
      h.emulator.admin.addFaults({ faults: [nameRefused('Name uses a reserved word')] });
      const report = await h.engine.flush({ dataflowId: other.flow.id });
      expect(report.audiences[0]).toMatchObject({ outcome: 'error' });
      const failed = await h.store.dataflows.get('prod', other.flow.id);
      expect(failed?.status).toBe('failed');
      expect(failed?.statusReason).toContain('Name uses a reserved word');
      expect(failed?.statusReason).toContain('mapping name');
      expect(await h.engine.dueAudiences()).not.toContain(other.audience.id);
      expect(await xAudienceIdOf(h.store, other.audience.id)).toBeNull();
    });

    it('stops the dataflow and says why when X refuses a create with a 400, and delivers once resumed', async () => {
      h = await setup(backend);
      const { audience, flow } = await flowWith(h);
      await ingestMembers(h, 2);
      h.emulator.admin.addFaults({
        faults: [
          {
            method: 'POST',
            path: '/custom_audiences$',
            status: 400,
            body: {
              errors: [
                { code: 'INVALID_PARAMETER', message: 'description is too long', parameter: 'description' },
              ],
              request: { params: {} },
            },
          },
        ],
      });
      const report = await h.engine.flush();
      expect(report.audiences[0]?.outcome).toBe('error');
      expect(report.audiences[0]?.message).toMatch(
        /X refused to create the audience.*description is too long/,
      );
      const failed = await h.store.dataflows.get('prod', flow.id);
      expect(failed?.status).toBe('failed');
      expect(failed?.statusReason).toBe(report.audiences[0]?.message);
      expect(await h.engine.dueAudiences()).toEqual([]);
      expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(2);

      await h.store.dataflows.update('prod', flow.id, { status: 'active', statusReason: null });
      await h.engine.flush();
      expect(await identifiersAtX(h, audience.id)).toEqual(expectedEmails(0, 2));
    });

    it('attaches to an existing audience and keeps it on removal', async () => {
      h = await setup(backend);
      const existing = await h.client.createCustomAudience(ACCOUNT_ID, { name: 'Made by hand' });
      const { audience } = await flowWith(h, { existingXAudienceId: existing.id });
      await ingestMembers(h, 2);
      await h.engine.flush();
      expect(await xAudienceIdOf(h.store, audience.id)).toBe(existing.id);
      expect(xIdentifiers(h.emulator, existing.id)).toEqual(expectedEmails(0, 2));
      await h.store.audiences.update('prod', audience.id, { state: 'removing' });
      await h.engine.flush();
      expect((await h.client.getCustomAudience(ACCOUNT_ID, existing.id)).deleted).toBe(false);
    });

    it('bisects a refused request down to the offending member and delivers the rest', async () => {
      h = await setup(backend);
      const { audience, flow } = await flowWith(h);
      await ingestMembers(h, 8);
      // The first audience create passes; then four users requests in a row are refused (8 → 4 → 2 → 1 members).
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, times: 4 }] });
      const report = await h.engine.flush();
      expect(report.audiences[0]?.deadLettered).toBe(1);
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId).size).toBe(7);
      const dead = await h.store.db.selectFrom('engine_dead_letters').selectAll().execute();
      expect(dead).toHaveLength(1);
      expect(dead[0]!.operations).not.toContain('@');
      const runs = await h.engine.runs(flow.id);
      expect(runs[0]?.identitiesFailed).toBe(1);
      // The run counts every users request, the four refused ones included.
      const sentToX = h.emulator.admin
        .requests()
        .filter((r) => r.method === 'POST' && r.path.endsWith('/users'));
      expect(sentToX.filter((r) => r.status === 400)).toHaveLength(4);
      expect(runs[0]?.xRequests).toBe(sentToX.length);
      // Not retried while its desired state is unchanged.
      expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(0);
      // Replayed on request once the cause is fixed.
      const listed = await h.engine.deadLetters('prod');
      expect(listed[0]).toMatchObject({ errorCode: expect.any(String), replayedAt: null });
      // An id the sandbox never had is refused, and the known one beside it is not replayed either.
      await expect(
        h.engine.replayDeadLetters('prod', { ids: ['dl_nope', listed[0]!.id] }),
      ).rejects.toMatchObject({
        code: 'not_found',
        details: [{ path: 'ids[0]', reason: 'no dead letter with this id' }],
      });
      expect((await h.engine.deadLetters('prod'))[0]?.replayedAt).toBeNull();
      expect(await h.engine.replayDeadLetters('prod', { ids: [listed[0]!.id] })).toBe(1);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId).size).toBe(8);
      expect((await h.engine.deadLetters('prod'))[0]?.replayedAt).not.toBeNull();
    });

    it('delivers an audience page after page in many requests, a refused one bisected, a 401 stopping the pass', async () => {
      // Pages of 10 rows and requests of about 5 users: each page sends requests and carries its last one over.
      h = await setup(backend, { tuning: { pageSize: 10, requestMaxBytes: 500 } });
      const { audience, flow } = await flowWith(h);
      await ingestMembers(h, 40);
      // The third users request is refused once: its halves are sent again and pass.
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 400, after: 2 }] });
      const first = await h.engine.flush();
      expect(first.audiences[0]).toMatchObject({ outcome: 'delivered', added: 40, deadLettered: 0 });
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 40));
      const sent = h.emulator.admin
        .requests()
        .filter((r) => r.method === 'POST' && r.path.endsWith('/users'));
      expect(sent.filter((r) => r.status < 300).length).toBeGreaterThanOrEqual(9);
      expect(sent.filter((r) => r.status === 400)).toHaveLength(1);
      await expectNothingLeftToSend(h);

      // A 401 on the fourth request of the next pass stops it: what X accepted before is delivered, the rest stays.
      await ingestMembers(h, 40, 40);
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 401, after: 3 }] });
      const second = await h.engine.flush();
      expect(second.audiences[0]?.outcome).toBe('paused');
      const delivered = xIdentifiers(h.emulator, xId).size - 40;
      expect(delivered).toBeGreaterThan(0);
      expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(40 - delivered);
      h.clock.advance(1000);
      await h.store.destinations.update('prod', h.destination.id, { description: 'new credentials' });
      expect(await h.engine.resumePaused()).toEqual([flow.id]);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 80));
      await expectNothingLeftToSend(h);
    });

    it('pauses on 401 with what to fix, keeps pending changes and resumes once the destination verifies', async () => {
      h = await setup(backend);
      const { audience, flow } = await flowWith(h);
      await ingestMembers(h, 2);
      await h.engine.flush();
      await ingestMembers(h, 2, 2);
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 401, times: 1 }] });
      const report = await h.engine.flush();
      expect(report.audiences[0]?.outcome).toBe('paused');
      const paused = await h.store.dataflows.get('prod', flow.id);
      expect(paused?.status).toBe('paused');
      expect(paused?.statusReason).toMatch(/Log in again|credentials/);
      // Said once, and without the clock: a request X refused for its timestamp was signed again with X's time.
      expect(paused?.statusReason).toMatch(/^X refused the credentials \(401\): .+ \(UNAUTHORIZED_ACCESS\)$/);
      expect(paused?.statusReason).not.toMatch(/clock/i);
      expect(paused?.statusReason?.match(/refused the credentials/g)).toHaveLength(1);
      expect(paused?.statusReason?.match(/Log in again|Re-authorize/g)).toHaveLength(1);
      // The connection shows why, without counting as changed (that is what resumes).
      const refused = await h.store.destinations.get('prod', h.destination.id);
      expect(refused).toMatchObject({ status: 'unauthorized', statusReason: paused?.statusReason });
      expect(refused?.updatedAt).toBe(h.destination.updatedAt);
      expect((await h.engine.plan(flow.id)).totals.pendingAdds).toBe(2);
      // Not resumed before the destination changes.
      expect(await h.engine.resumePaused()).toEqual([]);
      h.clock.advance(1000);
      await h.store.destinations.update('prod', h.destination.id, { description: 'new credentials' });
      expect(await h.engine.resumePaused()).toEqual([flow.id]);
      expect(await h.store.destinations.get('prod', h.destination.id)).toMatchObject({
        status: 'active',
        statusReason: null,
      });
      await h.engine.flush();
      expect(await identifiersAtX(h, audience.id)).toEqual(expectedEmails(0, 4));
    });

    it('resumes what a 401 paused as soon as its destination passes the checks, not a pause of a later connection', async () => {
      h = await setup(backend);
      const { audience, flow } = await flowWith(h);
      await ingestMembers(h, 2);
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 401, times: 1 }] });
      expect((await h.engine.flush()).audiences[0]?.outcome).toBe('paused');
      const checked = (checkedUpdatedAt: number, sandboxId = 'prod') =>
        h!.engine.resumeCheckedDestination({ sandboxId, destinationId: h!.destination.id, checkedUpdatedAt });
      // Checks that ran on the destination as it was before the delivery that paused lift nothing, nor do another
      // sandbox's.
      expect(await checked(h.destination.updatedAt - 1)).toEqual([]);
      expect(await checked(h.destination.updatedAt, 'other')).toEqual([]);
      expect((await h.store.dataflows.get('prod', flow.id))?.status).toBe('paused');
      // Checks of the connection the delivery used: resumed now, unlike the worker's pass, which waits for a change.
      expect(await h.engine.resumePaused()).toEqual([]);
      expect(await checked(h.destination.updatedAt)).toEqual([flow.id]);
      expect(await h.store.dataflows.get('prod', flow.id)).toMatchObject({
        status: 'active',
        statusReason: null,
      });
      expect(await h.store.destinations.get('prod', h.destination.id)).toMatchObject({
        status: 'active',
        statusReason: null,
      });
      // The pause is gone for every process: nothing is left to resume.
      expect(await h.store.db.selectFrom('engine_dataflow_pauses').selectAll().execute()).toEqual([]);
      expect(await checked(h.destination.updatedAt)).toEqual([]);
      const report = await h.engine.flush();
      expect(report.audiences[0]).toMatchObject({ outcome: 'delivered', added: 2 });
      expect(await identifiersAtX(h, audience.id)).toEqual(expectedEmails(0, 2));
    });

    it('pauses on 403 saying to fix the access at X, then verify; a delivery X accepts after a resume by hand makes the destination active', async () => {
      h = await setup(backend);
      const { audience, flow } = await flowWith(h);
      await ingestMembers(h, 2);
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 403, times: 1 }] });
      expect((await h.engine.flush()).audiences[0]?.outcome).toBe('paused');
      const paused = await h.store.dataflows.get('prod', flow.id);
      expect(paused?.statusReason).toMatch(
        /\(403\)\. Have an account administrator .+, then verify the destination/,
      );
      expect(paused?.statusReason).not.toMatch(/then update the destination/);
      expect(await h.store.destinations.get('prod', h.destination.id)).toMatchObject({
        status: 'error',
        statusReason: paused?.statusReason,
      });
      // Nothing sent, nothing to clear: a flush of the paused dataflow leaves the destination as it is.
      await h.engine.flush();
      expect((await h.store.destinations.get('prod', h.destination.id))?.status).toBe('error');
      // The access was fixed at X and the dataflow resumed by hand: what X accepts shows the connection works.
      await h.store.dataflows.update('prod', flow.id, { status: 'active', statusReason: null });
      const report = await h.engine.flush();
      expect(report.audiences[0]).toMatchObject({ outcome: 'delivered', added: 2 });
      expect(await h.store.destinations.get('prod', h.destination.id)).toMatchObject({
        status: 'active',
        statusReason: null,
        // Not a change of the connection: that would ask the worker to verify it.
        updatedAt: h.destination.updatedAt,
      });
      // The pause is forgotten: a later verify has nothing to resume.
      expect(await h.store.db.selectFrom('engine_dataflow_pauses').selectAll().execute()).toEqual([]);
      expect(await identifiersAtX(h, audience.id)).toEqual(expectedEmails(0, 2));
    });

    it('"Activate now" sends every member again, restoring what X lost, once per 24 hours', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 5);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      // Someone removes two members in X's own tools: the ledger still says X has them.
      const [gone] = packUserChanges(
        [0, 1].map((i) => ({ operation: 'Delete' as const, user: { email: [emailHash(`u${i}@x.com`)] } })),
      );
      await h.client.postUsers(ACCOUNT_ID, xId, gone!);
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(2, 5));
      await expectNothingLeftToSend(h);

      const result = await h.engine.activateNow('prod', audience.id);
      expect(result).toEqual({ audienceId: audience.id, queued: 5, nextAllowedAt: h.clock.now() + DAY });
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 5));
      await expectNothingLeftToSend(h);

      await expect(h.engine.activateNow('prod', audience.id)).rejects.toMatchObject({ code: 'too_soon' });
      h.clock.advance(DAY);
      expect((await h.engine.activateNow('prod', audience.id)).queued).toBe(5);
      await expect(h.engine.activateNow('staging', audience.id)).rejects.toMatchObject({ code: 'not_found' });
    });

    it('retries transient failures with the changes kept pending', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 3);
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 503, times: 1 }] });
      const first = await h.engine.flush();
      expect(first.audiences[0]?.outcome).toBe('retrying');
      await h.engine.flush();
      expect(await identifiersAtX(h, audience.id)).toEqual(expectedEmails(0, 3));
    });

    it('retries a failed users request as X advises: at once, then after 1 minute, then after 5', async () => {
      // A client that would retry by itself, as the service's does: the engine's schedule is the only one.
      h = await setup(backend, { clientRetries: 3 });
      const { audience } = await flowWith(h);
      await ingestMembers(h, 3);
      await h.engine.flush(); // creates the X audience
      await ingestMembers(h, 2, 3);
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 503, times: 3 }] });
      const attempts = () =>
        h!.emulator.admin.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/users')).length;
      const before = attempts();
      expect((await h.engine.flush()).audiences[0]?.outcome).toBe('retrying');
      expect(attempts() - before).toBe(1);
      // The second attempt is due at once.
      expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      await h.engine.flush();
      expect(attempts() - before).toBe(2);
      // The third a minute later, the fourth five minutes after the third.
      expect(await h.engine.dueAudiences()).toEqual([]);
      h.clock.advance(59_000);
      expect(await h.engine.dueAudiences()).toEqual([]);
      h.clock.advance(1_000 + 6_000); // at most a tenth of the step later (jitter)
      expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      await h.engine.flush();
      expect(attempts() - before).toBe(3);
      h.clock.advance(299_000);
      expect(await h.engine.dueAudiences()).toEqual([]);
      h.clock.advance(1_000 + 30_000);
      await h.engine.flush();
      expect(attempts() - before).toBe(4);
      expect(await identifiersAtX(h, audience.id)).toEqual(expectedEmails(0, 5));
    });

    it('in X cadence mode pushes each kind of change at most once per window, and is not due before it may', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h, { cadence: true });
      await ingestMembers(h, 2);
      await h.engine.flush();
      await ingestMembers(h, 2, 2);
      h.clock.advance(3_600_000);
      const deferred = await h.engine.flush();
      expect(deferred.audiences[0]?.outcome).toBe('deferred');
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId).size).toBe(2);
      // The audience says when the additions go: six hours after the last push of additions.
      expect((await h.engine.deliveryOutlook([audience.id])).get(audience.id)).toMatchObject({
        adds: 2,
        removes: 0,
        nextDeliveryAt: h.clock.now() - 3_600_000 + 6 * 3_600_000,
        nextDeliveryReason: 'cadence',
        dueAt: h.clock.now() - 3_600_000 + 6 * 3_600_000,
      });
      // The worker leaves it alone until then, rather than claim it and defer it at every tick; past the batch window
      // a removal may go at once, its own kind not pushed yet.
      await h.engine.sync();
      expect(await h.engine.dueAudiences()).toEqual([]);
      await h.engine.ingest([member('e0', 'u0@x.com', 'seg', 'exited')], { sandboxId: 'prod' });
      h.clock.advance(900_000);
      expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(1, 2));
      expect(await h.engine.dueAudiences()).toEqual([]);
      h.clock.advance(5 * 3_600_000 - 900_000);
      expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(1, 4));
    });

    it('says when each audience’s waiting changes go out, as the worker decides it', async () => {
      const harness = await setup(backend);
      h = harness;
      const { flow, audience } = await flowWith(h);
      const outlook = async () =>
        (await harness.engine.deliveryOutlook([audience.id, 'aud_unknown'])).get(audience.id);
      expect(await outlook()).toEqual({
        adds: 0,
        removes: 0,
        oldestAt: null,
        nextDeliveryAt: null,
        nextDeliveryReason: null,
        dueAt: null,
      });
      const since = h.clock.now();
      await ingestMembers(h, 3);
      h.clock.advance(60_000);
      await ingestMembers(h, 1, 3);
      // The oldest change sets the time: the aggregation window (900 s by default) after it arrived.
      expect(await outlook()).toEqual({
        adds: 4,
        removes: 0,
        oldestAt: since,
        nextDeliveryAt: since + 900_000,
        nextDeliveryReason: 'batch_window',
        dueAt: since + 900_000,
      });
      // The worker agrees: it syncs the audiences, then delivers those due, this one once the window is over.
      await h.engine.sync();
      expect(await h.engine.dueAudiences()).toEqual([]);
      h.clock.advance(840_000);
      expect(await h.engine.dueAudiences()).toEqual([audience.id]);
      expect((await outlook())?.nextDeliveryAt).toBe(h.clock.now());

      // A paused dataflow sends nothing: its changes wait with no time.
      await h.store.dataflows.update('prod', flow.id, { status: 'paused' });
      // Still due when it was: held back, the changes are late all the same.
      expect(await outlook()).toMatchObject({
        adds: 4,
        nextDeliveryAt: null,
        nextDeliveryReason: null,
        dueAt: since + 900_000,
      });
      await h.store.dataflows.update('prod', flow.id, { status: 'active' });
      await h.engine.flush();
      expect(await outlook()).toMatchObject({ adds: 0, nextDeliveryAt: null });
    });

    it('sends the TTL as expires_at, and refreshes members before X expires them', async () => {
      h = await setup(backend);
      const ttl = await flowWith(h, { ttlDays: 30, mappingName: 'With TTL' });
      await ingestMembers(h, 1);
      await h.engine.flush();
      const ttlMembers = h.emulator.admin.members(
        ACCOUNT_ID,
        (await xAudienceIdOf(h.store, ttl.audience.id))!,
      );
      expect(Date.parse(ttlMembers[0]!.expires_at)).toBe(
        Math.floor((h.clock.now() + 30 * DAY) / 1000) * 1000,
      );
      await h.store.audiences.update('prod', ttl.audience.id, { state: 'removing' });
      await h.engine.flush();

      const plain = await flowWith(h, { mappingName: 'Default expiry' });
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, plain.audience.id))!;
      const before = usersRequests(h.emulator);
      h.clock.advance(370 * DAY);
      await h.engine.flush();
      expect(usersRequests(h.emulator)).toBe(before + 1);
      const refreshed = h.emulator.admin.members(ACCOUNT_ID, xId);
      expect(Date.parse(refreshed[0]!.expires_at)).toBeGreaterThan(h.clock.now() + 300 * DAY);
      h.clock.advance(100 * DAY);
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 1));
    });

    it('lets a delivered audience rest: a membership TTL is left to lapse, and a removed member has nothing to refresh', async () => {
      h = await setup(backend);
      const ttl = await flowWith(h, { ttlDays: 7, mappingName: 'Week long' });
      const plain = await flowWith(h, { mappingName: 'Refreshed' });
      await ingestMembers(h, 3);
      await h.engine.flush();
      expect(await h.engine.dueAudiences()).toEqual([]);
      // A week on, the TTL audience's members lapse at X as asked: it stays at rest, not due at every tick.
      h.clock.advance(8 * DAY);
      expect(await h.engine.dueAudiences()).toEqual([]);

      // A member leaves: once X removed it, X holds nothing of it to expire.
      await h.engine.ingest([member('e0', 'u0@x.com', 'seg', 'exited')], { sandboxId: 'prod' });
      await h.engine.flush();
      const expiries = await h.store.db
        .selectFrom('engine_ledger')
        .select(['member', 'expires_at'])
        .where('audience_id', '=', plain.audience.id)
        .orderBy('member')
        .execute();
      expect(expiries.map((r) => r.expires_at === null)).toEqual([true, false, false]);

      // Near X's 13 months, the members still in the default-expiry audience are due for a refresh, and only them.
      h.clock.advance(370 * DAY);
      expect(await h.engine.dueAudiences()).toEqual([plain.audience.id]);
      const before = usersRequests(h.emulator);
      await h.engine.flush();
      expect(usersRequests(h.emulator)).toBe(before + 1);
      expect(await identifiersAtX(h, plain.audience.id)).toEqual(expectedEmails(1, 3));
      expect(await h.engine.dueAudiences()).toEqual([]);
      expect(ttl.audience.id).not.toBe(plain.audience.id);
    });

    it('plans a flush without calling X: audiences to create, pending changes, requests, a hashed sample', async () => {
      h = await setup(backend);
      const { flow } = await flowWith(h);
      await ingestMembers(h, 5);
      await h.engine.ingest([member('e0', 'u0@x.com', 'seg', 'exited')], { sandboxId: 'prod' });
      const requestsBefore = h.emulator.admin.requests().length;
      const plan = await h.engine.plan(flow.id);
      expect(h.emulator.admin.requests().length).toBe(requestsBefore);
      expect(plan.audiences[0]).toMatchObject({
        action: 'create',
        pendingAdds: 4,
        pendingRemoves: 0,
        requests: 1,
        // Four members are far from a request's worth: they go when the oldest reaches the aggregation window.
        nextDeliveryAt: h.clock.now() + flow.maxBatchAgeSeconds * 1000,
        nextDeliveryReason: 'batch_window',
      });
      expect(plan.totals.nextDeliveryAt).toBe(plan.audiences[0]?.nextDeliveryAt);
      // A paused dataflow's changes wait until it is resumed: the plan names no time.
      await h.store.dataflows.update('prod', flow.id, { status: 'paused' });
      expect((await h.engine.plan(flow.id)).audiences[0]).toMatchObject({
        pendingAdds: 4,
        nextDeliveryAt: null,
        nextDeliveryReason: null,
      });
      await h.store.dataflows.update('prod', flow.id, { status: 'active' });
      const sample = JSON.stringify(plan.audiences[0]?.samplePayload);
      expect([1, 2, 3, 4].some((i) => sample.includes(emailHash(`u${i}@x.com`)))).toBe(true);
      expect(sample).not.toContain('@x.com');
      await h.engine.flush();
      const after = await h.engine.plan(flow.id);
      expect(after.audiences[0]).toMatchObject({
        action: 'none',
        pendingAdds: 0,
        pendingRemoves: 0,
        requests: 0,
        nextDeliveryAt: null,
        nextDeliveryReason: null,
      });
      expect(after.totals.nextDeliveryAt).toBeNull();
    });

    it("keeps the backlog's history in the runs: the last and the highest count of changes waiting", async () => {
      h = await setup(backend);
      const { flow, audience } = await flowWith(h);
      await h.engine.sync();
      // Nothing waits yet: an idle dataflow gets no run.
      expect(await h.engine.samplePending()).toBe(0);
      expect(await h.engine.runs(flow.id)).toEqual([]);
      await ingestMembers(h, 5);
      expect(await h.engine.samplePending()).toBe(2);
      await ingestMembers(h, 3, 5);
      await h.engine.samplePending();
      await h.engine.flush();
      // Delivered: the drop to nothing is counted once, then the dataflow is idle again.
      expect(await h.engine.samplePending()).toBe(2);
      expect(await h.engine.samplePending()).toBe(0);
      const [run] = await h.engine.runs(flow.id);
      expect(run).toMatchObject({ pendingChanges: 0, pendingPeak: 8 });
      expect(run!.audiences).toEqual([
        expect.objectContaining({ audienceId: audience.id, pendingChanges: 0, pendingPeak: 8 }),
      ]);
      // The next hour starts its own history.
      h.clock.advance(3_600_000);
      await ingestMembers(h, 2, 8);
      await h.engine.samplePending();
      const [next, previous] = await h.engine.runs(flow.id);
      expect(next).toMatchObject({ pendingChanges: 2, pendingPeak: 2 });
      expect(previous).toMatchObject({ pendingChanges: 0, pendingPeak: 8 });
    });

    it('backfills a segment added later and polls audience health', async () => {
      h = await setup(backend);
      const { flow } = await flowWith(h);
      await ingestMembers(h, 3, 0, 'other');
      const later = await h.store.audiences.create({
        sandboxId: 'prod',
        dataflowId: flow.id,
        segmentId: 'other',
        mappingName: 'Other',
        startDate: 0,
      });
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, later.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 3));
      expect(await h.engine.pollHealth()).toBeGreaterThan(0);
      const health = await h.store.audiences.get('prod', later.id);
      expect(health?.healthCheckedAt).toBe(h.clock.now());
      expect(health?.reasonsNotTargetable).toEqual(expect.arrayContaining(['PROCESSING']));
    });

    it('at the end date keeps members, or removes them all when asked, and restores them if the end moves', async () => {
      h = await setup(backend);
      const end = h.clock.now() + 2 * DAY;
      const { audience: kept } = await flowWith(h, { mappingName: 'Kept at end' });
      await h.store.audiences.update('prod', kept.id, { endDate: end });
      const { audience: removed } = await flowWith(h, { mappingName: 'Removed at end' });
      await h.store.audiences.update('prod', removed.id, { endDate: end, removeMembersAtEnd: true });
      await ingestMembers(h, 4);
      await h.engine.flush();
      const keptX = (await xAudienceIdOf(h.store, kept.id))!;
      const removedX = (await xAudienceIdOf(h.store, removed.id))!;
      expect(xIdentifiers(h.emulator, removedX)).toEqual(expectedEmails(0, 4));

      // Past the end: nothing new is exported to either; only the remove-at-end audience is emptied.
      h.clock.advance(3 * DAY);
      await ingestMembers(h, 2, 10);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, keptX)).toEqual(expectedEmails(0, 4));
      expect(xIdentifiers(h.emulator, removedX)).toEqual(new Set());
      await expectNothingLeftToSend(h);

      // A later end date makes it active again: its backfill restores every current member.
      await h.store.audiences.update('prod', removed.id, { endDate: h.clock.now() + 10 * DAY });
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, removedX)).toEqual(
        new Set([...expectedEmails(0, 4), ...expectedEmails(10, 12)]),
      );
    });

    it('brings an audience resumed after its end (or a start moved later) up to date with the segment', async () => {
      h = await setup(backend);
      const { audience: ended } = await flowWith(h, { mappingName: 'Ended' });
      const { audience: postponed } = await flowWith(h, { mappingName: 'Postponed' });
      await h.store.audiences.update('prod', ended.id, { endDate: h.clock.now() + 2 * DAY });
      await ingestMembers(h, 3);
      await h.engine.flush();
      const endedX = (await xAudienceIdOf(h.store, ended.id))!;
      const postponedX = (await xAudienceIdOf(h.store, postponed.id))!;
      await h.store.audiences.update('prod', postponed.id, { startDate: h.clock.now() + 2 * DAY });

      // While neither exports: member 0 leaves, member 1 changes email, member 10 joins.
      h.clock.advance(DAY);
      await h.engine.flush();
      h.clock.advance(2 * DAY);
      await h.engine.flush();
      await h.engine.ingest(
        [
          member('e0', 'u0@x.com', 'seg', 'exited'),
          member('e1', 'new1@x.com', 'seg'),
          member('e10', 'u10@x.com', 'seg'),
        ],
        { sandboxId: 'prod' },
      );
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, endedX)).toEqual(expectedEmails(0, 3));

      // The end moved later, and the postponed start reached: both hold the segment as it is now.
      await h.store.audiences.update('prod', ended.id, { endDate: h.clock.now() + 10 * DAY });
      await h.store.audiences.update('prod', postponed.id, { startDate: h.clock.now() - DAY });
      await h.engine.flush();
      const now = new Set([
        `email:${emailHash('new1@x.com')}`,
        ...expectedEmails(2, 3),
        ...expectedEmails(10, 11),
      ]);
      expect(xIdentifiers(h.emulator, endedX)).toEqual(now);
      expect(xIdentifiers(h.emulator, postponedX)).toEqual(now);
      await expectNothingLeftToSend(h);
    });

    it('removes what a request X applied but whose acceptance was never recorded, once that member left', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 2);
      await requestAppliedButNeverAnswered(h);
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 2));
      expect(await h.store.db.selectFrom('engine_inflight').selectAll().execute()).toHaveLength(1);

      // Member 0 leaves before anyone learns that X holds it; another worker takes over once the lease lapses.
      await h.engine.ingest([member('e0', 'u0@x.com', 'seg', 'exited')], { sandboxId: 'prod' });
      h.clock.advance(61_000);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(1, 2));
      expect(await h.store.db.selectFrom('engine_inflight').selectAll().execute()).toEqual([]);
      await expectNothingLeftToSend(h);
    });

    it('recovers a write-ahead row that holds each sent user as a string', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 2);
      await requestAppliedButNeverAnswered(h);
      // The row as it was stored before users were embedded in it: each one the text of its JSON.
      const [row] = await h.store.db.selectFrom('engine_inflight').select(['id', 'members']).execute();
      const pairs = JSON.parse(row!.members) as Array<[string, object | null]>;
      expect(pairs.filter(([, sent]) => sent !== null && typeof sent === 'object')).toHaveLength(2);
      const legacy = JSON.stringify(
        pairs.map(([m, sent]) => [m, sent === null ? null : JSON.stringify(sent)]),
      );
      await h.store.db
        .updateTable('engine_inflight')
        .set({ members: legacy })
        .where('id', '=', row!.id)
        .execute();

      await h.engine.ingest([member('e0', 'u0@x.com', 'seg', 'exited')], { sandboxId: 'prod' });
      h.clock.advance(61_000);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(1, 2));
      expect(await h.store.db.selectFrom('engine_inflight').selectAll().execute()).toEqual([]);
      await expectNothingLeftToSend(h);
    });

    it('keeps changes that arrive while their request is in flight pending, and delivers them next', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 3);
      // While X holds the first request, member 0 changes its email and member 1 leaves: the commit after X's
      // answer records what X accepted (their old users), and both stay pending.
      let changed = false;
      const h0 = h;
      const racer = engineSendingThrough(h, 'test-worker', async (send, ...args) => {
        const result = await send(...args);
        if (!changed) {
          changed = true;
          await h0.engine.ingest(
            [member('e0', 'new0@x.com', 'seg'), member('e1', 'u1@x.com', 'seg', 'exited')],
            { sandboxId: 'prod' },
          );
        }
        return result;
      });
      await racer.flush();
      expect(changed).toBe(true);
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 3));
      const plan = await h.engine.plan(audience.dataflowId);
      expect(plan.totals).toMatchObject({ pendingAdds: 1, pendingRemoves: 2 });

      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(
        new Set([`email:${emailHash('new0@x.com')}`, `email:${emailHash('u2@x.com')}`]),
      );
      await expectNothingLeftToSend(h);
    });

    it('re-adds every member of a merged X record when one of them leaves, through a chain of shared emails', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      const withEmails = (ecid: string, emails: string[], status: 'realized' | 'exited' = 'realized') => ({
        segmentMembership: { ups: { seg: { status } } },
        identityMap: { ECID: [{ id: ecid }], Email: emails.map((id) => ({ id })) },
      });
      // A and B share s@x.com, B and C share b@x.com: X holds one record for the three. D stands alone.
      await h.engine.ingest(
        [
          withEmails('A', ['a@x.com', 's@x.com']),
          withEmails('B', ['s@x.com', 'b@x.com']),
          withEmails('C', ['b@x.com', 'c@x.com']),
          withEmails('D', ['d@x.com']),
        ],
        { sandboxId: 'prod' },
      );
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      const all = (...emails: string[]) => new Set(emails.map((e) => `email:${emailHash(e)}`));
      expect(xIdentifiers(h.emulator, xId)).toEqual(
        all('a@x.com', 's@x.com', 'b@x.com', 'c@x.com', 'd@x.com'),
      );

      // A leaves: deleting its user wipes the whole merged record, so B and C are sent again with it.
      await h.engine.ingest([withEmails('A', ['a@x.com', 's@x.com'], 'exited')], { sandboxId: 'prod' });
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(all('s@x.com', 'b@x.com', 'c@x.com', 'd@x.com'));
      await expectNothingLeftToSend(h);
    });

    it('builds the identifier index at the first removal, not while the audience only grows', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 3);
      await h.engine.flush();
      const state = async () => ({
        indexed: (
          await h!.store.db
            .selectFrom('engine_audiences')
            .select('idents_indexed')
            .where('id', '=', audience.id)
            .executeTakeFirstOrThrow()
        ).idents_indexed,
        rows: (
          await h!.store.db
            .selectFrom('engine_member_idents')
            .select('ident')
            .where('audience_id', '=', audience.id)
            .execute()
        ).length,
      });
      expect(await state()).toEqual({ indexed: 0, rows: 0 });

      await h.engine.ingest([member('e0', 'u0@x.com', 'seg', 'exited')], { sandboxId: 'prod' });
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(1, 3));
      // Built from the delivered users before the removal, then kept by the commit that removed u0.
      expect(await state()).toEqual({ indexed: 1, rows: 2 });
      await ingestMembers(h, 1, 5);
      await h.engine.flush();
      expect(await state()).toEqual({ indexed: 1, rows: 3 });
    });

    it('keeps members whose identifiers or profile keys share an index prefix apart', async () => {
      h = await setup(backend);
      const { flow, audience } = await flowWith(h, {
        mappingName: 'Prefixes',
        mapping: [
          {
            sourceType: 'namespace' as const,
            source: 'Email_LC_SHA256',
            target: 'email' as const,
            applyTransformation: false,
          },
        ],
      });
      // Hashes and profile keys equal in their first 13 hex digits: the same index key (`hashPrefix`).
      const shared = '0123456789abc';
      const hash = (c: string) => shared + c.repeat(51);
      const context = await h.engine.evaluationContext('prod');
      const [rowKey] = context.rows[0]!;
      const evaluation = (c: string, member: boolean) => ({
        key: `k:${hash(c)}`,
        previousKey: null,
        aliasKeys: [],
        laterAliasKeys: [],
        laterKey: false,
        valuesText: JSON.stringify({ [rowKey]: [hash(c)] }),
        users: context.dataflows.map((d) => (d.id === flow.id ? JSON.stringify({ email: [hash(c)] }) : null)),
        rejections: {},
        memberships: new Map([['seg', member]]),
        foreignSegments: [],
        consentDenied: [],
      });
      const ingest = (...evaluations: Array<ReturnType<typeof evaluation>>) =>
        h!.engine.ingest([], {
          sandboxId: 'prod',
          evaluated: { evaluations, fingerprint: context.fingerprint },
        });
      await ingest(evaluation('a', true));
      await ingest(evaluation('b', true));
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(new Set([`email:${hash('a')}`, `email:${hash('b')}`]));

      // A leaves. B shares A's index keys but not its identifiers: it is re-sent at most, never removed.
      await ingest(evaluation('a', false));
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(new Set([`email:${hash('b')}`]));
      await expectNothingLeftToSend(h);
    });

    it('takes an HTML 404 on a users request for a stray failure: the same audience, only the pending change sent', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 3);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      // Edited in X's tools: the description no longer says which audience of the service it is.
      await h.client.updateCustomAudience(ACCOUNT_ID, xId, { description: 'edited in X' });
      await h.engine.ingest([member('e2', 'u2@x.com', 'seg', 'exited')], { sandboxId: 'prod' });
      h.emulator.admin.addFaults({
        faults: [
          { method: 'POST', path: '/users$', status: 404, body: '<html><body>Not Found</body></html>' },
        ],
      });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'retrying', requests: 0 });
      expect(await xAudienceIdOf(h.store, audience.id)).toBe(xId);

      expect((await h.engine.flush()).audiences[0]).toMatchObject({ requests: 1, added: 0, removed: 1 });
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 2));
      const names = (await h.client.listCustomAudiences(ACCOUNT_ID)).map((a) => a.name);
      expect(names.filter((name) => name.startsWith('Loyal'))).toEqual(['Loyal']);
      await expectNothingLeftToSend(h);
    });

    it('starts over only when X confirms the audience is gone, not on a 404 for an audience it still has', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 2);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      await ingestMembers(h, 1, 2);
      // X's JSON NOT_FOUND, while a GET with with_deleted=true still finds the audience alive.
      h.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 404 }] });
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'retrying' });
      expect(await xAudienceIdOf(h.store, audience.id)).toBe(xId);
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ requests: 1, added: 1 });
      expect(xIdentifiers(h.emulator, xId)).toEqual(expectedEmails(0, 3));

      // Deleted in X's tools: the next users request is refused, X confirms the deletion, and a new audience gets
      // every desired member in the same pass.
      await h.client.deleteCustomAudience(ACCOUNT_ID, xId);
      await ingestMembers(h, 1, 3);
      expect((await h.engine.flush()).audiences[0]).toMatchObject({
        outcome: 'delivered',
        xAudience: 'created',
        added: 4,
      });
      const after = (await xAudienceIdOf(h.store, audience.id))!;
      expect(after).not.toBe(xId);
      // The deleted audience's name is free again.
      expect((await h.client.getCustomAudience(ACCOUNT_ID, after)).name).toBe('Loyal');
      expect(xIdentifiers(h.emulator, after)).toEqual(expectedEmails(0, 4));
    });

    it('starts over once per pass: an X that keeps losing new audiences is backed off, not looped on', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 2);
      const client = h.client;
      let created = 0;
      // Every audience is gone by the time its users arrive, as X confirms each time.
      const losing = engineWithClient(
        h,
        'w-losing',
        replacing(
          replacing(client, 'createCustomAudience', (create) => async (...args) => {
            created += 1;
            return create(...args);
          }),
          'postUsers',
          (send) =>
            async (...args) => {
              await client.deleteCustomAudience(args[0], args[1]);
              return send(...args);
            },
        ),
      );
      expect((await losing.flush()).audiences[0]).toMatchObject({ outcome: 'retrying' });
      expect(created).toBe(2);
      const again = (await losing.flush()).audiences[0]!;
      expect(created).toBe(4);
      // Each start-over after the first in a pass counts as a failure: the backoff grows (none, then a minute, …).
      expect(again.nextAttemptAt).toBeGreaterThanOrEqual(h.clock.now() + 60_000);
      expect(await xAudienceIdOf(h.store, audience.id)).toBeNull();
      // Once X keeps what it makes, the next delivery creates the audience with every member.
      h.clock.advance(again.nextAttemptAt! - h.clock.now());
      expect((await h.engine.flush()).audiences[0]).toMatchObject({ outcome: 'delivered', added: 2 });
    });

    it('keeps the audience when the health poll meets an HTML 404', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 2);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      h.emulator.admin.addFaults({
        faults: [
          { method: 'GET', path: `/custom_audiences/${xId}$`, status: 404, body: '<html>Not Found</html>' },
        ],
      });
      expect(await h.engine.pollHealth()).toBe(0);
      expect(await xAudienceIdOf(h.store, audience.id)).toBe(xId);
      await expectNothingLeftToSend(h);
    });

    it('recreates an audience that the health poll finds gone at X, with every desired member', async () => {
      h = await setup(backend);
      const { audience } = await flowWith(h);
      await ingestMembers(h, 4, 0);
      await h.engine.flush();
      const before = (await xAudienceIdOf(h.store, audience.id))!;
      h.emulator.admin.reset();
      expect(await h.engine.flush()).toMatchObject({ audiences: [{ requests: 0 }] });
      await h.engine.pollHealth();
      expect(await xAudienceIdOf(h.store, audience.id)).toBeNull();
      await h.engine.flush();
      const after = (await xAudienceIdOf(h.store, audience.id))!;
      expect(after).not.toBe(before);
      expect(xIdentifiers(h.emulator, after)).toEqual(expectedEmails(0, 4));

      h.emulator.admin.reset();
      expect(await h.engine.recreateXAudiences(audience.dataflowId)).toBe(1);
      await h.engine.flush();
      const again = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, again)).toEqual(expectedEmails(0, 4));
    });
  });
}
