import { afterEach, describe, expect, it } from 'vitest';
import { SQLITE_BACKEND } from '../store/backends.ts';
import {
  activateSegment,
  emailHash,
  setup,
  usersRequests,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';

const MAPPING = [
  { sourceType: 'namespace' as const, source: 'Email', target: 'email' as const, applyTransformation: true },
];

describe('engine smoke', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

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
