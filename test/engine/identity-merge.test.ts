import { describe, expect, it } from 'vitest';
import { BACKENDS, type Backend } from '../store/backends.ts';
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

// A source that merges profiles (one person's ECIDs from two devices, joined once they logged in) exports the merged
// profile with every id; its key is the smallest, so it may be neither profile met before. Those are the merged
// profile now: one is adopted under its key, the others leave their audiences, and an exit reaches X.

const profile = (ecids: string[], emails: string[], status: 'realized' | 'exited' = 'realized') => ({
  segmentMembership: { ups: { seg: { status } } },
  identityMap: { ECID: ecids.map((id) => ({ id })), Email: emails.map((id) => ({ id })) },
});

const at = (...emails: string[]) => new Set(emails.map((e) => `email:${emailHash(e)}`));

async function deliver(h: Harness, profiles: unknown[]): Promise<void> {
  await h.engine.ingest(profiles, { sandboxId: 'prod' });
  await h.engine.flush();
}

/** An audience of segment `seg` on a fresh store of `backend`, `first` delivered to it; `atX` reads its members. */
async function audienceWith(backend: Backend, first: unknown[]) {
  const h = await setup(backend);
  const { audience } = await activateSegment(h, {
    mapping: MAPPING,
    segmentId: 'seg',
    mappingName: 'Merged',
  });
  await deliver(h, first);
  const xId = (await xAudienceIdOf(h.store, audience.id))!;
  return { h, atX: () => xIdentifiers(h.emulator, xId) };
}

for (const backend of BACKENDS) {
  describe(`profiles the source merged (${backend.name})`, () => {
    it('adopts the profile met before under another id: the exit of the merged profile reaches X', async () => {
      // e2 sorts after e1: the merged profile's key is e1's, under which nothing was stored.
      const { h, atX } = await audienceWith(backend, [profile(['e2'], ['a@x.com'])]);
      expect(atX()).toEqual(at('a@x.com'));
      const requests = usersRequests(h.emulator);

      // The merged profile is the one met before: nothing changed at X, nothing is sent.
      await deliver(h, [profile(['e1', 'e2'], ['a@x.com'])]);
      expect(usersRequests(h.emulator)).toBe(requests);

      await deliver(h, [profile(['e2', 'e1'], ['a@x.com'], 'exited')]);
      expect(atX()).toEqual(new Set());
      // Met alone again later, the adopted profile is the merged one.
      await deliver(h, [profile(['e1'], ['a@x.com'])]);
      expect(atX()).toEqual(at('a@x.com'));
    });

    it('takes every other profile it merged out of the audience, keeping what the merged profile holds', async () => {
      const { h, atX } = await audienceWith(backend, [
        profile(['e1'], ['a@x.com']),
        profile(['e2'], ['b@x.com']),
        profile(['e3'], ['c@x.com']),
      ]);
      expect(atX()).toEqual(at('a@x.com', 'b@x.com', 'c@x.com'));

      // e1, e2 and e3 are one person, who kept the first two emails.
      await deliver(h, [profile(['e3', 'e1', 'e2'], ['a@x.com', 'b@x.com'])]);
      expect(atX()).toEqual(at('a@x.com', 'b@x.com'));

      await deliver(h, [profile(['e1', 'e2', 'e3'], ['a@x.com', 'b@x.com'], 'exited')]);
      expect(atX()).toEqual(new Set());
    });

    it('retires a profile met alone earlier in the batch that merges it', async () => {
      const { atX } = await audienceWith(backend, [
        profile(['e2'], ['b@x.com']),
        profile(['e1', 'e2'], ['a@x.com']),
        profile(['e4'], ['d@x.com']),
        profile(['e3', 'e4'], ['c@x.com']),
      ]);
      expect(atX()).toEqual(at('a@x.com', 'c@x.com'));
    });
  });
}
