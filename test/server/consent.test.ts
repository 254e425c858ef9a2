import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateEmailSegment, emailsAtX, startTestService, type TestService } from './harness.ts';

// Consent policies over the API: refused when bad, enforced on ingest, and applied again when the policies or the
// destination's marketing actions change.

let t: TestService;
let dataflowId: string;
let destinationId: string;
const SEG = 'seg-consent';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const exportOf = (ecid: string, email: string, share?: string) => ({
  identityMap: { ECID: [{ id: ecid }], Email: [{ id: email }] },
  segmentMembership: { ups: { [SEG]: { status: 'realized' } } },
  ...(share === undefined ? {} : { attributes: { 'consents.share.val': share } }),
});

beforeAll(async () => {
  t = await startTestService();
  dataflowId = await activateEmailSegment(t, {
    segmentId: SEG,
    segmentName: 'Consented',
    dataflowName: 'CRM to X',
    mappingName: 'Consented buyers',
  });
  const df = await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken });
  destinationId = df.body.destinationId as string;
  const d = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
    token: t.adminToken,
    body: { marketingActions: ['Cross Site Targeting'] },
  });
  expect(d.status, JSON.stringify(d.body)).toBe(200);
});

afterAll(async () => {
  await t?.close();
});

const put = (policies: unknown[]) =>
  t.call('PUT', '/api/v1/consent-policies', { token: t.adminToken, body: { policies } });

describe('consent policies', () => {
  it('starts empty and refuses a bad set with every problem, changing nothing', async () => {
    expect((await t.call('GET', '/api/v1/consent-policies', { token: t.adminToken })).body).toEqual({
      policies: [],
    });
    const bad = await put([
      {
        name: 'Ads',
        marketingActions: ['Cross Site Targeting'],
        attribute: 'consents.ads',
        allowedValues: ['yes'],
      },
      {
        name: 'ads',
        marketingActions: ['Analytics'],
        attribute: 'consents.collect.val',
        alternatives: [{ attribute: 'consents.share.val', allowedValues: ['nope'] }],
      },
    ]);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      'policies[0].attribute',
      'policies[0].allowedValues[0]',
      'policies[1].name',
      'policies[1].alternatives[0].allowedValues[0]',
    ]);
    // Alternatives come back in their canonical form.
    const ok = await put([
      {
        name: 'Email',
        marketingActions: ['Email Targeting'],
        attribute: 'consents.marketing.email.val',
        alternatives: [{ attribute: 'Consents.Marketing.Any.Val', allowedValues: ['Y', 'li'] }],
      },
    ]);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.policies[0].alternatives).toEqual([
      { attribute: 'consents.marketing.any.val', allowedValues: ['y', 'LI'] },
    ]);
    expect((await put([])).status).toBe(200);
    expect((await t.call('GET', '/api/v1/consent-policies', { token: t.adminToken })).body.policies).toEqual(
      [],
    );
  });

  it('exports only consenting profiles, and follows policy and marketing-action changes', async () => {
    const ingest = await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: [
        exportOf('e1', 'one@example.com', 'y'),
        exportOf('e2', 'two@example.com', 'n'),
        exportOf('e3', 'three@example.com'),
      ],
    });
    expect(ingest.status).toBe(202);
    expect(await emailsAtX(t, dataflowId, SEG)).toEqual(
      ['one@example.com', 'three@example.com', 'two@example.com'].map(sha).sort(),
    );

    const set = await put([
      {
        name: 'Ads need sharing consent',
        marketingActions: ['cross site targeting'],
        attribute: 'consents.share.val',
      },
      // Switched off: it restricts nothing, and the preview shows what it would leave out.
      {
        name: 'Device ads',
        marketingActions: ['Cross Site Targeting'],
        attribute: 'consents.adID.val',
        enabled: false,
      },
      { name: 'Analytics', marketingActions: ['Analytics'], attribute: 'consents.collect.val' },
    ]);
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.policies).toEqual([
      {
        id: expect.stringMatching(/^cp_/),
        name: 'Ads need sharing consent',
        // A core action in another case is stored in its core spelling.
        marketingActions: ['Cross Site Targeting'],
        labels: [],
        operator: 'and',
        attribute: 'consents.share.val',
        allowedValues: ['y'],
        alternatives: [],
        enabled: true,
      },
      expect.objectContaining({ name: 'Device ads', enabled: false, allowedValues: ['y'] }),
      expect.objectContaining({ name: 'Analytics', enabled: true }),
    ]);
    expect(await emailsAtX(t, dataflowId, SEG)).toEqual([sha('one@example.com')]);
    const [share, device] = set.body.policies as Array<{ id: string }>;

    // The preview an activation would show: of the segment's 3 known members, the policy switched on keeps 1; the
    // one switched off would leave out all 3; the Analytics one does not apply to this destination.
    const preview = await t.call(
      'GET',
      `/api/v1/consent-policies/preview?destinationId=${destinationId}&segmentIds=${SEG},seg-unknown`,
      { token: t.adminToken },
    );
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body).toEqual({
      policies: set.body.policies.slice(0, 2),
      all: {
        profiles: 3,
        consenting: 1,
        denied: [
          { policyId: share!.id, profiles: 2 },
          { policyId: device!.id, profiles: 3 },
        ],
      },
      segments: [
        {
          segmentId: SEG,
          profiles: 3,
          consenting: 1,
          denied: [
            { policyId: share!.id, profiles: 2 },
            { policyId: device!.id, profiles: 3 },
          ],
        },
        {
          segmentId: 'seg-unknown',
          profiles: 0,
          consenting: 0,
          denied: [
            { policyId: share!.id, profiles: 0 },
            { policyId: device!.id, profiles: 0 },
          ],
        },
      ],
    });
    // Without a destination: every policy on its own, over every known profile (what Settings shows).
    const sandboxWide = await t.call('GET', '/api/v1/consent-policies/preview', { token: t.adminToken });
    expect(sandboxWide.body.policies).toHaveLength(3);
    expect(sandboxWide.body.segments).toEqual([]);
    expect(sandboxWide.body.all).toEqual({
      profiles: 3,
      consenting: 0,
      denied: [
        { policyId: share!.id, profiles: 2 },
        { policyId: device!.id, profiles: 3 },
        { policyId: set.body.policies[2].id, profiles: 3 },
      ],
    });
    const missing = await t.call(
      'GET',
      '/api/v1/consent-policies/preview?destinationId=dst_nope&segmentIds=x',
      {
        token: t.adminToken,
      },
    );
    expect(missing.status).toBe(404);

    // A new export withdraws consent: the member leaves; an exit is counted as excluded for consent.
    await t.call('POST', '/api/v1/ingest/profiles', {
      token: t.adminToken,
      body: [exportOf('e1', 'one@example.com', 'n')],
    });
    expect(await emailsAtX(t, dataflowId, SEG)).toEqual([]);
    const runs = await t.call('GET', `/api/v1/dataflows/${dataflowId}/runs`, { token: t.adminToken });
    const excluded = (runs.body.items as Array<{ excludedByReason: Record<string, number> }>).reduce(
      (n, r) => n + (r.excludedByReason['consent_denied'] ?? 0),
      0,
    );
    expect(excluded).toBe(1);

    // The destination stops being used for cross-site targeting: the policy no longer applies to it.
    await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { marketingActions: ['Onsite Advertising'] },
    });
    expect(await emailsAtX(t, dataflowId, SEG)).toEqual(
      ['one@example.com', 'three@example.com', 'two@example.com'].map(sha).sort(),
    );
  });
});
