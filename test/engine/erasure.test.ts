import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compactSqliteFile } from '../../src/store/compact.ts';
import { BACKENDS, SQLITE_BACKEND } from '../store/backends.ts';
import {
  EMAIL_MAPPING as MAPPING,
  emailHash,
  setup,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';

/** A member of both segments, keyed by its ECID. */
const profile = (i: number) => ({
  segmentMembership: { ups: { 'seg-a': { status: 'realized' }, 'seg-b': { status: 'realized' } } },
  identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `u${i}@x.com` }] },
});
const emails = (...ids: number[]) => new Set(ids.map((i) => `email:${emailHash(`u${i}@x.com`)}`));

for (const backend of BACKENDS) {
  describe(`privacy erasure (${backend.name})`, () => {
    let h: Harness | undefined;

    it('removes an erased profile from every X audience, forgets its state, and makes it new if it comes back', async () => {
      h = await setup(backend);
      const flow = await h.store.dataflows.create({
        sandboxId: 'prod',
        destinationId: h.destination.id,
        name: 'flow',
        mapping: MAPPING,
      });
      const audiences = [];
      for (const segmentId of ['seg-a', 'seg-b'])
        audiences.push(
          await h.store.audiences.create({
            sandboxId: 'prod',
            dataflowId: flow.id,
            segmentId,
            mappingName: segmentId,
            startDate: 0,
          }),
        );
      await h.engine.ingest([profile(0), profile(1), profile(2)], { sandboxId: 'prod' });
      await h.engine.flush();
      const xIds = await Promise.all(audiences.map(async (a) => (await xAudienceIdOf(h!.store, a.id))!));
      for (const xId of xIds) expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 1, 2));

      const erased = await h.engine.erase('prod', [
        { namespace: 'ecid', id: 'e0' },
        { namespace: 'CRMID', id: 'c-unknown' },
        { namespace: 'Phone_E.164', id: '+14155550100' },
        { namespace: 'Email', id: 'not an email' },
      ]);
      expect(erased).toEqual({
        profiles: 1,
        audiences: 2,
        notFound: 1,
        skipped: [
          { index: 2, reason: expect.stringContaining('nor an identity namespace its mappings read') },
          { index: 3, reason: expect.stringContaining('not a valid identifier') },
        ],
      });
      await h.engine.flush();
      for (const xId of xIds) expect(xIdentifiers(h.emulator, xId)).toEqual(emails(1, 2));
      // Nothing of the person stays: no row holds its key, its hashed email or its segments.
      const rows = await h.store.db
        .selectFrom('engine_profiles')
        .select(['profile_key', 'identities', 'segments'])
        .execute();
      expect(rows).toHaveLength(3);
      const blank = rows.filter((r) => r.profile_key.startsWith('x:'));
      expect(blank).toEqual([
        { profile_key: expect.stringMatching(/^x:\d+$/), identities: '{}', segments: '[]' },
      ]);
      expect(JSON.stringify(rows)).not.toContain(emailHash('u0@x.com'));
      const ledger = await h.store.db
        .selectFrom('engine_ledger')
        .select(['desired', 'delivered', 'pending'])
        .execute();
      expect(JSON.stringify(ledger)).not.toContain(emailHash('u0@x.com'));

      // No longer a known profile: the consent preview counts the two others.
      expect((await h.engine.consentPreview('prod', null, [])).all.profiles).toBe(2);
      // By an identity the mapping hashes (the email, as the source spells it), matched on its stored hash.
      expect(
        await h.engine.erase('prod', [
          { namespace: 'EMAIL', id: ' U1@X.com ' },
          { namespace: 'Email', id: 'nobody@x.com' },
        ]),
      ).toEqual({ profiles: 1, audiences: 2, notFound: 1, skipped: [] });
      await h.engine.flush();
      for (const xId of xIds) expect(xIdentifiers(h.emulator, xId)).toEqual(emails(2));
      // Idempotent: nothing left to find.
      expect(await h.engine.erase('prod', [{ namespace: 'ECID', id: 'e0' }])).toEqual({
        profiles: 0,
        audiences: 0,
        notFound: 1,
        skipped: [],
      });
      // The person's next export makes a new profile, exported again.
      await h.engine.ingest([profile(0)], { sandboxId: 'prod' });
      await h.engine.flush();
      for (const xId of xIds) expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 2));
    });
  });
}

describe('privacy erasure on disk (sqlite)', () => {
  it("zeroes an erased person's hashed identifiers in the database file, and a compacted file holds none", async () => {
    const h = await setup(SQLITE_BACKEND);
    const flow = await h.store.dataflows.create({
      sandboxId: 'prod',
      destinationId: h.destination.id,
      name: 'flow',
      mapping: MAPPING,
    });
    await h.store.audiences.create({
      sandboxId: 'prod',
      dataflowId: flow.id,
      segmentId: 'seg-a',
      mappingName: 'seg-a',
      startDate: 0,
    });
    await h.engine.ingest(
      Array.from({ length: 600 }, (_, i) => profile(i)),
      { sandboxId: 'prod' },
    );
    await h.engine.flush();
    // Half of them: their removal request's write-ahead spans many pages, freed once X accepted it.
    const erased = Array.from({ length: 300 }, (_, i) => 2 * i);
    const result = await h.engine.erase(
      'prod',
      erased.map((i) => ({ namespace: 'ECID', id: `e${i}` })),
    );
    expect(result.profiles).toBe(300);
    // The removals go to X: the request's write-ahead, the ledger rows and the profile rows all held the hashes.
    await h.engine.flush();
    await h.store.close();
    const path = join(h.testStore.dataDir, 'tca.db');
    const left = () => {
      const file = readFileSync(path).toString('latin1');
      // The others' hashes are there: the file is read as it should be.
      expect(file).toContain(emailHash('u1@x.com'));
      return erased.filter((i) => file.includes(emailHash(`u${i}@x.com`)));
    };
    // Deleted content is zeroed (secure_delete; without it nearly all 300 stay in free space). A page that a B-tree
    // rebalance rebuilt can keep fragments in its unallocated space until it is written again: a few at most.
    expect(left().length).toBeLessThan(erased.length / 10);
    // Compacting the file (tca store compact) rewrites it with none.
    compactSqliteFile(path);
    expect(left()).toEqual([]);
  });
});
