import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../store/backends.ts';
import {
  EMAIL_MAPPING as MAPPING,
  activateSegment,
  emailHash,
  setup,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';

// Re-keying a sandbox that holds profiles: each profile is adopted under its new key as it arrives, so its later
// changes still reach X, and the end of the re-keying can remove those never met again.

const person = (ecid: string, crmId: string, email: string, status = 'realized') => ({
  segmentMembership: { ups: { seg: { status } } },
  identityMap: { ECID: [{ id: ecid }], CRMID: [{ id: crmId }], Email: [{ id: email }] },
});
const emails = (...list: string[]) => new Set(list.map((e) => `email:${emailHash(e)}`));
/** One NDJSON line of a file being imported. */
const line = (value: unknown) => Buffer.from(`${JSON.stringify(value)}\n`);

for (const backend of BACKENDS) {
  describe(`re-keying profile keys (${backend.name})`, () => {
    let h: Harness | undefined;

    async function prepare() {
      h = await setup(backend);
      const { audience } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'seg',
        mappingName: 'Re-keyed',
      });
      await h.engine.sync();
      const atX = async () => {
        await h!.engine.flush();
        return xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!);
      };
      const profiles = async () =>
        (
          await h!.store.db
            .selectFrom('engine_profiles')
            .select('id')
            .where('sandbox_id', '=', 'prod')
            .execute()
        ).length;
      return { atX, profiles };
    }

    /**
     * Into a sandbox holding e1–e3 keyed by ECID, imports e1 with a new email, e2's exit and a new e4, a batch each; a
     * re-keying to CRMID begins before row `rekeyBefore` (1-based) is read. Each person's change reaches X, and the
     * profiles are adopted under their new keys, not added twice.
     */
    async function importAcrossRekey(options: { rekeyBefore: number; threads: number; key: string }) {
      const prepared = await prepare();
      await h!.engine.ingest(
        [person('e1', 'c1', 'a@x.com'), person('e2', 'c2', 'b@x.com'), person('e3', 'c3', 'c@x.com')],
        { sandboxId: 'prod' },
      );
      expect(await prepared.atX()).toEqual(emails('a@x.com', 'b@x.com', 'c@x.com'));
      const rows = [
        person('e1', 'c1', 'a2@x.com'),
        person('e2', 'c2', 'b@x.com', 'exited'),
        person('e4', 'c4', 'd@x.com'),
      ];
      const source = (async function* () {
        for (const [i, row] of rows.entries()) {
          if (i + 1 === options.rekeyBefore)
            await h!.engine.setProfileKeyNamespaces('prod', ['CRMID'], { rekey: true });
          yield line(row);
        }
      })();
      expect(
        await h!.engine.importStream(source, {
          sandboxId: 'prod',
          format: 'ndjson',
          batchSize: 1,
          threads: options.threads,
          key: options.key,
        }),
      ).toMatchObject({ rowsRead: 3, accepted: 3, rejectedCount: 0 });
      expect(await prepared.atX()).toEqual(emails('a2@x.com', 'c@x.com', 'd@x.com'));
      expect(await prepared.profiles()).toBe(4);
      return prepared;
    }

    it('adopts each profile under its new key as it arrives: exits and identity changes still reach X', async () => {
      const { atX, profiles } = await prepare();
      // Keyed by ECID (the default's first namespace).
      await h!.engine.ingest(
        [person('e1', 'c1', 'a@x.com'), person('e2', 'c2', 'b@x.com'), person('e3', 'c3', 'c@x.com')],
        {
          sandboxId: 'prod',
        },
      );
      expect(await atX()).toEqual(emails('a@x.com', 'b@x.com', 'c@x.com'));

      await expect(h!.engine.setProfileKeyNamespaces('prod', ['CRMID'])).rejects.toMatchObject({
        code: 'conflict',
        hint: expect.stringContaining('"rekey": true'),
      });
      const started = await h!.engine.setProfileKeyNamespaces('prod', ['crmid'], { rekey: true });
      expect(started).toMatchObject({
        namespaces: ['CRMID'],
        isDefault: false,
        fixed: true,
        // Profiles the re-keying never meets keep ECID keys: a namespace after CRMID now.
        mergesAcrossNamespaces: true,
        rekey: { from: ['ECID', 'CRMID'], remaining: 3 },
      });
      expect(Date.parse(started.rekey!.since)).toBe(h!.clock.now());
      // One re-keying at a time.
      await expect(
        h!.engine.setProfileKeyNamespaces('prod', ['ECID'], { rekey: true }),
      ).rejects.toMatchObject({
        code: 'rekey_in_progress',
      });

      // Person 1 comes back with a new email (twice in the batch), keyed by CRMID now: the same profile, so the old
      // email leaves X. Person 2 exits through a file parsed on worker threads.
      await h!.engine.ingest([person('e1', 'c1', 'a2@x.com'), person('e1', 'c1', 'a3@x.com')], {
        sandboxId: 'prod',
      });
      const file = join(h!.testStore.dataDir, 'exits.ndjson');
      writeFileSync(file, `${JSON.stringify(person('e2', 'c2', 'b@x.com', 'exited'))}\n`);
      expect(await h!.engine.importFile(file, { sandboxId: 'prod', threads: 2 })).toMatchObject({
        accepted: 1,
      });
      expect(await atX()).toEqual(emails('a3@x.com', 'c@x.com'));
      // Adopted, not added: still three profiles, one of them not met under the new keys.
      expect(await profiles()).toBe(3);
      expect((await h!.engine.profileKeySettings('prod')).rekey).toMatchObject({ remaining: 1 });

      // The end, removing the profile never met again: it leaves the X audience.
      const finished = await h!.engine.finishProfileRekey('prod', { removeRemaining: true });
      expect(finished).toMatchObject({
        removedProfiles: 1,
        removedMemberships: 1,
        settings: { rekey: null },
      });
      expect(await atX()).toEqual(emails('a3@x.com'));
      await expect(h!.engine.finishProfileRekey('prod', { removeRemaining: false })).rejects.toMatchObject({
        code: 'not_found',
      });
      // Exported again after the end, that person is a new profile under the new key.
      await h!.engine.ingest([person('e3', 'c3', 'c@x.com')], { sandboxId: 'prod' });
      expect(await atX()).toEqual(emails('a3@x.com', 'c@x.com'));
      expect(await profiles()).toBe(4);
    });

    it('goes on with an import that was running when the re-keying started, under the new keys', async () => {
      const { atX } = await importAcrossRekey({ rekeyBefore: 2, threads: 0, key: 'during-rekey' });
      // e1's batch was written before the re-keying began: e1 and e3 were not met under the new keys. e2's batch,
      // keyed under ECID and refused at its write, was keyed again under CRMID.
      expect((await h!.engine.profileKeySettings('prod')).rekey).toMatchObject({ remaining: 2 });
      expect(await h!.engine.importStatus('prod', 'during-rekey')).toMatchObject({ status: 'complete' });

      // A mirror import across the re-keying's end imports every row but removes nobody: its rows are keyed under
      // two sets of keys, so absence cannot be told. It says so, and the next mirror import removes the absent.
      const mirror = (finishing: boolean) =>
        h!.engine.importStream(
          (async function* () {
            yield line(person('e1', 'c1', 'a2@x.com'));
            if (finishing) await h!.engine.finishProfileRekey('prod', { removeRemaining: false });
            yield line(person('e4', 'c4', 'd@x.com'));
          })(),
          { sandboxId: 'prod', format: 'ndjson', batchSize: 1, threads: 0, mode: 'mirror', segmentId: 'seg' },
        );
      expect(await mirror(true)).toMatchObject({
        accepted: 2,
        removed: 0,
        removalSkipped: expect.stringContaining('profile keys changed during the import'),
      });
      expect(await atX()).toEqual(emails('a2@x.com', 'c@x.com', 'd@x.com'));
      expect(await mirror(false)).toMatchObject({ accepted: 2, removed: 1, removalSkipped: null });
      expect(await atX()).toEqual(emails('a2@x.com', 'd@x.com'));
    });

    it('keys again the batches a worker thread evaluated before a re-keying began', async () => {
      // The batches go to the worker under the ECID keys the import started with; the re-keying begins before the first
      // is written, which the write refuses, so every batch is evaluated again under CRMID.
      await importAcrossRekey({ rekeyBefore: 3, threads: 1, key: 'threads-during-rekey' });
      expect((await h!.engine.profileKeySettings('prod')).rekey).toMatchObject({ remaining: 1 });
    });

    it('resumes a mirror import interrupted before the re-keying began, but removes nobody', async () => {
      const { atX } = await prepare();
      await h!.engine.ingest(
        [person('e1', 'c1', 'a@x.com'), person('e2', 'c2', 'b@x.com'), person('e3', 'c3', 'c@x.com')],
        { sandboxId: 'prod' },
      );
      expect(await atX()).toEqual(emails('a@x.com', 'b@x.com', 'c@x.com'));
      // The file is the full audience: e1 and e2. e3 is absent from it.
      const reads = (fail: boolean) =>
        (async function* () {
          yield line(person('e1', 'c1', 'a@x.com'));
          if (fail) throw new Error('connection reset');
          yield line(person('e2', 'c2', 'b@x.com'));
        })();
      const options = {
        sandboxId: 'prod',
        format: 'ndjson' as const,
        batchSize: 1,
        threads: 0,
        mode: 'mirror' as const,
        segmentId: 'seg',
        key: 'mirror-across',
      };
      await expect(h!.engine.importStream(reads(true), options)).rejects.toMatchObject({
        code: 'source_failed',
      });
      // e1 was met under ECID. Then the keys change, and a stream moves e1 to its new key (CRMID): under the keys
      // the import met, e1 would look absent.
      await h!.engine.setProfileKeyNamespaces('prod', ['CRMID'], { rekey: true });
      await h!.engine.ingest([person('e1', 'c1', 'a@x.com')], { sandboxId: 'prod' });
      // Resumed, the import meets e2 under CRMID, its earlier batch was keyed under ECID: absence cannot be told.
      expect(await h!.engine.importStream(reads(false), options)).toMatchObject({
        attempts: 2,
        accepted: 2,
        removed: 0,
        removalSkipped: expect.stringContaining('profile keys changed during the import'),
      });
      expect(await atX()).toEqual(emails('a@x.com', 'b@x.com', 'c@x.com'));
      // A new mirror import, all under the new keys, removes the absent one.
      expect(await h!.engine.importStream(reads(false), { ...options, key: 'mirror-after' })).toMatchObject({
        accepted: 2,
        removed: 1,
        removalSkipped: null,
      });
      expect(await atX()).toEqual(emails('a@x.com', 'b@x.com'));
    });

    it('counts a profile whose key the change did not touch as met, and keeps the rest when asked', async () => {
      const { atX } = await prepare();
      await h!.engine.ingest(
        [
          person('e1', 'c1', 'a@x.com'),
          // No ECID: keyed by CRMID before and after.
          {
            segmentMembership: { ups: { seg: { status: 'realized' } } },
            identityMap: { CRMID: [{ id: 'c2' }], Email: [{ id: 'b@x.com' }] },
          },
        ],
        { sandboxId: 'prod' },
      );
      await h!.engine.setProfileKeyNamespaces('prod', ['CRMID', 'ECID'], { rekey: true });
      expect((await h!.engine.profileKeySettings('prod')).rekey).toMatchObject({ remaining: 2 });
      await h!.engine.ingest(
        [
          {
            segmentMembership: { ups: { seg: { status: 'realized' } } },
            identityMap: { CRMID: [{ id: 'c2' }], Email: [{ id: 'b2@x.com' }] },
          },
        ],
        { sandboxId: 'prod' },
      );
      expect((await h!.engine.profileKeySettings('prod')).rekey).toMatchObject({ remaining: 1 });
      const finished = await h!.engine.finishProfileRekey('prod', { removeRemaining: false });
      expect(finished).toMatchObject({ removedProfiles: 0, removedMemberships: 0 });
      expect(await atX()).toEqual(emails('a@x.com', 'b2@x.com'));
      // A privacy request names a person by a namespace of either generation.
      expect(await h!.engine.erase('prod', [{ namespace: 'ECID', id: 'e1' }])).toMatchObject({ profiles: 1 });
      expect(await atX()).toEqual(emails('b2@x.com'));
    });

    it('merges a profile the re-keying never met, keyed by a namespace that is a later one now', async () => {
      const { atX, profiles } = await prepare();
      await h!.engine.ingest(
        [
          {
            segmentMembership: { ups: { seg: { status: 'realized' } } },
            identityMap: { ECID: [{ id: 'e1' }], Email: [{ id: 'a@x.com' }] },
          },
        ],
        { sandboxId: 'prod' },
      );
      await h!.engine.setProfileKeyNamespaces('prod', ['CRMID', 'ECID'], { rekey: true });
      await h!.engine.finishProfileRekey('prod', { removeRemaining: false });
      // Keyed by its CRM id now, and joined to the ECID-keyed profile kept from before, which leaves the segment the
      // export states: one person, whose email changed.
      await h!.engine.ingest([person('e1', 'c1', 'a2@x.com')], { sandboxId: 'prod' });
      expect(await profiles()).toBe(2);
      expect(await atX()).toEqual(emails('a2@x.com'));
      await h!.engine.ingest([person('e1', 'c1', 'a2@x.com', 'exited')], { sandboxId: 'prod' });
      expect(await atX()).toEqual(new Set());
    });
  });
}
