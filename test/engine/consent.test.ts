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

const ADS = 'Cross Site Targeting';
const POLICY = { name: 'Ads need sharing consent', marketingActions: [ADS], attribute: 'consents.share.val' };

/** A member of `seg`; `share` is its sharing consent: flat, nested in raw XDM, or absent. */
function profile(i: number, share: string | null, shape: 'flat' | 'xdm' = 'flat') {
  return {
    segmentMembership: { ups: { seg: { status: 'realized' } } },
    identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `u${i}@x.com` }] },
    ...(share === null
      ? {}
      : shape === 'flat'
        ? { attributes: { 'consents.share.val': share } }
        : { consents: { share: { val: share } } }),
  };
}

const emails = (...ids: number[]) => new Set(ids.map((i) => `email:${emailHash(`u${i}@x.com`)}`));

async function flowOf(h: Harness) {
  const { audience } = await activateSegment(h, {
    mapping: MAPPING,
    segmentId: 'seg',
    mappingName: 'Loyal',
  });
  return audience;
}

for (const backend of BACKENDS) {
  describe(`consent policies (${backend.name})`, () => {
    let h: Harness | undefined;

    it('leaves out profiles without consent, removes a member who withdraws it, adds one who grants it', async () => {
      h = await setup(backend);
      await h.store.destinations.update('prod', h.destination.id, { marketingActions: [ADS] });
      const [policy] = await h.engine.setConsentPolicies('prod', [POLICY]);
      expect(policy).toMatchObject({ ...POLICY, allowedValues: ['y'], enabled: true });
      const audience = await flowOf(h);

      const result = await h.engine.ingest(
        [profile(0, 'y'), profile(1, 'n'), profile(2, 'Y', 'xdm'), profile(3, null)],
        { sandboxId: 'prod' },
      );
      expect(result.excluded).toEqual({ consent_denied: 2 });
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 2));

      // Profile 0 withdraws (still in the segment): it leaves the X audience. Profile 1 consents: it joins.
      await h.engine.ingest([profile(0, 'n'), profile(1, 'y')], { sandboxId: 'prod' });
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(1, 2));
      const runs = await h.engine.runs(audience.dataflowId, {});
      expect(runs.reduce((n, r) => n + (r.excludedByReason['consent_denied'] ?? 0), 0)).toBe(3);

      // Exports that say nothing about consent (a new email, say) keep the stored consent: 1 stays out, 2 stays in.
      await h.engine.ingest(
        [
          { ...profile(1, null), identityMap: { ECID: [{ id: 'e1' }], Email: [{ id: 'new1@x.com' }] } },
          { ...profile(2, null), identityMap: { ECID: [{ id: 'e2' }], Email: [{ id: 'new2@x.com' }] } },
        ],
        { sandboxId: 'prod' },
      );
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(
        new Set([`email:${emailHash('new1@x.com')}`, `email:${emailHash('new2@x.com')}`]),
      );
      await h.engine.ingest([profile(1, 'n')], { sandboxId: 'prod' });
      await h.engine.ingest(
        [{ ...profile(1, null), identityMap: { ECID: [{ id: 'e1' }], Email: [{ id: 'u1@x.com' }] } }],
        {
          sandboxId: 'prod',
        },
      );
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(new Set([`email:${emailHash('new2@x.com')}`]));
    });

    it('lets a profile through when any alternative of a policy holds, and every policy must pass', async () => {
      h = await setup(backend);
      await h.store.destinations.update('prod', h.destination.id, { marketingActions: [ADS] });
      // Email consent, or else consent to all marketing; and, in a policy of its own, sharing consent.
      await h.engine.setConsentPolicies('prod', [
        {
          name: 'Email marketing',
          marketingActions: [ADS],
          attribute: 'consents.marketing.email.val',
          alternatives: [{ attribute: 'consents.marketing.any.val', allowedValues: ['y', 'dy'] }],
        },
        POLICY,
      ]);
      const audience = await flowOf(h);
      const consenting = (i: number, consents: Record<string, string>) => ({
        ...profile(i, null),
        attributes: consents,
      });
      await h.engine.ingest(
        [
          consenting(0, { 'consents.marketing.email.val': 'y', 'consents.share.val': 'y' }),
          consenting(1, { 'consents.marketing.any.val': 'dy', 'consents.share.val': 'y' }),
          consenting(2, { 'consents.marketing.email.val': 'n', 'consents.share.val': 'y' }),
          // Passes the first policy, not the second.
          consenting(3, { 'consents.marketing.email.val': 'y', 'consents.share.val': 'n' }),
        ],
        { sandboxId: 'prod' },
      );
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 1));

      // Profile 1 withdraws the consent it passed through; profile 2 gives the alternative.
      await h.engine.ingest(
        [
          consenting(1, { 'consents.marketing.any.val': 'n', 'consents.share.val': 'y' }),
          consenting(2, { 'consents.marketing.any.val': 'y', 'consents.share.val': 'y' }),
        ],
        { sandboxId: 'prod' },
      );
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 2));

      // Dropping the alternative evaluates the audience again: profile 2 only had that.
      const [email, share] = await h.engine.consentPolicies('prod');
      await h.engine.setConsentPolicies('prod', [{ ...email!, alternatives: [] }, share!]);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0));
    });

    it('evaluates audiences again from the stored consent when policies or marketing actions change', async () => {
      h = await setup(backend);
      await h.store.destinations.update('prod', h.destination.id, { marketingActions: [ADS] });
      const audience = await flowOf(h);
      await h.engine.ingest([profile(0, 'y'), profile(1, 'n'), profile(2, null)], { sandboxId: 'prod' });
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 1, 2));

      // A new policy applies to profiles known before it: only the one that consented stays.
      const [policy] = await h.engine.setConsentPolicies('prod', [POLICY]);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0));

      // Allowing "n" too brings profile 1 back; profile 2 never said anything.
      await h.engine.setConsentPolicies('prod', [{ ...policy!, allowedValues: ['y', 'n'] }]);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 1));

      // The destination is no longer used for the policy's action: the policy no longer applies to it.
      await h.store.destinations.update('prod', h.destination.id, { marketingActions: ['Analytics'] });
      expect(await h.engine.reevaluate({ sandboxId: 'prod', destinationId: h.destination.id })).toBe(1);
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(0, 1, 2));

      // A bad set is refused with every problem, and the stored set stays.
      const before = await h.engine.consentPolicies('prod');
      await expect(
        h.engine.setConsentPolicies('prod', [
          { ...POLICY, attribute: 'consents.share', allowedValues: ['maybe'] },
          { ...POLICY, marketingActions: [] },
        ]),
      ).rejects.toMatchObject({
        code: 'invalid_input',
        details: [
          { path: 'policies[0].attribute' },
          { path: 'policies[0].allowedValues[0]' },
          { path: 'policies[1].name' },
          { path: 'policies[1].marketingActions' },
        ],
      });
      expect(await h.engine.consentPolicies('prod')).toEqual(before);
    });

    it('applies a policy on labels to the audience whose segment carries them, at ingest and when evaluated again', async () => {
      h = await setup(backend);
      await h.store.destinations.update('prod', h.destination.id, { marketingActions: [ADS] });
      await h.store.segments.create({
        sandboxId: 'prod',
        id: 'seg',
        namespace: 'ups',
        name: 'Labelled',
        labels: ['HEALTH'],
      });
      const labelled = await flowOf(h);
      const other = await h.store.audiences.create({
        sandboxId: 'prod',
        dataflowId: labelled.dataflowId,
        segmentId: 'seg-other',
        mappingName: 'Other',
        startDate: 0,
      });
      const both = (i: number, share: string | null) => {
        const p = profile(i, share);
        return {
          ...p,
          segmentMembership: { ups: { seg: { status: 'realized' }, 'seg-other': { status: 'realized' } } },
        };
      };
      await h.engine.ingest([both(0, 'y'), both(1, 'n')], { sandboxId: 'prod' });
      // Set after the profiles arrived: the audiences are evaluated again from the stored profiles.
      await h.engine.setConsentPolicies('prod', [
        {
          name: 'Health data',
          labels: ['health'],
          operator: 'or',
          marketingActions: ['Analytics'],
          attribute: 'consents.share.val',
        },
      ]);
      await h.engine.flush();
      const labelledX = (await xAudienceIdOf(h.store, labelled.id))!;
      const otherX = (await xAudienceIdOf(h.store, other.id))!;
      expect(xIdentifiers(h.emulator, labelledX)).toEqual(emails(0));
      expect(xIdentifiers(h.emulator, otherX)).toEqual(emails(0, 1));

      // At ingest: the profile without consent is left out of the labelled audience only, and counted there.
      const result = await h.engine.ingest([both(2, null), both(3, 'y')], { sandboxId: 'prod' });
      expect(result.excluded).toEqual({ consent_denied: 1 });
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, labelledX)).toEqual(emails(0, 3));
      expect(xIdentifiers(h.emulator, otherX)).toEqual(emails(0, 1, 2, 3));

      // The label goes: the segment's audience is evaluated again and takes everyone back.
      await h.store.segments.update('prod', 'seg', { labels: [] });
      await h.engine.reevaluate({ sandboxId: 'prod', segmentId: 'seg' });
      await h.engine.flush();
      expect(xIdentifiers(h.emulator, labelledX)).toEqual(emails(0, 1, 2, 3));
    });

    it('a policy set during a file import applies to the whole file once it ends', async () => {
      h = await setup(backend);
      await h.store.destinations.update('prod', h.destination.id, { marketingActions: [ADS] });
      const audience = await flowOf(h);
      const file = join(h.testStore.dataDir, 'consent.ndjson');
      const rows = Array.from({ length: 30 }, (_, i) => JSON.stringify(profile(i, i % 2 === 0 ? 'y' : 'n')));
      writeFileSync(file, `${rows.join('\n')}\n`);
      let batches = 0;
      const engine = h.engine;
      const report = await engine.importFile(file, {
        sandboxId: 'prod',
        batchSize: 10,
        threads: 0,
        // After the first batch is written (under no policy), a policy arrives.
        onProgress: () => {
          batches += 1;
          if (batches === 1) void engine.setConsentPolicies('prod', [POLICY]);
        },
      });
      expect(report.accepted).toBe(30);
      await h.engine.flush();
      const xId = (await xAudienceIdOf(h.store, audience.id))!;
      expect(xIdentifiers(h.emulator, xId)).toEqual(emails(...Array.from({ length: 15 }, (_, i) => 2 * i)));
    });
  });
}
