import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { enableKeyAliases } from '../../src/engine/ingest.ts';
import { BACKENDS, type Backend } from '../store/backends.ts';
import {
  identifiersAtX,
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

/** A profile with its ECIDs (maybe none) and CRM id (maybe none): the default key namespaces, in that order. */
const crmProfile = (
  ecids: string[],
  crmId: string | undefined,
  emails: string[],
  status: 'realized' | 'exited' = 'realized',
) => ({
  segmentMembership: { ups: { seg: { status } } },
  identityMap: {
    ...(ecids.length > 0 ? { ECID: ecids.map((id) => ({ id })) } : {}),
    ...(crmId === undefined ? {} : { CRMID: [{ id: crmId }] }),
    Email: emails.map((id) => ({ id })),
  },
});

const fileDirs: string[] = [];
afterAll(() => {
  for (const dir of fileDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** `profiles` as an NDJSON file of their own. */
function ndjson(profiles: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'tca-merge-'));
  fileDirs.push(dir);
  const file = join(dir, 'profiles.ndjson');
  writeFileSync(file, `${profiles.map((p) => JSON.stringify(p)).join('\n')}\n`);
  return file;
}

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

    it('merges across key namespaces: the ECID export speaks for the segments a CRM-keyed profile was in', async () => {
      // A CRM export came first (no ECID yet): keyed by its CRM id.
      const { h, atX } = await audienceWith(backend, [crmProfile([], 'c1', ['a@x.com'])]);
      expect(atX()).toEqual(at('a@x.com'));
      // The same person with an ECID now: keyed by the ECID; the CRM-keyed profile leaves the segment the export
      // states, and X keeps the email the ECID profile holds.
      await deliver(h, [crmProfile(['e1'], 'c1', ['a@x.com'])]);
      expect(atX()).toEqual(at('a@x.com'));
      await deliver(h, [crmProfile(['e1'], 'c1', ['a@x.com'], 'exited')]);
      expect(atX()).toEqual(new Set());
    });

    it('keeps the segments only a CRM-keyed CSV import speaks for when an ECID export names the CRM id', async () => {
      const h = await setup(backend);
      const { audience: web } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'seg',
        mappingName: 'Web',
      });
      const { audience: crm } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'crm-list',
        mappingName: 'CRM list',
      });
      // A CSV keyed by CRM id puts c1 in the CRM list; the source's export of the same person, with an ECID, puts
      // it in seg.
      const dir = mkdtempSync(join(tmpdir(), 'tca-merge-'));
      fileDirs.push(dir);
      const csv = join(dir, 'crm.csv');
      writeFileSync(csv, 'profile_key,email,segment:crm-list\nc1,a@x.com,1\n');
      expect(await h.engine.importFile(csv, { sandboxId: 'prod' })).toMatchObject({ accepted: 1 });
      await deliver(h, [crmProfile(['e1'], 'c1', ['a@x.com'])]);
      expect(await identifiersAtX(h, web.id)).toEqual(at('a@x.com'));
      expect(await identifiersAtX(h, crm.id)).toEqual(at('a@x.com'));
      // The export says nothing of the CRM list: the person stays in it until the CSV says otherwise.
      await deliver(h, [crmProfile(['e1'], 'c1', ['a@x.com'], 'exited')]);
      expect(await identifiersAtX(h, web.id)).toEqual(new Set());
      expect(await identifiersAtX(h, crm.id)).toEqual(at('a@x.com'));
      writeFileSync(csv, 'profile_key,email,segment:crm-list\nc1,a@x.com,0\n');
      await h.engine.importFile(csv, { sandboxId: 'prod', key: 'second' });
      await h.engine.flush();
      expect(await identifiersAtX(h, crm.id)).toEqual(new Set());
    });

    it('retires a CRM-keyed profile once an export joins it to an ECID profile met before', async () => {
      const { h, atX } = await audienceWith(backend, [
        crmProfile(['e1'], undefined, ['web@x.com']),
        crmProfile([], 'c1', ['crm@x.com']),
      ]);
      expect(atX()).toEqual(at('web@x.com', 'crm@x.com'));
      // One person, whose merged profile holds the web email only: the CRM profile's email leaves X.
      await deliver(h, [crmProfile(['e1'], 'c1', ['web@x.com'])]);
      expect(atX()).toEqual(at('web@x.com'));
      await deliver(h, [crmProfile(['e1'], 'c1', ['web@x.com'], 'exited')]);
      expect(atX()).toEqual(new Set());
    });

    it('an export keyed by a CRM id alone speaks for the segments of the ECID profile that carried it', async () => {
      const { h, atX } = await audienceWith(backend, [crmProfile(['e1'], 'c1', ['a@x.com'])]);
      expect(atX()).toEqual(at('a@x.com'));
      // The source exports the person by the CRM id alone now (the ECID left its graph): the exit reaches X.
      await deliver(h, [crmProfile([], 'c1', ['a@x.com'], 'exited')]);
      expect(atX()).toEqual(new Set());
      await deliver(h, [crmProfile([], 'c1', ['b@x.com'])]);
      expect(atX()).toEqual(at('b@x.com'));
      // Back with the ECID: the merged profile speaks for the segment again, and its own email replaces b@.
      await deliver(h, [crmProfile(['e1'], 'c1', ['a@x.com'])]);
      expect(atX()).toEqual(at('a@x.com'));
      // The CRM-keyed profile exists now, and the export keyed by it still takes the ECID profile out.
      await deliver(h, [crmProfile([], 'c1', ['a@x.com'], 'exited')]);
      expect(atX()).toEqual(new Set());
    });

    it('an export keyed by one of a merged profile’s ECIDs alone speaks for that profile’s segments', async () => {
      const { h, atX } = await audienceWith(backend, [profile(['e1', 'e2'], ['a@x.com'])]);
      expect(atX()).toEqual(at('a@x.com'));
      await deliver(h, [profile(['e2'], ['a@x.com'], 'exited')]);
      expect(atX()).toEqual(new Set());
    });

    it('a CRM-only export in the batch after the ECID export that named the CRM id still reaches it', async () => {
      const { h, atX } = await audienceWith(backend, [crmProfile(['e0'], undefined, ['z@x.com'])]);
      // One batch: the alias is written and read within it.
      await deliver(h, [crmProfile(['e1'], 'c1', ['a@x.com']), crmProfile([], 'c1', ['a@x.com'], 'exited')]);
      expect(atX()).toEqual(at('z@x.com'));
    });

    it('a privacy request naming the CRM id erases the ECID-keyed profile that carried it', async () => {
      const { h, atX } = await audienceWith(backend, [
        crmProfile(['e1'], 'c1', ['a@x.com']),
        crmProfile(['e2'], 'c2', ['b@x.com']),
      ]);
      expect(await h.engine.erase('prod', [{ namespace: 'CRMID', id: 'c1' }])).toEqual({
        profiles: 1,
        audiences: 1,
        notFound: 0,
        skipped: [],
      });
      await h.engine.flush();
      expect(atX()).toEqual(at('b@x.com'));
      // Erased, the profile no longer answers to its CRM id.
      expect(await h.engine.erase('prod', [{ namespace: 'CRMID', id: 'c1' }])).toMatchObject({
        profiles: 0,
        notFound: 1,
      });
    });

    it('looks later key namespaces up only once the sandbox holds a profile keyed by one', async () => {
      const { h } = await audienceWith(backend, [
        crmProfile(['e1'], undefined, ['a@x.com']),
        crmProfile(['e2'], 'c2', ['b@x.com']),
      ]);
      expect((await h.engine.evaluationContext('prod')).keyAliases).toBe(false);
      await deliver(h, [crmProfile([], 'c3', ['c@x.com'])]);
      expect((await h.engine.evaluationContext('prod')).keyAliases).toBe(true);
    });

    it('evaluates again the batches a file import read ahead once one holds the first CRM-keyed profile', async () => {
      const { h, atX } = await audienceWith(backend, [crmProfile(['e0'], undefined, ['z@x.com'])]);
      // One profile per batch, handed to a worker thread before the first is written: the second is evaluated while
      // the sandbox does not look CRM ids up yet, and must be evaluated again once the first is stored.
      const report = await h.engine.importFile(
        ndjson([crmProfile([], 'c1', ['a@x.com']), crmProfile(['e1'], 'c1', ['b@x.com'])]),
        { sandboxId: 'prod', batchSize: 1, threads: 1 },
      );
      expect(report).toMatchObject({ rowsRead: 2, accepted: 2, rejectedCount: 0 });
      await h.engine.flush();
      // One person, who holds b@ now.
      expect(atX()).toEqual(at('z@x.com', 'b@x.com'));
    });

    it('a mirror import that stores the first CRM-keyed profile still removes the members absent from it', async () => {
      const { h, atX } = await audienceWith(backend, [
        crmProfile(['e1'], undefined, ['a@x.com']),
        crmProfile(['e2'], undefined, ['b@x.com']),
      ]);
      const report = await h.engine.importFile(
        ndjson([crmProfile([], 'c3', ['c@x.com']), crmProfile(['e1'], undefined, ['a@x.com'])]),
        { sandboxId: 'prod', mode: 'mirror', segmentId: 'seg', batchSize: 1, threads: 1 },
      );
      expect(report.removalSkipped ?? null).toBeNull();
      expect(report.removed).toBe(1);
      await h.engine.flush();
      expect(atX()).toEqual(at('a@x.com', 'c@x.com'));
    });

    it('a mirror import whose batches another writer made look CRM ids up still removes the members absent from it', async () => {
      const { h, atX } = await audienceWith(backend, [
        crmProfile(['e1'], undefined, ['a@x.com']),
        crmProfile(['e2'], undefined, ['b@x.com']),
        crmProfile(['e3'], undefined, ['c@x.com']),
      ]);
      let batches = 0;
      const report = await h.engine.importFile(
        ndjson([crmProfile(['e1'], 'c1', ['a@x.com']), crmProfile(['e3'], 'c3', ['c@x.com'])]),
        {
          sandboxId: 'prod',
          mode: 'mirror',
          segmentId: 'seg',
          batchSize: 1,
          threads: 1,
          // Once the first batch is in, a CRM export elsewhere stores the sandbox's first CRM-keyed profile: the
          // second batch, evaluated before, is evaluated again; its keys are the same.
          onProgress: () => {
            if ((batches += 1) === 1) void enableKeyAliases(h.store, 'prod');
          },
        },
      );
      expect((await h.engine.evaluationContext('prod')).keyAliases).toBe(true);
      expect(report.removalSkipped ?? null).toBeNull();
      expect(report.removed).toBe(1);
      await h.engine.flush();
      expect(atX()).toEqual(at('a@x.com', 'c@x.com'));
    });
  });
}
