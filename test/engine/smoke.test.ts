import { describe, expect, it } from 'vitest';
import { BACKENDS, SQLITE_BACKEND } from '../store/backends.ts';
import {
  EMAIL_MAPPING as MAPPING,
  activateSegment,
  emailHash,
  setup,
  usersRequests,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';

describe('engine smoke', () => {
  let h: Harness | undefined;

  it('creates the audience and delivers members', async () => {
    h = await setup(SQLITE_BACKEND);
    const { audience: aud } = await activateSegment(h, {
      mapping: MAPPING,
      segmentId: 'seg-1',
      mappingName: 'Loyal',
    });
    const result = await h.engine.ingest(
      [
        {
          segmentMembership: { ups: { 'seg-1': { status: 'realized' } } },
          identityMap: { ECID: [{ id: 'e1' }], Email: [{ id: 'A@x.com' }] },
        },
        {
          segmentMembership: { ups: { 'seg-1': { status: 'realized' } } },
          identityMap: { ECID: [{ id: 'e2' }], Email: [{ id: 'b@x.com' }] },
        },
        { segmentMembership: 5 },
      ],
      { sandboxId: 'prod', requestId: 'r1' },
    );
    expect(result.accepted).toBe(2);
    expect(result.rejected).toHaveLength(1);
    const flush = await h.engine.flush();
    expect(flush.audiences[0]?.outcome).toBe('delivered');
    const xId = await xAudienceIdOf(h.store, aud.id);
    expect(xId).not.toBeNull();
    expect(xIdentifiers(h.emulator, xId!)).toEqual(
      new Set([`email:${emailHash('a@x.com')}`, `email:${emailHash('b@x.com')}`]),
    );
    expect(usersRequests(h.emulator)).toBe(1);

    await h.engine.ingest(
      [
        {
          segmentMembership: { ups: { 'seg-1': { status: 'exited' } } },
          identityMap: { ECID: [{ id: 'e1' }], Email: [{ id: 'A@x.com' }] },
        },
      ],
      {
        sandboxId: 'prod',
      },
    );
    await h.engine.flush();
    expect(xIdentifiers(h.emulator, xId!)).toEqual(new Set([`email:${emailHash('b@x.com')}`]));
  });
});

for (const backend of BACKENDS) {
  describe(`when profiles last arrived (${backend.name})`, () => {
    let h: Harness | undefined;

    it('keeps the time of the latest receipt, not the start of its hour', async () => {
      h = await setup(backend);
      const { flow: dataflow } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'seg-1',
        mappingName: 'Arrivals',
      });
      const receive = (id: string) =>
        h!.engine.ingest(
          [
            {
              segmentMembership: { ups: { 'seg-1': { status: 'realized' } } },
              identityMap: { ECID: [{ id }], Email: [{ id: `${id}@x.com` }] },
            },
          ],
          { sandboxId: 'prod' },
        );
      const since = h.clock.now() - 86_400_000;
      expect(await h.engine.lastReceivedAt([dataflow.id], since)).toEqual(new Map());
      h.clock.advance(7 * 60_000);
      await receive('first');
      const first = h.clock.now();
      expect(await h.engine.lastReceivedAt([dataflow.id], since)).toEqual(new Map([[dataflow.id, first]]));
      // Later in the same hour: the same run's counter grows, and its time moves on.
      h.clock.advance(25 * 60_000);
      await receive('second');
      expect(await h.engine.lastReceivedAt([dataflow.id], since)).toEqual(
        new Map([[dataflow.id, first + 25 * 60_000]]),
      );
      // Nothing received since a later time: absent.
      expect(await h.engine.lastReceivedAt([dataflow.id], h.clock.now() + 3_600_000)).toEqual(new Map());
    });
  });
}

for (const backend of BACKENDS) {
  describe(`a request id sent again (${backend.name})`, () => {
    const member = (id: string) => ({
      segmentMembership: { ups: { 'seg-1': { status: 'realized' } } },
      identityMap: { ECID: [{ id }], Email: [{ id: `${id}@x.com` }] },
    });
    const profileCount = async (h: Harness) =>
      Number(
        (
          await h.store.db
            .selectFrom('engine_profiles')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('returns the first result for the same content, refuses other content, and takes a digest-less row as a match', async () => {
      const h = await setup(backend);
      await activateSegment(h, { mapping: MAPPING, segmentId: 'seg-1', mappingName: 'Retries' });
      const first = await h.engine.ingest([member('a')], { sandboxId: 'prod', requestId: 'reuse-1' });
      expect(first).toMatchObject({ duplicate: false, accepted: 1 });
      expect(await h.engine.ingest([member('a')], { sandboxId: 'prod', requestId: 'reuse-1' })).toMatchObject(
        {
          duplicate: true,
          accepted: 1,
        },
      );

      const other = h.engine.ingest([member('b'), member('c')], { sandboxId: 'prod', requestId: 'reuse-1' });
      await expect(other).rejects.toMatchObject({
        code: 'conflict',
        details: [{ path: 'requestId', reason: 'used before with other content' }],
      });
      expect(await profileCount(h)).toBe(1);

      // A digest given by the caller (the decoded body) stands for the content.
      await h.engine.ingest([member('d')], {
        sandboxId: 'prod',
        requestId: 'keyed',
        requestDigest: 'body-1',
      });
      expect(
        await h.engine.ingest([member('e')], {
          sandboxId: 'prod',
          requestId: 'keyed',
          requestDigest: 'body-1',
        }),
      ).toMatchObject({ duplicate: true });
      await expect(
        h.engine.ingest([member('d')], { sandboxId: 'prod', requestId: 'keyed', requestDigest: 'body-2' }),
      ).rejects.toMatchObject({ code: 'conflict' });

      // Requests stored before digests were kept have none: whatever comes under their id is a retry.
      await h.store.db
        .updateTable('engine_ingest_requests')
        .set({ digest: null })
        .where('request_id', '=', 'reuse-1')
        .execute();
      expect(await h.engine.ingest([member('f')], { sandboxId: 'prod', requestId: 'reuse-1' })).toMatchObject(
        { duplicate: true, accepted: 1 },
      );
      expect(await profileCount(h)).toBe(2);
    });
  });
}
